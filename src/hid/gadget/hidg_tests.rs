//! `OtgHid` against regular files and FIFOs standing in for `/dev/hidgN`.

use super::*;
#[cfg(feature = "gadget")]
use crate::hid::gadget::plan::GADGET_DIR;
#[cfg(feature = "gadget")]
use std::time::Instant;

#[cfg(feature = "gadget")]
fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "mkfifo {}", path.display());
}

#[test]
fn led_bits() {
    assert_eq!(
        parse_leds(&[0x02]),
        Some(Leds {
            caps: true,
            num: false,
            scroll: false
        })
    );
    assert_eq!(
        parse_leds(&[0x07]),
        Some(Leds {
            caps: true,
            num: true,
            scroll: true
        })
    );
    // Compose and Kana bits are ignored.
    assert_eq!(parse_leds(&[0x18]), Some(Leds::default()));
    assert_eq!(parse_leds(&[]), None);
}

#[test]
fn each_report_goes_to_its_own_node() {
    let dir = tempfile::tempdir().unwrap();
    let (k, m) = (dir.path().join("hidg0"), dir.path().join("hidg1"));
    std::fs::write(&k, b"").unwrap();
    std::fs::write(&m, b"").unwrap();
    let mut hid = OtgHid::with_nodes(vec![("keyboard", k.clone()), ("mouse_abs", m.clone())]);
    hid.send(&HidReport::Keyboard([0, 0, 4, 0, 0, 0, 0, 0]))
        .unwrap();
    hid.send(&HidReport::Keyboard([0; 8])).unwrap();
    hid.send(&HidReport::MouseAbs([1, 0x00, 0x40, 0xff, 0x7f, 0, 0]))
        .unwrap();
    assert_eq!(
        std::fs::read(&k).unwrap(),
        [[0, 0, 4, 0, 0, 0, 0, 0], [0; 8]].concat()
    );
    assert_eq!(
        std::fs::read(&m).unwrap(),
        [1, 0x00, 0x40, 0xff, 0x7f, 0, 0]
    );
    let e = hid.send(&HidReport::MouseRel([0, 1, 1, 0, 0])).unwrap_err();
    assert!(
        matches!(&e, HidError::DeviceMissing(s) if s.contains("mouse_rel")),
        "{e}"
    );
    assert_eq!(hid.name(), "otg");
}

#[test]
fn a_missing_node_is_reported_and_reopened_when_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("hidg0");
    let mut hid = OtgHid::with_nodes(vec![("keyboard", k.clone())]);
    let e = hid.send(&HidReport::Keyboard([0; 8])).unwrap_err();
    assert!(
        matches!(&e, HidError::DeviceMissing(s) if s.contains("hidg0") && s.contains("keyboard")),
        "{e}"
    );
    assert_eq!(hid.poll_leds(), None);
    std::fs::write(&k, b"").unwrap();
    hid.send(&HidReport::Keyboard([0; 8])).unwrap();
    assert_eq!(std::fs::read(&k).unwrap().len(), 8);
}

#[cfg(feature = "gadget")]
#[test]
fn a_host_that_stops_reading_times_out_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("hidg0");
    mkfifo(&k);
    let mut hid = OtgHid::with_nodes(vec![("keyboard", k)]);
    // Nobody reads the FIFO: it fills like an endpoint the host stopped polling.
    let mut failed = None;
    for _ in 0..20_000 {
        let t = Instant::now();
        if let Err(e) = hid.send(&HidReport::Keyboard([0; 8])) {
            failed = Some((e, t.elapsed()));
            break;
        }
    }
    let (e, took) = failed.expect("the FIFO fills up");
    assert!(matches!(e, HidError::HostNotConnected), "{e}");
    assert!(took >= Duration::from_millis(15), "waited {took:?}");
    assert!(took < Duration::from_millis(500), "waited {took:?}");
}

#[cfg(feature = "gadget")]
#[test]
fn led_output_reports_are_read_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("hidg0");
    mkfifo(&k);
    let mut hid = OtgHid::with_nodes(vec![("keyboard", k.clone())]);
    let t = Instant::now();
    assert_eq!(hid.poll_leds(), None, "nothing yet");
    assert!(t.elapsed() < Duration::from_millis(100));
    // The backend holds the FIFO open for reading, so this open does not block.
    let mut host = OpenOptions::new().write(true).open(&k).unwrap();
    host.write_all(&[0x02]).unwrap();
    let caps = Leds {
        caps: true,
        num: false,
        scroll: false,
    };
    assert_eq!(hid.poll_leds(), Some(caps));
    assert_eq!(hid.poll_leds(), None, "unchanged");
    host.write_all(&[0x02]).unwrap();
    assert_eq!(hid.poll_leds(), None, "same state again");
    host.write_all(&[0x01]).unwrap();
    assert_eq!(
        hid.poll_leds(),
        Some(Leds {
            caps: false,
            num: true,
            scroll: false
        })
    );
}

#[cfg(feature = "gadget")]
#[test]
fn open_finds_nodes_through_configfs() {
    let root = tempfile::tempdir().unwrap();
    let e = OtgHid::open(root.path()).unwrap_err();
    assert!(e.to_string().contains("periscope otg up"), "{e}");
    let g = root.path().join(GADGET_DIR);
    std::fs::create_dir_all(g.join("functions/hid.keyboard")).unwrap();
    std::fs::create_dir_all(g.join("functions/hid.mouse_rel")).unwrap();
    std::fs::write(g.join("functions/hid.keyboard/dev"), "239:2\n").unwrap();
    std::fs::write(g.join("functions/hid.mouse_rel/dev"), "239:0\n").unwrap();
    std::fs::create_dir_all(root.path().join("dev")).unwrap();
    std::fs::write(root.path().join("dev/hidg2"), b"").unwrap();
    let mut hid = OtgHid::open(root.path()).unwrap();
    assert_eq!(
        hid.nodes(),
        vec![
            ("keyboard", root.path().join("dev/hidg2").as_path()),
            ("mouse_rel", root.path().join("dev/hidg0").as_path()),
        ]
    );
    hid.send(&HidReport::Keyboard([2, 0, 0x04, 0, 0, 0, 0, 0]))
        .unwrap();
    assert_eq!(
        std::fs::read(root.path().join("dev/hidg2")).unwrap(),
        [2, 0, 0x04, 0, 0, 0, 0, 0]
    );
    // hidg0 does not exist (yet): that report fails, the keyboard keeps working.
    assert!(matches!(
        hid.send(&HidReport::MouseRel([0, 1, 0, 0, 0])),
        Err(HidError::DeviceMissing(_))
    ));
    // No HID functions at all.
    std::fs::remove_dir_all(g.join("functions")).unwrap();
    std::fs::create_dir_all(g.join("functions/acm.usb0")).unwrap();
    let e = OtgHid::open(root.path()).unwrap_err();
    assert!(e.to_string().contains("no hid functions"), "{e}");
}

#[cfg(feature = "gadget")]
#[test]
fn a_udc_that_is_configured_again_reports_a_reconnect() {
    use crate::hid::gadget::plan::UDC_CLASS_DIR;
    let root = tempfile::tempdir().unwrap();
    let g = root.path().join(GADGET_DIR);
    std::fs::create_dir_all(g.join("functions/hid.keyboard")).unwrap();
    std::fs::write(g.join("functions/hid.keyboard/dev"), "239:0\n").unwrap();
    std::fs::write(g.join("UDC"), "dummy_udc.0\n").unwrap();
    let udc = root.path().join(UDC_CLASS_DIR).join("dummy_udc.0");
    std::fs::create_dir_all(&udc).unwrap();
    let state = |s: &str| std::fs::write(udc.join("state"), format!("{s}\n")).unwrap();
    std::fs::create_dir_all(root.path().join("dev")).unwrap();
    std::fs::write(root.path().join("dev/hidg0"), b"").unwrap();
    state("configured");
    let mut hid = OtgHid::open(root.path()).unwrap();
    assert!(
        !hid.poll().reconnected,
        "configured at start is not a reconnect"
    );
    assert!(!hid.poll().reconnected, "unchanged");
    state("not attached");
    let p = hid.poll();
    assert!(!p.reconnected, "detached");
    assert_eq!(p.target_connected, Some(false));
    state("default");
    assert!(!hid.poll().reconnected, "enumerating");
    state("configured");
    let p = hid.poll();
    assert!(p.reconnected, "configured again");
    assert_eq!(p.target_connected, Some(true));
    assert!(!hid.poll().reconnected, "reported once");
    state("suspended");
    assert!(!hid.poll().reconnected);
    state("configured");
    assert!(hid.poll().reconnected, "a resume also gets a release-all");
}
