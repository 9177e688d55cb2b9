//! The WHIP push (`--whip-url`) against a real WHIP server: Janus 1.1.2 (Debian's `janus`)
//! behind meetecho's simple-whip-server (Debian's `simple-whip-server`), installed by
//! `scripts/lib.sh`'s `whip_server_deps` (which sets PERISCOPE_WHIP_SERVER).
//!
//! Janus never gathers ICE candidates on loopback, so the test runs in a network namespace of
//! its own (`unshare --net`, the test binary re-executed inside) with a veth pair: every
//! packet stays inside that namespace. Janus's VideoRoom forwards the published video as
//! plain RTP to a UDP port of the test (simple-whip-server's `recipient`), where it is
//! depacketized, decoded with OpenH264 and the test pattern's frame counter is read: proof
//! that Janus received our H.264, not just a POST. The push is then cut (Janus and the WHIP
//! server killed and restarted) and must come back by itself; at shutdown the resource must
//! be DELETEd.
//!
//! `PERISCOPE_WHIP_TEST_NO_PUSH=1` starts the appliance without `--whip-url`: the test must
//! then fail (no media reaches Janus), which shows that it can.

mod common;

use common::netns;
use common::whep_client::has_idr;

use bytes::{Bytes, BytesMut};
use openh264::formats::YUVSource;
use periscope::config::Settings;
use periscope::media::strip;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packet::Packet;
use rtc::rtp::packetizer::Depacketizer;
use rtc::shared::marshal::Unmarshal;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::{timeout, Instant};

/// Set inside the network namespace.
const INNER: &str = "PERISCOPE_WHIP_NETNS";
/// The appliance's address inside the namespace (veth `pw0`).
const APPLIANCE_IP: &str = "10.77.0.1";
/// Janus's WebSocket API port (loopback, inside the namespace).
const JANUS_WS_PORT: u16 = 8188;
/// simple-whip-server's HTTP port.
const WHIP_PORT: u16 = 7080;
/// The endpoint id and its token.
const ENDPOINT: &str = "periscope";
const TOKEN: &str = "whip-test-token";
/// Failure bound for media to arrive (connect, keyframe, forward).
const MEDIA_BOUND: Duration = Duration::from_secs(30);
/// Pictures decoded each time media is checked.
const PICTURES: usize = 20;

#[test]
fn whip_push_reaches_janus_carries_the_test_pattern_and_survives_a_server_restart() {
    if std::env::var_os(INNER).is_some() {
        inner();
        return;
    }
    let Some(server) = server_dir() else {
        return missing("simple-whip-server not installed (scripts/lib.sh whip_server_deps)");
    };
    if !netns::command_works("sh", &["-c", "command -v janus"]) {
        return missing("janus not installed (Debian package `janus`)");
    }
    if !netns::command_works("unshare", &["--net", "true"]) {
        return missing("cannot create a network namespace (needs root: unshare --net)");
    }
    netns::run_inside(
        "whip_push_reaches_janus_carries_the_test_pattern_and_survives_a_server_restart",
        INNER,
        &[("PERISCOPE_WHIP_SERVER", server.as_os_str())],
    );
}

/// Where `whip_server_deps` put simple-whip-server.
fn server_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PERISCOPE_WHIP_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/simple-whip-server"));
    let ok = dir.join("src/server.js").is_file() && dir.join("node_modules/websocket").is_dir();
    ok.then_some(dir)
}

/// Under CI (scripts/test installs the server) a missing piece fails; elsewhere it skips.
fn missing(why: &str) {
    netns::missing("WHIP test", why);
}

/// Inside the namespace: loopback up and a veth pair, then the test proper.
fn inner() {
    netns::setup(&[
        &["ip", "link", "set", "lo", "up"],
        &[
            "ip", "link", "add", "pw0", "type", "veth", "peer", "name", "pw1",
        ],
        &["ip", "addr", "add", "10.77.0.1/24", "dev", "pw0"],
        &["ip", "link", "set", "pw0", "up"],
        &["ip", "link", "set", "pw1", "up"],
    ]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(push_test());
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Janus and simple-whip-server, with their logs in `dir` (fields drop in order: the WHIP
/// server first, so it logs nothing about losing Janus).
struct WhipServer {
    _whip: Proc,
    _janus: Proc,
}

fn write_janus_config(dir: &Path) {
    let lib = "/usr/lib/x86_64-linux-gnu/janus";
    let lib = if Path::new(lib).is_dir() {
        lib.to_string()
    } else {
        // Other architectures: the multiarch directory next to the janus plugins.
        let arch = Command::new("dpkg-architecture")
            .arg("-qDEB_HOST_MULTIARCH")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        format!("/usr/lib/{arch}/janus")
    };
    let d = dir.display();
    let plugins = [
        "audiobridge",
        "duktape",
        "echotest",
        "lua",
        "nosip",
        "recordplay",
        "sip",
        "streaming",
        "textroom",
        "videocall",
        "voicemail",
    ]
    .map(|p| format!("libjanus_{p}.so"))
    .join(",");
    let janus = format!(
        r#"general: {{
	configs_folder = "{d}"
	plugins_folder = "{lib}/plugins"
	transports_folder = "{lib}/transports"
	events_folder = "{lib}/events"
	loggers_folder = "{lib}/loggers"
	debug_level = 4
}}
media: {{
	rtp_port_range = "20000-40000"
}}
nat: {{
	ice_enforce_list = "pw0"
}}
plugins: {{
	disable = "{plugins}"
}}
transports: {{
	disable = "libjanus_http.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so"
}}
events: {{
	broadcast = false
}}
loggers: {{
	disable = "libjanus_jsonlog.so"
}}
"#
    );
    std::fs::write(dir.join("janus.jcfg"), janus).expect("janus.jcfg");
    let ws = format!(
        "general: {{\n\tws = true\n\tws_port = {JANUS_WS_PORT}\n\tws_interface = \"lo\"\n\twss = false\n}}\nadmin: {{\n\tadmin_ws = false\n}}\n"
    );
    std::fs::write(dir.join("janus.transport.websockets.jcfg"), ws).expect("websockets jcfg");
    // One H.264 room; the secret lets simple-whip-server set up the RTP forward.
    let room = "general: {\n}\nroom-1234: {\n\tdescription = \"periscope\"\n\tsecret = \"adminpwd\"\n\tpublishers = 1\n\tbitrate = 0\n\tfir_freq = 10\n\tvideocodec = \"h264\"\n}\n";
    std::fs::write(dir.join("janus.plugin.videoroom.jcfg"), room).expect("videoroom jcfg");
}

fn log_file(dir: &Path, name: &str) -> Stdio {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .expect("log file");
    Stdio::from(f)
}

/// Starts Janus, then simple-whip-server, and creates the endpoint (RTP forward to
/// `rtp_port`). Logs: `janus-{run}.log`, `whip-server-{run}.log`.
async fn start_server(dir: &Path, server: &Path, rtp_port: u16, run: u32) -> WhipServer {
    let (janus_log, whip_log) = (format!("janus-{run}.log"), format!("whip-server-{run}.log"));
    let janus = Command::new("janus")
        .arg("-F")
        .arg(dir)
        .arg("-C")
        .arg(dir.join("janus.jcfg"))
        .stdout(log_file(dir, &janus_log))
        .stderr(log_file(dir, &janus_log))
        .spawn()
        .expect("start janus");
    let janus = Proc(janus);
    wait_tcp(JANUS_WS_PORT, dir, &janus_log).await;

    let src = dir.join("sws");
    std::fs::create_dir_all(&src).expect("sws dir");
    for f in ["server.js", "whip-janus.js"] {
        std::fs::copy(server.join("src").join(f), src.join(f)).expect("copy server source");
    }
    let config = format!(
        "module.exports = {{ janus: {{ address: 'ws://127.0.0.1:{JANUS_WS_PORT}', multistream: true }}, \
         port: {WHIP_PORT}, rest: '/whip', allowTrickle: true, strictETags: false, iceServers: [] }};\n"
    );
    std::fs::write(src.join("config.js"), config).expect("config.js");
    let whip = Command::new("node")
        .arg(src.join("server.js"))
        .current_dir(dir)
        .env("NODE_PATH", server.join("node_modules"))
        .env("DEBUG", "whip:*")
        .stdout(log_file(dir, &whip_log))
        .stderr(log_file(dir, &whip_log))
        .spawn()
        .expect("start simple-whip-server");
    let whip = Proc(whip);
    wait_tcp(WHIP_PORT, dir, &whip_log).await;

    let http = reqwest::Client::new();
    let create = serde_json::json!({
        "id": ENDPOINT,
        "room": 1234,
        "secret": "adminpwd",
        "token": TOKEN,
        "recipient": {"host": "127.0.0.1", "videoPort": rtp_port},
    });
    let r = http
        .post(format!("http://127.0.0.1:{WHIP_PORT}/whip/create"))
        .json(&create)
        .send()
        .await
        .expect("create the WHIP endpoint");
    assert_eq!(r.status(), 200, "endpoint created");
    WhipServer {
        _whip: whip,
        _janus: janus,
    }
}

async fn wait_tcp(port: u16, dir: &Path, log: &str) {
    let end = Instant::now() + Duration::from_secs(15);
    while Instant::now() < end {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        // Polling a server that is starting; bounded by `end`.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let text = std::fs::read_to_string(dir.join(log)).unwrap_or_default();
    panic!("port {port} never opened; {log}:\n{text}");
}

/// The endpoint as simple-whip-server lists it.
async fn endpoint() -> serde_json::Value {
    let list: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{WHIP_PORT}/whip/endpoints"))
            .await
            .expect("list endpoints")
            .json()
            .await
            .expect("endpoints JSON");
    list.as_array()
        .and_then(|l| l.iter().find(|e| e["id"] == ENDPOINT).cloned())
        .expect("our endpoint is listed")
}

/// Reads Janus's RTP forward until `PICTURES` pictures of the 640x480 test pattern decode;
/// returns their strip counters.
async fn decode_forwarded(sock: &UdpSocket, what: &str) -> Vec<u32> {
    let mut depacketizer = H264Packet::default();
    let mut decoder = openh264::decoder::Decoder::new().expect("openh264 decoder");
    let mut unit = BytesMut::new();
    let mut last_seq: Option<u16> = None;
    let mut broken = false;
    let mut started = false;
    let mut counters = Vec::new();
    let mut buf = vec![0u8; 2048];
    let end = Instant::now() + MEDIA_BOUND;
    while counters.len() < PICTURES {
        let n = match timeout(
            end.saturating_duration_since(Instant::now()),
            sock.recv(&mut buf),
        )
        .await
        {
            Ok(r) => r.expect("RTP socket"),
            Err(_) => panic!(
                "{what}: Janus forwarded no decodable H.264 within {MEDIA_BOUND:?} ({} pictures)",
                counters.len()
            ),
        };
        let Ok(packet) = Packet::unmarshal(&mut &buf[..n]) else {
            continue;
        };
        let seq = packet.header.sequence_number;
        if last_seq.is_some_and(|l| l.wrapping_add(1) != seq) {
            broken = true;
        }
        last_seq = Some(seq);
        match depacketizer.depacketize(&packet.payload) {
            Ok(bytes) => unit.extend_from_slice(&bytes),
            Err(_) => broken = true,
        }
        if !packet.header.marker {
            continue;
        }
        let au: Bytes = unit.split().freeze();
        if std::mem::take(&mut broken) {
            continue;
        }
        // Until the first IDR (the forward may start mid-stream), units cannot decode.
        if !started {
            if !has_idr(&au) {
                continue;
            }
            started = true;
        }
        let picture = decoder
            .decode(&au)
            .expect("Janus forwarded decodable H.264");
        if let Some(picture) = picture {
            let (width, height) = picture.dimensions();
            assert_eq!((width, height), (640, 480), "{what}: picture size");
            let luma = strip::Luma {
                data: picture.y(),
                width: width as u32,
                height: height as u32,
                stride: picture.strides().0,
            };
            counters.push(
                strip::read(&luma)
                    .expect("test pattern strip readable")
                    .counter,
            );
        }
    }
    counters
}

async fn push_test() {
    let server = PathBuf::from(std::env::var_os("PERISCOPE_WHIP_SERVER").expect("server dir"));
    let dir = tempfile::tempdir().expect("tempdir");
    write_janus_config(dir.path());
    let rtp = UdpSocket::bind("127.0.0.1:0").await.expect("RTP socket");
    let rtp_port = rtp.local_addr().expect("RTP port").port();
    let whip_server = start_server(dir.path(), &server, rtp_port, 1).await;
    assert_eq!(endpoint().await["enabled"], false, "nobody publishes yet");

    let push = std::env::var_os("PERISCOPE_WHIP_TEST_NO_PUSH").is_none();
    let d = common::start_with(Settings {
        listen: Some(format!("{APPLIANCE_IP}:0")),
        resolution: Some("640x480".into()),
        fps: Some(30),
        hid: Some("none".into()),
        whip_url: push.then(|| format!("http://127.0.0.1:{WHIP_PORT}/whip/endpoint/{ENDPOINT}")),
        whip_token: push.then(|| TOKEN.to_string()),
        ..Default::default()
    })
    .await;
    let base = d.base.clone();

    // 1. Janus receives the stream: its RTP forward decodes to the moving test pattern.
    let counters = decode_forwarded(&rtp, "first push").await;
    common::whep_client::assert_counters_advance(&counters);
    let ep = endpoint().await;
    assert_eq!(ep["enabled"], true, "Janus has a publisher: {ep}");

    let http = common::client();
    let token = common::login(&http, &base).await;
    let state: serde_json::Value = http
        .get(format!("{base}/api/state"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("state")
        .json()
        .await
        .expect("state JSON");
    assert_eq!(state["whip"]["state"], "connected", "{state}");
    assert_eq!(
        state["whip"]["url"],
        format!("http://127.0.0.1:{WHIP_PORT}/whip/endpoint/{ENDPOINT}")
    );
    assert!(!state.to_string().contains(TOKEN), "the token never shows");
    let m = common::metrics(&http, &base, &token).await;
    assert!(
        common::metric_value(&m, "whip_frames_sent_total") >= PICTURES as f64,
        "{m}"
    );
    assert_eq!(common::metric_value(&m, "whip_connected"), 1.0, "{m}");
    assert_eq!(common::metric_value(&m, "whip_connects_total"), 1.0, "{m}");
    // The local viewers' encoder is the one the push uses: one H.264 stream, one viewer (the push).
    assert_eq!(state["viewers"], 1, "{state}");

    // 2. The server goes away: the push notices, and comes back once the server does.
    drop(whip_server);
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let m = common::metrics(&http, &base, &token).await;
        if common::metric_value(&m, "whip_connected") == 0.0
            && common::metric_value(&m, "whip_failures_total") >= 1.0
        {
            break;
        }
        assert!(
            Instant::now() < end,
            "the push never noticed the server was gone:\n{m}"
        );
        // Polling /metrics while the push's disconnect grace runs; bounded by `end`.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _whip_server = start_server(dir.path(), &server, rtp_port, 2).await;
    let counters = decode_forwarded(&rtp, "after the server restart").await;
    common::whep_client::assert_counters_advance(&counters);
    let m = common::metrics(&http, &base, &token).await;
    assert_eq!(common::metric_value(&m, "whip_connects_total"), 2.0, "{m}");

    // 3. Shutdown deletes the WHIP resource at once (not by Janus's ICE timeout).
    d.running.shutdown().await;
    let ep = endpoint().await;
    assert_eq!(ep["enabled"], false, "resource deleted at shutdown: {ep}");
    let log = std::fs::read_to_string(dir.path().join("whip-server-2.log")).unwrap_or_default();
    assert!(
        log.contains("Terminating WHIP session"),
        "DELETE seen by the server:\n{log}"
    );
}

/// A WHIP server that answers nonsense: 201 with a Location but no SDP, then 500s. The push
/// must log it, show it in /api/state, delete the resource it was given, keep retrying and
/// never panic. Runs anywhere (loopback only, no Janus).
#[tokio::test]
async fn whip_push_survives_a_server_that_answers_nonsense() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use warp::Filter;
    let posts = Arc::new(AtomicU32::new(0));
    let deletes = Arc::new(AtomicU32::new(0));
    let (p, d) = (Arc::clone(&posts), Arc::clone(&deletes));
    let post = warp::post()
        .and(warp::path!("whip"))
        .and(warp::header::<String>("authorization"))
        .map(move |auth: String| {
            assert_eq!(
                auth,
                format!("Bearer {TOKEN}"),
                "the token is sent as Bearer"
            );
            let n = p.fetch_add(1, Ordering::SeqCst);
            let (status, body) = if n == 0 {
                (201, "<html>this is not SDP</html>")
            } else {
                (500, "boom\r\nsecond line")
            };
            warp::http::Response::builder()
                .status(status)
                .header("location", "/whip/resource/1")
                .body(body.to_string())
                .expect("response")
        });
    let delete = warp::delete()
        .and(warp::path!("whip" / "resource" / String))
        .map(move |_id: String| {
            d.fetch_add(1, Ordering::SeqCst);
            warp::http::StatusCode::OK
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake WHIP server");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(warp::serve(post.or(delete)).incoming(listener).run());

    let d = common::start_with(Settings {
        resolution: Some("320x240".into()),
        hid: Some("none".into()),
        whip_url: Some(format!("http://{addr}/whip")),
        whip_token: Some(TOKEN.into()),
        ..Default::default()
    })
    .await;
    let base = d.base.clone();
    let http = common::client();
    let token = common::login(&http, &base).await;
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let state: serde_json::Value = http
            .get(format!("{base}/api/state"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("state")
            .json()
            .await
            .expect("state JSON");
        let error = state["whip"]["error"].as_str().unwrap_or("").to_string();
        if posts.load(Ordering::SeqCst) >= 2 && error.contains("500") {
            assert!(
                error.contains("boom second line"),
                "server text quoted on one line: {error}"
            );
            assert_ne!(state["whip"]["state"], "connected");
            break;
        }
        assert!(
            Instant::now() < end,
            "no retry after the nonsense answer: {state}"
        );
        // Polling /api/state while the push backs off; bounded by `end`.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        deletes.load(Ordering::SeqCst),
        1,
        "the resource of the refused answer is deleted"
    );
    let m = common::metrics(&http, &base, &token).await;
    assert!(
        common::metric_value(&m, "whip_failures_total") >= 2.0,
        "{m}"
    );
    assert_eq!(common::metric_value(&m, "whip_connects_total"), 0.0, "{m}");
    d.running.shutdown().await;
}
