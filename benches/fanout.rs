//! Fan-out benchmark client (not a test): against a running periscope, opens N WHEP sessions
//! and M MJPEG clients, receives for S seconds, and prints one Markdown row: frames/s each
//! client received, and — with `--pid` — the server process's CPU and memory over that
//! window (this program's own CPU is reported apart, so it is not counted as the server's).
//! `scripts/bench` starts periscope per cell and collects the rows into docs/BENCHMARKS.md.
//!
//! WebRTC clients are the tests' WHEP client (tests/common/whep_client.rs): every RTP packet
//! is received and depacketized into access units (a unit with a sequence gap is dropped, so
//! loss shows as fewer frames/s); they are not decoded, to keep the load process small on a
//! 2-core machine. MJPEG clients read `/stream.mjpeg` continuously and count parts.
//!
//! With `--pli-every S` each WebRTC client also sends a Picture Loss Indication every S
//! seconds once it receives frames (the forced-keyframe bench: a keyframe without a join).
//!
//! Run: `cargo bench --bench fanout -- --url https://127.0.0.1:8443 --password P
//!       --webrtc 10 --mjpeg 0 --seconds 20 [--warmup 4] [--pid PID] [--label 1280x720]
//!       [--pli-every 2]`

#[path = "probe/proc_stat.rs"]
mod proc_stat;
#[path = "../tests/common/whep_client.rs"]
mod whep_client;

use proc_stat::cpu_seconds;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    url: String,
    password: String,
    webrtc: usize,
    mjpeg: usize,
    seconds: f64,
    warmup: f64,
    pid: Option<u32>,
    label: String,
    pli_every: Option<f64>,
}

fn args() -> Args {
    let mut a = Args {
        url: "https://127.0.0.1:8443".into(),
        password: std::env::var("PERISCOPE_PASSWORD").unwrap_or_default(),
        webrtc: 1,
        mjpeg: 0,
        seconds: 20.0,
        warmup: 4.0,
        pid: None,
        label: String::new(),
        pli_every: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        // `cargo bench` passes `--bench` to harness-less benches: ignore it.
        if flag == "--bench" {
            continue;
        }
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let num = |v: &str| -> f64 { v.parse().unwrap_or_else(|_| panic!("{flag} {v}")) };
        match flag.as_str() {
            "--url" => a.url = value,
            "--password" => a.password = value,
            "--webrtc" => a.webrtc = num(&value) as usize,
            "--mjpeg" => a.mjpeg = num(&value) as usize,
            "--seconds" => a.seconds = num(&value),
            "--warmup" => a.warmup = num(&value),
            "--pid" => a.pid = Some(num(&value) as u32),
            "--label" => a.label = value,
            "--pli-every" => a.pli_every = Some(num(&value)),
            _ => panic!("unknown flag {flag}"),
        }
    }
    a
}

/// A `Vm…` line of /proc/PID/status, in MiB.
fn vm_mib(pid: &str, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Every sample of /metrics as (name with labels, value).
async fn metrics(http: &reqwest::Client, url: &str, token: &str) -> Vec<(String, f64)> {
    let Ok(r) = http
        .get(format!("{url}/metrics"))
        .bearer_auth(token)
        .send()
        .await
    else {
        return Vec::new();
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn metric(m: &[(String, f64)], name: &str) -> f64 {
    m.iter()
        .find(|(k, _)| k == name)
        .map_or(f64::NAN, |(_, v)| *v)
}

/// One WHEP session; counts the complete access units it receives into `frames`.
async fn webrtc_client(
    http: reqwest::Client,
    url: String,
    token: String,
    frames: Arc<AtomicU64>,
    stop: tokio_util::sync::CancellationToken,
    pli_every: Option<f64>,
) -> Result<(), String> {
    let (mut client, offer) = whep_client::client().await;
    let r = http
        .post(format!("{url}/api/whep"))
        .bearer_auth(&token)
        .header("content-type", "application/sdp")
        .body(offer)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 201 {
        return Err(format!("WHEP POST: {}", r.status()));
    }
    let location = r
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let answer = r.text().await.map_err(|e| e.to_string())?;
    client.accept(&answer).await;
    // Keyframe requests start once the first frame is in (the track is bound by then).
    let period = pli_every.map(|s| Duration::from_secs_f64(s.max(0.1)));
    let mut next_pli: Option<tokio::time::Instant> = None;
    loop {
        let pli_due = async {
            match next_pli {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let send_pli = tokio::select! {
            _ = stop.cancelled() => break,
            _ = pli_due => true,
            unit = client.units.recv() => match unit {
                Some(_) => {
                    frames.fetch_add(1, Ordering::Relaxed);
                    false
                }
                None => break,
            },
        };
        if let Some(period) = period {
            if send_pli {
                client.send_pli().await;
            }
            if send_pli || next_pli.is_none() {
                next_pli = Some(tokio::time::Instant::now() + period);
            }
        }
    }
    let _ = http
        .delete(format!("{url}{location}"))
        .bearer_auth(&token)
        .send()
        .await;
    let _ = client.pc.close().await;
    Ok(())
}

/// One `/stream.mjpeg` reader; counts parts (boundaries) into `frames`.
async fn mjpeg_client(
    http: reqwest::Client,
    url: String,
    token: String,
    frames: Arc<AtomicU64>,
    stop: tokio_util::sync::CancellationToken,
) -> Result<(), String> {
    const MARK: &[u8] = b"--periscopeframe";
    let mut r = http
        .get(format!("{url}/stream.mjpeg"))
        .bearer_auth(&token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("MJPEG GET: {}", r.status()));
    }
    // The tail of the previous chunk, so a boundary split across chunks is still seen.
    let mut carry: Vec<u8> = Vec::new();
    let mut first = true;
    loop {
        let chunk = tokio::select! {
            _ = stop.cancelled() => break,
            c = r.chunk() => c.map_err(|e| e.to_string())?,
        };
        let Some(chunk) = chunk else { break };
        carry.extend_from_slice(&chunk);
        let found = carry.windows(MARK.len()).filter(|w| *w == MARK).count() as u64;
        // The stream opens with a boundary before the first JPEG: not a frame.
        let found = if first && found > 0 {
            first = false;
            found - 1
        } else {
            found
        };
        frames.fetch_add(found, Ordering::Relaxed);
        let keep = MARK.len() - 1;
        if carry.len() > keep {
            carry.drain(..carry.len() - keep);
        }
    }
    Ok(())
}

fn quantiles(mut v: Vec<f64>) -> String {
    if v.is_empty() {
        return "—".into();
    }
    v.sort_by(|a, b| a.total_cmp(b));
    format!("{:.1} / {:.1}", v[0], v[v.len() / 2])
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(a));
}

async fn run(a: Args) {
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client");
    let login = http
        .post(format!("{}/api/auth/login", a.url))
        .json(&serde_json::json!({"user": "admin", "password": a.password}))
        .send()
        .await
        .expect("login request");
    assert_eq!(login.status(), 200, "login");
    let v: serde_json::Value = login.json().await.expect("login json");
    let token = v["token"].as_str().expect("token").to_string();

    let stop = tokio_util::sync::CancellationToken::new();
    let mut tasks = Vec::new();
    let mut webrtc = Vec::new();
    let mut mjpeg = Vec::new();
    for i in 0..a.webrtc + a.mjpeg {
        let frames = Arc::new(AtomicU64::new(0));
        let (h, u, t, f, s) = (
            http.clone(),
            a.url.clone(),
            token.clone(),
            Arc::clone(&frames),
            stop.clone(),
        );
        if i < a.webrtc {
            webrtc.push(frames);
            tasks.push(tokio::spawn(webrtc_client(h, u, t, f, s, a.pli_every)));
        } else {
            mjpeg.push(frames);
            tasks.push(tokio::spawn(mjpeg_client(h, u, t, f, s)));
        }
    }
    // Every client connected and receiving (or failed), then the warm-up.
    let start = Instant::now();
    let all = webrtc.iter().chain(mjpeg.iter());
    let all: Vec<_> = all.cloned().collect();
    while all.iter().any(|f| f.load(Ordering::Relaxed) == 0)
        && start.elapsed() < Duration::from_secs(30)
        && !tasks.iter().any(|t| t.is_finished())
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_s = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;

    // The measured window.
    let pid = a.pid.map(|p| p.to_string());
    let me = std::process::id().to_string();
    let counts = |v: &[Arc<AtomicU64>]| -> Vec<u64> {
        v.iter().map(|f| f.load(Ordering::Relaxed)).collect()
    };
    let m0 = metrics(&http, &a.url, &token).await;
    let (w0, j0) = (counts(&webrtc), counts(&mjpeg));
    let cpu0 = pid.as_deref().map_or(0.0, cpu_seconds);
    let me0 = cpu_seconds(&me);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(a.seconds)).await;
    let wall = t0.elapsed().as_secs_f64();
    let cpu1 = pid.as_deref().map_or(0.0, cpu_seconds);
    let me1 = cpu_seconds(&me);
    let (w1, j1) = (counts(&webrtc), counts(&mjpeg));
    let m1 = metrics(&http, &a.url, &token).await;
    let (rss, hwm) = pid.as_deref().map_or((f64::NAN, f64::NAN), |p| {
        (vm_mib(p, "VmRSS"), vm_mib(p, "VmHWM"))
    });
    stop.cancel();
    let mut failed = 0;
    for t in tasks {
        match tokio::time::timeout(Duration::from_secs(5), t).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => {
                failed += 1;
                eprintln!("client failed: {e}");
            }
            _ => failed += 1,
        }
    }

    let rate = |a: &[u64], b: &[u64]| -> Vec<f64> {
        a.iter()
            .zip(b)
            .map(|(x, y)| (y - x) as f64 / wall)
            .collect()
    };
    let delta = |name: &str| (metric(&m1, name) - metric(&m0, name)) / wall;
    let h264 = delta("periscope_encoded_frames_total{stream=\"h264\"}");
    let jpeg = delta("periscope_encoded_frames_total{stream=\"mjpeg\"}");
    let sent = delta("periscope_webrtc_frames_sent_total");
    let mbit = delta("periscope_webrtc_bytes_sent_total") * 8.0 / 1e6;
    // Since the server started, warm-up included: a move starts the low rung's encoder,
    // whose memory is in the peak RSS.
    let moved = metric(&m1, "periscope_ladder_moves_down_total");
    let fmt = |v: f64| {
        if v.is_nan() {
            "—".to_string()
        } else {
            format!("{v:.1}")
        }
    };
    eprintln!(
        "fanout: {} webrtc={} mjpeg={} connected in {connect_s:.1} s, window {wall:.1} s, {failed} failed",
        a.label, a.webrtc, a.mjpeg
    );
    // | size | WebRTC | MJPEG | server CPU % | RSS MiB | peak RSS MiB | H.264 encoded/s |
    // WebRTC frames sent/s (all viewers) | WebRTC Mbit/s | JPEG encoded/s |
    // WebRTC f/s per viewer min / median | MJPEG f/s per client min / median | load CPU % |
    // viewers moved to the low rung |
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} |",
        a.label,
        a.webrtc,
        a.mjpeg,
        pid.as_ref().map_or("—".into(), |_| format!(
            "{:.1}",
            (cpu1 - cpu0) / wall * 100.0
        )),
        fmt(rss),
        fmt(hwm),
        fmt(h264),
        fmt(sent),
        fmt(mbit),
        fmt(jpeg),
        quantiles(rate(&w0, &w1)),
        quantiles(rate(&j0, &j1)),
        (me1 - me0) / wall * 100.0,
        if moved.is_nan() {
            "—".to_string()
        } else {
            format!("{moved:.0}")
        },
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
