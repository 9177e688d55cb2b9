//! Power, relays, buttons and Wake-on-LAN: the server's front panel as the web UI and
//! `/api/atx`, `/api/gpio`, `/api/wol` see it.
//!
//! [`Devices`] holds the configured drivers (`driver`), the ATX signals and the button table
//! (`config`), and carries out actions: a pulse drives a channel on, waits, and drives it off
//! again (always, also when the wait is cut short by an error). Each action is refused while
//! the same target is still busy (409), limited to one per [`MIN_INTERVAL`] per target (429),
//! and leaves an audit line — who, what, when, result — in the log (target `audit`) and in the
//! last [`AUDIT_KEEP`] entries served by `/api/audit`.

pub mod config;
pub mod driver;
pub mod relay;
pub mod wol;

#[cfg(test)]
mod tests;

use config::{Action, DevicesConfig, Pin};
use driver::{CmdResult, Driver, DriverError};
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Shortest time between two accepted actions on one target.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Audit entries kept in memory.
pub const AUDIT_KEEP: usize = 200;

/// An ATX action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AtxAction {
    /// A short press of the power button.
    Power,
    /// A long press (forced off).
    PowerLong,
    /// A press of the reset button.
    Reset,
}

impl std::str::FromStr for AtxAction {
    type Err = String;
    fn from_str(s: &str) -> Result<AtxAction, String> {
        match s {
            "power" => Ok(AtxAction::Power),
            "power_long" => Ok(AtxAction::PowerLong),
            "reset" => Ok(AtxAction::Reset),
            other => Err(format!("ATX action {other:?}: power, power_long or reset")),
        }
    }
}

/// Why an action was not carried out; each maps to an HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// No such button, or that part is not configured (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is wrong for this target (400).
    #[error("{0}")]
    Bad(String),
    /// A confirmation is needed (400 with `"confirm": true` asked for).
    #[error("{0}")]
    NeedsConfirm(String),
    /// The target is still busy with an earlier action (409).
    #[error("{0}")]
    Busy(String),
    /// Too soon after the last action on the target (429).
    #[error("{0}")]
    TooSoon(String),
    /// The driver failed (502).
    #[error("{0}")]
    Driver(#[from] DriverError),
}

/// One audit entry.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    /// Unix time, milliseconds.
    pub at_ms: u64,
    /// Who asked (`admin@ADDRESS`).
    pub who: String,
    /// What (`atx power`, `button toggle_switch pulse`, `wol 00:11:…`).
    pub what: String,
    /// `ok`, or why not.
    pub result: String,
}

/// What an action did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Done {
    /// The command's result, for `cmd` drivers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<CmdResult>,
}

/// The configured devices and the actions on them.
pub struct Devices {
    config: DevicesConfig,
    drivers: HashMap<String, Arc<dyn Driver>>,
    /// Targets with an action under way.
    busy: Mutex<HashSet<String>>,
    /// When each target's last action was accepted.
    last: Mutex<HashMap<String, Instant>>,
    audit: Mutex<VecDeque<AuditEntry>>,
}

impl Devices {
    /// Devices for a validated config (drivers open their devices on first use).
    pub fn new(config: DevicesConfig) -> Result<Arc<Devices>, config::DevicesError> {
        config.validate()?;
        let drivers = config
            .drivers
            .iter()
            .map(|(name, d)| (name.clone(), Arc::from(driver::build(name, d))))
            .collect();
        Ok(Arc::new(Devices::with_drivers(config, drivers)))
    }

    /// Devices with the given drivers (tests substitute their own).
    pub fn with_drivers(
        config: DevicesConfig,
        drivers: HashMap<String, Arc<dyn Driver>>,
    ) -> Devices {
        Devices {
            config,
            drivers,
            busy: Mutex::new(HashSet::new()),
            last: Mutex::new(HashMap::new()),
            audit: Mutex::new(VecDeque::new()),
        }
    }

    /// Whether anything is configured (the UI hides the panel otherwise).
    pub fn any(&self) -> bool {
        self.config.atx.is_some() || !self.config.buttons.is_empty() || self.config.wol.is_some()
    }

    /// `/api/atx`: what is configured, the power LED and what is busy.
    pub async fn atx_state(self: &Arc<Self>) -> serde_json::Value {
        let Some(atx) = &self.config.atx else {
            return serde_json::json!({ "enabled": false });
        };
        let led = match &atx.led {
            Some(pin) => self.read(pin).await,
            None => None,
        };
        let busy = self.busy_set();
        serde_json::json!({
            "enabled": true,
            "power": atx.power.is_some(),
            "reset": atx.reset.is_some(),
            "power_led": led,
            "busy": busy.iter().any(|t| t.starts_with("atx ")),
            "short_ms": atx.short_ms,
            "long_ms": atx.long_ms,
        })
    }

    /// `/api/gpio`: every button with its state.
    pub async fn buttons_state(self: &Arc<Self>) -> serde_json::Value {
        let busy = self.busy_set();
        let mut out = Vec::new();
        for b in &self.config.buttons {
            let pin = Pin {
                driver: b.driver.clone(),
                channel: b.channel,
            };
            out.push(serde_json::json!({
                "name": b.name,
                "label": b.label,
                "action": b.action,
                "confirm": b.confirm,
                "state": self.read(&pin).await,
                "busy": busy.contains(&format!("button {}", b.name)),
            }));
        }
        serde_json::json!({ "buttons": out, "wol": self.config.wol.is_some() })
    }

    /// Presses an ATX button for `who`.
    pub async fn atx(self: &Arc<Self>, who: &str, action: AtxAction) -> Result<Done, ActionError> {
        let what = format!(
            "atx {}",
            serde_json::to_value(action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        );
        let result = self.atx_inner(action).await;
        self.record(who, &what, &result);
        result
    }

    async fn atx_inner(self: &Arc<Self>, action: AtxAction) -> Result<Done, ActionError> {
        let atx = self
            .config
            .atx
            .as_ref()
            .ok_or_else(|| ActionError::NotFound("ATX is not configured ([atx])".into()))?;
        let (pin, ms, part) = match action {
            AtxAction::Power => (&atx.power, atx.short_ms, "power"),
            AtxAction::PowerLong => (&atx.power, atx.long_ms, "power"),
            AtxAction::Reset => (&atx.reset, atx.short_ms, "reset"),
        };
        let pin = pin
            .clone()
            .ok_or_else(|| ActionError::NotFound(format!("atx.{part} is not configured")))?;
        // Power and reset share the front panel: one press at a time.
        self.run("atx front panel", pin, Action::Pulse, config::ms(ms))
            .await
    }

    /// Presses button `name` for `who`: `action` defaults to the button's own; a button that
    /// asks for confirmation needs `confirm`.
    pub async fn button(
        self: &Arc<Self>,
        who: &str,
        name: &str,
        action: Option<Action>,
        confirm: bool,
    ) -> Result<Done, ActionError> {
        let label = match action {
            Some(a) => format!("button {name} {}", action_name(a)),
            None => format!("button {name}"),
        };
        let result = self.button_inner(name, action, confirm).await;
        self.record(who, &label, &result);
        result
    }

    async fn button_inner(
        self: &Arc<Self>,
        name: &str,
        action: Option<Action>,
        confirm: bool,
    ) -> Result<Done, ActionError> {
        let b = self
            .config
            .buttons
            .iter()
            .find(|b| b.name == name)
            .ok_or_else(|| ActionError::NotFound(format!("no button {name:?}")))?;
        let action = action.unwrap_or(b.action);
        let allowed = match b.action {
            Action::Pulse => action == Action::Pulse,
            Action::On | Action::Off => action != Action::Pulse,
        };
        if !allowed {
            let can = if b.action == Action::Pulse {
                "pulse"
            } else {
                "on or off"
            };
            return Err(ActionError::Bad(format!(
                "button {name:?} takes {can}, not {}",
                action_name(action)
            )));
        }
        if b.confirm && !confirm {
            return Err(ActionError::NeedsConfirm(format!(
                "button {name:?} asks for confirmation: send \"confirm\": true"
            )));
        }
        let pin = Pin {
            driver: b.driver.clone(),
            channel: b.channel,
        };
        self.run(
            &format!("button {name}"),
            pin,
            action,
            config::ms(b.pulse_ms),
        )
        .await
    }

    /// Sends the Wake-on-LAN packet for `who`.
    pub async fn wol(self: &Arc<Self>, who: &str) -> Result<Done, ActionError> {
        let result = match &self.config.wol {
            None => Err(ActionError::NotFound(
                "Wake-on-LAN is not configured ([wol])".into(),
            )),
            Some(w) => match w.mac.parse::<wol::Mac>() {
                Err(e) => Err(ActionError::Bad(e)),
                Ok(mac) => {
                    let (addr, port) = (w.broadcast, w.port);
                    match self.claim("wol") {
                        Err(e) => Err(e),
                        Ok(guard) => {
                            let sent =
                                tokio::task::spawn_blocking(move || wol::send(mac, addr, port))
                                    .await
                                    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
                            drop(guard);
                            sent.map(|()| Done::default()).map_err(|source| {
                                ActionError::Driver(DriverError::Io {
                                    what: format!("wol {addr}:{port}"),
                                    source,
                                })
                            })
                        }
                    }
                }
            },
        };
        let what = match &self.config.wol {
            Some(w) => format!("wol {}", w.mac),
            None => "wol".into(),
        };
        self.record(who, &what, &result);
        result
    }

    /// The last audit entries, oldest first.
    pub fn audit(&self) -> Vec<AuditEntry> {
        self.audit
            .lock()
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Carries out `action` on `pin` as `target` (busy and rate checks first).
    async fn run(
        self: &Arc<Self>,
        target: &str,
        pin: Pin,
        action: Action,
        pulse: Duration,
    ) -> Result<Done, ActionError> {
        let driver = self
            .drivers
            .get(&pin.driver)
            .cloned()
            .ok_or_else(|| ActionError::NotFound(format!("no driver {:?}", pin.driver)))?;
        let guard = self.claim(target)?;
        let ch = pin.channel;
        let done = tokio::task::spawn_blocking(move || -> Result<Done, DriverError> {
            // Busy until the pulse has really ended, even if the request goes away.
            let _busy = guard;
            let command = match action {
                Action::On => driver.set(ch, true)?,
                Action::Off => driver.set(ch, false)?,
                Action::Pulse => {
                    let command = driver.set(ch, true)?;
                    if driver.kind() != "cmd" {
                        std::thread::sleep(pulse);
                        driver.set(ch, false)?;
                    }
                    command
                }
            };
            Ok(Done { command })
        })
        .await
        .map_err(|e| ActionError::Bad(format!("{target}: {e}")))?;
        Ok(done?)
    }

    /// Reads a pin (None when unknown or unreadable).
    async fn read(&self, pin: &Pin) -> Option<bool> {
        let driver = self.drivers.get(&pin.driver)?.clone();
        let ch = pin.channel;
        match tokio::task::spawn_blocking(move || driver.get(ch)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::debug!(target: "devices", error = %e, "read failed");
                None
            }
            Err(_) => None,
        }
    }

    /// Marks `target` busy (released when the guard drops), after the busy and rate checks.
    fn claim(self: &Arc<Self>, target: &str) -> Result<Claim, ActionError> {
        let mut busy = self
            .busy
            .lock()
            .map_err(|_| ActionError::Busy(format!("{target}: busy")))?;
        if busy.contains(target) {
            return Err(ActionError::Busy(format!(
                "{target} is busy with an earlier action"
            )));
        }
        let now = Instant::now();
        if let Ok(mut last) = self.last.lock() {
            if let Some(t) = last.get(target) {
                if now.saturating_duration_since(*t) < MIN_INTERVAL {
                    return Err(ActionError::TooSoon(format!(
                        "{target}: at most one action per {} ms",
                        MIN_INTERVAL.as_millis()
                    )));
                }
            }
            last.insert(target.to_string(), now);
        }
        busy.insert(target.to_string());
        Ok(Claim {
            devices: Arc::clone(self),
            target: target.to_string(),
        })
    }

    fn busy_set(&self) -> HashSet<String> {
        self.busy.lock().map(|b| b.clone()).unwrap_or_default()
    }

    /// Adds an audit line for an action carried out elsewhere (virtual media).
    pub fn audit_line(&self, who: &str, what: &str, result: &str) {
        tracing::info!(target: "audit", who, what, result, "action");
        let entry = AuditEntry {
            at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            who: who.to_string(),
            what: what.to_string(),
            result: result.to_string(),
        };
        if let Ok(mut a) = self.audit.lock() {
            if a.len() == AUDIT_KEEP {
                a.pop_front();
            }
            a.push_back(entry);
        }
    }

    fn record(&self, who: &str, what: &str, result: &Result<Done, ActionError>) {
        let outcome = match result {
            Ok(Done {
                command: Some(c), ..
            }) if c.timed_out => "timed out".to_string(),
            Ok(Done {
                command: Some(c), ..
            }) => format!(
                "exit {}",
                c.exit_code.map_or("signal".into(), |c| c.to_string())
            ),
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        };
        self.audit_line(who, what, &outcome);
    }
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::On => "on",
        Action::Off => "off",
        Action::Pulse => "pulse",
    }
}

/// A target marked busy; freed on drop (also when the action's future is dropped).
struct Claim {
    devices: Arc<Devices>,
    target: String,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut b) = self.devices.busy.lock() {
            b.remove(&self.target);
        }
    }
}
