//! Keyframe request coalescing: many viewers asking for an IDR (new viewer, RTCP PLI/FIR, a
//! lagging queue) within a short window cost the encoder one IDR, not one each.
//!
//! Pure: the caller passes `now`; no clock is read here.

use std::time::{Duration, Instant};

/// Shortest time between two requested IDRs. Requests arriving sooner are held and served
/// when the window ends (an IDR at 1080p costs 45–70 ms of OpenH264 time).
pub const MIN_KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// Decides, frame by frame, whether the encoder must produce an IDR.
#[derive(Debug, Clone)]
pub struct KeyframeGate {
    min_interval: Duration,
    pending: bool,
    last_idr: Option<Instant>,
}

impl KeyframeGate {
    /// A gate that serves at most one requested IDR per `min_interval`.
    pub fn new(min_interval: Duration) -> Self {
        KeyframeGate {
            min_interval,
            pending: false,
            last_idr: None,
        }
    }

    /// Records a request; any number of requests before the next IDR count as one.
    pub fn request(&mut self) {
        self.pending = true;
    }

    /// Whether a request is waiting.
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// Called before encoding each frame: `true` means encode this frame as an IDR.
    pub fn take(&mut self, now: Instant) -> bool {
        if !self.pending {
            return false;
        }
        let due = match self.last_idr {
            None => true,
            Some(last) => now.saturating_duration_since(last) >= self.min_interval,
        };
        if due {
            self.pending = false;
            self.last_idr = Some(now);
        }
        due
    }

    /// Records an IDR the encoder produced on its own (first frame, scene change): it
    /// satisfies every request made before it.
    pub fn keyframe_sent(&mut self, now: Instant) {
        self.pending = false;
        self.last_idr = Some(now);
    }
}

impl Default for KeyframeGate {
    fn default() -> Self {
        KeyframeGate::new(MIN_KEYFRAME_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_requests_become_one_idr() {
        let t0 = Instant::now();
        let mut gate = KeyframeGate::new(Duration::from_millis(500));
        for _ in 0..10 {
            gate.request();
        }
        assert!(gate.take(t0));
        assert!(!gate.take(t0 + Duration::from_millis(33)));
        assert!(!gate.take(t0 + Duration::from_millis(66)));
    }

    #[test]
    fn requests_inside_the_window_wait_for_it() {
        let t0 = Instant::now();
        let mut gate = KeyframeGate::new(Duration::from_millis(500));
        gate.request();
        assert!(gate.take(t0));
        gate.request();
        gate.request();
        assert!(!gate.take(t0 + Duration::from_millis(100)));
        assert!(gate.pending());
        assert!(gate.take(t0 + Duration::from_millis(500)));
        assert!(!gate.pending());
        assert!(!gate.take(t0 + Duration::from_millis(1100)));
    }

    #[test]
    fn an_encoder_idr_satisfies_waiting_requests() {
        let t0 = Instant::now();
        let mut gate = KeyframeGate::default();
        gate.request();
        gate.keyframe_sent(t0);
        assert!(!gate.take(t0 + Duration::from_secs(2)));
    }
}
