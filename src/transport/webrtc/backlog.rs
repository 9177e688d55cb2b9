//! What one session has put on its link that the link has not carried yet, modelled from
//! the session's own sends (pure: instants in, durations out).
//!
//! When a viewer moves down, the full rung's last frames may still fill the bottleneck's
//! queue: the video task measured the link as too small only after it had been overfed. A
//! low-rung keyframe sent into that queue (paced just under the link's rate, it barely
//! drains it) loses packets at the tail, the browser asks for another keyframe, and the
//! picture waits for seconds. [`Backlog::hold_time`] says how long to hold the low rung's
//! first packets so they find the queue half empty: the session's sends of the last
//! [`BACKLOG_WINDOW`] run through a queue served at the link's measured rate.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How far back the model looks.
pub const BACKLOG_WINDOW: Duration = Duration::from_secs(2);

/// The longest hold: a backlog that would take longer to drain is mostly packets the
/// bottleneck has already dropped, and waiting longer would be a freeze of its own.
pub const MAX_DRAIN: Duration = Duration::from_millis(600);

/// The share of the drain time to hold for: half. The low rung's keyframe, paced under the
/// link's rate, then only shrinks the queue and its first burst fits the half left; waiting
/// for the whole drain would add the keyframe's own send time to the picture's wait.
pub const HOLD_SHARE: f64 = 0.5;

/// Bytes a packet adds on the wire beyond its RTP payload (RTP header and extensions, SRTP
/// tag): what the feedback's sizes, and so the measured rates, include.
pub const PACKET_OVERHEAD: usize = 40;

/// One access unit's packets as they left: from `start` to `end` (spread by the pacer, or
/// all at once when `start == end`).
#[derive(Debug, Clone, Copy)]
struct Send {
    start: Instant,
    end: Instant,
    bytes: f64,
}

/// The session's recent sends.
#[derive(Debug, Default)]
pub struct Backlog {
    sends: VecDeque<Send>,
}

impl Backlog {
    /// Records one access unit: `bytes` on the wire, sent from `start` to `end`.
    pub fn sent(&mut self, start: Instant, end: Instant, bytes: usize) {
        self.sends.push_back(Send {
            start,
            end: end.max(start),
            bytes: bytes as f64,
        });
        while self
            .sends
            .front()
            .is_some_and(|s| end.saturating_duration_since(s.end) > BACKLOG_WINDOW)
        {
            self.sends.pop_front();
        }
    }

    /// Bytes still queued at `now` on a link that carries `link_bps` (bits per second) and
    /// was idle before the window.
    pub fn queued_bytes(&self, now: Instant, link_bps: f64) -> f64 {
        let rate = link_bps.max(0.0) / 8.0;
        let mut queued = 0.0f64;
        let mut last: Option<Instant> = None;
        for s in &self.sends {
            if let Some(t) = last {
                queued -= rate * s.start.saturating_duration_since(t).as_secs_f64();
                queued = queued.max(0.0);
            }
            let span = s.end.saturating_duration_since(s.start).as_secs_f64();
            queued = (queued + s.bytes - rate * span).max(0.0);
            last = Some(last.map_or(s.end, |t| t.max(s.end)));
        }
        if let Some(t) = last {
            queued -= rate * now.saturating_duration_since(t).as_secs_f64();
        }
        queued.max(0.0)
    }

    /// How long the link at `link_bps` needs to carry what is queued at `now`, at most
    /// [`MAX_DRAIN`]; zero when the rate is unknown.
    pub fn drain_time(&self, now: Instant, link_bps: f64) -> Duration {
        if link_bps <= 0.0 {
            return Duration::ZERO;
        }
        let secs = self.queued_bytes(now, link_bps) * 8.0 / link_bps;
        Duration::from_secs_f64(secs).min(MAX_DRAIN)
    }

    /// How long to hold the low rung's first packets at `now`: [`HOLD_SHARE`] of the drain
    /// time.
    pub fn hold_time(&self, now: Instant, link_bps: f64) -> Duration {
        self.drain_time(now, link_bps).mul_f64(HOLD_SHARE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn a_paced_keyframe_and_the_frames_behind_it_leave_a_queue_the_link_drains_at_its_rate() {
        let t0 = Instant::now();
        let mut b = Backlog::default();
        // The x264enc netem start: an 85 000-byte keyframe paced over 117 ms into a 1.9 Mbit/s
        // link (which carries 27 787 bytes meanwhile), then three frames queued behind it
        // (17 700 bytes) at once.
        b.sent(t0, ms(t0, 117), 85_000);
        b.sent(ms(t0, 117), ms(t0, 117), 17_700);
        let queued = b.queued_bytes(ms(t0, 117), 1_900_000.0);
        assert!(
            (queued - (85_000.0 - 27_787.5 + 17_700.0)).abs() < 1.0,
            "{queued}"
        );
        // 74 912 bytes at 1.9 Mbit/s: 315 ms; 100 ms later, 215 ms.
        let d = b.drain_time(ms(t0, 117), 1_900_000.0);
        assert_eq!(d.as_millis(), 315);
        assert_eq!(b.drain_time(ms(t0, 217), 1_900_000.0).as_millis(), 215);
        // The hold is half of it: the queue is half empty when the low rung starts.
        assert_eq!(b.hold_time(ms(t0, 217), 1_900_000.0).as_millis(), 107);
        // Long after, nothing is left.
        assert_eq!(b.drain_time(ms(t0, 600), 1_900_000.0), Duration::ZERO);
    }

    #[test]
    fn a_link_faster_than_the_sends_holds_nothing_and_an_unknown_rate_holds_nothing() {
        let t0 = Instant::now();
        let mut b = Backlog::default();
        // 12 000 bytes every 33 ms is 2.9 Mbit/s; a 10 Mbit/s link clears each in 9.6 ms.
        for i in 0..30 {
            b.sent(ms(t0, i * 33), ms(t0, i * 33), 12_000);
        }
        let now = ms(t0, 29 * 33 + 10);
        assert_eq!(b.drain_time(now, 10_000_000.0), Duration::ZERO);
        // Right after the last burst, only that burst is queued.
        let d = b.drain_time(ms(t0, 29 * 33), 10_000_000.0);
        assert_eq!(d.as_micros(), 9_600);
        assert_eq!(b.drain_time(now, 0.0), Duration::ZERO);
    }

    #[test]
    fn the_hold_is_capped_and_sends_older_than_the_window_are_forgotten() {
        let t0 = Instant::now();
        let mut b = Backlog::default();
        // 500 000 bytes at once into 1 Mbit/s would take 4 s.
        b.sent(t0, t0, 500_000);
        assert_eq!(b.drain_time(t0, 1_000_000.0), MAX_DRAIN);
        // 2.5 s later a small send: the big one has left the window.
        let later = ms(t0, 2500);
        b.sent(later, later, 1250);
        assert_eq!(b.drain_time(later, 1_000_000.0).as_millis(), 10);
    }
}
