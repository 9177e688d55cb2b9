//! WebRTC transport: answers WHEP / `/ws` offers with an H.264 video track and accepts the
//! client's `hid` data channel. The only module that imports `webrtc` and `rtc` (style C2).
//!
//! One [`WebRtcHost`] serves every session. Per session it builds a peer connection
//! (`peer.rs`) on a `SessionRuntime` (`runtime.rs`: ephemeral ports, or the shared
//! `--webrtc-udp-port` through `UdpMux` in `mux.rs`), answers with every candidate inside
//! ([`sdp`] rewrites them for `--webrtc-advertise` and the shared port), then runs three
//! tasks: video and keyframe requests (`video.rs`) and a supervisor (`session.rs`) that
//! removes the session when ICE fails, it stays disconnected for [`DISCONNECT_GRACE`], or it
//! never connects within [`CONNECT_TIMEOUT`]. Data channels are served by `input.rs`.
//!
//! Each viewer's session estimates its link (TWCC + GCC, `bwe.rs`) and its video task moves
//! it between the rungs of the [`Ladder`] (the full stream, or the shared low one).
//!
//! Never encodes, never touches HID devices: frames come from a [`FrameBus`], input goes to a
//! [`HidHandle`].

mod backlog;
mod bwe;
mod input;
mod mux;
mod payloads;
mod peer;
mod reactor;
mod retransmit;
mod runtime;
pub mod sdp;
mod session;
mod video;
pub mod whip;

use crate::hid::worker::HidHandle;
use crate::media::fanout::FrameBus;
use crate::media::ladder::Ladder;
use crate::metrics::Histogram;
use async_trait::async_trait;
use periscope_signaling::{Opened, Role, SessionHost, SessionId, SignalError};
use session::{Handler, Pending, Sessions};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::watch;
use webrtc::peer_connection::{RTCPeerConnectionState, RTCSessionDescription};

/// Tracing target of this module (the crate's own `log` records keep their `webrtc::…` and
/// `rtc…` targets).
pub(crate) const LOG: &str = "webrtc";
/// The header extension that asks the browser to show frames without a jitter-buffer delay.
pub const PLAYOUT_DELAY_URI: &str = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay";
/// How long an answer waits for candidate gathering (host candidates take milliseconds).
pub const GATHER_TIMEOUT: Duration = Duration::from_secs(3);
/// A session that stays `Disconnected` this long is removed.
pub const DISCONNECT_GRACE: Duration = Duration::from_secs(10);
/// A session that never reaches `Connected` within this time after its answer is removed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What the user set for WebRTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebRtcConfig {
    /// `--webrtc-udp-port`: every session on this one port; `None`: ephemeral ports.
    pub udp_port: Option<u16>,
    /// `--webrtc-advertise`: the address put into host candidates instead of the real ones.
    pub advertise: Option<IpAddr>,
    /// Addresses to gather host candidates on (explicit: a wildcard would skip loopback).
    pub bind_ips: Vec<IpAddr>,
    /// Sessions allowed at once.
    pub max_sessions: usize,
}

/// Why the transport could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebRtcError {
    /// `bind_ips` is empty.
    #[error("webrtc: no address to gather ICE candidates on")]
    NoAddresses,
    /// `max_sessions` is 0.
    #[error("webrtc: max_sessions = 0: must be at least 1")]
    NoSessions,
    /// The shared UDP port could not be bound.
    #[error("webrtc: webrtc_udp_port = {port}: {source}")]
    Bind {
        /// The port asked for.
        port: u16,
        /// The bind error.
        source: std::io::Error,
    },
}

/// Counters for /metrics and /api/state, summed over every session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebRtcStats {
    /// Sessions open now.
    pub sessions: usize,
    /// UDP datagrams sent (media, RTCP, DTLS, SCTP, STUN).
    pub packets_sent: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// Access units handed to peer connections.
    pub frames_sent: u64,
    /// Access units a peer connection refused.
    pub frames_failed: u64,
    /// PLI/FIR received from browsers.
    pub keyframe_requests: u64,
    /// Server-added latency of the last frame sent: encode finished → last packet queued, µs.
    pub last_latency_us: u64,
    /// Datagrams the shared port dropped (session queue full, or no session matched).
    pub datagrams_dropped: u64,
}

/// Video counters the session tasks update (shared by every session).
#[derive(Debug, Default)]
pub(crate) struct VideoCounters {
    frames_sent: AtomicU64,
    frames_failed: AtomicU64,
    keyframe_requests: AtomicU64,
    last_latency_us: AtomicU64,
    /// Encoded → last packet handed to the socket, every frame to every viewer.
    send_seconds: Histogram,
    /// Capture → last packet handed to the socket, every frame to every viewer.
    capture_to_sent_seconds: Histogram,
}

/// Serves WebRTC sessions; implements [`SessionHost`] for the signalling crate.
pub struct WebRtcHost {
    cfg: WebRtcConfig,
    video: Arc<Ladder>,
    /// Where each session's bandwidth estimate starts; `None`: no congestion control (a
    /// ladder without a low rung has nothing to do with an estimate).
    bwe_initial: Option<f64>,
    hid: HidHandle,
    mux: Option<Arc<mux::UdpMux>>,
    wire: Arc<runtime::Counters>,
    media: Arc<VideoCounters>,
    /// RTP payloads of the access units being sent, made once for every session.
    payloads: Arc<payloads::Payloads>,
    sessions: Mutex<Sessions>,
    me: Weak<WebRtcHost>,
}

impl WebRtcHost {
    /// Checks `cfg` and opens the shared UDP port if one is set; every viewer gets the one
    /// stream of `video` (no adaptation). Needs a tokio runtime.
    pub async fn new(
        cfg: WebRtcConfig,
        video: Arc<FrameBus>,
        hid: HidHandle,
    ) -> Result<Arc<WebRtcHost>, WebRtcError> {
        WebRtcHost::with_ladder(cfg, Ladder::fixed(video), 0, hid).await
    }

    /// Like [`new`](Self::new), with viewers moved along `ladder` by their bandwidth
    /// estimates, which start at `initial_bps` (the full rung's bitrate).
    pub async fn with_ladder(
        cfg: WebRtcConfig,
        video: Arc<Ladder>,
        initial_bps: u32,
        hid: HidHandle,
    ) -> Result<Arc<WebRtcHost>, WebRtcError> {
        let bwe_initial = video.low().map(|_| f64::from(initial_bps));
        if cfg.bind_ips.is_empty() {
            return Err(WebRtcError::NoAddresses);
        }
        if cfg.max_sessions == 0 {
            return Err(WebRtcError::NoSessions);
        }
        let wire = Arc::new(runtime::Counters::default());
        let mux = match cfg.udp_port {
            Some(port) => Some(Arc::new(
                mux::UdpMux::bind(&cfg.bind_ips, port, Arc::clone(&wire))
                    .map_err(|source| WebRtcError::Bind { port, source })?,
            )),
            None => None,
        };
        tracing::info!(target: LOG, bind = ?cfg.bind_ips, udp_port = ?mux.as_ref().map(|m| m.port()),
            advertise = ?cfg.advertise, max_sessions = cfg.max_sessions, "webrtc ready");
        Ok(Arc::new_cyclic(|me| WebRtcHost {
            cfg,
            video,
            bwe_initial,
            hid,
            mux,
            wire,
            media: Arc::default(),
            payloads: Arc::default(),
            sessions: Mutex::default(),
            me: me.clone(),
        }))
    }

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        session::lock(&self.sessions).open.len()
    }

    /// The shared UDP port, when there is one (the real port if 0 was asked for).
    pub fn udp_port(&self) -> Option<u16> {
        self.mux.as_ref().map(|m| m.port())
    }

    /// Counters for /metrics and /api/state.
    pub fn stats(&self) -> WebRtcStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WebRtcStats {
            sessions: self.sessions(),
            packets_sent: load(&self.wire.packets_sent),
            bytes_sent: load(&self.wire.bytes_sent),
            frames_sent: load(&self.media.frames_sent),
            frames_failed: load(&self.media.frames_failed),
            keyframe_requests: load(&self.media.keyframe_requests),
            last_latency_us: load(&self.media.last_latency_us),
            datagrams_dropped: load(&self.wire.dropped_in) + load(&self.wire.unrouted_in),
        }
    }

    /// Per-frame histograms: encoded → sent, capture → sent (every frame to every viewer).
    pub fn histograms(&self) -> (&Histogram, &Histogram) {
        (
            &self.media.send_seconds,
            &self.media.capture_to_sent_seconds,
        )
    }

    /// Removes a session and closes its peer connection; false if there was none.
    async fn end(&self, id: SessionId, why: &str) -> bool {
        let Some(session) = session::lock(&self.sessions).open.remove(&id) else {
            return false;
        };
        session.cancel.cancel();
        if let (Some(mux), Some(ufrag)) = (&self.mux, &session.ufrag) {
            mux.forget_ufrag(ufrag);
        }
        if let Err(e) = session.pc.close().await {
            tracing::warn!(target: LOG, peer = session.peer, error = %e, "peer connection close failed");
        }
        tracing::info!(target: LOG, peer = session.peer, why, "session ended");
        true
    }
}

#[async_trait]
impl SessionHost for WebRtcHost {
    async fn open(&self, offer_sdp: String, role: Role) -> Result<Opened, SignalError> {
        let offer = RTCSessionDescription::offer(offer_sdp)
            .map_err(|e| SignalError::BadOffer(e.to_string()))?;
        let choice = sdp::choose_h264(&offer.sdp).map_err(SignalError::NoH264)?;
        let id = SessionId::new_v4();
        let peer = id.simple().to_string()[..8].to_string();
        let max = self.cfg.max_sessions;
        let mut pending = Pending::reserve(&self.sessions, max, self.mux.as_deref(), peer.clone())?;
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let (gathered_tx, mut gathered) = watch::channel(false);
        let cancel = pending.cancel.clone();
        let handler = Arc::new(Handler {
            state: state_tx,
            gathered: gathered_tx,
            hid: self.hid.clone(),
            cancel: cancel.clone(),
            peer: peer.clone(),
            role,
        });
        // The session's driver, video and keyframe tasks share one thread (`reactor.rs`).
        let thread = reactor::assign();
        let runtime = runtime::SessionRuntime::new(
            self.mux.clone(),
            pending.tag,
            Arc::clone(&self.wire),
            thread.clone(),
        );
        let floor = retransmit::Floor::default();
        let (pc, estimate) = peer::build(
            &self.cfg.bind_ips,
            runtime,
            handler,
            self.bwe_initial,
            floor.clone(),
        )
        .await
        .map_err(peer::internal)?;
        pending.pc = Some(Arc::clone(&pc));
        let (answer, leg) = peer::answer(&pc, offer, &choice).await?;
        pending.register_ufrag(sdp::ice_ufrag(&answer));
        let answer = peer::gathered(&pc, &mut gathered, &peer).await?;
        let answer_sdp = sdp::rewrite_candidates(&answer, self.cfg.advertise, self.udp_port());
        // Registered before its tasks start, so a supervisor that ends it always finds it.
        pending.commit(id);
        let media = &self.media;
        let track = Arc::clone(&leg.track);
        let keyframes = Arc::new(tokio::sync::Notify::new());
        let video = video::run(
            leg,
            video::Rungs {
                ladder: Arc::clone(&self.video),
                estimate,
                keyframes: Arc::clone(&keyframes),
                payloads: Arc::clone(&self.payloads),
                floor,
            },
            state.clone(),
            cancel.clone(),
            Arc::clone(media),
            peer.clone(),
        );
        thread.spawn(video);
        thread.spawn(video::forward_keyframe_requests(
            track,
            keyframes,
            cancel.clone(),
            Arc::clone(media),
        ));
        tokio::spawn(session::supervise(
            self.me.clone(),
            id,
            state,
            cancel,
            peer.clone(),
        ));
        tracing::info!(target: LOG, peer, payload_type = choice.payload_type, "session answered");
        Ok(Opened { id, answer_sdp })
    }

    async fn close(&self, id: SessionId) -> Result<(), SignalError> {
        if self.end(id, "closed by the client").await {
            Ok(())
        } else {
            Err(SignalError::NotFound)
        }
    }
}

impl Drop for WebRtcHost {
    fn drop(&mut self) {
        let open = std::mem::take(&mut session::lock(&self.sessions).open);
        let runtime = tokio::runtime::Handle::try_current().ok();
        for (_, session) in open {
            session.cancel.cancel();
            if let Some(rt) = &runtime {
                rt.spawn(async move {
                    let _ = session.pc.close().await;
                });
            }
        }
    }
}
