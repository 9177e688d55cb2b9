//! Resetting a USB capture device (an MS2109 dongle that stopped delivering frames, pikvm/
//! ustreamer#29): find the USB device behind a `/dev/videoN` node in sysfs, or again by its
//! VID:PID once the node is gone, and reset it with `USBDEVFS_RESET` on
//! `/dev/bus/usb/BBB/DDD`, falling back to toggling its sysfs `authorized` attribute.
//!
//! Every path is joined onto a `root` (`/` on the appliance, a tempdir in tests). Only
//! [`reset`] has effects; the rest reads sysfs. The one `unsafe` block is the ioctl.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `USBDEVFS_RESET` = `_IO('U', 20)` (linux/usbdevice_fs.h).
#[cfg(feature = "v4l2")]
const USBDEVFS_RESET: u32 = (b'U' as u32) << 8 | 20;
/// Time a de-authorized device stays off before it is authorized again.
const DEAUTHORIZED_FOR: Duration = Duration::from_millis(500);

/// A USB device as sysfs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsbDevice {
    /// Its directory under `<root>/sys/devices/...` (resolved).
    pub sysfs: PathBuf,
    /// `idVendor`.
    pub vid: u16,
    /// `idProduct`.
    pub pid: u16,
    /// `busnum`.
    pub bus: u32,
    /// `devnum` (changes each time the device enumerates).
    pub dev: u32,
}

impl std::fmt::Display for UsbDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04x}:{:04x} (bus {:03} device {:03})",
            self.vid, self.pid, self.bus, self.dev
        )
    }
}

/// How a reset was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetHow {
    /// `USBDEVFS_RESET` on the usbfs node.
    Ioctl,
    /// `authorized` written 0 then 1.
    Authorized,
}

impl ResetHow {
    /// A short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            ResetHow::Ioctl => "USBDEVFS_RESET",
            ResetHow::Authorized => "authorized toggle",
        }
    }
}

fn read_trim(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// Reads the USB device whose sysfs directory is `dir`; `None` if `dir` is not one (an
/// interface, a platform device, a hub port without `idVendor`).
pub fn read_device(dir: &Path) -> Option<UsbDevice> {
    let hex = |name| u16::from_str_radix(&read_trim(&dir.join(name))?, 16).ok();
    let dec = |name| read_trim(&dir.join(name))?.parse().ok();
    Some(UsbDevice {
        sysfs: dir.to_owned(),
        vid: hex("idVendor")?,
        pid: hex("idProduct")?,
        bus: dec("busnum")?,
        dev: dec("devnum")?,
    })
}

/// The USB device a video node belongs to: `<root>/sys/class/video4linux/<node>/device`
/// (the USB interface for uvcvideo) and up its parents to the first USB device. `None` for
/// a node that is not on USB (vivid, a CSI bridge) or is gone.
pub fn usb_parent_of_video(root: &Path, node: &str) -> Option<UsbDevice> {
    let dev = root.join(node.trim_start_matches('/'));
    let name = fs::canonicalize(&dev).ok().unwrap_or(dev);
    let name = name.file_name()?.to_str()?.to_owned();
    let sys = root.join("sys");
    let device = fs::canonicalize(sys.join("class/video4linux").join(name).join("device")).ok()?;
    let sys = fs::canonicalize(&sys).unwrap_or(sys);
    device
        .ancestors()
        .take_while(|p| p.starts_with(&sys) && *p != sys)
        .find_map(read_device)
}

/// The device now at `known`'s sysfs place if it still has the same VID:PID, else the first
/// device in `<root>/sys/bus/usb/devices` with that VID:PID (it may have enumerated again
/// elsewhere, with a new device number).
pub fn find_again(root: &Path, known: &UsbDevice) -> Option<UsbDevice> {
    let same = |d: &UsbDevice| (d.vid, d.pid) == (known.vid, known.pid);
    read_device(&known.sysfs)
        .filter(same)
        .or_else(|| find_by_id(root, known.vid, known.pid))
}

/// The first USB device (in name order) with `vid:pid`.
pub fn find_by_id(root: &Path, vid: u16, pid: u16) -> Option<UsbDevice> {
    let dir = root.join("sys/bus/usb/devices");
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    entries
        .iter()
        .filter_map(|p| read_device(&fs::canonicalize(p).unwrap_or_else(|_| p.clone())))
        .find(|d| (d.vid, d.pid) == (vid, pid))
}

/// Resets `device`: `USBDEVFS_RESET` on `<root>/dev/bus/usb/BBB/DDD`, or, if that fails,
/// `authorized` 0 then 1 (the device disconnects and enumerates again). The error is the
/// fallback's, with the ioctl's in its message.
pub fn reset(root: &Path, device: &UsbDevice) -> io::Result<ResetHow> {
    let node = root.join(format!("dev/bus/usb/{:03}/{:03}", device.bus, device.dev));
    let first = match ioctl_reset(&node) {
        Ok(()) => return Ok(ResetHow::Ioctl),
        Err(e) => e,
    };
    let authorized = device.sysfs.join("authorized");
    let toggle = || -> io::Result<()> {
        fs::write(&authorized, "0")?;
        std::thread::sleep(DEAUTHORIZED_FOR);
        fs::write(&authorized, "1")
    };
    toggle().map(|()| ResetHow::Authorized).map_err(|e| {
        let msg = format!("{}: {first}; {}: {e}", node.display(), authorized.display());
        io::Error::new(e.kind(), msg)
    })
}

#[cfg(feature = "v4l2")]
fn ioctl_reset(node: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = fs::OpenOptions::new().write(true).open(node)?;
    // SAFETY: `file` is an open usbfs device node for the whole call; USBDEVFS_RESET takes no
    // argument and the kernel reads or writes no user memory for it.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), USBDEVFS_RESET as _) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(feature = "v4l2"))]
fn ioctl_reset(node: &Path) -> io::Result<()> {
    let msg = format!("{}: USBDEVFS_RESET needs the v4l2 feature", node.display());
    Err(io::Error::new(io::ErrorKind::Unsupported, msg))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake sysfs: an MS2109 at usb1/1-1 whose interface 1-1:1.0 carries video0, and vivid
    /// (a platform device) carrying video1.
    pub(crate) fn fake_sys(root: &Path) -> PathBuf {
        let usb = root.join("sys/devices/pci0000:00/0000:00:14.0/usb1/1-1");
        let intf = usb.join("1-1:1.0");
        fs::create_dir_all(intf.join("video4linux/video0")).unwrap();
        for (k, v) in [
            ("idVendor", "534d\n"),
            ("idProduct", "2109\n"),
            ("busnum", "1\n"),
            ("devnum", "5\n"),
            ("authorized", "1\n"),
        ] {
            fs::write(usb.join(k), v).unwrap();
        }
        fs::write(intf.join("bInterfaceNumber"), "00\n").unwrap();
        let vivid = root.join("sys/devices/platform/vivid.0");
        fs::create_dir_all(vivid.join("video4linux/video1")).unwrap();
        let class = root.join("sys/class/video4linux");
        fs::create_dir_all(&class).unwrap();
        fs::create_dir_all(intf.join("video4linux/video0")).unwrap();
        symlink(intf.join("video4linux/video0"), class.join("video0")).unwrap();
        symlink(&intf, intf.join("video4linux/video0/device")).unwrap();
        symlink(vivid.join("video4linux/video1"), class.join("video1")).unwrap();
        symlink(&vivid, vivid.join("video4linux/video1/device")).unwrap();
        let bus = root.join("sys/bus/usb/devices");
        fs::create_dir_all(&bus).unwrap();
        symlink(&usb, bus.join("1-1")).unwrap();
        symlink(&intf, bus.join("1-1:1.0")).unwrap();
        fs::canonicalize(usb).unwrap()
    }

    #[test]
    fn a_uvc_node_leads_to_its_usb_device_and_vivid_to_none() {
        let tmp = tempfile::tempdir().unwrap();
        let usb = fake_sys(tmp.path());
        let found = usb_parent_of_video(tmp.path(), "/dev/video0").expect("the MS2109");
        assert_eq!(
            (found.vid, found.pid, found.bus, found.dev),
            (0x534d, 0x2109, 1, 5)
        );
        assert_eq!(found.sysfs, usb);
        assert_eq!(found.to_string(), "534d:2109 (bus 001 device 005)");
        assert_eq!(usb_parent_of_video(tmp.path(), "/dev/video1"), None);
        assert_eq!(usb_parent_of_video(tmp.path(), "/dev/video7"), None);
        assert_eq!(find_by_id(tmp.path(), 0x534d, 0x2109), Some(found.clone()));
        assert_eq!(find_by_id(tmp.path(), 0x534d, 0x2130), None);
        // Enumerated again under another device number: found by VID:PID.
        fs::write(usb.join("devnum"), "6\n").unwrap();
        let moved = UsbDevice {
            sysfs: tmp.path().join("sys/devices/gone"),
            ..found
        };
        assert_eq!(find_again(tmp.path(), &moved).map(|d| d.dev), Some(6));
    }

    #[test]
    fn without_usbfs_the_reset_toggles_authorized() {
        let tmp = tempfile::tempdir().unwrap();
        let usb = fake_sys(tmp.path());
        let dev = read_device(&usb).unwrap();
        assert_eq!(reset(tmp.path(), &dev).unwrap(), ResetHow::Authorized);
        assert_eq!(read_trim(&usb.join("authorized")).as_deref(), Some("1"));
        let gone = UsbDevice {
            sysfs: tmp.path().join("nowhere"),
            ..dev
        };
        let e = reset(tmp.path(), &gone).unwrap_err().to_string();
        assert!(
            e.contains("dev/bus/usb/001/005") && e.contains("authorized"),
            "{e}"
        );
    }
}
