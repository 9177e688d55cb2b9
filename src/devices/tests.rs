//! `Devices`' rules with a recording driver: pulses, busy and rate refusals, confirmation,
//! wrong actions, the audit log. (The real drivers are driven against real kernel devices in
//! tests/hw.rs.)

use super::config::{DevicesConfig, DriverConfig};
use super::driver::{CmdResult, Driver, DriverError};
use super::*;
use std::sync::Mutex as StdMutex;

/// Records every set with its time.
#[derive(Default)]
struct Recorder {
    calls: StdMutex<Vec<(u32, bool, Instant)>>,
}

impl Driver for Recorder {
    fn kind(&self) -> &'static str {
        "gpio"
    }
    fn set(&self, channel: u32, on: bool) -> Result<Option<CmdResult>, DriverError> {
        self.calls
            .lock()
            .unwrap()
            .push((channel, on, Instant::now()));
        Ok(None)
    }
    fn get(&self, channel: u32) -> Result<Option<bool>, DriverError> {
        Ok(Some(channel == 5))
    }
}

fn devices() -> (Arc<Devices>, Arc<Recorder>) {
    let cfg: DevicesConfig = toml::from_str(
        r#"
        [drivers.board]
        type = "gpio"
        chip = "/dev/gpiochip0"
        [atx]
        power = { driver = "board", channel = 1 }
        reset = { driver = "board", channel = 2 }
        led = { driver = "board", channel = 5 }
        short_ms = 100
        long_ms = 300
        [[buttons]]
        name = "toggle_switch"
        label = "Switch KVM machine"
        driver = "board"
        channel = 3
        confirm = true
        pulse_ms = 50
        [[buttons]]
        name = "lamp"
        label = "Lamp"
        driver = "board"
        channel = 4
        action = "on"
        "#,
    )
    .unwrap();
    assert!(matches!(cfg.drivers["board"], DriverConfig::Gpio { .. }));
    let rec = Arc::new(Recorder::default());
    let mut drivers: HashMap<String, Arc<dyn Driver>> = HashMap::new();
    drivers.insert("board".into(), rec.clone());
    (Arc::new(Devices::with_drivers(cfg, drivers)), rec)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_power_press_pulses_for_the_configured_time_and_a_second_is_refused_meanwhile() {
    let (d, rec) = devices();
    let d2 = Arc::clone(&d);
    let long = tokio::spawn(async move { d2.atx("admin@test", AtxAction::PowerLong).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The front panel is busy: power and reset alike.
    assert!(matches!(
        d.atx("admin@test", AtxAction::Reset).await,
        Err(ActionError::Busy(_))
    ));
    assert_eq!(d.atx_state().await["busy"], true);
    long.await.unwrap().unwrap();
    let calls = rec.calls.lock().unwrap().clone();
    assert_eq!(
        calls.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
        [(1, true), (1, false)]
    );
    let held = calls[1].2 - calls[0].2;
    assert!(
        held >= Duration::from_millis(300) && held < Duration::from_millis(600),
        "{held:?}"
    );
    // The LED reads through the driver.
    assert_eq!(d.atx_state().await["power_led"], true);
    // Right after, the same target is rate-limited.
    assert!(matches!(
        d.atx("admin@test", AtxAction::Power).await,
        Err(ActionError::TooSoon(_))
    ));
    let audit = d.audit();
    let lines: Vec<(&str, &str)> = audit
        .iter()
        .map(|a| (a.what.as_str(), a.result.as_str()))
        .collect();
    assert_eq!(lines[0].0, "atx reset");
    assert!(lines[0].1.contains("busy"), "{lines:?}");
    assert_eq!(lines[1], ("atx power_long", "ok"));
    assert_eq!(lines[2].0, "atx power");
    assert!(audit.iter().all(|a| a.who == "admin@test" && a.at_ms > 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn buttons_check_the_name_the_action_and_the_confirmation() {
    let (d, rec) = devices();
    let who = "admin@test";
    assert!(matches!(
        d.button(who, "nope", None, true).await,
        Err(ActionError::NotFound(_))
    ));
    assert!(matches!(
        d.button(who, "toggle_switch", Some(Action::On), true).await,
        Err(ActionError::Bad(_))
    ));
    assert!(matches!(
        d.button(who, "toggle_switch", None, false).await,
        Err(ActionError::NeedsConfirm(_))
    ));
    assert!(matches!(
        d.button(who, "lamp", Some(Action::Pulse), false).await,
        Err(ActionError::Bad(_))
    ));
    assert!(rec.calls.lock().unwrap().is_empty(), "nothing was driven");
    d.button(who, "toggle_switch", None, true).await.unwrap();
    d.button(who, "lamp", Some(Action::On), false)
        .await
        .unwrap();
    let calls: Vec<(u32, bool)> = rec
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| (c.0, c.1))
        .collect();
    assert_eq!(calls, [(3, true), (3, false), (4, true)]);
    let state = d.buttons_state().await;
    assert_eq!(state["buttons"][0]["name"], "toggle_switch");
    assert_eq!(state["buttons"][0]["confirm"], true);
    assert_eq!(state["buttons"][1]["action"], "on");
    // Not configured: 404s.
    assert!(matches!(d.wol(who).await, Err(ActionError::NotFound(_))));
    assert_eq!(d.audit().len(), 7);
}
