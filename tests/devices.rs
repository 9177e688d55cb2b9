//! The front panel over HTTP against a running appliance: buttons backed by real commands
//! (`cmd` driver: a shell script that records each run), Wake-on-LAN to a real UDP socket,
//! and every refusal the API promises — no session (401), a view-only session (403), an
//! unknown button (404), a wrong action or a missing confirmation (400), a press while the
//! last still runs (409), too soon (429), an oversized body (413) — each changing nothing.
//! The relay and GPIO drivers are driven against real kernel devices in tests/hw.rs.

mod common;

use periscope::config::Settings;
use periscope::devices::config::{ButtonConfig, DevicesConfig, DriverConfig, WolConfig};
use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

fn button(name: &str, driver: &str, confirm: bool) -> ButtonConfig {
    toml::from_str(&format!(
        "name = {name:?}\nlabel = \"{name} label\"\ndriver = {driver:?}\nconfirm = {confirm}"
    ))
    .expect("button")
}

#[tokio::test(flavor = "multi_thread")]
async fn buttons_run_their_commands_and_bad_requests_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("runs.log");
    let script = dir.path().join("switch.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1\" >> {}\necho switched to \"$1\"\nexit 3\n",
            log.display()
        ),
    )
    .expect("script");
    let slow = dir.path().join("slow.sh");
    std::fs::write(&slow, "#!/bin/sh\necho waiting\nexec sleep 30\n").expect("script");
    for s in [&script, &slow] {
        let ok = std::process::Command::new("chmod")
            .arg("+x")
            .arg(s)
            .status()
            .expect("chmod");
        assert!(ok.success());
    }
    let wol_rx = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("udp");
    wol_rx
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let devices: DevicesConfig = DevicesConfig {
        drivers: [
            (
                "switch".to_string(),
                DriverConfig::Cmd {
                    on: vec![script.display().to_string(), "next".into()],
                    off: vec![],
                    timeout_ms: 5000,
                },
            ),
            (
                "slow".to_string(),
                DriverConfig::Cmd {
                    on: vec![slow.display().to_string()],
                    off: vec![],
                    timeout_ms: 1500,
                },
            ),
        ]
        .into_iter()
        .collect(),
        atx: None,
        buttons: vec![
            button("toggle_switch", "switch", true),
            button("slow", "slow", false),
        ],
        wol: Some(WolConfig {
            mac: "02:00:00:aa:bb:cc".into(),
            broadcast: Ipv4Addr::LOCALHOST,
            port: wol_rx.local_addr().expect("addr").port(),
        }),
    };
    let d = common::start_with(Settings {
        hid: Some("none".into()),
        drivers: devices.drivers,
        buttons: devices.buttons,
        wol: devices.wol,
        ..Default::default()
    })
    .await;
    let base = d.base.clone();
    let http = common::client();
    let token = common::login(&http, &base).await;
    let post = |path: &str, body: Option<serde_json::Value>, token: Option<String>| {
        let mut r = common::client().post(format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    let runs = || std::fs::read_to_string(&log).unwrap_or_default();

    // Refusals first: none of them runs the script.
    let r = post("/api/gpio/toggle_switch", None, None)
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    let viewer = {
        let c = common::client();
        let r = c
            .post(format!("{base}/api/auth/login"))
            .json(&serde_json::json!({"user": "viewer", "password": common::VIEWER_PASSWORD}))
            .send()
            .await
            .expect("login");
        let v: serde_json::Value = r.json().await.expect("json");
        v["token"].as_str().expect("token").to_string()
    };
    let r = post(
        "/api/gpio/toggle_switch",
        Some(serde_json::json!({"confirm": true})),
        Some(viewer.clone()),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 403);
    for (path, body, status) in [
        ("/api/gpio/nope", serde_json::json!({"confirm": true}), 404),
        (
            "/api/gpio/toggle_switch",
            serde_json::json!({"action": "on", "confirm": true}),
            400,
        ),
        (
            "/api/gpio/toggle_switch",
            serde_json::json!({"action": "explode", "confirm": true}),
            400,
        ),
        (
            "/api/gpio/toggle_switch",
            serde_json::json!({"colour": 1}),
            400,
        ),
        ("/api/gpio/toggle_switch", serde_json::json!({}), 400),
        ("/api/atx/power", serde_json::json!({}), 404),
        ("/api/atx/dance", serde_json::json!({}), 400),
    ] {
        let r = post(path, Some(body.clone()), Some(token.clone()))
            .await
            .expect("post");
        assert_eq!(r.status(), status, "{path} {body}");
        let v: serde_json::Value = r.json().await.expect("json error");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    let r = common::client()
        .post(format!("{base}/api/gpio/toggle_switch"))
        .bearer_auth(&token)
        .body(vec![b' '; 4096])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 413);
    assert_eq!(runs(), "", "no refused request ran the command");

    // Confirmed: the script runs once with its argument; its exit status and output return.
    let r = post(
        "/api/gpio/toggle_switch",
        Some(serde_json::json!({"confirm": true})),
        Some(token.clone()),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["done"]["command"]["exit_code"], 3, "{v}");
    assert_eq!(v["done"]["command"]["stdout"], "switched to next\n");
    assert_eq!(runs(), "next\n");
    // Again at once: too soon.
    let r = post(
        "/api/gpio/toggle_switch",
        Some(serde_json::json!({"confirm": true})),
        Some(token.clone()),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 429);
    assert_eq!(runs(), "next\n");

    // A command that outlives its timeout is killed and says so; a second press meanwhile
    // is refused as busy.
    let slow_press = tokio::spawn(post("/api/gpio/slow", None, Some(token.clone())));
    tokio::time::sleep(Duration::from_millis(700)).await;
    if slow_press.is_finished() {
        let r = slow_press.await.expect("join").expect("post");
        panic!(
            "slow press ended early: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    let state: serde_json::Value = http
        .get(format!("{base}/api/gpio"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(state["buttons"][1]["name"], "slow");
    assert_eq!(state["buttons"][1]["busy"], true, "{state}");
    assert_eq!(state["buttons"][0]["confirm"], true);
    let r = post("/api/gpio/slow", None, Some(token.clone()))
        .await
        .expect("post");
    assert_eq!(r.status(), 409);
    let r = slow_press.await.expect("join").expect("post");
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["done"]["command"]["timed_out"], true, "{v}");
    assert_eq!(v["done"]["command"]["exit_code"], serde_json::Value::Null);
    assert_eq!(v["done"]["command"]["stdout"], "waiting\n");

    // Wake-on-LAN: the magic packet arrives.
    let r = post("/api/wol", None, Some(token.clone()))
        .await
        .expect("post");
    assert_eq!(r.status(), 200);
    let mut buf = [0u8; 256];
    let (n, _) = wol_rx.recv_from(&mut buf).expect("magic packet");
    assert_eq!(n, 102);
    assert_eq!(&buf[..6], &[0xFF; 6]);
    assert!(buf[6..n]
        .chunks(6)
        .all(|c| c == [0x02, 0, 0, 0xaa, 0xbb, 0xcc]));

    // The audit log has every action, refused or not, with who and the result.
    let v: serde_json::Value = http
        .get(format!("{base}/api/audit"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let entries = v["entries"].as_array().expect("entries");
    let lines: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {} -> {}",
                e["who"].as_str().unwrap_or(""),
                e["what"].as_str().unwrap_or(""),
                e["result"].as_str().unwrap_or("")
            )
        })
        .collect();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    assert!(
        has("admin@127.0.0.1 button toggle_switch -> exit 3"),
        "{lines:#?}"
    );
    assert!(
        has("button toggle_switch -> button \"toggle_switch\" asks for confirmation"),
        "{lines:#?}"
    );
    assert!(has("button slow -> timed out"), "{lines:#?}");
    assert!(has("button slow -> button slow is busy"), "{lines:#?}");
    assert!(has("wol 02:00:00:aa:bb:cc -> ok"), "{lines:#?}");
    let r = common::client()
        .get(format!("{base}/api/audit"))
        .bearer_auth(&viewer)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403, "the audit log is the controller's");
    d.running.shutdown().await;
}
