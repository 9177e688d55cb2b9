//! `periscope ch9329 info|set-baud`: one-shot commands for a CH9329 that the daemon is not
//! using. `info` shows what the chip says about itself; `set-baud` changes the speed stored in
//! the chip (SET_PARA_CFG, then RESET: merely opening the port at another speed loses the
//! chip) and checks that it answers at the new one. Each step that fails is named.

use super::port::{ExchangeError, Port};
use super::proto::{self, Cmd, Info, ParaCfg, ProtoError, Reply};
use super::{BAUD_RATES, DEFAULT_BAUD, RESET_SETTLE};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Reply margin for one-shot commands: nobody waits on them, so be generous.
const CLI_MARGIN: Duration = Duration::from_millis(300);
/// How long `set-baud` keeps asking at the new speed while the chip restarts.
const CONFIRM_FOR: Duration = Duration::from_secs(2);

/// `periscope ch9329 …`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// Show the chip's firmware version, whether the target enumerated it, the keyboard LEDs
    /// and the serial speed stored in it.
    Info {
        /// Serial port the chip is on.
        #[arg(long)]
        port: PathBuf,
        /// Speed the chip runs at now.
        #[arg(long, default_value_t = DEFAULT_BAUD)]
        baud: u32,
    },
    /// Change the chip's serial speed: write it into the chip's config, reset the chip, and
    /// check that it answers at the new speed.
    SetBaud {
        /// Serial port the chip is on.
        #[arg(long)]
        port: PathBuf,
        /// Speed the chip runs at now.
        #[arg(long)]
        from: u32,
        /// Speed to switch it to.
        #[arg(long)]
        to: u32,
    },
}

/// Why a command failed, naming the step.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A speed the chip does not support.
    #[error("ch9329: --{key} {value}: must be one of {BAUD_RATES:?}")]
    Baud {
        /// The flag.
        key: &'static str,
        /// Its value.
        value: u32,
    },
    /// The port cannot be opened.
    #[error("ch9329 {port}: open at {baud} baud: {source}")]
    Open {
        /// The port.
        port: String,
        /// The speed.
        baud: u32,
        /// What the OS said.
        source: std::io::Error,
    },
    /// An exchange with the chip failed.
    #[error("ch9329 {port}: {step}: {source}{hint}")]
    Step {
        /// The port.
        port: String,
        /// What was being done.
        step: String,
        /// How it failed.
        source: ExchangeError,
        /// What to try.
        hint: String,
    },
}

/// Runs one command; returns what to print.
pub fn run(action: &Action) -> Result<String, CliError> {
    match action {
        Action::Info { port, baud } => info(port, *baud),
        Action::SetBaud { port, from, to } => set_baud(port, *from, *to),
    }
}

/// `info`: GET_INFO and GET_PARA_CFG at `baud`.
pub fn info(port: &Path, baud: u32) -> Result<String, CliError> {
    check_baud("baud", baud)?;
    let mut p = open(port, baud)?;
    let hint = format!(
        " (is the chip at {baud} baud? it runs at {DEFAULT_BAUD} from the factory; \
         check the wiring: chip TX to our RX)"
    );
    let info = get_info(&mut p).map_err(|e| step(port, "get_info", e, &hint))?;
    let cfg = get_para_cfg(&mut p).map_err(|e| step(port, "get_para_cfg", e, &hint))?;
    Ok(describe(port, baud, &info, &cfg))
}

/// `set-baud`: read the config at `from`, write it back with `to`, reset, confirm at `to`.
pub fn set_baud(port: &Path, from: u32, to: u32) -> Result<String, CliError> {
    check_baud("from", from)?;
    check_baud("to", to)?;
    let mut p = open(port, from)?;
    let cfg = get_para_cfg(&mut p).map_err(|e| {
        let hint = format!(" (is the chip at {from} baud? `periscope ch9329 info --baud N`)");
        step(port, &format!("read the config at {from} baud"), e, &hint)
    })?;
    let stored = cfg.baud();
    done(p.exchange_within(&proto::set_para_cfg(&cfg.with_baud(to)), CLI_MARGIN))
        .map_err(|e| step(port, &format!("write the config with {to} baud"), e, ""))?;
    done(p.exchange_within(&proto::reset(), CLI_MARGIN)).map_err(|e| {
        let hint = format!(" (the new speed applies after a reset: power-cycle the chip, then `periscope ch9329 info --baud {to}`)");
        step(port, "reset", e, &hint)
    })?;
    drop(p);
    std::thread::sleep(RESET_SETTLE);
    let info = confirm(port, to).map_err(|e| {
        let hint =
            format!(" (the chip may still run at {from}: `periscope ch9329 info --baud {from}`)");
        step(port, &format!("confirm at {to} baud"), e, &hint)
    })?;
    let mut out = format!(
        "ch9329 {}: serial speed {from} -> {to} baud; chip {} answers at {to}\n",
        port.display(),
        info.version_string()
    );
    if stored != from {
        out.push_str(&format!("  (its config said {stored} baud before)\n"));
    }
    out.push_str(&format!("  run the daemon with --hid-baud {to}\n"));
    Ok(out)
}

/// GET_INFO at `baud`, asked again until [`CONFIRM_FOR`] passes (the chip is restarting).
fn confirm(port: &Path, baud: u32) -> Result<Info, ExchangeError> {
    let end = Instant::now() + CONFIRM_FOR;
    loop {
        let attempt = Port::open(port, baud)
            .map_err(|source| ExchangeError::Io {
                path: port.to_path_buf(),
                source,
            })
            .and_then(|mut p| get_info(&mut p));
        match attempt {
            Ok(info) => return Ok(info),
            Err(e) if Instant::now() >= end => return Err(e),
            // The port may be reopening with the chip: pace the attempts.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn describe(port: &Path, baud: u32, info: &Info, cfg: &ParaCfg) -> String {
    let on = |b: bool| if b { "on" } else { "off" };
    let usb = if info.enumerated {
        "enumerated by the target"
    } else {
        "not enumerated (target off, asleep, or USB cable out)"
    };
    format!(
        "ch9329 {} at {baud} baud\n  version: {} ({:#04x})\n  usb: {usb}\n  leds: num {}, caps {}, scroll {}\n  configured baud: {}\n",
        port.display(),
        info.version_string(),
        info.version,
        on(info.leds.num),
        on(info.leds.caps),
        on(info.leds.scroll),
        cfg.baud()
    )
}

fn check_baud(key: &'static str, value: u32) -> Result<(), CliError> {
    if BAUD_RATES.contains(&value) {
        Ok(())
    } else {
        Err(CliError::Baud { key, value })
    }
}

fn open(port: &Path, baud: u32) -> Result<Port, CliError> {
    Port::open(port, baud).map_err(|source| CliError::Open {
        port: port.display().to_string(),
        baud,
        source,
    })
}

fn step(port: &Path, step: &str, source: ExchangeError, hint: &str) -> CliError {
    CliError::Step {
        port: port.display().to_string(),
        step: step.to_string(),
        source,
        hint: hint.to_string(),
    }
}

fn get_info(p: &mut Port) -> Result<Info, ExchangeError> {
    match p.exchange_within(&proto::get_info(), CLI_MARGIN)? {
        Reply::Info(info) => Ok(info),
        _ => Err(unexpected(Cmd::GetInfo)),
    }
}

fn get_para_cfg(p: &mut Port) -> Result<ParaCfg, ExchangeError> {
    match p.exchange_within(&proto::get_para_cfg(), CLI_MARGIN)? {
        Reply::Config(cfg) => Ok(cfg),
        _ => Err(unexpected(Cmd::GetParaCfg)),
    }
}

fn done(r: Result<Reply, ExchangeError>) -> Result<(), ExchangeError> {
    r.map(|_| ())
}

/// `proto` answers each command with its own reply kind; anything else is rejected.
fn unexpected(want: Cmd) -> ExchangeError {
    ProtoError::UnexpectedCmd { want, got: 0 }.into()
}
