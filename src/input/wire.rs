//! The `hid` data channel's wire format (contracts.md): one JSON object per message in,
//! [`InputEvent`] out; and the device's answers (`leds`, `error`) out.
//!
//! Pure: bytes in, events or a reason out. A malformed or unknown message is refused with a
//! reason and changes nothing.

use super::layout::Layout;
use super::{keymap, InputEvent};
use serde::{Deserialize, Serialize};

/// Largest message accepted, in bytes. Text pastes longer than this are refused, not cut.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// Why a message was refused. The `Display` text is sent back as the error's `reason`.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WireError {
    /// Over [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes is over the {MAX_MESSAGE_BYTES} byte limit")]
    TooLong(usize),
    /// Not valid UTF-8.
    #[error("message is not UTF-8 text")]
    NotText,
    /// Not JSON, or fields of the wrong type.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A `type` this device does not know.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A key code with no HID usage.
    #[error("unknown key code {0:?}")]
    UnknownKey(String),
    /// A number outside its range.
    #[error("{field} = {value}: must be {range}")]
    OutOfRange {
        /// The field name.
        field: &'static str,
        /// The value given.
        value: String,
        /// The allowed range.
        range: &'static str,
    },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Message {
    Key {
        code: String,
        down: bool,
    },
    MouseAbs {
        x: f64,
        y: f64,
        buttons: Option<u32>,
    },
    MouseRel {
        dx: f64,
        dy: f64,
        buttons: Option<u32>,
    },
    Wheel {
        dx: Option<f64>,
        dy: f64,
    },
    Text {
        text: String,
        layout: Option<String>,
    },
    ReleaseAll,
    Ping,
}

const TYPES: &[&str] = &[
    "key",
    "mouse_abs",
    "mouse_rel",
    "wheel",
    "text",
    "release_all",
    "ping",
];

/// Parses one data-channel message.
pub fn decode(bytes: &[u8]) -> Result<InputEvent, WireError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::TooLong(bytes.len()));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| WireError::NotText)?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| WireError::Malformed(e.to_string()))?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or_else(|| WireError::Malformed("missing string field \"type\"".into()))?;
    if !TYPES.contains(&kind) {
        return Err(WireError::UnknownType(kind.to_string()));
    }
    let message: Message =
        serde_json::from_value(value).map_err(|e| WireError::Malformed(e.to_string()))?;
    convert(message)
}

fn convert(message: Message) -> Result<InputEvent, WireError> {
    Ok(match message {
        Message::Key { code, down } => match keymap::usage(&code) {
            Some(usage) => InputEvent::Key { usage, down },
            None => return Err(WireError::UnknownKey(code)),
        },
        Message::MouseAbs { x, y, buttons } => InputEvent::MouseAbs {
            x: unit("x", x)?,
            y: unit("y", y)?,
            buttons: buttons.map(button_mask).transpose()?,
        },
        Message::MouseRel { dx, dy, buttons } => InputEvent::MouseRel {
            dx: clamp_i8("dx", dx)?,
            dy: clamp_i8("dy", dy)?,
            buttons: buttons.map(button_mask).transpose()?,
        },
        Message::Wheel { dx, dy } => InputEvent::Wheel {
            dx: clamp_i8("dx", dx.unwrap_or(0.0))?,
            dy: clamp_i8("dy", dy)?,
        },
        Message::Text { text, layout } => InputEvent::Text {
            text,
            layout: layout
                .map(|l| l.parse::<Layout>().map_err(WireError::Malformed))
                .transpose()?,
        },
        Message::ReleaseAll => InputEvent::ReleaseAll,
        Message::Ping => InputEvent::Ping,
    })
}

fn unit(field: &'static str, v: f64) -> Result<f64, WireError> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(WireError::OutOfRange {
            field,
            value: v.to_string(),
            range: "0..=1",
        })
    }
}

fn clamp_i8(field: &'static str, v: f64) -> Result<i8, WireError> {
    if !v.is_finite() {
        return Err(WireError::OutOfRange {
            field,
            value: v.to_string(),
            range: "a finite number",
        });
    }
    Ok(v.round().clamp(-127.0, 127.0) as i8)
}

fn button_mask(b: u32) -> Result<u8, WireError> {
    if b <= 7 {
        Ok(b as u8)
    } else {
        Err(WireError::OutOfRange {
            field: "buttons",
            value: b.to_string(),
            range: "0..=7",
        })
    }
}

/// What the device sends back on the channel.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// The host's keyboard LEDs changed.
    Leds {
        /// Caps Lock.
        caps: bool,
        /// Num Lock.
        num: bool,
        /// Scroll Lock.
        scroll: bool,
    },
    /// A message was refused.
    Error {
        /// Why.
        reason: String,
    },
}

impl Reply {
    /// The JSON text to send.
    pub fn to_json(&self) -> String {
        // INVARIANT: a struct of bools and strings always serialises.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{\"type\":\"error\"}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> InputEvent {
        decode(s.as_bytes()).unwrap()
    }

    #[test]
    fn every_message_kind_parses() {
        assert_eq!(
            ok(r#"{"type":"key","code":"KeyA","down":true}"#),
            InputEvent::Key {
                usage: 0x04,
                down: true
            }
        );
        assert_eq!(
            ok(r#"{"type":"mouse_abs","x":0.5,"y":0.25,"buttons":1}"#),
            InputEvent::MouseAbs {
                x: 0.5,
                y: 0.25,
                buttons: Some(1)
            }
        );
        assert_eq!(
            ok(r#"{"type":"mouse_abs","x":1,"y":0}"#),
            InputEvent::MouseAbs {
                x: 1.0,
                y: 0.0,
                buttons: None
            }
        );
        assert_eq!(
            ok(r#"{"type":"mouse_rel","dx":500,"dy":-3,"buttons":0}"#),
            InputEvent::MouseRel {
                dx: 127,
                dy: -3,
                buttons: Some(0)
            }
        );
        assert_eq!(
            ok(r#"{"type":"wheel","dy":-1}"#),
            InputEvent::Wheel { dx: 0, dy: -1 }
        );
        assert_eq!(
            ok(r#"{"type":"wheel","dx":2,"dy":0}"#),
            InputEvent::Wheel { dx: 2, dy: 0 }
        );
        assert_eq!(
            ok(r#"{"type":"text","text":"hello"}"#),
            InputEvent::Text {
                text: "hello".into(),
                layout: None
            }
        );
        assert_eq!(
            ok(r#"{"type":"text","text":"hi","layout":"us"}"#),
            InputEvent::Text {
                text: "hi".into(),
                layout: Some(Layout::Us)
            }
        );
        assert!(decode(br#"{"type":"text","text":"hi","layout":"klingon"}"#)
            .unwrap_err()
            .to_string()
            .contains("unknown keyboard layout"));
        assert_eq!(ok(r#"{"type":"release_all"}"#), InputEvent::ReleaseAll);
        assert_eq!(ok(r#"{"type":"ping"}"#), InputEvent::Ping);
    }

    #[test]
    fn malformed_messages_are_refused_with_a_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"not json", "malformed message"),
            (b"[1,2]", "missing string field"),
            (b"{\"type\":5}", "missing string field"),
            (b"{\"type\":\"jump\"}", "unknown message type \"jump\""),
            (
                b"{\"type\":\"key\",\"code\":\"KeyA\"}",
                "missing field `down`",
            ),
            (
                b"{\"type\":\"key\",\"code\":\"NoSuchKey\",\"down\":true}",
                "unknown key code \"NoSuchKey\"",
            ),
            (
                b"{\"type\":\"key\",\"code\":\"KeyA\",\"down\":true,\"x\":1}",
                "unknown field `x`",
            ),
            (
                b"{\"type\":\"mouse_abs\",\"x\":1.5,\"y\":0}",
                "x = 1.5: must be 0..=1",
            ),
            (
                b"{\"type\":\"mouse_abs\",\"x\":-0.1,\"y\":0}",
                "x = -0.1: must be 0..=1",
            ),
            (
                b"{\"type\":\"mouse_abs\",\"x\":0,\"y\":0,\"buttons\":8}",
                "buttons = 8: must be 0..=7",
            ),
            (
                b"{\"type\":\"mouse_abs\",\"x\":0,\"y\":0,\"buttons\":-1}",
                "malformed message",
            ),
            (b"{\"type\":\"wheel\"}", "missing field `dy`"),
            (b"\xff\xfe", "not UTF-8"),
        ];
        for (input, want) in cases {
            let err = decode(input).expect_err(&String::from_utf8_lossy(input));
            let text = err.to_string();
            assert!(
                text.contains(want),
                "{:?}: got {text:?}, want {want:?}",
                String::from_utf8_lossy(input)
            );
        }
        let big = format!(
            "{{\"type\":\"text\",\"text\":\"{}\"}}",
            "a".repeat(MAX_MESSAGE_BYTES)
        );
        assert!(matches!(decode(big.as_bytes()), Err(WireError::TooLong(_))));
    }

    #[test]
    fn replies_serialise_per_contract() {
        let leds = Reply::Leds {
            caps: true,
            num: false,
            scroll: false,
        };
        assert_eq!(
            leds.to_json(),
            r#"{"type":"leds","caps":true,"num":false,"scroll":false}"#
        );
        let err = Reply::Error {
            reason: "unknown key code \"X\"".into(),
        };
        assert_eq!(
            err.to_json(),
            r#"{"type":"error","reason":"unknown key code \"X\""}"#
        );
    }
}
