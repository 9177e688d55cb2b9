//! The appliance against real Linux drivers, booted under QEMU by `tests/vm/run.sh`
//! (Debian's stock kernel: vivid, dummy_hcd + libcomposite, usb_f_hid, mass storage, ACM).
//! Each test boots one guest running a script from `tests/vm/cases/`; host-side clients reach
//! it through forwarded ports. docs/TESTING.md says how to run one and how to add one.
#![cfg(all(feature = "openh264", feature = "v4l2", feature = "vm-bench"))]

mod common;

use common::vm::{Forward, Vm, BOOT_BOUND};
use common::whep_client::Client as WhepClient;
use std::time::Duration;

const PASSWORD: &str = "vm-test-password";

/// Logs in through the forwarded HTTPS port and opens a WHEP session there: the HTTP client
/// (with the session cookie), the connected WHEP client, and the SDP answer.
async fn whep_session(base: &str) -> (reqwest::Client, WhepClient, String) {
    let http = common::client();
    common::login_with(&http, base, PASSWORD).await;
    let (mut client, offer) = common::whep_client::client().await;
    let r = http
        .post(format!("{base}/api/whep"))
        .header("content-type", "application/sdp")
        .body(offer)
        .send()
        .await
        .expect("WHEP POST through the forwarded port");
    assert_eq!(r.status(), 201);
    let answer = r.text().await.expect("SDP answer");
    client.accept(&answer).await;
    (http, client, answer)
}

async fn get_state(http: &reqwest::Client, base: &str) -> serde_json::Value {
    let r = http
        .get(format!("{base}/api/state"))
        .send()
        .await
        .expect("GET /api/state");
    r.json().await.expect("state JSON")
}

/// periscope in the guest captures vivid's HDMI input (640x480 YUYV), encodes H.264, and a
/// WHEP client on the host receives pictures of the negotiated size through the forwarded
/// TCP port (HTTPS) and one forwarded UDP port (all WebRTC media, candidates advertising
/// 127.0.0.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capture_from_vivid_reaches_a_whep_client() {
    let (https, udp) = (19443, 19510);
    let mut vm = Vm::boot(
        "serve.sh",
        &[
            "--source",
            "/dev/video0",
            "--resolution",
            "640x480",
            "--fps",
            "30",
            "--hid",
            "none",
            "--webrtc-udp-port",
            "19510",
            "--webrtc-advertise",
            "127.0.0.1",
        ],
        &[Forward::Tcp(https, 8443), Forward::Udp(udp, udp)],
        &[("PERISCOPE_ADMIN_PASSWORD", PASSWORD)],
    );
    tokio::task::block_in_place(|| vm.wait_for("READY", BOOT_BOUND));
    let base = format!("https://127.0.0.1:{https}");
    let (http, mut client, answer) = whep_session(&base).await;
    let state = get_state(&http, &base).await;
    assert_eq!(state["source"], "/dev/video0", "{state}");
    assert!(
        answer.contains(&format!("127.0.0.1 {udp} typ host")),
        "advertised candidate: {answer}"
    );
    let pictures = client.pictures(10, Duration::from_secs(60)).await;
    for (w, h, _) in &pictures {
        assert_eq!((*w, *h), (640, 480), "the negotiated size");
    }
    let distinct: std::collections::HashSet<u64> = pictures.iter().map(|p| p.2).collect();
    assert!(
        distinct.len() > 1,
        "vivid's picture moves (its text overlay counts frames)"
    );
    let state = get_state(&http, &base).await;
    assert_eq!(
        (state["width"].as_u64(), state["height"].as_u64()),
        (Some(640), Some(480)),
        "{state}"
    );
    drop(vm);
}

/// periscope builds the USB gadget (keyboard + absolute mouse) on dummy_udc and serves with
/// `--hid otg`; keys and a mouse move sent from the host over the `hid` data channel arrive as
/// EV_KEY / EV_ABS events on the guest's input devices (asserted in the guest: hid.sh).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_mouse_reach_the_guest_as_input_events() {
    let (https, udp) = (19444, 19520);
    let mut vm = Vm::boot(
        "hid.sh",
        &["test-pattern"],
        &[Forward::Tcp(https, 8443), Forward::Udp(udp, udp)],
        &[("PERISCOPE_ADMIN_PASSWORD", PASSWORD)],
    );
    tokio::task::block_in_place(|| vm.wait_for("READY", BOOT_BOUND));
    let (_http, client, _) = whep_session(&format!("https://127.0.0.1:{https}")).await;
    for msg in [
        r#"{"type":"key","code":"KeyA","down":true}"#,
        r#"{"type":"key","code":"KeyA","down":false}"#,
        r#"{"type":"mouse_abs","x":0.5,"y":0.25,"buttons":1}"#,
        r#"{"type":"mouse_abs","x":0.5,"y":0.25,"buttons":0}"#,
    ] {
        client.send(msg).await;
    }
    let status = tokio::task::block_in_place(|| vm.wait_exit(Duration::from_secs(180)));
    assert_eq!(status, 0, "the guest saw the input events (hid.sh)");
}

/// A gadget that needs more endpoints than the profile's budget is refused before binding,
/// with a message naming the functions to drop (no errno 524); nothing enumerates.
#[test]
fn an_over_budget_gadget_is_refused_before_binding() {
    let vm = Vm::boot("budget.sh", &[], &[], &[]);
    assert_eq!(vm.wait_exit(BOOT_BOUND), 0, "budget.sh");
}

/// Mass storage and ACM serial enumerate on the host side of the same kernel.
#[test]
fn mass_storage_and_acm_enumerate_on_the_host_side() {
    let vm = Vm::boot("storage.sh", &[], &[], &[]);
    assert_eq!(vm.wait_exit(BOOT_BOUND), 0, "storage.sh");
}
