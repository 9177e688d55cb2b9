//! Keyboard and mouse output: the [`HidBackend`] seam, its backends, and the worker that owns
//! one backend ([`worker`]). Input arrives as `input::InputEvent`s through a [`HidHandle`].
//!
//! Backends here: `none` (validate and log), `record:FILE` (append each report as a JSON
//! line; tests use it), `otg` (the USB gadget's `/dev/hidgN`, [`gadget`]) and
//! `ch9329:/dev/ttyX` (the WCH serial-to-HID chip, [`ch9329`]).

pub mod ch9329;
pub mod gadget;
pub mod record;
pub mod report;
pub mod worker;

pub use report::HidReport;
pub use worker::{HidHandle, SessionKey};

/// Keyboard LED state as the host set it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leds {
    /// Caps Lock.
    pub caps: bool,
    /// Num Lock.
    pub num: bool,
    /// Scroll Lock.
    pub scroll: bool,
}

/// Why a report could not be delivered. Callers branch on these.
#[derive(Debug, thiserror::Error)]
pub enum HidError {
    /// The target host is off, suspended or not attached.
    #[error("hid: host not connected")]
    HostNotConnected,
    /// The device node or port is missing.
    #[error("hid: device missing: {0}")]
    DeviceMissing(String),
    /// Any other I/O error.
    #[error("hid: {0}")]
    Io(#[from] std::io::Error),
}

/// A device that delivers HID reports to the target.
pub trait HidBackend: Send {
    /// Short name for logs and /api/state ("none", "record", "otg", "ch9329").
    fn name(&self) -> &'static str;
    /// Delivers one report.
    fn send(&mut self, report: &HidReport) -> Result<(), HidError>;
    /// Called by the worker every 100 ms: what the backend noticed since the last call.
    /// May do short I/O (read LED reports, ask a chip for its state); must not block long.
    fn poll(&mut self) -> Polled {
        Polled::default()
    }
}

/// What a backend noticed since the last [`HidBackend::poll`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Polled {
    /// The host's LED state, when it changed (backends without LEDs: never).
    pub leds: Option<Leds>,
    /// The link to the target came back: the host (re-)configured the gadget, or the chip was
    /// reset. The worker then releases everything so the host starts from a clean state.
    pub reconnected: bool,
    /// Whether the target has the device enumerated right now (OTG: the UDC is
    /// `configured`; CH9329: GET_INFO's USB flag), when the backend can tell.
    pub target_connected: Option<bool>,
}

/// Which backend the `--hid` flag asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HidChoice {
    /// `otg` when the profile describes a USB gadget and the machine has a USB device
    /// controller (UDC); otherwise `none`.
    Auto,
    /// Validate and log only.
    None,
    /// Append reports to a file.
    Record(std::path::PathBuf),
    /// The USB OTG gadget (`/dev/hidgN`), built from the profile's `[usb]` if absent.
    Otg,
    /// A CH9329 serial-to-HID chip on this serial port.
    Ch9329(std::path::PathBuf),
}

impl std::str::FromStr for HidChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(HidChoice::Auto),
            "none" => Ok(HidChoice::None),
            "otg" => Ok(HidChoice::Otg),
            _ => {
                if let Some(path) = s.strip_prefix("record:").filter(|p| !p.is_empty()) {
                    Ok(HidChoice::Record(path.into()))
                } else if let Some(port) = s.strip_prefix("ch9329:").filter(|p| !p.is_empty()) {
                    Ok(HidChoice::Ch9329(port.into()))
                } else {
                    Err("must be auto, none, otg, ch9329:/dev/ttyX or record:FILE".into())
                }
            }
        }
    }
}

/// Options the backends take besides the choice itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HidOptions {
    /// CH9329: the serial speed the chip is configured for.
    pub baud: u32,
}

impl Default for HidOptions {
    fn default() -> Self {
        HidOptions {
            baud: ch9329::DEFAULT_BAUD,
        }
    }
}

/// Opens the chosen backend. `otg` uses the profile's `usb` section to build the gadget
/// when none is set up (an existing one is used as it is); `auto` is [`resolve_auto`].
pub fn open(
    choice: &HidChoice,
    profile: &crate::profile::HwProfile,
    options: HidOptions,
) -> Result<Box<dyn HidBackend>, HidError> {
    let root = std::path::Path::new("/");
    let usb = profile.usb.as_ref();
    let resolved;
    let choice = match choice {
        HidChoice::Auto => {
            resolved = resolve_auto(root, profile);
            tracing::info!(target: "hid", "--hid auto: using {}", resolved.describe());
            &resolved
        }
        other => other,
    };
    Ok(match choice {
        HidChoice::None | HidChoice::Auto => Box::new(record::NoneHid),
        HidChoice::Record(path) => Box::new(record::RecordHid::open(path)?),
        HidChoice::Otg => Box::new(open_otg(root, usb)?),
        HidChoice::Ch9329(port) => Box::new(ch9329::Ch9329Hid::open(port, options.baud)?),
    })
}

/// What `--hid auto` means on this machine: `otg` when the profile has a `[usb]` section and
/// `root/sys/class/udc` lists a controller; else `ch9329:PORT` when the profile names its
/// CH9329's port (`[hid] serial`) and that port exists under `root`; else `none`.
pub fn resolve_auto(root: &std::path::Path, profile: &crate::profile::HwProfile) -> HidChoice {
    let has_udc = std::fs::read_dir(root.join("sys/class/udc"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if profile.usb.is_some() && has_udc {
        return HidChoice::Otg;
    }
    match &profile.hid_serial {
        // A symlink such as /dev/serial0 counts when it resolves: exists() follows it.
        Some(port) if root.join(port.strip_prefix("/").unwrap_or(port)).exists() => {
            HidChoice::Ch9329(port.clone())
        }
        _ => HidChoice::None,
    }
}

impl HidChoice {
    /// The choice as the `--hid` flag spells it.
    pub fn describe(&self) -> String {
        match self {
            HidChoice::Auto => "auto".into(),
            HidChoice::None => "none".into(),
            HidChoice::Otg => "otg".into(),
            HidChoice::Record(p) => format!("record:{}", p.display()),
            HidChoice::Ch9329(p) => format!("ch9329:{}", p.display()),
        }
    }
}

fn open_otg(
    root: &std::path::Path,
    usb: Option<&crate::profile::UsbProfile>,
) -> Result<gadget::OtgHid, HidError> {
    if let Some(usb) = usb {
        let spec = gadget::spec_from_profile(usb);
        match gadget::ensure_up(root, &spec) {
            Ok(Some(up)) => tracing::info!(
                target: "hid",
                udc = %up.udc,
                "otg: usb gadget built: {}",
                up.plan.summary()
            ),
            Ok(None) => tracing::info!(target: "hid", "otg: using the existing usb gadget"),
            Err(e) => return Err(HidError::DeviceMissing(format!("otg: {e}"))),
        }
    }
    let hid = gadget::OtgHid::open(root)?;
    for (function, path) in hid.nodes() {
        tracing::info!(target: "hid", function, node = %path.display(), "otg: hid node");
    }
    Ok(hid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse() {
        assert_eq!("auto".parse(), Ok(HidChoice::Auto));
        assert_eq!("none".parse(), Ok(HidChoice::None));
        assert_eq!("otg".parse(), Ok(HidChoice::Otg));
        assert_eq!(
            "ch9329:/dev/ttyUSB0".parse(),
            Ok(HidChoice::Ch9329("/dev/ttyUSB0".into()))
        );
        assert_eq!(
            "record:/tmp/x".parse(),
            Ok(HidChoice::Record("/tmp/x".into()))
        );
        for bad in ["ch9329:", "record:", "usb", ""] {
            assert!(bad.parse::<HidChoice>().is_err(), "{bad}");
        }
    }

    #[test]
    fn auto_is_otg_only_with_a_usb_profile_and_a_udc() {
        let root = tempfile::tempdir().unwrap();
        let mut p = crate::profile::load("generic-uvc").unwrap();
        assert!(p.usb.is_some(), "generic-uvc has [usb]");
        assert_eq!(resolve_auto(root.path(), &p), HidChoice::None);
        std::fs::create_dir_all(root.path().join("sys/class/udc/dummy_udc.0")).unwrap();
        assert_eq!(resolve_auto(root.path(), &p), HidChoice::Otg);
        p.usb = None;
        assert_eq!(resolve_auto(root.path(), &p), HidChoice::None);
    }

    #[test]
    fn auto_is_the_profiles_ch9329_when_there_is_no_gadget_and_the_port_exists() {
        let root = tempfile::tempdir().unwrap();
        let p = crate::profile::load("rpi-zero2w-ms2109").unwrap();
        assert_eq!(
            p.hid_serial.as_deref(),
            Some(std::path::Path::new("/dev/serial0"))
        );
        // No port (UART not enabled): none, not a backend that cannot open.
        assert_eq!(resolve_auto(root.path(), &p), HidChoice::None);
        // /dev/serial0 is a symlink to the UART; a dangling one does not count.
        std::fs::create_dir_all(root.path().join("dev")).unwrap();
        std::os::unix::fs::symlink("ttyS0", root.path().join("dev/serial0")).unwrap();
        assert_eq!(resolve_auto(root.path(), &p), HidChoice::None);
        std::fs::write(root.path().join("dev/ttyS0"), b"").unwrap();
        assert_eq!(
            resolve_auto(root.path(), &p),
            HidChoice::Ch9329("/dev/serial0".into())
        );
        // A gadget, where there is one, comes first.
        let mut with_usb = p.clone();
        with_usb.usb = crate::profile::load("generic-uvc").unwrap().usb;
        std::fs::create_dir_all(root.path().join("sys/class/udc/x.usb")).unwrap();
        assert_eq!(resolve_auto(root.path(), &with_usb), HidChoice::Otg);
    }
}
