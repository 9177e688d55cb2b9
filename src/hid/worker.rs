//! The HID worker: the single owner of a [`HidBackend`]. Viewers' input events reach it
//! through a bounded queue ([`HidHandle`]); it keeps keyboard and mouse state, turns events
//! into reports, and releases everything when a session opens or closes, when the worker
//! stops, and when a session that holds something goes quiet for [`DEAD_LINK`].

use super::report::{self, KeyboardState, MouseState};
use super::{HidBackend, HidReport, Leds};
use crate::input::InputEvent;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
// tokio's clock: the same as std's, but tests can pause and advance it.
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Commands waiting for the worker. When full, mouse moves are dropped (the next one
/// supersedes them) while key events wait for room: keys are never lost.
pub const HID_QUEUE: usize = 256;
/// A session holding a key or button that sends nothing for this long gets everything
/// released (contracts.md: clients ping every 250 ms while holding).
pub const DEAD_LINK: Duration = Duration::from_secs(1);
/// How often the worker checks for dead links and LED changes.
const TICK: Duration = Duration::from_millis(100);
/// Pause between reports when typing text, so BIOS-era hosts keep up (≈ 50 keys/s).
pub const TEXT_REPORT_INTERVAL: Duration = Duration::from_millis(10);

/// Identifies one viewer's input channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKey(pub u64);

#[derive(Debug)]
enum Command {
    Open(SessionKey),
    Close(SessionKey),
    Event(SessionKey, InputEvent),
}

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct HidStats {
    /// Reports delivered.
    pub reports: AtomicU64,
    /// Reports the backend failed to deliver.
    pub errors: AtomicU64,
    /// Mouse moves dropped because the queue was full.
    pub dropped_moves: AtomicU64,
    /// Release-alls performed (session change, dead link, request).
    pub release_alls: AtomicU64,
}

/// A cheap, cloneable way to send input to the worker.
#[derive(Debug, Clone)]
pub struct HidHandle {
    /// Sender: every viewer's data channel. Receiver: the worker task.
    tx: mpsc::Sender<Command>,
    leds: watch::Receiver<Leds>,
    backend: &'static str,
    next_session: Arc<AtomicU64>,
    /// Counters.
    pub stats: Arc<HidStats>,
}

/// Why an event was not queued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The text has characters the layout cannot type (nothing was typed).
    #[error("{0}")]
    Untypeable(String),
    /// The worker has stopped.
    #[error("hid: worker stopped")]
    Stopped,
}

impl HidHandle {
    /// Starts a worker that owns `backend` until `cancel` fires.
    pub fn spawn(backend: Box<dyn HidBackend>, cancel: CancellationToken) -> HidHandle {
        let (tx, rx) = mpsc::channel(HID_QUEUE);
        let (leds_tx, leds) = watch::channel(Leds::default());
        let stats = Arc::new(HidStats::default());
        let name = backend.name();
        let worker = Worker {
            backend,
            keyboard: KeyboardState::default(),
            mouse: MouseState::default(),
            last_seen: HashMap::new(),
            holders: Vec::new(),
            leds: leds_tx,
            stats: Arc::clone(&stats),
        };
        tokio::spawn(worker.run(rx, cancel));
        HidHandle {
            tx,
            leds,
            backend: name,
            next_session: Arc::new(AtomicU64::new(1)),
            stats,
        }
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.backend
    }

    /// LED state changes.
    pub fn leds(&self) -> watch::Receiver<Leds> {
        self.leds.clone()
    }

    /// Registers a new input session (releases anything held).
    pub async fn open_session(&self) -> SessionKey {
        let key = SessionKey(self.next_session.fetch_add(1, Ordering::Relaxed));
        let _ = self.tx.send(Command::Open(key)).await;
        key
    }

    /// Ends a session: everything is released.
    pub async fn close_session(&self, key: SessionKey) {
        let _ = self.tx.send(Command::Close(key)).await;
    }

    /// Queues one event. Mouse moves are dropped when the queue is full.
    pub async fn send(&self, key: SessionKey, event: InputEvent) -> Result<(), SendError> {
        if let InputEvent::Text(text) = &event {
            report::type_text_us(text).map_err(SendError::Untypeable)?;
        }
        let droppable = matches!(
            event,
            InputEvent::MouseAbs { buttons: None, .. } | InputEvent::MouseRel { buttons: None, .. }
        );
        if droppable {
            return match self.tx.try_send(Command::Event(key, event)) {
                Ok(()) => Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    self.stats.dropped_moves.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
                Err(mpsc::error::TrySendError::Closed(_)) => Err(SendError::Stopped),
            };
        }
        self.tx
            .send(Command::Event(key, event))
            .await
            .map_err(|_| SendError::Stopped)
    }
}

struct Worker {
    backend: Box<dyn HidBackend>,
    keyboard: KeyboardState,
    mouse: MouseState,
    /// Last message time per open session.
    last_seen: HashMap<SessionKey, Instant>,
    /// Sessions that pressed something since the last release-all.
    holders: Vec<SessionKey>,
    leds: watch::Sender<Leds>,
    stats: Arc<HidStats>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd, Instant::now()).await,
                    None => break,
                },
                _ = tick.tick() => self.tick(Instant::now()),
                _ = cancel.cancelled() => break,
            }
        }
        self.release_all("worker stopping");
    }

    async fn command(&mut self, cmd: Command, now: Instant) {
        match cmd {
            Command::Open(key) => {
                self.last_seen.insert(key, now);
                self.release_all("session opened");
            }
            Command::Close(key) => {
                self.last_seen.remove(&key);
                self.release_all("session closed");
            }
            Command::Event(key, event) => {
                self.last_seen.insert(key, now);
                self.event(key, event).await;
            }
        }
    }

    async fn event(&mut self, key: SessionKey, event: InputEvent) {
        let report = match event {
            InputEvent::Key { usage, down } => self.keyboard.key(usage, down),
            InputEvent::MouseAbs { x, y, buttons } => Some(self.mouse.abs(x, y, buttons)),
            InputEvent::MouseRel { dx, dy, buttons } => Some(self.mouse.rel(dx, dy, buttons)),
            InputEvent::Wheel { dy, .. } => Some(self.mouse.wheel(dy)),
            InputEvent::Text(text) => {
                self.type_text(&text).await;
                None
            }
            InputEvent::ReleaseAll => {
                self.release_all("requested");
                None
            }
            InputEvent::Ping => None,
        };
        if let Some(report) = report {
            self.deliver(&report);
        }
        if (self.keyboard.any_held() || self.mouse.any_held()) && !self.holders.contains(&key) {
            self.holders.push(key);
        }
    }

    async fn type_text(&mut self, text: &str) {
        // Validated by `HidHandle::send`; a failure here types nothing.
        let Ok(strokes) = report::type_text_us(text) else {
            return;
        };
        self.release_all("typing text");
        for stroke in strokes {
            let mut reports = Vec::with_capacity(4);
            if stroke.shift {
                reports.extend(self.keyboard.key(0xE1, true));
            }
            reports.extend(self.keyboard.key(stroke.usage, true));
            reports.extend(self.keyboard.key(stroke.usage, false));
            if stroke.shift {
                reports.extend(self.keyboard.key(0xE1, false));
            }
            for r in reports {
                self.deliver(&r);
                tokio::time::sleep(TEXT_REPORT_INTERVAL).await;
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        let held = self.keyboard.any_held() || self.mouse.any_held();
        if held {
            let dead = self.holders.iter().any(|k| match self.last_seen.get(k) {
                Some(seen) => now.saturating_duration_since(*seen) > DEAD_LINK,
                None => true,
            });
            if dead {
                self.release_all("no message for 1 s from a session holding input");
            }
        }
        if let Some(leds) = self.backend.poll_leds() {
            self.leds.send_replace(leds);
        }
    }

    fn release_all(&mut self, why: &str) {
        self.holders.clear();
        if !self.keyboard.any_held() && !self.mouse.any_held() {
            return;
        }
        tracing::info!(target: "hid", reason = why, "release all");
        self.stats.release_alls.fetch_add(1, Ordering::Relaxed);
        let k = self.keyboard.release_all();
        let m = self.mouse.release_all();
        self.deliver(&k);
        self.deliver(&m);
    }

    fn deliver(&mut self, report: &HidReport) {
        match self.backend.send(report) {
            Ok(()) => {
                self.stats.reports.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(target: "hid", error = %e, device = report.device(), "report not delivered");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hid::HidError;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct FakeHid(Arc<Mutex<Vec<HidReport>>>);
    impl HidBackend for FakeHid {
        fn name(&self) -> &'static str {
            "fake"
        }
        fn send(&mut self, report: &HidReport) -> Result<(), HidError> {
            self.0.lock().unwrap().push(report.clone());
            Ok(())
        }
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[tokio::test]
    async fn closing_a_session_releases_its_keys() {
        let fake = FakeHid::default();
        let h = HidHandle::spawn(Box::new(fake.clone()), CancellationToken::new());
        let s = h.open_session().await;
        h.send(
            s,
            InputEvent::Key {
                usage: 0x04,
                down: true,
            },
        )
        .await
        .unwrap();
        h.close_session(s).await;
        settle().await;
        let got = fake.0.lock().unwrap().clone();
        assert_eq!(got[0], HidReport::Keyboard([0, 0, 4, 0, 0, 0, 0, 0]));
        assert_eq!(got[1], HidReport::Keyboard([0; 8]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_holder_is_released_after_one_second() {
        let fake = FakeHid::default();
        let h = HidHandle::spawn(Box::new(fake.clone()), CancellationToken::new());
        let s = h.open_session().await;
        h.send(
            s,
            InputEvent::MouseAbs {
                x: 0.0,
                y: 0.0,
                buttons: Some(1),
            },
        )
        .await
        .unwrap();
        // Pings keep it held.
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            h.send(s, InputEvent::Ping).await.unwrap();
        }
        assert_eq!(fake.0.lock().unwrap().len(), 1, "held while pinging");
        tokio::time::sleep(Duration::from_millis(1300)).await;
        let got = fake.0.lock().unwrap().clone();
        assert_eq!(got.last(), Some(&HidReport::MouseAbs([0, 0, 0, 0, 0, 0])));
    }

    #[tokio::test(start_paused = true)]
    async fn text_is_typed_with_shift_and_untypeable_text_is_refused() {
        let fake = FakeHid::default();
        let h = HidHandle::spawn(Box::new(fake.clone()), CancellationToken::new());
        let s = h.open_session().await;
        assert!(matches!(
            h.send(s, InputEvent::Text("ü".into())).await,
            Err(SendError::Untypeable(_))
        ));
        h.send(s, InputEvent::Text("A".into())).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let got: Vec<_> = fake
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.bytes().to_vec())
            .collect();
        assert_eq!(
            got,
            vec![
                vec![2, 0, 0, 0, 0, 0, 0, 0],
                vec![2, 0, 4, 0, 0, 0, 0, 0],
                vec![2, 0, 0, 0, 0, 0, 0, 0],
                vec![0; 8],
            ]
        );
    }
}
