//! The `otg` HID backend: writes reports to the gadget's `/dev/hidgN` nodes and reads the
//! keyboard's LED output reports back.
//!
//! Nodes are opened `O_RDWR | O_NONBLOCK`, so nothing here blocks the HID worker for long:
//! - a write that would block (the host is suspended, off, or slow to poll) waits on
//!   `poll(POLLOUT)` for at most [`WRITE_WAIT`], then reports [`HidError::HostNotConnected`];
//! - `ESHUTDOWN` (the host has not configured the gadget) is `HostNotConnected`, `ENODEV` /
//!   `ENOENT` / `ENXIO` (the node or gadget went away) are `DeviceMissing`;
//! - after any error but a timeout the node is closed and reopened on the next send, which
//!   is all it takes to follow a host re-enumeration or a gadget rebuilt under us.
//!
//! Which node is which comes from configfs (`functions/hid.NAME/dev`, see
//! [`hidg_node`](super::apply::hidg_node)), not from creation order.
//!
//! [`poll`](HidBackend::poll) reads the UDC's state (`/sys/class/udc/<udc>/state`) and the
//! count of kernel notifications on it ([`UdcWatch`]): when the host configured the gadget
//! again — it rebooted, was replugged, resumed, or re-authorized the device, even without a
//! state change a poll could see — it reports `reconnected`, and the worker sends a
//! release-all to the fresh host (which may otherwise see a key still down).

use super::apply::{self, gadget_dir, hidg_node};
use super::plan::UDC_CLASS_DIR;
use super::udc_watch::UdcWatch;
use crate::hid::{HidBackend, HidError, HidReport, Leds, Polled};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest a send waits for the host to take the previous report.
pub const WRITE_WAIT: Duration = Duration::from_millis(20);
/// LED reports read per `poll_leds` call at most.
const MAX_LED_READS: usize = 16;
/// Report device name → configfs function directory.
const FUNCTIONS: [(&str, &str); 3] = [
    ("keyboard", "hid.keyboard"),
    ("mouse_abs", "hid.mouse_abs"),
    ("mouse_rel", "hid.mouse_rel"),
];

#[cfg(all(target_os = "linux", feature = "gadget"))]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    pub const SUPPORTED: bool = true;
    pub const O_NONBLOCK: i32 = libc::O_NONBLOCK;
    pub const ESHUTDOWN: i32 = libc::ESHUTDOWN;
    pub const ENODEV: i32 = libc::ENODEV;
    pub const ENXIO: i32 = libc::ENXIO;

    /// Waits until `file` is writable (or in error); false on timeout.
    pub fn wait_writable(file: &File, timeout: Duration) -> io::Result<bool> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLOUT,
            revents: 0,
        };
        loop {
            // SAFETY: `pfd` is one valid, initialised pollfd that outlives the call, and
            // nfds = 1 matches it; the fd stays open because `file` is borrowed.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc >= 0 {
                return Ok(rc > 0);
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

#[cfg(not(all(target_os = "linux", feature = "gadget")))]
mod sys {
    use std::fs::File;
    use std::io;
    use std::time::Duration;

    pub const SUPPORTED: bool = false;
    pub const O_NONBLOCK: i32 = 0;
    pub const ESHUTDOWN: i32 = 108;
    pub const ENODEV: i32 = 19;
    pub const ENXIO: i32 = 6;

    pub fn wait_writable(_file: &File, _timeout: Duration) -> io::Result<bool> {
        Ok(false)
    }
}

/// Host LED state from one keyboard output report (bit 0 Num, 1 Caps, 2 Scroll).
pub fn parse_leds(report: &[u8]) -> Option<Leds> {
    let b = *report.first()?;
    Some(Leds {
        num: b & 0x01 != 0,
        caps: b & 0x02 != 0,
        scroll: b & 0x04 != 0,
    })
}

#[derive(Debug)]
struct Node {
    function: &'static str,
    path: PathBuf,
    file: Option<File>,
}

impl Node {
    fn missing(&self, why: impl std::fmt::Display) -> HidError {
        HidError::DeviceMissing(format!(
            "{} ({}): {why}",
            self.path.display(),
            self.function
        ))
    }

    fn classify(&self, e: io::Error) -> HidError {
        match e.raw_os_error() {
            Some(c) if c == sys::ESHUTDOWN => HidError::HostNotConnected,
            Some(c) if c == sys::ENODEV || c == sys::ENXIO => self.missing(e),
            _ if e.kind() == io::ErrorKind::NotFound => {
                self.missing("no such device node (is the gadget bound? periscope otg status)")
            }
            _ => HidError::Io(e),
        }
    }

    fn ensure_open(&mut self) -> Result<&mut File, HidError> {
        if self.file.is_none() {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(sys::O_NONBLOCK)
                .open(&self.path)
                .map_err(|e| self.classify(e))?;
            self.file = Some(f);
        }
        // INVARIANT: set just above when it was None.
        Ok(self.file.as_mut().expect("opened above"))
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), HidError> {
        let file = self.ensure_open()?;
        let result = match file.write(bytes) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match sys::wait_writable(file, WRITE_WAIT) {
                    Ok(true) => file.write(bytes),
                    Ok(false) => return Err(HidError::HostNotConnected),
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        match result {
            Ok(_) => Ok(()),
            // Still busy after the wait: the host is not reading; keep the node open.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(HidError::HostNotConnected),
            Err(e) => {
                self.file = None;
                Err(self.classify(e))
            }
        }
    }

    /// The last output report waiting, if any (never blocks).
    fn read_latest(&mut self) -> Option<Vec<u8>> {
        let file = self.ensure_open().ok()?;
        let mut buf = [0u8; 64];
        let mut latest = None;
        for _ in 0..MAX_LED_READS {
            match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => latest = Some(buf[..n].to_vec()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.file = None;
                    break;
                }
            }
        }
        latest
    }
}

/// Keyboard, absolute and relative mouse over `/dev/hidgN`.
#[derive(Debug)]
pub struct OtgHid {
    nodes: Vec<Node>,
    leds: Option<Leds>,
    /// The system root whose configfs and sysfs describe the gadget (None: nodes only).
    root: Option<PathBuf>,
    /// The UDC state seen at the last poll.
    udc_state: Option<String>,
    /// Notifications on the UDC state, and the count seen at the last poll.
    watch: Option<UdcWatch>,
    watch_seen: u64,
}

impl OtgHid {
    /// Finds our gadget's HID functions under `root` and their nodes. Nodes that cannot be
    /// opened yet are retried on each send.
    pub fn open(root: &Path) -> Result<OtgHid, HidError> {
        if !sys::SUPPORTED {
            return Err(HidError::DeviceMissing(
                "otg: built without the gadget feature (linux only)".into(),
            ));
        }
        let gadget = gadget_dir(root);
        if !gadget.is_dir() {
            return Err(HidError::DeviceMissing(format!(
                "otg: usb gadget {} is not set up (periscope otg up)",
                gadget.display()
            )));
        }
        let mut nodes = Vec::new();
        for (function, dir) in FUNCTIONS {
            if gadget.join("functions").join(dir).is_dir() {
                let path = hidg_node(root, dir).map_err(HidError::DeviceMissing)?;
                nodes.push((function, path));
            }
        }
        if nodes.is_empty() {
            return Err(HidError::DeviceMissing(format!(
                "otg: usb gadget {} has no hid functions (usb.functions in the profile)",
                gadget.display()
            )));
        }
        let mut hid = OtgHid::with_nodes(nodes);
        hid.root = Some(root.to_path_buf());
        let watch_root = root.to_path_buf();
        hid.watch = UdcWatch::start(move || {
            let udc = apply::udc_and_state(&watch_root).0?;
            Some(watch_root.join(UDC_CLASS_DIR).join(udc).join("state"))
        });
        for n in &mut hid.nodes {
            if let Err(e) = n.ensure_open() {
                tracing::warn!(target: "hid", error = %e, "otg: node not ready yet");
            }
        }
        Ok(hid)
    }

    /// A backend over explicit nodes: (`keyboard` | `mouse_abs` | `mouse_rel`, path).
    pub fn with_nodes(nodes: Vec<(&'static str, PathBuf)>) -> OtgHid {
        OtgHid {
            nodes: nodes
                .into_iter()
                .map(|(function, path)| Node {
                    function,
                    path,
                    file: None,
                })
                .collect(),
            leds: None,
            root: None,
            udc_state: None,
            watch: None,
            watch_seen: 0,
        }
    }

    /// Follows the UDC state; true when it just became `configured` again.
    fn poll_udc(&mut self) -> bool {
        let Some(root) = &self.root else {
            return false;
        };
        let notified = match &self.watch {
            Some(w) => {
                let events = w.events();
                std::mem::replace(&mut self.watch_seen, events) != events
            }
            None => false,
        };
        let state = apply::udc_and_state(root).1;
        if state == self.udc_state && !notified {
            return false;
        }
        let changed = state != self.udc_state;
        let before = std::mem::replace(&mut self.udc_state, state);
        let now = self.udc_state.as_deref().unwrap_or("unknown");
        if changed {
            tracing::info!(
                target: "hid",
                from = before.as_deref().unwrap_or("unknown"),
                to = now,
                "otg: usb device controller state changed"
            );
        }
        let reattached = now == "configured" && (notified || (changed && before.is_some()));
        if reattached && !changed {
            tracing::info!(target: "hid", "otg: the host configured the gadget again");
        }
        if reattached {
            // The fresh host sends its LED state again; forward it even if unchanged.
            self.leds = None;
        }
        reattached
    }

    /// The host's LED state if it changed since the last call.
    pub fn poll_leds(&mut self) -> Option<Leds> {
        let node = self.nodes.iter_mut().find(|n| n.function == "keyboard")?;
        let leds = parse_leds(&node.read_latest()?)?;
        if self.leds == Some(leds) {
            return None;
        }
        self.leds = Some(leds);
        Some(leds)
    }

    /// The nodes in use, for logs: (function, path).
    pub fn nodes(&self) -> Vec<(&'static str, &Path)> {
        self.nodes
            .iter()
            .map(|n| (n.function, n.path.as_path()))
            .collect()
    }
}

impl HidBackend for OtgHid {
    fn name(&self) -> &'static str {
        "otg"
    }

    fn send(&mut self, report: &HidReport) -> Result<(), HidError> {
        let device = report.device();
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.function == device)
            .ok_or_else(|| {
                HidError::DeviceMissing(format!(
                    "otg: the usb gadget has no {device} function (usb.functions in the profile)"
                ))
            })?;
        node.write(report.bytes())
    }

    fn poll(&mut self) -> Polled {
        let reconnected = self.poll_udc();
        Polled {
            leds: self.poll_leds(),
            reconnected,
            target_connected: self.udc_state.as_ref().map(|s| s == "configured"),
        }
    }
}

#[cfg(test)]
#[path = "hidg_tests.rs"]
mod tests;
