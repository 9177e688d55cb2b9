//! The `periscope` binary: parses arguments, loads the config file, starts logging, and hands
//! over to `app::run` (or runs a one-shot subcommand).

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
    /// Set the admin password (read from standard input, one line).
    Passwd,
}

fn main() -> anyhow::Result<()> {
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
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("net")
                .build()?;
            rt.block_on(periscope::app::run(cfg))
        }
        Command::Passwd => passwd(&cfg.state_dir),
    }
}

fn passwd(state_dir: &std::path::Path) -> anyhow::Result<()> {
    let mut line = String::new();
    eprintln!("new admin password (one line on standard input):");
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password")?;
    let pw = line.trim_end_matches(['\r', '\n']);
    if pw.chars().count() < 8 {
        anyhow::bail!("passwd: the password must be at least 8 characters");
    }
    std::fs::create_dir_all(state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    let hash = periscope::auth::hash_password(pw)?;
    periscope::auth::write_private(&state_dir.join(periscope::auth::HASH_FILE), &hash)
        .with_context(|| format!("writing the password hash into {}", state_dir.display()))?;
    eprintln!("passwd: admin password changed");
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
