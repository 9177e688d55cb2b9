//! The /ws route: the built-in UI's signalling socket. One session per socket at a time;
//! the session ends when the socket closes. State is pushed about once a second.

use crate::protocol::{self, ClientMsg, ServerMsg};
use crate::{SessionHost, SessionId, StateSource};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use warp::ws::{Message, WebSocket};
use warp::Filter;

/// How often state is pushed to each UI client.
pub const STATE_INTERVAL: Duration = Duration::from_secs(1);

/// The `GET /ws` upgrade route.
pub fn route(
    host: Arc<dyn SessionHost>,
    state: Arc<dyn StateSource>,
) -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    warp::path!("ws")
        .and(warp::ws())
        .map(move |ws: warp::ws::Ws| {
            let (host, state) = (Arc::clone(&host), Arc::clone(&state));
            ws.max_message_size(protocol::MAX_MESSAGE_BYTES)
                .on_upgrade(move |socket| serve(socket, host, state))
        })
}

async fn serve(socket: WebSocket, host: Arc<dyn SessionHost>, state: Arc<dyn StateSource>) {
    let (mut tx, mut rx) = socket.split();
    let mut session: Option<SessionId> = None;
    let mut tick = tokio::time::interval(STATE_INTERVAL);
    loop {
        let reply = tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(msg)) if msg.is_text() => {
                    handle(msg.to_str().unwrap_or(""), &host, &mut session).await
                }
                Some(Ok(msg)) if msg.is_close() => break,
                Some(Ok(_)) => None,
                Some(Err(e)) => {
                    tracing::debug!(target: "signaling", "ws: {e}");
                    break;
                }
                None => break,
            },
            _ = tick.tick() => Some(ServerMsg::State(state.state())),
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

async fn handle(
    text: &str,
    host: &Arc<dyn SessionHost>,
    session: &mut Option<SessionId>,
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
            match host.open(sdp).await {
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
