//! The serial console over USB: with the ACM function in the gadget, the target host sees a
//! serial port (`/dev/ttyACM0`, `COMn`) whose other end is `/dev/ttyGS0` on the appliance.
//! A getty on ttyGS0 turns it into a login console to the appliance (PiKVM's "Serial-over-USB"
//! guide): `periscope otg console install` writes the same systemd drop-in — the tty must not
//! be reset, hung up or deallocated when the target host closes its end, or the next open on
//! the host finds a dead port — and enables `getty@ttyGS0` the way `systemctl enable` does
//! (a symlink in `getty.target.wants`), so it also works on an image mounted under `--root`.

use std::io;
use std::path::{Path, PathBuf};

/// The gadget side of the ACM function.
pub const TTY: &str = "ttyGS0";
/// The systemd unit that runs the getty.
pub const UNIT: &str = "getty@ttyGS0.service";
/// The drop-in that keeps the tty alive across host-side closes.
pub const OVERRIDE: &str = "[Service]\nTTYReset=no\nTTYVHangup=no\nTTYVTDisallocate=no\n";
/// The getty template unit the enable symlink points to (Debian's location).
pub const TEMPLATE: &str = "/lib/systemd/system/getty@.service";

const HEADER: &str =
    "# Written by `periscope otg console install`: a login console for the target\n\
# host over the USB serial (ACM) gadget. Remove with `periscope otg console remove`.\n";

fn override_path(root: &Path) -> PathBuf {
    root.join("etc/systemd/system")
        .join(format!("{UNIT}.d"))
        .join("periscope.conf")
}

fn wants_link(root: &Path) -> PathBuf {
    root.join("etc/systemd/system/getty.target.wants")
        .join(UNIT)
}

/// What [`status`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleStatus {
    /// The drop-in exists.
    pub override_installed: bool,
    /// The getty is enabled (the wants symlink exists).
    pub enabled: bool,
    /// `/dev/ttyGS0` exists (the gadget with ACM is up).
    pub tty_present: bool,
}

impl std::fmt::Display for ConsoleStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let yn = |b: bool| if b { "yes" } else { "no" };
        write!(
            f,
            "serial console: override {}, {UNIT} enabled {}, /dev/{TTY} present {}",
            yn(self.override_installed),
            yn(self.enabled),
            yn(self.tty_present)
        )
    }
}

/// The console's state under `root`.
pub fn status(root: &Path) -> ConsoleStatus {
    ConsoleStatus {
        override_installed: override_path(root).is_file(),
        enabled: wants_link(root).symlink_metadata().is_ok(),
        tty_present: root.join("dev").join(TTY).exists(),
    }
}

/// Writes the drop-in and enables the getty under `root`. Idempotent.
pub fn install(root: &Path) -> io::Result<()> {
    let path = override_path(root);
    let dir = path.parent().unwrap_or(root);
    std::fs::create_dir_all(dir)?;
    std::fs::write(&path, format!("{HEADER}{OVERRIDE}"))?;
    let link = wants_link(root);
    if let Some(parent) = link.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::os::unix::fs::symlink(TEMPLATE, &link) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    // Old images still gate root logins on securetty: allow the console there too.
    let securetty = root.join("etc/securetty");
    if let Ok(text) = std::fs::read_to_string(&securetty) {
        if !text.lines().any(|l| l.trim() == TTY) {
            let sep = if text.is_empty() || text.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            std::fs::write(&securetty, format!("{text}{sep}{TTY}\n"))?;
        }
    }
    Ok(())
}

/// Removes the drop-in and the enable link (securetty is left alone). Idempotent.
pub fn remove(root: &Path) -> io::Result<()> {
    for path in [override_path(root), wants_link(root)] {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(dir) = override_path(root).parent() {
        let _ = std::fs::remove_dir(dir);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_writes_the_override_and_enables_the_getty_and_remove_undoes_it() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(r.join("etc/securetty"), "console\ntty1").unwrap();
        assert_eq!(
            status(r),
            ConsoleStatus {
                override_installed: false,
                enabled: false,
                tty_present: false
            }
        );
        install(r).unwrap();
        install(r).unwrap();
        let text = std::fs::read_to_string(
            r.join("etc/systemd/system/getty@ttyGS0.service.d/periscope.conf"),
        )
        .unwrap();
        assert!(text.ends_with("[Service]\nTTYReset=no\nTTYVHangup=no\nTTYVTDisallocate=no\n"));
        let link = r.join("etc/systemd/system/getty.target.wants/getty@ttyGS0.service");
        assert_eq!(
            std::fs::read_link(&link).unwrap(),
            Path::new("/lib/systemd/system/getty@.service")
        );
        assert_eq!(
            std::fs::read_to_string(r.join("etc/securetty")).unwrap(),
            "console\ntty1\nttyGS0\n",
            "added once"
        );
        let s = status(r);
        assert!(s.override_installed && s.enabled && !s.tty_present, "{s}");
        remove(r).unwrap();
        remove(r).unwrap();
        let s = status(r);
        assert!(!s.override_installed && !s.enabled, "{s}");
        assert!(!r.join("etc/systemd/system/getty@ttyGS0.service.d").exists());
    }
}
