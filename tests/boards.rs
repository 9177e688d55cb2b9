//! Board detection and doctor over fake system trees (device tree, sysfs, /dev) built in
//! temp dirs: one per shipped profile, one that matches no board, and broken variants whose
//! doctor lines must say what is wrong and how to fix it; then the real binary with --root.

use periscope::board::{self, detect, doctor, snapshot};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fake system tree in a temp dir, laid out as the kernel lays out the parts we read.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        Tree {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.root().join(rel)
    }
    fn file(&self, rel: &str, bytes: &[u8]) -> &Tree {
        let path = self.p(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, bytes).expect("write");
        self
    }
    fn dir(&self, rel: &str) -> &Tree {
        std::fs::create_dir_all(self.p(rel)).expect("mkdir");
        self
    }
    /// A symlink at `rel` pointing at `target` (relative to the root), made absolute.
    fn link(&self, rel: &str, target: &str) -> &Tree {
        let path = self.p(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        symlink(self.p(target), path).expect("symlink");
        self
    }
    /// /proc/device-tree model and compatible (NUL-terminated, as the kernel writes them).
    fn dt(&self, model: &str, compatible: &[&str]) -> &Tree {
        let compat: Vec<u8> = compatible
            .iter()
            .flat_map(|c| c.bytes().chain([0]))
            .collect();
        self.file("proc/device-tree/model", format!("{model}\0").as_bytes())
            .file("proc/device-tree/compatible", &compat)
    }
    /// A device-tree node with string properties.
    fn dt_node(&self, path: &str, props: &[(&str, &str)]) -> &Tree {
        self.dir(&format!("proc/device-tree/{path}"));
        for (k, v) in props {
            self.file(
                &format!("proc/device-tree/{path}/{k}"),
                format!("{v}\0").as_bytes(),
            );
        }
        self
    }
    /// A platform video node (unicam, rkisp, vivid): sysfs dirs, class link, /dev node.
    fn platform_video(&self, n: u32, dev: &str, name: &str, driver: &str) -> &Tree {
        let d = format!("sys/devices/platform/soc/{dev}");
        let v = format!("{d}/video4linux/video{n}");
        self.link(
            &format!("{d}/driver"),
            &format!("sys/bus/platform/drivers/{driver}"),
        )
        .file(&format!("{v}/name"), format!("{name}\n").as_bytes())
        .link(&format!("{v}/device"), &d)
        .link(&format!("sys/class/video4linux/video{n}"), &v)
        .file(&format!("dev/video{n}"), b"")
    }
    /// A UVC dongle: USB device with ids, interface bound to uvcvideo, its video node.
    fn uvc(&self, n: u32, bus: &str, id: (&str, &str), product: &str) -> &Tree {
        let d = format!("sys/devices/platform/usb/usb1/{bus}");
        let i = format!("{d}/{bus}:1.0");
        let v = format!("{i}/video4linux/video{n}");
        self.file(&format!("{d}/idVendor"), format!("{}\n", id.0).as_bytes())
            .file(&format!("{d}/idProduct"), format!("{}\n", id.1).as_bytes())
            .file(&format!("{d}/product"), format!("{product}\n").as_bytes())
            .link(&format!("sys/bus/usb/devices/{bus}"), &d)
            .link(&format!("{i}/driver"), "sys/bus/usb/drivers/uvcvideo")
            .file(
                &format!("{v}/name"),
                format!("{product}: {product}\n").as_bytes(),
            )
            .link(&format!("{v}/device"), &i)
            .link(&format!("sys/class/video4linux/video{n}"), &v)
            .file(&format!("dev/video{n}"), b"")
    }
    /// An I²C device bound to `driver` (`sys/bus/i2c/drivers/DRIVER/BUS-ADDR`).
    fn i2c(&self, driver: &str, dev: &str) -> &Tree {
        let d = format!("sys/devices/platform/soc/i2c/{dev}");
        self.dir(&d)
            .file(&format!("sys/bus/i2c/drivers/{driver}/bind"), b"")
            .link(&format!("sys/bus/i2c/drivers/{driver}/{dev}"), &d)
    }
    /// A UDC and the configfs gadget directory.
    fn udc(&self, name: &str) -> &Tree {
        self.dir(&format!("sys/class/udc/{name}"))
            .dir("sys/kernel/config/usb_gadget")
    }
    fn snapshot(&self) -> snapshot::Snapshot {
        snapshot::read(self.root())
    }
}

const PI4: (&str, &[&str]) = (
    "Raspberry Pi 4 Model B Rev 1.4",
    &["raspberrypi,4-model-b", "brcm,bcm2711"],
);

fn pi4_base(t: &Tree) {
    t.dt(PI4.0, PI4.1)
        .dt_node(
            "soc/usb@7e980000",
            &[("dr_mode", "peripheral"), ("status", "okay")],
        )
        .platform_video(10, "bcm2835-codec", "bcm2835-codec-decode", "bcm2835-codec")
        .udc("fe980000.usb");
}

fn pi4_tc358743() -> Tree {
    let t = Tree::new();
    pi4_base(&t);
    t.dt_node("soc/i2c0mux/i2c@1/tc358743@f", &[("status", "okay")])
        .i2c("tc358743", "10-000f")
        .platform_video(0, "fe801000.csi", "unicam-image", "unicam");
    t
}

fn pi4_ms2109() -> Tree {
    let t = Tree::new();
    pi4_base(&t);
    t.uvc(0, "1-1.2", ("534d", "2109"), "USB Video");
    t
}

const ZERO2W: (&str, &[&str]) = (
    "Raspberry Pi Zero 2 W Rev 1.0",
    &["raspberrypi,model-zero-2-w", "brcm,bcm2837"],
);

/// The Zero 2 W as it must be set up: its one data port is a host (the default dwc_otg
/// driver, no dwc2 overlay) with the dongle on it, and no UDC.
fn zero2w_ms2109() -> Tree {
    let t = Tree::new();
    t.dt(ZERO2W.0, ZERO2W.1)
        .dt_node(
            "soc/usb@7e980000",
            &[("compatible", "brcm,bcm2708-usb"), ("status", "okay")],
        )
        .uvc(0, "1-1", ("534d", "2109"), "USB Video");
    t
}

/// Radxa Zero 3W on the Rockchip vendor kernel (Radxa OS, Armbian vendor): the OTG controller
/// is /usbdrd/dwc3@fcc00000, the bridge's driver tc35874x, the capture node rkisp's.
fn radxa_tc358743(dr_mode: &str) -> Tree {
    let t = Tree::new();
    t.dt("Radxa ZERO 3", &["radxa,zero3", "rockchip,rk3566"])
        .dt_node(
            "usbdrd/dwc3@fcc00000",
            &[("dr_mode", dr_mode), ("status", "okay")],
        )
        .dt_node("i2c@fe5a0000/tc35874x@f", &[("status", "okay")])
        .i2c("tc35874x", "2-000f")
        .platform_video(0, "ffca0000.isp", "rkisp_mainpath", "rkisp")
        .udc("fcc00000.usb");
    t
}

/// Radxa Zero 3W on mainline (Armbian current/edge): usb@fcc00000 already in peripheral mode,
/// the bridge's driver tc358743, the capture node rkcif's (rockchip-cif).
fn radxa_mainline() -> Tree {
    let t = Tree::new();
    t.dt("Radxa ZERO 3W", &["radxa,zero-3w", "rockchip,rk3566"])
        .dt_node(
            "usb@fcc00000",
            &[("dr_mode", "peripheral"), ("status", "okay")],
        )
        .dt_node("i2c@fe5a0000/tc358743@f", &[("status", "okay")])
        .i2c("tc358743", "2-000f")
        .platform_video(0, "fdfe0000.video-capture", "rockchip-cif", "rockchip-cif")
        .udc("fcc00000.usb");
    t
}

fn x86_uvc() -> Tree {
    let t = Tree::new();
    t.uvc(0, "3-2", ("345f", "2130"), "USB3 Video");
    t
}

fn detected(t: &Tree) -> detect::Detection {
    let profiles = board::shipped().expect("shipped profiles");
    detect::detect(&t.snapshot(), &profiles)
}

fn has(reasons: &[String], needle: &str) -> bool {
    reasons.iter().any(|r| r.contains(needle))
}

#[test]
fn every_board_profile_is_detected_from_its_tree() {
    let cases: [(Tree, &str, &[&str]); 7] = [
        (
            pi4_tc358743(),
            "rpi4-tc358743",
            &[
                "\"Raspberry Pi 4 Model B\"",
                "10-000f is bound to the tc358743",
                "unicam",
            ],
        ),
        (pi4_ms2109(), "rpi4-ms2109", &["534d:2109", "1-1.2"]),
        (
            zero2w_ms2109(),
            "rpi-zero2w-ms2109",
            &["Raspberry Pi Zero 2 W", "534d:2109"],
        ),
        (
            radxa_tc358743("otg"),
            "radxa-zero3w-tc358743",
            &[
                "Radxa ZERO 3",
                "2-000f is bound to the tc35874x driver",
                "rkisp",
            ],
        ),
        (
            radxa_mainline(),
            "radxa-zero3w-tc358743",
            &[
                "\"Radxa ZERO 3W\" contains \"Radxa ZERO 3\"",
                "2-000f is bound to the tc358743 driver",
                "driver rockchip-cif",
            ],
        ),
        (
            x86_uvc(),
            "generic-uvc",
            &["no device tree", "driver uvcvideo"],
        ),
        (Tree::new(), "test-pattern", &["no V4L2 capture device"]),
    ];
    for (tree, want, facts) in cases {
        let d = detected(&tree);
        assert_eq!(d.profile, want, "{:#?}", d.reasons);
        for f in facts {
            assert!(
                has(&d.reasons, f),
                "{want}: no reason with {f:?}: {:#?}",
                d.reasons
            );
        }
    }
}

#[test]
fn a_machine_no_profile_fits_falls_back_and_says_why() {
    let t = Tree::new();
    t.dt(
        "Pine64 RockPro64 v2.1",
        &["pine64,rockpro64", "rockchip,rk3399"],
    )
    .platform_video(0, "vivid.0", "vivid-000-vid-cap", "vivid");
    let d = detected(&t);
    assert_eq!(d.profile, "generic-uvc");
    assert!(
        has(&d.reasons, "no profile's [board] matches"),
        "{:#?}",
        d.reasons
    );
    assert!(has(&d.reasons, "RockPro64"), "{:#?}", d.reasons);
    assert!(has(&d.reasons, "fallback"), "{:#?}", d.reasons);
    // Only a codec node (a Pi 3's bcm2835-codec) is not a capture device.
    let t = Tree::new();
    t.dt("Raspberry Pi 3 Model B Rev 1.2", &["raspberrypi,3-model-b"])
        .platform_video(10, "codec", "bcm2835-codec-decode", "bcm2835-codec");
    assert_eq!(detected(&t).profile, "test-pattern");
}

#[test]
fn a_known_board_without_its_capture_device_keeps_its_profile() {
    let t = Tree::new();
    pi4_base(&t);
    let d = detected(&t);
    assert_eq!(d.profile, "rpi4-tc358743");
    assert!(
        has(&d.reasons, "none of this board's capture devices"),
        "{:#?}",
        d.reasons
    );
    // A Radxa with a UVC dongle instead of its bridge: the dongle's generic profile.
    let t = Tree::new();
    t.dt("Radxa ZERO 3", &["radxa,zero3"])
        .uvc(0, "1-1", ("534d", "2109"), "USB Video");
    let d = detected(&t);
    assert_eq!(d.profile, "generic-uvc", "{:#?}", d.reasons);
    assert!(
        has(&d.reasons, "recognised for radxa-zero3w-tc358743"),
        "{:#?}",
        d.reasons
    );
}

#[test]
fn compatible_alone_is_enough_and_the_fdt_path_is_read_too() {
    let t = Tree::new();
    t.file(
        "sys/firmware/devicetree/base/compatible",
        b"raspberrypi,model-zero-2-w\0brcm,bcm2837\0",
    )
    .uvc(0, "1-1", ("534d", "2109"), "USB Video");
    let d = detected(&t);
    assert_eq!(d.profile, "rpi-zero2w-ms2109", "{:#?}", d.reasons);
    assert!(has(
        &d.reasons,
        "compatible lists \"raspberrypi,model-zero-2-w\""
    ));
    // Mainline's Radxa ZERO 3E by its compatible string alone.
    let t = Tree::new();
    t.file(
        "proc/device-tree/compatible",
        b"radxa,zero-3e\0rockchip,rk3566\0",
    )
    .i2c("tc358743", "2-000f");
    let d = detected(&t);
    assert_eq!(d.profile, "radxa-zero3w-tc358743", "{:#?}", d.reasons);
    assert!(has(&d.reasons, "\"radxa,zero-3e\""), "{:#?}", d.reasons);
}

const ROOT: snapshot::Identity = snapshot::Identity {
    uid: 0,
    gids: Vec::new(),
};

fn doctor_of(t: &Tree, profile: &str) -> Vec<doctor::Check> {
    let p = periscope::profile::by_name(profile).expect("profile");
    doctor::check(&p, &t.snapshot(), &ROOT)
}

fn fail_with<'a>(checks: &'a [doctor::Check], what: &str) -> &'a doctor::Check {
    checks
        .iter()
        .find(|c| c.status == doctor::Status::Fail && c.what.contains(what))
        .unwrap_or_else(|| panic!("no FAIL with {what:?}:\n{}", doctor::render(checks)))
}

#[test]
fn healthy_trees_pass_doctor() {
    let cases = [
        (pi4_tc358743(), "rpi4-tc358743"),
        (pi4_ms2109(), "rpi4-ms2109"),
        (zero2w_ms2109(), "rpi-zero2w-ms2109"),
        (radxa_tc358743("otg"), "radxa-zero3w-tc358743"),
        (radxa_tc358743("peripheral"), "radxa-zero3w-tc358743"),
        (radxa_mainline(), "radxa-zero3w-tc358743"),
        (x86_uvc(), "generic-uvc"),
        (Tree::new(), "test-pattern"),
    ];
    for (t, name) in cases {
        let checks = doctor_of(&t, name);
        assert!(
            !doctor::failed(&checks),
            "{name}:\n{}",
            doctor::render(&checks)
        );
    }
    let report = doctor::render(&doctor_of(&pi4_tc358743(), "rpi4-tc358743"));
    for line in [
        "ok   overlay tc358743: node soc/i2c0mux/i2c@1/tc358743@f present",
        "ok   overlay dwc2: node soc/usb@7e980000 has dr_mode = peripheral",
        "ok   video: /dev/video0 is \"unicam-image\", driver unicam",
        "ok   udc: fe980000.usb present (budget 9 endpoints)",
        "skip edid: not checkable offline",
        "warn hid: no /dev/hidg* yet",
    ] {
        assert!(report.contains(line), "no {line:?} in\n{report}");
    }
}

#[test]
fn a_missing_overlay_fails_with_its_snippet() {
    let t = Tree::new();
    pi4_base(&t);
    let checks = doctor_of(&t, "rpi4-tc358743");
    let c = fail_with(&checks, "overlay tc358743: no device-tree node tc358743");
    let fix = c.fix.as_deref().unwrap_or("");
    assert!(
        fix.contains("add `dtoverlay=tc358743` to /boot/firmware/config.txt"),
        "{fix}"
    );
    assert!(fail_with(&checks, "bridge: no I2C device").fix.is_some());
    let fix = fail_with(&checks, "video: no /dev/video0")
        .fix
        .clone()
        .unwrap_or_default();
    assert!(fix.contains("tc358743"), "{fix}");
    // Radxa with the USB port left in host mode.
    let checks = doctor_of(&radxa_tc358743("host"), "radxa-zero3w-tc358743");
    let c = fail_with(
        &checks,
        "node usbdrd/dwc3@fcc00000 has dr_mode = host, expected peripheral or otg",
    );
    let fix = c.fix.as_deref().unwrap_or("");
    assert!(
        fix.contains("add `overlays=dwc3-peripheral` to /boot/armbianEnv.txt")
            && fix.contains("rsetup"),
        "{fix}"
    );
}

#[test]
fn the_radxa_profile_takes_vendor_and_mainline_names() {
    for (t, node, bridge) in [
        (radxa_tc358743("otg"), "usbdrd/dwc3@fcc00000", "tc35874x"),
        (radxa_mainline(), "usb@fcc00000", "tc358743"),
    ] {
        let report = doctor::render(&doctor_of(&t, "radxa-zero3w-tc358743"));
        for line in [
            format!("ok   overlay usb-otg: node {node} has dr_mode = "),
            format!("ok   overlay tc358743: node i2c@fe5a0000/{bridge}@f present"),
            format!("ok   bridge: I2C device 2-000f bound to {bridge}"),
        ] {
            assert!(report.contains(&line), "no {line:?} in\n{report}");
        }
    }
    // Neither bridge driver bound, no bridge node: both names in the failure and the fix.
    let t = Tree::new();
    t.dt("Radxa ZERO 3", &["radxa,zero3"])
        .dt_node("usbdrd/dwc3@fcc00000", &[("dr_mode", "peripheral")])
        .udc("fcc00000.usb");
    let checks = doctor_of(&t, "radxa-zero3w-tc358743");
    let c = fail_with(
        &checks,
        "overlay tc358743: no device-tree node tc358743 or tc35874x",
    );
    let fix = c.fix.as_deref().unwrap_or("");
    assert!(
        fix.contains("user_overlays=rk3566-tc358743-i2c2")
            && fix.contains("rockchip,camera-module-index"),
        "{fix}"
    );
    let c = fail_with(
        &checks,
        "bridge: no I2C device bound to the tc35874x or tc358743 driver",
    );
    let fix = c.fix.as_deref().unwrap_or("");
    assert!(fix.contains("grep -E 'tc35874x|tc358743'"), "{fix}");
}

#[test]
fn the_zero_2w_hosts_its_dongle_and_needs_a_serial_hid() {
    let p = periscope::profile::by_name("rpi-zero2w-ms2109").expect("profile");
    assert_eq!(p.usb, None, "no gadget: the one data port hosts the dongle");
    // --hid auto never tries OTG with this profile, even where a UDC shows up.
    let t = zero2w_ms2109();
    t.udc("3f980000.usb");
    assert_eq!(
        periscope::hid::resolve_auto(t.root(), &p),
        periscope::hid::HidChoice::None,
        "no serial port yet: none"
    );
    // With the UART enabled, --hid auto is the profile's CH9329.
    t.file("dev/ttyS0", b"").link("dev/serial0", "dev/ttyS0");
    assert_eq!(
        periscope::hid::resolve_auto(t.root(), &p),
        periscope::hid::HidChoice::Ch9329("/dev/serial0".into())
    );
    let checks = doctor_of(&zero2w_ms2109(), "rpi-zero2w-ms2109");
    let report = doctor::render(&checks);
    assert!(!doctor::failed(&checks), "{report}");
    assert!(
        !report.contains("udc:") && !report.contains("overlay"),
        "{report}"
    );
    let hid = checks
        .iter()
        .find(|c| c.what.starts_with("hid: the profile has no [usb] gadget"))
        .unwrap_or_else(|| panic!("no hid line in\n{report}"));
    assert_eq!(hid.status, doctor::Status::Warn);
    assert!(
        hid.fix
            .as_deref()
            .unwrap_or("")
            .contains("--hid ch9329:/dev/ttyX (/dev/serial0"),
        "{report}"
    );
    // The old setup (dwc2 in peripheral mode): no dongle, and the fix says why.
    let t = Tree::new();
    t.dt(ZERO2W.0, ZERO2W.1)
        .dt_node("soc/usb@7e980000", &[("dr_mode", "peripheral")])
        .udc("3f980000.usb");
    let checks = doctor_of(&t, "rpi-zero2w-ms2109");
    let fix = fail_with(&checks, "usb: no USB device 534d:2109")
        .fix
        .clone()
        .unwrap_or_default();
    assert!(
        fix.contains("USB port in host mode")
            && fix.contains("soc/usb@7e980000 has dr_mode = peripheral")
            && fix.contains("dtoverlay=dwc2,dr_mode=peripheral"),
        "{fix}"
    );
    // Detection still picks the profile from the board and the dongle.
    assert_eq!(detected(&t).profile, "rpi-zero2w-ms2109");
}

#[test]
fn a_missing_video_node_or_udc_fails_with_the_fix() {
    let t = Tree::new();
    t.dt(PI4.0, PI4.1)
        .dt_node("soc/usb@7e980000", &[("dr_mode", "peripheral")]);
    let checks = doctor_of(&t, "rpi4-ms2109");
    let fix = fail_with(&checks, "usb: no USB device 534d:2109")
        .fix
        .clone();
    assert!(fix.unwrap_or_default().contains("lsusb"));
    fail_with(&checks, "video: no /dev/video0");
    let c = fail_with(&checks, "udc: no USB device controller");
    let fix = c.fix.as_deref().unwrap_or("");
    assert!(fix.contains("dtoverlay=dwc2,dr_mode=peripheral"), "{fix}");
    fail_with(&checks, "configfs: no /sys/kernel/config/usb_gadget");
    // The video node is there but another driver holds it.
    let t = pi4_ms2109();
    std::fs::remove_file(t.p("sys/class/video4linux/video0")).expect("rm");
    t.platform_video(0, "fe801000.csi", "unicam-image", "unicam")
        .uvc(1, "1-1.3", ("534d", "2109"), "USB Video");
    let checks = doctor_of(&t, "rpi4-ms2109");
    let c = fail_with(&checks, "driver unicam, expected uvcvideo");
    assert!(
        c.fix.as_deref().unwrap_or("").contains("/dev/video1"),
        "{:?}",
        c.fix
    );
}

#[test]
fn permissions_come_from_the_trees_modes() {
    let t = pi4_ms2109();
    let video = t.p("dev/video0");
    std::fs::set_permissions(&video, std::fs::Permissions::from_mode(0o660)).expect("chmod");
    let owner = std::fs::metadata(&video).expect("meta").uid();
    let p = periscope::profile::by_name("rpi4-ms2109").expect("profile");
    let stranger = snapshot::Identity {
        uid: owner + 1,
        gids: vec![owner + 12345],
    };
    let checks = doctor::check(&p, &t.snapshot(), &stranger);
    let c = fail_with(&checks, "permissions: /dev/video0 mode 0660");
    assert!(
        c.fix.as_deref().unwrap_or("").contains("udev"),
        "{:?}",
        c.fix
    );
    fail_with(
        &checks,
        "configfs: /sys/kernel/config/usb_gadget not writable",
    );
    assert_eq!(
        snapshot::parse_status(
            "Uid:\t1000\t1001\t1000\t1000\nGid:\t44\t44\t44\t44\nGroups:\t27 44 \n"
        ),
        Some(snapshot::Identity {
            uid: 1001,
            gids: vec![44, 44, 27, 44]
        })
    );
}

fn run(args: &[&str], root: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_periscope"))
        .args(args)
        .arg("--root")
        .arg(root)
        .env("PERISCOPE_LOG", "error")
        .output()
        .expect("run periscope");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn cli_detect_prints_the_profile_and_why() {
    let (code, out) = run(&["detect"], pi4_tc358743().root());
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("profile: rpi4-tc358743 ("), "{out}");
    assert!(out.contains("because board: device-tree model"), "{out}");
    assert!(out.contains("tc358743 driver"), "{out}");
    let (code, out) = run(&["detect"], Tree::new().root());
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("profile: test-pattern"), "{out}");
    assert!(out.contains("no V4L2 capture device"), "{out}");
}

#[test]
fn cli_doctor_exits_non_zero_on_a_failure_and_prints_the_fix() {
    let (code, out) = run(&["doctor"], radxa_tc358743("otg").root());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("profile radxa-zero3w-tc358743 detected"),
        "{out}"
    );
    assert!(out.contains("ok   overlay tc358743"), "{out}");
    let t = Tree::new();
    pi4_base(&t);
    let (code, out) = run(&["doctor", "--profile", "rpi4-tc358743"], t.root());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL overlay tc358743"), "{out}");
    assert!(
        out.contains("     fix: add `dtoverlay=tc358743` to /boot/firmware/config.txt"),
        "{out}"
    );
    let (code, out) = run(&["doctor"], Tree::new().root());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("profile test-pattern"), "{out}");
}

#[test]
fn malformed_sysfs_contents_are_absent_facts_not_panics() {
    let t = Tree::new();
    t.file("proc/device-tree/model", b"\xff\xfe\0")
        .file("proc/device-tree/compatible", b"")
        .file("sys/bus/usb/devices/1-1/idVendor", b"zzzz\n")
        .file("sys/bus/usb/devices/1-1/idProduct", b"\n")
        .file("sys/class/video4linux/video0/name", b"")
        .file("sys/bus/i2c/drivers/tc358743/-", b"")
        .dir("sys/class/udc");
    let s = t.snapshot();
    assert!(s.usb_devices.is_empty() && s.i2c_bound.is_empty(), "{s:?}");
    assert_eq!(s.videos[0].driver, None);
    let d = detected(&t);
    assert_eq!(d.profile, "generic-uvc", "{:#?}", d.reasons);
    let checks = doctor_of(&t, "rpi4-ms2109");
    fail_with(&checks, "video: /dev/video0 has no device node");
    fail_with(&checks, "udc: no USB device controller");
}

/// On the live system the doctor also reads the open device: formats against the profile's,
/// the HDMI input's EDID against the profile's, and the signal. Each state gets its line and
/// fix.
#[test]
fn live_device_reports_check_formats_edid_and_signal() {
    use periscope::media::capture::{DeviceReport, HdmiReport, SignalReport};
    use periscope::media::PixelFormat::{Mjpeg, Uyvy, Yuyv};
    let t = pi4_tc358743();
    let p = periscope::profile::by_name("rpi4-tc358743").expect("profile");
    let ours = periscope::media::edid::builtin("1080p50").expect("edid");
    let hdmi = |edid: Option<Vec<u8>>, signal| {
        Ok(DeviceReport {
            driver: "unicam".into(),
            card: "unicam".into(),
            formats: vec![Yuyv, Uyvy],
            hdmi: Some(HdmiReport { edid, signal }),
        })
    };
    let run = |live: Result<DeviceReport, String>| {
        doctor::check_live(&p, &t.snapshot(), &ROOT, Some(&live))
    };
    let good = run(hdmi(
        Some(ours.clone()),
        SignalReport::Locked("1920x1080p50".into()),
    ));
    let text = doctor::render(&good);
    assert!(!doctor::failed(&good), "{text}");
    for line in [
        "ok   formats: UYVY offered (the profile's first choice)",
        "ok   edid: the profile's (\"periscope\", preferred 1920x1080@50)",
        "ok   signal: 1920x1080p50",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    assert!(!text.contains("skip"), "nothing skipped when live:\n{text}");

    let none = run(hdmi(None, SignalReport::NoSignal));
    let edid = fail_with(&none, "edid: none set");
    assert!(edid
        .fix
        .as_deref()
        .unwrap_or("")
        .contains("--set-edid=file="));
    let signal = fail_with(&none, "signal: none (ENOLINK)");
    assert!(signal.fix.as_deref().unwrap_or("").contains("HDMI cable"));
    let range = run(hdmi(
        Some(periscope::media::edid::builtin("1080p60").expect("edid")),
        SignalReport::OutOfRange(Some("3840x2160p30".into())),
    ));
    fail_with(&range, "signal: out of range (3840x2160p30)");
    let other = range
        .iter()
        .find(|c| c.what.starts_with("edid:"))
        .expect("edid line");
    assert_eq!(
        other.status,
        doctor::Status::Warn,
        "{}",
        doctor::render(&range)
    );
    fail_with(
        &run(hdmi(Some(ours), SignalReport::NoSync)),
        "no sync (ENOLCK)",
    );

    let uvc = Ok(DeviceReport {
        driver: "uvcvideo".into(),
        card: "USB Video".into(),
        formats: vec![Mjpeg],
        hdmi: None,
    });
    let wrong = run(uvc);
    fail_with(
        &wrong,
        "formats: none of UYVY offered by uvcvideo (offers: MJPG)",
    );
    fail_with(&wrong, "has no HDMI (DV timings) input");
    fail_with(
        &run(Err("no such device".into())),
        "cannot be asked: no such device",
    );
}

// ---- periscope install ----------------------------------------------------------------

/// `periscope install ARGS --root T` with --no-start, as the tests never touch the live system.
fn install(t: &Tree, args: &[&str]) -> (i32, String) {
    let mut all = vec!["install", "--no-start"];
    all.extend_from_slice(args);
    run(&all, t.root())
}

fn read(t: &Tree, rel: &str) -> String {
    std::fs::read_to_string(t.p(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// systemd's own check of the unit, over the tree with this machine's system units copied
/// in (the unit's dependencies); warnings count as failures. None: no systemd-analyze here.
fn systemd_verify(t: &Tree) -> Option<String> {
    let units = Path::new("/lib/systemd/system");
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
        || !units.is_dir()
    {
        return None;
    }
    t.dir("tmp").dir("lib/systemd");
    let ok = Command::new("cp")
        .arg("-r")
        .arg(units)
        .arg(t.p("lib/systemd/"))
        .status()
        .expect("cp")
        .success();
    assert!(ok, "copying the system units");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", t.root().display()))
        .arg("/etc/systemd/system/periscope.service")
        .output()
        .expect("systemd-analyze runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify: {}\n{text}",
        out.status
    );
    Some(text)
}

#[test]
fn cli_install_sets_a_pi_up_for_boot_and_a_second_run_changes_nothing() {
    let t = pi4_tc358743();
    // Raspberry Pi OS's file ends in a model section: lines after it apply to that model only.
    let original = "dtparam=audio=on\n[cm4]\notg_mode=1\n";
    t.file("boot/firmware/config.txt", original.as_bytes());
    let (code, out) = install(&t, &["--apply-overlays"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("profile: rpi4-tc358743 ("), "{out}");
    assert!(out.contains("  because board: device-tree model"), "{out}");
    assert!(out.contains("reboot for the boot configuration"), "{out}");
    assert!(out.contains("systemd: not started (--root"), "{out}");

    // The binary, executable, byte for byte this one.
    let bin = t.p("usr/local/bin/periscope");
    assert_eq!(
        std::fs::read(&bin).expect("installed binary"),
        std::fs::read(env!("CARGO_BIN_EXE_periscope")).expect("this binary")
    );
    assert_eq!(std::fs::metadata(&bin).unwrap().mode() & 0o777, 0o755);
    // The config names the detected profile; the unit runs serve with it.
    let config = read(&t, "etc/periscope/periscope.toml");
    assert!(
        config.contains("\nprofile = \"rpi4-tc358743\"\n"),
        "{config}"
    );
    let unit = read(&t, "etc/systemd/system/periscope.service");
    assert!(
        unit.contains(
            "\nExecStart=/usr/local/bin/periscope serve --config /etc/periscope/periscope.toml\n"
        ),
        "{unit}"
    );
    // Both overlays, under [all], and the user's file kept as a backup.
    assert_eq!(
        read(&t, "boot/firmware/config.txt"),
        format!(
            "{original}\n[all]\n# added by periscope install (rpi4-tc358743)\ndtoverlay=tc358743\n\
             # added by periscope install (rpi4-tc358743)\ndtoverlay=dwc2,dr_mode=peripheral\n"
        )
    );
    assert_eq!(
        read(&t, "boot/firmware/config.txt.periscope-backup"),
        original
    );
    // The config the unit names is one the daemon reads: doctor takes it and its profile.
    let (_, doc) = run(
        &[
            "doctor",
            "--config",
            &t.p("etc/periscope/periscope.toml").display().to_string(),
        ],
        t.root(),
    );
    assert!(
        doc.contains("profile rpi4-tc358743"),
        "doctor with the written config: {doc}"
    );
    match systemd_verify(&t) {
        Some(_) => {}
        None => println!("SKIPPED: systemd-analyze verify (no systemd-analyze here)"),
    }

    // Again: nothing changes, and it says why.
    let edited = read(&t, "boot/firmware/config.txt");
    std::fs::write(
        t.p("etc/periscope/periscope.toml"),
        "profile = \"generic-uvc\"\n",
    )
    .unwrap();
    let (code, out) = install(&t, &["--apply-overlays"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(read(&t, "boot/firmware/config.txt"), edited);
    assert_eq!(
        read(&t, "boot/firmware/config.txt.periscope-backup"),
        original,
        "the first backup stays the user's own file"
    );
    assert!(
        out.contains("boot: /boot/firmware/config.txt already has `dtoverlay=tc358743`"),
        "{out}"
    );
    assert!(!out.contains("reboot"), "{out}");
    assert!(
        out.contains("kept /etc/periscope/periscope.toml (yours"),
        "{out}"
    );
    assert_eq!(
        read(&t, "etc/periscope/periscope.toml"),
        "profile = \"generic-uvc\"\n"
    );

    // --remove takes the unit away and keeps the rest.
    let (code, out) = run(&["install", "--remove"], t.root());
    assert_eq!(code, 0, "{out}");
    assert!(!t.p("etc/systemd/system/periscope.service").exists());
    assert!(t.p("etc/periscope/periscope.toml").exists() && bin.exists());
    assert!(
        out.contains("removed /etc/systemd/system/periscope.service"),
        "{out}"
    );
}

#[test]
fn cli_install_without_apply_overlays_only_says_what_the_boot_config_needs() {
    let t = pi4_ms2109();
    // An older Raspberry Pi OS: /boot/config.txt, with dwc2 already there in otg mode.
    t.file("boot/config.txt", b"[all]\ndtoverlay=dwc2\n");
    let (code, out) = install(&t, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("profile: rpi4-ms2109 ("), "{out}");
    assert!(
        out.contains("boot: /boot/config.txt already has `dtoverlay=dwc2` (dwc2)"),
        "{out}"
    );
    assert_eq!(read(&t, "boot/config.txt"), "[all]\ndtoverlay=dwc2\n");
    assert!(!t.p("boot/config.txt.periscope-backup").exists());

    let t = pi4_tc358743();
    t.file("boot/firmware/config.txt", b"");
    let (code, out) = install(&t, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(
            "boot: /boot/firmware/config.txt needs `dtoverlay=tc358743` (tc358743): add it, or \
             run again with --apply-overlays"
        ),
        "{out}"
    );
    assert_eq!(read(&t, "boot/firmware/config.txt"), "");
    assert!(!out.contains("reboot"), "{out}");
}

#[test]
fn cli_install_on_a_radxa_joins_armbians_overlays_and_leaves_the_user_overlay_to_the_user() {
    let t = radxa_tc358743("host");
    t.file(
        "boot/armbianEnv.txt",
        b"verbosity=1\noverlay_prefix=rk35xx\noverlays=i2c2-m0\nrootdev=UUID=1234\n",
    );
    let (code, out) = install(&t, &["--apply-overlays"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("profile: radxa-zero3w-tc358743 ("), "{out}");
    assert_eq!(
        read(&t, "boot/armbianEnv.txt"),
        "verbosity=1\noverlay_prefix=rk35xx\noverlays=i2c2-m0 dwc3-peripheral\nrootdev=UUID=1234\n"
    );
    assert!(
        out.contains("boot: by hand, tc358743: add `user_overlays=rk3566-tc358743-i2c2`"),
        "{out}"
    );
    assert!(out.contains("reboot"), "{out}");

    // No boot file at all (a board image laid out otherwise): said, not invented.
    let t = radxa_tc358743("host");
    let (code, out) = install(&t, &["--apply-overlays"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("boot: /boot/armbianEnv.txt not found: add `overlays=dwc3-peripheral`"),
        "{out}"
    );
    assert!(!t.p("boot/armbianEnv.txt").exists());
}

#[test]
fn cli_install_refuses_an_unknown_profile() {
    let t = Tree::new();
    let (code, out) = install(&t, &["--profile", "no-such-board"]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("install:") && out.contains("no-such-board"),
        "{out}"
    );
    assert!(!t.p("etc/systemd/system/periscope.service").exists());
}
