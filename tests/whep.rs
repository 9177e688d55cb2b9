//! WHEP end to end, in process: the real video pipeline (test pattern → OpenH264) and a
//! `record:` HID worker behind a `WebRtcHost`, and WHEP clients built on the `webrtc` crate
//! (no browser, no HTTP: `SessionHost::open` is called directly).
//!
//! Each client offers VP8 before H.264, a recvonly video transceiver and a `hid` data channel;
//! it depacketizes the H.264 it receives, decodes it with OpenH264 and reads the test
//! pattern's frame counter from the strip. Timeouts are failure bounds only.
#![cfg(feature = "openh264")]

mod common;

use common::whep_client::*;

use periscope::hid::record::RecordHid;
use periscope::hid::worker::HidHandle;
use periscope::media::capture::pattern::TestPattern;
use periscope::media::capture::CaptureSource;
use periscope::media::encode::h264::{H264Config, OpenH264Encoder};
use periscope::media::encode::jpeg::MjpegEncoder;
use periscope::media::pipeline::{Pipeline, SourceFactory};
use periscope::transport::webrtc::{WebRtcConfig, WebRtcHost};
use periscope_signaling::{Role, SessionHost, SignalError};
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

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
        skip_frames: true,
    }));
    let mjpeg = Box::new(MjpegEncoder::new().expect("turbojpeg"));
    Pipeline::start(factory, h264, mjpeg).expect("pipeline threads")
}

fn hid(record: &Path, cancel: &CancellationToken) -> HidHandle {
    HidHandle::spawn(
        Box::new(RecordHid::open(record).expect("record file")),
        periscope::input::layout::Layout::Us,
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
    let opened = host
        .open(offer, Role::Controller)
        .await
        .expect("offer answered");
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
    let (opened_a, opened_b) = tokio::join!(
        host.open(offer_a, Role::Controller),
        host.open(offer_b, Role::Controller)
    );
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

/// A viewer's session sees the stream but its input is refused, and its arrival does not
/// release what the controller holds; a controller's flood is rate-limited (with a reason)
/// while its key release still gets through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn viewers_cannot_type_and_floods_are_rate_limited() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("hid.jsonl");
    let cancel = CancellationToken::new();
    let mut pipeline = pipeline();
    let hid = hid(&record, &cancel);
    let stats = Arc::clone(&hid.stats);
    let host = host(&pipeline, hid, Some(0)).await;

    let ((mut a, offer_a), (mut v, offer_v)) = tokio::join!(client(), client());
    let opened_a = host
        .open(offer_a, Role::Controller)
        .await
        .expect("answer a");
    a.accept(&opened_a.answer_sdp).await;
    a.send(r#"{"type":"key","code":"ShiftLeft","down":true}"#)
        .await;
    reports_recorded(&record, &["0200000000000000"]).await;
    // A keeps its hold alive (contracts.md: ping every 250 ms while holding).
    let pinger = {
        let dc = Arc::clone(&a.dc);
        tokio::spawn(async move {
            loop {
                let _ = dc.send_text(r#"{"type":"ping"}"#).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    let opened_v = host.open(offer_v, Role::Viewer).await.expect("answer v");
    v.accept(&opened_v.answer_sdp).await;
    assert_counters_advance(&v.counters().await);
    v.send(r#"{"type":"key","code":"KeyA","down":true}"#).await;
    let reply = v.error_reply().await;
    assert!(
        reply["reason"]
            .as_str()
            .is_some_and(|r| r.contains("view-only")),
        "{reply}"
    );
    v.send(r#"{"type":"release_all"}"#).await;
    assert!(v.error_reply().await["reason"]
        .as_str()
        .is_some_and(|r| r.contains("view-only")));

    // The controller keeps Shift held: nothing released it, and the viewer typed nothing.
    let keyboard: Vec<String> = reports_recorded(&record, &["0200000000000000"]).await;
    assert_eq!(
        keyboard,
        vec!["0200000000000000".to_string()],
        "{keyboard:?}"
    );

    // 2000 moves at once: over the burst, so some are dropped and the client is told.
    for i in 0..2000 {
        let x = f64::from(i % 100) / 100.0;
        a.send(&format!(r#"{{"type":"mouse_abs","x":{x},"y":0.5}}"#))
            .await;
    }
    let reply = a.error_reply().await;
    assert!(
        reply["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("rate limit")),
        "{reply}"
    );
    assert!(stats.rate_limited.load(Ordering::Relaxed) > 0);
    pinger.abort();
    // A release is never limited.
    a.send(r#"{"type":"key","code":"ShiftLeft","down":false}"#)
        .await;
    reports_recorded(&record, &["0200000000000000", "0000000000000000"]).await;

    let _ = a.pc.close().await;
    let _ = v.pc.close().await;
    cancel.cancel();
    pipeline.stop();
}

/// The next `{"type":"leds",…}` reply (errors are skipped).
async fn next_leds(replies: &mut tokio::sync::mpsc::Receiver<String>) -> serde_json::Value {
    loop {
        let text = timeout(BOUND, replies.recv())
            .await
            .expect("a leds reply")
            .expect("channel open");
        let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        if v["type"] == "leds" {
            return v;
        }
    }
}

/// The `leds` reply: the state known when a channel opens is sent at once (the UI shows Caps
/// Lock without waiting for a change), then every change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn led_state_is_sent_on_open_and_on_change() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("hid.jsonl");
    let sidecar = dir.path().join("hid.jsonl.leds");
    std::fs::write(&sidecar, "num").unwrap();
    let cancel = CancellationToken::new();
    let mut pipeline = pipeline();
    let hid = hid(&record, &cancel);
    let mut known = hid.leds();
    timeout(BOUND, known.wait_for(|l| l.is_some()))
        .await
        .expect("the worker polls the backend")
        .expect("leds watch");
    let host = host(&pipeline, hid, None).await;
    let (mut c, offer) = client().await;
    let opened = host.open(offer, Role::Controller).await.expect("answer");
    c.accept(&opened.answer_sdp).await;
    assert_eq!(
        next_leds(&mut c.replies).await,
        serde_json::json!({"type":"leds","caps":false,"num":true,"scroll":false})
    );
    std::fs::write(&sidecar, "caps num").unwrap();
    assert_eq!(
        next_leds(&mut c.replies).await,
        serde_json::json!({"type":"leds","caps":true,"num":true,"scroll":false})
    );
    let _ = c.pc.close().await;
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
    let err = host
        .open(vp8_only.into(), Role::Controller)
        .await
        .unwrap_err();
    assert!(matches!(err, SignalError::NoH264(_)), "{err:?}");
    assert_eq!(err.status() / 100, 4);
    let err = host
        .open("hello".into(), Role::Controller)
        .await
        .unwrap_err();
    assert!(matches!(err, SignalError::BadOffer(_)), "{err:?}");
    assert_eq!(host.sessions(), 0);

    // max_sessions = 1: a second offer is refused while the first session is open.
    let ((_a, offer_a), (_b, offer_b)) = tokio::join!(client(), client());
    let opened = host
        .open(offer_a, Role::Controller)
        .await
        .expect("first session");
    assert_eq!(
        host.open(offer_b, Role::Controller).await,
        Err(SignalError::TooMany(1))
    );
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
    let counters = client.counters().await;
    assert_counters_advance(&counters);
    // Every frame's stage times are in /metrics histograms.
    let text = http
        .get(format!("{}/metrics", d.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "periscope_encode_seconds_count{stream=\"h264\"}",
        "periscope_capture_to_publish_seconds_count{stream=\"h264\"}",
        "periscope_webrtc_send_seconds_count",
        "periscope_webrtc_capture_to_sent_seconds_count",
    ] {
        let count: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0.0);
        assert!(count >= 20.0, "{name} = {count}: every frame observed");
    }
    assert!(text.contains("periscope_webrtc_capture_to_sent_seconds_bucket{le=\"+Inf\"}"));
    // The last keyframe names its frame: the session's first picture (its IDR) or a later one.
    let gauge = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(-1.0)
    };
    let idr_seq = gauge("periscope_keyframe_sequence_last{stream=\"h264\"}");
    assert!(
        idr_seq >= f64::from(counters[0]),
        "the last keyframe ({idr_seq}) is the session's first picture ({}) or later",
        counters[0]
    );
    let idr_secs = gauge("periscope_keyframe_encode_seconds_last{stream=\"h264\"}");
    assert!(
        idr_secs > 0.0 && idr_secs < 1.0,
        "keyframe encode time {idr_secs}"
    );

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
