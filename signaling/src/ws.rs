//! The /ws route: the built-in UI's signalling socket. One session per socket at a time;
//! the session ends when the socket closes. State is pushed about once a second.

use crate::protocol::{self, ClientMsg, ServerMsg};
use crate::{Role, SessionHost, SessionId, StateSource};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use warp::ws::{Message, WebSocket};
use warp::Filter;

/// How often state is pushed to each UI client.
pub const STATE_INTERVAL: Duration = Duration::from_secs(1);

/// The `GET /ws` upgrade route; `role` extracts the caller's role (after authentication).
pub fn route<R>(
    host: Arc<dyn SessionHost>,
    state: Arc<dyn StateSource>,
    role: R,
) -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone
where
    R: Filter<Extract = (Role,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
{
    warp::path!("ws")
        .and(role)
        .and(warp::ws())
        .map(move |role: Role, ws: warp::ws::Ws| {
            let (host, state) = (Arc::clone(&host), Arc::clone(&state));
            ws.max_message_size(protocol::MAX_MESSAGE_BYTES)
                .on_upgrade(move |socket| serve(socket, host, state, role))
        })
}

async fn serve(
    socket: WebSocket,
    host: Arc<dyn SessionHost>,
    state: Arc<dyn StateSource>,
    role: Role,
) {
    let (mut tx, mut rx) = socket.split();
    let mut session: Option<SessionId> = None;
    let mut tick = tokio::time::interval(STATE_INTERVAL);
    loop {
        let reply = tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(msg)) if msg.is_text() => {
                    handle(msg.to_str().unwrap_or(""), &host, &mut session, role).await
                }
                Some(Ok(msg)) if msg.is_close() => break,
                Some(Ok(_)) => None,
                Some(Err(e)) => {
                    tracing::debug!(target: "signaling", "ws: {e}");
                    break;
                }
                None => break,
            },
            _ = tick.tick() => Some(ServerMsg::State(with_role(state.state(), role))),
        };
        if let Some(reply) = reply {
            if tx.send(Message::text(reply.to_json())).await.is_err() {
                break;
            }
        }
    }
    if let Some(id) = session.take() {
        let _ = host.close(id).await;
    }
}

/// The state object with the caller's `role` added.
pub fn with_role(mut state: serde_json::Value, role: Role) -> serde_json::Value {
    if let Some(map) = state.as_object_mut() {
        map.insert("role".into(), role.name().into());
    }
    state
}

async fn handle(
    text: &str,
    host: &Arc<dyn SessionHost>,
    session: &mut Option<SessionId>,
    role: Role,
) -> Option<ServerMsg> {
    match protocol::parse(text) {
        Err(reason) => Some(ServerMsg::Error { reason }),
        Ok(ClientMsg::Bye) => {
            if let Some(id) = session.take() {
                let _ = host.close(id).await;
            }
            None
        }
        Ok(ClientMsg::Offer { sdp }) => {
            if let Some(id) = session.take() {
                let _ = host.close(id).await;
            }
            match host.open(sdp, role).await {
                Ok(opened) => {
                    *session = Some(opened.id);
                    Some(ServerMsg::Answer {
                        sdp: opened.answer_sdp,
                        session: opened.id,
                    })
                }
                Err(e) => Some(ServerMsg::Error {
                    reason: e.to_string(),
                }),
            }
        }
    }
}
