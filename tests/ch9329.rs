//! The `ch9329:` backend and the `periscope ch9329` commands against a simulated chip on a
//! pty (tests/common/ch9329_sim.rs): open sequence, every report kind, LEDs, recovery from
//! garbage and from a hung chip, re-enumeration, speed changes, and one run through the whole
//! daemon with a WHEP client on the `hid` data channel. Waits are failure bounds only.

#[path = "common/ch9329_sim.rs"]
mod ch9329_sim;

use ch9329_sim::{Ch9329Sim, SIM_VERSION, WAIT_BOUND};
use periscope::hid::ch9329::{cli, Ch9329Hid};
use periscope::hid::{HidBackend, HidError, HidReport, Leds, Polled};
use std::time::{Duration, Instant};

/// The worker's poll period.
const TICK: Duration = Duration::from_millis(100);

/// Calls `poll` every [`TICK`], as the worker does, until `until` accepts what it returned.
fn poll_until(hid: &mut Ch9329Hid, what: &str, until: impl Fn(&Polled) -> bool) -> Polled {
    let end = Instant::now() + WAIT_BOUND;
    loop {
        let p = hid.poll();
        if until(&p) {
            return p;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(TICK);
    }
}

fn open(sim: &Ch9329Sim) -> Ch9329Hid {
    Ch9329Hid::open(sim.path(), 9600).expect("backend opens on the sim")
}

/// The open sequence: RESET, GET_INFO, keyboard up, relative and absolute mouse released.
const OPEN_SEQUENCE: [u8; 5] = [0x0F, 0x01, 0x02, 0x05, 0x04];

fn assert_release_frames(sim: &Ch9329Sim, from: usize) {
    let s = sim.state();
    let tail: Vec<_> = s.received[from..].to_vec();
    assert_eq!(
        tail.iter().map(|r| r.cmd).collect::<Vec<_>>(),
        vec![0x02, 0x05, 0x04],
        "release-all frames"
    );
    assert_eq!(tail[0].data, vec![0; 8], "keyboard all up");
    assert_eq!(
        tail[1].data,
        vec![0x01, 0, 0, 0, 0],
        "relative: no buttons, no motion"
    );
    assert_eq!(tail[2].data[..2], [0x02, 0x00], "absolute: no buttons");
}

// ===== the backend =====

#[test]
fn open_resets_the_chip_then_releases_everything() {
    let sim = Ch9329Sim::start(9600);
    let hid = open(&sim);
    assert_eq!(hid.name(), "ch9329");
    assert!(!hid.is_hung());
    let s = sim.state();
    assert_eq!(s.commands(), OPEN_SEQUENCE);
    assert_eq!(s.resets, 1);
    assert_release_frames(&sim, 2);
}

#[test]
fn key_reports_reach_the_chip_as_boot_reports() {
    let sim = Ch9329Sim::start(9600);
    let mut hid = open(&sim);
    sim.clear_received();
    let shift_a = [0x02, 0, 0x04, 0, 0, 0, 0, 0];
    hid.send(&HidReport::Keyboard(shift_a)).expect("key down");
    assert_eq!(sim.state().keyboard, shift_a);
    hid.send(&HidReport::Keyboard([0; 8])).expect("key up");
    let s = sim.state();
    assert_eq!(s.keyboard_reports(), vec![shift_a.to_vec(), vec![0; 8]]);
    assert_eq!(hid.errors(), 0);
}

#[test]
fn absolute_mouse_lands_on_the_chip_grid() {
    let sim = Ch9329Sim::start(9600);
    let mut hid = open(&sim);
    let abs = |x: u16, y: u16, buttons: u8, wheel: i8| {
        let [xl, xh] = x.to_le_bytes();
        let [yl, yh] = y.to_le_bytes();
        HidReport::MouseAbs([buttons, xl, xh, yl, yh, wheel as u8, 0x05])
    };
    let chip_xy = |d: [u8; 7]| {
        (
            u16::from_le_bytes([d[2], d[3]]),
            u16::from_le_bytes([d[4], d[5]]),
        )
    };
    hid.send(&abs(0, 0, 1, 0)).unwrap();
    let d = sim.state().mouse_abs;
    assert_eq!((d[0], d[1]), (0x02, 0x01), "absolute form, left button");
    assert_eq!(chip_xy(d), (0, 0));
    hid.send(&abs(32767, 32767, 0, 0)).unwrap();
    assert_eq!(chip_xy(sim.state().mouse_abs), (4095, 4095));
    hid.send(&abs(16384, 16384, 0, -2)).unwrap();
    let d = sim.state().mouse_abs;
    let (x, y) = chip_xy(d);
    assert!(
        (2047..=2048).contains(&x) && (2047..=2048).contains(&y),
        "{x},{y}"
    );
    assert_eq!(d[6], (-2i8) as u8, "wheel kept (pan dropped)");
}

#[test]
fn relative_mouse_and_wheel_reach_the_chip() {
    let sim = Ch9329Sim::start(9600);
    let mut hid = open(&sim);
    hid.send(&HidReport::MouseRel([0x01, (-5i8) as u8, 7, 0, 0]))
        .unwrap();
    assert_eq!(sim.state().mouse_rel, [0x01, 0x01, 0xFB, 0x07, 0x00]);
    hid.send(&HidReport::MouseRel([0, 0, 0, (-1i8) as u8, 3]))
        .unwrap();
    assert_eq!(
        sim.state().mouse_rel,
        [0x01, 0x00, 0x00, 0x00, 0xFF],
        "wheel -1, pan dropped"
    );
}

#[test]
fn leds_set_by_the_target_come_back_from_poll() {
    let sim = Ch9329Sim::start(9600);
    let mut hid = open(&sim);
    // The first answer is reported as the initial state.
    let p = poll_until(&mut hid, "the initial leds", |p| p.leds.is_some());
    assert_eq!(p.leds, Some(Leds::default()));
    sim.set_leds(false, true, false);
    let p = poll_until(&mut hid, "caps lock", |p| p.leds.is_some());
    let caps = Leds {
        caps: true,
        ..Leds::default()
    };
    assert_eq!(p.leds, Some(caps));
    sim.set_leds(true, true, true);
    let p = poll_until(&mut hid, "all three", |p| p.leds.is_some());
    assert_eq!(
        p.leds,
        Some(Leds {
            caps: true,
            num: true,
            scroll: true
        })
    );
    assert!(!p.reconnected);
}

#[test]
fn a_garbage_reply_is_an_error_then_a_reset_and_a_release_all() {
    let sim = Ch9329Sim::start(9600);
    let mut hid = open(&sim);
    sim.clear_received();
    sim.garbage_next();
    let e = hid
        .send(&HidReport::Keyboard([0, 0, 0x04, 0, 0, 0, 0, 0]))
        .expect_err("garbage is not an acknowledgement");
    assert!(e.to_string().contains("checksum"), "{e}");
    assert_eq!(hid.errors(), 1);
    let s = sim.state();
    assert_eq!(s.commands()[..2], [0x02, 0x0F], "the key, then a RESET");
    assert_eq!(s.resets, 2);
    assert_release_frames(&sim, 2);
    // The worker hears of it (and forgets what it thinks is held).
    let p = hid.poll();
    assert!(p.reconnected);
    hid.send(&HidReport::Keyboard([0, 0, 0x05, 0, 0, 0, 0, 0]))
        .expect("works again");
    assert_eq!(sim.state().keyboard[2], 0x05);
}

#[test]
fn a_hung_chip_is_reset_until_it_answers_then_reported_reconnected() {
    let sim = Ch9329Sim::start(9600);
    let mut hid = open(&sim);
    poll_until(&mut hid, "the initial leds", |p| p.leds.is_some());
    // The target rebooted: the chip ignores everything, and the first two RESETs too.
    sim.hang(2);
    sim.clear_received();
    let mut failed_sends = 0;
    let end = Instant::now() + WAIT_BOUND;
    let mut saw_hung = false;
    loop {
        let p = hid.poll();
        saw_hung |= hid.is_hung();
        if p.reconnected {
            break;
        }
        if hid.send(&HidReport::MouseRel([0, 1, 0, 0, 0])).is_err() {
            failed_sends += 1;
        }
        assert!(Instant::now() < end, "no reconnect reported");
        std::thread::sleep(TICK);
    }
    assert!(saw_hung, "the chip counted as hung");
    assert!(failed_sends >= 3, "sends failed while hung: {failed_sends}");
    let s = sim.state();
    let resets = s.commands().iter().filter(|c| **c == 0x0F).count();
    assert_eq!(s.ignore_resets, 0);
    assert!(
        resets >= 3,
        "two ignored RESETs and the one that worked: {resets}"
    );
    assert!(!hid.is_hung());
    hid.send(&HidReport::Keyboard([0, 0, 0x06, 0, 0, 0, 0, 0]))
        .expect("delivered after the reconnect");
    assert_eq!(sim.state().keyboard[2], 0x06);
}

#[test]
fn resets_of_a_hung_chip_are_paced() {
    let sim = Ch9329Sim::start(9600);
    let mut hid = open(&sim);
    sim.hang(usize::MAX);
    sim.clear_received();
    // Poll for ~4 s of worker ticks.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        hid.poll();
        std::thread::sleep(TICK);
    }
    assert!(hid.is_hung());
    let s = sim.state();
    let resets: Vec<Instant> = s
        .received
        .iter()
        .filter(|r| r.cmd == 0x0F)
        .map(|r| r.at)
        .collect();
    // The first unanswered GET_INFO is an error, recovered from with one RESET at once (also
    // unanswered); the next GET_INFO, 500 ms on, is the third miss and the chip counts as
    // hung. From then on one RESET a second, at most: in 4 s the one at once and 2 to 4 more.
    assert!(
        (3..=5).contains(&resets.len()),
        "{} resets in 4 s",
        resets.len()
    );
    for pair in resets[1..].windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(900),
            "resets of a hung chip {gap:?} apart"
        );
    }
}

#[test]
fn the_target_enumerating_again_is_a_reconnect() {
    let sim = Ch9329Sim::start(9600);
    let mut hid = open(&sim);
    sim.set_enumerated(false);
    let p = poll_until(&mut hid, "a get_info", |p| p.leds.is_some());
    assert!(!p.reconnected);
    sim.set_enumerated(true);
    poll_until(&mut hid, "reconnected", |p| p.reconnected);
}

#[test]
fn a_chip_at_another_speed_hears_nothing_and_counts_as_hung() {
    let sim = Ch9329Sim::start(115_200);
    let mut hid = Ch9329Hid::open(sim.path(), 9600).expect("the port opens");
    assert!(hid.is_hung());
    let s = sim.state();
    assert!(s.received.is_empty() && s.misunderstood > 0, "{s:?}");
    let e = hid.send(&HidReport::Keyboard([0; 8])).unwrap_err();
    assert!(e.to_string().contains("not answering"), "{e}");
}

#[test]
fn a_missing_port_is_device_missing() {
    let e = Ch9329Hid::open(std::path::Path::new("/dev/pts/no-such-port"), 9600).unwrap_err();
    match e {
        HidError::DeviceMissing(m) => {
            assert!(
                m.contains("/dev/pts/no-such-port") && m.contains("no such port"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_vanished_port_is_reopened_when_it_comes_back() {
    // A stable name for the port, as udev gives a USB-serial adapter.
    let dir = tempfile::tempdir().unwrap();
    let port = dir.path().join("ttyCH9329");
    let sim = Ch9329Sim::start(9600);
    std::os::unix::fs::symlink(sim.path(), &port).unwrap();
    let mut hid = Ch9329Hid::open(&port, 9600).expect("opens");
    // Unplugged: the pty goes away, and so does the name.
    drop(sim);
    std::fs::remove_file(&port).unwrap();
    let key = HidReport::Keyboard([0, 0, 0x04, 0, 0, 0, 0, 0]);
    for _ in 0..2 {
        match hid.send(&key) {
            Err(HidError::DeviceMissing(m)) => assert!(m.contains("ttyCH9329"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    // Plugged back in (another pty under the same name): reopened, reset, released.
    let sim = Ch9329Sim::start(9600);
    std::os::unix::fs::symlink(sim.path(), &port).unwrap();
    poll_until(&mut hid, "reconnected", |p| p.reconnected);
    assert_eq!(sim.state().commands()[..5], OPEN_SEQUENCE);
    hid.send(&key).expect("delivered after the reopen");
    assert_eq!(sim.state().keyboard[2], 0x04);
}

// ===== periscope ch9329 =====

#[test]
fn info_shows_the_chip_state() {
    let sim = Ch9329Sim::start(9600);
    sim.set_leds(true, false, true);
    let out = cli::info(sim.path(), 9600).expect("info");
    assert!(out.contains(&format!("({SIM_VERSION:#04x})")), "{out}");
    assert!(out.contains("usb: enumerated"), "{out}");
    assert!(out.contains("leds: num on, caps off, scroll on"), "{out}");
    assert!(out.contains("configured baud: 9600"), "{out}");
    let e = cli::info(sim.path(), 1234).unwrap_err();
    assert!(e.to_string().contains("--baud 1234: must be one of"), "{e}");
}

#[test]
fn set_baud_switches_the_chip_and_only_the_new_speed_works() {
    let sim = Ch9329Sim::start(9600);
    let before = sim.state().config;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_periscope"))
        .args(["ch9329", "set-baud", "--port"])
        .arg(sim.path())
        .args(["--from", "9600", "--to", "115200"])
        .output()
        .expect("run periscope");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("9600 -> 115200"), "{stdout}");
    let s = sim.state();
    assert_eq!(s.baud, 115_200, "the chip runs at the new speed");
    assert_eq!(s.config_baud(), 115_200);
    assert_eq!(&s.config[3..7], &[0x00, 0x01, 0xC2, 0x00]);
    for i in (0..50).filter(|i| !(3..7).contains(i)) {
        assert_eq!(s.config[i], before[i], "config byte {i} kept");
    }
    // GET_PARA_CFG, SET_PARA_CFG, RESET, then GET_INFO at the new speed.
    assert_eq!(s.commands()[..4], [0x08, 0x09, 0x0F, 0x01]);

    let out = cli::info(sim.path(), 115_200).expect("info at 115200");
    assert!(out.contains("configured baud: 115200"), "{out}");
    let e = cli::info(sim.path(), 9600).expect_err("9600 is gone");
    assert!(e.to_string().contains("no reply"), "{e}");
}

#[test]
fn set_baud_from_the_wrong_speed_names_the_step() {
    let sim = Ch9329Sim::start(9600);
    let e = cli::set_baud(sim.path(), 19_200, 115_200).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("read the config at 19200 baud"), "{m}");
    assert_eq!(sim.state().baud, 9600, "nothing changed");
}

// ===== through the daemon =====

#[cfg(feature = "openh264")]
mod common;

/// The daemon with `--hid ch9329:/dev/pts/N`: keys sent by a WHEP client on the `hid` channel
/// reach the chip as keyboard frames, and LEDs set on the chip come back as `leds` replies.
#[cfg(feature = "openh264")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn daemon_drives_the_chip_from_a_whep_client() {
    use periscope::config::Settings;
    let sim = Ch9329Sim::start(9600);
    let d = common::start_with(Settings {
        resolution: Some("640x480".into()),
        fps: Some(30),
        hid: Some(format!("ch9329:{}", sim.path().display())),
        hid_baud: Some(9600),
        ..Default::default()
    })
    .await;
    let base = d.base.clone();
    assert_eq!(sim.state().commands()[..2], [0x0F, 0x01], "reset at start");

    let http = common::client();
    let token = common::login(&http, &base).await;
    let (mut client, offer) = common::whep_client::client().await;
    common::whep_client::post_offer(&http, &base, Some(&token), &mut client, offer).await;

    client
        .send(r#"{"type":"key","code":"KeyA","down":true}"#)
        .await;
    client
        .send(r#"{"type":"key","code":"KeyA","down":false}"#)
        .await;
    let down = vec![0, 0, 0x04, 0, 0, 0, 0, 0];
    let up = vec![0; 8];
    let s = tokio::task::block_in_place(|| {
        sim.wait_for("KeyA down and up", |s| {
            let k = s.keyboard_reports();
            k.iter()
                .position(|r| *r == down)
                .is_some_and(|i| k[i + 1..].contains(&up))
        })
    });
    assert!(s
        .received
        .iter()
        .all(|r| r.cmd != 0x02 || r.data.len() == 8));

    sim.set_leds(false, true, false);
    let leds = tokio::time::timeout(WAIT_BOUND, async {
        loop {
            let text = client.replies.recv().await.expect("hid channel open");
            let v: serde_json::Value = serde_json::from_str(&text).expect("reply is JSON");
            if v["type"] == "leds" && v["caps"] == true {
                return v;
            }
        }
    })
    .await
    .expect("leds reply");
    assert_eq!(leds["num"], false);
    assert_eq!(leds["scroll"], false);
    let _ = client.pc.close().await;
    d.running.shutdown().await;
}
