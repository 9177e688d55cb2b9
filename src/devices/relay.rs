//! USB HID relay boards' wire formats (pure: bytes in, bytes out). See
//! docs/DEVICES.md and the design's hardware notes (§4.2).
//!
//! - **LCUS** (HID 5131:2007, also the CH340 serial LCUS boards): a 4-byte output report
//!   `A0, channel (1-based), state (1 on / 0 off), checksum = (A0 + channel + state) & FF`.
//! - **V-USB "USBRelay"** (HID 16c0:05df, dcttech firmware, PiKVM's `hidrelay`): feature report
//!   `FF n` switches relay n on, `FD n` off; a GET_FEATURE of report 1 returns 8 bytes, the
//!   board's serial in bytes 0..5 and the ON bitmask in byte 7.

/// Relay boards have at most this many channels.
pub const MAX_CHANNELS: u8 = 8;

/// Which board protocol a `hidrelay` driver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// LCUS 5131:2007: raw 4-byte output reports.
    Lcus,
    /// V-USB 16c0:05df: feature reports.
    Vusb,
}

impl Protocol {
    /// The HID id (`HID_ID` in the hidraw node's uevent: bus, vendor, product) a board of this
    /// protocol reports.
    pub fn hid_id(self) -> &'static str {
        match self {
            Protocol::Lcus => "0003:00005131:00002007",
            Protocol::Vusb => "0003:000016C0:000005DF",
        }
    }
}

/// A relay channel out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("relay channel {0}: 1..={MAX_CHANNELS}")]
pub struct BadChannel(pub u8);

fn check(channel: u8) -> Result<u8, BadChannel> {
    if (1..=MAX_CHANNELS).contains(&channel) {
        Ok(channel)
    } else {
        Err(BadChannel(channel))
    }
}

/// The LCUS frame switching `channel` (1-based) on or off.
pub fn lcus_frame(channel: u8, on: bool) -> Result<[u8; 4], BadChannel> {
    let ch = check(channel)?;
    let state = u8::from(on);
    Ok([0xA0, ch, state, 0xA0u8.wrapping_add(ch).wrapping_add(state)])
}

/// The V-USB feature report switching `channel` (1-based) on or off: report number 0 (the
/// board has no report ids) then the 8-byte report.
pub fn vusb_report(channel: u8, on: bool) -> Result<[u8; 9], BadChannel> {
    let ch = check(channel)?;
    let mut r = [0u8; 9];
    r[1] = if on { 0xFF } else { 0xFD };
    r[2] = ch;
    Ok(r)
}

/// What a V-USB board's 8-byte state report says: (serial, ON bitmask).
pub fn vusb_state(report: &[u8]) -> Option<(String, u8)> {
    let r = report.get(..8)?;
    let serial: String = r[..5]
        .iter()
        .take_while(|b| **b != 0)
        .map(|b| char::from(*b))
        .collect();
    Some((serial, r[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcus_frames_match_the_boards_vectors() {
        assert_eq!(lcus_frame(1, true), Ok([0xA0, 0x01, 0x01, 0xA2]));
        assert_eq!(lcus_frame(1, false), Ok([0xA0, 0x01, 0x00, 0xA1]));
        assert_eq!(lcus_frame(2, true), Ok([0xA0, 0x02, 0x01, 0xA3]));
        assert_eq!(lcus_frame(8, false), Ok([0xA0, 0x08, 0x00, 0xA8]));
        assert_eq!(lcus_frame(0, true), Err(BadChannel(0)));
        assert_eq!(lcus_frame(9, true), Err(BadChannel(9)));
    }

    #[test]
    fn vusb_reports_switch_one_relay_and_the_state_report_reads_back() {
        assert_eq!(vusb_report(1, true), Ok([0, 0xFF, 1, 0, 0, 0, 0, 0, 0]));
        assert_eq!(vusb_report(2, false), Ok([0, 0xFD, 2, 0, 0, 0, 0, 0, 0]));
        assert_eq!(vusb_report(0, false), Err(BadChannel(0)));
        let report = [b'P', b'S', b'C', b'P', b'1', 0, 0, 0b10];
        assert_eq!(vusb_state(&report), Some(("PSCP1".into(), 0b10)));
        assert_eq!(vusb_state(&report[..7]), None);
    }
}
