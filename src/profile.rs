//! Hardware profiles (`hw-profiles/*.toml`, embedded in the binary): which capture device a
//! board has, its pixel formats in order of preference, its size and rate, its encoder, and
//! the USB gadget its OTG port can carry (`[usb]`, checked against the endpoint budget).
//! `validate` is pure and its errors name the file, the key and the allowed values. The
//! board-facing sections (`[board]`, `[[overlays]]`, the capture device's identity, the
//! encoder chain) are checked in `board::spec`; detection lives in `board::detect`.

use crate::board::spec::{self, BoardMatch, BoardSection, OneOrMany, Overlay, OverlaySection};
use crate::config::parse_resolution;
use crate::hid::gadget::{self, FunctionSpec};
use crate::media::edid::EdidChoice;
use crate::media::PixelFormat;
use serde::Deserialize;

/// Every shipped profile: (file name, contents).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "test-pattern.toml",
        include_str!("../hw-profiles/test-pattern.toml"),
    ),
    (
        "generic-uvc.toml",
        include_str!("../hw-profiles/generic-uvc.toml"),
    ),
    (
        "rpi4-tc358743.toml",
        include_str!("../hw-profiles/rpi4-tc358743.toml"),
    ),
    (
        "rpi4-ms2109.toml",
        include_str!("../hw-profiles/rpi4-ms2109.toml"),
    ),
    (
        "rpi-zero2w-ms2109.toml",
        include_str!("../hw-profiles/rpi-zero2w-ms2109.toml"),
    ),
    (
        "radxa-zero3w-tc358743.toml",
        include_str!("../hw-profiles/radxa-zero3w-tc358743.toml"),
    ),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    description: String,
    board: Option<BoardSection>,
    capture: CaptureSection,
    encoder: EncoderSection,
    usb: Option<UsbSection>,
    hid: Option<HidSection>,
    #[serde(default)]
    overlays: Vec<OverlaySection>,
    /// The board's front-panel wiring (docs/DEVICES.md): drivers, `[atx]`, `[[buttons]]`.
    #[serde(default)]
    drivers: std::collections::BTreeMap<String, crate::devices::config::DriverConfig>,
    atx: Option<crate::devices::config::AtxConfig>,
    #[serde(default)]
    buttons: Vec<crate::devices::config::ButtonConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaptureSection {
    device: String,
    driver: Option<OneOrMany>,
    bridge: Option<OneOrMany>,
    usb_id: Option<String>,
    formats: Vec<String>,
    resolution: Option<String>,
    #[serde(default)]
    resolutions: Vec<String>,
    fps: Option<u32>,
    edid: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EncoderSection {
    h264: OneOrMany,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsbSection {
    udc: String,
    endpoint_budget: u32,
    functions: Vec<String>,
    mass_storage: Option<MassStorageSection>,
}

/// `[hid]`: keyboard and mouse without a USB gadget.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HidSection {
    /// The serial port of a CH9329 serial-to-HID chip wired to the board.
    serial: std::path::PathBuf,
}

/// `[usb.mass_storage]`: the medium of the `mass_storage` function.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MassStorageSection {
    /// Backing image (absolute path); absent = no medium inserted.
    file: Option<std::path::PathBuf>,
    /// Present a CD-ROM (read-only) instead of a disk.
    #[serde(default)]
    cdrom: bool,
    /// Refuse writes to a disk.
    #[serde(default)]
    read_only: bool,
}

/// The USB gadget the board's OTG port carries (`[usb]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbProfile {
    /// `auto` (the first UDC) or a name from /sys/class/udc.
    pub udc: String,
    /// Endpoints the UDC offers besides ep0.
    pub endpoint_budget: u32,
    /// Functions in interface order.
    pub functions: Vec<FunctionSpec>,
}

/// A validated profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HwProfile {
    /// The board's front-panel wiring (`[drivers.*]`, `[atx]`, `[[buttons]]`); the config
    /// file's sections of the same names win (`DevicesConfig::over`).
    pub devices: crate::devices::config::DevicesConfig,
    /// Profile name (file stem).
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// "test-pattern" or a device node.
    pub device: String,
    /// Expected V4L2 driver name (the first of `drivers`).
    pub driver: Option<String>,
    /// Every accepted driver of the video node, most likely first.
    pub drivers: Vec<String>,
    /// The I²C bridge driver behind a CSI receiver (`tc358743`; the first of `bridges`).
    pub bridge: Option<String>,
    /// Every accepted driver of the bridge (vendor and mainline kernels name it differently:
    /// `tc35874x`, `tc358743`).
    pub bridges: Vec<String>,
    /// The USB capture device's VID:PID (534d:2109 for the MS2109).
    pub usb_id: Option<(u16, u16)>,
    /// Pixel formats, most preferred first.
    pub formats: Vec<PixelFormat>,
    /// Capture size.
    pub resolution: Option<(u32, u32)>,
    /// Sizes the device is expected to offer, most useful first.
    pub resolutions: Vec<(u32, u32)>,
    /// Frame rate.
    pub fps: Option<u32>,
    /// The EDID written to an HDMI (DV-timings) input at start (`capture.edid`; default
    /// the built-in 1080p50). Inputs without DV timings (UVC dongles) ignore it.
    pub edid: EdidChoice,
    /// The H.264 encoder chain, most preferred first, ending with `openh264` (`app` takes
    /// the first that works on this machine).
    pub h264_chain: Vec<String>,
    /// The USB gadget, for boards with an OTG port.
    pub usb: Option<UsbProfile>,
    /// The serial port of the board's CH9329 (`[hid] serial`): what `--hid auto` uses when
    /// there is no gadget.
    pub hid_serial: Option<std::path::PathBuf>,
    /// How to recognise the board; `None`: any machine (a fallback profile).
    pub board: Option<BoardMatch>,
    /// Device-tree overlays the board needs.
    pub overlays: Vec<Overlay>,
}

/// A profile file that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("profile {file}: {key}: {message}")]
pub struct ProfileError {
    /// The file.
    pub file: String,
    /// The key.
    pub key: String,
    /// What is wrong, with the allowed values.
    pub message: String,
}

fn format_by_name(s: &str) -> Option<PixelFormat> {
    [
        PixelFormat::Mjpeg,
        PixelFormat::Yuyv,
        PixelFormat::Uyvy,
        PixelFormat::Nv12,
        PixelFormat::I420,
    ]
    .into_iter()
    .find(|f| {
        f.name().eq_ignore_ascii_case(s)
            || (s.eq_ignore_ascii_case("MJPEG") && *f == PixelFormat::Mjpeg)
    })
}

/// Parses and validates one profile file (pure).
pub fn validate(file: &str, text: &str) -> Result<HwProfile, ProfileError> {
    let err = |key: &str, message: String| ProfileError {
        file: file.into(),
        key: key.into(),
        message,
    };
    let raw: ProfileFile =
        toml::from_str(text).map_err(|e| err("(file)", e.message().to_string()))?;
    let stem = file.trim_end_matches(".toml");
    if raw.name != stem {
        return Err(err(
            "name",
            format!("{:?} must equal the file name {stem:?}", raw.name),
        ));
    }
    let dev = &raw.capture.device;
    if dev != "test-pattern" && !dev.starts_with("/dev/") {
        return Err(err(
            "capture.device",
            format!("{dev:?}: must be test-pattern or /dev/…"),
        ));
    }
    let mut formats = Vec::new();
    for f in &raw.capture.formats {
        let pf = format_by_name(f).ok_or_else(|| {
            err(
                "capture.formats",
                format!("{f:?}: must be one of MJPG, YUYV, UYVY, NV12, I420"),
            )
        })?;
        formats.push(pf);
    }
    if formats.is_empty() {
        return Err(err(
            "capture.formats",
            "must list at least one format".into(),
        ));
    }
    let resolution = match &raw.capture.resolution {
        Some(r) => Some(parse_resolution(r).map_err(|e| err("capture.resolution", e.expected))?),
        None => None,
    };
    if let Some(fps) = raw.capture.fps {
        if !(1..=120).contains(&fps) {
            return Err(err("capture.fps", format!("{fps}: must be 1..=120")));
        }
    }
    let edid = EdidChoice::parse(raw.capture.edid.as_deref().unwrap_or("default"))
        .map_err(|e| err("capture.edid", e))?;
    let ke = |(key, message): (&str, String)| err(key, message);
    let h264_chain = spec::validate_chain(raw.encoder.h264.into_vec()).map_err(ke)?;
    let usb = match &raw.usb {
        Some(u) => Some(validate_usb(u).map_err(ke)?),
        None => None,
    };
    let hid_serial = match raw.hid {
        Some(h) if !h.serial.starts_with("/dev/") || h.serial.as_os_str().len() <= 5 => {
            return Err(err(
                "hid.serial",
                format!("{}: must be a /dev/… path", h.serial.display()),
            ))
        }
        Some(h) => Some(h.serial),
        None => None,
    };
    let ident = identity(raw.capture.driver, raw.capture.bridge, raw.capture.usb_id).map_err(ke)?;
    let mut resolutions = Vec::new();
    for r in &raw.capture.resolutions {
        let r = parse_resolution(r).map_err(|e| err("capture.resolutions", e.expected))?;
        resolutions.push(r);
    }
    if let Some(r) = resolution.filter(|r| !resolutions.is_empty() && !resolutions.contains(r)) {
        return Err(err(
            "capture.resolution",
            format!("{}x{}: must be one of capture.resolutions", r.0, r.1),
        ));
    }
    let board = raw
        .board
        .map(spec::validate_board)
        .transpose()
        .map_err(ke)?;
    let overlays = raw
        .overlays
        .into_iter()
        .map(spec::validate_overlay)
        .collect::<Result<Vec<_>, _>>()
        .map_err(ke)?;
    let devices = crate::devices::config::DevicesConfig {
        drivers: raw.drivers,
        atx: raw.atx,
        buttons: raw.buttons,
        wol: None,
    };
    devices.validate().map_err(|e| err(&e.key, e.why))?;
    Ok(HwProfile {
        devices,
        name: raw.name,
        description: raw.description,
        device: raw.capture.device,
        driver: ident.0.first().cloned(),
        drivers: ident.0,
        bridge: ident.1.first().cloned(),
        bridges: ident.1,
        usb_id: ident.2,
        formats,
        resolution,
        resolutions,
        fps: raw.capture.fps,
        edid,
        h264_chain,
        usb,
        hid_serial,
        board,
        overlays,
    })
}

/// The capture device's identity: video-node drivers, I²C bridge drivers, USB id.
type Identity = (Vec<String>, Vec<String>, Option<(u16, u16)>);

fn identity(
    driver: Option<OneOrMany>,
    bridge: Option<OneOrMany>,
    usb_id: Option<String>,
) -> Result<Identity, (&'static str, String)> {
    let drivers = driver.map(OneOrMany::into_vec).unwrap_or_default();
    for d in &drivers {
        spec::validate_driver_name("capture.driver", d)?;
    }
    let bridges = bridge.map(OneOrMany::into_vec).unwrap_or_default();
    for b in &bridges {
        spec::validate_driver_name("capture.bridge", b)?;
    }
    let usb_id = usb_id.as_deref().map(spec::parse_usb_id).transpose()?;
    Ok((drivers, bridges, usb_id))
}

/// `[usb]`: known function names, and a gadget that plans (fits its endpoint budget).
fn validate_usb(u: &UsbSection) -> Result<UsbProfile, (&'static str, String)> {
    let mut functions = Vec::new();
    for name in &u.functions {
        let f = FunctionSpec::from_name(name).ok_or_else(|| {
            (
                "usb.functions",
                format!(
                    "{name:?}: must be one of {}",
                    FunctionSpec::NAMES.join(", ")
                ),
            )
        })?;
        let f = match (f, &u.mass_storage) {
            (FunctionSpec::MassStorage { removable, .. }, Some(ms)) => FunctionSpec::MassStorage {
                file: ms.file.clone().unwrap_or_default(),
                cdrom: ms.cdrom,
                read_only: ms.read_only || ms.cdrom,
                removable,
            },
            (f, _) => f,
        };
        functions.push(f);
    }
    if u.mass_storage.is_some() && !u.functions.iter().any(|f| f == "mass_storage") {
        return Err((
            "usb.mass_storage",
            "set, but \"mass_storage\" is not in usb.functions".into(),
        ));
    }
    let usb = UsbProfile {
        udc: u.udc.clone(),
        endpoint_budget: u.endpoint_budget,
        functions,
    };
    gadget::plan::plan(&gadget::spec_from_profile(&usb)).map_err(|e| ("usb", e.to_string()))?;
    Ok(usb)
}

/// A shipped profile by name.
pub fn by_name(name: &str) -> Result<HwProfile, ProfileError> {
    let file = format!("{name}.toml");
    let names: Vec<&str> = SHIPPED
        .iter()
        .map(|(f, _)| f.trim_end_matches(".toml"))
        .collect();
    match SHIPPED.iter().find(|(f, _)| *f == file) {
        Some((f, text)) => validate(f, text),
        None => Err(ProfileError {
            file,
            key: "profile".into(),
            message: format!("unknown; shipped: {}", names.join(", ")),
        }),
    }
}

/// A shipped profile by name, or a profile file when `arg` is a path (has a `/` or ends in
/// `.toml`): a board not shipped yet, or the test bench's cases. The file's `name` must
/// still equal its file name.
pub fn load(arg: &str) -> Result<HwProfile, ProfileError> {
    if !arg.contains('/') && !arg.ends_with(".toml") {
        return by_name(arg);
    }
    let path = std::path::Path::new(arg);
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| arg.to_string());
    let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
        file: arg.into(),
        key: "(file)".into(),
        message: e.to_string(),
    })?;
    validate(&file, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_profile_validates_and_matches_the_directory() {
        for (file, text) in SHIPPED {
            validate(file, text).unwrap_or_else(|e| panic!("{e}"));
        }
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/hw-profiles");
        let on_disk = std::fs::read_dir(dir).unwrap().filter(|e| {
            e.as_ref()
                .map(|e| e.path().extension().is_some_and(|x| x == "toml"))
                .unwrap_or(false)
        });
        assert_eq!(
            on_disk.count(),
            SHIPPED.len(),
            "every profile file is embedded"
        );
        assert_eq!(
            by_name("generic-uvc").unwrap().formats[0],
            PixelFormat::Mjpeg
        );
    }

    #[test]
    fn errors_name_file_key_and_allowed_values() {
        let base = include_str!("../hw-profiles/generic-uvc.toml");
        let e = validate("generic-uvc.toml", &base.replace("\"YUYV\"", "\"RGB3\"")).unwrap_err();
        assert_eq!(e.key, "capture.formats");
        assert!(
            e.to_string().contains("RGB3") && e.to_string().contains("MJPG"),
            "{e}"
        );
        let e = validate("other.toml", base).unwrap_err();
        assert_eq!(e.key, "name");
        let e = validate("generic-uvc.toml", &format!("{base}\nbogus = 1\n")).unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
        assert_eq!(by_name("nope").unwrap_err().key, "profile");
    }

    #[test]
    fn hid_serial_must_be_a_device_path() {
        let base = include_str!("../hw-profiles/generic-uvc.toml");
        let with = |v: &str| {
            validate(
                "generic-uvc.toml",
                &format!("{base}\n[hid]\nserial = {v}\n"),
            )
        };
        assert_eq!(
            with("\"/dev/ttyAMA0\"").unwrap().hid_serial.as_deref(),
            Some(std::path::Path::new("/dev/ttyAMA0"))
        );
        for bad in ["\"COM1\"", "\"/dev/\"", "\"ttyS0\""] {
            let e = with(bad).unwrap_err();
            assert_eq!(e.key, "hid.serial", "{bad}: {e}");
            assert!(e.message.contains("/dev/"), "{e}");
        }
        let e = with("\"/dev/x\"\nbaud = 9600").unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
        assert_eq!(by_name("generic-uvc").unwrap().hid_serial, None);
    }

    #[test]
    fn usb_section_is_checked_against_its_endpoint_budget() {
        let base = include_str!("../hw-profiles/generic-uvc.toml");
        let usb = by_name("generic-uvc").unwrap().usb.unwrap();
        assert_eq!(usb.functions[0], FunctionSpec::Keyboard);
        let e = validate(
            "generic-uvc.toml",
            &base.replace("\"mouse_rel\"", "\"mouse\""),
        )
        .unwrap_err();
        assert_eq!(e.key, "usb.functions");
        assert!(e.message.contains("mouse_abs"), "{e}");
        let over = base
            .replace("endpoint_budget = 16", "endpoint_budget = 8")
            .replace("\"mouse_rel\"]", "\"mouse_rel\", \"acm\", \"ecm\"]");
        let e = validate("generic-uvc.toml", &over).unwrap_err();
        assert_eq!(e.key, "usb");
        assert!(
            e.message.contains("needs 9 endpoints, the udc has 8")
                && e.message.contains("drop ecm (3) to fit"),
            "{e}"
        );
        // The example in hw-profiles/README.md, on a Pi's budget of 9.
        let pi = include_str!("../hw-profiles/rpi4-ms2109.toml").replace(
            "\"mouse_rel\"]",
            "\"mouse_rel\", \"mass_storage\", \"acm\", \"ecm\"]",
        );
        let e = validate("rpi4-ms2109.toml", &pi).unwrap_err();
        assert_eq!(
            e.message,
            "usb gadget needs 11 endpoints, the udc has 9: keyboard 1, mouse_abs 1, mouse_rel 1, \
             mass_storage 2, acm 3, ecm 3 — drop ecm (3) to fit"
        );
        let no_usb = base.split("[usb]").next().unwrap();
        assert_eq!(validate("generic-uvc.toml", no_usb).unwrap().usb, None);
    }

    #[test]
    fn mass_storage_takes_a_medium_from_its_own_table() {
        let base = include_str!("../hw-profiles/generic-uvc.toml")
            .replace("\"mouse_rel\"]", "\"mouse_rel\", \"mass_storage\"]");
        let usb = validate("generic-uvc.toml", &base).unwrap().usb.unwrap();
        assert!(matches!(
            &usb.functions[3],
            FunctionSpec::MassStorage { file, cdrom: false, read_only: false, removable: true }
                if file.as_os_str().is_empty()
        ));
        let cd = format!(
            "{base}\n[usb.mass_storage]\nfile = \"/var/lib/periscope/boot.iso\"\ncdrom = true\n"
        );
        let usb = validate("generic-uvc.toml", &cd).unwrap().usb.unwrap();
        assert_eq!(
            usb.functions[3],
            FunctionSpec::MassStorage {
                file: "/var/lib/periscope/boot.iso".into(),
                cdrom: true,
                read_only: true,
                removable: true
            }
        );
        let rel = format!("{base}\n[usb.mass_storage]\nfile = \"boot.iso\"\n");
        let e = validate("generic-uvc.toml", &rel).unwrap_err();
        assert!(e.message.contains("absolute"), "{e}");
        let orphan = include_str!("../hw-profiles/generic-uvc.toml").to_string()
            + "\n[usb.mass_storage]\ncdrom = true\n";
        assert_eq!(
            validate("generic-uvc.toml", &orphan).unwrap_err().key,
            "usb.mass_storage"
        );
    }

    #[test]
    fn a_profile_carries_the_boards_front_panel_wiring_checked_with_its_keys() {
        let base = include_str!("../hw-profiles/generic-uvc.toml");
        let wired = format!(
            "{base}\n[drivers.hat]\ntype = \"gpio\"\nchip = \"/dev/gpiochip0\"\n\
             [atx]\npower = {{ driver = \"hat\", channel = 23 }}\nled = {{ driver = \"hat\", channel = 24 }}\n"
        );
        let p = validate("generic-uvc.toml", &wired).unwrap();
        let atx = p.devices.atx.as_ref().unwrap();
        assert_eq!(atx.power.as_ref().map(|p| p.channel), Some(23));
        assert!(p.devices.drivers.contains_key("hat"));
        let e = validate(
            "generic-uvc.toml",
            &wired.replace(
                "driver = \"hat\", channel = 23",
                "driver = \"nope\", channel = 23",
            ),
        )
        .unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.key.as_str()),
            ("generic-uvc.toml", "atx.power.driver")
        );
        // Shipped profiles have no wiring: nothing is driven unless the user wires it.
        for (file, text) in SHIPPED {
            assert_eq!(
                validate(file, text).unwrap().devices,
                Default::default(),
                "{file}"
            );
        }
    }

    #[test]
    fn board_sections_are_checked_with_their_keys() {
        let p = by_name("rpi4-tc358743").unwrap();
        assert_eq!(p.formats[0], PixelFormat::Uyvy);
        assert_eq!(p.h264_chain, ["v4l2h264enc", "openh264"]);
        assert_eq!(p.bridge.as_deref(), Some("tc358743"));
        assert_eq!(p.edid, EdidChoice::Builtin("1080p50"));
        assert_eq!(p.usb.unwrap().endpoint_budget, 9);
        assert_eq!(p.overlays[0].snippet, "dtoverlay=tc358743");
        let ms = by_name("rpi4-ms2109").unwrap();
        assert_eq!(
            (ms.usb_id, ms.formats[0]),
            (Some((0x534d, 0x2109)), PixelFormat::Mjpeg)
        );
        let rk = by_name("radxa-zero3w-tc358743").unwrap();
        assert_eq!(rk.drivers, ["rkisp", "rkcif", "rockchip-cif"]);
        assert_eq!(rk.bridges, ["tc35874x", "tc358743"]);
        assert_eq!(rk.bridge.as_deref(), Some("tc35874x"));
        assert_eq!(rk.overlays[0].nodes, ["usb@fcc00000", "dwc3@fcc00000"]);
        assert_eq!(rk.edid, EdidChoice::Builtin("1080p50"));
        assert_eq!(rk.h264_chain[0], "mpph264enc");
        // The Zero 2 W's one data port hosts the dongle: no gadget, no dwc2 overlay.
        let z = by_name("rpi-zero2w-ms2109").unwrap();
        assert_eq!((z.usb, z.overlays.len()), (None, 0));
        let rk_text = include_str!("../hw-profiles/radxa-zero3w-tc358743.toml");
        let rk_bad = |from: &str, to: &str| {
            validate("radxa-zero3w-tc358743.toml", &rk_text.replace(from, to)).unwrap_err()
        };
        let e = rk_bad("\"tc35874x\", \"tc358743\"]", "\"tc35874x\", \"TC358743\"]");
        assert_eq!(e.key, "capture.bridge", "{e}");
        assert!(
            e.message.contains("TC358743") && e.message.contains("a-z"),
            "{e}"
        );
        let e = rk_bad("\"dwc3@fcc00000\"]", "\"usbdrd/dwc3@fcc00000\"]");
        assert_eq!(e.key, "overlays.node", "{e}");
        assert!(e.message.contains("not a path"), "{e}");
        let e = rk_bad("node = [\"tc358743\", \"tc35874x\"]", "node = []");
        assert_eq!(e.key, "overlays.node", "{e}");
        let base = include_str!("../hw-profiles/rpi4-tc358743.toml");
        let bad = |from: &str, to: &str| validate("rpi4-tc358743.toml", &base.replace(from, to));
        let cases = [
            (
                "\"v4l2h264enc\", \"openh264\"]",
                "\"openh264\", \"v4l2h264enc\"]",
                "encoder.h264",
                "must end with",
            ),
            ("\"v4l2h264enc\"", "\"nvenc\"", "encoder.h264", "mpph264enc"),
            (
                "driver = \"unicam\"",
                "driver = \"Uni cam\"",
                "capture.driver",
                "kernel driver",
            ),
            (
                "bridge = \"tc358743\"",
                "usb_id = \"534d\"",
                "capture.usb_id",
                "534d:2109",
            ),
            (
                "resolution = \"1920x1080\"",
                "resolution = \"1920x1200\"",
                "capture.resolution",
                "capture.resolutions",
            ),
            (
                "compatible = [\"raspberrypi,4-model-b\", ",
                "compatible = [\"pi4\", ",
                "board.compatible",
                "vendor,board",
            ),
            (
                "property = \"dr_mode\"",
                "property = \"reg\"",
                "overlays.property",
                "dr_mode",
            ),
            (
                "file = \"/boot/firmware/config.txt\"\nnode = \"tc358743\"",
                "file = \"config.txt\"\nnode = \"tc358743\"",
                "overlays.file",
                "absolute",
            ),
            (
                "edid = \"1080p50\"",
                "edid = \"4k\"",
                "capture.edid",
                "default, 1080p50, 1080p60, 720p60, none",
            ),
            (
                "[board]",
                "[board]\nrevision = 1",
                "(file)",
                "unknown field",
            ),
        ];
        for (from, to, key, needle) in cases {
            let e = bad(from, to).unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert!(
                e.to_string().contains(needle) && e.file == "rpi4-tc358743.toml",
                "{e}"
            );
        }
    }

    /// The Pi profiles' budget of 9 (PiKVM's, counting IN and OUT together) against dwc2's
    /// hardware, 7 IN and 7 OUT endpoints besides ep0: every function set the cost table lets
    /// through fits both directions.
    #[test]
    fn a_pi_budget_of_9_fits_dwc2s_7_in_and_7_out_endpoints() {
        let all: Vec<FunctionSpec> = FunctionSpec::NAMES
            .iter()
            .filter_map(|n| FunctionSpec::from_name(n))
            .collect();
        // (IN, OUT) per function: f_hid with no_out_endpoint; f_mass_storage bulk in + out;
        // f_acm, f_ecm, f_ncm a notify interrupt IN plus bulk in + out.
        let dirs = |f: &FunctionSpec| match f {
            FunctionSpec::Keyboard | FunctionSpec::MouseAbs | FunctionSpec::MouseRel => (1, 0),
            FunctionSpec::MassStorage { .. } => (1, 1),
            FunctionSpec::Acm | FunctionSpec::Ecm | FunctionSpec::Ncm => (2, 1),
        };
        for f in &all {
            assert_eq!(dirs(f).0 + dirs(f).1, f.endpoints(), "{}", f.name());
        }
        for p in ["rpi4-tc358743", "rpi4-ms2109"] {
            assert_eq!(by_name(p).unwrap().usb.unwrap().endpoint_budget, 9, "{p}");
        }
        let mut fitting = 0;
        for mask in 0u32..(1 << all.len()) {
            let set: Vec<&FunctionSpec> = (0..all.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| &all[i])
                .collect();
            let cost: u32 = set.iter().map(|f| f.endpoints()).sum();
            if cost > 9 {
                continue;
            }
            fitting += 1;
            let (ins, outs) = set
                .iter()
                .fold((0, 0), |(i, o), f| (i + dirs(f).0, o + dirs(f).1));
            assert!(ins <= 7 && outs <= 7, "{set:?}: {ins} IN, {outs} OUT");
        }
        assert!(fitting > 40, "{fitting}");
    }

    #[test]
    fn load_takes_a_name_or_a_file() {
        assert_eq!(load("test-pattern").unwrap().name, "test-pattern");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("my-board.toml");
        let text = include_str!("../hw-profiles/generic-uvc.toml")
            .replace("name = \"generic-uvc\"", "name = \"my-board\"");
        std::fs::write(&path, text).unwrap();
        let p = load(path.to_str().unwrap()).unwrap();
        assert_eq!(p.name, "my-board");
        let e = load("/nonexistent/x.toml").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/x.toml"), "{e}");
    }
}
