//! The CH9329 serial frame protocol (pure): request frames from our HID reports and commands,
//! and a streaming reply parser. No port, no clock: `port` does the I/O.
//!
//! A frame is `57 AB | ADDR | CMD | LEN | DATA[LEN] | SUM`, SUM being the low byte of the sum
//! of every byte before it. The chip answers every request with `CMD | 0x80` (ok) or
//! `CMD | 0xC0` (error, one status byte). Facts: shared/design/hardware-notes.md section 4.1.

use crate::hid::{HidReport, Leds};

/// Every frame starts with these two bytes.
pub const HEADER: [u8; 2] = [0x57, 0xAB];
/// The chip's address (factory default; we never change it).
pub const ADDR: u8 = 0x00;
/// Largest DATA the chip sends or accepts.
pub const MAX_DATA: usize = 64;
/// Bytes around DATA: header, address, command, length, checksum.
pub const OVERHEAD: usize = 6;
/// Size of the parameter block (`GET_PARA_CFG` / `SET_PARA_CFG`).
pub const CONFIG_LEN: usize = 50;
/// Where the baud rate sits in the parameter block (4 bytes, big endian).
const CONFIG_BAUD: std::ops::Range<usize> = 3..7;
/// The chip's absolute axes run 0..=4095.
pub const CHIP_ABS_MAX: u16 = 4095;
/// Bit set in a reply's command byte: ok reply.
const REPLY_OK: u8 = 0x80;
/// Bits set in a reply's command byte: error reply.
const REPLY_ERR: u8 = 0xC0;

/// The commands we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Cmd {
    /// Chip version, USB enumerated flag, keyboard LEDs.
    GetInfo = 0x01,
    /// Boot keyboard report.
    Keyboard = 0x02,
    /// Multimedia keys.
    Media = 0x03,
    /// Absolute mouse.
    MouseAbs = 0x04,
    /// Relative mouse.
    MouseRel = 0x05,
    /// Read the 50-byte parameter block.
    GetParaCfg = 0x08,
    /// Write the 50-byte parameter block (takes effect after a reset).
    SetParaCfg = 0x09,
    /// Soft reset.
    Reset = 0x0F,
}

impl Cmd {
    fn from_byte(b: u8) -> Option<Cmd> {
        Some(match b {
            0x01 => Cmd::GetInfo,
            0x02 => Cmd::Keyboard,
            0x03 => Cmd::Media,
            0x04 => Cmd::MouseAbs,
            0x05 => Cmd::MouseRel,
            0x08 => Cmd::GetParaCfg,
            0x09 => Cmd::SetParaCfg,
            0x0F => Cmd::Reset,
            _ => return None,
        })
    }

    /// Lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            Cmd::GetInfo => "get_info",
            Cmd::Keyboard => "keyboard",
            Cmd::Media => "media",
            Cmd::MouseAbs => "mouse_abs",
            Cmd::MouseRel => "mouse_rel",
            Cmd::GetParaCfg => "get_para_cfg",
            Cmd::SetParaCfg => "set_para_cfg",
            Cmd::Reset => "reset",
        }
    }

    /// DATA length of the ok reply.
    fn reply_len(self) -> usize {
        match self {
            Cmd::GetInfo => 8,
            Cmd::GetParaCfg => CONFIG_LEN,
            _ => 1,
        }
    }
}

/// The status byte of an error reply (or a non-zero one in an ok reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0xE1: the chip timed out waiting for the rest of a frame.
    Timeout,
    /// 0xE2: bad frame header.
    BadHeader,
    /// 0xE3: unknown command.
    BadCommand,
    /// 0xE4: checksum mismatch.
    BadChecksum,
    /// 0xE5: bad parameter.
    BadParameter,
    /// 0xE6: the operation failed.
    Failed,
    /// Any other byte.
    Other(u8),
}

impl Status {
    fn from_byte(b: u8) -> Status {
        match b {
            0xE1 => Status::Timeout,
            0xE2 => Status::BadHeader,
            0xE3 => Status::BadCommand,
            0xE4 => Status::BadChecksum,
            0xE5 => Status::BadParameter,
            0xE6 => Status::Failed,
            other => Status::Other(other),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Timeout => f.write_str("0xE1 timeout"),
            Status::BadHeader => f.write_str("0xE2 bad header"),
            Status::BadCommand => f.write_str("0xE3 bad command"),
            Status::BadChecksum => f.write_str("0xE4 bad checksum"),
            Status::BadParameter => f.write_str("0xE5 bad parameter"),
            Status::Failed => f.write_str("0xE6 operation failed"),
            Status::Other(b) => write!(f, "{b:#04X} unknown status"),
        }
    }
}

/// Why a reply was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// The chip answered with an error status.
    #[error("ch9329: {cmd} refused: status {status}", cmd = .cmd.name())]
    Chip {
        /// The command refused.
        cmd: Cmd,
        /// What the chip said.
        status: Status,
    },
    /// The checksum byte does not match the frame.
    #[error("ch9329: reply checksum {got:#04X}, expected {want:#04X}")]
    BadChecksum {
        /// Computed from the frame.
        want: u8,
        /// Received.
        got: u8,
    },
    /// The length byte is impossible, or wrong for the command.
    #[error("ch9329: reply to {cmd:#04X} has {len} data bytes, expected {want}")]
    BadLength {
        /// The reply's command byte.
        cmd: u8,
        /// Its length byte.
        len: usize,
        /// What the command's reply carries.
        want: usize,
    },
    /// A reply to some other command.
    #[error("ch9329: reply {got:#04X} to {want} (expected {:#04X})", *.want as u8 | REPLY_OK, want = .want.name())]
    UnexpectedCmd {
        /// The command sent.
        want: Cmd,
        /// The reply's command byte.
        got: u8,
    },
    /// A frame from another address.
    #[error("ch9329: reply from address {0:#04X}, expected 0x00")]
    BadAddress(u8),
}

/// The chip's `GET_INFO` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// Firmware version byte (shown as V{hi}.{lo}).
    pub version: u8,
    /// The target enumerated the chip's USB device.
    pub enumerated: bool,
    /// Keyboard LEDs the target set.
    pub leds: Leds,
}

impl Info {
    /// The version as the vendor tools show it: "V{hi nibble}.{lo nibble}" (0x30 → "V3.0").
    pub fn version_string(&self) -> String {
        format!("V{}.{}", self.version >> 4, self.version & 0x0F)
    }
}

/// The 50-byte parameter block. Only the baud rate is interpreted; the rest is kept as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParaCfg(pub [u8; CONFIG_LEN]);

impl ParaCfg {
    /// The serial speed the chip uses after its next reset.
    pub fn baud(&self) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[CONFIG_BAUD]);
        u32::from_be_bytes(b)
    }

    /// The same block with another baud rate (every other byte untouched).
    pub fn with_baud(mut self, baud: u32) -> ParaCfg {
        self.0[CONFIG_BAUD].copy_from_slice(&baud.to_be_bytes());
        self
    }
}

/// A parsed ok reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The command was carried out (status 0x00).
    Done(Cmd),
    /// `GET_INFO`.
    Info(Info),
    /// `GET_PARA_CFG`.
    Config(ParaCfg),
}

// ===== request frames =====

/// Low byte of the sum of `bytes`.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b))
}

/// One request frame. `data` is at most [`MAX_DATA`] bytes (every caller here passes a
/// fixed-size array that is).
fn frame(cmd: Cmd, data: &[u8]) -> Vec<u8> {
    debug_assert!(data.len() <= MAX_DATA);
    let mut f = Vec::with_capacity(OVERHEAD + data.len());
    f.extend_from_slice(&HEADER);
    f.extend_from_slice(&[ADDR, cmd as u8, data.len() as u8]);
    f.extend_from_slice(data);
    f.push(checksum(&f));
    f
}

/// `GET_INFO`.
pub fn get_info() -> Vec<u8> {
    frame(Cmd::GetInfo, &[])
}

/// `RESET`.
pub fn reset() -> Vec<u8> {
    frame(Cmd::Reset, &[])
}

/// `GET_PARA_CFG`.
pub fn get_para_cfg() -> Vec<u8> {
    frame(Cmd::GetParaCfg, &[])
}

/// `SET_PARA_CFG` with the whole block.
pub fn set_para_cfg(cfg: &ParaCfg) -> Vec<u8> {
    frame(Cmd::SetParaCfg, &cfg.0)
}

/// Keyboard: our boot report as it is (modifiers, 0, six keys).
pub fn keyboard(report: &[u8; 8]) -> Vec<u8> {
    frame(Cmd::Keyboard, report)
}

/// Multimedia keys: the three-byte bitmap (all zero releases).
pub fn media(bits: [u8; 3]) -> Vec<u8> {
    frame(Cmd::Media, &[0x02, bits[0], bits[1], bits[2]])
}

/// Absolute mouse from our report (X/Y 0..=32767 LE, wheel, pan): X/Y scaled to 0..=4095;
/// the chip has no horizontal wheel, so pan is dropped.
pub fn mouse_abs(report: &[u8; 7]) -> Vec<u8> {
    let [buttons, xl, xh, yl, yh, wheel, _pan] = *report;
    let [xl, xh] = to_chip_axis(u16::from_le_bytes([xl, xh])).to_le_bytes();
    let [yl, yh] = to_chip_axis(u16::from_le_bytes([yl, yh])).to_le_bytes();
    frame(Cmd::MouseAbs, &[0x02, buttons, xl, xh, yl, yh, wheel])
}

/// Relative mouse from our report (buttons, dx, dy, wheel, pan); pan is dropped.
pub fn mouse_rel(report: &[u8; 5]) -> Vec<u8> {
    let [buttons, dx, dy, wheel, _pan] = *report;
    frame(Cmd::MouseRel, &[0x01, buttons, dx, dy, wheel])
}

/// The frame for one of our reports.
pub fn report(report: &HidReport) -> Vec<u8> {
    match report {
        HidReport::Keyboard(b) => keyboard(b),
        HidReport::MouseAbs(b) => mouse_abs(b),
        HidReport::MouseRel(b) => mouse_rel(b),
    }
}

/// The command a request frame carries (for matching its reply).
pub fn cmd_of(frame: &[u8]) -> Option<Cmd> {
    frame.get(3).copied().and_then(Cmd::from_byte)
}

/// 0..=32767 → 0..=4095, rounded, clamped.
fn to_chip_axis(v: u16) -> u16 {
    let max = crate::hid::report::ABS_MAX as u32;
    let v = (v as u32).min(max);
    ((v * CHIP_ABS_MAX as u32 + max / 2) / max) as u16
}

// ===== replies =====

/// Collects bytes from the port and cuts replies out of them. Bytes before a `57 AB` are
/// skipped (and counted); a rejected frame loses its header so the search resumes after it.
#[derive(Debug, Default)]
pub struct ReplyParser {
    buf: Vec<u8>,
    skipped: usize,
}

impl ReplyParser {
    /// Adds bytes read from the port.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Forgets everything buffered (before a new request).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.skipped = 0;
    }

    /// Bytes skipped while looking for a header since the last [`ReplyParser::clear`].
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The next reply to `want`: `None` until a whole frame is buffered.
    pub fn next(&mut self, want: Cmd) -> Option<Result<Reply, ProtoError>> {
        self.resync();
        if self.buf.len() < 5 {
            return None;
        }
        let (addr, cmd, len) = (self.buf[2], self.buf[3], self.buf[4] as usize);
        if len > MAX_DATA {
            self.buf.drain(..2);
            let want_len = want.reply_len();
            return Some(Err(ProtoError::BadLength {
                cmd,
                len,
                want: want_len,
            }));
        }
        if self.buf.len() < OVERHEAD + len {
            return None;
        }
        let frame: Vec<u8> = self.buf.drain(..OVERHEAD + len).collect();
        let body = &frame[..frame.len() - 1];
        let (want_sum, got_sum) = (checksum(body), frame[frame.len() - 1]);
        if want_sum != got_sum {
            // The header may have been noise: look again right after it.
            self.buf.splice(0..0, frame[2..].iter().copied());
            return Some(Err(ProtoError::BadChecksum {
                want: want_sum,
                got: got_sum,
            }));
        }
        if addr != ADDR {
            return Some(Err(ProtoError::BadAddress(addr)));
        }
        Some(decode(want, cmd, &frame[5..5 + len]))
    }

    /// Drops bytes up to the next `57 AB` (keeps a trailing `57`).
    fn resync(&mut self) {
        let start = self
            .buf
            .windows(2)
            .position(|w| w == HEADER)
            .unwrap_or_else(|| {
                if self.buf.last() == Some(&HEADER[0]) {
                    self.buf.len() - 1
                } else {
                    self.buf.len()
                }
            });
        self.skipped += start;
        self.buf.drain(..start);
    }
}

/// A checked frame's command byte and data → the reply to `want`.
fn decode(want: Cmd, cmd: u8, data: &[u8]) -> Result<Reply, ProtoError> {
    let ok = want as u8 | REPLY_OK;
    let err = want as u8 | REPLY_ERR;
    if cmd == err {
        let status = Status::from_byte(data.first().copied().unwrap_or(0));
        return Err(ProtoError::Chip { cmd: want, status });
    }
    if cmd != ok {
        return Err(ProtoError::UnexpectedCmd { want, got: cmd });
    }
    let want_len = want.reply_len();
    if data.len() != want_len {
        return Err(ProtoError::BadLength {
            cmd,
            len: data.len(),
            want: want_len,
        });
    }
    Ok(match want {
        Cmd::GetInfo => Reply::Info(Info {
            version: data[0],
            enumerated: data[1] == 0x01,
            leds: Leds {
                num: data[2] & 0x01 != 0,
                caps: data[2] & 0x02 != 0,
                scroll: data[2] & 0x04 != 0,
            },
        }),
        Cmd::GetParaCfg => {
            let mut block = [0u8; CONFIG_LEN];
            block.copy_from_slice(data);
            Reply::Config(ParaCfg(block))
        }
        _ if data[0] != 0x00 => {
            return Err(ProtoError::Chip {
                cmd: want,
                status: Status::from_byte(data[0]),
            })
        }
        other => Reply::Done(other),
    })
}

#[cfg(test)]
#[path = "proto_tests.rs"]
mod tests;
