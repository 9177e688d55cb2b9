//! The configfs side (thin I/O): [`apply`] performs a [`Plan`]'s operations under a system
//! root, [`bind`] writes `UDC`, [`teardown`] undoes it all in reverse, [`status`] reads it
//! back. Every path is joined onto `root` (`/` on a device, a tempdir in tests).
//!
//! Kernel facts this relies on:
//! - configfs `write()`s of zero bytes never reach the attribute, so unbinding writes `"\n"`.
//! - configfs resolves a symlink's target from the caller's working directory, so links get
//!   absolute targets.
//! - Attribute files and default groups (`functions`, `configs`, `strings`, `lun.0`) cannot be
//!   unlinked or removed (EPERM); removing the item directory takes them along. [`teardown`]
//!   tries to remove them anyway and ignores the refusal, which is what makes it also work on
//!   a plain directory tree.
//! - Which `/dev/hidgN` belongs to a function: f_hid exports `functions/hid.NAME/dev` as
//!   `major:minor` and names the node `hidg<minor>` ([`hidg_node`]).

use super::plan::{Op, Plan, GADGETS_DIR, GADGET_DIR, UDC_CLASS_DIR};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Why the gadget could not be built, bound, removed or read.
#[derive(Debug, thiserror::Error)]
pub enum GadgetError {
    /// The spec does not fit (nothing was written).
    #[error(transparent)]
    Plan(#[from] super::plan::PlanError),
    /// configfs is not mounted or libcomposite is not loaded.
    #[error("usb gadget: {0} is missing: mount configfs on /sys/kernel/config and load libcomposite (modprobe libcomposite)")]
    NoConfigfs(PathBuf),
    /// Our gadget directory exists already.
    #[error("usb gadget: {0} already exists: remove it first (periscope otg down)")]
    Exists(PathBuf),
    /// No UDC at all.
    #[error("usb gadget: no usb device controller in {0}: the otg port is not in peripheral mode (Raspberry Pi: dtoverlay=dwc2,dr_mode=peripheral; tests: modprobe dummy_hcd)")]
    NoUdc(PathBuf),
    /// The named UDC does not exist.
    #[error("usb gadget: udc {name:?} not found; available: {available}")]
    UnknownUdc {
        /// The name asked for.
        name: String,
        /// What /sys/class/udc lists.
        available: String,
    },
    /// Writing UDC failed.
    #[error("usb gadget: udc {udc} refused the gadget: {reason}")]
    Bind {
        /// The UDC.
        udc: String,
        /// What went wrong, in words.
        reason: String,
    },
    /// A filesystem operation failed.
    #[error("usb gadget: {op} {}: {error}{hint}", path.display())]
    Io {
        /// mkdir, write, symlink, read, rmdir, unlink.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The error (in the message already, so not a `source`).
        error: io::Error,
        /// A likely cause, or empty.
        hint: String,
    },
}

fn io_err(op: &'static str, path: &Path, error: io::Error) -> GadgetError {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let in_functions = path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == "functions");
    let hint = match (op, error.kind(), error.raw_os_error()) {
        (_, io::ErrorKind::PermissionDenied, _) => " (run as root)".to_string(),
        ("mkdir", io::ErrorKind::NotFound, _) if in_functions => format!(
            " (the kernel has no usb_f_{} function driver)",
            name.split('.').next().unwrap_or(name)
        ),
        ("mkdir", _, Some(19)) if name.starts_with("hid.") => {
            " (f_hid's 4 minors are taken: another gadget holds /dev/hidg*)".into()
        }
        ("write", io::ErrorKind::NotFound, _) if name == "no_out_endpoint" => {
            " (this kernel's f_hid lacks no_out_endpoint: Linux 5.19 or later is needed)".into()
        }
        ("write", io::ErrorKind::NotFound, _) => " (the kernel has no such attribute)".into(),
        _ => String::new(),
    };
    GadgetError::Io {
        op,
        path: path.to_path_buf(),
        error,
        hint,
    }
}

/// The gadget directory under `root`, made absolute (configfs symlink targets must be).
pub fn gadget_dir(root: &Path) -> PathBuf {
    let dir = root.join(GADGET_DIR);
    if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(&dir))
            .unwrap_or(dir)
    }
}

fn at(gadget: &Path, rel: &Path) -> PathBuf {
    if rel.as_os_str().is_empty() {
        gadget.to_path_buf()
    } else {
        gadget.join(rel)
    }
}

/// Writes `value` in a single `write()` (configfs parses each write on its own).
fn write_attr(path: &Path, value: &[u8]) -> Result<(), GadgetError> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| io_err("write", path, e))?;
    match f.write(value) {
        Ok(n) if n == value.len() => Ok(()),
        Ok(n) => Err(io_err(
            "write",
            path,
            io::Error::other(format!("short write: {n} of {} bytes", value.len())),
        )),
        Err(e) => Err(io_err("write", path, e)),
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Performs the plan's operations under `root`. Refuses to touch an existing gadget.
pub fn apply(plan: &Plan, root: &Path) -> Result<(), GadgetError> {
    let gadgets = root.join(GADGETS_DIR);
    if !gadgets.is_dir() {
        return Err(GadgetError::NoConfigfs(gadgets));
    }
    let gadget = gadget_dir(root);
    if gadget.exists() {
        return Err(GadgetError::Exists(gadget));
    }
    for op in &plan.ops {
        match op {
            Op::Mkdir(rel) => {
                let p = at(&gadget, rel);
                match fs::create_dir(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && p.is_dir() => {}
                    Err(e) => return Err(io_err("mkdir", &p, e)),
                }
            }
            Op::Write { path, value } => write_attr(&at(&gadget, path), value)?,
            Op::Symlink { target, link } => {
                let (t, l) = (at(&gadget, target), at(&gadget, link));
                std::os::unix::fs::symlink(&t, &l).map_err(|e| io_err("symlink", &l, e))?;
            }
        }
    }
    Ok(())
}

/// The UDCs under `root`, sorted.
pub fn udcs(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root.join(UDC_CLASS_DIR))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Resolves `auto` (the first UDC) or checks that the named one exists.
pub fn resolve_udc(root: &Path, udc: &str) -> Result<String, GadgetError> {
    let all = udcs(root);
    if all.is_empty() {
        return Err(GadgetError::NoUdc(root.join(UDC_CLASS_DIR)));
    }
    if udc == "auto" {
        return Ok(all[0].clone());
    }
    if all.iter().any(|u| u == udc) {
        Ok(udc.to_string())
    } else {
        Err(GadgetError::UnknownUdc {
            name: udc.into(),
            available: all.join(", "),
        })
    }
}

/// Binds our gadget to `udc` (`auto` or a name); returns the UDC's name.
pub fn bind(root: &Path, udc: &str) -> Result<String, GadgetError> {
    let name = resolve_udc(root, udc)?;
    let gadget = gadget_dir(root);
    // Another gadget holding the controller is the usual cause of EBUSY: name it.
    if let Ok(rd) = fs::read_dir(root.join(GADGETS_DIR)) {
        for e in rd.filter_map(|e| e.ok()) {
            let other = e.path();
            if other != gadget && read_trimmed(&other.join("UDC")).as_deref() == Some(&name) {
                return Err(GadgetError::Bind {
                    udc: name,
                    reason: format!(
                        "gadget {:?} is bound to it",
                        e.file_name().to_string_lossy()
                    ),
                });
            }
        }
    }
    let path = gadget.join("UDC");
    match write_attr(&path, name.as_bytes()) {
        Ok(()) => Ok(name),
        Err(GadgetError::Io { error, .. })
            if matches!(error.raw_os_error(), Some(16) | Some(19) | Some(524)) =>
        {
            Err(GadgetError::Bind {
                reason: format!(
                    "the controller is busy or has fewer endpoints than the gadget needs \
                     ({error}): lower usb.endpoint_budget to what {name} really has"
                ),
                udc: name,
            })
        }
        Err(e) => Err(e),
    }
}

/// Unbinds our gadget if bound (writes a newline to `UDC`).
pub fn unbind(root: &Path) -> Result<(), GadgetError> {
    let path = gadget_dir(root).join("UDC");
    if read_trimmed(&path).is_some() {
        write_attr(&path, b"\n")?;
    }
    Ok(())
}

/// Removes plain files and subdirectories under `dir` where allowed (configfs refuses for
/// attributes and default groups, harmlessly), then `dir` itself, which must succeed.
fn remove_item(dir: &Path) -> Result<(), GadgetError> {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.filter_map(|e| e.ok()) {
            match e.file_type() {
                Ok(t) if t.is_dir() => {
                    let _ = remove_item(&e.path());
                }
                Ok(t) if t.is_file() => {
                    let _ = fs::remove_file(e.path());
                }
                _ => {}
            }
        }
    }
    fs::remove_dir(dir).map_err(|e| io_err("rmdir", dir, e))
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Unbinds and removes our gadget: configuration links, configurations, functions, strings,
/// the gadget. Returns false when there was none.
pub fn teardown(root: &Path) -> Result<bool, GadgetError> {
    let gadget = gadget_dir(root);
    if !gadget.is_dir() {
        return Ok(false);
    }
    unbind(root)?;
    for config in entries(&gadget.join("configs")) {
        for entry in entries(&config) {
            if entry.is_symlink() {
                fs::remove_file(&entry).map_err(|e| io_err("unlink", &entry, e))?;
            }
        }
        for s in entries(&config.join("strings")) {
            remove_item(&s)?;
        }
        remove_item(&config)?;
    }
    for f in entries(&gadget.join("functions")) {
        remove_item(&f)?;
    }
    for s in entries(&gadget.join("strings")) {
        remove_item(&s)?;
    }
    remove_item(&gadget)?;
    Ok(true)
}

/// What [`status`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GadgetStatus {
    /// The gadget directory exists.
    pub present: bool,
    /// The UDC it is bound to.
    pub udc: Option<String>,
    /// That UDC's state: `configured`, `not attached`, `suspended`, …
    pub state: Option<String>,
    /// Function directories (`hid.keyboard`, …) with their `/dev/hidgN` when HID.
    pub functions: Vec<(String, Option<PathBuf>)>,
}

impl GadgetStatus {
    /// The host enumerated the gadget and picked its configuration.
    pub fn host_connected(&self) -> bool {
        self.state.as_deref() == Some("configured")
    }
}

impl std::fmt::Display for GadgetStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.present {
            return write!(f, "usb gadget periscope: not set up");
        }
        match (&self.udc, &self.state) {
            (Some(u), Some(s)) => write!(f, "usb gadget periscope: bound to {u}, state {s}")?,
            (Some(u), None) => write!(f, "usb gadget periscope: bound to {u}, state unknown")?,
            _ => write!(f, "usb gadget periscope: not bound to a udc")?,
        }
        for (dir, node) in &self.functions {
            match node {
                Some(n) => write!(f, "\n  {dir} {}", n.display())?,
                None => write!(f, "\n  {dir}")?,
            }
        }
        Ok(())
    }
}

/// The UDC our gadget is bound to and that UDC's state (two small sysfs reads; the OTG
/// backend asks every 100 ms, so this skips the function listing [`status`] does).
pub fn udc_and_state(root: &Path) -> (Option<String>, Option<String>) {
    let udc = read_trimmed(&gadget_dir(root).join("UDC"));
    let state = udc
        .as_ref()
        .and_then(|u| read_trimmed(&root.join(UDC_CLASS_DIR).join(u).join("state")));
    (udc, state)
}

/// Reads the gadget's binding, the UDC state and its functions.
pub fn status(root: &Path) -> GadgetStatus {
    let gadget = gadget_dir(root);
    if !gadget.is_dir() {
        return GadgetStatus {
            present: false,
            udc: None,
            state: None,
            functions: Vec::new(),
        };
    }
    let (udc, state) = udc_and_state(root);
    let functions = entries(&gadget.join("functions"))
        .into_iter()
        .filter_map(|p| p.file_name()?.to_str().map(String::from))
        .map(|dir| {
            let node = dir
                .starts_with("hid.")
                .then(|| hidg_node(root, &dir).ok())
                .flatten();
            (dir, node)
        })
        .collect();
    GadgetStatus {
        present: true,
        udc,
        state,
        functions,
    }
}

/// Parses f_hid's `dev` attribute (`major:minor`).
pub fn parse_dev(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The `/dev/hidgN` node of our function `dir` (e.g. `hid.keyboard`), from its `dev`.
pub fn hidg_node(root: &Path, dir: &str) -> Result<PathBuf, String> {
    let dev = gadget_dir(root).join("functions").join(dir).join("dev");
    let text = fs::read_to_string(&dev).map_err(|e| format!("{}: {e}", dev.display()))?;
    let (_, minor) =
        parse_dev(&text).ok_or_else(|| format!("{}: {text:?}: not major:minor", dev.display()))?;
    Ok(root.join(format!("dev/hidg{minor}")))
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
