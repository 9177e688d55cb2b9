//! Bandwidth adaptation on a shaped link: two WHEP viewers of one busy 1280x720@30 stream
//! (the test pattern's `busy` motion: a window of grainy moving video, ~2.8 Mbit/s on the full
//! rung), one of them behind a 2 Mbit/s link (tc: an htb class of rate and ceil 2mbit with a
//! 60-packet queue, about 290 ms of 1200-byte packets), the other unshaped.
//!
//! Runs in a network namespace of its own (`unshare --net`, the test binary re-executed
//! inside) so `tc` can shape loopback: an `htb` qdisc on `lo` sends every UDP datagram to the
//! slow viewer's fixed port through the 2 Mbit/s class; everything else is untouched. (htb,
//! not netem: this machine's kernel is built without sch_netem and sch_prio; the shaping —
//! a rate limit with a bounded queue that drops — is what matters here.)
//!
//! Each viewer decodes what it receives like a browser: an access unit with a lost packet
//! is dropped, a PLI is sent and decoding resumes at the next IDR. Asserted:
//! - the slow viewer moves to the low rung (`ladder_moves_down_total`), the fast one stays on
//!   the full rung (one viewer on the low rung, and the fast one receives more than the link
//!   could carry);
//! - from the moment it connects, the slow viewer sees no freeze longer than 1 s and at least
//!   20 pictures a second.
//!
//! The numbers are printed (`netem:` lines) for docs/BENCHMARKS.md (`scripts/bench --netem`).
//! `PERISCOPE_NETEM_SECONDS` sets the run (default 30; the benchmark runs 60).
//! `PERISCOPE_NETEM_NO_ADAPT=1` starts the appliance with `--adapt false`: the test must then
//! fail (the slow viewer freezes), which shows that it can.

mod common;

use common::netns;
use common::whep_client::{client, client_on, has_idr, post_offer, Client};
use openh264::formats::YUVSource;
use periscope::config::Settings;
use periscope::media::strip;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::{timeout, Instant};

/// Set inside the network namespace.
const INNER: &str = "PERISCOPE_NETEM_NETNS";
/// Set inside the namespace to a GStreamer element to encode with instead of OpenH264.
const ENCODER: &str = "PERISCOPE_NETEM_ENCODER";
/// The slow viewer's UDP port (the tc filter matches it).
const SLOW_PORT: u16 = 41_000;
/// Freeze bound of the acceptance.
const MAX_FREEZE: Duration = Duration::from_secs(1);
/// Pictures a second the slow viewer must see at least.
const MIN_FPS: f64 = 20.0;
#[test]
fn a_viewer_on_a_2_mbit_link_gets_a_continuous_picture_and_the_other_keeps_full_quality() {
    outer(
        "a_viewer_on_a_2_mbit_link_gets_a_continuous_picture_and_the_other_keeps_full_quality",
        None,
    );
}

/// The same link with GStreamer's `x264enc` as the encoder (the board's hardware encoders
/// take the same path: a second instance of the element is the low rung, its bitrate
/// changed while it runs).
#[cfg(feature = "gstreamer")]
#[test]
fn with_gstreamers_x264enc_the_slow_viewer_also_gets_a_continuous_picture() {
    outer(
        "with_gstreamers_x264enc_the_slow_viewer_also_gets_a_continuous_picture",
        Some("x264enc"),
    );
}

/// Skips without namespaces or tc; else re-runs test `name` inside a namespace, with the
/// H.264 encoder `encoder` (a profile naming it) instead of OpenH264 when given.
fn outer(name: &str, encoder: Option<&str>) {
    if std::env::var_os(INNER).is_some() {
        inner();
        return;
    }
    for (cmd, args, why) in [
        (
            "unshare",
            &["--net", "true"][..],
            "cannot create a network namespace (needs root: unshare --net)",
        ),
        (
            "sh",
            &["-c", "command -v tc"][..],
            "tc not installed (Debian package `iproute2`)",
        ),
    ] {
        if !netns::command_works(cmd, args) {
            return netns::missing("the netem test", why);
        }
    }
    // One shaped run at a time: two busy encoders and four decoding clients at once starve
    // each other on a small machine (the freezes would be the CPU's, not the link's).
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env: Vec<(&str, &std::ffi::OsStr)> = encoder
        .map(|e| (ENCODER, std::ffi::OsStr::new(e)))
        .into_iter()
        .collect();
    netns::run_inside(name, INNER, &env);
}

/// Inside the namespace: loopback up, the slow viewer's port shaped, then the test proper.
fn inner() {
    let port = SLOW_PORT.to_string();
    let steps: [&[&str]; 6] = [
        &["ip", "link", "set", "lo", "up"],
        &[
            "tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10",
        ],
        &[
            "tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:10", "htb", "rate",
            "10gbit",
        ],
        &[
            "tc", "class", "add", "dev", "lo", "parent", "1:", "classid", "1:30", "htb", "rate",
            "2mbit", "ceil", "2mbit", "burst", "15k",
        ],
        &[
            "tc", "qdisc", "add", "dev", "lo", "parent", "1:30", "handle", "30:", "pfifo", "limit",
            "60",
        ],
        &[
            "tc", "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1",
            "u32", "match", "ip", "protocol", "17", "0xff", "match", "ip", "dport", &port,
            "0xffff", "flowid", "1:30",
        ],
    ];
    netns::setup(&steps);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(shaped_test());
}

/// What one viewer saw.
#[derive(Debug, Default)]
struct Seen {
    /// When the session connected, when each picture was decoded, and when the run ended
    /// (so a picture that stops counts as a freeze to the end).
    at: Vec<Instant>,
    /// Bytes of access units received.
    bytes: usize,
    /// Units dropped for lost packets, and PLIs sent.
    broken: u64,
    plis: u32,
}

impl Seen {
    /// The gaps between pictures (the connection and the run's end count as pictures, so
    /// the wait for the first picture is a freeze too): (when it ended from the connection,
    /// how long).
    fn gaps(&self) -> impl Iterator<Item = (Duration, Duration)> + '_ {
        let first = self.at.first().copied();
        self.at
            .windows(2)
            .filter_map(move |w| Some((w[1].duration_since(first?), w[1].duration_since(w[0]))))
    }

    /// Longest time without a new picture.
    fn longest_freeze(&self) -> Duration {
        self.gaps().map(|g| g.1).max().unwrap_or(Duration::MAX)
    }

    /// When (from the connection) the longest freeze ended.
    fn freeze_at(&self) -> Duration {
        self.gaps()
            .max_by_key(|g| g.1)
            .map_or(Duration::ZERO, |g| g.0)
    }

    /// Pictures a second over the run.
    fn fps(&self) -> f64 {
        let (Some(first), Some(last)) = (self.at.first(), self.at.last()) else {
            return 0.0;
        };
        let pictures = self.at.len().saturating_sub(2);
        pictures as f64 / last.duration_since(*first).as_secs_f64().max(0.001)
    }

    fn kbps(&self, run: Duration) -> f64 {
        self.bytes as f64 * 8.0 / run.as_secs_f64() / 1000.0
    }
}

/// Decodes like a browser for `run`: a unit after a loss is not decoded; a PLI goes out
/// (at most one per 300 ms) and decoding resumes at the next IDR.
async fn watch(mut c: Client, run: Duration) -> Seen {
    let mut seen = Seen {
        at: vec![Instant::now()],
        ..Default::default()
    };
    let end = Instant::now() + run;
    let mut waiting_idr = false;
    let mut last_pli: Option<Instant> = None;
    let mut broken_before = 0;
    while let Ok(Some(unit)) = timeout(
        end.saturating_duration_since(Instant::now()),
        c.units.recv(),
    )
    .await
    {
        seen.bytes += unit.len();
        let broken = c.broken.load(Ordering::Relaxed);
        if broken != broken_before {
            broken_before = broken;
            waiting_idr = true;
        }
        if waiting_idr && !has_idr(&unit) {
            if last_pli.is_none_or(|t| t.elapsed() > Duration::from_millis(300)) {
                c.send_pli().await;
                seen.plis += 1;
                last_pli = Some(Instant::now());
            }
            continue;
        }
        waiting_idr = false;
        match c.decoder.decode(&unit) {
            Ok(Some(picture)) => {
                let (w, h) = picture.dimensions();
                let luma = strip::Luma {
                    data: picture.y(),
                    width: w as u32,
                    height: h as u32,
                    stride: picture.strides().0,
                };
                if strip::read(&luma).is_ok() {
                    seen.at.push(Instant::now());
                }
            }
            Ok(None) => {}
            Err(_) => waiting_idr = true,
        }
    }
    seen.at.push(Instant::now());
    seen.broken = c.broken.load(Ordering::Relaxed);
    let _ = c.pc.close().await;
    seen
}

async fn connect(http: &reqwest::Client, base: &str, token: &str, port: Option<u16>) -> Client {
    let (mut c, offer) = match port {
        Some(p) => client_on(&format!("127.0.0.1:{p}")).await,
        None => client().await,
    };
    post_offer(http, base, Some(token), &mut c, offer).await;
    c
}

async fn shaped_test() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let seconds: u64 = std::env::var("PERISCOPE_NETEM_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let run = Duration::from_secs(seconds);
    let adapt = std::env::var_os("PERISCOPE_NETEM_NO_ADAPT").is_none();
    let encoder = std::env::var(ENCODER).ok();
    // tests/browser/x264.toml: the test pattern, encoded by x264enc.
    let profile = encoder
        .as_ref()
        .map(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/x264.toml").to_string());
    let d = common::start_with(Settings {
        profile,
        pattern: Some("busy".into()),
        resolution: Some("1280x720".into()),
        fps: Some(30),
        hid: Some("none".into()),
        adapt: Some(adapt),
        ..Default::default()
    })
    .await;
    let base = d.base.clone();
    let http = common::client();
    let token = common::login(&http, &base).await;
    let state: serde_json::Value = http
        .get(format!("{base}/api/state"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET /api/state")
        .json()
        .await
        .expect("state JSON");
    let used = state["encoder"].as_str().unwrap_or("?").to_string();
    assert_eq!(
        used,
        encoder.as_deref().unwrap_or("openh264"),
        "the encoder the test asked for"
    );
    assert_eq!(
        state["ladder"]["low_rung"].as_bool(),
        Some(adapt),
        "a low rung exists exactly when adapting"
    );

    let fast = connect(&http, &base, &token, None).await;
    let slow = connect(&http, &base, &token, Some(SLOW_PORT)).await;
    let (fast, slow) = tokio::join!(watch(fast, run), watch(slow, run));
    let text = common::metrics(&http, &base, &token).await;
    let downs = common::metric_value(&text, "ladder_moves_down_total");
    let ups = common::metric_value(&text, "ladder_moves_up_total");
    let full_bps = common::metric_value(&text, "stream_bitrate_bps{stream=\"h264\"}");
    for (name, seen) in [("fast", &fast), ("slow", &slow)] {
        println!(
            "netem: {name}: {} pictures in {seconds} s, {:.1} fps; longest freeze {} ms \
             (ending {:.1} s in, the first picture counted); {:.0} kbit/s received, {} units \
             lost, {} PLIs",
            seen.at.len().saturating_sub(2),
            seen.fps(),
            seen.longest_freeze().as_millis(),
            seen.freeze_at().as_secs_f64(),
            seen.kbps(run),
            seen.broken,
            seen.plis
        );
    }
    let gaps: Vec<String> = slow
        .gaps()
        .filter(|g| g.1 > Duration::from_millis(250))
        .take(8)
        .map(|(end, len)| {
            let start = end.saturating_sub(len).as_secs_f64();
            format!("{start:.2}-{:.2} s", end.as_secs_f64())
        })
        .collect();
    println!("netem: slow: gaps over 250 ms: {}", gaps.join(", "));
    println!(
        "netem: full rung {:.0} kbit/s; moves down {downs}, up {ups}; adapt {adapt}; encoder {used}",
        full_bps / 1000.0
    );
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if ["ladder", "h264_low", "webrtc_", "stream=\"h264\""]
            .iter()
            .any(|k| line.contains(k))
        {
            println!("netem: metric {line}");
        }
    }
    if let Ok(out) = Command::new("tc")
        .args(["-s", "class", "show", "dev", "lo"])
        .output()
    {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            println!("netem: tc {line}");
        }
    }
    d.running.shutdown().await;

    assert!(
        full_bps > 2_200_000.0,
        "the busy pattern's full rung must exceed the 2 Mbit/s link: {full_bps} bit/s"
    );
    assert!(
        downs >= 1.0,
        "the slow viewer moved to the low rung: {downs}"
    );
    assert!(
        slow.longest_freeze() <= MAX_FREEZE,
        "slow viewer froze for {} ms",
        slow.longest_freeze().as_millis()
    );
    assert!(slow.fps() >= MIN_FPS, "slow viewer: {:.1} fps", slow.fps());
    assert!(
        fast.kbps(run) > 2_200.0 && fast.fps() >= 25.0,
        "the fast viewer keeps the full rung: {:.0} kbit/s, {:.1} fps",
        fast.kbps(run),
        fast.fps()
    );
}
