//! The serial port a CH9329 hangs on: open it at a speed, and run one request/reply exchange
//! bounded by a timeout. The only module that imports `serialport`; frames and replies come
//! from `proto`, and what to do about a failure is decided by the caller.

use super::proto::{self, Cmd, ProtoError, Reply, ReplyParser};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Added to the wire time of request and reply: the chip's own processing plus scheduling
/// slack on our side. A dead chip costs at most wire time + this per exchange (a keyboard
/// report at 9600 baud: 29 ms + 70 ms).
pub const MARGIN: Duration = Duration::from_millis(70);

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Nothing (or only unparseable bytes) came back in time.
    #[error("ch9329: no reply to {cmd} within {ms} ms{}", junk_note(*.junk))]
    Timeout {
        /// The command sent.
        cmd: &'static str,
        /// The time waited.
        ms: u128,
        /// Bytes received that were not part of any frame.
        junk: usize,
    },
    /// A reply came and was rejected (error status, bad checksum, wrong command…).
    #[error(transparent)]
    Proto(#[from] ProtoError),
    /// The port failed: unplugged, closed under us.
    #[error("ch9329: {path}: {source}")]
    Io {
        /// The port.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

fn junk_note(junk: usize) -> String {
    match junk {
        0 => String::new(),
        n => format!(" ({n} garbage bytes)"),
    }
}

impl ExchangeError {
    /// The chip did not answer at all (as opposed to answering wrongly).
    pub fn is_unanswered(&self) -> bool {
        matches!(self, ExchangeError::Timeout { junk: 0, .. })
    }
}

/// An open serial port at a fixed speed.
pub struct Port {
    inner: Box<dyn serialport::SerialPort>,
    path: PathBuf,
    baud: u32,
    parser: ReplyParser,
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("path", &self.path)
            .field("baud", &self.baud)
            .finish()
    }
}

impl Port {
    /// Opens `path` raw, 8N1, no flow control, at `baud`.
    pub fn open(path: &Path, baud: u32) -> std::io::Result<Port> {
        if !path.exists() {
            return Err(std::io::Error::new(
                ErrorKind::NotFound,
                "no such port (is the serial adapter plugged in?)",
            ));
        }
        let inner = serialport::new(path.to_string_lossy(), baud)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(MARGIN)
            .open()
            .map_err(std::io::Error::from)?;
        Ok(Port {
            inner,
            path: path.to_path_buf(),
            baud,
            parser: ReplyParser::default(),
        })
    }

    /// The port's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The speed it was opened at.
    pub fn baud(&self) -> u32 {
        self.baud
    }

    /// How long an exchange of `frame` may take: both frames on the wire (10 bits a byte)
    /// plus `margin`.
    pub fn deadline(&self, frame: &[u8], reply_len: usize, margin: Duration) -> Duration {
        let bits = (frame.len() + reply_len) as u64 * 10;
        Duration::from_micros(bits * 1_000_000 / u64::from(self.baud.max(1))) + margin
    }

    /// Sends `frame` and waits for its reply, at most wire time + [`MARGIN`].
    pub fn exchange(&mut self, frame: &[u8]) -> Result<Reply, ExchangeError> {
        self.exchange_within(frame, MARGIN)
    }

    /// Sends `frame` and waits for its reply, at most wire time + `margin`.
    pub fn exchange_within(
        &mut self,
        frame: &[u8],
        margin: Duration,
    ) -> Result<Reply, ExchangeError> {
        let cmd = proto::cmd_of(frame).unwrap_or(Cmd::GetInfo);
        let reply_len = proto::OVERHEAD + if cmd == Cmd::GetParaCfg { 50 } else { 8 };
        let budget = self.deadline(frame, reply_len, margin);
        let end = Instant::now() + budget;
        // A late reply to an earlier request must not be taken for this one's.
        let _ = self.inner.clear(serialport::ClearBuffer::Input);
        self.parser.clear();
        self.inner.write_all(frame).map_err(|e| self.io(e))?;
        self.inner.flush().map_err(|e| self.io(e))?;
        let mut buf = [0u8; 64];
        loop {
            if let Some(reply) = self.parser.next(cmd) {
                return Ok(reply?);
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ExchangeError::Timeout {
                    cmd: cmd.name(),
                    ms: budget.as_millis(),
                    junk: self.parser.skipped(),
                });
            }
            self.inner
                .set_timeout(left)
                .map_err(|e| self.io(e.into()))?;
            match self.inner.read(&mut buf) {
                Ok(0) => {}
                Ok(n) => self.parser.push(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) => return Err(self.io(e)),
            }
        }
    }

    fn io(&self, source: std::io::Error) -> ExchangeError {
        ExchangeError::Io {
            path: self.path.clone(),
            source,
        }
    }
}
