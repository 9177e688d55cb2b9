//! The drivers behind ATX signals and buttons, one small trait: [`Driver::set`] drives a
//! channel on or off, [`Driver::get`] reads it. Blocking (callers use `spawn_blocking`).
//!
//! - [`HidRelay`]: a USB HID relay board on an explicit `/dev/hidrawN`, whose identity
//!   (`HID_ID` in sysfs) is checked on every open: a path that is not that board is refused.
//! - [`Gpio`] (`gpiocdev`): lines of a GPIO character device, requested on first use and held.
//! - [`Cmd`]: a program with arguments, no shell, killed at its timeout.

use super::config::DriverConfig;
use super::relay::{self, Protocol};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Output kept from a command (each of stdout and stderr).
pub const MAX_OUTPUT: usize = 4096;

/// Why a driver could not do it.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The device is missing or refused the operation.
    #[error("{what}: {source}")]
    Io {
        /// Device and operation.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The configured path is not the device the config says.
    #[error("{0}")]
    NotTheDevice(String),
    /// The channel does not exist on this driver, or cannot do that.
    #[error("{0}")]
    Unsupported(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DriverError {
    let what = what.into();
    move |source| DriverError::Io { what, source }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CmdResult {
    /// Exit code (`None`: killed by a signal or at the timeout).
    pub exit_code: Option<i32>,
    /// Whether the timeout killed it.
    pub timed_out: bool,
    /// Its standard output and error (at most [`MAX_OUTPUT`] bytes each, lossy UTF-8).
    pub stdout: String,
    /// See `stdout`.
    pub stderr: String,
}

/// One device.
pub trait Driver: Send + Sync {
    /// `gpio`, `hidrelay` or `cmd`.
    fn kind(&self) -> &'static str;
    /// Drives `channel` on or off; a command's result when the driver runs one.
    fn set(&self, channel: u32, on: bool) -> Result<Option<CmdResult>, DriverError>;
    /// The channel's level (an input's, or what was last set); `None` when unknown.
    fn get(&self, channel: u32) -> Result<Option<bool>, DriverError>;
}

/// Builds the driver a config section describes (opening nothing yet).
pub fn build(name: &str, cfg: &DriverConfig) -> Box<dyn Driver> {
    match cfg {
        DriverConfig::Gpio { chip, active_low } => Box::new(Gpio {
            chip: chip.clone(),
            active_low: active_low.clone(),
            lines: Mutex::new(HashMap::new()),
        }),
        DriverConfig::Hidrelay { path, protocol } => Box::new(HidRelay {
            path: path.clone(),
            protocol: *protocol,
            sys: PathBuf::from("/sys/class/hidraw"),
            state: Mutex::new(0),
        }),
        DriverConfig::Cmd {
            on,
            off,
            timeout_ms,
        } => Box::new(Cmd {
            name: name.to_string(),
            on: on.clone(),
            off: off.clone(),
            timeout: Duration::from_millis(*timeout_ms),
        }),
    }
}

/// A USB HID relay board.
pub struct HidRelay {
    path: PathBuf,
    protocol: Protocol,
    /// Where the hidraw class lives (`/sys/class/hidraw`; tests point elsewhere).
    sys: PathBuf,
    /// Channels last set on (bit n−1): LCUS boards cannot be read back.
    state: Mutex<u8>,
}

impl HidRelay {
    /// A board on `path` speaking `protocol`, its identity read under `sys` (a hidraw class
    /// directory).
    pub fn new(path: PathBuf, protocol: Protocol, sys: PathBuf) -> HidRelay {
        HidRelay {
            path,
            protocol,
            sys,
            state: Mutex::new(0),
        }
    }

    /// Opens the node after checking it is a hidraw node of this protocol's board.
    fn open(&self) -> Result<std::fs::File, DriverError> {
        check_hidraw(&self.path, self.protocol, &self.sys)?;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(io_err(format!("hidrelay {}: open", self.path.display())))
    }
}

/// `Ok` when `path` resolves to `/dev/hidrawN` whose sysfs `HID_ID` is `protocol`'s board.
pub fn check_hidraw(path: &Path, protocol: Protocol, sys: &Path) -> Result<(), DriverError> {
    let real =
        std::fs::canonicalize(path).map_err(io_err(format!("hidrelay {}", path.display())))?;
    let node = real
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| n.starts_with("hidraw") && real.parent() == Some(Path::new("/dev")))
        .ok_or_else(|| {
            DriverError::NotTheDevice(format!(
                "hidrelay {}: not a /dev/hidrawN node ({})",
                path.display(),
                real.display()
            ))
        })?;
    check_identity(path, node, protocol, sys)
}

/// `Ok` when hidraw node `node`'s sysfs `HID_ID` (under the hidraw class directory `sys`) is
/// `protocol`'s board.
fn check_identity(
    path: &Path,
    node: &str,
    protocol: Protocol,
    sys: &Path,
) -> Result<(), DriverError> {
    let uevent = sys.join(node).join("device/uevent");
    let text = std::fs::read_to_string(&uevent).map_err(io_err(format!(
        "hidrelay {}: {}",
        path.display(),
        uevent.display()
    )))?;
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("HID_ID="))
        .unwrap_or("none");
    if !id.eq_ignore_ascii_case(protocol.hid_id()) {
        return Err(DriverError::NotTheDevice(format!(
            "hidrelay {}: HID_ID {id}, not a {:?} relay board ({})",
            path.display(),
            protocol,
            protocol.hid_id()
        )));
    }
    Ok(())
}

impl Driver for HidRelay {
    fn kind(&self) -> &'static str {
        "hidrelay"
    }

    fn set(&self, channel: u32, on: bool) -> Result<Option<CmdResult>, DriverError> {
        let ch = u8::try_from(channel)
            .ok()
            .filter(|c| (1..=relay::MAX_CHANNELS).contains(c))
            .ok_or_else(|| DriverError::Unsupported(format!("relay channel {channel}: 1..=8")))?;
        let mut file = self.open()?;
        let what = format!("hidrelay {}: channel {ch}", self.path.display());
        match self.protocol {
            Protocol::Lcus => {
                let frame = relay::lcus_frame(ch, on)
                    .map_err(|e| DriverError::Unsupported(e.to_string()))?;
                file.write_all(&frame).map_err(io_err(what))?;
            }
            Protocol::Vusb => {
                let mut report = relay::vusb_report(ch, on)
                    .map_err(|e| DriverError::Unsupported(e.to_string()))?;
                hid_feature(&file, &mut report, false).map_err(io_err(what))?;
            }
        }
        if let Ok(mut s) = self.state.lock() {
            let bit = 1u8 << (ch - 1);
            *s = if on { *s | bit } else { *s & !bit };
        }
        Ok(None)
    }

    fn get(&self, channel: u32) -> Result<Option<bool>, DriverError> {
        let bit = u8::try_from(channel)
            .ok()
            .filter(|c| (1..=relay::MAX_CHANNELS).contains(c))
            .map(|c| 1u8 << (c - 1))
            .ok_or_else(|| DriverError::Unsupported(format!("relay channel {channel}: 1..=8")))?;
        if self.protocol == Protocol::Vusb {
            let file = self.open()?;
            let mut report = [0u8; 9];
            report[0] = 1;
            hid_feature(&file, &mut report, true)
                .map_err(io_err(format!("hidrelay {}: state", self.path.display())))?;
            if let Some((_, mask)) = relay::vusb_state(&report[..8]) {
                return Ok(Some(mask & bit != 0));
            }
        }
        Ok(self.state.lock().ok().map(|s| *s & bit != 0))
    }
}

/// HIDIOCSFEATURE / HIDIOCGFEATURE on `buf` (report number first).
#[allow(unsafe_code)]
fn hid_feature(file: &std::fs::File, buf: &mut [u8], get: bool) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // _IOC(_IOC_READ | _IOC_WRITE, 'H', 0x06 set / 0x07 get, len)
    let nr: u64 = if get { 0x07 } else { 0x06 };
    let request = (3u64 << 30) | ((buf.len() as u64) << 16) | ((b'H' as u64) << 8) | nr;
    // SAFETY: `buf` is valid for `buf.len()` bytes, the length encoded in the request, and
    // `file` is an open hidraw node for the whole call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), request as _, buf.as_mut_ptr()) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Lines of a GPIO character device, requested on first use and held until exit.
pub struct Gpio {
    chip: PathBuf,
    active_low: Vec<u32>,
    /// Requested lines: (request, requested as output).
    lines: Mutex<HashMap<u32, (gpiocdev::Request, bool)>>,
}

impl Gpio {
    fn with_line<T>(
        &self,
        offset: u32,
        output: bool,
        f: impl FnOnce(&gpiocdev::Request) -> Result<T, gpiocdev::Error>,
    ) -> Result<T, DriverError> {
        let what = format!("gpio {} line {offset}", self.chip.display());
        let mut lines = self
            .lines
            .lock()
            .map_err(|_| DriverError::Unsupported(format!("{what}: lock poisoned")))?;
        let stale = lines.get(&offset).is_some_and(|(_, out)| *out != output);
        if stale {
            lines.remove(&offset); // released, requested again the other way
        }
        let req = match lines.entry(offset) {
            std::collections::hash_map::Entry::Occupied(e) => &e.into_mut().0,
            std::collections::hash_map::Entry::Vacant(e) => {
                let mut b = gpiocdev::Request::builder();
                b.on_chip(&self.chip)
                    .with_consumer("periscope")
                    .with_line(offset);
                if output {
                    b.as_output(gpiocdev::line::Value::Inactive);
                } else {
                    b.as_input();
                }
                if self.active_low.contains(&offset) {
                    b.as_active_low();
                }
                let req = b.request().map_err(|e| gpio_err(&what, e))?;
                &e.insert((req, output)).0
            }
        };
        f(req).map_err(|e| gpio_err(&what, e))
    }
}

fn gpio_err(what: &str, e: gpiocdev::Error) -> DriverError {
    DriverError::Io {
        what: what.to_string(),
        source: std::io::Error::other(e.to_string()),
    }
}

impl Driver for Gpio {
    fn kind(&self) -> &'static str {
        "gpio"
    }

    fn set(&self, channel: u32, on: bool) -> Result<Option<CmdResult>, DriverError> {
        let value = if on {
            gpiocdev::line::Value::Active
        } else {
            gpiocdev::line::Value::Inactive
        };
        self.with_line(channel, true, |r| r.set_lone_value(value).map(|_| ()))?;
        Ok(None)
    }

    fn get(&self, channel: u32) -> Result<Option<bool>, DriverError> {
        // A line held as an output reads back what was set; any other is read as an input.
        let output = self
            .lines
            .lock()
            .map(|l| l.get(&channel).is_some_and(|(_, out)| *out))
            .unwrap_or(false);
        let v = self.with_line(channel, output, |r| r.lone_value())?;
        Ok(Some(v == gpiocdev::line::Value::Active))
    }
}

/// A program run with arguments, no shell.
pub struct Cmd {
    name: String,
    on: Vec<String>,
    off: Vec<String>,
    timeout: Duration,
}

impl Cmd {
    /// A command driver (`on` runs for on and pulse, `off` for off).
    pub fn new(name: &str, on: Vec<String>, off: Vec<String>, timeout: Duration) -> Cmd {
        Cmd {
            name: name.to_string(),
            on,
            off,
            timeout,
        }
    }
}

impl Driver for Cmd {
    fn kind(&self) -> &'static str {
        "cmd"
    }

    fn set(&self, _channel: u32, on: bool) -> Result<Option<CmdResult>, DriverError> {
        let argv = if on { &self.on } else { &self.off };
        if argv.is_empty() {
            return Ok(None); // nothing configured for off
        }
        run(&self.name, argv, self.timeout).map(Some)
    }

    fn get(&self, _channel: u32) -> Result<Option<bool>, DriverError> {
        Ok(None)
    }
}

/// Runs `argv` (no shell) with stdin closed, capturing output, killed after `timeout`.
pub fn run(name: &str, argv: &[String], timeout: Duration) -> Result<CmdResult, DriverError> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| DriverError::Unsupported(format!("cmd {name}: no program")))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(io_err(format!("cmd {name}: {program}")))?;
    // Drain both pipes on threads so a chatty program cannot block on a full pipe.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            if let Some(mut p) = pipe {
                let mut buf = [0u8; 4096];
                while let Ok(n) = p.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let room = MAX_OUTPUT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
            String::from_utf8_lossy(&kept).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(io_err(format!("cmd {name}: wait"))(e)),
        }
    };
    Ok(CmdResult {
        exit_code: status.and_then(|s| s.code()).filter(|_| !timed_out),
        timed_out,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_reports_its_exit_status_output_and_timeout() {
        let sh = |script: &str| vec!["/bin/sh".to_string(), "-c".into(), script.into()];
        let r = run(
            "t",
            &sh("echo hello; echo oops >&2; exit 3"),
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(r.exit_code, Some(3));
        assert!(!r.timed_out);
        assert_eq!(
            (r.stdout.as_str(), r.stderr.as_str()),
            ("hello\n", "oops\n")
        );
        let t0 = Instant::now();
        let r = run(
            "t",
            &sh("echo started; exec sleep 30"),
            Duration::from_millis(300),
        )
        .unwrap();
        assert!(r.timed_out && r.exit_code.is_none(), "{r:?}");
        assert_eq!(r.stdout, "started\n");
        assert!(t0.elapsed() < Duration::from_secs(5));
        // Output beyond MAX_OUTPUT is dropped, the program is not blocked by it.
        let r = run("t", &sh("head -c 100000 /dev/zero"), Duration::from_secs(5)).unwrap();
        assert_eq!((r.exit_code, r.stdout.len()), (Some(0), MAX_OUTPUT));
        // A missing program is an error naming it.
        let e = run(
            "t",
            &["/nonexistent/prog".to_string()],
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/prog"), "{e}");
    }

    #[test]
    fn a_hidrelay_path_must_be_that_boards_hidraw_node() {
        let dir = std::env::temp_dir().join(format!("periscope-hidraw-{}", std::process::id()));
        let sys = dir.join("sys");
        std::fs::create_dir_all(sys.join("hidraw0/device")).unwrap();
        std::fs::write(
            sys.join("hidraw0/device/uevent"),
            "DRIVER=hid-generic\nHID_ID=0003:00005131:00002007\nHID_NAME=LCUS relay\n",
        )
        .unwrap();
        // Not a hidraw node at all.
        let e = check_hidraw(Path::new("/dev/null"), Protocol::Lcus, &sys).unwrap_err();
        assert!(e.to_string().contains("not a /dev/hidrawN"), "{e}");
        let e = check_hidraw(Path::new("/dev/hidraw-nope"), Protocol::Lcus, &sys).unwrap_err();
        assert!(matches!(e, DriverError::Io { .. }), "{e}");
        // The sysfs identity: this board's HID_ID passes; another protocol's board, or a
        // node without a HID_ID, is refused with what it is.
        let p = Path::new("/dev/hidraw0");
        check_identity(p, "hidraw0", Protocol::Lcus, &sys).unwrap();
        let e = check_identity(p, "hidraw0", Protocol::Vusb, &sys).unwrap_err();
        assert!(
            e.to_string()
                .contains("HID_ID 0003:00005131:00002007, not a Vusb"),
            "{e}"
        );
        std::fs::create_dir_all(sys.join("hidraw1/device")).unwrap();
        std::fs::write(sys.join("hidraw1/device/uevent"), "DRIVER=hid-generic\n").unwrap();
        let e = check_identity(p, "hidraw1", Protocol::Lcus, &sys).unwrap_err();
        assert!(e.to_string().contains("HID_ID none"), "{e}");
        assert!(check_identity(p, "hidraw7", Protocol::Lcus, &sys).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
