//! Keyboard and mouse output: the [`HidBackend`] seam, its backends, and the worker that owns
//! one backend ([`worker`]). Input arrives as `input::InputEvent`s through a [`HidHandle`].
//!
//! Backends here: `none` (validate and log) and `record:FILE` (append each report as a JSON
//! line; tests use it). The USB gadget and CH9329 backends come later behind the same trait.

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
}

impl std::str::FromStr for HidChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" | "auto" => Ok(HidChoice::None),
            _ => match s.strip_prefix("record:") {
                Some(path) if !path.is_empty() => Ok(HidChoice::Record(path.into())),
                _ => Err(format!(
                    "hid = {s:?}: must be auto, none or record:FILE (otg and ch9329 are not built yet)"
                )),
            },
        }
    }
}

/// Opens the chosen backend.
pub fn open(choice: &HidChoice) -> Result<Box<dyn HidBackend>, HidError> {
    Ok(match choice {
        HidChoice::None => Box::new(record::NoneHid),
        HidChoice::Record(path) => Box::new(record::RecordHid::open(path)?),
    })
}
