//! Virtual media: disk images uploaded into the state directory (`images/`) and attached to
//! the USB gadget's mass-storage function as a CD-ROM (read-only) or a disk (read-write).
//!
//! Names are never paths: [`check_name`] allows letters, digits, `.`, `_` and `-`, starting
//! with a letter or digit, so no request can reach outside the images directory. An upload
//! streams to a hidden temporary file (`.upload-NAME`), is hashed (SHA-256) on the way, is
//! refused past the size limit, and becomes `NAME` only when complete; its checksum goes to
//! `.meta/NAME.sha256`. Attaching writes the LUN's `cdrom` and `ro` attributes, then `file`
//! (the kernel refuses to change `ro` with a medium loaded); ejecting uses `forced_eject`
//! (the host may have locked the medium), else an empty `file`.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default largest image (bytes): a DVD installer fits.
pub const DEFAULT_MAX_BYTES: u64 = 8 << 30;
/// Shortest time between two attach/eject/delete actions.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// How an image is presented to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A read-only CD-ROM (an installer ISO).
    Cdrom,
    /// A read-write disk.
    Disk,
}

/// Why a media request was refused; each maps to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum MsdError {
    /// A name that is not a plain file name (400).
    #[error("image name {0:?}: letters, digits, '.', '_' and '-', starting with a letter or digit, at most 128")]
    BadName(String),
    /// No such image, or no mass-storage function (404).
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with the current state: attached, exists, uploading (409).
    #[error("{0}")]
    Conflict(String),
    /// Over the size limit (413).
    #[error("image over the limit of {0} bytes")]
    TooLarge(u64),
    /// Too soon after the last action (429).
    #[error("at most one media action per second")]
    TooSoon,
    /// The disk or configfs failed (500).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> MsdError {
    let what = what.into();
    move |source| MsdError::Io { what, source }
}

/// `Ok(name)` when `name` is a plain image file name.
pub fn check_name(name: &str) -> Result<&str, MsdError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !name.contains("..");
    if ok {
        Ok(name)
    } else {
        Err(MsdError::BadName(name.to_string()))
    }
}

/// One stored image.
#[derive(Debug, Clone, Serialize)]
pub struct Image {
    /// Its name.
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// SHA-256 of the uploaded bytes (hex), when known.
    pub sha256: Option<String>,
}

/// What is attached.
#[derive(Debug, Clone, Serialize)]
pub struct Attached {
    /// The image.
    pub name: String,
    /// How.
    pub mode: Mode,
}

#[derive(Debug, Default)]
struct State {
    attached: Option<Attached>,
    /// Uploads under way: name → bytes received.
    uploads: HashMap<String, u64>,
    last_action: Option<Instant>,
}

/// The images directory and the mass-storage LUN.
#[derive(Debug)]
pub struct Msd {
    dir: PathBuf,
    /// The LUN's configfs directory (`…/functions/mass_storage.disk/lun.0`), if the gadget
    /// has a mass-storage function.
    lun: Option<PathBuf>,
    max_bytes: u64,
    state: Mutex<State>,
}

impl Msd {
    /// Images under `dir` (created), attached through `lun`, at most `max_bytes` each.
    pub fn new(dir: PathBuf, lun: Option<PathBuf>, max_bytes: u64) -> Result<Msd, MsdError> {
        std::fs::create_dir_all(dir.join(".meta")).map_err(io(format!("{}", dir.display())))?;
        // Half-finished uploads from before a restart are garbage.
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(".upload-") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(Msd {
            dir,
            lun,
            max_bytes,
            state: Mutex::new(State::default()),
        })
    }

    /// The size limit.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// `GET /api/msd`.
    pub fn status(&self) -> serde_json::Value {
        let (attached, uploads) = self
            .state
            .lock()
            .map(|s| (s.attached.clone(), s.uploads.clone()))
            .unwrap_or_default();
        serde_json::json!({
            "enabled": self.lun.is_some(),
            "images": self.list(),
            "attached": attached,
            "uploads": uploads.iter().map(|(n, b)| serde_json::json!({"name": n, "received": b})).collect::<Vec<_>>(),
            "max_bytes": self.max_bytes,
        })
    }

    /// The stored images, by name.
    pub fn list(&self) -> Vec<Image> {
        let mut out: Vec<Image> = std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| {
                        let name = e.file_name().to_string_lossy().into_owned();
                        check_name(&name).ok()?;
                        let meta = e.metadata().ok().filter(|m| m.is_file())?;
                        let sha256 = std::fs::read_to_string(self.sidecar(&name))
                            .ok()
                            .map(|s| s.trim().to_string());
                        Some(Image {
                            name,
                            size: meta.len(),
                            sha256,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn sidecar(&self, name: &str) -> PathBuf {
        self.dir.join(".meta").join(format!("{name}.sha256"))
    }

    /// Starts an upload of `name` (`declared`: the Content-Length, if sent).
    pub fn begin_upload(&self, name: &str, declared: Option<u64>) -> Result<Upload<'_>, MsdError> {
        check_name(name)?;
        if declared.is_some_and(|n| n > self.max_bytes) {
            return Err(MsdError::TooLarge(self.max_bytes));
        }
        let mut s = self
            .state
            .lock()
            .map_err(|_| MsdError::Conflict("media state unavailable".into()))?;
        if s.uploads.contains_key(name) {
            return Err(MsdError::Conflict(format!("{name} is being uploaded")));
        }
        if self.dir.join(name).exists() {
            return Err(MsdError::Conflict(format!(
                "{name} exists: delete it first"
            )));
        }
        let temp = self.dir.join(format!(".upload-{name}"));
        let file = std::fs::File::create(&temp).map_err(io(format!("{}", temp.display())))?;
        s.uploads.insert(name.to_string(), 0);
        Ok(Upload {
            msd: self,
            name: name.to_string(),
            temp,
            file: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
            hash: Sha256::new(),
            received: 0,
            done: false,
        })
    }

    /// Deletes image `name` (not while attached).
    pub fn delete(&self, name: &str) -> Result<(), MsdError> {
        check_name(name)?;
        let mut s = self.act()?;
        if s.attached.as_ref().is_some_and(|a| a.name == name) {
            return Err(MsdError::Conflict(format!(
                "{name} is attached: eject it first"
            )));
        }
        let path = self.dir.join(name);
        if !path.is_file() {
            return Err(MsdError::NotFound(format!("no image {name:?}")));
        }
        std::fs::remove_file(&path).map_err(io(format!("delete {name}")))?;
        let _ = std::fs::remove_file(self.sidecar(name));
        s.last_action = Some(Instant::now());
        Ok(())
    }

    /// Attaches image `name` as `mode` (one at a time: eject first).
    pub fn attach(&self, name: &str, mode: Mode) -> Result<Attached, MsdError> {
        check_name(name)?;
        let mut s = self.act()?;
        let lun = self.lun.clone().ok_or_else(no_function)?;
        if !lun.is_dir() {
            return Err(MsdError::NotFound(format!(
                "{} is missing: the USB gadget is not up (--hid otg builds it)",
                lun.display()
            )));
        }
        if let Some(a) = &s.attached {
            return Err(MsdError::Conflict(format!(
                "{} is attached: eject it first",
                a.name
            )));
        }
        let path = self.dir.join(name);
        if !path.is_file() {
            return Err(MsdError::NotFound(format!("no image {name:?}")));
        }
        let cdrom = mode == Mode::Cdrom;
        let write = |attr: &str, value: &str| {
            std::fs::write(lun.join(attr), value).map_err(io(format!("{}/{attr}", lun.display())))
        };
        write("cdrom", if cdrom { "1" } else { "0" })?;
        write("ro", if cdrom { "1" } else { "0" })?;
        write("file", &path.to_string_lossy())?;
        let attached = Attached {
            name: name.to_string(),
            mode,
        };
        s.attached = Some(attached.clone());
        s.last_action = Some(Instant::now());
        Ok(attached)
    }

    /// Ejects the attached image (nothing attached: nothing to do).
    pub fn eject(&self) -> Result<Option<Attached>, MsdError> {
        let mut s = self.act()?;
        let lun = self.lun.clone().ok_or_else(no_function)?;
        let forced = lun.join("forced_eject");
        let r = if forced.exists() {
            std::fs::write(&forced, "1")
        } else {
            std::fs::write(lun.join("file"), "")
        };
        r.map_err(io(format!("{} eject", lun.display())))?;
        s.last_action = Some(Instant::now());
        Ok(s.attached.take())
    }

    /// The state, after the rate check.
    fn act(&self) -> Result<std::sync::MutexGuard<'_, State>, MsdError> {
        let s = self
            .state
            .lock()
            .map_err(|_| MsdError::Conflict("media state unavailable".into()))?;
        if s.last_action.is_some_and(|t| t.elapsed() < MIN_INTERVAL) {
            return Err(MsdError::TooSoon);
        }
        Ok(s)
    }
}

fn no_function() -> MsdError {
    MsdError::NotFound(
        "no USB mass-storage function: add \"mass_storage\" to the profile's [usb] functions"
            .into(),
    )
}

/// An upload under way; dropped before [`Upload::finish`], it removes its temporary file.
pub struct Upload<'a> {
    msd: &'a Msd,
    name: String,
    temp: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    hash: Sha256,
    received: u64,
    done: bool,
}

impl Upload<'_> {
    /// Appends a chunk; `TooLarge` past the limit (the upload is then abandoned).
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), MsdError> {
        self.received += chunk.len() as u64;
        if self.received > self.msd.max_bytes {
            return Err(MsdError::TooLarge(self.msd.max_bytes));
        }
        self.hash.update(chunk);
        if let Some(f) = self.file.as_mut() {
            f.write_all(chunk)
                .map_err(io(format!("write {}", self.temp.display())))?;
        }
        if let Ok(mut s) = self.msd.state.lock() {
            s.uploads.insert(self.name.clone(), self.received);
        }
        Ok(())
    }

    /// Completes the upload: the file gets its name and its checksum is stored.
    pub fn finish(mut self) -> Result<Image, MsdError> {
        if let Some(f) = self.file.take() {
            let f = f.into_inner().map_err(|e| MsdError::Io {
                what: format!("write {}", self.temp.display()),
                source: e.into_error(),
            })?;
            f.sync_all()
                .map_err(io(format!("sync {}", self.temp.display())))?;
        }
        let sha = hex::encode(std::mem::take(&mut self.hash).finalize());
        let dest = self.msd.dir.join(&self.name);
        std::fs::write(self.msd.sidecar(&self.name), format!("{sha}\n"))
            .map_err(io(format!("checksum of {}", self.name)))?;
        std::fs::rename(&self.temp, &dest).map_err(io(format!("rename to {}", dest.display())))?;
        self.done = true;
        Ok(Image {
            name: self.name.clone(),
            size: self.received,
            sha256: Some(sha),
        })
    }
}

impl Drop for Upload<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.temp);
        }
        if let Ok(mut s) = self.msd.state.lock() {
            s.uploads.remove(&self.name);
        }
    }
}

/// Where the LUN of periscope's gadget lives under `root` (`/` on a board).
pub fn lun_dir(root: &Path) -> PathBuf {
    crate::hid::gadget::apply::gadget_dir(root).join("functions/mass_storage.disk/lun.0")
}

#[cfg(test)]
mod tests;
