//! The `hid` data channel of a session: JSON messages in ([`wire::decode`]) → the HID worker;
//! refusals and keyboard LED changes back out ([`Reply`]).
//!
//! Owns one HID session per channel: opened when the channel opens, closed (everything held
//! is released) when the channel closes, the session ends or the peer fails. Channels with
//! another label are closed and drained, never left to stall the SCTP association.
//!
//! A viewer's channel never opens a HID session: its input is refused with a reason (pings
//! pass). A controller's channel is rate-limited ([`RateLimit`]); releases always pass.

use super::LOG;
use crate::hid::worker::{HidHandle, SendError, SessionKey};
use crate::input::rate::RateLimit;
use crate::input::wire::{self, Reply};
use crate::input::InputEvent;
use periscope_signaling::Role;
use std::sync::Arc;
use std::time::Instant;
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
    role: Role,
) {
    let label = dc.label().await.unwrap_or_default();
    if label != HID_LABEL {
        tracing::info!(target: LOG, peer, label, "ignoring data channel that is not \"hid\"");
        let _ = dc.close().await;
        drain(&*dc, &cancel).await;
        return;
    }
    let mut session: Option<SessionKey> = None;
    let mut limit = RateLimit::default();
    let mut leds = hid.leds();
    // The state known at open is sent once the channel opens, then every change.
    let mut leds_at_open = *leds.borrow_and_update();
    let mut leds_alive = true;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            changed = leds.changed(), if leds_alive => {
                if changed.is_err() {
                    leds_alive = false;
                    continue;
                }
                let now = *leds.borrow_and_update();
                if let Some(l) = now {
                    send_leds(&*dc, l, &peer).await;
                }
            }
            event = dc.poll() => match event {
                Some(DataChannelEvent::OnOpen) => {
                    if let Some(l) = leds_at_open.take() {
                        send_leds(&*dc, l, &peer).await;
                    }
                    if role == Role::Viewer {
                        tracing::info!(target: LOG, peer, "hid channel open (view only)");
                    } else if session.is_none() {
                        session = Some(hid.open_session().await);
                        tracing::info!(target: LOG, peer, "hid channel open");
                    }
                }
                Some(DataChannelEvent::OnMessage(message)) => {
                    if role == Role::Viewer {
                        refuse_viewer(&*dc, &message, &peer).await;
                        continue;
                    }
                    let key = match session {
                        Some(key) => key,
                        None => *session.insert(hid.open_session().await),
                    };
                    handle(&*dc, &hid, key, &message, &mut limit, &peer).await;
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

/// Releases and keep-alives: never rate-limited.
fn exempt(event: &InputEvent) -> bool {
    matches!(
        event,
        InputEvent::Key { down: false, .. } | InputEvent::ReleaseAll | InputEvent::Ping
    )
}

/// A viewer's message: pings are fine, anything else is refused.
async fn refuse_viewer(dc: &dyn DataChannel, message: &RTCDataChannelMessage, peer: &str) {
    let reason = match wire::decode(&message.data) {
        Ok(InputEvent::Ping) => return,
        Err(e) => e.to_string(),
        Ok(_) => "view-only session: log in as admin to control the keyboard and mouse".into(),
    };
    reply(dc, &Reply::Error { reason }, peer).await;
}

/// One message: decode, rate-limit, queue, or say why not.
async fn handle(
    dc: &dyn DataChannel,
    hid: &HidHandle,
    key: SessionKey,
    message: &RTCDataChannelMessage,
    limit: &mut RateLimit,
    peer: &str,
) {
    let refusal = match wire::decode(&message.data) {
        Err(e) => Some(e.to_string()),
        Ok(event) if !exempt(&event) && !limit.allow(Instant::now()) => {
            hid.stats
                .rate_limited
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            limit.should_reply(Instant::now()).then(|| {
                format!(
                    "rate limit: over {} input messages a second; {} dropped so far",
                    crate::input::rate::INPUT_RATE,
                    limit.dropped()
                )
            })
        }
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

async fn send_leds(dc: &dyn DataChannel, l: crate::hid::Leds, peer: &str) {
    let leds = Reply::Leds {
        caps: l.caps,
        num: l.num,
        scroll: l.scroll,
    };
    reply(dc, &leds, peer).await;
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
