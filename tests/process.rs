//! The daemon as a process, the way systemd and `docker stop` run it: the release binary is
//! started with the test pattern and the `record:` HID backend, a WHEP client holds a key
//! through the data channel, and SIGTERM must end the process cleanly (exit 0) with the key
//! released on the target. Timeouts are failure bounds only.
#![cfg(feature = "openh264")]

mod common;

use common::whep_client::*;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary, started on 127.0.0.1 with an ephemeral port; its stdout's first line names it.
struct Daemon {
    child: Child,
    base: String,
    stderr: std::thread::JoinHandle<String>,
}

fn spawn(state: &std::path::Path, record: &std::path::Path) -> Daemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_periscope"))
        .args(["--listen", "127.0.0.1:0", "--source", "test-pattern"])
        .args(["--profile", "test-pattern", "--resolution", "320x240"])
        .arg("--hid")
        .arg(format!("record:{}", record.display()))
        .arg("--state-dir")
        .arg(state)
        .env("PERISCOPE_ADMIN_PASSWORD", common::PASSWORD)
        .env("PERISCOPE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("periscope starts");
    let mut err = child.stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("stdout line");
    let base = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    // Keep reading so the child never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    Daemon {
        child,
        base,
        stderr,
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok, "kill {sig}");
}

fn wait_bounded(child: &mut Child, bound: Duration) -> std::process::ExitStatus {
    let end = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("periscope still running {bound:?} after the signal");
        }
        // Polling the child's exit; bounded above.
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_and_releases_held_keys() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("hid.jsonl");
    let mut d = spawn(&dir.path().join("state"), &record);
    let http = common::client();
    let token = common::login(&http, &d.base).await;

    let (mut client, offer) = client().await;
    post_offer(&http, &d.base, Some(&token), &mut client, offer).await;
    // Shift and A held down, as a user in the middle of a chord.
    client
        .send(r#"{"type":"key","code":"ShiftLeft","down":true}"#)
        .await;
    client
        .send(r#"{"type":"key","code":"KeyA","down":true}"#)
        .await;
    reports_recorded(&record, &["0200040000000000"]).await;

    signal(&d.child, "-TERM");
    let status = wait_bounded(&mut d.child, Duration::from_secs(10));
    let log = d.stderr.join().unwrap_or_default();
    assert!(
        status.success(),
        "SIGTERM ends periscope with {status}, not a clean exit; log:\n{log}"
    );
    assert!(
        log.contains("SIGTERM"),
        "the shutdown names its signal:\n{log}"
    );
    let text = std::fs::read_to_string(&record).unwrap();
    let last = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["device"] == "keyboard")
        .filter_map(|v| v["report"].as_str().map(str::to_string))
        .next_back();
    assert_eq!(
        last.as_deref(),
        Some("0000000000000000"),
        "the held keys are released before the process ends:\n{text}"
    );
    let _ = client.pc.close().await;
}

#[test]
fn sigint_still_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = spawn(&dir.path().join("state"), &dir.path().join("hid.jsonl"));
    signal(&d.child, "-INT");
    let status = wait_bounded(&mut d.child, Duration::from_secs(10));
    let log = d.stderr.join().unwrap_or_default();
    assert!(status.success(), "SIGINT: {status}; log:\n{log}");
    assert!(log.contains("SIGINT"), "{log}");
}
