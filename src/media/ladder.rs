//! The bandwidth ladder: two shared H.264 rungs, and which one each WebRTC viewer watches.
//!
//! The **full** rung is the stream everyone normally shares, at the configured bitrate. The
//! **low** rung is a second encoder of the same picture whose bitrate follows the slowest of
//! the viewers on it; it encodes only while somebody watches it. Each viewer's link is
//! measured by send-side congestion control (TWCC feedback into GCC, see
//! `transport::webrtc::peer`); [`RungPolicy`] moves a viewer down when its estimate cannot
//! carry what the full rung actually sends, and back up when it comfortably can.
//!
//! Why a shared ladder and not an encoder per viewer: a board has two to four slow cores, and
//! every extra H.264 encode costs as much as the first. Two rungs bound the cost at two
//! encodes however many viewers there are, and a slow viewer only ever lowers the low rung —
//! the others keep the full one. Frame rate is the last resort: below [`HALF_RATE_BELOW`] the
//! low rung encodes every other frame.
//!
//! The policy is pure (instants in, decisions out); [`Ladder`] holds the shared state and
//! [`ViewerRung`] is one viewer's handle on it.

use super::fanout::{FrameBus, Subscriber};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A viewer moves down when its estimate stays below this share of the full rung's rate…
pub const DOWN_RATIO: f64 = 0.75;
/// …for this long (one dip is not a slow link; a long wait is a frozen picture).
pub const DOWN_AFTER: Duration = Duration::from_millis(300);
/// A viewer moves up when its estimate stays above this multiple of the full rung's rate…
pub const UP_RATIO: f64 = 1.3;
/// …for this long at first; doubled each time a move up is undone within [`FALLBACK`].
pub const UP_AFTER: Duration = Duration::from_secs(5);
/// The longest wait before trying the full rung again.
pub const UP_AFTER_MAX: Duration = Duration::from_secs(80);
/// A move down this soon after a move up means the move up was wrong.
pub const FALLBACK: Duration = Duration::from_secs(20);
/// After each loss, a viewer's share of the low rung is what its link delivered times this
/// (headroom for IDRs and retransmissions).
pub const LOW_SHARE: f64 = 0.85;
/// Entering the low rung the share is lower still: the link's queue is full of the full
/// rung's frames, and the low rung's first keyframe has to get through it whole.
pub const ENTRY_SHARE: f64 = 0.6;
/// Loss above this (over the last second) is the link saying "too much": cut.
pub const LOSS_HIGH: f64 = 0.05;
/// On the full rung, loss above this moves a viewer down as surely as a low estimate (GCC's
/// loss-based half takes a second or two to fall that far).
pub const LOSS_DOWN: f64 = 0.1;
/// A measured capacity below this share of the full rung's rate moves a viewer down at once:
/// its queue is already growing, and every frame more of the full rung makes the wait for the
/// low rung's first picture longer.
pub const CAPACITY_DOWN: f64 = 0.95;
/// Loss below this lets the share grow.
pub const LOSS_LOW: f64 = 0.01;
/// Shortest time between two cuts (the loss of one overshoot takes a while to drain).
pub const CUT_INTERVAL: Duration = Duration::from_millis(500);
/// No cut this soon after moving down: the loss still reported then is the full rung's.
pub const MOVE_GRACE: Duration = Duration::from_secs(1);
/// Growth of the share per second while the link is clean …
pub const GROWTH: f64 = 0.08;
/// … up to this share of what the link delivered at the last cut (its measured size): an
/// overrun is loss, and loss is a lost keyframe and a frozen picture.
pub const LINK_USE: f64 = 0.9;
/// After this long clean at that limit, the link is assumed 5 % bigger (a slow probe: links
/// get faster too).
pub const PROBE_AFTER: Duration = Duration::from_secs(20);
/// The low rung never goes below this.
pub const LOW_MIN_BPS: u32 = 100_000;
/// Nor above this share of the full rung's rate (else it would be the full rung).
pub const LOW_MAX_SHARE: f64 = 0.8;
/// Viewers on the low rung get each frame's packets spread at this multiple of their share:
/// a keyframe (twenty P-frames' worth) sent in one burst overflows a slow link's queue and
/// is lost, and the loss asks for another keyframe.
pub const PACE_SHARE: f64 = 1.5;
/// A session's first keyframe is spread at this multiple of the full rung's rate … (1.5:
/// into a link at 0.7 of the rung, a keyframe fills about half its own size of the
/// bottleneck's queue; at 2.0 a 100 KB keyframe overflowed a 2 Mbit/s link's 72 KB queue)
pub const FIRST_PACE_RATIO: f64 = 1.5;
/// … and at least this (bits per second; the rate is unknown until a first viewer watches).
pub const FIRST_PACE_MIN_BPS: f64 = 4_000_000.0;
/// Below this bitrate the low rung halves its frame rate (the last resort).
pub const HALF_RATE_BELOW: u32 = 300_000;

/// A rung of the ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rung {
    /// The shared stream at the configured bitrate.
    Full,
    /// The shared stream for slow links.
    Low,
}

impl Rung {
    /// The name in /metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Rung::Full => "full",
            Rung::Low => "low",
        }
    }
}

/// What a viewer's congestion control says about its link.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Link {
    /// GCC's estimate (bits per second): any sign of trouble lowers it.
    pub estimate_bps: f64,
    /// What the link delivered over the last second (bits per second, from the feedback).
    pub delivered_bps: f64,
    /// Share of packets lost over the last second.
    pub loss: f64,
    /// What the link carried while its queue was busy (bits per second; 0: it kept up).
    pub capacity_bps: f64,
}

impl Link {
    /// The best word on what the link carries (bits per second): its measured capacity,
    /// else what it delivered, else GCC's estimate; 0 when nothing is known.
    pub fn rate_bps(&self) -> f64 {
        [self.capacity_bps, self.delivered_bps, self.estimate_bps]
            .into_iter()
            .find(|r| *r > 0.0)
            .unwrap_or(0.0)
    }
}

/// One viewer's move decisions, and its share of the low rung while on it (pure).
///
/// Down: at once when the link's measured capacity is below [`CAPACITY_DOWN`] of the full
/// rung; or when GCC's estimate is below [`DOWN_RATIO`] of it, or loss above [`LOSS_DOWN`],
/// for [`DOWN_AFTER`]. On the low rung the viewer's share starts at [`ENTRY_SHARE`] of the
/// capacity (or of what the link delivered), is cut to [`LOW_SHARE`] of the delivered rate
/// way on loss, and grows while the link is clean (fast, then slowly near the last cut). Up:
/// the share has reached the low rung's ceiling ([`LOW_MAX_SHARE`] of the full rung) with a
/// clean link and GCC's estimate above [`UP_RATIO`] of the full rung, for the hold time.
#[derive(Debug, Clone)]
pub struct RungPolicy {
    rung: Rung,
    /// Since when the link has said "move" without a break.
    since: Option<Instant>,
    up_after: Duration,
    last_up: Option<Instant>,
    /// This viewer's share of the low rung (bits per second).
    share: f64,
    /// What the link delivered at the last cut (its measured size), and when.
    last_cut: Option<(Instant, f64)>,
    /// Since when the share has sat at the limit the last cut set, with a clean link.
    at_limit_since: Option<Instant>,
    /// When the viewer last moved down.
    moved_at: Option<Instant>,
    last_update: Option<Instant>,
}

impl Default for RungPolicy {
    fn default() -> Self {
        RungPolicy {
            rung: Rung::Full,
            since: None,
            up_after: UP_AFTER,
            last_up: None,
            share: 0.0,
            last_cut: None,
            at_limit_since: None,
            moved_at: None,
            last_update: None,
        }
    }
}

impl RungPolicy {
    /// The rung this viewer is on.
    pub fn rung(&self) -> Rung {
        self.rung
    }

    /// This viewer's share of the low rung (bits per second; meaningful on the low rung).
    pub fn share_bps(&self) -> f64 {
        self.share
    }

    /// Feeds what the link says against the full rung's measured rate; returns the rung to
    /// move to, if the viewer should move now.
    pub fn update(&mut self, now: Instant, link: Link, full_bps: f64) -> Option<Rung> {
        let dt = self
            .last_update
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        self.last_update = Some(now);
        if full_bps <= 0.0 || link.estimate_bps <= 0.0 {
            self.since = None;
            return None; // nothing measured yet
        }
        let ceiling = low_ceiling(full_bps);
        if self.rung == Rung::Low {
            self.steer_share(now, dt, link, ceiling);
        }
        let too_small = link.capacity_bps > 0.0 && link.capacity_bps < full_bps * CAPACITY_DOWN;
        let (wants_move, after) = match self.rung {
            Rung::Full if too_small => (true, Duration::ZERO),
            Rung::Full => (
                link.estimate_bps < full_bps * DOWN_RATIO || link.loss > LOSS_DOWN,
                DOWN_AFTER,
            ),
            Rung::Low => (
                self.share >= ceiling
                    && link.loss < LOSS_LOW
                    && link.estimate_bps > full_bps * UP_RATIO,
                self.up_after,
            ),
        };
        if !wants_move {
            self.since = None;
            return None;
        }
        let since = *self.since.get_or_insert(now);
        if now.saturating_duration_since(since) < after {
            return None;
        }
        self.since = None;
        self.rung = match self.rung {
            Rung::Full => {
                if self
                    .last_up
                    .is_some_and(|t| now.saturating_duration_since(t) < FALLBACK)
                {
                    self.up_after = (self.up_after * 2).min(UP_AFTER_MAX);
                }
                let base = if too_small {
                    link.capacity_bps
                } else if link.delivered_bps > 0.0 {
                    link.delivered_bps
                } else {
                    link.estimate_bps
                };
                self.share = (base * ENTRY_SHARE).clamp(LOW_MIN_BPS as f64, ceiling);
                self.last_cut = Some((now, base));
                self.moved_at = Some(now);
                Rung::Low
            }
            Rung::Low => {
                self.last_up = Some(now);
                Rung::Full
            }
        };
        Some(self.rung)
    }

    /// Whether the link has room to spare, so that it can be looked at less often: on the
    /// full rung, no move under way, GCC's estimate [`UP_RATIO`] above the full rung, no
    /// loss, and no measured capacity below the rung. A drop is then seen within the longer
    /// check plus [`DOWN_AFTER`].
    pub fn calm(&self, link: Link, full_bps: f64) -> bool {
        self.rung == Rung::Full
            && self.since.is_none()
            && full_bps > 0.0
            && link.loss < LOSS_LOW
            && link.estimate_bps > full_bps * UP_RATIO
            && (link.capacity_bps == 0.0 || link.capacity_bps >= full_bps)
    }

    /// On the low rung: cut the share on loss, grow it while the link is clean.
    fn steer_share(&mut self, now: Instant, dt: f64, link: Link, ceiling: f64) {
        // A measured capacity is the link's size, up or down: it replaces the estimate from
        // the last cut (so probing never pushes past a link that was just measured).
        if link.capacity_bps > 0.0 {
            if let Some((_, size)) = self.last_cut.as_mut() {
                *size = link.capacity_bps;
            }
        }
        let wait = if self.moved_at == self.last_cut.map(|c| c.0) {
            MOVE_GRACE
        } else {
            CUT_INTERVAL
        };
        let cut_due = self
            .last_cut
            .is_none_or(|(t, _)| now.saturating_duration_since(t) >= wait);
        if link.loss > LOSS_HIGH && cut_due {
            let delivered = if link.delivered_bps > 0.0 {
                link.delivered_bps
            } else {
                self.share
            };
            self.share = (self.share.min(delivered) * LOW_SHARE).max(LOW_MIN_BPS as f64);
            self.last_cut = Some((now, delivered));
            self.at_limit_since = None;
        } else if link.loss < LOSS_LOW {
            let limit = self
                .last_cut
                .map_or(ceiling, |(_, link)| (link * LINK_USE).min(ceiling));
            self.share = (self.share * (1.0 + GROWTH * dt.min(1.0))).min(limit.max(self.share));
            if self.share >= limit {
                let since = *self.at_limit_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= PROBE_AFTER {
                    if let Some((_, link)) = self.last_cut.as_mut() {
                        *link *= 1.05;
                    }
                    self.at_limit_since = None;
                }
            }
        }
        self.share = self
            .share
            .clamp(LOW_MIN_BPS as f64, ceiling.max(LOW_MIN_BPS as f64));
    }
}

/// The most the low rung sends: [`LOW_MAX_SHARE`] of the full rung, at least the floor.
fn low_ceiling(full_bps: f64) -> f64 {
    (full_bps * LOW_MAX_SHARE).max(LOW_MIN_BPS as f64)
}

/// A rung's settings, read by its encode thread before each frame: the low rung's (set by
/// the ladder), and the full rung's bitrate (set by a user through `/api/stream`).
#[derive(Debug, Default)]
pub struct RungControl {
    /// Target bitrate (bits per second); 0 before anyone has set one.
    pub target_bps: AtomicU32,
    /// Encode every Nth frame (1 or 2).
    pub frame_step: AtomicU32,
    /// The bitrate the encoder last took (0: none set yet); written by the encode thread.
    pub applied_bps: AtomicU32,
    /// The encoder refused the target (it cannot change its rate while it runs).
    pub refused: std::sync::atomic::AtomicBool,
}

/// The low rung's bitrate and frame step for the smallest share on it (pure).
pub fn low_settings(smallest_share_bps: f64, full_bps: f64) -> (u32, u32) {
    let bps = smallest_share_bps.clamp(LOW_MIN_BPS as f64, low_ceiling(full_bps)) as u32;
    (bps, if bps < HALF_RATE_BELOW { 2 } else { 1 })
}

/// Counters for /metrics.
#[derive(Debug, Default)]
pub struct LadderStats {
    /// Viewers moved to the low rung.
    pub moves_down: AtomicU64,
    /// Viewers moved back to the full rung.
    pub moves_up: AtomicU64,
}

/// The rungs every viewer's session shares.
#[derive(Debug)]
pub struct Ladder {
    full: Arc<FrameBus>,
    low: Option<(Arc<FrameBus>, Arc<RungControl>)>,
    /// Shares of the viewers on (or moving to) the low rung, by viewer id.
    low_viewers: Mutex<HashMap<u64, f64>>,
    /// The full rung's configured bitrate: its rate until one has been measured.
    nominal_bps: f64,
    next_id: AtomicU64,
    /// Counters.
    pub stats: LadderStats,
}

impl Ladder {
    /// A ladder of the full rung only: every viewer stays on it (adaptation off, or an
    /// encoder that cannot change its bitrate).
    pub fn fixed(full: Arc<FrameBus>) -> Arc<Ladder> {
        Ladder::build(full, None, 0.0)
    }

    /// The full rung (configured at `nominal_bps`) and the low one, whose encoder reads
    /// `control`.
    pub fn new(
        full: Arc<FrameBus>,
        low: Arc<FrameBus>,
        control: Arc<RungControl>,
        nominal_bps: f64,
    ) -> Arc<Ladder> {
        Ladder::build(full, Some((low, control)), nominal_bps)
    }

    fn build(
        full: Arc<FrameBus>,
        low: Option<(Arc<FrameBus>, Arc<RungControl>)>,
        nominal_bps: f64,
    ) -> Arc<Ladder> {
        Arc::new(Ladder {
            full,
            low,
            low_viewers: Mutex::new(HashMap::new()),
            nominal_bps,
            next_id: AtomicU64::new(1),
            stats: LadderStats::default(),
        })
    }

    /// The full rung's bus.
    pub fn full(&self) -> &Arc<FrameBus> {
        &self.full
    }

    /// The full rung's rate: measured over the last second, or its configured bitrate in
    /// its first second (a first viewer on a slow link must not wait a second to be judged).
    pub fn full_bps(&self) -> f64 {
        match self.full.rate_bps() {
            r if r > 0.0 => r,
            _ => self.nominal_bps,
        }
    }

    /// The low rung's bus, if there is one.
    pub fn low(&self) -> Option<&Arc<FrameBus>> {
        self.low.as_ref().map(|(bus, _)| bus)
    }

    /// The low rung's current target (bits per second; 0: idle or none).
    pub fn low_target_bps(&self) -> u32 {
        match &self.low {
            Some((bus, control)) if bus.viewers() > 0 => control.target_bps.load(Ordering::Relaxed),
            _ => 0,
        }
    }

    /// Viewers on the low rung (or moving to it).
    pub fn low_viewers(&self) -> usize {
        self.low_viewers.lock().map_or(0, |v| v.len())
    }

    /// A handle for one new viewer, on the full rung.
    pub fn viewer(self: &Arc<Self>) -> ViewerRung {
        ViewerRung {
            ladder: Arc::clone(self),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            policy: RungPolicy::default(),
        }
    }

    /// Subscribes to a rung's bus (the full one if there is no low rung).
    pub fn subscribe(&self, rung: Rung) -> Subscriber {
        match (rung, self.low()) {
            (Rung::Low, Some(low)) => low.subscribe(),
            _ => self.full.subscribe(),
        }
    }

    /// Records (or with `None` removes) one viewer's share of the low rung and sets the low
    /// encoder from the smallest.
    fn set_low_share(&self, id: u64, share: Option<f64>) {
        let Some((_, control)) = &self.low else {
            return;
        };
        let Ok(mut viewers) = self.low_viewers.lock() else {
            return;
        };
        match share {
            Some(e) => viewers.insert(id, e),
            None => viewers.remove(&id),
        };
        let slowest = viewers.values().copied().fold(f64::INFINITY, f64::min);
        if slowest.is_finite() {
            let (bps, step) = low_settings(slowest, self.full_bps());
            control.target_bps.store(bps, Ordering::Relaxed);
            control.frame_step.store(step, Ordering::Relaxed);
        }
    }
}

/// One viewer's place on the ladder. Dropping it takes the viewer off the low rung.
#[derive(Debug)]
pub struct ViewerRung {
    ladder: Arc<Ladder>,
    id: u64,
    policy: RungPolicy,
}

impl ViewerRung {
    /// The rung the policy has this viewer on.
    pub fn rung(&self) -> Rung {
        self.policy.rung()
    }

    /// The rate to spread this viewer's packets at (bits per second): on the low rung
    /// [`PACE_SHARE`] of its share; on the full rung none (a fast link takes the burst, and
    /// pacing would add a frame's worth of delay).
    pub fn pace_bps(&self) -> Option<f64> {
        (self.policy.rung() == Rung::Low)
            .then(|| (self.policy.share_bps() * PACE_SHARE).max(2.0 * LOW_MIN_BPS as f64))
    }

    /// The rate to spread a session's first keyframe at (bits per second):
    /// [`FIRST_PACE_RATIO`] of the full rung's rate, at least [`FIRST_PACE_MIN_BPS`]. Sent in
    /// one burst, a keyframe (ten P-frames' worth or more) overflows the queue of a link
    /// slower than the rung and the first picture is lost; spread, it fits the queue, and its
    /// packet train measures the link ([`Link::capacity_bps`]) before the P-frames bury it.
    /// On a fast link it delays the first picture by about one keyframe's worth at this rate.
    pub fn first_pace_bps(&self) -> f64 {
        (self.ladder.full_bps() * FIRST_PACE_RATIO).max(FIRST_PACE_MIN_BPS)
    }

    /// Whether this viewer's link can be looked at less often: always without a low rung
    /// (there is nowhere to move), else [`RungPolicy::calm`].
    pub fn calm(&self, link: Link) -> bool {
        self.ladder.low.is_none() || self.policy.calm(link, self.ladder.full_bps())
    }

    /// Feeds what this viewer's link says; returns the rung to move to now, if any. On the
    /// low rung the viewer's share also steers the low encoder.
    pub fn update(&mut self, now: Instant, link: Link) -> Option<Rung> {
        self.ladder.low.as_ref()?;
        let full = self.ladder.full_bps();
        let moved = self.policy.update(now, link, full);
        match moved {
            Some(Rung::Low) => {
                self.ladder.stats.moves_down.fetch_add(1, Ordering::Relaxed);
            }
            Some(Rung::Full) => {
                self.ladder.stats.moves_up.fetch_add(1, Ordering::Relaxed);
                self.ladder.set_low_share(self.id, None);
            }
            None => {}
        }
        if self.policy.rung() == Rung::Low {
            self.ladder
                .set_low_share(self.id, Some(self.policy.share_bps()));
        }
        moved
    }
}

impl Drop for ViewerRung {
    fn drop(&mut self) {
        self.ladder.set_low_share(self.id, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::Codec;

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    fn link(estimate_bps: f64, delivered_bps: f64, loss: f64) -> Link {
        Link {
            estimate_bps,
            delivered_bps,
            loss,
            capacity_bps: 0.0,
        }
    }

    const FULL: f64 = 3_000_000.0;

    #[test]
    fn a_viewer_moves_down_only_after_a_sustained_shortfall() {
        let t0 = Instant::now();
        let mut p = RungPolicy::default();
        // Nothing measured yet: no move whatever the estimate.
        assert_eq!(p.update(t0, link(100_000.0, 0.0, 0.5), 0.0), None);
        // A dip shorter than DOWN_AFTER, then recovery: stays.
        let dip = link(1_000_000.0, 2_000_000.0, 0.2);
        assert_eq!(p.update(at(t0, 0), dip, FULL), None);
        assert_eq!(p.update(at(t0, 250), dip, FULL), None);
        assert_eq!(
            p.update(at(t0, 280), link(2_900_000.0, FULL, 0.0), FULL),
            None
        );
        // 0.85 of the rate (one GCC decrease on a clean link) is not a shortfall.
        let clean_cut = link(2_550_000.0, FULL, 0.0);
        assert_eq!(p.update(at(t0, 1000), clean_cut, FULL), None);
        assert_eq!(p.update(at(t0, 3000), clean_cut, FULL), None);
        // A 2 Mbit/s link under a 3 Mbit/s rung: down after DOWN_AFTER, with a share of
        // ENTRY_SHARE of what the link delivered.
        let slow = link(1_500_000.0, 2_000_000.0, 0.3);
        assert_eq!(p.update(at(t0, 4000), slow, FULL), None);
        assert_eq!(p.update(at(t0, 4200), slow, FULL), None);
        assert_eq!(p.update(at(t0, 4300), slow, FULL), Some(Rung::Low));
        assert_eq!(p.rung(), Rung::Low);
        assert_eq!(p.share_bps(), 1_200_000.0);
    }

    #[test]
    fn a_link_is_calm_only_with_room_to_spare_and_no_move_under_way() {
        let t0 = Instant::now();
        let mut p = RungPolicy::default();
        let roomy = link(FULL * 2.0, FULL, 0.0);
        assert!(p.calm(roomy, FULL));
        // Nothing measured of the rung yet, too little room, loss, or a capacity under the
        // rung: not calm.
        assert!(!p.calm(roomy, 0.0));
        assert!(!p.calm(link(FULL * 1.2, FULL, 0.0), FULL));
        assert!(!p.calm(link(FULL * 2.0, FULL, 0.02), FULL));
        let short = Link {
            capacity_bps: FULL * 0.9,
            ..roomy
        };
        assert!(!p.calm(short, FULL));
        // A shortfall being timed (not yet DOWN_AFTER long) is not calm even if the next
        // look is roomy; after the move, the low rung never is.
        let slow = link(1_500_000.0, 2_000_000.0, 0.3);
        assert_eq!(p.update(at(t0, 0), slow, FULL), None);
        assert!(!p.calm(roomy, FULL));
        assert_eq!(p.update(at(t0, 400), slow, FULL), Some(Rung::Low));
        assert!(!p.calm(roomy, FULL));
    }

    #[test]
    fn a_measured_capacity_under_the_full_rung_moves_a_viewer_down_at_once() {
        let t0 = Instant::now();
        let mut p = RungPolicy::default();
        let measured = |capacity_bps| Link {
            capacity_bps,
            ..link(FULL, 0.0, 0.0)
        };
        // A link that queued a burst but carries the full rung (at least CAPACITY_DOWN of
        // it): stays.
        assert_eq!(p.update(at(t0, 0), measured(FULL * 0.96), FULL), None);
        assert_eq!(p.update(at(t0, 100), measured(FULL * 2.0), FULL), None);
        // Its first keyframe's packet train says 1.9 Mbit/s: down now (GCC has not noticed,
        // nothing is lost yet), with ENTRY_SHARE of that capacity, and a limit just under it.
        assert_eq!(
            p.update(at(t0, 200), measured(1_900_000.0), FULL),
            Some(Rung::Low)
        );
        assert_eq!(p.share_bps(), 1_900_000.0 * ENTRY_SHARE);
        let mut t = 1200;
        while p
            .update(at(t0, t), link(FULL, 1_500_000.0, 0.0), FULL)
            .is_none()
            && t < 15_000
        {
            t += 1000;
        }
        assert!(
            (p.share_bps() - 1_900_000.0 * LINK_USE).abs() < 1.0,
            "{}",
            p.share_bps()
        );
        // Probing (PROBE_AFTER clean at the limit) never passes a capacity measured since:
        // the paced low rung keeps the queue busy on every frame, so the link is measured all
        // along.
        let on_low = Link {
            capacity_bps: 1_900_000.0,
            ..link(FULL, 1_700_000.0, 0.0)
        };
        for s in 0..60 {
            p.update(at(t0, t + 1000 + s * 1000), on_low, FULL);
        }
        assert!(
            (p.share_bps() - 1_900_000.0 * LINK_USE).abs() < 1.0,
            "{}",
            p.share_bps()
        );
        // A faster link measured: the limit follows it up.
        for s in 0..10 {
            let faster = Link {
                capacity_bps: 2_200_000.0,
                ..on_low
            };
            p.update(at(t0, t + 61_000 + s * 1000), faster, FULL);
        }
        assert!(
            (p.share_bps() - 2_200_000.0 * LINK_USE).abs() < 1.0,
            "{}",
            p.share_bps()
        );
    }

    #[test]
    fn the_share_is_cut_on_loss_and_grows_to_just_under_the_measured_link() {
        let t0 = Instant::now();
        let mut p = RungPolicy::default();
        let slow = link(1_500_000.0, 2_000_000.0, 0.3);
        p.update(at(t0, 200), slow, FULL);
        assert_eq!(p.update(at(t0, 500), slow, FULL), Some(Rung::Low));
        assert_eq!(p.share_bps(), 1_200_000.0, "ENTRY_SHARE of 2 Mbit/s");
        // The full rung's loss still being reported: no cut within MOVE_GRACE …
        p.update(at(t0, 600), link(1_000_000.0, 1_900_000.0, 0.2), FULL);
        p.update(at(t0, 1400), link(1_000_000.0, 1_900_000.0, 0.2), FULL);
        assert_eq!(p.share_bps(), 1_200_000.0);
        // … then loss cuts, at most once per CUT_INTERVAL, to LOW_SHARE of the delivered
        // rate (the link's size: 1.9 Mbit/s) or of the share, whichever is less.
        p.update(at(t0, 1500), link(1_000_000.0, 1_900_000.0, 0.2), FULL);
        assert_eq!(p.share_bps(), 1_200_000.0 * LOW_SHARE);
        p.update(at(t0, 1900), link(1_000_000.0, 1_900_000.0, 0.2), FULL);
        assert_eq!(p.share_bps(), 1_200_000.0 * LOW_SHARE);
        // Clean: +8 % a second …
        let before = p.share_bps();
        p.update(at(t0, 2900), link(1_000_000.0, 1_000_000.0, 0.0), FULL);
        assert!(
            (p.share_bps() - before * 1.08).abs() < 1.0,
            "{}",
            p.share_bps()
        );
        // … up to LINK_USE of the link measured at the cut, and no further for PROBE_AFTER.
        let limit = 1_900_000.0 * LINK_USE;
        let mut t = 3900;
        while p.share_bps() < limit {
            p.update(at(t0, t), link(1_000_000.0, 1_500_000.0, 0.0), FULL);
            t += 1000;
        }
        assert_eq!(p.share_bps(), limit);
        for _ in 0..19 {
            p.update(at(t0, t), link(1_000_000.0, 1_700_000.0, 0.0), FULL);
            t += 1000;
        }
        assert_eq!(p.share_bps(), limit);
        // Then a probe: the link is assumed 5 % bigger.
        p.update(at(t0, t), link(1_000_000.0, 1_700_000.0, 0.0), FULL);
        p.update(at(t0, t + 1000), link(1_000_000.0, 1_700_000.0, 0.0), FULL);
        assert!(
            (p.share_bps() - limit * 1.05).abs() < 1.0,
            "{}",
            p.share_bps()
        );
        // Loss between the thresholds: hold.
        let held = p.share_bps();
        p.update(at(t0, t + 2000), link(1_000_000.0, 1_700_000.0, 0.03), FULL);
        assert_eq!(p.share_bps(), held);
        // Never below the floor.
        for s in 0..30 {
            p.update(
                at(t0, t + 3000 + s * 1000),
                link(100_000.0, 10_000.0, 0.9),
                FULL,
            );
        }
        assert_eq!(p.share_bps(), LOW_MIN_BPS as f64);
    }

    #[test]
    fn moving_back_up_needs_a_clean_link_at_the_ceiling_and_waits_longer_each_time_it_was_wrong() {
        let t0 = Instant::now();
        let mut p = RungPolicy::default();
        let slow = link(1_500_000.0, 2_000_000.0, 0.3);
        p.update(at(t0, 200), slow, FULL);
        assert_eq!(p.update(at(t0, 500), slow, FULL), Some(Rung::Low));
        // A big estimate alone is not enough: the share must first reach the ceiling, which
        // takes the link growing past what it delivered at the move (probes every 20 s).
        let clean = link(5_000_000.0, 2_000_000.0, 0.0);
        let mut t = 1000;
        while p.share_bps() < FULL * LOW_MAX_SHARE {
            assert_eq!(p.update(at(t0, t), clean, FULL), None);
            t += 1000;
        }
        // Then UP_AFTER of it (counted from the update that reached the ceiling).
        let t = t - 1000;
        assert_eq!(p.update(at(t0, t + 4900), clean, FULL), None);
        assert_eq!(p.update(at(t0, t + 5000), clean, FULL), Some(Rung::Full));
        // The link could not take it: down again within FALLBACK …
        let t = t + 5000;
        assert_eq!(p.update(at(t0, t + 1000), slow, FULL), None);
        assert_eq!(p.update(at(t0, t + 1300), slow, FULL), Some(Rung::Low));
        // … so the next move up waits 10 s, not 5.
        let mut t = t + 2000;
        assert!(p.share_bps() < FULL * LOW_MAX_SHARE);
        while p.share_bps() < FULL * LOW_MAX_SHARE {
            p.update(at(t0, t), clean, FULL);
            t += 1000;
        }
        let t = t - 1000;
        assert_eq!(p.update(at(t0, t + 5000), clean, FULL), None);
        assert_eq!(p.update(at(t0, t + 9900), clean, FULL), None);
        assert_eq!(p.update(at(t0, t + 10_000), clean, FULL), Some(Rung::Full));
    }

    #[test]
    fn the_low_rung_follows_the_smallest_share_within_bounds() {
        assert_eq!(low_settings(1_700_000.0, FULL), (1_700_000, 1));
        // Never above 0.8 of the full rung …
        assert_eq!(low_settings(10_000_000.0, FULL), (2_400_000, 1));
        // … never below the floor, and at the bottom half the frame rate.
        assert_eq!(low_settings(50_000.0, FULL), (LOW_MIN_BPS, 2));
        assert_eq!(low_settings(250_000.0, FULL).1, 2);
        assert_eq!(low_settings(400_000.0, FULL).1, 1);
    }

    #[test]
    fn a_slow_viewer_lowers_only_the_low_rung_and_leaving_clears_it() {
        let full = FrameBus::new(Codec::H264);
        let low = FrameBus::new(Codec::H264);
        let control = Arc::new(RungControl::default());
        let ladder = Ladder::new(
            Arc::clone(&full),
            Arc::clone(&low),
            Arc::clone(&control),
            0.0,
        );
        let t0 = Instant::now();
        // Make the full rung's measured rate 2.4 Mbit/s.
        for i in 0..=60u64 {
            full.publish(frame(i, at(t0, i * 1000 / 30)));
        }
        let rate = full.rate_bps();
        assert!(rate > 2_000_000.0, "{rate}");
        let mut fast = ladder.viewer();
        let mut slow = ladder.viewer();
        for ms in (0..=800).step_by(100) {
            assert_eq!(fast.update(at(t0, ms), link(20e6, 2.4e6, 0.0)), None);
            let moved = slow.update(at(t0, ms), link(500_000.0, 1_000_000.0, 0.3));
            assert_eq!(moved.is_some(), ms == 300, "{ms}");
        }
        assert_eq!((fast.rung(), slow.rung()), (Rung::Full, Rung::Low));
        assert_eq!(ladder.low_viewers(), 1);
        // ENTRY_SHARE of the delivered 1 Mbit/s (the loss after the move is the full rung's).
        assert_eq!(control.target_bps.load(Ordering::Relaxed), 600_000);
        assert_eq!(ladder.stats.moves_down.load(Ordering::Relaxed), 1);
        drop(slow);
        assert_eq!(ladder.low_viewers(), 0);
        // Without a low rung nobody moves.
        let fixed = Ladder::fixed(full);
        let mut v = fixed.viewer();
        for ms in (0..5000).step_by(100) {
            assert_eq!(v.update(at(t0, ms), link(1000.0, 1000.0, 0.5)), None);
        }
    }

    fn frame(seq: u64, at: Instant) -> Arc<crate::media::EncodedFrame> {
        // 10 kB a frame at 30 frames/s.
        Arc::new(crate::media::EncodedFrame {
            codec: Codec::H264,
            keyframe: seq == 0,
            data: bytes::Bytes::from(vec![0u8; 10_000]),
            width: 2,
            height: 2,
            captured: crate::media::CaptureTime {
                instant: at,
                unix_ms: 0,
            },
            sequence: seq,
            encoded_at: at,
        })
    }
}
