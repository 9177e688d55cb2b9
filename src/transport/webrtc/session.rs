//! Session bookkeeping: the table of open sessions, the reservation a session holds while it
//! is being answered ([`Pending`]), the peer connection's event handler ([`Handler`]) and the
//! supervisor that removes a session whose peer is gone.
//!
//! Never sends media or input itself; it only decides when a session lives and dies.

use super::mux::UdpMux;
use super::{input, WebRtcHost, CONNECT_TIMEOUT, DISCONNECT_GRACE, LOG};
use crate::hid::worker::HidHandle;
use async_trait::async_trait;
use periscope_signaling::{Role, SessionId, SignalError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use webrtc::data_channel::DataChannel;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
};

/// One running session.
pub struct Session {
    pub pc: Arc<dyn PeerConnection>,
    /// Ends the session's tasks (video, keyframes, data channels, supervisor).
    pub cancel: CancellationToken,
    /// Our ICE ufrag, registered in the mux.
    pub ufrag: Option<String>,
    /// Short id for logs.
    pub peer: String,
}

/// Every session, open or being answered.
#[derive(Default)]
pub struct Sessions {
    pub open: HashMap<SessionId, Session>,
    /// Sessions being answered right now (they count against `max_sessions`).
    pub opening: usize,
}

/// Locks the table. Every update is one insert, remove or counter change, so a table whose
/// lock was poisoned is still consistent.
pub fn lock(sessions: &Mutex<Sessions>) -> MutexGuard<'_, Sessions> {
    sessions
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A session being answered: holds its slot under `max_sessions`, and closes the half-built
/// peer connection if the answer fails or the caller goes away mid-way (future dropped).
pub struct Pending<'a> {
    sessions: &'a Mutex<Sessions>,
    mux: Option<&'a UdpMux>,
    /// The session's tag in the mux.
    pub tag: u64,
    pub peer: String,
    pub cancel: CancellationToken,
    pub pc: Option<Arc<dyn PeerConnection>>,
    pub ufrag: Option<String>,
    reserved: bool,
}

impl<'a> Pending<'a> {
    /// Takes a slot, or says how many sessions are in the way.
    pub fn reserve(
        sessions: &'a Mutex<Sessions>,
        max: usize,
        mux: Option<&'a UdpMux>,
        peer: String,
    ) -> Result<Pending<'a>, SignalError> {
        {
            let mut s = lock(sessions);
            let busy = s.open.len() + s.opening;
            if busy >= max {
                return Err(SignalError::TooMany(busy));
            }
            s.opening += 1;
        }
        Ok(Pending {
            sessions,
            mux,
            tag: mux.map(|m| m.next_tag()).unwrap_or(0),
            peer,
            cancel: CancellationToken::new(),
            pc: None,
            ufrag: None,
            reserved: true,
        })
    }

    /// Routes STUN for our ufrag to this session (shared port only).
    pub fn register_ufrag(&mut self, ufrag: Option<String>) {
        if let (Some(mux), Some(ufrag)) = (self.mux, ufrag) {
            mux.register_ufrag(&ufrag, self.tag);
            self.ufrag = Some(ufrag);
        }
    }

    /// The answer is out: the session becomes one of the open ones.
    pub fn commit(mut self, id: SessionId) {
        let Some(pc) = self.pc.take() else { return };
        let session = Session {
            pc,
            cancel: self.cancel.clone(),
            ufrag: self.ufrag.take(),
            peer: self.peer.clone(),
        };
        let mut s = lock(self.sessions);
        s.open.insert(id, session);
        s.opening = s.opening.saturating_sub(1);
        self.reserved = false;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.reserved {
            let mut s = lock(self.sessions);
            s.opening = s.opening.saturating_sub(1);
        }
        let Some(pc) = self.pc.take() else { return };
        self.cancel.cancel();
        if let (Some(mux), Some(ufrag)) = (self.mux, &self.ufrag) {
            mux.forget_ufrag(ufrag);
        }
        tracing::info!(target: LOG, peer = self.peer, "session not answered; closing it");
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = pc.close().await;
            });
        }
    }
}

/// Removes the session when the peer is gone: ICE failed, disconnected for
/// [`DISCONNECT_GRACE`], or never connected within [`CONNECT_TIMEOUT`].
pub async fn supervise(
    host: Weak<WebRtcHost>,
    id: SessionId,
    mut state: watch::Receiver<RTCPeerConnectionState>,
    cancel: CancellationToken,
    peer: String,
) {
    let connect_by = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    let mut connected = false;
    let why = loop {
        let deadline = match *state.borrow_and_update() {
            RTCPeerConnectionState::Failed => break "ICE failed",
            RTCPeerConnectionState::Closed => break "peer connection closed",
            RTCPeerConnectionState::Connected => {
                connected = true;
                None
            }
            RTCPeerConnectionState::Disconnected => {
                Some(tokio::time::Instant::now() + DISCONNECT_GRACE)
            }
            _ if !connected => Some(connect_by),
            _ => None,
        };
        let expired = async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = state.changed() => if changed.is_err() { break "peer connection gone" },
            _ = expired => break if connected { "disconnected for 10 s" } else { "never connected" },
        }
    };
    tracing::info!(target: LOG, peer, why, "removing session");
    if let Some(host) = host.upgrade() {
        host.end(id, why).await;
    }
}

/// Receives the peer connection's events (on the driver task: nothing here may block).
pub struct Handler {
    /// Sender: the driver (connection state). Receivers: video task, supervisor.
    pub state: watch::Sender<RTCPeerConnectionState>,
    /// Sender: the driver (gathering complete). Receiver: `open`.
    pub gathered: watch::Sender<bool>,
    pub hid: HidHandle,
    pub cancel: CancellationToken,
    pub peer: String,
    /// What the login that opened the session may do.
    pub role: Role,
}

#[async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::info!(target: LOG, peer = self.peer, %state, "connection state");
        self.state.send_replace(state);
    }

    async fn on_data_channel(&self, dc: Arc<dyn DataChannel>) {
        let (hid, cancel, peer) = (self.hid.clone(), self.cancel.clone(), self.peer.clone());
        tokio::spawn(input::run(dc, hid, cancel, peer, self.role));
    }
}
