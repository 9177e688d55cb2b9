//! Counts the kernel's notifications on a UDC's `state` attribute
//! (`/sys/class/udc/<udc>/state`): a thread blocks in `poll(POLLPRI)` on it and counts each
//! `sysfs_notify`. The gadget core notifies on every state it sets — every
//! SET_CONFIGURATION, bus reset, suspend and resume — even when the new state equals the old
//! one, so a host that re-configures the gadget without a visible state change (a USB
//! re-authorize, a reset faster than any polling) is still seen. `OtgHid::poll` compares
//! the count with the last one it saw.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long one wait lasts before the thread checks whether it should stop.
const WAIT: Duration = Duration::from_millis(500);

/// The watcher thread's handle; dropping it stops the thread within [`WAIT`].
#[derive(Debug)]
pub struct UdcWatch {
    events: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl UdcWatch {
    /// Starts watching the state file `state_path()` names (asked again whenever the file
    /// cannot be opened, so a gadget rebound to another UDC is followed). `None` when the
    /// platform cannot watch.
    pub fn start(state_path: impl Fn() -> Option<PathBuf> + Send + 'static) -> Option<UdcWatch> {
        if !sys::SUPPORTED {
            return None;
        }
        let events = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (e, s) = (Arc::clone(&events), Arc::clone(&stop));
        std::thread::Builder::new()
            .name("udc-watch".into())
            .spawn(move || run(state_path, &e, &s))
            .ok()?;
        Some(UdcWatch { events, stop })
    }

    /// Notifications seen so far.
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }
}

impl Drop for UdcWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn run(state_path: impl Fn() -> Option<PathBuf>, events: &AtomicU64, stop: &AtomicBool) {
    let mut buf = String::new();
    while !stop.load(Ordering::Relaxed) {
        let Some(mut file) = state_path().and_then(|p| File::open(p).ok()) else {
            std::thread::sleep(WAIT);
            continue;
        };
        // Reading arms the notification; poll then reports any notify after the read.
        buf.clear();
        if file.read_to_string(&mut buf).is_err() {
            std::thread::sleep(WAIT);
            continue;
        }
        while !stop.load(Ordering::Relaxed) {
            match sys::wait_notify(&file, WAIT) {
                Ok(sys::Wait::Notified) => {
                    events.fetch_add(1, Ordering::Relaxed);
                    buf.clear();
                    let rearmed = file.seek(SeekFrom::Start(0)).is_ok()
                        && file.read_to_string(&mut buf).is_ok();
                    if !rearmed {
                        break;
                    }
                }
                Ok(sys::Wait::Timeout) => {}
                // Not a sysfs attribute (always "ready"): nothing to wait on; look again later.
                Ok(sys::Wait::NotSysfs) | Err(_) => {
                    std::thread::sleep(WAIT);
                    break;
                }
            }
        }
    }
}

#[cfg(all(target_os = "linux", feature = "gadget"))]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    pub const SUPPORTED: bool = true;

    pub enum Wait {
        Notified,
        Timeout,
        NotSysfs,
    }

    /// Waits for POLLPRI (sysfs_notify) on `file`.
    pub fn wait_notify(file: &File, timeout: Duration) -> io::Result<Wait> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        let mut pfd = libc::pollfd {
            fd: file.as_raw_fd(),
            events: libc::POLLPRI | libc::POLLERR,
            revents: 0,
        };
        loop {
            // SAFETY: `pfd` is one valid, initialised pollfd that outlives the call, and
            // nfds = 1 matches it; the fd stays open because `file` is borrowed.
            let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
            if rc == 0 {
                return Ok(Wait::Timeout);
            }
            if rc > 0 {
                return Ok(if pfd.revents & (libc::POLLPRI | libc::POLLERR) != 0 {
                    Wait::Notified
                } else {
                    Wait::NotSysfs
                });
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

    pub enum Wait {
        Timeout,
        NotSysfs,
    }

    pub fn wait_notify(_file: &File, _timeout: Duration) -> io::Result<Wait> {
        Ok(Wait::NotSysfs)
    }
}

#[cfg(all(test, target_os = "linux", feature = "gadget"))]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_is_not_waited_on_and_the_thread_stops() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        std::fs::write(&path, "configured\n").unwrap();
        let w = UdcWatch::start(move || Some(path.clone())).expect("watching");
        std::thread::sleep(Duration::from_millis(200));
        // A regular file never notifies: no events, and no busy loop counting them.
        assert_eq!(w.events(), 0);
        drop(w);
    }
}
