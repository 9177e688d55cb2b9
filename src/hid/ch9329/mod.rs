//! The `ch9329:/dev/ttyX` backend: a WCH CH9329 serial-to-USB-HID chip (boards without OTG).
//! Placeholder: the protocol and the port I/O are being written (issue 5).

use super::{HidBackend, HidError, HidReport};
use std::path::Path;

/// The chip's factory serial speed.
pub const DEFAULT_BAUD: u32 = 9600;
/// Serial speeds the chip supports (its datasheet's list).
pub const BAUD_RATES: &[u32] = &[1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200];

/// A CH9329 on a serial port.
#[derive(Debug)]
pub struct Ch9329Hid;

impl Ch9329Hid {
    /// Opens the port at `baud`.
    pub fn open(port: &Path, baud: u32) -> Result<Ch9329Hid, HidError> {
        Err(HidError::DeviceMissing(format!(
            "ch9329 {} at {baud} baud: not built yet",
            port.display()
        )))
    }
}

impl HidBackend for Ch9329Hid {
    fn name(&self) -> &'static str {
        "ch9329"
    }
    fn send(&mut self, _report: &HidReport) -> Result<(), HidError> {
        Err(HidError::DeviceMissing("ch9329: not built yet".into()))
    }
}
