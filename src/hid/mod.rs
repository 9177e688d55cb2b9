//! Keyboard and mouse output: the [`HidBackend`] seam, its backends, and the worker that owns
//! one backend ([`worker`]). Input arrives as `input::InputEvent`s through a [`HidHandle`].
//!
//! Backends here: `none` (validate and log), `record:FILE` (append each report as a JSON
//! line; tests use it) and `otg` (the USB gadget's `/dev/hidgN`, [`gadget`]). CH9329 comes
//! later behind the same trait.

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
    /// The host's LED state if it changed since the last call (backends without LEDs: never).
    fn poll_leds(&mut self) -> Option<Leds> {
        None
    }
}

/// Which backend the `--hid` flag asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HidChoice {
    /// Validate and log only.
    None,
    /// Append reports to a file.
    Record(std::path::PathBuf),
    /// The USB OTG gadget (`/dev/hidgN`), built from the profile's `[usb]` if absent.
    Otg,
}

impl std::str::FromStr for HidChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" | "auto" => Ok(HidChoice::None),
            "otg" => Ok(HidChoice::Otg),
            _ => match s.strip_prefix("record:") {
                Some(path) if !path.is_empty() => Ok(HidChoice::Record(path.into())),
                _ => Err("must be auto, none, otg or record:FILE (ch9329 is not built yet)".into()),
            },
        }
    }
}

/// Opens the chosen backend. `otg` uses the profile's `usb` section to build the gadget
/// when none is set up (an existing one is used as it is).
pub fn open(
    choice: &HidChoice,
    usb: Option<&crate::profile::UsbProfile>,
) -> Result<Box<dyn HidBackend>, HidError> {
    Ok(match choice {
        HidChoice::None => Box::new(record::NoneHid),
        HidChoice::Record(path) => Box::new(record::RecordHid::open(path)?),
        HidChoice::Otg => Box::new(open_otg(std::path::Path::new("/"), usb)?),
    })
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
