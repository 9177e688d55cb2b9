//! `periscope install`: sets a board up to run the appliance at boot. It picks the hardware
//! profile by detection (as `periscope detect`), copies the running binary to
//! `/usr/local/bin`, writes `/etc/periscope/periscope.toml` naming that profile (a file the
//! user already has is kept), writes the systemd unit, adds the profile's device-tree
//! overlays to the boot configuration when asked (`--apply-overlays`; otherwise it prints
//! them), and enables and starts the service. `--remove` disables and removes the unit.
//!
//! Everything is relative to a root directory (`--root`, default `/`), so tests run it over
//! a fake tree; systemctl runs only for the live root. The text of every file comes from
//! [`files`]; this module only reads and writes.

pub mod files;

use crate::profile::{HwProfile, ProfileError};
use files::{BootEdit, BootLine};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where things go, relative to the root.
pub const BIN: &str = "/usr/local/bin/periscope";
/// The config file the unit passes to `serve`.
pub const CONFIG: &str = "/etc/periscope/periscope.toml";
/// The unit.
pub const UNIT: &str = "/etc/systemd/system/periscope.service";
const UNIT_NAME: &str = "periscope.service";

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// The system root (`/` on a board).
    pub root: PathBuf,
    /// A profile name or `auto`.
    pub profile: String,
    /// Write the profile's overlays into the boot configuration.
    pub apply_overlays: bool,
    /// Enable and start the service (live root only).
    pub start: bool,
    /// Disable and remove the service instead.
    pub remove: bool,
}

/// Why the install stopped.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// No profile fits, or the named one is unknown.
    #[error("{0}")]
    Profile(#[from] ProfileError),
    /// The live system needs root.
    #[error("installing on / needs root: sudo periscope install")]
    NotRoot,
    /// A systemctl call failed.
    #[error("systemctl {args}: {message}")]
    Systemctl {
        /// Its arguments.
        args: String,
        /// Its output or the spawn error.
        message: String,
    },
}

/// What was done, a line each, and whether the board must reboot for it.
#[derive(Debug, Default)]
pub struct Report {
    /// Human-readable lines, in order.
    pub lines: Vec<String>,
    /// The boot configuration changed.
    pub reboot: bool,
}

impl Report {
    fn say(&mut self, line: impl Into<String>) {
        self.lines.push(line.into());
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `root` + an absolute path of the target system.
fn under(root: &Path, abs: &str) -> PathBuf {
    root.join(abs.trim_start_matches('/'))
}

fn live(root: &Path) -> bool {
    root == Path::new("/")
}

/// Runs the install (or the removal) and says what it did.
pub fn run(opts: &Options) -> Result<Report, InstallError> {
    if live(&opts.root) && !is_root() {
        return Err(InstallError::NotRoot);
    }
    let mut report = Report::default();
    if opts.remove {
        remove(opts, &mut report)?;
        return Ok(report);
    }
    let (profile, why) = pick(&opts.root, &opts.profile)?;
    report.say(format!(
        "profile: {} ({})",
        profile.name, profile.description
    ));
    for w in &why {
        report.say(format!("  because {w}"));
    }
    install_binary(&opts.root, &mut report)?;
    write_config(&opts.root, &profile.name, &why, &mut report)?;
    let unit = under(&opts.root, UNIT);
    write_file(&unit, &files::unit_file(Path::new(BIN), Path::new(CONFIG)))?;
    report.say(format!("wrote {UNIT}"));
    overlays(opts, &profile, &mut report)?;
    start(opts, &mut report)?;
    report.say(
        "log in at https://<this board>:8443/ as admin: the first start prints a generated \
         password once (journalctl -u periscope | grep password), or set one now: \
         sudo periscope passwd",
    );
    if report.reboot {
        report.say("reboot for the boot configuration to take effect: sudo reboot");
    }
    Ok(report)
}

fn pick(root: &Path, name: &str) -> Result<(HwProfile, Vec<String>), InstallError> {
    if name == "auto" {
        let (p, d) = crate::board::detect_root(root)?;
        return Ok((p, d.reasons));
    }
    Ok((
        crate::profile::load(name)?,
        vec!["named by --profile".into()],
    ))
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn write_file(path: &Path, text: &str) -> Result<(), InstallError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::write(path, text).map_err(io(path))
}

/// Copies the running binary to /usr/local/bin through a temporary file and a rename, so a
/// running service's binary is replaced, not overwritten in place (ETXTBSY).
fn install_binary(root: &Path, report: &mut Report) -> Result<(), InstallError> {
    let dest = under(root, BIN);
    let exe = std::env::current_exe().map_err(io(Path::new("/proc/self/exe")))?;
    let same = match (exe.canonicalize(), dest.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        report.say(format!("kept {BIN} (it is this binary)"));
        return Ok(());
    }
    let dir = dest.parent().unwrap_or(root);
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = dir.join(".periscope.install");
    std::fs::copy(&exe, &tmp).map_err(io(&tmp))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &dest).map_err(io(&dest))?;
    report.say(format!("installed {BIN} (from {})", exe.display()));
    Ok(())
}

fn write_config(
    root: &Path,
    profile: &str,
    why: &[String],
    report: &mut Report,
) -> Result<(), InstallError> {
    let path = under(root, CONFIG);
    if path.exists() {
        report.say(format!(
            "kept {CONFIG} (yours; a fresh install would name profile {profile})"
        ));
        return Ok(());
    }
    write_file(&path, &files::config_file(profile, why))?;
    report.say(format!("wrote {CONFIG} (profile = \"{profile}\")"));
    Ok(())
}

/// The file an overlay names, or on a Raspberry Pi OS older than bookworm, /boot/config.txt.
fn boot_file(root: &Path, file: &str) -> Option<(PathBuf, String)> {
    let path = under(root, file);
    if path.exists() {
        return Some((path, file.to_string()));
    }
    let legacy = "/boot/config.txt";
    if file == "/boot/firmware/config.txt" && under(root, legacy).exists() {
        return Some((under(root, legacy), legacy.to_string()));
    }
    None
}

fn overlays(opts: &Options, profile: &HwProfile, report: &mut Report) -> Result<(), InstallError> {
    for o in &profile.overlays {
        let line = files::boot_line(&o.snippet);
        let note = o
            .note
            .as_deref()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        if line == BootLine::Manual {
            report.say(format!(
                "boot: by hand, {}: add `{}` to {}{note}",
                o.name, o.snippet, o.file
            ));
            continue;
        }
        let Some((path, shown)) = boot_file(&opts.root, &o.file) else {
            report.say(format!(
                "boot: {} not found: add `{}` to your boot configuration by hand{note}",
                o.file, o.snippet
            ));
            continue;
        };
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        match files::apply(&text, &line, &profile.name) {
            BootEdit::Present(found) => {
                report.say(format!("boot: {shown} already has `{found}` ({})", o.name))
            }
            BootEdit::Changed(new) if opts.apply_overlays => {
                // The first backup is the user's own file; later runs keep it.
                let backup = PathBuf::from(format!("{}.periscope-backup", path.display()));
                if !backup.exists() {
                    std::fs::copy(&path, &backup).map_err(io(&backup))?;
                }
                write_file(&path, &new)?;
                report.reboot = true;
                report.say(format!(
                    "boot: added `{}` to {shown} (backup: {shown}.periscope-backup){note}",
                    o.snippet
                ));
            }
            BootEdit::Changed(_) => report.say(format!(
                "boot: {shown} needs `{}` ({}): add it, or run again with --apply-overlays{note}",
                o.snippet, o.name
            )),
            BootEdit::Manual => {}
        }
    }
    Ok(())
}

fn systemctl(args: &[&str]) -> Result<(), InstallError> {
    let shown = args.join(" ");
    let out =
        Command::new("systemctl")
            .args(args)
            .output()
            .map_err(|e| InstallError::Systemctl {
                args: shown.clone(),
                message: e.to_string(),
            })?;
    if out.status.success() {
        return Ok(());
    }
    Err(InstallError::Systemctl {
        args: shown,
        message: format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    })
}

/// systemd is the init here when /run/systemd/system exists (sd_booted's test).
fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

fn start(opts: &Options, report: &mut Report) -> Result<(), InstallError> {
    let manual = format!("start it with: systemctl enable --now {UNIT_NAME}");
    if !live(&opts.root) {
        report.say(format!(
            "systemd: not started (--root {})",
            opts.root.display()
        ));
    } else if !opts.start {
        report.say(format!("systemd: not started (--no-start); {manual}"));
    } else if !systemd_running() {
        report.say(format!(
            "systemd: not running here; {manual}, or run {BIN} serve --config {CONFIG}"
        ));
    } else {
        systemctl(&["daemon-reload"])?;
        systemctl(&["enable", UNIT_NAME])?;
        // restart, not start: a reinstall must run the new binary.
        systemctl(&["restart", UNIT_NAME])?;
        report.say(format!("systemd: {UNIT_NAME} enabled and (re)started"));
    }
    Ok(())
}

fn remove(opts: &Options, report: &mut Report) -> Result<(), InstallError> {
    if live(&opts.root) && systemd_running() {
        systemctl(&["disable", "--now", UNIT_NAME])?;
        report.say(format!("systemd: {UNIT_NAME} stopped and disabled"));
    }
    let unit = under(&opts.root, UNIT);
    match std::fs::remove_file(&unit) {
        Ok(()) => report.say(format!("removed {UNIT}")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.say(format!("{UNIT} was not there"))
        }
        Err(e) => return Err(io(&unit)(e)),
    }
    if live(&opts.root) && systemd_running() {
        systemctl(&["daemon-reload"])?;
    }
    report.say(format!(
        "kept {BIN}, {CONFIG}, /var/lib/periscope (password, certificate, images) and the boot \
         configuration: remove them by hand if you want them gone"
    ));
    Ok(())
}
