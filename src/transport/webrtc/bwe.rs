//! Send-side bandwidth estimation for one peer connection: the transport-wide sequence
//! numbers go out (TWCC sender), the browser's transport-cc feedback comes back, and the
//! webrtc crate's Google Congestion Control turns it into an estimate that the session's
//! video task reads ([`Estimate`]) to pick its rung of the ladder (`media::ladder`), with
//! what the link delivered and lost over the last second ([`LinkMeter`]).
//!
//! No pacer: a pacer meters every packet at the estimate, which adds a frame's worth of delay
//! to each frame on a fast link (and an IDR's worth on every keyframe). GCC groups the packets
//! of one frame by their departure (5 ms bursts), so an unpaced sender is measured correctly;
//! a slow link is handled by sending less, on the low rung.

use crate::media::ladder::Link;
use rtc::interceptor::{
    BandwidthEstimator, CongestionControlBuilder, EstimatorStats, Gcc, PacketReport, Registry,
    Slot, TwccSenderBuilder,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The estimate never goes below this (bits per second).
pub const MIN_BPS: f64 = 100_000.0;

/// How far back [`LinkMeter`] looks.
pub const LINK_WINDOW: Duration = Duration::from_secs(1);

/// What the link delivered and lost over the last [`LINK_WINDOW`] of departures, from the
/// remote's feedback (pure: the reports carry their own instants).
#[derive(Debug, Default)]
pub struct LinkMeter {
    /// (departure, bytes, arrived), oldest first.
    sent: VecDeque<(Instant, usize, bool)>,
}

impl LinkMeter {
    /// Adds the packets one feedback report resolved.
    pub fn add(&mut self, reports: &[PacketReport]) {
        for r in reports {
            self.sent.push_back((r.departure, r.size, r.arrived));
        }
        let Some(newest) = self.sent.iter().map(|s| s.0).max() else {
            return;
        };
        while self
            .sent
            .front()
            .is_some_and(|s| newest.saturating_duration_since(s.0) > LINK_WINDOW)
        {
            self.sent.pop_front();
        }
    }

    /// Bits per second that arrived, over the window's span of departures.
    pub fn delivered_bps(&self) -> f64 {
        let (Some(first), Some(last)) = (self.sent.front(), self.sent.back()) else {
            return 0.0;
        };
        let span = last.0.saturating_duration_since(first.0).as_secs_f64();
        if span < 0.1 {
            return 0.0; // too little to say
        }
        // n packets span n − 1 intervals: the first one's bytes left before the span began.
        let bytes: usize = self.sent.iter().skip(1).filter(|s| s.2).map(|s| s.1).sum();
        bytes as f64 * 8.0 / span
    }

    /// Share of the window's packets that never arrived.
    pub fn loss(&self) -> f64 {
        if self.sent.is_empty() {
            return 0.0;
        }
        let lost = self.sent.iter().filter(|s| !s.2).count();
        lost as f64 / self.sent.len() as f64
    }
}

/// One connection's view of its link, shared between its interceptor chain and its video
/// task: GCC's target, and what the link delivered and lost ([`LinkMeter`]).
#[derive(Debug, Clone, Default)]
pub struct Estimate(Arc<[AtomicU64; 3]>);

impl Estimate {
    /// GCC's target, bits per second: any sign of trouble (queueing or loss) lowers it.
    pub fn bps(&self) -> f64 {
        self.get(0)
    }

    /// Everything the ladder needs.
    pub fn link(&self) -> Link {
        Link {
            estimate_bps: self.get(0),
            delivered_bps: self.get(1),
            loss: self.get(2),
        }
    }

    fn get(&self, i: usize) -> f64 {
        f64::from_bits(self.0[i].load(Ordering::Relaxed))
    }

    fn set(&self, target: f64, delivered: f64, loss: f64) {
        for (i, v) in [target, delivered, loss].into_iter().enumerate() {
            self.0[i].store(v.to_bits(), Ordering::Relaxed);
        }
    }
}

/// GCC, publishing its target and the link meter's numbers into an [`Estimate`].
struct Publishing {
    inner: Gcc,
    meter: LinkMeter,
    out: Estimate,
}

impl Publishing {
    fn publish(&self) {
        self.out.set(
            self.inner.target_bitrate(),
            self.meter.delivered_bps(),
            self.meter.loss(),
        );
    }
}

impl BandwidthEstimator for Publishing {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.inner.on_reports(now, reports);
        self.meter.add(reports);
        self.publish();
    }

    fn target_bitrate(&self) -> f64 {
        self.inner.target_bitrate()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.inner.handle_timeout(now);
        self.publish();
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.inner.poll_timeout()
    }

    fn stats(&self) -> EstimatorStats {
        self.inner.stats()
    }
}

/// Adds congestion control to `registry`, starting at `initial_bps` (the full rung's
/// bitrate: a viewer on a good link starts, and stays, on the full rung) and allowed up to
/// four times that. The transport-cc feedback and header extension are registered by the
/// default interceptors (their TWCC receiver), which every peer connection here has.
pub fn with_congestion_control(registry: Registry, initial_bps: f64) -> (Registry, Estimate) {
    let out = Estimate::default();
    let initial = initial_bps.max(MIN_BPS);
    out.set(initial, 0.0, 0.0);
    let estimator = Publishing {
        inner: Gcc::new(initial, MIN_BPS, initial * 4.0),
        meter: LinkMeter::default(),
        out: out.clone(),
    };
    let registry = registry
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(estimator).build(),
        )
        .with(Slot::TwccSender, TwccSenderBuilder::new().build());
    (registry, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: u64, departure: Instant, size: usize, arrived: bool) -> PacketReport {
        PacketReport {
            ssrc: 1,
            id,
            rtp_sequence_number: id as u16,
            is_twcc: true,
            twcc_sequence_number: id as u16,
            size,
            arrived,
            departure,
            arrival: arrived.then(|| Duration::from_millis(id)),
            ecn: Default::default(),
        }
    }

    #[test]
    fn the_link_meter_measures_delivery_and_loss_over_the_last_second() {
        let t0 = Instant::now();
        let mut m = LinkMeter::default();
        assert_eq!((m.delivered_bps(), m.loss()), (0.0, 0.0));
        // 3 Mbit/s sent for 2 s (1250-byte packets every 3.33 ms), one in four lost: the
        // link delivered 2.25 Mbit/s.
        for i in 0..600u64 {
            let at = t0 + Duration::from_micros(i * 10_000 / 3);
            m.add(&[report(i, at, 1250, i % 4 != 0)]);
        }
        assert!(
            (m.delivered_bps() - 2_250_000.0).abs() < 30_000.0,
            "{}",
            m.delivered_bps()
        );
        assert!((m.loss() - 0.25).abs() < 0.01, "{}", m.loss());
        // Then a clean second at 1 Mbit/s: the old second has left the window.
        for i in 600..700u64 {
            let at = t0 + Duration::from_secs(2) + Duration::from_millis((i - 600) * 10);
            m.add(&[report(i, at, 1250, true)]);
        }
        assert_eq!(m.loss(), 0.0);
        assert!(
            (m.delivered_bps() - 1_000_000.0).abs() < 30_000.0,
            "{}",
            m.delivered_bps()
        );
    }
}
