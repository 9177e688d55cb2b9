//! Fan-out of one encoded stream to every viewer: [`FrameBus`] and [`Subscriber`].
//!
//! One encoder publishes; any number of viewers subscribe. Each viewer reads from a bounded
//! ring (a `tokio::sync::broadcast`) with its own cursor: a viewer that falls more than
//! [`VIEWER_QUEUE`] frames behind loses the oldest ones, skips to the next keyframe and asks
//! for one. Publishing never waits for a viewer. Frames are `Arc`s: no copy per viewer.

use super::{Codec, EncodedFrame};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Length of one window of [`RateMeter`].
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// Frames a viewer may fall behind before it loses frames. When full, the oldest frame is
/// overwritten; that viewer then waits for the next keyframe (H.264) and a keyframe is
/// requested. Small on purpose: a queued frame is added latency.
pub const VIEWER_QUEUE: usize = 4;

/// Counters a bus keeps for /metrics and /api/state.
#[derive(Debug, Default)]
pub struct BusStats {
    /// Frames published.
    pub published: AtomicU64,
    /// Frames viewers lost (lag, or skipped while waiting for a keyframe).
    pub dropped: AtomicU64,
    /// Keyframe requests received (before coalescing).
    pub keyframe_requests: AtomicU64,
}

/// One encoded stream shared by all of its viewers.
#[derive(Debug)]
pub struct FrameBus {
    codec: Codec,
    /// Sender: the encode thread (`publish`). Receivers: one per [`Subscriber`].
    tx: broadcast::Sender<Arc<EncodedFrame>>,
    /// The most recent frame, for snapshots and for a new MJPEG client's first picture.
    latest: Mutex<Option<Arc<EncodedFrame>>>,
    keyframe_requested: AtomicBool,
    viewers: AtomicUsize,
    /// Wakes an idle encoder when the first viewer subscribes ([`FrameBus::wait_for_viewers`]).
    arrivals: (Mutex<()>, Condvar),
    rate: Mutex<RateMeter>,
    /// Counters.
    pub stats: BusStats,
}

/// The bitrate a stream sends while it is sending: bytes published per 1 s window, smoothed
/// over windows (halving the old value each window). A window that spans an idle gap of the
/// encoder (no viewers) is not counted, so an idle stream remembers what it sent when busy.
#[derive(Debug, Default, Clone)]
pub struct RateMeter {
    window_start: Option<Instant>,
    last: Option<Instant>,
    bytes: u64,
    bps: f64,
}

impl RateMeter {
    /// Counts `bytes` published at `now`.
    pub fn add(&mut self, now: Instant, bytes: usize) {
        let idle = self
            .last
            .is_some_and(|t| now.saturating_duration_since(t) > RATE_WINDOW);
        self.last = Some(now);
        let start = match self.window_start {
            Some(start) if !idle => start,
            _ => {
                self.window_start = Some(now);
                self.bytes = bytes as u64;
                return;
            }
        };
        let elapsed = now.saturating_duration_since(start);
        if elapsed >= RATE_WINDOW {
            let bps = self.bytes as f64 * 8.0 / elapsed.as_secs_f64();
            self.bps = if self.bps == 0.0 {
                bps
            } else {
                (self.bps + bps) / 2.0
            };
            self.window_start = Some(now);
            self.bytes = 0;
        }
        self.bytes += bytes as u64;
    }

    /// Bits per second while sending (0 until one window has passed).
    pub fn bps(&self) -> f64 {
        self.bps
    }
}

impl FrameBus {
    /// A bus for one codec.
    pub fn new(codec: Codec) -> Arc<FrameBus> {
        FrameBus::with_queue(codec, VIEWER_QUEUE)
    }

    /// A bus whose viewers may fall `queue` frames behind before they lose frames (the
    /// ladder's low rung: its viewers' packets are paced, so a keyframe takes a few frame
    /// times to leave).
    pub fn with_queue(codec: Codec, queue: usize) -> Arc<FrameBus> {
        let (tx, _) = broadcast::channel(queue.max(1));
        Arc::new(FrameBus {
            codec,
            tx,
            latest: Mutex::new(None),
            keyframe_requested: AtomicBool::new(false),
            viewers: AtomicUsize::new(0),
            arrivals: (Mutex::new(()), Condvar::new()),
            rate: Mutex::new(RateMeter::default()),
            stats: BusStats::default(),
        })
    }

    /// The codec this bus carries.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Publishes a frame to every viewer. Never blocks.
    pub fn publish(&self, frame: Arc<EncodedFrame>) {
        self.stats.published.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut rate) = self.rate.lock() {
            rate.add(frame.encoded_at, frame.data.len());
        }
        if let Ok(mut latest) = self.latest.lock() {
            *latest = Some(Arc::clone(&frame));
        }
        // An error only means nobody is subscribed right now.
        let _ = self.tx.send(frame);
    }

    /// The stream's bitrate while it sends ([`RateMeter`]).
    pub fn rate_bps(&self) -> f64 {
        self.rate.lock().map_or(0.0, |r| r.bps())
    }

    /// The last frame published, if any.
    pub fn latest(&self) -> Option<Arc<EncodedFrame>> {
        self.latest.lock().ok().and_then(|l| l.clone())
    }

    /// Adds a viewer. It starts at the next keyframe; one is requested for it.
    pub fn subscribe(self: &Arc<Self>) -> Subscriber {
        self.viewers.fetch_add(1, Ordering::SeqCst);
        self.request_keyframe();
        // Under the lock: a waiter is either before its check (and sees the viewer) or
        // inside its wait (and is woken), never between.
        let _held = self.arrivals.0.lock();
        self.arrivals.1.notify_all();
        Subscriber {
            rx: self.tx.subscribe(),
            bus: Arc::clone(self),
            need_keyframe: true,
            dropped: 0,
        }
    }

    /// Blocks an idle encode thread until a viewer subscribes or `timeout` passes (so it can
    /// look at its stop flag); true when there is a viewer. Instead of polling: an idle
    /// stream costs no wake-ups beyond one per `timeout`.
    pub fn wait_for_viewers(&self, timeout: std::time::Duration) -> bool {
        let Ok(guard) = self.arrivals.0.lock() else {
            return self.viewers() > 0;
        };
        let waited = self
            .arrivals
            .1
            .wait_timeout_while(guard, timeout, |_| self.viewers() == 0);
        drop(waited);
        self.viewers() > 0
    }

    /// Viewers currently subscribed. The encoder idles at zero.
    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::SeqCst)
    }

    /// Asks the encoder for a keyframe; requests coalesce until it takes them.
    pub fn request_keyframe(&self) {
        self.stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
        self.keyframe_requested.store(true, Ordering::SeqCst);
    }

    /// For the encoder: whether a keyframe was requested since the last call (clears it).
    pub fn take_keyframe_request(&self) -> bool {
        self.keyframe_requested.swap(false, Ordering::SeqCst)
    }
}

/// One viewer's cursor on a [`FrameBus`]. Dropping it removes the viewer.
#[derive(Debug)]
pub struct Subscriber {
    rx: broadcast::Receiver<Arc<EncodedFrame>>,
    bus: Arc<FrameBus>,
    need_keyframe: bool,
    dropped: u64,
}

impl Subscriber {
    /// The next frame this viewer can decode, or `None` when the bus is gone. After a lag
    /// it skips to the next keyframe (and asks for one).
    pub async fn recv(&mut self) -> Option<Arc<EncodedFrame>> {
        loop {
            match self.rx.recv().await {
                Ok(frame) => {
                    if let Some(frame) = self.accept(frame) {
                        return Some(frame);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => self.lagged(n),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Like [`recv`](Self::recv) but returns only the newest frame waiting, dropping older
    /// ones (MJPEG clients: every frame is a keyframe, only the latest matters).
    pub async fn recv_latest(&mut self) -> Option<Arc<EncodedFrame>> {
        let mut frame = self.recv().await?;
        loop {
            match self.rx.try_recv() {
                Ok(newer) => {
                    if let Some(newer) = self.accept(newer) {
                        self.count_drop(1);
                        frame = newer;
                    }
                }
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.lagged(n),
                Err(_) => return Some(frame),
            }
        }
    }

    /// Asks this viewer's stream for a keyframe (the browser lost a picture).
    pub fn request_keyframe(&self) {
        self.bus.request_keyframe();
    }

    /// Frames this viewer lost so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn accept(&mut self, frame: Arc<EncodedFrame>) -> Option<Arc<EncodedFrame>> {
        if self.need_keyframe && !frame.keyframe {
            self.count_drop(1);
            return None;
        }
        self.need_keyframe = false;
        Some(frame)
    }

    fn lagged(&mut self, n: u64) {
        self.count_drop(n);
        if self.bus.codec == Codec::H264 {
            self.need_keyframe = true;
            self.bus.request_keyframe();
        }
    }

    fn count_drop(&mut self, n: u64) {
        self.dropped += n;
        self.bus.stats.dropped.fetch_add(n, Ordering::Relaxed);
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.bus.viewers.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::CaptureTime;
    use bytes::Bytes;
    use std::time::{Instant, SystemTime};

    #[test]
    fn an_idle_encoder_sleeps_until_the_first_viewer_arrives() {
        use std::time::Duration;
        let bus = FrameBus::new(Codec::H264);
        let t = Instant::now();
        assert!(
            !bus.wait_for_viewers(Duration::from_millis(50)),
            "nobody yet"
        );
        assert!(t.elapsed() >= Duration::from_millis(50), "it waited");
        let waiter = {
            let bus = Arc::clone(&bus);
            std::thread::spawn(move || {
                let t = Instant::now();
                (bus.wait_for_viewers(Duration::from_secs(10)), t.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(30));
        let _viewer = bus.subscribe();
        let (arrived, waited) = waiter.join().unwrap();
        assert!(arrived);
        assert!(
            waited < Duration::from_secs(2),
            "woken by the subscription, not the timeout: {waited:?}"
        );
        assert!(
            bus.wait_for_viewers(Duration::from_secs(10)),
            "returns at once"
        );
    }

    fn frame(seq: u64, keyframe: bool) -> Arc<EncodedFrame> {
        let unix_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Arc::new(EncodedFrame {
            codec: Codec::H264,
            keyframe,
            data: Bytes::from_static(b"x"),
            width: 2,
            height: 2,
            captured: CaptureTime {
                instant: Instant::now(),
                unix_ms,
            },
            sequence: seq,
            encoded_at: Instant::now(),
        })
    }

    #[tokio::test]
    async fn a_new_viewer_starts_at_a_keyframe_and_requests_one() {
        let bus = FrameBus::new(Codec::H264);
        assert!(!bus.take_keyframe_request());
        let mut sub = bus.subscribe();
        assert_eq!(bus.viewers(), 1);
        assert!(bus.take_keyframe_request());
        bus.publish(frame(1, false));
        bus.publish(frame(2, true));
        bus.publish(frame(3, false));
        assert_eq!(sub.recv().await.map(|f| f.sequence), Some(2));
        assert_eq!(sub.recv().await.map(|f| f.sequence), Some(3));
        assert_eq!(sub.dropped(), 1);
        drop(sub);
        assert_eq!(bus.viewers(), 0);
    }

    #[tokio::test]
    async fn a_slow_viewer_loses_frames_without_stalling_the_publisher_or_others() {
        let bus = FrameBus::new(Codec::H264);
        let mut slow = bus.subscribe();
        let mut fast = bus.subscribe();
        bus.take_keyframe_request();
        bus.publish(frame(0, true));
        assert_eq!(fast.recv().await.map(|f| f.sequence), Some(0));
        // The publisher goes on far past the queue bound; `publish` never waits.
        for seq in 1..=20 {
            bus.publish(frame(seq, seq == 18));
            assert_eq!(fast.recv().await.map(|f| f.sequence), Some(seq));
        }
        // The slow one lagged: it must request a keyframe and resume at one (18), not at
        // the oldest P-frame still held.
        assert_eq!(slow.recv().await.map(|f| f.sequence), Some(18));
        assert!(
            bus.take_keyframe_request(),
            "lagging viewer asks for a keyframe"
        );
        assert!(slow.dropped() >= 17, "dropped {}", slow.dropped());
        assert_eq!(fast.dropped(), 0);
        assert_eq!(slow.recv().await.map(|f| f.sequence), Some(19));
        assert_eq!(slow.recv().await.map(|f| f.sequence), Some(20));
        assert_eq!(slow.try_next(), None, "nothing left");
    }

    #[tokio::test]
    async fn mjpeg_viewers_take_only_the_latest_frame() {
        let bus = FrameBus::new(Codec::Mjpeg);
        let mut sub = bus.subscribe();
        for seq in 0..3 {
            bus.publish(frame(seq, true));
        }
        assert_eq!(sub.recv_latest().await.map(|f| f.sequence), Some(2));
        assert_eq!(sub.dropped(), 2);
        assert_eq!(bus.latest().map(|f| f.sequence), Some(2));
    }

    #[test]
    fn the_rate_meter_measures_while_sending_and_remembers_through_idle_gaps() {
        let t0 = Instant::now();
        let mut m = RateMeter::default();
        // 30 frames/s of 10 kB: 2.4 Mbit/s.
        for i in 0..=90u64 {
            m.add(t0 + Duration::from_millis(i * 1000 / 30), 10_000);
        }
        assert!((m.bps() - 2_400_000.0).abs() < 150_000.0, "{}", m.bps());
        // Idle for 10 s (no viewers), then one frame: the gap is not a window.
        m.add(t0 + Duration::from_secs(13), 10_000);
        assert!((m.bps() - 2_400_000.0).abs() < 150_000.0, "{}", m.bps());
        // Then 1.2 Mbit/s: the value moves halfway a window.
        for i in 1..=31u64 {
            m.add(
                t0 + Duration::from_secs(13) + Duration::from_millis(i * 1000 / 30),
                5_000,
            );
        }
        assert!((m.bps() - 1_800_000.0).abs() < 150_000.0, "{}", m.bps());
    }

    impl Subscriber {
        fn try_next(&mut self) -> Option<u64> {
            self.rx.try_recv().ok().map(|f| f.sequence)
        }
    }
}
