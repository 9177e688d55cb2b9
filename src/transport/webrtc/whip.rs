//! WHIP (RFC 9725) push: the appliance publishes its H.264 stream to a media server or SFU
//! (`--whip-url`, optional `--whip-token` Bearer token) so that many viewers never touch the
//! board.
//!
//! One task per configured URL. Each attempt builds a sendonly peer connection (H.264
//! constrained baseline, the same shared encoder as local viewers: frames come from the
//! [`FrameBus`]), gathers every candidate first (no trickle), POSTs the offer, expects `201`
//! with a `Location` and the answer, and once connected sends access units exactly as a local
//! session does (`video.rs`: the bus subscription asks for an IDR, PLI/FIR ask for more). The
//! resource is DELETEd when the push ends (shutdown, or before a retry). When the server goes
//! away or refuses, the task retries with a doubling backoff (1 s … 30 s).
//!
//! Nothing from the server can panic it: every status, header and body is checked and turned
//! into a logged error; state and counters are read by /api/state and /metrics.

use super::runtime::{Counters, SessionRuntime};
use super::video::{self, VideoLeg};
use super::{sdp, VideoCounters, CONNECT_TIMEOUT, DISCONNECT_GRACE, GATHER_TIMEOUT};
use crate::media::fanout::FrameBus;
use async_trait::async_trait;
use rtc::rtp_transceiver::rtp_sender::{RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription,
};

/// Tracing target of the push.
const LOG: &str = "whip";
/// The H.264 payload type we offer.
const PAYLOAD_TYPE: u8 = 102;
/// Bound on each HTTP exchange with the server.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on the DELETE at the end of a push.
const DELETE_TIMEOUT: Duration = Duration::from_secs(3);
/// First retry delay; doubles up to [`MAX_BACKOFF`], back to this after a push that connected.
const MIN_BACKOFF: Duration = Duration::from_secs(1);
/// Longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Longest server text quoted in a log line.
const MAX_QUOTE: usize = 200;

/// What the user set for the push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhipConfig {
    /// The WHIP endpoint (`--whip-url`), `http` or `https`.
    pub url: String,
    /// Bearer token (`--whip-token`), if the endpoint needs one.
    pub token: Option<String>,
}

/// Why one push attempt ended without media flowing, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum WhipError {
    /// Building the peer connection or the offer failed.
    #[error("local WebRTC setup failed: {0}")]
    Setup(String),
    /// The HTTP request failed (connection refused, TLS, timeout).
    #[error("request to the WHIP endpoint failed: {0}")]
    Http(String),
    /// The endpoint answered with a status other than 201 Created.
    #[error("the WHIP endpoint answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The answer was not an SDP answer we can apply.
    #[error("the WHIP endpoint's answer was refused: {0}")]
    BadAnswer(String),
    /// ICE/DTLS did not connect in time.
    #[error("the connection to the media server did not come up within {0:?}")]
    ConnectTimeout(Duration),
    /// The connection failed or stayed disconnected.
    #[error("the connection to the media server was lost: {0}")]
    Lost(String),
}

/// Counters for /metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WhipStats {
    /// Push attempts (POSTs of an offer).
    pub attempts: u64,
    /// Attempts that connected and sent media.
    pub connects: u64,
    /// Attempts that failed or pushes that were lost.
    pub failures: u64,
    /// Access units handed to the peer connection.
    pub frames_sent: u64,
    /// Access units the peer connection refused.
    pub frames_failed: u64,
    /// PLI/FIR received from the server.
    pub keyframe_requests: u64,
    /// UDP datagrams sent.
    pub packets_sent: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// 1 while connected.
    pub connected: bool,
}

/// The push's state, shared between its task and the HTTP surface.
pub struct WhipPush {
    /// The URL without user info or query (never the token).
    shown_url: String,
    state: Mutex<(&'static str, Option<String>)>,
    attempts: AtomicU64,
    connects: AtomicU64,
    failures: AtomicU64,
    media: Arc<VideoCounters>,
    wire: Arc<Counters>,
}

impl WhipPush {
    /// Starts pushing `bus` to `cfg.url`, gathering candidates on `bind_ips`, until `cancel`;
    /// the returned handle ends after the resource was deleted. Needs a tokio runtime.
    pub fn start(
        cfg: WhipConfig,
        bus: Arc<FrameBus>,
        bind_ips: Vec<IpAddr>,
        cancel: CancellationToken,
    ) -> (Arc<WhipPush>, JoinHandle<()>) {
        let push = Arc::new(WhipPush {
            shown_url: redact(&cfg.url),
            state: Mutex::new(("starting", None)),
            attempts: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            media: Arc::default(),
            wire: Arc::default(),
        });
        let task = tokio::spawn(run(Arc::clone(&push), cfg, bus, bind_ips, cancel));
        (push, task)
    }

    /// `{"state": …, "url": …, "error": …}` for /api/state (no token).
    pub fn state_json(&self) -> serde_json::Value {
        let (state, error) = self
            .state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(("unknown", None));
        serde_json::json!({
            "state": state,
            "url": self.shown_url,
            "error": error,
            "connects": self.connects.load(Ordering::Relaxed),
        })
    }

    /// Counters for /metrics.
    pub fn stats(&self) -> WhipStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WhipStats {
            attempts: load(&self.attempts),
            connects: load(&self.connects),
            failures: load(&self.failures),
            frames_sent: load(&self.media.frames_sent),
            frames_failed: load(&self.media.frames_failed),
            keyframe_requests: load(&self.media.keyframe_requests),
            packets_sent: load(&self.wire.packets_sent),
            bytes_sent: load(&self.wire.bytes_sent),
            connected: self
                .state
                .lock()
                .map(|s| s.0 == "connected")
                .unwrap_or(false),
        }
    }

    fn set(&self, state: &'static str, error: Option<String>) {
        if let Ok(mut s) = self.state.lock() {
            *s = (state, error);
        }
    }
}

/// The URL as shown in /api/state and logs: no user info, no query (either may hold a
/// secret).
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            u.to_string()
        }
        Err(_) => "(invalid URL)".to_string(),
    }
}

/// The retry loop.
async fn run(
    push: Arc<WhipPush>,
    cfg: WhipConfig,
    bus: Arc<FrameBus>,
    bind_ips: Vec<IpAddr>,
    cancel: CancellationToken,
) {
    let http = match reqwest::Client::builder().timeout(HTTP_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(target: LOG, error = %e, "WHIP push disabled: no HTTP client");
            push.set("failed", Some(e.to_string()));
            return;
        }
    };
    let url = push.shown_url.clone();
    tracing::info!(target: LOG, url, "WHIP push to {url}");
    let mut backoff = MIN_BACKOFF;
    let mut last_error: Option<String> = None;
    while !cancel.is_cancelled() {
        push.set("connecting", last_error.clone());
        push.attempts.fetch_add(1, Ordering::Relaxed);
        let attempt = Attempt {
            push: &push,
            http: &http,
            cfg: &cfg,
            bus: &bus,
            bind_ips: &bind_ips,
            cancel: &cancel,
        };
        let connected = match attempt.run().await {
            Ok(()) => break,
            // Shutdown while connecting: nothing to report.
            Err(_) if cancel.is_cancelled() => break,
            Err((connected, e)) => {
                push.failures.fetch_add(1, Ordering::Relaxed);
                let msg = e.to_string();
                if last_error.as_deref() != Some(msg.as_str()) || connected {
                    tracing::warn!(target: LOG, url, error = %msg,
                        "WHIP push: {msg}; retrying in {} s", backoff.as_secs());
                }
                last_error = Some(msg);
                connected
            }
        };
        if connected {
            backoff = MIN_BACKOFF;
        }
        push.set("waiting", last_error.clone());
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    push.set("stopped", None);
    tracing::info!(target: LOG, url, "WHIP push stopped");
}

/// One push: offer, POST, connect, send until the end.
struct Attempt<'a> {
    push: &'a Arc<WhipPush>,
    http: &'a reqwest::Client,
    cfg: &'a WhipConfig,
    bus: &'a Arc<FrameBus>,
    bind_ips: &'a [IpAddr],
    cancel: &'a CancellationToken,
}

impl Attempt<'_> {
    /// `Ok` on shutdown; `Err((connected, why))` when the push failed or was lost.
    async fn run(&self) -> Result<(), (bool, WhipError)> {
        let (state_tx, mut state) = watch::channel(RTCPeerConnectionState::New);
        let (gathered_tx, mut gathered) = watch::channel(false);
        let handler = Arc::new(Handler {
            state: state_tx,
            gathered: gathered_tx,
        });
        let thread = super::reactor::assign();
        let runtime = SessionRuntime::new(None, 0, Arc::clone(&self.push.wire), thread.clone());
        let pc = build(self.bind_ips, runtime, handler)
            .await
            .map_err(|e| (false, WhipError::Setup(e.to_string())))?;
        let result = self
            .negotiate_and_send(&pc, &thread, &mut state, &mut gathered)
            .await;
        if let Err(e) = pc.close().await {
            tracing::debug!(target: LOG, error = %e, "peer connection close failed");
        }
        result
    }

    async fn negotiate_and_send(
        &self,
        pc: &Arc<dyn PeerConnection>,
        thread: &tokio::runtime::Handle,
        state: &mut watch::Receiver<RTCPeerConnectionState>,
        gathered: &mut watch::Receiver<bool>,
    ) -> Result<(), (bool, WhipError)> {
        let setup = |e: webrtc::error::Error| (false, WhipError::Setup(e.to_string()));
        let (track, ssrc) = super::peer::screen_track(h264_codec());
        pc.add_transceiver_from_track(
            Arc::clone(&track) as Arc<dyn TrackLocal>,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendonly,
                ..Default::default()
            }),
        )
        .await
        .map_err(setup)?;
        let offer = pc.create_offer(None).await.map_err(setup)?;
        pc.set_local_description(offer).await.map_err(setup)?;
        if tokio::time::timeout(GATHER_TIMEOUT, gathered.wait_for(|g| *g))
            .await
            .is_err()
        {
            tracing::warn!(target: LOG, "candidate gathering incomplete after 3 s; offering anyway");
        }
        let offer = pc
            .local_description()
            .await
            .ok_or_else(|| (false, WhipError::Setup("no local description".into())))?
            .sdp;
        if self.cancel.is_cancelled() {
            return Ok(());
        }
        let (resource, answer) = self.post(&offer).await.map_err(|e| (false, e))?;
        let result = self
            .connect_and_send(pc, thread, state, answer, track, ssrc)
            .await;
        if let Some(resource) = resource {
            self.delete(&resource).await;
        }
        result
    }

    /// POSTs the offer; returns the resource URL (from `Location`) and the answer.
    async fn post(&self, offer: &str) -> Result<(Option<reqwest::Url>, String), WhipError> {
        let mut req = self
            .http
            .post(&self.cfg.url)
            .header(reqwest::header::CONTENT_TYPE, "application/sdp")
            .body(offer.to_string());
        if let Some(token) = &self.cfg.token {
            req = req.bearer_auth(token);
        }
        let resp = tokio::select! {
            r = req.send() => r.map_err(|e| WhipError::Http(without_url(&e)))?,
            _ = self.cancel.cancelled() => return Err(WhipError::Http("shutting down".into())),
        };
        let status = resp.status();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let base = resp.url().clone();
        let body = resp
            .text()
            .await
            .map_err(|e| WhipError::Http(without_url(&e)))?;
        let resource = location.as_deref().and_then(|l| base.join(l).ok());
        if status != reqwest::StatusCode::CREATED {
            if let Some(r) = &resource {
                if status.is_success() {
                    self.delete(r).await;
                }
            }
            return Err(WhipError::Status {
                status: status.as_u16(),
                body: quote(&body),
            });
        }
        if resource.is_none() {
            tracing::warn!(target: LOG, location = ?location.map(|l| quote(&l)),
                "201 without a usable Location: the resource cannot be deleted at the end");
        }
        Ok((resource, body))
    }

    /// Applies the answer, waits for the connection and sends until shutdown or loss.
    async fn connect_and_send(
        &self,
        pc: &Arc<dyn PeerConnection>,
        thread: &tokio::runtime::Handle,
        state: &mut watch::Receiver<RTCPeerConnectionState>,
        answer: String,
        track: Arc<TrackLocalStaticRTP>,
        ssrc: u32,
    ) -> Result<(), (bool, WhipError)> {
        tracing::debug!(target: LOG, answer, "WHIP answer");
        if !answer.trim_start().starts_with("v=0") {
            return Err((
                false,
                WhipError::BadAnswer(format!("not SDP: {}", quote(&answer))),
            ));
        }
        if let Err(why) = sdp::choose_h264(&answer) {
            return Err((false, WhipError::BadAnswer(why)));
        }
        let answer = RTCSessionDescription::answer(answer)
            .map_err(|e| (false, WhipError::BadAnswer(e.to_string())))?;
        pc.set_remote_description(answer)
            .await
            .map_err(|e| (false, WhipError::BadAnswer(e.to_string())))?;
        let up = tokio::time::timeout(CONNECT_TIMEOUT, async {
            loop {
                match *state.borrow_and_update() {
                    RTCPeerConnectionState::Connected => return Ok(()),
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => {
                        return Err(WhipError::Lost("ICE/DTLS failed".into()))
                    }
                    _ => {}
                }
                tokio::select! {
                    _ = self.cancel.cancelled() => return Err(WhipError::Lost("shutting down".into())),
                    changed = state.changed() => if changed.is_err() {
                        return Err(WhipError::Lost("peer connection gone".into()));
                    },
                }
            }
        })
        .await;
        match up {
            Err(_) => return Err((false, WhipError::ConnectTimeout(CONNECT_TIMEOUT))),
            Ok(Err(_)) if self.cancel.is_cancelled() => return Ok(()),
            Ok(Err(e)) => return Err((false, e)),
            Ok(Ok(())) => {}
        }
        self.push.connects.fetch_add(1, Ordering::Relaxed);
        self.push.set("connected", None);
        tracing::info!(target: LOG, url = self.push.shown_url, "WHIP push connected; sending video");
        let session = self.cancel.child_token();
        let leg = VideoLeg {
            track: Arc::clone(&track),
            ssrc,
            payload_type: PAYLOAD_TYPE,
            // The push offers no playout-delay extension: a media server plays out as it
            // sees fit.
            playout_id: None,
        };
        // The subscription inside `video::run` asks the encoder for an IDR for the server.
        // The server's link is the operator's: the push always sends the full stream.
        let keyframes = Arc::new(tokio::sync::Notify::new());
        let rungs = video::Rungs {
            ladder: crate::media::ladder::Ladder::fixed(Arc::clone(self.bus)),
            estimate: None,
            keyframes: Arc::clone(&keyframes),
            payloads: Arc::default(),
            floor: Default::default(),
        };
        thread.spawn(video::run(
            leg,
            rungs,
            state.clone(),
            session.clone(),
            Arc::clone(&self.push.media),
            "whip".to_string(),
        ));
        thread.spawn(video::forward_keyframe_requests(
            track,
            keyframes,
            session.clone(),
            Arc::clone(&self.push.media),
        ));
        let result = self.watch(state).await;
        session.cancel();
        result.map_err(|e| (true, e))
    }

    /// Until shutdown (`Ok`) or the connection fails or stays disconnected (`Err`).
    async fn watch(
        &self,
        state: &mut watch::Receiver<RTCPeerConnectionState>,
    ) -> Result<(), WhipError> {
        loop {
            let now = *state.borrow_and_update();
            match now {
                RTCPeerConnectionState::Failed => return Err(WhipError::Lost("ICE failed".into())),
                RTCPeerConnectionState::Closed => {
                    return Err(WhipError::Lost("connection closed".into()))
                }
                RTCPeerConnectionState::Disconnected => {
                    let back = tokio::time::timeout(
                        DISCONNECT_GRACE,
                        state.wait_for(|s| *s == RTCPeerConnectionState::Connected),
                    );
                    tokio::select! {
                        _ = self.cancel.cancelled() => return Ok(()),
                        r = back => match r {
                            Ok(Ok(_)) => continue,
                            _ => return Err(WhipError::Lost(format!(
                                "disconnected for {} s", DISCONNECT_GRACE.as_secs()))),
                        },
                    }
                }
                _ => {}
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return Ok(()),
                changed = state.changed() => if changed.is_err() {
                    return Err(WhipError::Lost("peer connection gone".into()));
                },
            }
        }
    }

    /// Deletes the resource (bounded; failures are logged only).
    async fn delete(&self, resource: &reqwest::Url) {
        let mut req = self.http.delete(resource.clone()).timeout(DELETE_TIMEOUT);
        if let Some(token) = &self.cfg.token {
            req = req.bearer_auth(token);
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => {
                tracing::info!(target: LOG, "WHIP resource deleted");
            }
            Ok(r) => {
                tracing::warn!(target: LOG, status = r.status().as_u16(), "WHIP resource DELETE refused");
            }
            Err(e) => {
                tracing::warn!(target: LOG, error = %without_url(&e), "WHIP resource DELETE failed");
            }
        }
    }
}

/// A reqwest error without its URL (which may carry a secret in its query).
fn without_url(e: &reqwest::Error) -> String {
    let mut s = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(e);
    // The outermost message names the URL; its causes say what went wrong.
    let mut first = true;
    while let Some(err) = source {
        if !first {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&err.to_string());
        }
        first = false;
        source = err.source();
    }
    if s.is_empty() {
        if e.is_timeout() {
            return "timed out".into();
        }
        return "request failed".into();
    }
    s
}

/// At most [`MAX_QUOTE`] characters of server text, on one line.
fn quote(text: &str) -> String {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .collect();
    let one = words
        .into_iter()
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    one.chars().take(MAX_QUOTE).collect()
}

/// The peer connection's events.
struct Handler {
    state: watch::Sender<RTCPeerConnectionState>,
    gathered: watch::Sender<bool>,
}

#[async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::info!(target: LOG, %state, "WHIP connection state");
        self.state.send_replace(state);
    }
}

/// A peer connection with one H.264 format (the rest as viewers' sessions have it:
/// `peer::connect`).
async fn build(
    bind_ips: &[IpAddr],
    runtime: SessionRuntime,
    handler: Arc<Handler>,
) -> Result<Arc<dyn PeerConnection>, webrtc::error::Error> {
    let mut media_engine = MediaEngine::default();
    media_engine.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: h264_codec(),
            payload_type: PAYLOAD_TYPE,
        },
        RtpCodecKind::Video,
    )?;
    let (pc, _) = super::peer::connect(
        media_engine,
        bind_ips,
        runtime,
        handler,
        None,
        Default::default(),
    )
    .await?;
    Ok(pc)
}

/// H.264 constrained baseline, packetization-mode 1, with the feedback SFUs use (no REMB).
fn h264_codec() -> RTCRtpCodec {
    super::peer::h264_codec(sdp::PROFILES[0], false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_url_never_carries_secrets() {
        assert_eq!(
            redact("https://user:pw@sfu.example/whip/ep?token=abc#x"),
            "https://sfu.example/whip/ep"
        );
        assert_eq!(redact("not a url"), "(invalid URL)");
    }

    #[test]
    fn server_text_is_quoted_short_and_on_one_line() {
        let long = "a\r\nb".to_string() + &"x".repeat(1000);
        let q = quote(&long);
        assert!(q.len() <= MAX_QUOTE && !q.contains('\n'));
        assert!(q.starts_with("a b"));
    }
}
