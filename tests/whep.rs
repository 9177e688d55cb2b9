//! WHEP end to end, in process: the real video pipeline (test pattern → OpenH264) and a
//! `record:` HID worker behind a `WebRtcHost`, and WHEP clients built on the `webrtc` crate
//! (no browser, no HTTP: `SessionHost::open` is called directly).
//!
//! Each client offers VP8 before H.264, a recvonly video transceiver and a `hid` data channel;
//! it depacketizes the H.264 it receives, decodes it with OpenH264 and reads the test
//! pattern's frame counter from the strip. Timeouts are failure bounds only.
#![cfg(feature = "openh264")]

mod common;

use bytes::{Bytes, BytesMut};
use openh264::formats::YUVSource;
use periscope::hid::record::RecordHid;
use periscope::hid::worker::HidHandle;
use periscope::media::capture::pattern::TestPattern;
use periscope::media::capture::CaptureSource;
use periscope::media::encode::h264::{H264Config, OpenH264Encoder};
use periscope::media::encode::jpeg::MjpegEncoder;
use periscope::media::pipeline::{Pipeline, SourceFactory};
use periscope::media::strip;
use periscope::transport::webrtc::{WebRtcConfig, WebRtcHost, PLAYOUT_DELAY_URI};
use periscope_signaling::{SessionHost, SignalError};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_VP8};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription, Registry,
};

/// Failure bound for anything network-shaped.
const BOUND: Duration = Duration::from_secs(20);
/// Frames each client must decode.
const FRAMES: usize = 30;
/// Largest counter step allowed between consecutive decoded frames (encoder skips, lag).
const MAX_GAP: u32 = 5;

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// The real pipeline on the 640x480@30 test pattern.
fn pipeline() -> Pipeline {
    let factory: SourceFactory =
        Box::new(|| Ok(Box::new(TestPattern::new(640, 480, 30)?) as Box<dyn CaptureSource>));
    let h264 = Box::new(OpenH264Encoder::new(H264Config {
        bitrate_bps: 0,
        fps: 30,
    }));
    let mjpeg = Box::new(MjpegEncoder::new().expect("turbojpeg"));
    Pipeline::start(factory, h264, mjpeg).expect("pipeline threads")
}

fn hid(record: &Path, cancel: &CancellationToken) -> HidHandle {
    HidHandle::spawn(
        Box::new(RecordHid::open(record).expect("record file")),
        cancel.clone(),
    )
}

async fn host(pipeline: &Pipeline, hid: HidHandle, udp_port: Option<u16>) -> Arc<WebRtcHost> {
    let cfg = WebRtcConfig {
        udp_port,
        advertise: None,
        bind_ips: vec![IpAddr::from([127, 0, 0, 1])],
        max_sessions: 4,
    };
    WebRtcHost::new(cfg, Arc::clone(&pipeline.h264), hid)
        .await
        .expect("webrtc host")
}

// ===== the WHEP client =====

struct ClientHandler {
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    /// Complete access units, in order.
    units: mpsc::Sender<Bytes>,
    /// Packets that carried the playout-delay extension (negotiated id).
    playout_id: Arc<AtomicU64>,
    playout_packets: Arc<AtomicU64>,
    /// The received video track (to send RTCP on).
    track: watch::Sender<Option<Arc<dyn TrackRemote>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ClientHandler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.state.send_replace(state);
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let (units, id, count) = (
            self.units.clone(),
            Arc::clone(&self.playout_id),
            Arc::clone(&self.playout_packets),
        );
        self.track.send_replace(Some(Arc::clone(&track)));
        tokio::spawn(read_track(track, units, id, count));
    }
}

/// RTP → Annex B access units (one per marker bit). A unit with a sequence gap is dropped.
async fn read_track(
    track: Arc<dyn TrackRemote>,
    units: mpsc::Sender<Bytes>,
    playout_id: Arc<AtomicU64>,
    playout: Arc<AtomicU64>,
) {
    let mut depacketizer = H264Packet::default();
    let mut unit = BytesMut::new();
    let mut last_seq: Option<u16> = None;
    let mut broken = false;
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        let seq = packet.header.sequence_number;
        if last_seq.is_some_and(|l| l.wrapping_add(1) != seq) {
            broken = true;
        }
        last_seq = Some(seq);
        let id = playout_id.load(Ordering::Relaxed) as u8;
        if packet.header.extensions.iter().any(|e| e.id == id) {
            playout.fetch_add(1, Ordering::Relaxed);
        }
        match depacketizer.depacketize(&packet.payload) {
            Ok(bytes) => unit.extend_from_slice(&bytes),
            Err(_) => broken = true,
        }
        if packet.header.marker {
            let done = unit.split().freeze();
            if !broken && units.try_send(done).is_err() {
                return;
            }
            broken = false;
        }
    }
}

struct Client {
    pc: Arc<dyn PeerConnection>,
    state: watch::Receiver<RTCPeerConnectionState>,
    units: mpsc::Receiver<Bytes>,
    /// Text messages from the server on `hid`.
    replies: mpsc::Receiver<String>,
    dc: Arc<dyn DataChannel>,
    dc_open: watch::Receiver<bool>,
    playout_id: Arc<AtomicU64>,
    playout_packets: Arc<AtomicU64>,
    track: watch::Receiver<Option<Arc<dyn TrackRemote>>>,
    /// One decoder for the whole stream (later units need the first IDR's parameter sets).
    decoder: openh264::decoder::Decoder,
}

/// A client with its offer (gathering complete).
async fn client() -> (Client, String) {
    let mut media_engine = MediaEngine::default();
    let fb = |typ: &str, p: &str| RTCPFeedback {
        typ: typ.into(),
        parameter: p.into(),
    };
    let video = |mime: &str, fmtp: &str, pt: u8| RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: fmtp.into(),
            rtcp_feedback: vec![fb("nack", ""), fb("nack", "pli"), fb("ccm", "fir")],
        },
        payload_type: pt,
    };
    // VP8 first, as Chromium lists it: the server must still answer H.264.
    media_engine
        .register_codec(video(MIME_TYPE_VP8, "", 96), RtpCodecKind::Video)
        .unwrap();
    media_engine
        .register_codec(
            video(
                MIME_TYPE_H264,
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                102,
            ),
            RtpCodecKind::Video,
        )
        .unwrap();
    media_engine
        .register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: PLAYOUT_DELAY_URI.into(),
            },
            RtpCodecKind::Video,
            None,
        )
        .unwrap();
    let registry = register_default_interceptors(Registry::new(), &mut media_engine).unwrap();

    let (gathered_tx, mut gathered) = watch::channel(false);
    let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
    let (units_tx, units) = mpsc::channel(1024);
    let playout_id = Arc::new(AtomicU64::new(u64::MAX));
    let playout_packets = Arc::new(AtomicU64::new(0));
    let (track_tx, track) = watch::channel(None);
    let handler = Arc::new(ClientHandler {
        gathered: gathered_tx,
        state: state_tx,
        units: units_tx,
        playout_id: Arc::clone(&playout_id),
        playout_packets: Arc::clone(&playout_packets),
        track: track_tx,
    });
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
        .build()
        .await
        .expect("client peer connection");
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    pc.add_transceiver_from_kind(
        RtpCodecKind::Video,
        Some(RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Recvonly,
            ..Default::default()
        }),
    )
    .await
    .expect("recvonly transceiver");
    let dc = pc
        .create_data_channel("hid", None)
        .await
        .expect("hid channel");
    let (open_tx, dc_open) = watch::channel(false);
    let (replies_tx, replies) = mpsc::channel(64);
    {
        let dc = Arc::clone(&dc);
        tokio::spawn(async move {
            while let Some(event) = dc.poll().await {
                match event {
                    DataChannelEvent::OnOpen => {
                        open_tx.send_replace(true);
                    }
                    DataChannelEvent::OnMessage(m) => {
                        let _ = replies_tx
                            .send(String::from_utf8_lossy(&m.data).into_owned())
                            .await;
                    }
                    DataChannelEvent::OnClose => break,
                    _ => {}
                }
            }
        });
    }
    let offer = pc.create_offer(None).await.expect("offer");
    pc.set_local_description(offer).await.expect("local offer");
    timeout(BOUND, gathered.wait_for(|g| *g))
        .await
        .expect("client gathering")
        .expect("gathering watch");
    let offer = pc.local_description().await.expect("offer sdp").sdp;
    let decoder = openh264::decoder::Decoder::new().expect("openh264 decoder");
    let client = Client {
        pc,
        state,
        units,
        replies,
        dc,
        dc_open,
        playout_id,
        playout_packets,
        track,
        decoder,
    };
    (client, offer)
}

impl Client {
    async fn accept(&mut self, answer: &str) {
        let id =
            extmap_id(answer, PLAYOUT_DELAY_URI).expect("playout-delay negotiated in the answer");
        self.playout_id.store(id as u64, Ordering::Relaxed);
        let answer = RTCSessionDescription::answer(answer.to_string()).expect("answer parses");
        self.pc
            .set_remote_description(answer)
            .await
            .expect("remote answer");
        timeout(
            BOUND,
            self.state
                .wait_for(|s| *s == RTCPeerConnectionState::Connected),
        )
        .await
        .expect("client connects")
        .expect("state watch");
    }

    /// Decodes until `FRAMES` pictures; returns their strip counters.
    async fn counters(&mut self) -> Vec<u32> {
        let mut counters = Vec::new();
        while counters.len() < FRAMES {
            let unit = timeout(BOUND, self.units.recv())
                .await
                .expect("video keeps coming")
                .expect("track open");
            let Some(picture) = self.decoder.decode(&unit).expect("decodable H.264") else {
                continue;
            };
            let (width, height) = picture.dimensions();
            assert_eq!((width, height), (640, 480));
            let luma = strip::Luma {
                data: picture.y(),
                width: width as u32,
                height: height as u32,
                stride: picture.strides().0,
            };
            counters.push(strip::read(&luma).expect("strip readable").counter);
        }
        counters
    }

    /// Sends a Picture Loss Indication for the video, as a browser does after loss.
    async fn send_pli(&self) {
        let track = self.track.borrow().clone().expect("video track");
        let media_ssrc = *track.ssrcs().await.first().expect("track SSRC");
        let pli = PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc,
        };
        track
            .write_rtcp(vec![Box::new(pli)])
            .await
            .expect("RTCP sent");
    }

    async fn send(&self, text: &str) {
        timeout(BOUND, self.dc_open.clone().wait_for(|o| *o))
            .await
            .expect("hid channel opens")
            .expect("open watch");
        self.dc.send_text(text).await.expect("send on hid");
    }

    /// The next `{"type":"error",…}` reply (LED updates are skipped).
    async fn error_reply(&mut self) -> serde_json::Value {
        loop {
            let text = timeout(BOUND, self.replies.recv())
                .await
                .expect("a reply")
                .expect("channel open");
            let v: serde_json::Value = serde_json::from_str(&text).expect("reply is JSON");
            if v["type"] == "error" {
                return v;
            }
        }
    }
}

fn extmap_id(sdp: &str, uri: &str) -> Option<u8> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=extmap:"))
        .find(|l| l.split_whitespace().nth(1) == Some(uri))
        .and_then(|l| l.split(|c: char| c == '/' || c.is_whitespace()).next())
        .and_then(|id| id.parse().ok())
}

fn without_candidates(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|l| !l.starts_with("a=candidate:") && !l.starts_with("a=end-of-candidates"))
        .collect()
}

fn host_candidate_ports(sdp: &str) -> Vec<u16> {
    sdp.lines()
        .filter(|l| l.starts_with("a=candidate:") && l.contains(" typ host"))
        .filter_map(|l| l.split_whitespace().nth(5)?.parse().ok())
        .collect()
}

fn assert_counters_advance(counters: &[u32]) {
    for pair in counters.windows(2) {
        let step = pair[1].wrapping_sub(pair[0]);
        assert!(
            (1..=MAX_GAP).contains(&step),
            "frame counter went {} → {} in {counters:?}",
            pair[0],
            pair[1]
        );
    }
}

/// Waits until the record file holds every report in `want`, in order.
async fn reports_recorded(path: &Path, want: &[&str]) -> Vec<String> {
    let found = timeout(BOUND, async {
        loop {
            let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
            let reports: Vec<String> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v["device"] == "keyboard")
                .filter_map(|v| v["report"].as_str().map(str::to_string))
                .collect();
            let mut it = reports.iter();
            if want.iter().all(|w| it.any(|r| r == w)) {
                return reports;
            }
            // Polling a file the HID worker appends to; bounded by the timeout above.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    found.expect("keyboard reports recorded")
}

// ===== tests =====

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whep_session_streams_video_and_carries_hid() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("hid.jsonl");
    let cancel = CancellationToken::new();
    let mut pipeline = pipeline();
    let host = host(&pipeline, hid(&record, &cancel), None).await;

    let (mut client, offer) = client().await;
    let opened = host.open(offer).await.expect("offer answered");
    assert!(
        opened.answer_sdp.contains("H264/90000"),
        "H.264 answered although VP8 was offered first"
    );
    assert!(!opened.answer_sdp.contains("VP8"), "VP8 not answered");
    assert!(
        opened.answer_sdp.contains("a=candidate:") && opened.answer_sdp.contains("127.0.0.1"),
        "loopback candidate in the answer"
    );
    assert_eq!(host.sessions(), 1);
    client.accept(&opened.answer_sdp).await;

    let counters = client.counters().await;
    assert_counters_advance(&counters);
    assert!(
        client.playout_packets.load(Ordering::Relaxed) > 0,
        "packets carry playout-delay"
    );
    let stats = host.stats();
    assert!(
        stats.frames_sent >= FRAMES as u64 && stats.packets_sent > 0 && stats.bytes_sent > 0,
        "{stats:?}"
    );

    // A PLI reaches the encoder as a keyframe request.
    let before = pipeline
        .h264
        .stats
        .keyframe_requests
        .load(Ordering::Relaxed);
    client.send_pli().await;
    timeout(BOUND, async {
        while host.stats().keyframe_requests == 0 {
            // Polling a counter; bounded by the timeout.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("PLI counted");
    assert!(
        pipeline
            .h264
            .stats
            .keyframe_requests
            .load(Ordering::Relaxed)
            > before
    );

    client
        .send(r#"{"type":"key","code":"KeyA","down":true}"#)
        .await;
    client
        .send(r#"{"type":"key","code":"KeyA","down":false}"#)
        .await;
    reports_recorded(&record, &["0000040000000000", "0000000000000000"]).await;

    client.send("this is not json").await;
    let reply = client.error_reply().await;
    assert!(
        reply["reason"]
            .as_str()
            .is_some_and(|r| r.contains("malformed")),
        "{reply}"
    );
    client.send(r#"{"type":"launch_missiles"}"#).await;
    let reply = client.error_reply().await;
    assert!(
        reply["reason"]
            .as_str()
            .is_some_and(|r| r.contains("launch_missiles")),
        "{reply}"
    );

    host.close(opened.id).await.expect("close");
    assert_eq!(host.sessions(), 0);
    assert_eq!(host.close(opened.id).await, Err(SignalError::NotFound));
    let _ = client.pc.close().await;
    cancel.cancel();
    pipeline.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sessions_share_one_udp_port() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let mut pipeline = pipeline();
    // Port 0: the mux binds one port and every session shares it.
    let host = host(
        &pipeline,
        hid(&dir.path().join("hid.jsonl"), &cancel),
        Some(0),
    )
    .await;
    let port = host.udp_port().expect("shared port");

    let ((mut a, offer_a), (mut b, offer_b)) = tokio::join!(client(), client());
    // B offers no candidates at all, as Chromium does when it hides its host addresses: the
    // server learns B's address from its checks (peer-reflexive), routed by ICE ufrag.
    let offer_b = without_candidates(&offer_b);
    assert!(!offer_b.contains("a=candidate"));
    let (opened_a, opened_b) = tokio::join!(host.open(offer_a), host.open(offer_b));
    let (opened_a, opened_b) = (opened_a.expect("answer a"), opened_b.expect("answer b"));
    for answer in [&opened_a.answer_sdp, &opened_b.answer_sdp] {
        let ports = host_candidate_ports(answer);
        assert!(
            !ports.is_empty() && ports.iter().all(|p| *p == port),
            "host candidates {ports:?} on shared port {port}"
        );
    }
    assert_eq!(host.sessions(), 2);
    tokio::join!(
        a.accept(&opened_a.answer_sdp),
        b.accept(&opened_b.answer_sdp)
    );

    let (counters_a, counters_b) = tokio::join!(a.counters(), b.counters());
    assert_counters_advance(&counters_a);
    assert_counters_advance(&counters_b);

    // Both data channels work over the shared port too.
    a.send("{").await;
    b.send("[]").await;
    assert_eq!(a.error_reply().await["type"], "error");
    assert_eq!(b.error_reply().await["type"], "error");

    host.close(opened_a.id).await.expect("close a");
    assert_eq!(host.sessions(), 1);
    // B keeps streaming after A is gone.
    let counters_b = b.counters().await;
    assert_counters_advance(&counters_b);
    host.close(opened_b.id).await.expect("close b");
    assert_eq!(host.sessions(), 0);
    let _ = a.pc.close().await;
    let _ = b.pc.close().await;
    cancel.cancel();
    pipeline.stop();
}

#[tokio::test]
async fn offers_without_h264_or_not_sdp_are_refused() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    let bus = periscope::media::fanout::FrameBus::new(periscope::media::Codec::H264);
    let cfg = WebRtcConfig {
        udp_port: None,
        advertise: None,
        bind_ips: vec![IpAddr::from([127, 0, 0, 1])],
        max_sessions: 1,
    };
    let host = WebRtcHost::new(cfg, bus, hid(&dir.path().join("hid.jsonl"), &cancel))
        .await
        .unwrap();
    let vp8_only = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\n\
        a=rtpmap:96 VP8/90000\r\n";
    let err = host.open(vp8_only.into()).await.unwrap_err();
    assert!(matches!(err, SignalError::NoH264(_)), "{err:?}");
    assert_eq!(err.status() / 100, 4);
    let err = host.open("hello".into()).await.unwrap_err();
    assert!(matches!(err, SignalError::BadOffer(_)), "{err:?}");
    assert_eq!(host.sessions(), 0);

    // max_sessions = 1: a second offer is refused while the first session is open.
    let ((_a, offer_a), (_b, offer_b)) = tokio::join!(client(), client());
    let opened = host.open(offer_a).await.expect("first session");
    assert_eq!(host.open(offer_b).await, Err(SignalError::TooMany(1)));
    host.close(opened.id).await.expect("close");
    assert_eq!(host.sessions(), 0);
    cancel.cancel();
}

/// The same through the daemon's HTTPS endpoint, as a standard WHEP player sees it: POST with
/// a bearer token → 201, `Content-Type: application/sdp`, `Location: /api/whep/{uuid}`; the
/// stream plays; DELETE on the Location ends it (then 404); a non-SDP body and an offer
/// without H.264 get 4xx with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whep_over_https_post_then_delete() {
    init_logs();
    let d = common::start_daemon(640, 480).await;
    let http = common::client();
    let token = common::login(&http, &d.base).await;
    let bare = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();

    let post = |ctype: &'static str, body: String| {
        bare.post(format!("{}/api/whep", d.base))
            .bearer_auth(&token)
            .header("content-type", ctype)
            .body(body)
            .send()
    };
    let (mut client, offer) = client().await;
    let r = post("application/sdp", offer).await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["content-type"], "application/sdp");
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let id = location
        .strip_prefix("/api/whep/")
        .expect("Location /api/whep/{uuid}");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{location}");
    let answer = r.text().await.unwrap();
    client.accept(&answer).await;
    assert_counters_advance(&client.counters().await);

    let url = format!("{}{location}", d.base);
    let delete = |auth: bool| {
        let req = bare.delete(&url);
        let req = if auth { req.bearer_auth(&token) } else { req };
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(delete(false).await, 401, "DELETE needs the session too");
    assert_eq!(delete(true).await, 200);
    assert_eq!(delete(true).await, 404);

    let r = post("text/plain", "v=0".into()).await.unwrap();
    assert_eq!(r.status(), 415);
    let vp8_only =
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
c=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\na=mid:0\r\na=recvonly\r\na=ice-ufrag:abcd\r\n\
a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 00:11\r\na=setup:actpass\r\n";
    let r = post("application/sdp", vp8_only.into()).await.unwrap();
    let status = r.status().as_u16();
    let reason = r.text().await.unwrap();
    assert!((400..500).contains(&status), "{status} {reason}");
    assert!(reason.contains("H.264"), "{reason}");
    let _ = client.pc.close().await;
    d.running.shutdown().await;
}
