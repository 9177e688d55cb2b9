//! Hardware profiles (`hw-profiles/*.toml`, embedded in the binary): which capture device a
//! board has, its pixel formats in order of preference, its size and rate, its encoder, and
//! the USB gadget its OTG port can carry (`[usb]`, checked against the endpoint budget).
//! `validate` is pure and its errors name the file, the key and the allowed values.
//! (Board detection from device tree and USB ids comes with the profiles issue; `auto` here
//! picks `generic-uvc` when a V4L2 device exists, else `test-pattern`.)

use crate::config::parse_resolution;
use crate::hid::gadget::{self, FunctionSpec};
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
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    name: String,
    description: String,
    capture: CaptureSection,
    encoder: EncoderSection,
    usb: Option<UsbSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaptureSection {
    device: String,
    driver: Option<String>,
    formats: Vec<String>,
    resolution: Option<String>,
    fps: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EncoderSection {
    h264: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsbSection {
    udc: String,
    endpoint_budget: u32,
    functions: Vec<String>,
    mass_storage: Option<MassStorageSection>,
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
    /// Profile name (file stem).
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// "test-pattern" or a device node.
    pub device: String,
    /// Expected V4L2 driver name.
    pub driver: Option<String>,
    /// Pixel formats, most preferred first.
    pub formats: Vec<PixelFormat>,
    /// Capture size.
    pub resolution: Option<(u32, u32)>,
    /// Frame rate.
    pub fps: Option<u32>,
    /// H.264 encoder chain.
    pub h264: String,
    /// The USB gadget, for boards with an OTG port.
    pub usb: Option<UsbProfile>,
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
    if raw.encoder.h264 != "openh264" {
        return Err(err(
            "encoder.h264",
            format!(
                "{:?}: must be openh264 (gstreamer encoders come later)",
                raw.encoder.h264
            ),
        ));
    }
    let usb = match &raw.usb {
        Some(u) => Some(validate_usb(u).map_err(|(key, message)| err(key, message))?),
        None => None,
    };
    Ok(HwProfile {
        name: raw.name,
        description: raw.description,
        device: raw.capture.device,
        driver: raw.capture.driver,
        formats,
        resolution,
        fps: raw.capture.fps,
        h264: raw.encoder.h264,
        usb,
    })
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

/// `auto`: `generic-uvc` when `video_device_exists`, else `test-pattern`.
pub fn auto(video_device_exists: bool) -> Result<HwProfile, ProfileError> {
    by_name(if video_device_exists {
        "generic-uvc"
    } else {
        "test-pattern"
    })
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
