//! The backend's view of the chip's health (pure: every method takes `now`): when to ask for
//! the LEDs, when the chip counts as hung, how often to try resetting it or reopening its
//! port, and what to tell the worker in [`Polled`].

use super::proto::Info;
use crate::hid::{Leds, Polled};
use std::time::{Duration, Instant};

/// How often `GET_INFO` asks for the LEDs and the USB state.
pub const INFO_EVERY: Duration = Duration::from_millis(500);
/// Consecutive unanswered requests after which the chip counts as hung.
pub const HANG_AFTER: u32 = 3;
/// How often a hung chip gets a RESET, or a vanished port a reopen.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// What `poll` should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing yet.
    Nothing,
    /// Ask `GET_INFO`.
    Info,
    /// The chip is hung: RESET it.
    Reset,
    /// The port is gone: try opening it.
    Reopen,
}

/// Health bookkeeping for one chip.
#[derive(Debug, Clone)]
pub struct Link {
    misses: u32,
    hung: bool,
    port_gone: bool,
    next_info: Instant,
    next_retry: Instant,
    enumerated: Option<bool>,
    leds_seen: Option<Leds>,
    leds_reported: Option<Leds>,
    reconnected: bool,
}

impl Link {
    /// A link whose first `GET_INFO` is due at `now`.
    pub fn new(now: Instant) -> Link {
        Link {
            misses: 0,
            hung: false,
            port_gone: false,
            next_info: now,
            next_retry: now,
            enumerated: None,
            leds_seen: None,
            leds_reported: None,
            reconnected: false,
        }
    }

    /// Whether requests should be skipped (hung chip or no port) and fail at once.
    pub fn is_down(&self) -> bool {
        self.hung || self.port_gone
    }

    /// Whether the chip counts as hung.
    pub fn is_hung(&self) -> bool {
        self.hung
    }

    /// What is due at `now`.
    pub fn due(&self, now: Instant) -> Due {
        if self.port_gone {
            if now >= self.next_retry {
                return Due::Reopen;
            }
            return Due::Nothing;
        }
        if self.hung {
            if now >= self.next_retry {
                return Due::Reset;
            }
            return Due::Nothing;
        }
        if now >= self.next_info {
            return Due::Info;
        }
        Due::Nothing
    }

    /// A retry (reset or reopen) was just attempted.
    pub fn retried(&mut self, now: Instant) {
        self.next_retry = now + RETRY_EVERY;
    }

    /// A `GET_INFO` was just sent.
    pub fn info_asked(&mut self, now: Instant) {
        self.next_info = now + INFO_EVERY;
    }

    /// The chip answered something. A hung chip that answers is back: reported as
    /// reconnected on the next poll.
    pub fn answered(&mut self) {
        self.misses = 0;
        if self.hung {
            self.hung = false;
            self.reconnected = true;
        }
    }

    /// A request went unanswered. True when this one made the chip count as hung.
    pub fn unanswered(&mut self, now: Instant) -> bool {
        self.misses = self.misses.saturating_add(1);
        if !self.hung && self.misses >= HANG_AFTER {
            self.hung = true;
            self.next_retry = now;
            return true;
        }
        false
    }

    /// Marks the chip hung right away (it did not answer when the port was opened).
    pub fn set_hung(&mut self, now: Instant) {
        self.hung = true;
        self.misses = HANG_AFTER;
        self.next_retry = now + RETRY_EVERY;
    }

    /// The chip was reset and everything released (after an error): the worker must forget
    /// what it thinks is held.
    pub fn was_reset(&mut self) {
        self.reconnected = true;
    }

    /// The port vanished; reopen attempts start at `now`.
    pub fn port_lost(&mut self, now: Instant) {
        self.port_gone = true;
        self.next_retry = now;
    }

    /// The port is open again and the chip answered: back to normal, reported as reconnected.
    pub fn port_back(&mut self, now: Instant) {
        self.port_gone = false;
        self.hung = false;
        self.misses = 0;
        self.reconnected = true;
        self.next_info = now;
    }

    /// Records a `GET_INFO` answer. The USB flag going from 0 to 1 means the target
    /// (re)enumerated the chip: reported as reconnected.
    pub fn info(&mut self, info: &Info) {
        self.answered();
        if self.enumerated == Some(false) && info.enumerated {
            self.reconnected = true;
        }
        self.enumerated = Some(info.enumerated);
        self.leds_seen = Some(info.leds);
    }

    /// Whether the target enumerated the chip, as last seen.
    pub fn enumerated(&self) -> Option<bool> {
        self.enumerated
    }

    /// What to tell the worker: LEDs when they changed since last told, and whether the
    /// link came back. Each is reported once.
    pub fn take_polled(&mut self) -> Polled {
        let leds = match self.leds_seen {
            Some(seen) if self.leds_reported != Some(seen) => {
                self.leds_reported = Some(seen);
                Some(seen)
            }
            _ => None,
        };
        Polled {
            leds,
            reconnected: std::mem::take(&mut self.reconnected),
            target_connected: self.enumerated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(enumerated: bool, caps: bool) -> Info {
        Info {
            version: 0x30,
            enumerated,
            leds: Leds {
                caps,
                ..Leds::default()
            },
        }
    }

    #[test]
    fn info_is_due_every_500_ms() {
        let t0 = Instant::now();
        let mut l = Link::new(t0);
        assert_eq!(l.due(t0), Due::Info);
        l.info_asked(t0);
        assert_eq!(l.due(t0 + Duration::from_millis(400)), Due::Nothing);
        assert_eq!(l.due(t0 + INFO_EVERY), Due::Info);
    }

    #[test]
    fn leds_are_reported_once_per_change() {
        let mut l = Link::new(Instant::now());
        assert_eq!(l.take_polled(), Polled::default(), "nothing seen yet");
        l.info(&info(true, false));
        assert_eq!(l.take_polled().leds, Some(Leds::default()));
        l.info(&info(true, false));
        assert_eq!(l.take_polled().leds, None);
        l.info(&info(true, true));
        assert_eq!(l.take_polled().leds.map(|l| l.caps), Some(true));
    }

    #[test]
    fn enumeration_rising_edge_is_a_reconnect() {
        let mut l = Link::new(Instant::now());
        l.info(&info(true, false));
        assert!(
            !l.take_polled().reconnected,
            "first sight is not a reconnect"
        );
        l.info(&info(false, false));
        assert!(!l.take_polled().reconnected);
        l.info(&info(true, false));
        assert!(l.take_polled().reconnected);
        assert!(!l.take_polled().reconnected, "reported once");
    }

    #[test]
    fn three_misses_hang_the_chip_and_resets_are_paced() {
        let t0 = Instant::now();
        let mut l = Link::new(t0);
        assert!(!l.unanswered(t0));
        assert!(!l.unanswered(t0));
        assert!(!l.is_down());
        assert!(l.unanswered(t0), "the third miss hangs it");
        assert!(!l.unanswered(t0), "hung is announced once");
        assert!(l.is_down());
        assert_eq!(l.due(t0), Due::Reset);
        l.retried(t0);
        assert_eq!(l.due(t0 + Duration::from_millis(999)), Due::Nothing);
        assert_eq!(l.due(t0 + RETRY_EVERY), Due::Reset);
        l.answered();
        assert!(!l.is_down());
        assert!(l.take_polled().reconnected);
    }

    #[test]
    fn a_lost_port_is_reopened_at_the_retry_pace() {
        let t0 = Instant::now();
        let mut l = Link::new(t0);
        l.port_lost(t0);
        assert!(l.is_down());
        assert_eq!(l.due(t0), Due::Reopen);
        l.retried(t0);
        assert_eq!(l.due(t0 + Duration::from_millis(500)), Due::Nothing);
        l.port_back(t0 + RETRY_EVERY);
        assert!(!l.is_down());
        assert!(l.take_polled().reconnected);
        assert_eq!(l.due(t0 + RETRY_EVERY), Due::Info);
    }
}
