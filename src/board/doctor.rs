//! Checking a profile's expectations against a `Snapshot` (pure): the board, each overlay,
//! the capture device and its driver, the bridge or USB dongle, the UDC, configfs and the
//! permissions of the device nodes. Each check is one line (ok / FAIL / warn / skip) and a
//! failure carries its fix. What sysfs cannot show (formats, EDID, signal) comes from a
//! [`DeviceReport`] of the open device when the doctor runs on the live system (`--root /`);
//! on another tree it is said to be checked at start, never guessed. Reads nothing itself.

use super::detect::board_reason;
use super::snapshot::{FileMeta, Identity, Snapshot};
use super::spec::Overlay;
use crate::media::capture::{DeviceReport, SignalReport};
use crate::media::edid;
use crate::profile::HwProfile;

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// As expected.
    Ok,
    /// Wrong: periscope will not work as the profile says until it is fixed.
    Fail,
    /// Worth knowing; not fatal.
    Warn,
    /// Cannot be checked from the tree (checked at start instead).
    Skip,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Warn => "warn",
            Status::Skip => "skip",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Outcome.
    pub status: Status,
    /// What was checked and what was found.
    pub what: String,
    /// How to fix it (failures and warnings).
    pub fix: Option<String>,
}

fn line(status: Status, what: impl Into<String>, fix: Option<String>) -> Check {
    Check {
        status,
        what: what.into(),
        fix,
    }
}

/// Every check of `p` against `s`, run as `me` (formats, EDID and signal skipped).
pub fn check(p: &HwProfile, s: &Snapshot, me: &Identity) -> Vec<Check> {
    check_live(p, s, me, None)
}

/// Every check of `p` against `s`, run as `me`; `live` is what the capture device itself
/// said (or why it could not be asked), on the live system.
pub fn check_live(
    p: &HwProfile,
    s: &Snapshot,
    me: &Identity,
    live: Option<&Result<DeviceReport, String>>,
) -> Vec<Check> {
    let mut out = Vec::new();
    board(p, s, &mut out);
    for o in &p.overlays {
        out.push(overlay(o, s));
    }
    capture(p, s, me, live, &mut out);
    usb(p, s, me, &mut out);
    out
}

/// True when any check failed.
pub fn failed(checks: &[Check]) -> bool {
    checks.iter().any(|c| c.status == Status::Fail)
}

/// The report: one line per check, each fix indented below it, then the totals.
pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        out.push_str(&format!("{:<4} {}\n", c.status.label(), c.what));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("     fix: {fix}\n"));
        }
    }
    let fails = checks.iter().filter(|c| c.status == Status::Fail).count();
    let warns = checks.iter().filter(|c| c.status == Status::Warn).count();
    out.push_str(&format!("doctor: {fails} failed, {warns} warnings\n"));
    out
}

fn board(p: &HwProfile, s: &Snapshot, out: &mut Vec<Check>) {
    let Some(b) = &p.board else {
        out.push(line(
            Status::Ok,
            "board: any machine (the profile has no [board])",
            None,
        ));
        return;
    };
    match board_reason(p, s) {
        Some(why) => out.push(line(Status::Ok, format!("board: {why}"), None)),
        None => out.push(line(
            Status::Warn,
            format!(
                "board: this machine ({}) is not one the profile names ({})",
                s.model.as_deref().unwrap_or("no device-tree model"),
                b.model
                    .iter()
                    .chain(&b.compatible)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some("run `periscope detect` to see which profile fits this machine".into()),
        )),
    }
}

fn overlay(o: &Overlay, s: &Snapshot) -> Check {
    let mut fix = format!("add `{}` to {} and reboot", o.snippet, o.file);
    if let Some(note) = &o.note {
        fix.push_str(&format!(" ({note})"));
    }
    let what = |found: &str| format!("overlay {}: {found}", o.name);
    if s.dt_dir.is_none() {
        return line(
            Status::Fail,
            what("no device tree under the root (proc/device-tree)"),
            Some(fix),
        );
    }
    let matches = |n: &&super::snapshot::DtNode| {
        let name = n.name();
        o.nodes.iter().any(|want| {
            name == want
                || name
                    .strip_prefix(want.as_str())
                    .is_some_and(|r| r.starts_with('@'))
        })
    };
    let nodes: Vec<_> = s.dt_nodes.iter().filter(matches).collect();
    let enabled = |n: &&&super::snapshot::DtNode| {
        n.props
            .get("status")
            .is_none_or(|v| v.iter().any(|x| x == "okay" || x == "ok"))
    };
    let Some(node) = nodes.iter().find(enabled) else {
        let found = match nodes.first() {
            Some(n) => format!("node {} is disabled (status not okay)", n.path),
            None => format!("no device-tree node {}", o.nodes.join(" or ")),
        };
        return line(Status::Fail, what(&found), Some(fix));
    };
    let Some(prop) = &o.property else {
        return line(
            Status::Ok,
            what(&format!("node {} present", node.path)),
            None,
        );
    };
    let have = node.props.get(prop).cloned().unwrap_or_default();
    if have.iter().any(|v| o.values.contains(v)) {
        let v = have.join(",");
        return line(
            Status::Ok,
            what(&format!("node {} has {prop} = {v}", node.path)),
            None,
        );
    }
    let have = if have.is_empty() {
        "unset".into()
    } else {
        have.join(",")
    };
    let found = format!(
        "node {} has {prop} = {have}, expected {}",
        node.path,
        o.values.join(" or ")
    );
    line(Status::Fail, what(&found), Some(fix))
}

/// True when `me` may read and write the file.
pub fn can_rw(m: &FileMeta, me: &Identity) -> bool {
    let need = if me.uid == 0 {
        return true;
    } else if m.uid == me.uid {
        0o600
    } else if me.gids.contains(&m.gid) {
        0o060
    } else {
        0o006
    };
    m.mode & need == need
}

fn permission(m: &FileMeta, me: &Identity) -> Check {
    let what = format!(
        "permissions: /{} mode {:04o} owner {} group {}",
        m.path, m.mode, m.uid, m.gid
    );
    if can_rw(m, me) {
        return line(Status::Ok, format!("{what}: readable and writable"), None);
    }
    let fix = format!(
        "run periscope as root, or add its user (uid {}) to group {} and make the node \
         group-writable (a udev rule with GROUP and MODE=\"0660\")",
        me.uid, m.gid
    );
    line(
        Status::Fail,
        format!("{what}: not writable by uid {}", me.uid),
        Some(fix),
    )
}

fn missing_capture_fix(p: &HwProfile, s: &Snapshot) -> String {
    if let Some(b) = &p.bridge {
        // Several names (vendor and mainline drivers): the overlay is the bridge's, and dmesg
        // may show either.
        let (overlay, grep) = if p.bridges.len() > 1 {
            (
                "bridge's".to_string(),
                format!("grep -E '{}'", p.bridges.join("|")),
            )
        } else {
            (b.clone(), format!("grep {b}"))
        };
        format!("load the {overlay} overlay (above), check the ribbon cable and the bridge's power; `dmesg | {grep}` shows why it did not probe")
    } else if let Some((v, pid)) = p.usb_id {
        if p.usb.is_some() {
            return format!("plug the capture dongle ({v:04x}:{pid:04x}) into a host USB port (not the OTG port); `lsusb` should list it");
        }
        // No gadget: the board's USB port may be its only one, and it must be a host.
        let mut fix = format!("plug the capture dongle ({v:04x}:{pid:04x}) into a USB port in host mode; `lsusb` should list it");
        let peripheral = s.dt_nodes.iter().find(|n| {
            n.props
                .get("dr_mode")
                .is_some_and(|m| m.iter().any(|x| x == "peripheral"))
        });
        if let Some(n) = peripheral {
            fix.push_str(&format!(
                "; device-tree node {} has dr_mode = peripheral, so that port cannot host it: \
                 remove the overlay that sets it (dtoverlay=dwc2,dr_mode=peripheral on a \
                 Raspberry Pi) or set dr_mode=host",
                n.path
            ));
        }
        fix
    } else {
        "plug in a UVC capture device, or pick another profile (`periscope detect`)".into()
    }
}

fn capture(
    p: &HwProfile,
    s: &Snapshot,
    me: &Identity,
    live: Option<&Result<DeviceReport, String>>,
    out: &mut Vec<Check>,
) {
    if p.device == "test-pattern" {
        out.push(line(
            Status::Ok,
            "capture: the built-in test pattern (no device needed)",
            None,
        ));
        return;
    }
    if !p.bridges.is_empty() {
        out.push(
            match s.i2c_bound.iter().find(|(d, _)| p.bridges.contains(d)) {
                Some((b, dev)) => line(
                    Status::Ok,
                    format!("bridge: I2C device {dev} bound to {b}"),
                    None,
                ),
                None => line(
                    Status::Fail,
                    format!(
                        "bridge: no I2C device bound to the {} driver",
                        p.bridges.join(" or ")
                    ),
                    Some(missing_capture_fix(p, s)),
                ),
            },
        );
    }
    if let Some((v, pid)) = p.usb_id {
        out.push(match s.usb_devices.iter().find(|d| d.id == (v, pid)) {
            Some(d) => line(
                Status::Ok,
                format!("usb: capture dongle {v:04x}:{pid:04x} at {}", d.path),
                None,
            ),
            None => line(
                Status::Fail,
                format!("usb: no USB device {v:04x}:{pid:04x}"),
                Some(missing_capture_fix(p, s)),
            ),
        });
    }
    video(p, s, me, out);
    match live {
        Some(Ok(report)) => device_checks(p, report, out),
        Some(Err(e)) => out.push(line(
            Status::Fail,
            format!("device: {} cannot be asked: {e}", p.device),
            Some("see the video line above; `v4l2-ctl -d DEVICE --all` shows what the driver answers".into()),
        )),
        None => offline_skips(p, out),
    }
}

/// What cannot be checked without opening the device (a captured or fake tree).
fn offline_skips(p: &HwProfile, out: &mut Vec<Check>) {
    let formats: Vec<&str> = p.formats.iter().map(|f| f.name()).collect();
    out.push(line(
        Status::Skip,
        format!(
            "formats: {} checked at start (listing them needs VIDIOC_ENUM_FMT on the open device)",
            formats.join(", ")
        ),
        None,
    ));
    if p.bridge.is_some() {
        out.push(line(Status::Skip, "edid: not checkable offline (written at start with VIDIOC_S_EDID; until then the source sees no hot-plug)", None));
        out.push(line(Status::Skip, "signal: not checkable offline (VIDIOC_QUERY_DV_TIMINGS at start; no signal shows as the no-signal card)", None));
    } else {
        out.push(line(Status::Skip, "signal: not checkable offline (UVC reports none; no frames at start shows as the no-signal card)", None));
    }
}

/// Formats, EDID and signal from the open device.
fn device_checks(p: &HwProfile, r: &DeviceReport, out: &mut Vec<Check>) {
    let offered: Vec<&str> = r.formats.iter().map(|f| f.name()).collect();
    let wanted: Vec<&str> = p.formats.iter().map(|f| f.name()).collect();
    let first = p.formats.iter().find(|f| r.formats.contains(f));
    out.push(match first {
        Some(f) if Some(f) == p.formats.first() => line(
            Status::Ok,
            format!("formats: {} offered (the profile's first choice)", f.name()),
            None,
        ),
        Some(f) => line(
            Status::Warn,
            format!(
                "formats: {} is used; the profile prefers {} (offered: {})",
                f.name(),
                wanted[0],
                offered.join(", ")
            ),
            Some(format!(
                "a different device or driver than the profile's ({}); check `periscope detect`",
                r.driver
            )),
        ),
        None => line(
            Status::Fail,
            format!(
                "formats: none of {} offered by {} (offers: {})",
                wanted.join(", "),
                r.driver,
                if offered.is_empty() { "nothing periscope takes".into() } else { offered.join(", ") }
            ),
            Some("set capture.formats in the profile to what the device offers, or pick another profile".into()),
        ),
    });
    let Some(hdmi) = &r.hdmi else {
        if p.bridge.is_some() {
            out.push(line(
                Status::Fail,
                format!(
                    "edid, signal: {} ({}) has no HDMI (DV timings) input",
                    p.device, r.driver
                ),
                Some(missing_bridge_input_fix(p)),
            ));
        } else {
            out.push(line(
                Status::Skip,
                "signal: a UVC device reports none (no frames shows as the no-signal card)",
                None,
            ));
        }
        return;
    };
    let want = p.edid.load().ok().flatten();
    out.push(match (&hdmi.edid, &want) {
        (None, _) => line(
            Status::Fail,
            "edid: none set, so the source sees no display (hot-plug stays low)",
            Some(format!(
                "start periscope (it writes the EDID), or: periscope edid > /tmp/edid.hex && v4l2-ctl -d {} --set-edid=file=/tmp/edid.hex",
                p.device
            )),
        ),
        (Some(have), Some(want)) if edid::same_ignoring_physical_address(have, want) => line(
            Status::Ok,
            format!("edid: the profile's ({})", describe_edid(have)),
            None,
        ),
        (Some(have), Some(_)) => line(
            Status::Warn,
            format!("edid: another EDID is set ({}); periscope writes the profile's at start", describe_edid(have)),
            None,
        ),
        (Some(have), None) => line(
            Status::Ok,
            format!("edid: set ({}); the profile keeps the device's", describe_edid(have)),
            None,
        ),
    });
    out.push(match &hdmi.signal {
        SignalReport::Locked(mode) => line(Status::Ok, format!("signal: {mode}"), None),
        SignalReport::NoSignal => line(
            Status::Fail,
            "signal: none (ENOLINK)",
            Some("switch the target on or wake it, check the HDMI cable, and make the target use this output".into()),
        ),
        SignalReport::NoSync => line(
            Status::Fail,
            "signal: present but no sync (ENOLCK)",
            Some("check the cable (short, well seated); wait while the target switches modes".into()),
        ),
        SignalReport::OutOfRange(mode) => line(
            Status::Fail,
            format!(
                "signal: out of range{}",
                mode.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
            ),
            Some("set the target to 1920x1080 at 50 Hz or less (the EDID's modes), or pick the 720p60 EDID (capture.edid / --edid)".into()),
        ),
        SignalReport::Unknown(e) => line(
            Status::Warn,
            format!("signal: the query failed: {e}"),
            None,
        ),
    });
}

/// Monitor name and preferred mode of an EDID, for a report line.
fn describe_edid(e: &[u8]) -> String {
    let name = edid::monitor_name(e).unwrap_or_else(|| "no name".into());
    match edid::preferred_mode(e) {
        Some((w, h, hz)) => format!("\"{name}\", preferred {w}x{h}@{hz}"),
        None => format!("\"{name}\""),
    }
}

fn missing_bridge_input_fix(p: &HwProfile) -> String {
    format!(
        "{} should be the {} receiver's node; `v4l2-ctl --list-devices` shows which one it is",
        p.device,
        p.bridges.join(" or ")
    )
}

fn video(p: &HwProfile, s: &Snapshot, me: &Identity, out: &mut Vec<Check>) {
    let node = p.device.trim_start_matches("/dev/");
    let sys = s.videos.iter().find(|v| v.node == node);
    let dev = s.dev_nodes.iter().find(|m| m.path == format!("dev/{node}"));
    let Some(v) = sys else {
        out.push(line(
            Status::Fail,
            format!(
                "video: no {} (nothing in /sys/class/video4linux/{node})",
                p.device
            ),
            Some(missing_capture_fix(p, s)),
        ));
        return;
    };
    let driver = v.driver.as_deref().unwrap_or("no driver");
    let name = v.name.as_deref().unwrap_or("?");
    if !p.drivers.is_empty() && !p.drivers.iter().any(|d| d == driver) {
        let others: Vec<String> = s
            .videos
            .iter()
            .filter(|o| o.driver.as_ref().is_some_and(|d| p.drivers.contains(d)))
            .map(|o| format!("/dev/{}", o.node))
            .collect();
        let fix = match others.first() {
            Some(o) => format!("use {o} (--source {o}, or capture.device in a profile file)"),
            None => missing_capture_fix(p, s),
        };
        out.push(line(
            Status::Fail,
            format!(
                "video: {} is {name:?} with driver {driver}, expected {}",
                p.device,
                p.drivers.join(" or ")
            ),
            Some(fix),
        ));
    } else {
        out.push(line(
            Status::Ok,
            format!("video: {} is {name:?}, driver {driver}", p.device),
            None,
        ));
    }
    match dev {
        Some(m) => out.push(permission(m, me)),
        None => out.push(line(
            Status::Fail,
            format!(
                "video: {} has no device node though sysfs lists it",
                p.device
            ),
            Some(
                "check udev (`udevadm trigger`) or create it from /sys/class/video4linux/*/dev"
                    .into(),
            ),
        )),
    }
}

fn usb(p: &HwProfile, s: &Snapshot, me: &Identity, out: &mut Vec<Check>) {
    let Some(u) = &p.usb else {
        // A board profile without a gadget: its USB port hosts the capture dongle (the Zero
        // 2 W has one data port), so keyboard and mouse need a serial-to-HID chip.
        if p.board.is_some() {
            out.push(line(
                Status::Warn,
                "hid: the profile has no [usb] gadget (the board's USB port is a host here), \
                 so --hid auto means none: no keyboard or mouse without a HID chip",
                Some(
                    "wire a CH9329 serial-to-HID chip to the board's UART and serve with \
                     --hid ch9329:/dev/ttyX (/dev/serial0 on a Raspberry Pi; docs/HID.md)"
                        .into(),
                ),
            ));
        }
        return;
    };
    let otg_fix = || {
        let snippets: Vec<String> = p
            .overlays
            .iter()
            .filter(|o| o.property.as_deref() == Some("dr_mode"))
            .map(|o| format!("add `{}` to {} and reboot", o.snippet, o.file))
            .collect();
        if snippets.is_empty() {
            "load the board's USB device controller driver (an OTG port in peripheral mode), or dummy_hcd for tests".to_string()
        } else {
            snippets.join("; ")
        }
    };
    if s.udcs.is_empty() && u.udc == "auto" {
        let what =
            "udc: none in /sys/class/udc, so no otg gadget (--hid auto picks another backend)";
        let fix = format!("for keyboard and mouse over USB, {}", otg_fix());
        out.push(line(Status::Warn, what, Some(fix)));
        return;
    }
    if s.udcs.is_empty() {
        out.push(line(
            Status::Fail,
            "udc: no USB device controller in /sys/class/udc",
            Some(otg_fix()),
        ));
    } else if u.udc == "auto" || s.udcs.contains(&u.udc) {
        let name = if u.udc == "auto" { &s.udcs[0] } else { &u.udc };
        out.push(line(
            Status::Ok,
            format!(
                "udc: {name} present (budget {} endpoints)",
                u.endpoint_budget
            ),
            None,
        ));
    } else {
        out.push(line(
            Status::Fail,
            format!("udc: {} not present (have {})", u.udc, s.udcs.join(", ")),
            Some("set usb.udc to one of those, or \"auto\", in a profile file".into()),
        ));
    }
    match &s.configfs {
        None => out.push(line(
            Status::Fail,
            "configfs: no /sys/kernel/config/usb_gadget",
            Some("`modprobe libcomposite` and `mount -t configfs none /sys/kernel/config`".into()),
        )),
        Some(m) if can_rw(m, me) => out.push(line(
            Status::Ok,
            "configfs: /sys/kernel/config/usb_gadget writable",
            None,
        )),
        Some(m) => out.push(line(
            Status::Fail,
            format!(
                "configfs: /sys/kernel/config/usb_gadget not writable by uid {} (mode {:04o})",
                me.uid, m.mode
            ),
            Some("run `periscope otg up` as root".into()),
        )),
    }
    let hidg: Vec<&FileMeta> = s
        .dev_nodes
        .iter()
        .filter(|m| m.path.starts_with("dev/hidg"))
        .collect();
    if hidg.is_empty() {
        out.push(line(
            Status::Warn,
            "hid: no /dev/hidg* yet",
            Some("run `periscope otg up` (or serve with --hid otg) to build the gadget".into()),
        ));
    }
    for m in hidg {
        out.push(permission(m, me));
    }
}
