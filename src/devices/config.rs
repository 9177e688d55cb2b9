//! The `[drivers.*]`, `[atx]`, `[[buttons]]` and `[wol]` sections of the config file, and their
//! validation (pure): every error names the key and what it accepts.

use super::relay::{Protocol, MAX_CHANNELS};
use super::wol::Mac;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

/// The longest pulse or command timeout accepted (a power long-press is ~5 s).
pub const MAX_MS: u64 = 60_000;

/// One output/input driver.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum DriverConfig {
    /// Lines of a GPIO character device: a channel is a line offset.
    Gpio {
        /// `/dev/gpiochipN`.
        chip: PathBuf,
        /// Lines whose active level is low (offsets).
        #[serde(default)]
        active_low: Vec<u32>,
    },
    /// A USB HID relay board, bound by its hidraw node (never by VID:PID alone).
    Hidrelay {
        /// `/dev/hidrawN` (or a stable udev symlink to it).
        path: PathBuf,
        /// `lcus` (5131:2007) or `vusb` (16c0:05df).
        protocol: Protocol,
    },
    /// A program run with arguments (no shell): channel ignored; `on`/`pulse` run `on`,
    /// `off` runs `off` (if set).
    Cmd {
        /// Program and arguments for `on` and `pulse`.
        on: Vec<String>,
        /// Program and arguments for `off`.
        #[serde(default)]
        off: Vec<String>,
        /// Kill it after this long (milliseconds; default 10 000).
        #[serde(default = "default_cmd_timeout")]
        timeout_ms: u64,
    },
}

fn default_cmd_timeout() -> u64 {
    10_000
}

/// Where an ATX signal or a button goes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// A name under `[drivers]`.
    pub driver: String,
    /// Relay channel (1-based) or GPIO line offset; ignored by `cmd`.
    #[serde(default)]
    pub channel: u32,
}

/// `[atx]`: the server's front panel.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AtxConfig {
    /// The power button (a short press: on, or a clean shutdown).
    pub power: Option<Pin>,
    /// The reset button.
    pub reset: Option<Pin>,
    /// The power LED (an input).
    pub led: Option<Pin>,
    /// A short press (milliseconds; default 500).
    #[serde(default = "default_short")]
    pub short_ms: u64,
    /// A long press that forces power off (milliseconds; default 5500).
    #[serde(default = "default_long")]
    pub long_ms: u64,
}

fn default_short() -> u64 {
    500
}

fn default_long() -> u64 {
    5500
}

/// What a button does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Switch on and stay on.
    On,
    /// Switch off.
    Off,
    /// On, then off after the pulse time.
    Pulse,
}

impl std::str::FromStr for Action {
    type Err = String;
    fn from_str(s: &str) -> Result<Action, String> {
        match s {
            "on" => Ok(Action::On),
            "off" => Ok(Action::Off),
            "pulse" => Ok(Action::Pulse),
            other => Err(format!("action {other:?}: on, off or pulse")),
        }
    }
}

/// `[[buttons]]`: one entry of the web UI's button table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ButtonConfig {
    /// Its id in `/api/gpio/{name}` (letters, digits, `-`, `_`).
    pub name: String,
    /// Shown in the UI.
    pub label: String,
    /// A name under `[drivers]`.
    pub driver: String,
    /// Relay channel or GPIO line; ignored by `cmd`.
    #[serde(default)]
    pub channel: u32,
    /// What pressing it does (default `pulse`); `on`/`off` buttons are switches, both allowed.
    #[serde(default = "default_action")]
    pub action: Action,
    /// Pulse length (milliseconds; default 500).
    #[serde(default = "default_short")]
    pub pulse_ms: u64,
    /// Ask before pressing (the UI shows a dialog; the API wants `"confirm": true`).
    #[serde(default)]
    pub confirm: bool,
}

fn default_action() -> Action {
    Action::Pulse
}

/// `[wol]`: Wake-on-LAN.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WolConfig {
    /// The server's MAC address.
    pub mac: String,
    /// Where the packet goes (default 255.255.255.255).
    #[serde(default = "default_broadcast")]
    pub broadcast: Ipv4Addr,
    /// UDP port (default 9).
    #[serde(default = "default_wol_port")]
    pub port: u16,
}

fn default_broadcast() -> Ipv4Addr {
    Ipv4Addr::BROADCAST
}

fn default_wol_port() -> u16 {
    9
}

/// Everything the device sections say, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct DevicesConfig {
    /// `[drivers.NAME]`.
    #[serde(default)]
    pub drivers: BTreeMap<String, DriverConfig>,
    /// `[atx]`.
    pub atx: Option<AtxConfig>,
    /// `[[buttons]]`.
    #[serde(default)]
    pub buttons: Vec<ButtonConfig>,
    /// `[wol]`.
    pub wol: Option<WolConfig>,
}

/// A device section that cannot be used: the key and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config {key}: {why}")]
pub struct DevicesError {
    /// The dotted key (`atx.power.driver`, `buttons[2].action`).
    pub key: String,
    /// What is wrong and what is allowed.
    pub why: String,
}

fn err(key: impl Into<String>, why: impl Into<String>) -> DevicesError {
    DevicesError {
        key: key.into(),
        why: why.into(),
    }
}

impl DevicesConfig {
    /// `self` (the config file's) over `profile`'s (the board's wiring): drivers merge by name
    /// (the config file's win), `[atx]` and `[[buttons]]` are the config file's when it has
    /// them, else the profile's.
    pub fn over(self, profile: &DevicesConfig) -> DevicesConfig {
        let mut drivers = profile.drivers.clone();
        drivers.extend(self.drivers);
        DevicesConfig {
            drivers,
            atx: self.atx.or_else(|| profile.atx.clone()),
            buttons: if self.buttons.is_empty() {
                profile.buttons.clone()
            } else {
                self.buttons
            },
            wol: self.wol.or_else(|| profile.wol.clone()),
        }
    }

    /// Checks names, channels, times and references between sections.
    pub fn validate(&self) -> Result<(), DevicesError> {
        for (name, d) in &self.drivers {
            let key = format!("drivers.{name}");
            if !is_name(name) {
                return Err(err(key, "names use letters, digits, '-' and '_'"));
            }
            match d {
                DriverConfig::Gpio { chip, .. } | DriverConfig::Hidrelay { path: chip, .. } => {
                    if !chip.is_absolute() {
                        return Err(err(
                            key,
                            format!("{} must be an absolute path", chip.display()),
                        ));
                    }
                }
                DriverConfig::Cmd { on, timeout_ms, .. } => {
                    match on.first() {
                        Some(p) if p.starts_with('/') => {}
                        _ => {
                            return Err(err(
                                format!("{key}.on"),
                                "[\"/absolute/program\", \"arg\", …] (no shell)",
                            ))
                        }
                    }
                    if !(1..=MAX_MS).contains(timeout_ms) {
                        return Err(err(format!("{key}.timeout_ms"), format!("1..={MAX_MS}")));
                    }
                }
            }
        }
        if let Some(atx) = &self.atx {
            for (what, pin) in [
                ("power", &atx.power),
                ("reset", &atx.reset),
                ("led", &atx.led),
            ] {
                if let Some(pin) = pin {
                    self.check_pin(
                        &format!("atx.{what}"),
                        &pin.driver,
                        pin.channel,
                        what == "led",
                    )?;
                }
            }
            for (key, ms) in [("atx.short_ms", atx.short_ms), ("atx.long_ms", atx.long_ms)] {
                if !(1..=MAX_MS).contains(&ms) {
                    return Err(err(key, format!("1..={MAX_MS} milliseconds")));
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, b) in self.buttons.iter().enumerate() {
            let key = format!("buttons[{i}]");
            if !is_name(&b.name) {
                return Err(err(format!("{key}.name"), "letters, digits, '-' and '_'"));
            }
            if !seen.insert(b.name.as_str()) {
                return Err(err(
                    format!("{key}.name"),
                    format!("{:?} is used twice", b.name),
                ));
            }
            if b.label.trim().is_empty() {
                return Err(err(format!("{key}.label"), "a text for the UI"));
            }
            self.check_pin(&key, &b.driver, b.channel, false)?;
            if !(1..=MAX_MS).contains(&b.pulse_ms) {
                return Err(err(format!("{key}.pulse_ms"), format!("1..={MAX_MS}")));
            }
        }
        if let Some(w) = &self.wol {
            w.mac.parse::<Mac>().map_err(|e| err("wol.mac", e))?;
        }
        Ok(())
    }

    fn check_pin(
        &self,
        key: &str,
        driver: &str,
        channel: u32,
        input: bool,
    ) -> Result<(), DevicesError> {
        let Some(d) = self.drivers.get(driver) else {
            let names: Vec<&str> = self.drivers.keys().map(String::as_str).collect();
            return Err(err(
                format!("{key}.driver"),
                format!(
                    "{driver:?} is not under [drivers] (there: {})",
                    names.join(", ")
                ),
            ));
        };
        match d {
            DriverConfig::Hidrelay { .. } => {
                if input {
                    return Err(err(
                        format!("{key}.driver"),
                        "a relay board has no inputs: use gpio",
                    ));
                }
                if !(1..=u32::from(MAX_CHANNELS)).contains(&channel) {
                    return Err(err(
                        format!("{key}.channel"),
                        format!("1..={MAX_CHANNELS} on a relay board"),
                    ));
                }
            }
            DriverConfig::Cmd { .. } if input => {
                return Err(err(
                    format!("{key}.driver"),
                    "a command is not an input: use gpio",
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

/// A pulse's or press's length.
pub fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> DevicesConfig {
        toml::from_str(s).unwrap()
    }

    const GOOD: &str = r#"
        [drivers.relay]
        type = "hidrelay"
        path = "/dev/hidraw0"
        protocol = "lcus"
        [drivers.board]
        type = "gpio"
        chip = "/dev/gpiochip0"
        [drivers.switch]
        type = "cmd"
        on = ["/usr/local/bin/kvm-switch", "next"]
        [atx]
        power = { driver = "relay", channel = 1 }
        reset = { driver = "relay", channel = 2 }
        led = { driver = "board", channel = 5 }
        [[buttons]]
        name = "toggle_switch"
        label = "Switch KVM machine"
        driver = "switch"
        confirm = true
        [wol]
        mac = "00:11:22:33:44:55"
    "#;

    #[test]
    fn a_full_config_parses_with_defaults_and_validates() {
        let c = parse(GOOD);
        c.validate().unwrap();
        let atx = c.atx.as_ref().unwrap();
        assert_eq!((atx.short_ms, atx.long_ms), (500, 5500));
        assert_eq!(c.buttons[0].action, Action::Pulse);
        assert!(c.buttons[0].confirm);
        assert_eq!(c.wol.as_ref().unwrap().port, 9);
        assert_eq!(
            c.drivers["switch"],
            DriverConfig::Cmd {
                on: vec!["/usr/local/bin/kvm-switch".into(), "next".into()],
                off: vec![],
                timeout_ms: 10_000
            }
        );
    }

    #[test]
    fn the_config_file_wins_over_the_boards_wiring() {
        let board = parse(
            r#"
            [drivers.board]
            type = "gpio"
            chip = "/dev/gpiochip0"
            [atx]
            power = { driver = "board", channel = 17 }
            "#,
        );
        // Nothing in the config file: the board's wiring.
        let merged = DevicesConfig::default().over(&board);
        assert_eq!(merged, board);
        // The config file's [atx] replaces the board's; drivers merge by name.
        let mine = parse(GOOD);
        let merged = mine.clone().over(&board);
        assert_eq!(merged.atx, mine.atx);
        assert_eq!(merged.drivers.len(), 3);
        assert_eq!(merged.buttons, mine.buttons);
        merged.validate().unwrap();
    }

    #[test]
    fn errors_name_the_key() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "led = { driver = \"board\", channel = 5 }",
                "led = { driver = \"nope\", channel = 5 }",
                "atx.led.driver",
            ),
            (
                "power = { driver = \"relay\", channel = 1 }",
                "power = { driver = \"relay\", channel = 9 }",
                "atx.power.channel",
            ),
            (
                "led = { driver = \"board\", channel = 5 }",
                "led = { driver = \"relay\", channel = 1 }",
                "atx.led.driver",
            ),
            (
                "mac = \"00:11:22:33:44:55\"",
                "mac = \"00:11:22\"",
                "wol.mac",
            ),
            (
                "on = [\"/usr/local/bin/kvm-switch\", \"next\"]",
                "on = [\"sh\", \"-c\", \"x\"]",
                "drivers.switch.on",
            ),
            (
                "path = \"/dev/hidraw0\"",
                "path = \"hidraw0\"",
                "drivers.relay",
            ),
            (
                "name = \"toggle_switch\"",
                "name = \"../x\"",
                "buttons[0].name",
            ),
            (
                "label = \"Switch KVM machine\"",
                "label = \" \"",
                "buttons[0].label",
            ),
        ];
        for (from, to, key) in cases {
            assert!(GOOD.contains(from), "{from}");
            let e = parse(&GOOD.replace(from, to)).validate().unwrap_err();
            assert_eq!(&e.key, key, "{to}: {e}");
        }
        // Unknown keys and wrong values are refused by the parser, naming them.
        for bad in [
            GOOD.replace("confirm = true", "confirm = true\ncolour = 1"),
            GOOD.replace("protocol = \"lcus\"", "protocol = \"serial\""),
            GOOD.replace("type = \"gpio\"", "type = \"i2c\""),
        ] {
            let e = toml::from_str::<DevicesConfig>(&bad)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("colour") || e.contains("serial") || e.contains("i2c"),
                "{e}"
            );
        }
        let mut twice = parse(GOOD);
        twice.buttons.push(twice.buttons[0].clone());
        assert_eq!(twice.validate().unwrap_err().key, "buttons[1].name");
    }
}
