//! The capture watchdog's decisions: when a capture is stalled (no frame for
//! [`Timings::stall_after`], [`Timings::max_errors`] failed grabs in a row, or the device node
//! gone), when to reopen it (with a bounded backoff), when to escalate to a USB reset and how
//! long to wait for the device to come back.
//!
//! Pure (style B1): the capture thread (`media::pipeline`) reports what happened with the time
//! it happened and asks [`Watchdog::next`] what to do; no clock, device or sysfs is touched
//! here. The USB reset itself is `media::capture::usb_reset`.
//!
//! ```text
//! Streaming ──stall──▶ Stalled ──closed──▶ Reopening ◀──────────────┐
//!  ▲   │ source changed  ▲                  │  │ open failed        │
//!  │   └─────────────────┘                  │  │ × reopens_before_reset (USB device known)
//!  └─────────────── frame ◀── opened ───────┤  ▼                    │
//!                                           │ Resetting ──done──▶ Waiting (reset_settle)
//!                     no signal at open ──▶ NoSignal (open again every signal_retry)
//! ```
//!
//! A device that answers "no signal", "no sync" or "out of range" works: it is opened again
//! every [`Timings::signal_retry`] without backoff or USB reset until a signal comes.

use std::time::{Duration, Instant};

/// How the watchdog paces itself. [`Timings::default`] is what the appliance uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timings {
    /// No frame for this long while streaming (and no "no signal" answer) is a stall.
    pub stall_after: Duration,
    /// Failed grabs in a row (not timeouts, not "no signal") that count as a stall.
    pub max_errors: u32,
    /// Wait before the second reopen attempt; doubled per failed attempt up to `backoff_max`.
    pub backoff_min: Duration,
    /// Longest wait between reopen attempts.
    pub backoff_max: Duration,
    /// Failed reopens in a row after which a USB device is reset.
    pub reopens_before_reset: u32,
    /// USB resets per outage; after that only reopens (at `backoff_max`) go on.
    pub max_resets: u32,
    /// Time a reset USB device gets to enumerate again before the next reopen.
    pub reset_settle: Duration,
    /// While an HDMI input has no usable signal, how often it is opened and queried again.
    pub signal_retry: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            stall_after: Duration::from_secs(3),
            max_errors: 10,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            reopens_before_reset: 3,
            max_resets: 2,
            reset_settle: Duration::from_secs(4),
            signal_retry: Duration::from_secs(1),
        }
    }
}

/// Where the capture is. Shown in /api/state as `capture_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// The source is open (frames flow, or have not been missing long).
    Streaming,
    /// A stall was noticed; the source is to be closed.
    Stalled,
    /// Opening the source, or waiting for the next attempt.
    #[default]
    Reopening,
    /// Resetting the USB device.
    Resetting,
    /// Waiting for a reset USB device to come back.
    Waiting,
    /// The device answers but has no usable signal (none, no sync, out of range).
    NoSignal,
}

impl Phase {
    /// The lower-case name used in /api/state and logs.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Streaming => "streaming",
            Phase::Stalled => "stalled",
            Phase::Reopening => "reopening",
            Phase::Resetting => "resetting",
            Phase::Waiting => "waiting",
            Phase::NoSignal => "no_signal",
        }
    }
}

/// Why a capture was declared stalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StallReason {
    /// No frame for `stall_after`.
    NoFrames(Duration),
    /// `max_errors` failed grabs in a row.
    Errors(u32),
    /// The device node vanished (ENODEV).
    Gone,
    /// The input's signal changed: capture restarts at the new timings (not a fault).
    SourceChanged,
}

impl std::fmt::Display for StallReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StallReason::NoFrames(d) => write!(f, "no frame for {:.1} s", d.as_secs_f64()),
            StallReason::Errors(n) => write!(f, "{n} capture errors in a row"),
            StallReason::Gone => write!(f, "device gone"),
            StallReason::SourceChanged => write!(f, "the signal changed"),
        }
    }
}

/// What one `grab` gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grab {
    /// A frame.
    Frame,
    /// No frame within the grab timeout.
    Timeout,
    /// The device answers but has no signal or sync: not a stall (the device works).
    NoSignal,
    /// The device node is gone.
    Gone,
    /// The input's signal changed (new timings, lost): reopen at once.
    SourceChanged,
    /// Any other failure.
    Error,
}

/// What the capture thread does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Grab from the open source.
    Grab,
    /// Close the source (drop it), then report [`Watchdog::closed`].
    Close(StallReason),
    /// Open the source, then report [`Watchdog::opened`] or [`Watchdog::open_failed`].
    Open,
    /// Reset the USB device, then report [`Watchdog::reset_done`].
    ResetUsb,
    /// Nothing to do before this instant (sleep in short slices, watching the stop flag).
    WaitUntil(Instant),
}

/// What a report changed, for the shell's counters and log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing worth a log line or counter.
    None,
    /// A stall was declared.
    Stalled(StallReason),
    /// Frames flow again after an outage: ask the encoder for a keyframe.
    Recovered,
}

/// The capture watchdog's state machine.
#[derive(Debug, Clone)]
pub struct Watchdog {
    t: Timings,
    phase: Phase,
    /// Streaming: the last frame (or the open) and the errors in a row.
    last_frame: Instant,
    errors: u32,
    /// Stalled: why.
    reason: StallReason,
    /// Reopening: failed opens in a row this outage, and when the next attempt is due.
    failed_opens: u32,
    due: Instant,
    /// Resets done this outage.
    resets: u32,
    /// Whether frames have flowed since the last open (a first frame after a reopen is a
    /// recovery only if an outage came before).
    outage: bool,
}

impl Watchdog {
    /// A watchdog about to open the source for the first time.
    pub fn new(t: Timings, now: Instant) -> Watchdog {
        Watchdog {
            t,
            phase: Phase::Reopening,
            last_frame: now,
            errors: 0,
            reason: StallReason::Gone,
            failed_opens: 0,
            due: now,
            resets: 0,
            outage: false,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// What to do at `now`.
    pub fn next(&mut self, now: Instant) -> Step {
        match self.phase {
            Phase::Streaming => Step::Grab,
            Phase::Stalled => Step::Close(self.reason),
            Phase::Reopening | Phase::Waiting | Phase::NoSignal if now < self.due => {
                Step::WaitUntil(self.due)
            }
            Phase::Reopening | Phase::Waiting | Phase::NoSignal => Step::Open,
            Phase::Resetting => Step::ResetUsb,
        }
    }

    /// Reports the outcome of one grab at `now`.
    pub fn grabbed(&mut self, now: Instant, grab: Grab) -> Change {
        if self.phase != Phase::Streaming {
            return Change::None;
        }
        let silent = now.saturating_duration_since(self.last_frame);
        let reason = match grab {
            Grab::Frame => {
                self.last_frame = now;
                self.errors = 0;
                self.failed_opens = 0;
                self.resets = 0;
                if std::mem::take(&mut self.outage) {
                    return Change::Recovered;
                }
                return Change::None;
            }
            Grab::NoSignal => {
                // The device answers: keep it, and do not count the time without signal.
                self.last_frame = now;
                self.errors = 0;
                None
            }
            Grab::Timeout => {
                (silent >= self.t.stall_after).then_some(StallReason::NoFrames(silent))
            }
            Grab::Error => {
                self.errors = self.errors.saturating_add(1);
                if self.errors >= self.t.max_errors {
                    Some(StallReason::Errors(self.errors))
                } else {
                    (silent >= self.t.stall_after).then_some(StallReason::NoFrames(silent))
                }
            }
            Grab::Gone => Some(StallReason::Gone),
            Grab::SourceChanged => Some(StallReason::SourceChanged),
        };
        let Some(reason) = reason else {
            return Change::None;
        };
        self.reason = reason;
        self.phase = Phase::Stalled;
        self.outage = true;
        Change::Stalled(reason)
    }

    /// The source was dropped: the first reopen is due at once.
    pub fn closed(&mut self, now: Instant) {
        self.phase = Phase::Reopening;
        self.due = now;
    }

    /// The source opened at `now`.
    pub fn opened(&mut self, now: Instant) {
        self.phase = Phase::Streaming;
        self.last_frame = now;
        self.errors = 0;
    }

    /// Opening found the device working but without a usable signal at `now`: open again
    /// after `signal_retry`, with no backoff and no USB reset.
    pub fn no_signal(&mut self, now: Instant) {
        self.outage = true;
        self.failed_opens = 0;
        self.resets = 0;
        self.phase = Phase::NoSignal;
        self.due = now + self.t.signal_retry;
    }

    /// Opening failed at `now`. `usb` says whether a USB device to reset is known.
    pub fn open_failed(&mut self, now: Instant, usb: bool) {
        self.outage = true;
        self.failed_opens = self.failed_opens.saturating_add(1);
        let escalate = usb
            && self.resets < self.t.max_resets
            && self.failed_opens >= self.t.reopens_before_reset;
        if escalate {
            self.phase = Phase::Resetting;
            return;
        }
        self.phase = Phase::Reopening;
        self.due = now + self.backoff();
    }

    /// Wait after the `failed_opens`-th failure: `backoff_min` doubled per earlier failure,
    /// capped at `backoff_max`.
    fn backoff(&self) -> Duration {
        let doublings = self.failed_opens.saturating_sub(1).min(16);
        self.t
            .backoff_min
            .saturating_mul(1 << doublings)
            .min(self.t.backoff_max)
    }

    /// The USB reset finished at `now` (`ok`: the reset or de-authorize went through). Either
    /// way the device gets `reset_settle` before the next open; reopen attempts count anew.
    pub fn reset_done(&mut self, now: Instant, _ok: bool) {
        self.resets += 1;
        self.failed_opens = 0;
        self.phase = Phase::Waiting;
        self.due = now + self.t.reset_settle;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn t() -> Timings {
        Timings {
            stall_after: 3000 * MS,
            max_errors: 3,
            backoff_min: 500 * MS,
            backoff_max: 2000 * MS,
            reopens_before_reset: 2,
            max_resets: 1,
            reset_settle: 4000 * MS,
            signal_retry: 1000 * MS,
        }
    }

    /// A watchdog that opened its source at `t0`.
    fn streaming(t0: Instant) -> Watchdog {
        let mut w = Watchdog::new(t(), t0);
        assert_eq!(w.next(t0), Step::Open);
        w.opened(t0);
        assert_eq!((w.phase(), w.next(t0)), (Phase::Streaming, Step::Grab));
        w
    }

    #[test]
    fn frames_and_short_gaps_keep_streaming() {
        let t0 = Instant::now();
        let mut w = streaming(t0);
        assert_eq!(w.grabbed(t0 + 100 * MS, Grab::Frame), Change::None);
        assert_eq!(w.grabbed(t0 + 3000 * MS, Grab::Timeout), Change::None);
        assert_eq!(w.grabbed(t0 + 3099 * MS, Grab::Timeout), Change::None);
        assert_eq!(w.phase(), Phase::Streaming);
        // Without signal the device still answers: minutes of it are no stall.
        assert_eq!(w.grabbed(t0 + 3100 * MS, Grab::NoSignal), Change::None);
        assert_eq!(w.grabbed(t0 + 60_000 * MS, Grab::NoSignal), Change::None);
        assert_eq!(w.grabbed(t0 + 62_000 * MS, Grab::Timeout), Change::None);
        assert_eq!(w.phase(), Phase::Streaming);
    }

    #[test]
    fn no_frame_for_stall_after_is_a_stall_then_a_reopen() {
        let t0 = Instant::now();
        let mut w = streaming(t0);
        w.grabbed(t0 + 100 * MS, Grab::Frame);
        let at = t0 + 3100 * MS;
        let stall = Change::Stalled(StallReason::NoFrames(3000 * MS));
        assert_eq!(w.grabbed(at, Grab::Timeout), stall);
        assert_eq!(w.phase(), Phase::Stalled);
        assert_eq!(w.next(at), Step::Close(StallReason::NoFrames(3000 * MS)));
        w.closed(at);
        assert_eq!((w.phase(), w.next(at)), (Phase::Reopening, Step::Open));
        w.opened(at + 10 * MS);
        assert_eq!(w.grabbed(at + 20 * MS, Grab::Timeout), Change::None);
        assert_eq!(w.grabbed(at + 40 * MS, Grab::Frame), Change::Recovered);
        assert_eq!(w.grabbed(at + 80 * MS, Grab::Frame), Change::None);
    }

    #[test]
    fn errors_in_a_row_and_a_vanished_node_are_stalls() {
        let t0 = Instant::now();
        let mut w = streaming(t0);
        assert_eq!(w.grabbed(t0, Grab::Error), Change::None);
        assert_eq!(w.grabbed(t0, Grab::Frame), Change::None, "a frame clears");
        w.grabbed(t0, Grab::Error);
        w.grabbed(t0, Grab::Error);
        let third = w.grabbed(t0 + MS, Grab::Error);
        assert_eq!(third, Change::Stalled(StallReason::Errors(3)));
        let mut w = streaming(t0);
        assert_eq!(
            w.grabbed(t0, Grab::Gone),
            Change::Stalled(StallReason::Gone)
        );
        assert_eq!(w.next(t0), Step::Close(StallReason::Gone));
        assert_eq!(StallReason::Gone.to_string(), "device gone");
    }

    #[test]
    fn failed_reopens_back_off_and_a_node_that_returns_later_is_reopened() {
        let t0 = Instant::now();
        let mut w = streaming(t0);
        w.grabbed(t0, Grab::Gone);
        w.closed(t0);
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..5 {
            assert_eq!(w.next(now), Step::Open);
            w.open_failed(now, false);
            let Step::WaitUntil(due) = w.next(now) else {
                panic!("waits after a failed open")
            };
            assert_eq!(w.next(due - MS), Step::WaitUntil(due));
            waits.push(due - now);
            now = due;
        }
        let ms = |v: u32| v * MS;
        assert_eq!(waits, [ms(500), ms(1000), ms(2000), ms(2000), ms(2000)]);
        assert_eq!(w.phase(), Phase::Reopening, "no USB device: never a reset");
        assert_eq!(w.next(now), Step::Open);
        w.opened(now);
        assert_eq!(w.grabbed(now, Grab::Frame), Change::Recovered);
        // The next outage starts from the shortest wait again.
        w.grabbed(now, Grab::Gone);
        w.closed(now);
        w.open_failed(now, false);
        assert_eq!(w.next(now), Step::WaitUntil(now + 500 * MS));
    }

    #[test]
    fn a_usb_device_is_reset_after_failed_reopens_and_given_time_to_return() {
        let t0 = Instant::now();
        let mut w = streaming(t0);
        w.grabbed(t0 + 3000 * MS, Grab::Timeout);
        w.closed(t0 + 3000 * MS);
        let mut now = t0 + 3000 * MS;
        w.open_failed(now, true);
        now += 500 * MS;
        assert_eq!(w.next(now), Step::Open);
        w.open_failed(now, true);
        assert_eq!((w.phase(), w.next(now)), (Phase::Resetting, Step::ResetUsb));
        w.reset_done(now, true);
        assert_eq!(w.phase(), Phase::Waiting);
        assert_eq!(w.next(now), Step::WaitUntil(now + 4000 * MS));
        now += 4000 * MS;
        assert_eq!(w.next(now), Step::Open);
        // max_resets = 1: later failures only reopen, at the capped backoff.
        for _ in 0..4 {
            w.open_failed(now, true);
            assert_ne!(w.phase(), Phase::Resetting);
            let Step::WaitUntil(due) = w.next(now) else {
                panic!("waits")
            };
            now = due;
        }
        assert_eq!(w.next(now), Step::Open);
        w.opened(now);
        assert_eq!(w.grabbed(now + MS, Grab::Frame), Change::Recovered);
        assert_eq!(w.phase().name(), "streaming");
    }

    #[test]
    fn a_changed_signal_reopens_at_once_and_no_signal_is_polled_without_escalation() {
        let t0 = Instant::now();
        let mut w = streaming(t0);
        w.grabbed(t0, Grab::Frame);
        let at = t0 + 500 * MS;
        let changed = w.grabbed(at, Grab::SourceChanged);
        assert_eq!(changed, Change::Stalled(StallReason::SourceChanged));
        assert_eq!(w.next(at), Step::Close(StallReason::SourceChanged));
        w.closed(at);
        assert_eq!(w.next(at), Step::Open, "reopened at once");
        // The input has no signal now: opened again every second, USB device or not, for
        // as long as it takes; never a reset.
        let mut now = at;
        for _ in 0..10 {
            w.no_signal(now);
            assert_eq!(w.phase(), Phase::NoSignal);
            assert_eq!(w.next(now), Step::WaitUntil(now + 1000 * MS));
            now += 1000 * MS;
            assert_eq!(w.next(now), Step::Open);
        }
        assert_eq!(w.phase().name(), "no_signal");
        // A real failure in between starts the backoff from its shortest wait.
        w.open_failed(now, true);
        assert_eq!(w.next(now), Step::WaitUntil(now + 500 * MS));
        now += 500 * MS;
        w.opened(now);
        assert_eq!(w.grabbed(now + MS, Grab::Frame), Change::Recovered);
        assert_eq!(StallReason::SourceChanged.to_string(), "the signal changed");
    }

    #[test]
    fn a_first_open_that_works_is_no_recovery() {
        let t0 = Instant::now();
        let mut w = streaming(t0);
        assert_eq!(w.grabbed(t0, Grab::Frame), Change::None);
        let mut w = Watchdog::new(t(), t0);
        w.open_failed(t0, false);
        w.opened(t0 + 500 * MS);
        assert_eq!(w.grabbed(t0 + 600 * MS, Grab::Frame), Change::Recovered);
    }
}
