//! Shared test helpers: an in-process daemon on 127.0.0.1:0 with the test pattern and the
//! `record:` HID backend, and an HTTPS client that trusts its self-signed certificate.
#![allow(dead_code)]

pub mod jpegs;
pub mod netns;
pub mod vm;
pub mod whep_client;

use periscope::config::Settings;
use std::path::PathBuf;

/// The admin password the test daemons use.
pub const PASSWORD: &str = "test-password-123";
/// The view-only user's password the test daemons use.
pub const VIEWER_PASSWORD: &str = "viewer-password-456";

/// A daemon started for one test.
pub struct Daemon {
    /// The running daemon.
    pub running: periscope::app::Running,
    /// https://127.0.0.1:PORT
    pub base: String,
    /// The HID record file.
    pub record: PathBuf,
    /// Keeps the state directory alive.
    pub dir: tempfile::TempDir,
}

/// Starts a daemon with the test pattern at `w`x`h`.
pub async fn start_daemon(w: u32, h: u32) -> Daemon {
    start_with(Settings {
        resolution: Some(format!("{w}x{h}")),
        fps: Some(30),
        ..Default::default()
    })
    .await
}

/// Starts a daemon from `settings`, filling what it leaves unset: listen on 127.0.0.1:0, the
/// test pattern, the `test-pattern` profile, the `record:` HID backend (into
/// [`Daemon::record`]), a temporary state directory; the test passwords.
pub async fn start_with(mut settings: Settings) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let record = dir.path().join("hid.jsonl");
    settings.listen.get_or_insert_with(|| "127.0.0.1:0".into());
    settings.source.get_or_insert_with(|| "test-pattern".into());
    settings
        .profile
        .get_or_insert_with(|| "test-pattern".into());
    settings
        .hid
        .get_or_insert_with(|| format!("record:{}", record.display()));
    settings.state_dir = Some(dir.path().join("state"));
    let mut cfg = settings
        .validate(dir.path().join("unused"))
        .expect("valid settings");
    cfg.admin_password = Some(PASSWORD.into());
    cfg.viewer_password = Some(VIEWER_PASSWORD.into());
    let running = periscope::app::start(cfg).await.expect("daemon starts");
    let base = format!("https://{}", running.addr);
    Daemon {
        running,
        base,
        record,
        dir,
    }
}

/// An HTTPS client that accepts the self-signed certificate and keeps cookies.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .cookie_store(true)
        .build()
        .expect("client")
}

/// Logs in; returns the bearer token.
pub async fn login(c: &reqwest::Client, base: &str) -> String {
    login_with(c, base, PASSWORD).await
}

/// Logs in with `password`; returns the bearer token.
pub async fn login_with(c: &reqwest::Client, base: &str, password: &str) -> String {
    let r = c
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"user": "admin", "password": password}))
        .send()
        .await
        .expect("login request");
    assert_eq!(r.status(), 200, "login");
    let v: serde_json::Value = r.json().await.expect("login json");
    v["token"].as_str().expect("token").to_string()
}

/// The /metrics text (bearer auth).
pub async fn metrics(http: &reqwest::Client, base: &str, token: &str) -> String {
    http.get(format!("{base}/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

/// A sample's value (`periscope_` prefix or not, labels included in `name`); NaN when absent.
pub fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(k, _)| k.trim_start_matches("periscope_") == name)
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}
