//! The `periscope` binary: parses arguments, loads the config file, starts logging, and hands
//! over to `app::run` (or runs a one-shot subcommand).

// No `unwrap()` outside tests: what comes from outside gets an error with a reason, and an
// internal invariant an `expect` that names it. clippy -D warnings (scripts/test) enforces it.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use anyhow::Context;
use clap::{Parser, Subcommand};
use periscope::config::{self, Settings};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "periscope", version, about = "KVM-over-IP appliance")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// TOML config file (keys as the flags, in snake_case); flags win.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web UI, WebRTC and MJPEG (the default).
    Serve,
    /// Set a user's password (read from standard input, one line). `--user viewer` enables
    /// the view-only user; `--user viewer --remove` disables it.
    Passwd {
        /// admin (sees and controls) or viewer (sees only).
        #[arg(long, default_value = "admin")]
        user: String,
        /// Remove the user's password (viewer only: the admin always has one).
        #[arg(long)]
        remove: bool,
    },
    /// Build, remove or show the USB OTG gadget described by the profile's [usb] section.
    Otg {
        #[command(subcommand)]
        action: OtgAction,
        /// Hardware profile name, a profile file, or auto.
        #[arg(long, global = true)]
        profile: Option<String>,
        /// System root holding sys/ and dev/ (a fake tree for tests).
        #[arg(long, global = true, default_value = "/")]
        root: PathBuf,
    },
    /// Print an EDID as hex (what `v4l2-ctl --set-edid file=` reads): a built-in one
    /// (default, 1080p50, 1080p60, 720p60) or a file, checked. For receivers that take the
    /// EDID only on their subdevice (media-controller mode), or to inspect it with edid-decode.
    Edid {
        /// default, 1080p50, 1080p60, 720p60, or an EDID file (binary or hex).
        #[arg(default_value = "default")]
        name: String,
    },
    /// Pick the hardware profile for this machine and say why (what `--profile auto` uses).
    Detect {
        /// System root holding sys/, proc/ and dev/ (a captured or fake tree).
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
    /// Check the profile's expectations (overlays, capture device, UDC, permissions) and
    /// print the fix for each failure; exits non-zero when a check fails.
    Doctor {
        /// System root holding sys/, proc/ and dev/ (a captured or fake tree).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Hardware profile name, a profile file, or auto (detected from the root).
        #[arg(long)]
        profile: Option<String>,
    },
    /// Set this board up to run periscope at boot: the profile by detection, the binary in
    /// /usr/local/bin, /etc/periscope/periscope.toml, the systemd unit (enabled and started),
    /// and the profile's boot overlays (printed, or written with --apply-overlays).
    Install {
        /// System root to install into (a fake tree for tests; systemctl runs only for /).
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Hardware profile name, or auto (detected from the root).
        #[arg(long)]
        profile: Option<String>,
        /// Add the profile's overlays to the boot configuration (a backup is kept).
        #[arg(long)]
        apply_overlays: bool,
        /// Write the files but do not enable or start the service.
        #[arg(long)]
        no_start: bool,
        /// Stop, disable and remove the service (config, state and binary are kept).
        #[arg(long)]
        remove: bool,
    },
    /// Show a CH9329 serial-to-HID chip's state, or change its serial speed.
    Ch9329 {
        #[command(subcommand)]
        action: periscope::hid::ch9329::cli::Action,
    },
}

#[derive(Subcommand, Clone, Copy)]
enum OtgAction {
    /// Check the budget, build the gadget (replacing ours if present) and bind it.
    Up,
    /// Unbind and remove the gadget.
    Down,
    /// Show the bound controller, its state and the functions.
    Status,
    /// Print the configfs operations `up` would perform, without doing anything.
    Plan,
    /// The login console on the ACM serial function (getty on ttyGS0).
    Console {
        #[command(subcommand)]
        what: ConsoleAction,
    },
}

#[derive(Subcommand, Clone, Copy)]
enum ConsoleAction {
    /// Write the getty drop-in (TTYReset/TTYVHangup/TTYVTDisallocate=no) and enable it.
    Install,
    /// Remove the drop-in and disable the getty.
    Remove,
    /// Show whether it is installed and whether /dev/ttyGS0 exists.
    Status,
}

fn main() -> anyhow::Result<()> {
    periscope::media::pool::tune_allocator();
    let cli = Cli::parse();
    init_tracing();
    let file = match &cli.config {
        Some(path) => config::load_file(path).map_err(anyhow::Error::msg)?,
        None => Settings::default(),
    };
    let is_root = std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || std::env::var("HOME").map(|h| h == "/root").unwrap_or(false);
    let default_state = config::default_state_dir(
        is_root,
        std::env::var_os("XDG_STATE_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    );
    let mut cfg = cli.settings.over(file).validate(default_state)?;
    cfg.admin_password = std::env::var("PERISCOPE_ADMIN_PASSWORD").ok();
    cfg.viewer_password = std::env::var("PERISCOPE_VIEWER_PASSWORD").ok();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("net")
                .build()?;
            rt.block_on(periscope::app::run(cfg))
        }
        Command::Passwd { user, remove } => passwd(&cfg.state_dir, &user, remove),
        Command::Otg {
            action,
            profile,
            root,
        } => otg(action, &root, profile.as_deref().unwrap_or(&cfg.profile)),
        Command::Edid { name } => {
            let choice = periscope::media::edid::EdidChoice::parse(&name)
                .map_err(|e| anyhow::anyhow!("edid {name:?}: {e}"))?;
            let bytes = choice
                .load()
                .map_err(|e| anyhow::anyhow!("edid: {e}"))?
                .ok_or_else(|| anyhow::anyhow!("edid {name:?}: names no EDID to print"))?;
            let text = periscope::media::edid::to_hex(&bytes);
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            Ok(())
        }
        Command::Detect { root } => detect(&root),
        Command::Doctor { root, profile } => {
            doctor(&root, profile.as_deref().unwrap_or(&cfg.profile))
        }
        Command::Install {
            root,
            profile,
            apply_overlays,
            no_start,
            remove,
        } => {
            let opts = periscope::install::Options {
                root,
                profile: profile.unwrap_or_else(|| cfg.profile.clone()),
                apply_overlays,
                start: !no_start,
                remove,
            };
            let report =
                periscope::install::run(&opts).map_err(|e| anyhow::anyhow!("install: {e}"))?;
            let mut text = report.lines.join("\n");
            text.push('\n');
            let _ = std::io::Write::write_all(&mut std::io::stdout(), text.as_bytes());
            Ok(())
        }
        Command::Ch9329 { action } => {
            let out = periscope::hid::ch9329::cli::run(&action)?;
            // A closed pipe (`| head`) is not an error worth a panic.
            let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
            Ok(())
        }
    }
}

fn otg(action: OtgAction, root: &std::path::Path, profile: &str) -> anyhow::Result<()> {
    use periscope::hid::gadget::{self, apply};
    let spec = || -> anyhow::Result<gadget::GadgetSpec> {
        let p = if profile == "auto" {
            periscope::board::detect_root(root)?.0
        } else {
            periscope::profile::load(profile)?
        };
        let usb = p.usb.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "otg: profile {} has no [usb] section (the board has no otg port)",
                p.name
            )
        })?;
        Ok(gadget::spec_from_profile(usb))
    };
    let mut out = String::new();
    match action {
        OtgAction::Console { what } => out = console(what, root, spec)?,
        OtgAction::Status => out = format!("{}\n", apply::status(root)),
        OtgAction::Down => match apply::teardown(root)? {
            true => out.push_str("usb gadget periscope: removed\n"),
            false => out.push_str("usb gadget periscope: not set up\n"),
        },
        OtgAction::Plan => {
            let plan = gadget::plan::plan(&spec()?)?;
            out = format!("usb gadget periscope: {}\n", plan.summary());
            for op in &plan.ops {
                out.push_str(&format!("  {op}\n"));
            }
            out.push_str(&format!("  then bind udc {}\n", plan.udc));
        }
        OtgAction::Up => {
            let up = gadget::up(root, &spec()?)?;
            if up.replaced {
                out.push_str("usb gadget periscope: replaced the previous one\n");
            }
            out.push_str(&format!("usb gadget periscope: {}\n", up.plan.summary()));
            // Give a connected host a moment to configure it, so the state shown is useful.
            for _ in 0..20 {
                if apply::status(root).host_connected() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            out.push_str(&format!("{}\n", apply::status(root)));
        }
    }
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    Ok(())
}

/// `periscope detect`: the chosen profile, then one line per deciding fact.
fn detect(root: &std::path::Path) -> anyhow::Result<()> {
    let (p, d) = periscope::board::detect_root(root)?;
    let mut out = format!("profile: {} ({})\n", p.name, p.description);
    for r in &d.reasons {
        out.push_str(&format!("  because {r}\n"));
    }
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    Ok(())
}

/// `periscope doctor`: every check of the profile against the root; exit 1 on a failure.
fn doctor(root: &std::path::Path, profile: &str) -> anyhow::Result<()> {
    use periscope::board::{doctor, snapshot};
    let (p, how) = if profile == "auto" {
        let (p, d) = periscope::board::detect_root(root)?;
        let why = d.reasons.first().cloned().unwrap_or_default();
        (p, format!("detected ({why})"))
    } else {
        (periscope::profile::load(profile)?, "--profile".to_string())
    };
    let snap = snapshot::read(root);
    // On the live system the capture device itself is asked (read-only) for its formats,
    // EDID and signal; a captured or fake tree has no device to ask.
    // A missing node is the video check's failure already.
    let here = root == std::path::Path::new("/");
    let live = (here && p.device.starts_with("/dev/") && std::path::Path::new(&p.device).exists())
        .then(|| inspect(&p.device));
    let checks = doctor::check_live(&p, &snap, &snapshot::Identity::current(), live.as_ref());
    let out = format!(
        "doctor: root {}, profile {} {how}\n{}",
        root.display(),
        p.name,
        doctor::render(&checks)
    );
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    if doctor::failed(&checks) {
        std::process::exit(1);
    }
    Ok(())
}

#[cfg(feature = "v4l2")]
fn inspect(device: &str) -> Result<periscope::media::capture::DeviceReport, String> {
    periscope::media::capture::v4l2::inspect(device).map_err(|e| e.to_string())
}

#[cfg(not(feature = "v4l2"))]
fn inspect(_device: &str) -> Result<periscope::media::capture::DeviceReport, String> {
    Err("built without the v4l2 feature".into())
}

fn console(
    what: ConsoleAction,
    root: &std::path::Path,
    spec: impl Fn() -> anyhow::Result<periscope::hid::gadget::GadgetSpec>,
) -> anyhow::Result<String> {
    use periscope::hid::gadget::{console, FunctionSpec};
    let mut out = String::new();
    match what {
        ConsoleAction::Status => {}
        ConsoleAction::Remove => {
            console::remove(root)
                .with_context(|| format!("otg console under {}", root.display()))?;
            out.push_str("serial console: removed\n");
        }
        ConsoleAction::Install => {
            let has_acm = spec()
                .map(|s| s.functions.iter().any(|f| matches!(f, FunctionSpec::Acm)))
                .unwrap_or(false);
            if !has_acm {
                out.push_str(
                    "serial console: warning: the profile's [usb] functions have no \"acm\"; \
                     add it (3 endpoints) and run `periscope otg up`, or /dev/ttyGS0 never appears\n",
                );
            }
            console::install(root)
                .with_context(|| format!("otg console under {}", root.display()))?;
            out.push_str(&format!(
                "serial console: installed and enabled {}\n",
                console::UNIT
            ));
            if root == std::path::Path::new("/") {
                for args in [&["daemon-reload"][..], &["start", console::UNIT][..]] {
                    match std::process::Command::new("systemctl").args(args).status() {
                        Ok(s) if s.success() => {}
                        Ok(s) => out.push_str(&format!("  systemctl {}: {s}\n", args.join(" "))),
                        Err(e) => out.push_str(&format!("  systemctl {}: {e}\n", args.join(" "))),
                    }
                }
            }
        }
    }
    out.push_str(&format!("{}\n", console::status(root)));
    Ok(out)
}

fn passwd(state_dir: &std::path::Path, user: &str, remove: bool) -> anyhow::Result<()> {
    use periscope::auth;
    let Some(file) = auth::hash_file(user) else {
        anyhow::bail!(
            "passwd: unknown user {user:?} (users: {}, {})",
            auth::ADMIN_USER,
            auth::VIEWER_USER
        );
    };
    let path = state_dir.join(file);
    if remove {
        if user == auth::ADMIN_USER {
            anyhow::bail!("passwd: the admin password cannot be removed, only changed");
        }
        match std::fs::remove_file(&path) {
            Ok(()) => eprintln!("passwd: {user} removed (takes effect at the next start)"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("passwd: {user} had no password")
            }
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
        return Ok(());
    }
    let mut line = String::new();
    eprintln!("new {user} password (one line on standard input):");
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password")?;
    let pw = line.trim_end_matches(['\r', '\n']);
    if pw.chars().count() < 8 {
        anyhow::bail!("passwd: the password must be at least 8 characters");
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    let hash = auth::hash_password(pw)?;
    auth::write_private(&path, &hash)
        .with_context(|| format!("writing the password hash into {}", state_dir.display()))?;
    eprintln!("passwd: {user} password changed (takes effect at the next start)");
    Ok(())
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PERISCOPE_LOG").unwrap_or_else(|_| {
        EnvFilter::new("info,webrtc::=warn,rtc=warn,rtc_dtls=error,rtc_sctp=error")
    });
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
