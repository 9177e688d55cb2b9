//! The /ws wire types. Pure serde: parse and print, no I/O.

use crate::SessionId;
use serde::{Deserialize, Serialize};

/// Largest WebSocket text message accepted (an SDP offer with many candidates fits easily).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// What the UI sends.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMsg {
    /// An SDP offer (gathering complete).
    Offer {
        /// The offer.
        sdp: String,
    },
    /// Ends the session but keeps the socket (a new offer may follow).
    Bye,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    /// The answer to an offer.
    Answer {
        /// The SDP answer.
        sdp: String,
        /// The session id.
        session: SessionId,
    },
    /// Live state (the object GET /api/state returns, flattened in).
    State(serde_json::Value),
    /// A refused message.
    Error {
        /// Why.
        reason: String,
    },
}

impl ServerMsg {
    /// JSON text for the socket.
    pub fn to_json(&self) -> String {
        match self {
            ServerMsg::State(value) => {
                let mut obj = match value {
                    serde_json::Value::Object(m) => m.clone(),
                    _ => serde_json::Map::new(),
                };
                obj.insert("type".into(), serde_json::Value::String("state".into()));
                serde_json::Value::Object(obj).to_string()
            }
            // INVARIANT: strings and a uuid always serialise.
            other => serde_json::to_string(other).unwrap_or_else(|_| "{\"type\":\"error\"}".into()),
        }
    }
}

/// Parses one client message; the error text is sent back as the reason.
pub fn parse(text: &str) -> Result<ClientMsg, String> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "message of {} bytes is over the {MAX_MESSAGE_BYTES} byte limit",
            text.len()
        ));
    }
    serde_json::from_str(text).map_err(|e| format!("malformed message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages() {
        assert_eq!(
            parse(r#"{"type":"offer","sdp":"v=0"}"#),
            Ok(ClientMsg::Offer { sdp: "v=0".into() })
        );
        assert_eq!(parse(r#"{"type":"bye"}"#), Ok(ClientMsg::Bye));
        assert!(parse(r#"{"type":"offer"}"#)
            .unwrap_err()
            .contains("missing field `sdp`"));
        assert!(parse(r#"{"type":"hack"}"#)
            .unwrap_err()
            .contains("unknown variant"));
        assert!(parse("nope").unwrap_err().starts_with("malformed message"));
        assert!(parse(&"x".repeat(MAX_MESSAGE_BYTES + 1))
            .unwrap_err()
            .contains("limit"));
    }

    #[test]
    fn server_messages() {
        let id = uuid::Uuid::nil();
        let a = ServerMsg::Answer {
            sdp: "v=0".into(),
            session: id,
        };
        assert_eq!(
            a.to_json(),
            r#"{"type":"answer","sdp":"v=0","session":"00000000-0000-0000-0000-000000000000"}"#
        );
        let s = ServerMsg::State(serde_json::json!({"viewers": 2}));
        assert_eq!(s.to_json(), r#"{"type":"state","viewers":2}"#);
        assert_eq!(
            ServerMsg::Error { reason: "x".into() }.to_json(),
            r#"{"type":"error","reason":"x"}"#
        );
    }
}
