//! The HTTP surface in-process: authentication on every protected path, login and its limits,
//! /api/state, /metrics, /snapshot.jpg and /stream.mjpeg carrying the moving test pattern.

mod common;

use common::{client, login, start_daemon, PASSWORD};
use periscope::media::strip::{self, Luma};
use std::time::{SystemTime, UNIX_EPOCH};

const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/api/state"),
    ("GET", "/metrics"),
    ("GET", "/stream.mjpeg"),
    ("GET", "/snapshot.jpg"),
    ("GET", "/api/stream"),
    ("POST", "/api/stream"),
    ("GET", "/api/hid/jiggler"),
    ("POST", "/api/hid/jiggler"),
    ("GET", "/ws"),
    ("POST", "/api/whep"),
    ("DELETE", "/api/whep/00000000-0000-0000-0000-000000000000"),
    ("POST", "/api/auth/logout"),
    ("GET", "/no-such-path"),
];

fn now_ms32() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0) as u32
}

fn strip_of_jpeg(jpeg: &[u8]) -> strip::StripValue {
    let mut d = turbojpeg::Decompressor::new().expect("decompressor");
    let (yuv, w, h) =
        periscope::media::encode::jpeg::decode_to_i420(&mut d, jpeg).expect("jpeg decodes");
    strip::read(&Luma {
        data: &yuv,
        width: w,
        height: h,
        stride: w as usize,
    })
    .expect("strip")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protected_path_answers_401_without_a_session() {
    let d = start_daemon(320, 240).await;
    let c = client();
    for (method, path) in PROTECTED {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = c
            .request(m, format!("{}{path}", d.base))
            .header("authorization", "Bearer not-a-token")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path}");
    }
    // The UI itself and its assets are public.
    let r = c.get(format!("{}/", d.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(r.headers().contains_key("content-security-policy"));
    d.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_gives_a_token_and_a_secure_cookie() {
    let d = start_daemon(320, 240).await;
    let c = client();
    let bad = c
        .post(format!("{}/api/auth/login", d.base))
        .json(&serde_json::json!({"user": "admin", "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let r = c
        .post(format!("{}/api/auth/login", d.base))
        .json(&serde_json::json!({"user": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for attr in [
        "periscope_session=",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
    ] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    let token: serde_json::Value = r.json().await.unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    // The cookie alone authenticates (this client keeps cookies) …
    let state: serde_json::Value = c
        .get(format!("{}/api/state", d.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["source"], "test-pattern");
    assert_eq!(state["width"], 320);
    assert_eq!(state["height"], 240);
    assert_eq!(state["codec"], "h264");
    assert_eq!(state["hid"], "record");
    assert_eq!(state["profile"], "test-pattern");
    assert_eq!(state["role"], "controller");
    assert_eq!(state["keyboard_layout"], "us");
    assert_eq!(
        state["hid_target"], "unknown",
        "the record backend cannot tell"
    );
    // … and so does the bearer token, from a client without cookies.
    let bare = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let r = bare
        .get(format!("{}/metrics", d.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("# TYPE periscope_capture_frames_total counter"),
        "{text}"
    );
    assert!(
        text.contains("periscope_encoder_releases_total{stream=\"h264\"} 0"),
        "no stream was watched, so none was released: {text}"
    );
    // Logout ends the session.
    let r = bare
        .post(format!("{}/api/auth/logout", d.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = bare
        .get(format!("{}/api/state", d.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    d.running.shutdown().await;
}

/// The view-only user logs in with its own password and gets the viewer role; the admin's
/// password does not open it, nor its password the admin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_logs_in_with_the_viewer_role() {
    let d = start_daemon(320, 240).await;
    let login = |user: &'static str, password: &'static str| {
        let (c, base) = (client(), d.base.clone());
        async move {
            let r = c
                .post(format!("{base}/api/auth/login"))
                .json(&serde_json::json!({"user": user, "password": password}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), c)
        }
    };
    assert_eq!(login("viewer", PASSWORD).await.0, 401);
    assert_eq!(login("admin", common::VIEWER_PASSWORD).await.0, 401);
    let (status, c) = login("viewer", common::VIEWER_PASSWORD).await;
    assert_eq!(status, 200);
    let state: serde_json::Value = c
        .get(format!("{}/api/state", d.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["role"], "viewer");
    // A viewer may watch: the MJPEG snapshot answers.
    let r = c
        .get(format!("{}/snapshot.jpg", d.base))
        .send()
        .await
        .unwrap();
    assert!(r.status() == 200 || r.status() == 503, "{}", r.status());
    d.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_are_limited_and_bad_bodies_refused() {
    let d = start_daemon(320, 240).await;
    let c = client();
    let url = format!("{}/api/auth/login", d.base);
    let r = c
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"user\":1}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = c
        .post(&url)
        .header("content-type", "application/json")
        .body(vec![b' '; 10_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let r = c
            .post(&url)
            .json(&serde_json::json!({"user": "admin", "password": "guess"}))
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, vec![401, 401, 401, 401, 401, 429, 429]);
    // Even the right password waits out the window.
    let r = c
        .post(&url)
        .json(&serde_json::json!({"user": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    d.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_logins_is_answered_and_the_daemon_stays_up() {
    use periscope::auth::{CHECKS_RUNNING, CHECKS_WAITING};
    let d = start_daemon(320, 240).await;
    let url = format!("{}/api/auth/login", d.base);
    // 100 logins at once, each on its own connection (the right password: the failed-login
    // limiter is not what answers them). Each is an argon2 check with its memory; only a
    // few run at once, some wait, the rest are told to come back.
    let logins = (0..100).map(|_| {
        let url = url.clone();
        async move {
            let r = client()
                .post(&url)
                .json(&serde_json::json!({"user": "admin", "password": PASSWORD}))
                .send()
                .await
                .expect("login request");
            let status = r.status().as_u16();
            let body: serde_json::Value = r.json().await.expect("a JSON answer");
            (status, body)
        }
    });
    let answers = futures_util::future::join_all(logins).await;
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    let busy: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
    eprintln!(
        "100 logins at once: {ok} logged in, {} told to retry",
        busy.len()
    );
    assert_eq!(
        ok + busy.len(),
        100,
        "every login is 200 or 503: {answers:?}"
    );
    assert!(
        ok >= CHECKS_RUNNING + CHECKS_WAITING,
        "the first arrivals always get their check"
    );
    assert!(!busy.is_empty(), "a flood finds the checks taken");
    for (_, body) in busy {
        assert_eq!(
            body["error"], "too many logins at once; try again in a moment",
            "{body}"
        );
    }
    // Afterwards a login gets through and its session works.
    let c = client();
    let token = login(&c, &d.base).await;
    let r = c
        .get(format!("{}/api/state", d.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    d.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_mjpeg_stream_carry_the_moving_pattern() {
    let d = start_daemon(640, 360).await;
    let c = client();
    login(&c, &d.base).await;
    let snap = c
        .get(format!("{}/snapshot.jpg", d.base))
        .send()
        .await
        .unwrap();
    assert_eq!(snap.status(), 200);
    assert_eq!(snap.headers()["content-type"], "image/jpeg");
    let jpeg = snap.bytes().await.unwrap();
    let v = strip_of_jpeg(&jpeg);
    assert!(
        now_ms32().wrapping_sub(v.timestamp_ms) < 5_000,
        "snapshot is recent"
    );

    let mut r = c
        .get(format!("{}/stream.mjpeg", d.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(ctype, "multipart/x-mixed-replace; boundary=periscopeframe");
    let mut buf: Vec<u8> = Vec::new();
    let mut counters = Vec::new();
    while counters.len() < 10 {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), r.chunk())
            .await
            .expect("a chunk within 10 s")
            .unwrap()
            .expect("stream goes on");
        buf.extend_from_slice(&chunk);
        while let Some((jpeg, rest)) = next_part(&buf) {
            let v = strip_of_jpeg(&jpeg);
            assert!(now_ms32().wrapping_sub(v.timestamp_ms) < 5_000);
            counters.push(v.counter);
            buf = rest;
        }
    }
    assert!(
        counters.windows(2).all(|w| w[1] > w[0]),
        "frames advance: {counters:?}"
    );
    assert!(
        counters.windows(2).all(|w| w[1] - w[0] <= 3),
        "a client reading as fast as it can loses few frames: {counters:?}"
    );
    d.running.shutdown().await;
}

/// With `--pattern-format mjpeg` the test pattern is a USB dongle's MJPEG source: every part of
/// /stream.mjpeg is that source's JPEG, byte for byte (the pattern redrawn from the strip's
/// values and compressed again gives the same bytes), and each JPEG a client takes is timed
/// from its capture in /metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jpeg_source_is_passed_through_byte_for_byte_and_timed_to_its_client() {
    use periscope::media::capture::pattern::TestPattern;
    use periscope::media::encode::jpeg::MjpegEncoder;
    use periscope::media::{CaptureTime, PixelFormat, RawFrame};
    let d = common::start_with(periscope::config::Settings {
        resolution: Some("640x360".into()),
        fps: Some(30),
        pattern_format: Some("mjpeg".into()),
        ..Default::default()
    })
    .await;
    let c = client();
    let token = login(&c, &d.base).await;
    let mut r = c
        .get(format!("{}/stream.mjpeg", d.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let pattern = TestPattern::new(640, 360, 30).unwrap();
    let mut jpeg = MjpegEncoder::new().unwrap();
    let mut buf: Vec<u8> = Vec::new();
    let mut parts = 0;
    while parts < 5 {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), r.chunk())
            .await
            .expect("a chunk within 10 s")
            .unwrap()
            .expect("stream goes on");
        buf.extend_from_slice(&chunk);
        while let Some((served, rest)) = next_part(&buf) {
            let v = strip_of_jpeg(&served);
            let redrawn = RawFrame {
                format: PixelFormat::I420,
                width: 640,
                height: 360,
                data: pattern
                    .render(u64::from(v.counter), u64::from(v.timestamp_ms))
                    .into(),
                captured: CaptureTime {
                    instant: std::time::Instant::now(),
                    unix_ms: u64::from(v.timestamp_ms),
                },
                sequence: u64::from(v.counter),
            };
            let made = jpeg.jpeg(&redrawn).unwrap();
            assert!(
                served == made[..],
                "part {parts} (frame {}) is the source's JPEG unchanged: {} bytes served, {} made",
                v.counter,
                served.len(),
                made.len()
            );
            parts += 1;
            buf = rest;
        }
    }
    drop(r);
    let text = common::metrics(&c, &d.base, &token).await;
    let value = |name: &str| common::metric_value(&text, name);
    assert!(value("mjpeg_frames_sent_total") >= 5.0, "{text}");
    let timed = value("mjpeg_capture_to_sent_seconds_count");
    assert!(timed >= 5.0, "every JPEG a client took is timed: {text}");
    assert_eq!(value("mjpeg_send_seconds_count"), timed);
    assert!(
        value("mjpeg_capture_to_sent_seconds_sum") >= value("mjpeg_send_seconds_sum"),
        "capture comes before publish: {text}"
    );
    assert_eq!(
        value("encoded_frames_total{stream=\"h264\"}"),
        0.0,
        "no WebRTC viewer, no H.264 encoding"
    );
    d.running.shutdown().await;
}

/// Splits one complete multipart part off the front of `buf`: (jpeg, rest). A part is
/// `--periscopeframe\r\n`, headers, an empty line, the JPEG, then `\r\n` and the next
/// boundary (sent right after the JPEG).
fn next_part(buf: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    const BOUNDARY: &[u8] = b"--periscopeframe\r\n";
    assert!(
        buf.len() < BOUNDARY.len() || buf.starts_with(BOUNDARY),
        "part starts with the boundary"
    );
    let head_end = find(buf, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[BOUNDARY.len()..head_end]).ok()?;
    assert_eq!(head, "Content-Type: image/jpeg");
    let start = head_end + 4;
    let end = start + find(&buf[start..], b"\r\n--periscopeframe\r\n")?;
    Some((buf[start..end].to_vec(), buf[end + 2..].to_vec()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `/api/stream`: the JPEG quality changes the MJPEG stream a client is already reading and
/// the snapshots, the H.264 bitrate is stored for the encoder; viewers may look, not change;
/// bad bodies are refused with the reason and change nothing; every change is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_settings_change_the_running_stream_and_refuse_bad_input() {
    let d = start_daemon(640, 360).await;
    let c = client();
    let token = login(&c, &d.base).await;
    let url = format!("{}/api/stream", d.base);
    let get = || get_json(&c, &url, &token);
    let post = |body: String| post_json(&c, &url, &token, body);
    let v = get().await;
    assert_eq!(v["jpeg_quality"], 80, "{v}");
    assert!(v["h264_kbps"].as_u64().unwrap_or(0) >= 1000, "{v}");
    assert_eq!(v["limits"]["jpeg_quality"], serde_json::json!([10, 100]));

    // A client reading the MJPEG stream sees its parts shrink when the quality drops.
    let mut r = c
        .get(format!("{}/stream.mjpeg", d.base))
        .send()
        .await
        .unwrap();
    let mut buf: Vec<u8> = Vec::new();
    let at80 = part_sizes(&mut r, &mut buf, 5).await;
    let (status, v) = post(r#"{"jpeg_quality": 15}"#.into()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["jpeg_quality"], 15);
    // A few parts may have been encoded before the change: look at the last ones.
    let after = part_sizes(&mut r, &mut buf, 12).await;
    let (before_max, after_last) = (
        *at80.iter().max().unwrap(),
        *after.iter().rev().take(3).max().unwrap(),
    );
    assert!(
        (after_last as f64) < before_max as f64 * 0.85,
        "quality 15 parts ({after:?}) are well under quality 80's ({at80:?})"
    );
    // Snapshots follow too (the stream's fresh frame, or one encoded now).
    let snap = c
        .get(format!("{}/snapshot.jpg", d.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(
        (snap.len() as f64) < before_max as f64 * 0.85,
        "snapshot {} bytes",
        snap.len()
    );

    let (status, v) = post(r#"{"h264_kbps": 600}"#.into()).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["h264_kbps"].as_u64(), v["jpeg_quality"].as_u64()),
        (Some(600), Some(15))
    );
    assert_eq!(get().await["h264_kbps"], 600);

    // Refused, with the reason, and nothing changes.
    for (body, want) in [
        (
            r#"{"h264_kbps": 50}"#,
            "h264_kbps: 50 is outside 100..=20000",
        ),
        (
            r#"{"jpeg_quality": 101, "h264_kbps": 900}"#,
            "jpeg_quality: 101",
        ),
        (r#"{"fps": 60}"#, "unknown field"),
        ("{}", "nothing to change"),
        ("quality please", "body must be"),
        (r#"{"jpeg_quality": -3}"#, "body must be"),
    ] {
        let (status, v) = post(body.into()).await;
        assert_eq!(status, 400, "{body}: {v}");
        let e = v["error"].as_str().unwrap_or("");
        assert!(e.contains(want), "{body}: {e}");
    }
    let (status, _) = post(format!(
        r#"{{"jpeg_quality": 20, "pad": "{}"}}"#,
        "x".repeat(2048)
    ))
    .await;
    assert_eq!(status, 413, "an oversized body");
    let v = get().await;
    assert_eq!(
        (v["h264_kbps"].as_u64(), v["jpeg_quality"].as_u64()),
        (Some(600), Some(15))
    );

    // The viewer sees the settings and cannot change them.
    viewer_may_look_not_change(&d.base, &url, r#"{"jpeg_quality": 90}"#).await;
    assert_eq!(get().await["jpeg_quality"], 15);

    // Audited: the two changes and the refusals.
    let audit = get_json(&c, &format!("{}/api/audit", d.base), &token).await;
    let lines: Vec<String> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {} {}", e["who"], e["what"], e["result"]))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("jpeg_quality\\\": 15") && l.contains("ok")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("refused: h264_kbps: 50")),
        "{lines:#?}"
    );
    d.running.shutdown().await;
}

/// The sizes of the next `n` JPEGs of a /stream.mjpeg response (`buf`: bytes read past the
/// last part).
async fn part_sizes(r: &mut reqwest::Response, buf: &mut Vec<u8>, n: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    while sizes.len() < n {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), r.chunk())
            .await
            .expect("a chunk within 10 s")
            .unwrap()
            .expect("stream goes on");
        buf.extend_from_slice(&chunk);
        while let Some((jpeg, rest)) = next_part(buf) {
            sizes.push(jpeg.len());
            *buf = rest;
        }
    }
    sizes
}

/// `/api/hid/jiggler` through the running appliance: turned on with a 5 s interval, the
/// `record:` backend gets the nudge (one step right and back) after 5 s without input; off
/// again, none; a viewer may look, not change; a bad body is refused with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mouse_jiggler_nudges_the_target_after_its_interval() {
    let d = start_daemon(320, 240).await;
    let c = client();
    let token = login(&c, &d.base).await;
    let url = format!("{}/api/hid/jiggler", d.base);
    let post = |body: &'static str| post_json(&c, &url, &token, body);
    let get = || get_json(&c, &url, &token);
    assert_eq!(
        get().await,
        serde_json::json!({"enabled": false, "interval_s": 60, "jiggles": 0})
    );
    let mouse = || {
        let text = std::fs::read_to_string(&d.record).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["device"] == "mouse_abs")
            .filter_map(|v| v["report"].as_str().map(str::to_string))
            .collect::<Vec<_>>()
    };
    for (body, want) in [
        (
            r#"{"enabled": true, "interval_s": 2}"#,
            "interval_s: 2 is outside 5..=3600",
        ),
        (r#"{"interval_s": 30}"#, "missing field `enabled`"),
        ("on", "body must be"),
    ] {
        let (status, v) = post(body).await;
        assert_eq!(status, 400, "{body}: {v}");
        assert!(
            v["error"].as_str().unwrap_or("").contains(want),
            "{body}: {v}"
        );
    }
    let (status, v) = post(r#"{"enabled": true, "interval_s": 5}"#).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["enabled"].as_bool(), v["interval_s"].as_u64()),
        (Some(true), Some(5))
    );
    // Nothing was typed since the start: the first nudge comes within a tick or so.
    let nudged = tokio::time::timeout(std::time::Duration::from_secs(8), async {
        loop {
            let m = mouse();
            if m.len() >= 2 {
                return m;
            }
            // Polling the record file; bounded by the timeout.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("a nudge reaches the target");
    // x 0 → 1 and back: bytes 1..3 are x little endian.
    assert_eq!(&nudged[0][2..6], "0100", "{nudged:?}");
    assert_eq!(&nudged[1][2..6], "0000", "{nudged:?}");
    assert!(get().await["jiggles"].as_u64() >= Some(1));

    // A viewer sees it and cannot change it.
    viewer_may_look_not_change(&d.base, &url, r#"{"enabled": false}"#).await;
    assert_eq!(get().await["enabled"], true);

    let (status, v) = post(r#"{"enabled": false}"#).await;
    assert_eq!((status, v["enabled"].as_bool()), (200, Some(false)));
    let before = mouse().len();
    tokio::time::sleep(std::time::Duration::from_millis(5_600)).await;
    assert_eq!(mouse().len(), before, "off: no more nudges");
    d.running.shutdown().await;
}

/// GET `url` with `token`: 200 and its JSON.
async fn get_json(c: &reqwest::Client, url: &str, token: &str) -> serde_json::Value {
    let r = c.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET {url}");
    r.json().await.unwrap()
}

/// POST `body` as JSON to `url` with `token`: the status and the JSON answer (null if none).
async fn post_json(
    c: &reqwest::Client,
    url: &str,
    token: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, serde_json::Value) {
    let r = c
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

/// The view-only user (signed in by its cookie) may GET `url` (200) and may not POST `body`
/// to it (403).
async fn viewer_may_look_not_change(base: &str, url: &str, body: &'static str) {
    let viewer = client();
    let r = viewer
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"user": "viewer", "password": common::VIEWER_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "viewer login");
    assert_eq!(
        viewer.get(url).send().await.unwrap().status(),
        200,
        "GET {url}"
    );
    let r = viewer.post(url).body(body).send().await.unwrap();
    assert_eq!(r.status(), 403, "POST {url}");
}
