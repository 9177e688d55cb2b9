//! WebRTC transport: answers WHEP / `/ws` offers with an H.264 video track and accepts the
//! client's `hid` data channel. The only module that imports `webrtc` and `rtc` (style C2).
//!
//! One [`WebRtcHost`] serves every session. Per session it builds a peer connection on a
//! [`runtime::SessionRuntime`] (ephemeral ports, or the shared `--webrtc-udp-port` through
//! [`mux::UdpMux`]), answers with every candidate inside, then runs three tasks: video
//! ([`video::run`]), keyframe requests ([`video::forward_keyframe_requests`]) and a supervisor
//! that removes the session when ICE fails, stays disconnected for [`DISCONNECT_GRACE`], or
//! never connects within [`CONNECT_TIMEOUT`]. Data channels get [`input::run`].
//!
//! Never encodes, never touches HID devices: frames come from a [`FrameBus`], input goes to a
//! [`HidHandle`].

mod input;
mod mux;
mod runtime;
pub mod sdp;
mod video;

use crate::hid::worker::HidHandle;
use crate::media::fanout::FrameBus;
use async_trait::async_trait;
use periscope_signaling::{Opened, SessionHost, SessionId, SignalError};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_H264;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription, Registry,
    SettingEngineBuilder,
};
use webrtc::rtp_transceiver::RtpSender;

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
/// Payload type of the first H.264 format we register (the rest follow by two).
const FIRST_H264_PT: u8 = 102;
/// Interceptor slot of [`video::KeyframeRequestForwarder`]: application-most.
const KEYFRAME_FORWARDER_SLOT: usize = 14_000;

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
pub(crate) struct SessionStats {
    frames_sent: AtomicU64,
    frames_failed: AtomicU64,
    keyframe_requests: AtomicU64,
    last_latency_us: AtomicU64,
}

/// One running session.
struct Session {
    pc: Arc<dyn PeerConnection>,
    /// Ends the session's tasks (video, keyframes, data channels, supervisor).
    cancel: CancellationToken,
    /// Our ICE ufrag, registered in the mux.
    ufrag: Option<String>,
    peer: String,
}

#[derive(Default)]
struct Sessions {
    open: HashMap<SessionId, Session>,
    /// Sessions being answered right now (they count against `max_sessions`).
    opening: usize,
}

/// Serves WebRTC sessions; implements [`SessionHost`] for the signalling crate.
pub struct WebRtcHost {
    cfg: WebRtcConfig,
    video: Arc<FrameBus>,
    hid: HidHandle,
    mux: Option<Arc<mux::UdpMux>>,
    wire: Arc<runtime::Counters>,
    media: Arc<SessionStats>,
    sessions: Mutex<Sessions>,
    me: Weak<WebRtcHost>,
}

impl WebRtcHost {
    /// Checks `cfg` and opens the shared UDP port if one is set. Needs a tokio runtime.
    pub async fn new(cfg: WebRtcConfig, video: Arc<FrameBus>, hid: HidHandle) -> Result<Arc<WebRtcHost>, WebRtcError> {
        if cfg.bind_ips.is_empty() {
            return Err(WebRtcError::NoAddresses);
        }
        if cfg.max_sessions == 0 {
            return Err(WebRtcError::NoSessions);
        }
        let wire = Arc::new(runtime::Counters::default());
        let mux = match cfg.udp_port {
            Some(port) => Some(Arc::new(
                mux::UdpMux::bind(&cfg.bind_ips, port, Arc::clone(&wire)).map_err(|source| WebRtcError::Bind { port, source })?,
            )),
            None => None,
        };
        tracing::info!(target: LOG, bind = ?cfg.bind_ips, udp_port = ?mux.as_ref().map(|m| m.port()),
            advertise = ?cfg.advertise, max_sessions = cfg.max_sessions, "webrtc ready");
        Ok(Arc::new_cyclic(|me| WebRtcHost {
            cfg,
            video,
            hid,
            mux,
            wire,
            media: Arc::default(),
            sessions: Mutex::default(),
            me: me.clone(),
        }))
    }

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        self.lock().open.len()
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

    fn lock(&self) -> MutexGuard<'_, Sessions> {
        // Every update is a single insert/remove/counter change: a poisoned map is consistent.
        self.sessions.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Removes a session and closes its peer connection; false if there was none.
    async fn end(&self, id: SessionId, why: &str) -> bool {
        let Some(session) = self.lock().open.remove(&id) else { return false };
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

    /// Builds a peer connection for one session.
    async fn build(&self, tag: u64, handler: Arc<Handler>) -> Result<Arc<dyn PeerConnection>, webrtc::error::Error> {
        let mut media_engine = MediaEngine::default();
        for (i, profile) in sdp::PROFILES.iter().enumerate() {
            let codec = RTCRtpCodecParameters {
                rtp_codec: h264_codec(profile),
                payload_type: FIRST_H264_PT + 2 * i as u8,
                ..Default::default()
            };
            media_engine.register_codec(codec, RtpCodecKind::Video)?;
        }
        media_engine.register_header_extension(
            RTCRtpHeaderExtensionCapability { uri: PLAYOUT_DELAY_URI.to_string() },
            RtpCodecKind::Video,
            None,
        )?;
        let registry = register_default_interceptors(Registry::new(), &mut media_engine)?.with(
            rtc::interceptor::Slot::from(KEYFRAME_FORWARDER_SLOT),
            video::KeyframeRequestForwarder::default(),
        );
        let settings = SettingEngineBuilder::new().with_multicast_dns_mode(MulticastDnsMode::Disabled).build();
        let runtime = runtime::SessionRuntime::new(self.mux.clone(), tag, Arc::clone(&self.wire));
        let addrs: Vec<SocketAddr> = self.cfg.bind_ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media_engine)
            .with_setting_engine(settings)
            .with_interceptor_registry(registry)
            .with_handler(handler)
            .with_runtime(Arc::new(runtime))
            .with_udp_addrs(addrs)
            .build()
            .await?;
        Ok(Arc::new(pc))
    }

    /// Answers an offer on a freshly built peer connection: remote description, track,
    /// answer, gathering. Returns the answer SDP (not yet rewritten) and the video leg.
    async fn negotiate(
        &self,
        pc: &Arc<dyn PeerConnection>,
        offer: RTCSessionDescription,
        choice: &sdp::H264Choice,
        gathered: &mut watch::Receiver<bool>,
        pending: &mut Pending<'_>,
    ) -> Result<(String, video::VideoLeg), SignalError> {
        // The remote description first: a track added before it binds to pre-negotiation
        // header extension ids and every packet is dropped (crates.md).
        pc.set_remote_description(offer).await.map_err(|e| SignalError::BadOffer(e.to_string()))?;
        let ssrc = rand::random::<u32>();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "periscope".to_string(),
            "screen".to_string(),
            "screen".to_string(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                codec: h264_codec(sdp::PROFILES[choice.profile]),
                ..Default::default()
            }],
        )));
        let sender = pc.add_track(Arc::clone(&track) as Arc<dyn TrackLocal>).await.map_err(internal)?;
        let payload_type = negotiated_payload_type(&*sender, choice.payload_type).await?;
        let answer = pc.create_answer(None).await.map_err(internal)?;
        pc.set_local_description(answer).await.map_err(internal)?;
        let local = pc.local_description().await.ok_or_else(|| internal("no local description"))?;
        if let (Some(mux), Some(ufrag)) = (&self.mux, sdp::ice_ufrag(&local.sdp)) {
            mux.register_ufrag(&ufrag, pending.tag);
            pending.ufrag = Some(ufrag);
        }
        if tokio::time::timeout(GATHER_TIMEOUT, gathered.wait_for(|done| *done)).await.is_err() {
            tracing::warn!(target: LOG, peer = pending.peer, "candidate gathering not complete after 3 s; answering with what there is");
        }
        let local = pc.local_description().await.ok_or_else(|| internal("no local description"))?;
        Ok((local.sdp, video::VideoLeg { track, ssrc, payload_type }))
    }
}

#[async_trait]
impl SessionHost for WebRtcHost {
    async fn open(&self, offer_sdp: String) -> Result<Opened, SignalError> {
        let offer = RTCSessionDescription::offer(offer_sdp).map_err(|e| SignalError::BadOffer(e.to_string()))?;
        let choice = sdp::choose_h264(&offer.sdp).map_err(SignalError::NoH264)?;
        let id = SessionId::new_v4();
        let peer = id.to_string()[..8].to_string();
        let mut pending = Pending::reserve(self, peer.clone())?;
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let (gathered_tx, mut gathered) = watch::channel(false);
        let cancel = pending.cancel.clone();
        let handler = Arc::new(Handler { state: state_tx, gathered: gathered_tx, hid: self.hid.clone(), cancel: cancel.clone(), peer: peer.clone() });
        let pc = self.build(pending.tag, handler).await.map_err(internal)?;
        pending.pc = Some(Arc::clone(&pc));
        let (answer, leg) = self.negotiate(&pc, offer, &choice, &mut gathered, &mut pending).await?;
        let answer_sdp = sdp::rewrite_candidates(&answer, self.cfg.advertise, self.udp_port());
        // Registered before its tasks start, so a supervisor that ends it always finds it.
        pending.commit(id);
        let track = Arc::clone(&leg.track);
        tokio::spawn(video::run(leg, Arc::clone(&self.video), state.clone(), cancel.clone(), Arc::clone(&self.media), peer.clone()));
        tokio::spawn(video::forward_keyframe_requests(track, Arc::clone(&self.video), cancel.clone(), Arc::clone(&self.media)));
        tokio::spawn(supervise(self.me.clone(), id, state, cancel, peer.clone()));
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
        let open = std::mem::take(&mut self.lock().open);
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

/// A session being answered: holds its slot under `max_sessions`, and closes the half-built
/// peer connection if the answer fails or the caller goes away mid-way (future dropped).
struct Pending<'a> {
    host: &'a WebRtcHost,
    tag: u64,
    peer: String,
    cancel: CancellationToken,
    pc: Option<Arc<dyn PeerConnection>>,
    ufrag: Option<String>,
    reserved: bool,
}

impl<'a> Pending<'a> {
    fn reserve(host: &'a WebRtcHost, peer: String) -> Result<Pending<'a>, SignalError> {
        {
            let mut s = host.lock();
            let busy = s.open.len() + s.opening;
            if busy >= host.cfg.max_sessions {
                return Err(SignalError::TooMany(busy));
            }
            s.opening += 1;
        }
        let tag = host.mux.as_ref().map(|m| m.next_tag()).unwrap_or(0);
        Ok(Pending { host, tag, peer, cancel: CancellationToken::new(), pc: None, ufrag: None, reserved: true })
    }

    /// The answer is out: the session becomes one of the open ones.
    fn commit(mut self, id: SessionId) {
        let Some(pc) = self.pc.take() else { return };
        let session = Session { pc, cancel: self.cancel.clone(), ufrag: self.ufrag.take(), peer: self.peer.clone() };
        let mut s = self.host.lock();
        s.open.insert(id, session);
        s.opening = s.opening.saturating_sub(1);
        self.reserved = false;
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.reserved {
            let mut s = self.host.lock();
            s.opening = s.opening.saturating_sub(1);
        }
        let Some(pc) = self.pc.take() else { return };
        self.cancel.cancel();
        if let (Some(mux), Some(ufrag)) = (&self.host.mux, &self.ufrag) {
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
async fn supervise(
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
            RTCPeerConnectionState::Disconnected => Some(tokio::time::Instant::now() + DISCONNECT_GRACE),
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
struct Handler {
    /// Sender: the driver (connection state). Receivers: video task, supervisor.
    state: watch::Sender<RTCPeerConnectionState>,
    /// Sender: the driver (gathering complete). Receiver: `open`.
    gathered: watch::Sender<bool>,
    hid: HidHandle,
    cancel: CancellationToken,
    peer: String,
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
        tokio::spawn(input::run(dc, self.hid.clone(), self.cancel.clone(), self.peer.clone()));
    }
}

/// Our H.264 format for one of [`sdp::PROFILES`], with the feedback browsers expect.
fn h264_codec(profile: &str) -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback { typ: typ.to_string(), parameter: parameter.to_string() };
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_string(),
        clock_rate: video::CLOCK_RATE,
        channels: 0,
        sdp_fmtp_line: sdp::fmtp_for(profile),
        rtcp_feedback: vec![fb("goog-remb", ""), fb("ccm", "fir"), fb("nack", ""), fb("nack", "pli")],
    }
}

/// The payload type the sender was negotiated with: the offer's choice if it is there, else
/// the first H.264 format.
async fn negotiated_payload_type(sender: &dyn RtpSender, wanted: u8) -> Result<u8, SignalError> {
    let params = sender.get_parameters().await.map_err(internal)?;
    let codecs = &params.rtp_parameters.codecs;
    codecs
        .iter()
        .find(|c| c.payload_type == wanted)
        .or_else(|| codecs.iter().find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(MIME_TYPE_H264)))
        .map(|c| c.payload_type)
        .ok_or_else(|| SignalError::NoH264("no H.264 format survived negotiation".into()))
}

fn internal(e: impl std::fmt::Display) -> SignalError {
    tracing::warn!(target: LOG, error = %e, "session setup failed");
    SignalError::Internal(e.to_string())
}
