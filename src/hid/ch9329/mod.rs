//! The `ch9329:/dev/ttyX` backend: a WCH CH9329 serial-to-USB-HID chip (boards without OTG).
//!
//! [`Ch9329Hid`] is the I/O shell: it sends one frame per report ([`proto`]) over the port
//! ([`port`]), waits for each acknowledgement, and follows the chip's health with
//! [`link::Link`]. On open, after any failed exchange, and when a hung chip answers again, it
//! resets the chip; after a reset it releases every key and button. [`cli`] holds the
//! `periscope ch9329` commands (show the chip's state, change its serial speed).

pub mod cli;
pub mod link;
pub mod port;
pub mod proto;

use super::{HidBackend, HidError, HidReport, Polled};
use link::{Due, Link};
use port::{ExchangeError, Port};
use proto::{Info, Reply};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The chip's factory serial speed.
pub const DEFAULT_BAUD: u32 = 9600;
/// Serial speeds the chip supports (its datasheet's list).
pub const BAUD_RATES: &[u32] = &[1200, 2400, 4800, 9600, 14400, 19200, 38400, 57600, 115200];
/// Pause after the chip acknowledges a RESET, while it restarts, before the next request.
pub const RESET_SETTLE: Duration = Duration::from_millis(30);

/// A CH9329 on a serial port.
#[derive(Debug)]
pub struct Ch9329Hid {
    path: PathBuf,
    baud: u32,
    /// `None` while the port is gone (unplugged adapter); reopened by `poll`/`send`.
    port: Option<Port>,
    link: Link,
    /// Exchanges that failed (error reply, garbage, timeout).
    errors: u64,
    /// X lo, X hi, Y lo, Y hi of the last absolute report: releasing the absolute mouse's
    /// buttons must not move the pointer.
    last_abs: [u8; 4],
}

impl Ch9329Hid {
    /// Opens the port at `baud`, resets the chip, reads its state and releases everything.
    /// A missing port is an error; a chip that does not answer is not (it is reset every
    /// [`link::RETRY_EVERY`] until it does; the log says so once).
    pub fn open(port: &Path, baud: u32) -> Result<Ch9329Hid, HidError> {
        let opened = Port::open(port, baud).map_err(|e| missing(port, baud, &e))?;
        let now = Instant::now();
        let mut hid = Ch9329Hid {
            path: port.to_path_buf(),
            baud,
            port: Some(opened),
            link: Link::new(now),
            errors: 0,
            last_abs: [0; 4],
        };
        match hid.start() {
            Ok(info) => tracing::info!(
                target: "hid",
                port = %port.display(),
                baud,
                version = %info.version_string(),
                enumerated = info.enumerated,
                "ch9329: chip ready"
            ),
            Err(e) => {
                tracing::warn!(
                    target: "hid",
                    port = %port.display(),
                    "ch9329: no answer at {baud} baud ({e}); check the wiring (chip TX to our \
                     RX) and --hid-baud; resetting it every {} s",
                    link::RETRY_EVERY.as_secs()
                );
                hid.link.set_hung(Instant::now());
            }
        }
        Ok(hid)
    }

    /// Exchanges that failed since open.
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Whether the chip currently counts as hung (unanswered requests).
    pub fn is_hung(&self) -> bool {
        self.link.is_hung()
    }

    /// RESET, GET_INFO, release everything.
    fn start(&mut self) -> Result<Info, ExchangeError> {
        self.reset()?;
        let info = self.get_info()?;
        self.release_frames()?;
        Ok(info)
    }

    fn reset(&mut self) -> Result<(), ExchangeError> {
        self.exchange(&proto::reset())?;
        std::thread::sleep(RESET_SETTLE);
        Ok(())
    }

    fn get_info(&mut self) -> Result<Info, ExchangeError> {
        let Reply::Info(info) = self.exchange(&proto::get_info())? else {
            // `proto` answers GET_INFO with `Reply::Info` only; anything else is rejected.
            return Err(proto::ProtoError::UnexpectedCmd {
                want: proto::Cmd::GetInfo,
                got: 0,
            }
            .into());
        };
        self.link.info(&info);
        Ok(info)
    }

    /// Keyboard all up; both mice with no buttons (absolute at the last position sent).
    fn release_frames(&mut self) -> Result<(), ExchangeError> {
        let [xl, xh, yl, yh] = self.last_abs;
        self.exchange(&proto::keyboard(&[0; 8]))?;
        self.exchange(&proto::mouse_rel(&[0; 5]))?;
        self.exchange(&proto::mouse_abs(&[0, xl, xh, yl, yh, 0, 0]))?;
        Ok(())
    }

    /// One exchange, with the link's bookkeeping: answered, missed, or port lost.
    fn exchange(&mut self, frame: &[u8]) -> Result<Reply, ExchangeError> {
        let Some(port) = self.port.as_mut() else {
            return Err(ExchangeError::Io {
                path: self.path.clone(),
                source: std::io::Error::new(ErrorKind::NotConnected, "port closed"),
            });
        };
        let result = port.exchange(frame);
        let now = Instant::now();
        match &result {
            Ok(_) | Err(ExchangeError::Proto(proto::ProtoError::Chip { .. })) => {
                let was_hung = self.link.is_hung();
                self.link.answered();
                if was_hung {
                    tracing::info!(target: "hid", port = %self.path.display(), "ch9329: chip answers again");
                }
            }
            Err(ExchangeError::Io { source, .. }) => {
                tracing::warn!(
                    target: "hid",
                    port = %self.path.display(),
                    "ch9329: port lost ({source}); reopening every {} s",
                    link::RETRY_EVERY.as_secs()
                );
                self.port = None;
                self.link.port_lost(now);
            }
            Err(e) => {
                if self.link.unanswered(now) {
                    tracing::warn!(
                        target: "hid",
                        port = %self.path.display(),
                        "ch9329: chip not answering ({e}); resetting it every {} s",
                        link::RETRY_EVERY.as_secs()
                    );
                }
            }
        }
        result
    }

    /// After a failed exchange: reset the chip and release everything (unless it is hung or
    /// gone: then `poll` takes over at its own pace).
    fn recover(&mut self) {
        if self.link.is_down() {
            return;
        }
        tracing::info!(target: "hid", port = %self.path.display(), "ch9329: resetting the chip after an error");
        let done = self.reset().and_then(|_| self.release_frames());
        if done.is_ok() {
            self.link.was_reset();
        }
    }

    /// `poll`'s retry for a hung chip: RESET; when it answers, read its state.
    fn retry_reset(&mut self) {
        if self.reset().is_ok() {
            let _ = self.get_info();
        }
    }

    /// Reopens a vanished port and restarts the chip on it.
    fn reopen(&mut self) {
        let Ok(port) = Port::open(&self.path, self.baud) else {
            return;
        };
        tracing::info!(target: "hid", port = %self.path.display(), "ch9329: port is back");
        self.port = Some(port);
        let now = Instant::now();
        self.link.port_back(now);
        if self.start().is_err() && !self.link.is_down() {
            self.link.set_hung(now);
        }
    }

    /// The error `send` returns while the chip is hung or its port gone.
    fn down_error(&self) -> HidError {
        if self.port.is_none() {
            HidError::DeviceMissing(format!(
                "ch9329 {}: port gone; reopening every {} s",
                self.path.display(),
                link::RETRY_EVERY.as_secs()
            ))
        } else {
            HidError::Io(std::io::Error::new(
                ErrorKind::TimedOut,
                format!(
                    "ch9329 {}: chip not answering; resetting it every {} s",
                    self.path.display(),
                    link::RETRY_EVERY.as_secs()
                ),
            ))
        }
    }
}

impl HidBackend for Ch9329Hid {
    fn name(&self) -> &'static str {
        "ch9329"
    }

    fn send(&mut self, report: &HidReport) -> Result<(), HidError> {
        if let HidReport::MouseAbs([_, xl, xh, yl, yh, _, _]) = *report {
            self.last_abs = [xl, xh, yl, yh];
        }
        if self.port.is_none() && self.link.due(Instant::now()) == Due::Reopen {
            self.link.retried(Instant::now());
            self.reopen();
        }
        if self.link.is_down() {
            return Err(self.down_error());
        }
        match self.exchange(&proto::report(report)) {
            Ok(_) => Ok(()),
            Err(e) => {
                self.errors += 1;
                let err = to_hid_error(&e);
                self.recover();
                Err(err)
            }
        }
    }

    fn poll(&mut self) -> Polled {
        let now = Instant::now();
        match self.link.due(now) {
            Due::Nothing => {}
            Due::Info => {
                self.link.info_asked(now);
                if let Err(e) = self.get_info() {
                    self.errors += 1;
                    tracing::debug!(target: "hid", error = %e, "ch9329: get_info failed");
                    self.recover();
                }
            }
            Due::Reset => {
                self.link.retried(now);
                self.retry_reset();
            }
            Due::Reopen => {
                self.link.retried(now);
                self.reopen();
            }
        }
        self.link.take_polled()
    }
}

/// `open`'s error for a port that cannot be opened.
fn missing(port: &Path, baud: u32, e: &std::io::Error) -> HidError {
    HidError::DeviceMissing(format!("ch9329 {} at {baud} baud: {e}", port.display()))
}

fn to_hid_error(e: &ExchangeError) -> HidError {
    match e {
        ExchangeError::Io { .. } => HidError::DeviceMissing(e.to_string()),
        ExchangeError::Timeout { .. } => {
            HidError::Io(std::io::Error::new(ErrorKind::TimedOut, e.to_string()))
        }
        ExchangeError::Proto(_) => {
            HidError::Io(std::io::Error::new(ErrorKind::InvalidData, e.to_string()))
        }
    }
}
