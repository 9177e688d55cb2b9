//! The HID worker: the single owner of a [`HidBackend`]. Viewers' input events reach it
//! through a bounded queue ([`HidHandle`]); it keeps keyboard and mouse state, turns events
//! into reports, and releases everything when a session opens or closes, when the worker
//! stops, when the backend reconnects (host re-enumerated, chip reset), and when a session
//! that holds something goes quiet for [`DEAD_LINK`].
//!
//! Text is typed from a queue, one report per [`TEXT_REPORT_INTERVAL`], between other
//! commands: a release-all or the typing session's end cancels the rest of it.

use super::report::{KeyboardState, MouseState};
use super::{HidBackend, HidReport, Leds};
use crate::input::layout::{Layout, Stroke};
use crate::input::InputEvent;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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
/// Pause between reports when typing text, so BIOS-era hosts keep up: a plain character is
/// two reports (≈ 50 characters/s), a shifted one four.
pub const TEXT_REPORT_INTERVAL: Duration = Duration::from_millis(10);
/// Most key steps waiting to be typed; text beyond it is refused, not cut.
pub const MAX_TYPING_STEPS: usize = 64 * 1024;

/// Identifies one viewer's input channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionKey(pub u64);

#[derive(Debug)]
enum Command {
    Open(SessionKey),
    Close(SessionKey),
    Event(SessionKey, InputEvent),
    /// Text, checked and turned into strokes; the count of characters for the stats.
    Type(SessionKey, Vec<Stroke>, usize),
}

/// One step of typed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypeStep {
    Down(u8),
    Up(u8),
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
    /// Release-alls performed (session change, dead link, request, reconnect).
    pub release_alls: AtomicU64,
    /// Times the backend's link came back (host re-enumerated, chip reset).
    pub reconnects: AtomicU64,
    /// Characters typed from text messages.
    pub typed_chars: AtomicU64,
    /// Input messages dropped by the per-session rate limit.
    pub rate_limited: AtomicU64,
    /// Whether the target has the device enumerated: [`TARGET_UNKNOWN`], …
    pub target: std::sync::atomic::AtomicU8,
    /// Nudges the mouse jiggler gave.
    pub jiggles: AtomicU64,
}

/// [`HidStats::target`]: the backend cannot tell.
pub const TARGET_UNKNOWN: u8 = 0;
/// [`HidStats::target`]: enumerated by the target.
pub const TARGET_CONNECTED: u8 = 1;
/// [`HidStats::target`]: not enumerated (target off, asleep, unplugged).
pub const TARGET_DISCONNECTED: u8 = 2;

impl HidStats {
    /// The target link as /api/state reports it: `connected`, `disconnected` or `unknown`.
    pub fn target_name(&self) -> &'static str {
        match self.target.load(Ordering::Relaxed) {
            TARGET_CONNECTED => "connected",
            TARGET_DISCONNECTED => "disconnected",
            _ => "unknown",
        }
    }
}

/// A cheap, cloneable way to send input to the worker.
#[derive(Debug, Clone)]
pub struct HidHandle {
    /// Sender: every viewer's data channel. Receiver: the worker task.
    tx: mpsc::Sender<Command>,
    leds: watch::Receiver<Option<Leds>>,
    backend: &'static str,
    layout: Layout,
    next_session: Arc<AtomicU64>,
    /// Becomes true when the worker has ended (after releasing every key and button).
    stopped: watch::Receiver<bool>,
    /// The mouse jiggler's interval in seconds; 0: off.
    jiggler: Arc<AtomicU32>,
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
    /// Starts a worker that owns `backend` until `cancel` fires; text messages that name no
    /// layout are typed with `layout`.
    pub fn spawn(
        backend: Box<dyn HidBackend>,
        layout: Layout,
        cancel: CancellationToken,
    ) -> HidHandle {
        let (tx, rx) = mpsc::channel(HID_QUEUE);
        let (leds_tx, leds) = watch::channel(None);
        let stats = Arc::new(HidStats::default());
        let name = backend.name();
        let jiggler = Arc::new(AtomicU32::new(0));
        let worker = Worker {
            jiggler: Arc::clone(&jiggler),
            last_input: Instant::now(),
            last_jiggle: None,
            backend,
            keyboard: KeyboardState::default(),
            mouse: MouseState::default(),
            last_seen: HashMap::new(),
            holders: Vec::new(),
            leds: leds_tx,
            stats: Arc::clone(&stats),
            typing: VecDeque::new(),
        };
        let (stopped_tx, stopped) = watch::channel(false);
        tokio::spawn(async move {
            worker.run(rx, cancel).await;
            stopped_tx.send_replace(true);
        });
        HidHandle {
            tx,
            leds,
            backend: name,
            layout,
            next_session: Arc::new(AtomicU64::new(1)),
            stopped,
            jiggler,
            stats,
        }
    }

    /// Turns the mouse jiggler on (`every`: nudge the pointer after this long without input,
    /// then again at that interval) or off (`None`). A nudge is one step away and back, so
    /// the target's screen saver and sleep timer see activity while nobody types.
    pub fn set_jiggler(&self, every: Option<Duration>) {
        let secs = every.map_or(0, |d| d.as_secs().clamp(1, u64::from(u32::MAX)) as u32);
        self.jiggler.store(secs, Ordering::Relaxed);
    }

    /// The jiggler's interval, `None` when off.
    pub fn jiggler(&self) -> Option<Duration> {
        match self.jiggler.load(Ordering::Relaxed) {
            0 => None,
            s => Some(Duration::from_secs(u64::from(s))),
        }
    }

    /// Resolves once the worker has ended: after its cancel token fired (or every handle
    /// was dropped) and it released whatever was held on the target.
    pub async fn stopped(&self) {
        // An Err means the worker's task is gone without saying so (a panic): nothing left
        // to wait for either.
        let _ = self.stopped.clone().wait_for(|s| *s).await;
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.backend
    }

    /// The layout text is typed with when a message names none.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// LED state: `None` until the backend has reported one.
    pub fn leds(&self) -> watch::Receiver<Option<Leds>> {
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

    /// Queues one event. Mouse moves are dropped when the queue is full. Text is checked
    /// against its layout here: untypeable text is refused whole.
    pub async fn send(&self, key: SessionKey, event: InputEvent) -> Result<(), SendError> {
        let event = match event {
            InputEvent::Text { text, layout } => {
                let layout = layout.unwrap_or(self.layout);
                let strokes = layout
                    .strokes(&text)
                    .map_err(|e| SendError::Untypeable(e.to_string()))?;
                Command::Type(key, strokes, text.chars().count())
            }
            other => Command::Event(key, other),
        };
        let event = match event {
            Command::Event(_, e) => e,
            typed => {
                return self.tx.send(typed).await.map_err(|_| SendError::Stopped);
            }
        };
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
    leds: watch::Sender<Option<Leds>>,
    stats: Arc<HidStats>,
    /// Text waiting to be typed, one step per report.
    typing: VecDeque<TypeStep>,
    /// The mouse jiggler's interval in seconds (0: off), set through the handle.
    jiggler: Arc<AtomicU32>,
    /// The last input from a viewer, and the jiggler's last nudge.
    last_input: Instant,
    last_jiggle: Option<Instant>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_step = Instant::now();
        loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd, Instant::now()),
                    None => break,
                },
                _ = tokio::time::sleep_until(next_step), if !self.typing.is_empty() => {
                    self.type_step();
                    next_step = Instant::now() + TEXT_REPORT_INTERVAL;
                }
                _ = tick.tick() => self.tick(Instant::now()),
            }
        }
        self.release_all("worker stopping");
    }

    fn command(&mut self, cmd: Command, now: Instant) {
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
                if !matches!(event, InputEvent::Ping) {
                    self.last_input = now;
                }
                self.event(key, event);
            }
            Command::Type(key, strokes, chars) => {
                self.last_seen.insert(key, now);
                self.last_input = now;
                self.queue_text(key, &strokes, chars);
            }
        }
    }

    fn event(&mut self, key: SessionKey, event: InputEvent) {
        let report = match event {
            InputEvent::Key { usage, down } => self.keyboard.key(usage, down),
            InputEvent::MouseAbs { x, y, buttons } => Some(self.mouse.abs(x, y, buttons)),
            InputEvent::MouseRel { dx, dy, buttons } => Some(self.mouse.rel(dx, dy, buttons)),
            InputEvent::Wheel { dx, dy } => Some(self.mouse.wheel(dx, dy)),
            // `HidHandle::send` turns text into `Command::Type`.
            InputEvent::Text { .. } => None,
            InputEvent::ReleaseAll => {
                self.release_all("requested");
                None
            }
            InputEvent::Ping => None,
        };
        if let Some(report) = report {
            self.deliver(&report);
        }
        if !self.user_held() {
            self.holders.clear();
        } else if !self.holders.contains(&key) {
            self.holders.push(key);
        }
    }

    /// Whether a viewer holds a key or button. Keys down while text is typed belong to the
    /// typing, which ends by itself: they do not count (a click during a long paste followed
    /// by a quiet second must not cancel the paste).
    fn user_held(&self) -> bool {
        self.mouse.any_held() || (self.typing.is_empty() && self.keyboard.any_held())
    }

    /// Queues strokes: each presses its modifiers, then the key, and lets go in reverse.
    fn queue_text(&mut self, key: SessionKey, strokes: &[Stroke], chars: usize) {
        if self.typing.is_empty() {
            self.release_all("typing text");
        }
        let mut steps = Vec::with_capacity(strokes.len() * 4);
        for stroke in strokes {
            let mods: Vec<u8> = (0..8u8)
                .filter(|bit| stroke.modifiers & (1 << bit) != 0)
                .map(|bit| 0xE0 + bit)
                .collect();
            steps.extend(mods.iter().map(|m| TypeStep::Down(*m)));
            steps.push(TypeStep::Down(stroke.usage));
            steps.push(TypeStep::Up(stroke.usage));
            steps.extend(mods.iter().rev().map(|m| TypeStep::Up(*m)));
        }
        if self.typing.len() + steps.len() > MAX_TYPING_STEPS {
            tracing::warn!(target: "hid", chars, "text dropped: too much text waiting to be typed");
            return;
        }
        tracing::debug!(target: "hid", session = key.0, chars, "typing text");
        self.typing.extend(steps);
        self.stats
            .typed_chars
            .fetch_add(chars as u64, Ordering::Relaxed);
    }

    /// Types the next step of queued text.
    fn type_step(&mut self) {
        let Some(step) = self.typing.pop_front() else {
            return;
        };
        let report = match step {
            TypeStep::Down(u) => self.keyboard.key(u, true),
            TypeStep::Up(u) => self.keyboard.key(u, false),
        };
        if let Some(report) = report {
            self.deliver(&report);
        }
    }

    fn tick(&mut self, now: Instant) {
        if self.user_held() {
            let dead = self.holders.iter().any(|k| match self.last_seen.get(k) {
                Some(seen) => now.saturating_duration_since(*seen) > DEAD_LINK,
                None => true,
            });
            if dead {
                self.release_all("no message for 1 s from a session holding input");
            }
        }
        self.jiggle(now);
        let polled = self.backend.poll();
        if polled.reconnected {
            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            tracing::info!(target: "hid", backend = self.backend.name(), "link to the target is back");
            self.force_release_all("backend reconnected");
        }
        if let Some(leds) = polled.leds {
            self.leds.send_replace(Some(leds));
        }
        let target = match polled.target_connected {
            None => TARGET_UNKNOWN,
            Some(true) => TARGET_CONNECTED,
            Some(false) => TARGET_DISCONNECTED,
        };
        if self.stats.target.swap(target, Ordering::Relaxed) != target {
            tracing::info!(target: "hid", connected = ?polled.target_connected, "target link");
        }
    }

    /// The mouse jiggler: a nudge after its interval without input (and after its interval
    /// since the last nudge), never while anything is held or text is being typed.
    fn jiggle(&mut self, now: Instant) {
        let secs = self.jiggler.load(Ordering::Relaxed);
        if secs == 0 || self.user_held() || !self.typing.is_empty() {
            return;
        }
        let every = Duration::from_secs(u64::from(secs));
        let since = self
            .last_jiggle
            .map_or(self.last_input, |j| j.max(self.last_input));
        if now.saturating_duration_since(since) < every {
            return;
        }
        for report in self.mouse.jiggle() {
            self.deliver(&report);
        }
        self.last_jiggle = Some(now);
        self.stats.jiggles.fetch_add(1, Ordering::Relaxed);
    }

    /// Releases everything the worker holds, and cancels text still being typed.
    fn release_all(&mut self, why: &str) {
        let typing = !self.typing.is_empty();
        if typing || self.keyboard.any_held() || self.mouse.any_held() {
            self.force_release_all(why);
        } else {
            self.holders.clear();
        }
    }

    /// Sends empty reports whatever the worker believes is held (after a reconnect the host's
    /// view is unknown).
    fn force_release_all(&mut self, why: &str) {
        self.holders.clear();
        if !self.typing.is_empty() {
            tracing::info!(target: "hid", steps = self.typing.len(), "typing cancelled");
            self.typing.clear();
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
    use crate::hid::{HidError, Polled};
    use std::sync::Mutex;

    /// Records reports; `reconnect` makes the next poll say the link came back.
    #[derive(Clone, Default)]
    struct FakeHid {
        reports: Arc<Mutex<Vec<HidReport>>>,
        reconnect: Arc<std::sync::atomic::AtomicBool>,
    }
    impl FakeHid {
        fn got(&self) -> Vec<HidReport> {
            self.reports.lock().unwrap().clone()
        }
        fn bytes(&self) -> Vec<Vec<u8>> {
            self.got().iter().map(|r| r.bytes().to_vec()).collect()
        }
    }
    impl HidBackend for FakeHid {
        fn name(&self) -> &'static str {
            "fake"
        }
        fn send(&mut self, report: &HidReport) -> Result<(), HidError> {
            self.reports.lock().unwrap().push(report.clone());
            Ok(())
        }
        fn poll(&mut self) -> Polled {
            Polled {
                reconnected: self.reconnect.swap(false, Ordering::SeqCst),
                ..Polled::default()
            }
        }
    }

    fn spawn(fake: &FakeHid) -> HidHandle {
        HidHandle::spawn(Box::new(fake.clone()), Layout::Us, CancellationToken::new())
    }

    fn key(usage: u8, down: bool) -> InputEvent {
        InputEvent::Key { usage, down }
    }

    fn text(t: &str) -> InputEvent {
        InputEvent::Text {
            text: t.into(),
            layout: None,
        }
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[tokio::test]
    async fn closing_a_session_releases_its_keys() {
        let fake = FakeHid::default();
        let h = spawn(&fake);
        let s = h.open_session().await;
        h.send(s, key(0x04, true)).await.unwrap();
        h.close_session(s).await;
        settle().await;
        let got = fake.got();
        assert_eq!(got[0], HidReport::Keyboard([0, 0, 4, 0, 0, 0, 0, 0]));
        assert_eq!(got[1], HidReport::Keyboard([0; 8]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_holder_is_released_after_one_second() {
        let fake = FakeHid::default();
        let h = spawn(&fake);
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
        assert_eq!(fake.got().len(), 1, "held while pinging");
        tokio::time::sleep(Duration::from_millis(1300)).await;
        assert_eq!(fake.got().last(), Some(&HidReport::MouseAbs([0; 7])));
    }

    #[tokio::test(start_paused = true)]
    async fn the_jiggler_nudges_after_quiet_never_while_held_and_stops_when_off() {
        let fake = FakeHid::default();
        let h = spawn(&fake);
        let s = h.open_session().await;
        let at = |x: f64| InputEvent::MouseAbs {
            x,
            y: 0.5,
            buttons: None,
        };
        h.send(s, at(0.25)).await.unwrap();
        settle().await;
        assert_eq!(h.jiggler(), None, "off by default");
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(fake.got().len(), 1, "off: nothing but the move");

        h.set_jiggler(Some(Duration::from_secs(30)));
        assert_eq!(h.jiggler(), Some(Duration::from_secs(30)));
        // Quiet for 2 minutes already: the next tick nudges, then every 30 s.
        tokio::time::sleep(Duration::from_millis(150)).await;
        let home = fake.bytes()[0].clone();
        let mut away = home.clone();
        away[1] += 1; // x 0.25 → 8192: one unit right, same y
        assert_eq!(
            fake.bytes()[1..],
            [away.clone(), home.clone()],
            "one step away and back"
        );
        tokio::time::sleep(Duration::from_secs(29)).await;
        assert_eq!(fake.got().len(), 3, "not before its interval");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(fake.got().len(), 5, "again after its interval");

        // Input restarts the wait; pings do not count as input.
        tokio::time::sleep(Duration::from_secs(20)).await;
        h.send(s, at(0.5)).await.unwrap();
        tokio::time::sleep(Duration::from_secs(20)).await;
        h.send(s, InputEvent::Ping).await.unwrap();
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert_eq!(fake.got().len(), 6, "29 s after the move: only the move");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(fake.got().len(), 8, "30 s after the move");
        assert_eq!(h.stats.jiggles.load(Ordering::Relaxed), 3);

        // A held button (pinged, so not a dead link) is never jiggled.
        h.send(
            s,
            InputEvent::MouseAbs {
                x: 0.5,
                y: 0.5,
                buttons: Some(1),
            },
        )
        .await
        .unwrap();
        for _ in 0..160 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            h.send(s, InputEvent::Ping).await.unwrap();
        }
        assert_eq!(fake.got().len(), 9, "held 40 s: no nudge");
        h.send(s, InputEvent::ReleaseAll).await.unwrap();
        settle().await;

        // Relative mode nudges the relative mouse.
        h.send(
            s,
            InputEvent::MouseRel {
                dx: 3,
                dy: 0,
                buttons: None,
            },
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(30_200)).await;
        let got = fake.got();
        assert_eq!(
            got[got.len() - 2..],
            [
                HidReport::MouseRel([0, 1, 0, 0, 0]),
                HidReport::MouseRel([0, 0xff, 0, 0, 0])
            ]
        );
        let n = got.len();
        h.set_jiggler(None);
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_eq!(fake.got().len(), n, "off again");
    }

    #[tokio::test(start_paused = true)]
    async fn text_is_typed_with_shift_and_untypeable_text_is_refused() {
        let fake = FakeHid::default();
        let h = spawn(&fake);
        let s = h.open_session().await;
        let e = h.send(s, text("ü")).await.unwrap_err();
        assert_eq!(
            e,
            SendError::Untypeable("the us layout cannot type \"ü\"".into())
        );
        h.send(s, text("Ab")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            fake.bytes(),
            vec![
                vec![2, 0, 0, 0, 0, 0, 0, 0],
                vec![2, 0, 4, 0, 0, 0, 0, 0],
                vec![2, 0, 0, 0, 0, 0, 0, 0],
                vec![0; 8],
                vec![0, 0, 5, 0, 0, 0, 0, 0],
                vec![0; 8],
            ]
        );
        assert_eq!(h.stats.typed_chars.load(Ordering::Relaxed), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn typing_is_paced_and_a_release_all_cancels_the_rest() {
        let fake = FakeHid::default();
        let h = spawn(&fake);
        let s = h.open_session().await;
        h.send(s, text("aaaaaaaaaa")).await.unwrap();
        // Ten characters are twenty reports: after 55 ms about six have gone out.
        tokio::time::sleep(Duration::from_millis(55)).await;
        let sent = fake.got().len();
        assert!((4..=8).contains(&sent), "{sent} reports in 55 ms");
        h.send(s, InputEvent::ReleaseAll).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got = fake.got();
        assert!(
            got.len() <= sent + 3,
            "typing stopped: {} reports",
            got.len()
        );
        assert_eq!(got.last(), Some(&HidReport::MouseAbs([0; 7])));
        assert!(got.contains(&HidReport::Keyboard([0; 8])));
    }

    #[tokio::test(start_paused = true)]
    async fn a_click_during_a_long_paste_then_quiet_does_not_cancel_it() {
        let fake = FakeHid::default();
        let h = spawn(&fake);
        let s = h.open_session().await;
        h.send(
            s,
            text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJabcdefghijklmnopqrstuvwxyzABCDEFGHIJ"),
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        for buttons in [1, 0] {
            h.send(
                s,
                InputEvent::MouseAbs {
                    x: 0.5,
                    y: 0.5,
                    buttons: Some(buttons),
                },
            )
            .await
            .unwrap();
        }
        // 72 characters, 20 of them shifted: 184 reports, ~1.8 s; then quiet for a while.
        tokio::time::sleep(Duration::from_millis(3000)).await;
        let typed = fake
            .got()
            .iter()
            .filter(|r| matches!(r, HidReport::Keyboard(b) if b[2] != 0))
            .count();
        assert_eq!(typed, 72, "every character was typed");
        assert_eq!(
            h.stats.release_alls.load(Ordering::Relaxed),
            0,
            "nothing cancelled it"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_reconnected_backend_gets_a_release_all() {
        let fake = FakeHid::default();
        let h = spawn(&fake);
        let s = h.open_session().await;
        h.send(s, key(0xE0, true)).await.unwrap();
        h.send(s, InputEvent::Ping).await.unwrap();
        settle().await;
        fake.reconnect.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            fake.got(),
            vec![
                HidReport::Keyboard([1, 0, 0, 0, 0, 0, 0, 0]),
                HidReport::Keyboard([0; 8]),
                HidReport::MouseAbs([0; 7]),
            ]
        );
        assert_eq!(h.stats.reconnects.load(Ordering::Relaxed), 1);
        // Nothing held: a reconnect still clears the host's state.
        fake.reconnect.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(fake.got().len(), 5);
    }

    #[tokio::test]
    async fn wheel_goes_to_the_pointer_used_last() {
        let fake = FakeHid::default();
        let h = spawn(&fake);
        let s = h.open_session().await;
        h.send(s, InputEvent::Wheel { dx: 0, dy: 1 }).await.unwrap();
        h.send(
            s,
            InputEvent::MouseRel {
                dx: 1,
                dy: 0,
                buttons: None,
            },
        )
        .await
        .unwrap();
        h.send(s, InputEvent::Wheel { dx: -1, dy: 0 })
            .await
            .unwrap();
        settle().await;
        assert_eq!(
            fake.got(),
            vec![
                HidReport::MouseAbs([0, 0, 0, 0, 0, 1, 0]),
                HidReport::MouseRel([0, 1, 0, 0, 0]),
                HidReport::MouseRel([0, 0, 0, 0, 0xFF]),
            ]
        );
    }
}
