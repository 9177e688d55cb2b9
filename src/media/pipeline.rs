//! The video pipeline's threads: one capture thread that puts each frame into a latest-wins
//! slot ([`LatestFrame`]), and one encode thread per stream (H.264, MJPEG) that takes the
//! newest frame, encodes it and publishes it on that stream's [`FrameBus`].
//!
//! Capture never waits for an encoder; an encoder that is slower than the source skips to
//! the newest frame. A stream with no viewers encodes nothing.

use super::capture::{CaptureError, CaptureSource, SourceInfo};
use super::encode::Encoder;
use super::fanout::FrameBus;
use super::keyframe::KeyframeGate;
use super::RawFrame;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long threads wait before re-checking the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// Pause between attempts to open a source that failed.
const REOPEN_DELAY: Duration = Duration::from_secs(1);
/// Consecutive grab errors (other than timeouts) after which the source is reopened.
const MAX_GRAB_ERRORS: u32 = 10;

/// The newest captured frame; older ones are overwritten, never queued.
#[derive(Debug, Default)]
pub struct LatestFrame {
    slot: Mutex<(u64, Option<Arc<RawFrame>>)>,
    cond: Condvar,
}

impl LatestFrame {
    /// Replaces the frame and wakes waiting encoders.
    pub fn put(&self, frame: Arc<RawFrame>) {
        if let Ok(mut slot) = self.slot.lock() {
            slot.0 += 1;
            slot.1 = Some(frame);
        }
        self.cond.notify_all();
    }

    /// The newest frame and its generation.
    pub fn latest(&self) -> Option<(u64, Arc<RawFrame>)> {
        let slot = self.slot.lock().ok()?;
        slot.1.clone().map(|f| (slot.0, f))
    }

    /// Waits up to `timeout` for a frame newer than generation `after`.
    pub fn wait_newer(&self, after: u64, timeout: Duration) -> Option<(u64, Arc<RawFrame>)> {
        let slot = self.slot.lock().ok()?;
        let (slot, _) = self
            .cond
            .wait_timeout_while(slot, timeout, |s| s.0 <= after)
            .ok()?;
        if slot.0 > after {
            slot.1.clone().map(|f| (slot.0, f))
        } else {
            None
        }
    }
}

/// Counters and state of one encode stream, for /metrics and /api/state.
#[derive(Debug, Default)]
pub struct EncodeStats {
    /// Frames encoded.
    pub frames: AtomicU64,
    /// Frames the encoder skipped (rate control).
    pub skipped: AtomicU64,
    /// Frames that failed to encode.
    pub errors: AtomicU64,
    /// Keyframes produced.
    pub keyframes: AtomicU64,
    /// Sum of encode times in microseconds.
    pub encode_us_total: AtomicU64,
    /// Last encode time in microseconds.
    pub encode_us_last: AtomicU64,
    /// Last capture → publish time in microseconds (server-added latency up to fan-out).
    pub pipeline_us_last: AtomicU64,
}

/// What the capture thread reports.
#[derive(Debug, Default)]
pub struct CaptureState {
    /// The open source, if any.
    pub info: Mutex<Option<SourceInfo>>,
    /// The last error, cleared when frames flow again.
    pub error: Mutex<Option<String>>,
    /// Frames captured.
    pub frames: AtomicU64,
}

/// Opens (or reopens) the source. Called on the capture thread.
pub type SourceFactory = Box<dyn FnMut() -> Result<Box<dyn CaptureSource>, CaptureError> + Send>;

/// A running pipeline. Dropping it does not stop it; call [`Pipeline::stop`].
pub struct Pipeline {
    /// The H.264 stream (WebRTC viewers).
    pub h264: Arc<FrameBus>,
    /// The MJPEG stream (MJPEG page, snapshots).
    pub mjpeg: Arc<FrameBus>,
    /// The newest raw frame (snapshots when nobody watches MJPEG).
    pub raw: Arc<LatestFrame>,
    /// Capture state.
    pub capture: Arc<CaptureState>,
    /// H.264 encode counters.
    pub h264_stats: Arc<EncodeStats>,
    /// MJPEG encode counters.
    pub mjpeg_stats: Arc<EncodeStats>,
    /// Name of the H.264 encoder.
    pub h264_encoder: &'static str,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts the capture thread and both encode threads.
    pub fn start(
        factory: SourceFactory,
        h264: Box<dyn Encoder>,
        mjpeg: Box<dyn Encoder>,
    ) -> std::io::Result<Pipeline> {
        let stop = Arc::new(AtomicBool::new(false));
        let raw = Arc::new(LatestFrame::default());
        let capture = Arc::new(CaptureState::default());
        let h264_bus = FrameBus::new(h264.codec());
        let mjpeg_bus = FrameBus::new(mjpeg.codec());
        let h264_stats = Arc::new(EncodeStats::default());
        let mjpeg_stats = Arc::new(EncodeStats::default());
        let h264_encoder = h264.name();
        let mut threads = Vec::new();
        {
            let (stop, raw, capture) = (Arc::clone(&stop), Arc::clone(&raw), Arc::clone(&capture));
            threads.push(
                std::thread::Builder::new()
                    .name("capture".into())
                    .spawn(move || capture_loop(factory, &raw, &capture, &stop))?,
            );
        }
        for (name, enc, bus, stats) in [
            (
                "encode-h264",
                h264,
                Arc::clone(&h264_bus),
                Arc::clone(&h264_stats),
            ),
            (
                "encode-mjpeg",
                mjpeg,
                Arc::clone(&mjpeg_bus),
                Arc::clone(&mjpeg_stats),
            ),
        ] {
            let (stop, raw) = (Arc::clone(&stop), Arc::clone(&raw));
            threads.push(
                std::thread::Builder::new()
                    .name(name.into())
                    .spawn(move || encode_loop(enc, &raw, &bus, &stats, &stop))?,
            );
        }
        Ok(Pipeline {
            h264: h264_bus,
            mjpeg: mjpeg_bus,
            raw,
            capture,
            h264_stats,
            mjpeg_stats,
            h264_encoder,
            stop,
            threads,
        })
    }

    /// Stops every thread and waits for them.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn set_error(state: &CaptureState, error: Option<String>) {
    if let Ok(mut e) = state.error.lock() {
        if *e != error {
            match &error {
                Some(msg) => tracing::warn!(target: "capture", "{msg}"),
                None => tracing::info!(target: "capture", "frames flowing"),
            }
            *e = error;
        }
    }
}

fn capture_loop(
    mut factory: SourceFactory,
    raw: &LatestFrame,
    state: &CaptureState,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::SeqCst) {
        let mut source = match factory() {
            Ok(s) => s,
            Err(e) => {
                set_error(state, Some(e.to_string()));
                sleep_unless_stopped(REOPEN_DELAY, stop);
                continue;
            }
        };
        let info = source.info();
        tracing::info!(target: "capture", source = %info.name, driver = %info.driver, format = %info.format,
            width = info.width, height = info.height, fps = info.fps, "source open");
        if let Ok(mut i) = state.info.lock() {
            *i = Some(info);
        }
        let mut errors = 0;
        while !stop.load(Ordering::SeqCst) && errors < MAX_GRAB_ERRORS {
            match source.grab() {
                Ok(frame) => {
                    errors = 0;
                    state.frames.fetch_add(1, Ordering::Relaxed);
                    set_error(state, None);
                    raw.put(Arc::new(frame));
                }
                Err(CaptureError::Timeout(_)) => {}
                Err(e @ CaptureError::NoDevice(_)) => {
                    set_error(state, Some(e.to_string()));
                    break;
                }
                Err(e) => {
                    errors += 1;
                    set_error(state, Some(e.to_string()));
                    sleep_unless_stopped(POLL, stop);
                }
            }
        }
        if !stop.load(Ordering::SeqCst) {
            sleep_unless_stopped(REOPEN_DELAY, stop);
        }
    }
}

fn encode_loop(
    mut enc: Box<dyn Encoder>,
    raw: &LatestFrame,
    bus: &FrameBus,
    stats: &EncodeStats,
    stop: &AtomicBool,
) {
    let mut gate = KeyframeGate::default();
    let mut last_gen = 0;
    let mut last_error: Option<String> = None;
    while !stop.load(Ordering::SeqCst) {
        if bus.viewers() == 0 {
            // Nobody watches: encode nothing, and start the next viewer on a fresh frame.
            last_gen = raw.latest().map(|(g, _)| g).unwrap_or(last_gen);
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let Some((gen, frame)) = raw.wait_newer(last_gen, POLL) else {
            continue;
        };
        last_gen = gen;
        if bus.take_keyframe_request() {
            gate.request();
        }
        let started = Instant::now();
        let idr = gate.take(started);
        match enc.encode(&frame, idr) {
            Ok(Some(out)) => {
                let us = started.elapsed().as_micros() as u64;
                stats.frames.fetch_add(1, Ordering::Relaxed);
                stats.encode_us_total.fetch_add(us, Ordering::Relaxed);
                stats.encode_us_last.store(us, Ordering::Relaxed);
                if out.keyframe {
                    stats.keyframes.fetch_add(1, Ordering::Relaxed);
                    gate.keyframe_sent(started);
                }
                let age = out
                    .encoded_at
                    .saturating_duration_since(out.captured.instant);
                stats
                    .pipeline_us_last
                    .store(age.as_micros() as u64, Ordering::Relaxed);
                bus.publish(Arc::new(out));
                last_error = None;
            }
            Ok(None) => {
                stats.skipped.fetch_add(1, Ordering::Relaxed);
                if idr {
                    // The IDR was skipped by rate control: ask again for the next frame.
                    gate.request();
                }
            }
            Err(e) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                let msg = e.to_string();
                if last_error.as_deref() != Some(msg.as_str()) {
                    tracing::warn!(target: "encode", encoder = enc.name(), "{msg}");
                    last_error = Some(msg);
                }
            }
        }
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let end = Instant::now() + total;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(POLL));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::capture::pattern::TestPattern;
    use crate::media::encode::jpeg::MjpegEncoder;

    #[test]
    fn latest_frame_wins() {
        let slot = LatestFrame::default();
        assert!(slot.wait_newer(0, Duration::from_millis(1)).is_none());
        let mut p = TestPattern::new(64, 64, 240).unwrap();
        for _ in 0..3 {
            slot.put(Arc::new(p.grab().unwrap()));
        }
        let (gen, f) = slot.wait_newer(0, Duration::from_millis(1)).unwrap();
        assert_eq!((gen, f.sequence), (3, 2));
        assert!(slot.wait_newer(3, Duration::from_millis(1)).is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_viewers_no_encoding_and_viewers_get_frames() {
        let factory: SourceFactory =
            Box::new(|| Ok(Box::new(TestPattern::new(320, 240, 60)?) as Box<dyn CaptureSource>));
        let mjpeg = Box::new(MjpegEncoder::new().unwrap());
        let h264 = Box::new(MjpegEncoder::new().unwrap());
        let mut p = Pipeline::start(factory, h264, mjpeg).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(p.capture.frames.load(Ordering::Relaxed) > 5, "capture runs");
        assert_eq!(
            p.mjpeg_stats.frames.load(Ordering::Relaxed),
            0,
            "nobody watches: no encoding"
        );
        let mut sub = p.mjpeg.subscribe();
        let a = sub.recv().await.unwrap();
        let b = sub.recv().await.unwrap();
        assert!(b.sequence > a.sequence);
        assert_eq!(
            p.h264_stats.frames.load(Ordering::Relaxed),
            0,
            "the other stream stays idle"
        );
        p.stop();
    }
}
