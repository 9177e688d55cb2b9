//! Per-session input rate limit: a token bucket (pure; `now` is passed in).
//!
//! A browser sends at most a few hundred messages a second (pointer events are coalesced to
//! the display rate); a flood beyond that only delays everyone's input, so it is dropped.
//! Releases (key up, `release_all`) and pings are never limited: dropping one would leave a
//! key down.

use std::time::{Duration, Instant};

/// Messages per second a session may send, sustained.
pub const INPUT_RATE: f64 = 500.0;
/// Messages a session may send in a burst.
pub const INPUT_BURST: f64 = 250.0;
/// At most one "rate limited" reply per this interval.
pub const REPLY_INTERVAL: Duration = Duration::from_secs(1);

/// A token bucket.
#[derive(Debug, Clone)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
    dropped: u64,
    last_reply: Option<Instant>,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit::new(INPUT_RATE, INPUT_BURST)
    }
}

impl RateLimit {
    /// `rate` per second, up to `burst` at once.
    pub fn new(rate: f64, burst: f64) -> RateLimit {
        RateLimit {
            rate,
            burst,
            tokens: burst,
            last: None,
            dropped: 0,
            last_reply: None,
        }
    }

    /// Takes one token; false (and counts a drop) when the bucket is empty.
    pub fn allow(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            self.dropped += 1;
            false
        }
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether to tell the client about drops now (at most once per [`REPLY_INTERVAL`]).
    pub fn should_reply(&mut self, now: Instant) -> bool {
        match self.last_reply {
            Some(t) if now.saturating_duration_since(t) < REPLY_INTERVAL => false,
            _ => {
                self.last_reply = Some(now);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(100.0, 10.0);
        assert!((0..10).all(|_| r.allow(t0)), "the burst");
        assert!(!r.allow(t0), "empty");
        assert_eq!(r.dropped(), 1);
        // 100/s refills one token every 10 ms.
        assert!(r.allow(t0 + Duration::from_millis(10)));
        assert!(!r.allow(t0 + Duration::from_millis(10)));
        // Over one second at 200/s offered, about 100 pass.
        let mut passed = 0;
        for i in 1..=200u64 {
            if r.allow(t0 + Duration::from_millis(10 + i * 5)) {
                passed += 1;
            }
        }
        assert!((99..=102).contains(&passed), "{passed}");
        // A long pause refills to the burst, not beyond.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..20).filter(|_| r.allow(later)).count(), 10);
    }

    #[test]
    fn replies_are_spaced() {
        let t0 = Instant::now();
        let mut r = RateLimit::default();
        assert!(r.should_reply(t0));
        assert!(!r.should_reply(t0 + Duration::from_millis(500)));
        assert!(r.should_reply(t0 + Duration::from_millis(1000)));
    }
}
