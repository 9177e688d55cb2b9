//! The `hid` data channel of a session: JSON messages in ([`wire::decode`]) → the HID worker;
//! refusals and keyboard LED changes back out ([`Reply`]).
//!
//! Owns one HID session per channel: opened when the channel opens, closed (everything held
//! is released) when the channel closes, the session ends or the peer fails. Channels with
//! another label are closed and drained, never left to stall the SCTP association.

use super::LOG;
use crate::hid::worker::{HidHandle, SendError, SessionKey};
use crate::input::wire::{self, Reply};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelMessage};

/// The label of the input channel (contracts.md).
pub const HID_LABEL: &str = "hid";

/// Serves one data channel the client created, until it closes or `cancel` fires.
pub async fn run(
    dc: Arc<dyn DataChannel>,
    hid: HidHandle,
    cancel: CancellationToken,
    peer: String,
) {
    let label = dc.label().await.unwrap_or_default();
    if label != HID_LABEL {
        tracing::info!(target: LOG, peer, label, "ignoring data channel that is not \"hid\"");
        let _ = dc.close().await;
        drain(&*dc, &cancel).await;
        return;
    }
    let mut session: Option<SessionKey> = None;
    let mut leds = hid.leds();
    // Only changes are forwarded (contracts.md); the state at open is taken as seen.
    leds.borrow_and_update();
    let mut leds_alive = true;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            changed = leds.changed(), if leds_alive => {
                if changed.is_err() {
                    leds_alive = false;
                    continue;
                }
                let l = *leds.borrow_and_update();
                reply(&*dc, &Reply::Leds { caps: l.caps, num: l.num, scroll: l.scroll }, &peer).await;
            }
            event = dc.poll() => match event {
                Some(DataChannelEvent::OnOpen) => {
                    if session.is_none() {
                        session = Some(hid.open_session().await);
                        tracing::info!(target: LOG, peer, "hid channel open");
                    }
                }
                Some(DataChannelEvent::OnMessage(message)) => {
                    let key = match session {
                        Some(key) => key,
                        None => *session.insert(hid.open_session().await),
                    };
                    handle(&*dc, &hid, key, &message, &peer).await;
                }
                Some(DataChannelEvent::OnClose) | None => break,
                Some(_) => {}
            },
        }
    }
    if let Some(key) = session {
        hid.close_session(key).await;
        tracing::info!(target: LOG, peer, "hid channel closed; input released");
    }
}

/// One message: decode, queue, or say why not.
async fn handle(
    dc: &dyn DataChannel,
    hid: &HidHandle,
    key: SessionKey,
    message: &RTCDataChannelMessage,
    peer: &str,
) {
    let refusal = match wire::decode(&message.data) {
        Err(e) => Some(e.to_string()),
        Ok(event) => match hid.send(key, event).await {
            Ok(()) => None,
            Err(SendError::Untypeable(reason)) => Some(reason),
            Err(e @ SendError::Stopped) => Some(e.to_string()),
        },
    };
    if let Some(reason) = refusal {
        tracing::debug!(target: LOG, peer, reason, "hid message refused");
        reply(dc, &Reply::Error { reason }, peer).await;
    }
}

async fn reply(dc: &dyn DataChannel, reply: &Reply, peer: &str) {
    if let Err(e) = dc.send_text(&reply.to_json()).await {
        tracing::debug!(target: LOG, peer, error = %e, "hid reply not sent");
    }
}

/// Reads and discards a channel's events until it ends, so its messages never back up.
async fn drain(dc: &dyn DataChannel, cancel: &CancellationToken) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            event = dc.poll() => if matches!(event, None | Some(DataChannelEvent::OnClose)) { return },
        }
    }
}
