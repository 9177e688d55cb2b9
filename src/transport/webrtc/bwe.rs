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

/// A packet that waited at least this much longer than the window's quickest found the
/// bottleneck's queue busy.
pub const BUSY_DELAY: Duration = Duration::from_millis(20);

/// A busy run must last this long (in arrivals) before its rate is taken for the link's
/// capacity: shorter runs are one burst's jitter.
pub const BUSY_SPAN: Duration = Duration::from_millis(100);

/// What the link delivered and lost over the last [`LINK_WINDOW`] of departures, and what it
/// can carry when its queue was busy, from the remote's feedback (pure: the reports carry
/// their own instants).
#[derive(Debug, Default)]
pub struct LinkMeter {
    /// One entry per packet, oldest departure first.
    sent: VecDeque<Sent>,
}

/// One packet as the feedback resolved it.
#[derive(Debug, Clone, Copy)]
struct Sent {
    departure: Instant,
    bytes: usize,
    arrived: bool,
    /// On the receiver's clock (only differences mean anything).
    arrival: Option<Duration>,
}

impl LinkMeter {
    /// Adds the packets one feedback report resolved.
    pub fn add(&mut self, reports: &[PacketReport]) {
        for r in reports {
            self.sent.push_back(Sent {
                departure: r.departure,
                bytes: r.size,
                arrived: r.arrived,
                arrival: r.arrival.filter(|_| r.arrived),
            });
        }
        let Some(newest) = self.sent.iter().map(|s| s.departure).max() else {
            return;
        };
        while self
            .sent
            .front()
            .is_some_and(|s| newest.saturating_duration_since(s.departure) > LINK_WINDOW)
        {
            self.sent.pop_front();
        }
    }

    /// Bits per second that arrived, over the window's span of departures.
    pub fn delivered_bps(&self) -> f64 {
        let (Some(first), Some(last)) = (self.sent.front(), self.sent.back()) else {
            return 0.0;
        };
        let span = last
            .departure
            .saturating_duration_since(first.departure)
            .as_secs_f64();
        if span < 0.1 {
            return 0.0; // too little to say
        }
        // n packets span n − 1 intervals: the first one's bytes left before the span began.
        let bytes: usize = self
            .sent
            .iter()
            .skip(1)
            .filter(|s| s.arrived)
            .map(|s| s.bytes)
            .sum();
        bytes as f64 * 8.0 / span
    }

    /// Share of the window's packets that never arrived.
    pub fn loss(&self) -> f64 {
        if self.sent.is_empty() {
            return 0.0;
        }
        let lost = self.sent.iter().filter(|s| !s.arrived).count();
        lost as f64 / self.sent.len() as f64
    }

    /// What the bottleneck carries (bits per second), measured over the newest run of
    /// packets that found its queue busy (each waited [`BUSY_DELAY`] longer than the
    /// window's quickest) for at least [`BUSY_SPAN`] of arrivals; 0 when the window has no
    /// such run (the link kept up). While a queue is busy the link sends back to back, so
    /// bytes over arrival time is its rate, whatever the sender offered — a packet-train
    /// measurement that a keyframe gives on its first trip.
    pub fn capacity_bps(&self) -> f64 {
        let Some(start) = self.sent.front().map(|s| s.departure) else {
            return 0.0;
        };
        // One-way delay up to a constant: arrival on the remote clock − departure here.
        let delay = |s: &Sent| {
            s.arrival.map(|a| {
                a.as_secs_f64() - s.departure.saturating_duration_since(start).as_secs_f64()
            })
        };
        let Some(quickest) = self.sent.iter().filter_map(delay).reduce(f64::min) else {
            return 0.0;
        };
        let busy = BUSY_DELAY.as_secs_f64();
        // Walk back from the newest arrival: the newest run of packets that waited (losses
        // do not end a run: they were dropped at the full queue).
        let mut run = BusyRun::default();
        for s in self.sent.iter().rev() {
            let (Some(arrival), Some(d)) = (s.arrival, delay(s)) else {
                continue;
            };
            if d - quickest >= busy {
                run.add(arrival, s.bytes);
            } else if run.long_enough() {
                break;
            } else {
                run = BusyRun::default();
            }
        }
        run.rate_bps()
    }
}

/// Packets that arrived back to back from a busy queue.
#[derive(Debug, Default)]
struct BusyRun {
    /// Earliest and latest arrival.
    span: Option<(Duration, Duration)>,
    /// All the run's bytes, and the earliest packet's (which left before the span began).
    bytes: usize,
    earliest_bytes: usize,
}

impl BusyRun {
    /// Adds a packet (walking back in time).
    fn add(&mut self, arrival: Duration, bytes: usize) {
        self.bytes += bytes;
        self.span = Some(match self.span {
            None => {
                self.earliest_bytes = bytes;
                (arrival, arrival)
            }
            Some((first, last)) => {
                if arrival <= first {
                    self.earliest_bytes = bytes;
                }
                (arrival.min(first), last.max(arrival))
            }
        });
    }

    fn long_enough(&self) -> bool {
        self.span
            .is_some_and(|(first, last)| last.saturating_sub(first) >= BUSY_SPAN)
    }

    fn rate_bps(&self) -> f64 {
        match self.span {
            Some((first, last)) if self.long_enough() => {
                (self.bytes - self.earliest_bytes) as f64 * 8.0
                    / last.saturating_sub(first).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// One connection's view of its link, shared between its interceptor chain and its video
/// task: GCC's target, and what the link delivered and lost ([`LinkMeter`]).
#[derive(Debug, Clone, Default)]
pub struct Estimate(Arc<[AtomicU64; 4]>);

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
            capacity_bps: self.get(3),
        }
    }

    fn get(&self, i: usize) -> f64 {
        f64::from_bits(self.0[i].load(Ordering::Relaxed))
    }

    fn set(&self, target: f64, delivered: f64, loss: f64, capacity: f64) {
        for (i, v) in [target, delivered, loss, capacity].into_iter().enumerate() {
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
            self.meter.capacity_bps(),
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
    out.set(initial, 0.0, 0.0, 0.0);
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

    /// A packet that left at `departure` and (when `arrival` is some) reached the remote at
    /// that time on its clock.
    fn timed(id: u64, departure: Instant, size: usize, arrival: Option<Duration>) -> PacketReport {
        PacketReport {
            arrived: arrival.is_some(),
            arrival,
            ..report(id, departure, size, true)
        }
    }

    /// Sends `n` packets of 1200 bytes at `send_bps` from `t0` through a bottleneck of
    /// `link_bps` with a queue of `queue` packets (drop-tail), 10 ms of path delay; returns
    /// the meter fed with every packet's fate.
    fn through_link(t0: Instant, n: u64, send_bps: f64, link_bps: f64, queue: usize) -> LinkMeter {
        let mut m = LinkMeter::default();
        let gap = 1200.0 * 8.0 / send_bps;
        let serve = 1200.0 * 8.0 / link_bps;
        let mut busy_until = 0.0f64;
        let mut departures_in_queue: VecDeque<f64> = VecDeque::new();
        for i in 0..n {
            let sent = i as f64 * gap;
            while departures_in_queue
                .front()
                .is_some_and(|&done| done <= sent)
            {
                departures_in_queue.pop_front();
            }
            let arrival = if departures_in_queue.len() >= queue {
                None
            } else {
                busy_until = busy_until.max(sent) + serve;
                departures_in_queue.push_back(busy_until);
                Some(Duration::from_secs_f64(busy_until + 0.010))
            };
            m.add(&[timed(i, t0 + Duration::from_secs_f64(sent), 1200, arrival)]);
        }
        m
    }

    #[test]
    fn a_busy_queue_measures_the_links_capacity_and_a_link_that_keeps_up_reports_none() {
        let t0 = Instant::now();
        // 5.5 Mbit/s offered for 150 ms (a paced keyframe) into 2 Mbit/s: the queue is busy,
        // and its arrivals give the link's rate.
        let m = through_link(t0, 86, 5_500_000.0, 2_000_000.0, 60);
        let c = m.capacity_bps();
        assert!((c - 2_000_000.0).abs() < 20_000.0, "{c}");
        // The same into 10 Mbit/s: no queue, no capacity claimed.
        assert_eq!(
            through_link(t0, 86, 5_500_000.0, 10e6, 60).capacity_bps(),
            0.0
        );
        // Overfull (the queue drops): still the link's rate, and loss shows.
        let m = through_link(t0, 400, 8e6, 3e6, 60);
        assert!(
            (m.capacity_bps() - 3e6).abs() < 30_000.0,
            "{}",
            m.capacity_bps()
        );
        assert!(m.loss() > 0.3, "{}", m.loss());
        // A burst that queues for less than BUSY_SPAN is jitter, not a measurement: 8
        // packets at 100 Mbit/s into 2 Mbit/s drain in 38 ms.
        assert_eq!(through_link(t0, 8, 100e6, 2e6, 60).capacity_bps(), 0.0);
    }

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
