//! The video pipeline's threads: one capture thread that puts each frame into a latest-wins
//! slot ([`LatestFrame`]), and one encode thread per stream (H.264, MJPEG) that takes the
//! newest frame, encodes it and publishes it on that stream's [`FrameBus`].
//!
//! Capture never waits for an encoder; an encoder that is slower than the source skips to
//! the newest frame. A stream with no viewers encodes nothing.
//!
//! The capture thread heals itself: `capture::watchdog` decides when a source is stalled (no
//! frame for a few seconds, errors in a row, the node gone), when to reopen it and when to
//! reset its USB device (`capture::usb_reset`); this loop does the I/O, keeps the counters in
//! [`CaptureState`] and asks the H.264 encoder for a keyframe when frames return. Viewers'
//! sessions are never touched: they just see no new frame while the device is down.

use super::capture::usb_reset::{self, UsbDevice};
use super::capture::watchdog::{Change, Grab, Phase, StallReason, Step, Timings, Watchdog};
use super::capture::{CaptureError, CaptureSource, SourceInfo};
use super::card::{self, NoPicture};
use super::encode::{jpeg, EncodeError, Encoder};
use super::fanout::FrameBus;
use super::keyframe::KeyframeGate;
use super::ladder::RungControl;
use super::{CaptureTime, Codec, EncodedFrame, PixelFormat, RawFrame};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long threads wait before re-checking the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// Frames a viewer of the ladder's low rung may fall behind (its packets are paced).
const LOW_RUNG_QUEUE: usize = 16;
/// Frames a viewer of the full rung may fall behind when there is a ladder: a session's
/// first keyframe is paced (`ViewerRung::first_pace_bps`), and a big one (150 KB at 4 Mbit/s)
/// takes eight frame times to leave; a shorter queue would lose the frames behind it and
/// ask the shared encoder for another keyframe.
const FULL_RUNG_QUEUE: usize = 10;
/// How long a stream has had no viewer before its encoder lets go of its memory
/// ([`Encoder::release`]); kvmd stops its streamer after the same 10 s without clients.
/// A viewer who comes back sooner finds the encoder warm.
pub const IDLE_RELEASE: Duration = Duration::from_secs(10);
/// Shortest time between two [`Recovery::while_down`] frames.
const DOWN_FRAME_INTERVAL: Duration = Duration::from_secs(1);

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
    /// Capture sequence number of the last keyframe (the test pattern's strip counter), so
    /// a benchmark can tell which displayed frames were keyframes.
    pub keyframe_sequence_last: AtomicU64,
    /// Encode time of the last keyframe in microseconds.
    pub keyframe_encode_us_last: AtomicU64,
    /// Sum of encode times in microseconds.
    pub encode_us_total: AtomicU64,
    /// Last encode time in microseconds.
    pub encode_us_last: AtomicU64,
    /// Last capture → publish time in microseconds (server-added latency up to fan-out).
    pub pipeline_us_last: AtomicU64,
    /// Encode time of every frame.
    pub encode_seconds: crate::metrics::Histogram,
    /// Capture → publish time of every frame.
    pub capture_to_publish_seconds: crate::metrics::Histogram,
    /// Times the encoder was released after [`IDLE_RELEASE`] without viewers.
    pub releases: AtomicU64,
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
    /// Where the capture watchdog is (`streaming`, `reopening`, …).
    pub phase: Mutex<Phase>,
    /// Stalls noticed (no frame for a while, errors in a row, the node gone).
    pub stalls: AtomicU64,
    /// Attempts to open the source again after a stall.
    pub reopens: AtomicU64,
    /// Of those, the ones that failed.
    pub reopen_failures: AtomicU64,
    /// USB resets done (ioctl or `authorized` toggle).
    pub usb_resets: AtomicU64,
    /// USB resets that failed (device not found, both ways refused).
    pub usb_reset_failures: AtomicU64,
    /// Outages that ended with frames flowing again.
    pub recoveries: AtomicU64,
    /// Restarts because an HDMI input's signal changed (new timings, lost, back).
    pub source_changes: AtomicU64,
}

/// Opens (or reopens) the source. Called on the capture thread.
pub type SourceFactory = Box<dyn FnMut() -> Result<Box<dyn CaptureSource>, CaptureError> + Send>;

/// Makes the frame viewers see while the source is down, from the last open source (if
/// any) and what is wrong; `None` keeps the last picture. The default draws the "no
/// picture" card ([`card_frame`]).
pub type DownFrame = Box<dyn FnMut(Option<&SourceInfo>, &NoPicture) -> Option<RawFrame> + Send>;

/// The "no picture" card at the last source's size (1280x720 if none opened yet).
pub fn card_frame(info: Option<&SourceInfo>, why: &NoPicture) -> Option<RawFrame> {
    let (width, height) = info.map_or((1280, 720), |i| (i.width, i.height));
    let unix_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let captured = CaptureTime {
        instant: Instant::now(),
        unix_ms,
    };
    Some(card::frame(width, height, why, 0, captured))
}

/// How the capture thread recovers a failing source.
pub struct Recovery {
    /// The watchdog's timings.
    pub timings: Timings,
    /// Root that sysfs and `/dev` paths are joined onto (`/` on the appliance).
    pub root: PathBuf,
    /// Called at most once a second while the source is down (see [`DownFrame`]).
    pub while_down: Option<DownFrame>,
    /// The profile's USB capture device (VID, PID): found by id for a reset when the node
    /// never opened, so its USB parent is not known.
    pub usb_id: Option<(u16, u16)>,
}

impl Default for Recovery {
    fn default() -> Self {
        Recovery {
            timings: Timings::default(),
            root: PathBuf::from("/"),
            while_down: Some(Box::new(card_frame)),
            usb_id: None,
        }
    }
}

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
    /// The low rung of the bandwidth ladder (`media::ladder`), if started: its bus, the
    /// settings its encoder follows, and its counters.
    pub h264_low: Option<(Arc<FrameBus>, Arc<RungControl>, Arc<EncodeStats>)>,
    /// The full H.264 stream's bitrate, settable while it runs (`/api/stream`); its frame
    /// step stays 1.
    pub h264_control: Arc<RungControl>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts the capture thread and both encode threads, recovering with the defaults.
    pub fn start(
        factory: SourceFactory,
        h264: Box<dyn Encoder>,
        mjpeg: Box<dyn Encoder>,
    ) -> std::io::Result<Pipeline> {
        Pipeline::start_with(factory, h264, mjpeg, Recovery::default())
    }

    /// Starts the capture thread and both encode threads.
    pub fn start_with(
        factory: SourceFactory,
        h264: Box<dyn Encoder>,
        mjpeg: Box<dyn Encoder>,
        recovery: Recovery,
    ) -> std::io::Result<Pipeline> {
        Pipeline::start_laddered(factory, h264, None, mjpeg, recovery)
    }

    /// Starts the capture thread and the encode threads, with `h264_low` (if any) as the
    /// ladder's low rung: a second H.264 encode of the same frames whose bitrate and frame
    /// step follow its [`RungControl`]. Like every stream it idles without viewers.
    pub fn start_laddered(
        factory: SourceFactory,
        h264: Box<dyn Encoder>,
        h264_low: Option<Box<dyn Encoder>>,
        mjpeg: Box<dyn Encoder>,
        recovery: Recovery,
    ) -> std::io::Result<Pipeline> {
        let stop = Arc::new(AtomicBool::new(false));
        let raw = Arc::new(LatestFrame::default());
        let capture = Arc::new(CaptureState::default());
        let h264_bus = match h264_low {
            Some(_) => FrameBus::with_queue(h264.codec(), FULL_RUNG_QUEUE),
            None => FrameBus::new(h264.codec()),
        };
        let mjpeg_bus = FrameBus::new(mjpeg.codec());
        let h264_stats = Arc::new(EncodeStats::default());
        let mjpeg_stats = Arc::new(EncodeStats::default());
        let h264_encoder = h264.name();
        let mut threads = Vec::new();
        {
            let (stop, raw, capture) = (Arc::clone(&stop), Arc::clone(&raw), Arc::clone(&capture));
            let h264_bus = Arc::clone(&h264_bus);
            let mut shell = CaptureShell {
                factory,
                recovery,
                raw,
                state: capture,
                h264: h264_bus,
                mjpeg: Arc::clone(&mjpeg_bus),
                mjpeg_stats: Arc::clone(&mjpeg_stats),
                stop,
            };
            threads.push(
                std::thread::Builder::new()
                    .name("capture".into())
                    .spawn(move || shell.run())?,
            );
        }
        let low = h264_low.map(|enc| {
            let bus = FrameBus::with_queue(enc.codec(), LOW_RUNG_QUEUE);
            let control = Arc::new(RungControl::default());
            let stats = Arc::new(EncodeStats::default());
            (enc, bus, control, stats)
        });
        let h264_low = low.as_ref().map(|(_, bus, control, stats)| {
            (Arc::clone(bus), Arc::clone(control), Arc::clone(stats))
        });
        let h264_control = Arc::new(RungControl::default());
        let mut streams = vec![
            (
                "encode-h264",
                h264,
                Arc::clone(&h264_bus),
                Arc::clone(&h264_stats),
                Some(Arc::clone(&h264_control)),
            ),
            (
                "encode-mjpeg",
                mjpeg,
                Arc::clone(&mjpeg_bus),
                Arc::clone(&mjpeg_stats),
                None,
            ),
        ];
        if let Some((enc, bus, control, stats)) = low {
            streams.push(("encode-h264-low", enc, bus, stats, Some(control)));
        }
        for (name, enc, bus, stats, control) in streams {
            let (stop, raw) = (Arc::clone(&stop), Arc::clone(&raw));
            threads.push(
                std::thread::Builder::new()
                    .name(name.into())
                    .spawn(move || {
                        let control = control.as_deref();
                        encode_loop(enc, &raw, &bus, &stats, control, IDLE_RELEASE, &stop)
                    })?,
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
            h264_low,
            h264_control,
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

/// The capture thread: asks the watchdog what to do and does it.
struct CaptureShell {
    factory: SourceFactory,
    recovery: Recovery,
    raw: Arc<LatestFrame>,
    state: Arc<CaptureState>,
    /// Asked for a keyframe when frames return after an outage.
    h264: Arc<FrameBus>,
    /// The MJPEG stream: a source's own JPEGs go to it straight from this thread.
    mjpeg: Arc<FrameBus>,
    mjpeg_stats: Arc<EncodeStats>,
    stop: Arc<AtomicBool>,
}

/// What the capture thread keeps between steps.
#[derive(Default)]
struct Held {
    source: Option<Box<dyn CaptureSource>>,
    /// The last source that opened.
    info: Option<SourceInfo>,
    /// Its USB device, if it is on USB.
    usb: Option<UsbDevice>,
    /// When the outage began.
    down_since: Option<Instant>,
    /// When the last `while_down` frame was made.
    down_frame_at: Option<Instant>,
    /// What is wrong while the source is down (for the card).
    why: Option<NoPicture>,
}

impl CaptureShell {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn run(&mut self) {
        let mut dog = Watchdog::new(self.recovery.timings, Instant::now());
        let mut held = Held::default();
        let r = Ordering::Relaxed;
        while !self.stopped() {
            let now = Instant::now();
            let before = dog.phase();
            match dog.next(now) {
                Step::Grab => self.grab(&mut dog, &mut held),
                Step::Close(StallReason::SourceChanged) => {
                    // Not a fault: reopen at the new timings (or find no signal).
                    self.state.source_changes.fetch_add(1, r);
                    held.source = None;
                    held.down_since.get_or_insert(now);
                    dog.closed(now);
                }
                Step::Close(reason) => {
                    self.state.stalls.fetch_add(1, r);
                    held.source = None;
                    held.down_since.get_or_insert(now);
                    let name = held.info.as_ref().map_or("source", |i| i.name.as_str());
                    let msg = format!("capture: {name}: stalled ({reason}), reopening");
                    held.why = Some(match reason {
                        StallReason::Gone => NoPicture::DeviceMissing(format!("{name} is gone")),
                        _ => NoPicture::Stalled,
                    });
                    set_error(&self.state, Some(msg));
                    dog.closed(now);
                }
                Step::Open => {
                    // Opening again while an input has no signal is polling, not a reopen.
                    let again = held.info.is_some() && before != Phase::NoSignal;
                    if again {
                        self.state.reopens.fetch_add(1, r);
                    }
                    match (self.factory)() {
                        Ok(source) => {
                            let info = source.info();
                            tracing::info!(target: "capture", source = %info.name, driver = %info.driver, format = %info.format,
                                width = info.width, height = info.height, fps = info.fps, "source open");
                            held.usb =
                                usb_reset::usb_parent_of_video(&self.recovery.root, &info.name)
                                    .or(held.usb.take());
                            if let Ok(mut i) = self.state.info.lock() {
                                *i = Some(info.clone());
                            }
                            held.info = Some(info);
                            held.source = Some(source);
                            dog.opened(Instant::now());
                        }
                        Err(e) => {
                            held.down_since.get_or_insert(now);
                            held.why = Some(no_picture(&e));
                            set_error(&self.state, Some(e.to_string()));
                            if no_signal(&e) {
                                dog.no_signal(Instant::now());
                            } else {
                                if again {
                                    self.state.reopen_failures.fetch_add(1, r);
                                }
                                dog.open_failed(
                                    Instant::now(),
                                    held.usb.is_some() || self.recovery.usb_id.is_some(),
                                );
                            }
                        }
                    }
                }
                Step::ResetUsb => {
                    let ok = self.reset_usb(&held);
                    dog.reset_done(Instant::now(), ok);
                }
                Step::WaitUntil(due) => {
                    self.down_frame(&mut held, now);
                    sleep_unless_stopped(due.saturating_duration_since(now).min(POLL), &self.stop);
                }
            }
            let after = dog.phase();
            if after != before {
                tracing::info!(target: "capture", from = before.name(), to = after.name(), "capture: {}", after.name());
                if let Ok(mut p) = self.state.phase.lock() {
                    *p = after;
                }
            }
        }
    }

    /// One grab from the open source, reported to the watchdog.
    fn grab(&mut self, dog: &mut Watchdog, held: &mut Held) {
        let Some(source) = held.source.as_mut() else {
            // Streaming always holds a source; report it gone if not.
            dog.grabbed(Instant::now(), Grab::Gone);
            return;
        };
        // A panic inside the source (a binding's or a codec's assertion) must not end the
        // capture thread while the state still says streaming: the source is taken for
        // broken, closed and opened again like a vanished device.
        let grabbed = std::panic::catch_unwind(AssertUnwindSafe(|| source.grab()));
        let grabbed = grabbed.map_err(|panic| {
            let device = held.info.as_ref().map_or("source", |i| i.name.as_str());
            let e = CaptureError::Io {
                device: device.to_string(),
                source: std::io::Error::other(format!("panicked: {}", panic_message(&*panic))),
            };
            tracing::error!(target: "capture", "{e}; reopening");
            e
        });
        let (grab, error) = match grabbed {
            Err(e) => (Grab::Gone, Some(e)),
            Ok(Ok(frame)) => {
                self.state.frames.fetch_add(1, Ordering::Relaxed);
                set_error(&self.state, None);
                let frame = Arc::new(frame);
                self.raw.put(Arc::clone(&frame));
                if frame.format == PixelFormat::Mjpeg {
                    self.pass_through(&frame);
                }
                (Grab::Frame, None)
            }
            Ok(Err(CaptureError::Timeout(_))) => (Grab::Timeout, None),
            Ok(Err(e @ CaptureError::NoDevice(_))) => (Grab::Gone, Some(e)),
            Ok(Err(e @ CaptureError::SourceChanged { .. })) => {
                tracing::info!(target: "capture", "{e}");
                (Grab::SourceChanged, None)
            }
            Ok(Err(e)) if no_signal(&e) => (Grab::NoSignal, Some(e)),
            Ok(Err(e)) => (Grab::Error, Some(e)),
        };
        if let Some(e) = error {
            set_error(&self.state, Some(e.to_string()));
            if grab == Grab::NoSignal {
                // The device is open but receives nothing usable: viewers see the card.
                held.why = Some(no_picture(&e));
                self.down_frame(held, Instant::now());
            }
            if grab == Grab::Error {
                sleep_unless_stopped(POLL, &self.stop);
            }
        }
        match dog.grabbed(Instant::now(), grab) {
            Change::None => {}
            // Logged with the error message when the source is closed.
            Change::Stalled(_) => {}
            Change::Recovered => {
                self.state.recoveries.fetch_add(1, Ordering::Relaxed);
                let down = held.down_since.take().map(|t| t.elapsed().as_secs_f64());
                tracing::info!(target: "capture", down_seconds = down, "capture: recovered, asking for a keyframe");
                self.h264.request_keyframe();
                held.down_frame_at = None;
                held.why = None;
            }
        }
    }

    /// Publishes a source's own JPEG on the MJPEG stream, untouched, from this thread: no
    /// hand-over to the MJPEG thread (whose wake-up, with the cores busy, held some frames
    /// past 1 ms), and nothing when nobody watches.
    fn pass_through(&self, frame: &RawFrame) {
        if self.mjpeg.viewers() == 0 {
            return;
        }
        let out = jpeg::jpeg_frame(frame, frame.data.clone());
        count_published(&self.mjpeg_stats, &out, 0);
        self.mjpeg.publish(Arc::new(out));
    }

    /// Resets the USB device of the last open source; whether the reset went through.
    fn reset_usb(&self, held: &Held) -> bool {
        let r = Ordering::Relaxed;
        let root = &self.recovery.root;
        let found = match (&held.usb, self.recovery.usb_id) {
            (Some(known), _) => usb_reset::find_again(root, known),
            (None, Some((vid, pid))) => usb_reset::find_by_id(root, vid, pid),
            (None, None) => None,
        };
        let Some(device) = found else {
            self.state.usb_reset_failures.fetch_add(1, r);
            match (&held.usb, self.recovery.usb_id) {
                (Some(known), _) => {
                    tracing::warn!(target: "capture", "capture: USB device {known} not found, cannot reset it")
                }
                (None, Some((vid, pid))) => {
                    tracing::warn!(target: "capture", "capture: no USB device {vid:04x}:{pid:04x} to reset")
                }
                (None, None) => {}
            }
            return false;
        };
        tracing::info!(target: "capture", "capture: resetting USB device {device}");
        match usb_reset::reset(root, &device) {
            Ok(how) => {
                self.state.usb_resets.fetch_add(1, r);
                tracing::info!(target: "capture", "capture: USB device {device} reset ({})", how.name());
                true
            }
            Err(e) => {
                self.state.usb_reset_failures.fetch_add(1, r);
                tracing::warn!(target: "capture", "capture: resetting USB device {device}: {e}");
                false
            }
        }
    }

    /// While the source is down, shows viewers the `while_down` frame (at most once a
    /// [`DOWN_FRAME_INTERVAL`]).
    fn down_frame(&mut self, held: &mut Held, now: Instant) {
        let Some(make) = self.recovery.while_down.as_mut() else {
            return;
        };
        if held
            .down_frame_at
            .is_some_and(|t| now.duration_since(t) < DOWN_FRAME_INTERVAL)
        {
            return;
        }
        held.down_frame_at = Some(now);
        let why = held.why.clone().unwrap_or(NoPicture::Stalled);
        if let Some(frame) = make(held.info.as_ref(), &why) {
            self.raw.put(Arc::new(frame));
        }
    }
}

/// What the card says for an error opening the source.
fn no_picture(e: &CaptureError) -> NoPicture {
    match e {
        CaptureError::NoDevice(path) => NoPicture::DeviceMissing(format!("{path} is not there")),
        CaptureError::NoSignal(_) => NoPicture::NoSignal,
        CaptureError::NoSync(_) => NoPicture::NoSync,
        CaptureError::OutOfRange { seen, .. } => NoPicture::OutOfRange(seen.clone()),
        e => NoPicture::Error(e.to_string()),
    }
}

/// Whether the device works but receives no usable signal (no signal, no sync, a mode it
/// cannot take).
fn no_signal(e: &CaptureError) -> bool {
    matches!(
        e,
        CaptureError::NoSignal(_) | CaptureError::NoSync(_) | CaptureError::OutOfRange { .. }
    )
}

/// One stream's encode thread: newest frame in, access unit out on `bus`. With `control`
/// (the ladder's low rung) the bitrate and frame step are taken from it before each frame.
/// After `idle_release` without viewers the encoder's memory is let go of.
fn encode_loop(
    mut enc: Box<dyn Encoder>,
    raw: &LatestFrame,
    bus: &FrameBus,
    stats: &EncodeStats,
    control: Option<&RungControl>,
    idle_release: Duration,
    stop: &AtomicBool,
) {
    // Since when nobody watches, and whether the encoder has been used since its release.
    let mut idle_since: Option<Instant> = None;
    let mut held = false;
    let mut gate = KeyframeGate::default();
    let mut last_gen = 0;
    let mut last_error: Option<String> = None;
    let mut bitrate = 0;
    let mut frame_no = 0u64;
    // A JPEG source's frames reach the MJPEG stream from the capture thread
    // (`CaptureShell::pass_through`); this thread only encodes raw ones (the card, a raw
    // source).
    let passthrough = enc.codec() == Codec::Mjpeg;
    // Whether such a JPEG has come by: only then can the capture thread have published a
    // newer frame than this thread's.
    let mut jpeg_seen = false;
    while !stop.load(Ordering::SeqCst) {
        if bus.viewers() == 0 {
            // Nobody watches: encode nothing until somebody subscribes, and start the next
            // viewer on a fresh frame.
            let since = *idle_since.get_or_insert_with(Instant::now);
            if held && since.elapsed() >= idle_release {
                enc.release();
                super::pool::trim_allocator();
                held = false;
                stats.releases.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(target: "encode", encoder = enc.name(), "no viewers: encoder released");
            }
            bus.wait_for_viewers(POLL);
            last_gen = raw.latest().map(|(g, _)| g).unwrap_or(last_gen);
            continue;
        }
        idle_since = None;
        let Some((gen, frame)) = raw.wait_newer(last_gen, POLL) else {
            continue;
        };
        last_gen = gen;
        if passthrough && frame.format == PixelFormat::Mjpeg {
            jpeg_seen = true;
            continue;
        }
        if bus.take_keyframe_request() {
            gate.request();
        }
        if let Some(control) = control {
            let want = control.target_bps.load(Ordering::Relaxed);
            if want != 0 && want != bitrate {
                let took = enc.set_bitrate(want);
                control.refused.store(!took, Ordering::Relaxed);
                if took {
                    tracing::debug!(target: "encode", encoder = enc.name(), bps = want, "bitrate");
                    control.applied_bps.store(want, Ordering::Relaxed);
                } else {
                    tracing::warn!(target: "encode", encoder = enc.name(), bps = want,
                        "this encoder cannot change its bitrate while it runs");
                }
                // Asked once per change, taken or not.
                bitrate = want;
            }
            frame_no += 1;
            let step = u64::from(control.frame_step.load(Ordering::Relaxed).max(1));
            if frame_no % step != 0 && !gate.pending() {
                continue;
            }
        }
        let started = Instant::now();
        let idr = gate.take(started);
        held = true;
        let encoded = std::panic::catch_unwind(AssertUnwindSafe(|| enc.encode(&frame, idr)));
        let encoded = encoded.unwrap_or_else(|panic| {
            // Nothing is known of the encoder's state after a panic: drop it. The next frame
            // sets up a new one, whose first picture is a keyframe.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| enc.release()));
            held = false;
            Err(EncodeError::Backend(format!(
                "{} panicked: {}",
                enc.name(),
                panic_message(&*panic)
            )))
        });
        match encoded {
            Ok(Some(out)) => {
                let us = started.elapsed().as_micros() as u64;
                if out.keyframe {
                    gate.keyframe_sent(started);
                }
                last_error = None;
                // A card encoded here while the capture thread passed a newer JPEG through
                // (the moment a source comes back) would show an old picture: dropped.
                let stale = jpeg_seen
                    && bus
                        .latest()
                        .is_some_and(|l| l.captured.instant > out.captured.instant);
                if !stale {
                    count_published(stats, &out, us);
                    bus.publish(Arc::new(out));
                }
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

/// Counts a frame about to be published into `stats` (`us`: its encode time).
fn count_published(stats: &EncodeStats, out: &EncodedFrame, us: u64) {
    let r = Ordering::Relaxed;
    stats.frames.fetch_add(1, r);
    stats.encode_us_total.fetch_add(us, r);
    stats.encode_us_last.store(us, r);
    stats.encode_seconds.observe_us(us);
    if out.keyframe {
        stats.keyframes.fetch_add(1, r);
        stats.keyframe_sequence_last.store(out.sequence, r);
        stats.keyframe_encode_us_last.store(us, r);
    }
    let age = out
        .encoded_at
        .saturating_duration_since(out.captured.instant);
    stats.pipeline_us_last.store(age.as_micros() as u64, r);
    stats.capture_to_publish_seconds.observe(age.as_secs_f64());
}

/// What a caught panic said.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
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
    use crate::media::capture::jpeg_pattern::JpegPattern;
    use crate::media::capture::pattern::TestPattern;
    use crate::media::encode::jpeg::MjpegEncoder;
    use crate::media::encode::EncodeError;
    use crate::media::{Codec, EncodedFrame};

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

    /// A test encoder's output for `frame`: a two-byte H.264 access unit.
    fn access_unit(frame: &RawFrame, keyframe: bool) -> EncodedFrame {
        EncodedFrame {
            codec: Codec::H264,
            keyframe,
            data: bytes::Bytes::from_static(b"au"),
            width: frame.width,
            height: frame.height,
            captured: frame.captured,
            sequence: frame.sequence,
            encoded_at: Instant::now(),
        }
    }

    /// An encoder that logs what the encode loop asks of it; its first picture after being
    /// set up (or released) is a keyframe, like a new library instance's.
    struct Logged {
        log: Arc<Mutex<Vec<&'static str>>>,
        ready: bool,
    }

    impl Encoder for Logged {
        fn name(&self) -> &'static str {
            "logged"
        }
        fn codec(&self) -> Codec {
            Codec::H264
        }
        fn encode(
            &mut self,
            frame: &RawFrame,
            keyframe: bool,
        ) -> Result<Option<EncodedFrame>, EncodeError> {
            self.log.lock().unwrap().push("encode");
            let fresh = !std::mem::replace(&mut self.ready, true);
            Ok(Some(access_unit(frame, keyframe || fresh)))
        }
        fn release(&mut self) {
            self.ready = false;
            self.log.lock().unwrap().push("release");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_encoder_without_viewers_is_released_once_and_comes_back_on_demand() {
        let idle = Duration::from_millis(300);
        let log = Arc::new(Mutex::new(Vec::new()));
        let raw = Arc::new(LatestFrame::default());
        let bus = FrameBus::new(Codec::H264);
        let stats = Arc::new(EncodeStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let feeder = {
            let (raw, stop) = (Arc::clone(&raw), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut p = TestPattern::new(64, 64, 240).unwrap();
                while !stop.load(Ordering::SeqCst) {
                    raw.put(Arc::new(p.grab().unwrap()));
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        let encoder = {
            let enc = Box::new(Logged {
                log: Arc::clone(&log),
                ready: false,
            });
            let (raw, bus, stats, stop) = (
                Arc::clone(&raw),
                Arc::clone(&bus),
                Arc::clone(&stats),
                Arc::clone(&stop),
            );
            std::thread::spawn(move || encode_loop(enc, &raw, &bus, &stats, None, idle, &stop))
        };
        let releases = || {
            log.lock()
                .unwrap()
                .iter()
                .filter(|e| **e == "release")
                .count()
        };
        let watch = |bus: &Arc<FrameBus>| {
            let mut sub = bus.subscribe();
            async move {
                let first = tokio::time::timeout(Duration::from_secs(5), sub.recv())
                    .await
                    .expect("a frame within 5 s")
                    .expect("the bus is open");
                assert!(first.keyframe, "a viewer starts on a keyframe");
            }
        };

        tokio::time::sleep(idle * 2).await;
        assert_eq!(releases(), 0, "an encoder never used is not released");
        watch(&bus).await;
        tokio::time::sleep(idle / 3).await;
        watch(&bus).await;
        assert_eq!(
            releases(),
            0,
            "a viewer back within the idle time finds it warm"
        );
        tokio::time::sleep(idle * 3).await;
        assert_eq!(releases(), 1, "released after the idle time");
        assert_eq!(
            log.lock().unwrap().last(),
            Some(&"release"),
            "and not used since"
        );
        tokio::time::sleep(idle * 2).await;
        assert_eq!(releases(), 1, "released once, not again and again");
        watch(&bus).await;
        tokio::time::sleep(idle * 3).await;
        assert_eq!(releases(), 2, "used again, released again");
        assert_eq!(
            stats.releases.load(Ordering::SeqCst),
            2,
            "counted for /metrics"
        );

        stop.store(true, Ordering::SeqCst);
        encoder.join().unwrap();
        feeder.join().unwrap();
    }

    /// An encoder that panics on its `panic_at`-th call (counting from 1), then encodes.
    struct Panicky {
        calls: Arc<AtomicU64>,
        releases: Arc<AtomicU64>,
        panic_at: u64,
    }

    impl Encoder for Panicky {
        fn name(&self) -> &'static str {
            "panicky"
        }
        fn codec(&self) -> Codec {
            Codec::H264
        }
        fn encode(
            &mut self,
            frame: &RawFrame,
            keyframe: bool,
        ) -> Result<Option<EncodedFrame>, EncodeError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            assert!(n != self.panic_at, "a library assertion on call {n}");
            Ok(Some(access_unit(frame, keyframe)))
        }
        fn release(&mut self) {
            self.releases.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_encoder_that_panics_loses_that_frame_not_the_stream() {
        let (calls, releases) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let factory: SourceFactory =
            Box::new(|| Ok(Box::new(TestPattern::new(64, 64, 60)?) as Box<dyn CaptureSource>));
        let h264 = Box::new(Panicky {
            calls: Arc::clone(&calls),
            releases: Arc::clone(&releases),
            panic_at: 2,
        });
        let mjpeg = Box::new(MjpegEncoder::new().unwrap());
        let mut p = Pipeline::start(factory, h264, mjpeg).unwrap();
        let mut sub = p.h264.subscribe();
        let mut seqs = Vec::new();
        while seqs.len() < 5 {
            let f = tokio::time::timeout(Duration::from_secs(5), sub.recv())
                .await
                .expect("frames keep coming after the panic")
                .expect("the bus is open");
            seqs.push(f.sequence);
        }
        let stats = Arc::clone(&p.h264_stats);
        p.stop();
        assert!(
            calls.load(Ordering::SeqCst) >= 6,
            "the encode thread lived on"
        );
        assert_eq!(
            stats.errors.load(Ordering::SeqCst),
            1,
            "the panic is an error"
        );
        assert_eq!(
            releases.load(Ordering::SeqCst),
            1,
            "the encoder that panicked is dropped"
        );
        assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
    }

    /// The MJPEG stream's encoder, counting what it is asked to encode.
    struct CountedJpeg {
        inner: MjpegEncoder,
        calls: Arc<AtomicU64>,
    }

    impl Encoder for CountedJpeg {
        fn name(&self) -> &'static str {
            "counted-jpeg"
        }
        fn codec(&self) -> Codec {
            Codec::Mjpeg
        }
        fn encode(
            &mut self,
            frame: &RawFrame,
            keyframe: bool,
        ) -> Result<Option<EncodedFrame>, EncodeError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.inner.encode(frame, keyframe)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sources_jpegs_go_to_the_mjpeg_stream_from_the_capture_thread() {
        let factory: SourceFactory = Box::new(|| {
            let pattern = TestPattern::new(64, 64, 60)?;
            Ok(Box::new(JpegPattern::new(pattern)?) as Box<dyn CaptureSource>)
        });
        let calls = Arc::new(AtomicU64::new(0));
        let mjpeg = Box::new(CountedJpeg {
            inner: MjpegEncoder::new().unwrap(),
            calls: Arc::clone(&calls),
        });
        let h264 = Box::new(MjpegEncoder::new().unwrap());
        let mut p = Pipeline::start(factory, h264, mjpeg).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stats = Arc::clone(&p.mjpeg_stats);
        assert_eq!(stats.frames.load(Ordering::SeqCst), 0, "nobody watches");
        let mut sub = p.mjpeg.subscribe();
        let mut seqs = Vec::new();
        while seqs.len() < 5 {
            let f = tokio::time::timeout(Duration::from_secs(5), sub.recv())
                .await
                .expect("a JPEG within 5 s")
                .expect("the bus is open");
            assert_eq!(&f.data[..2], &[0xFF, 0xD8], "the source's JPEG");
            assert!(f.keyframe);
            seqs.push(f.sequence);
        }
        p.stop();
        assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "the MJPEG thread is never asked to pass a JPEG through"
        );
        assert!(
            stats.frames.load(Ordering::SeqCst) >= 5,
            "counted for /metrics"
        );
        assert_eq!(stats.encode_us_last.load(Ordering::SeqCst), 0);
    }

    /// A source that panics on its first grab (a binding's assertion).
    struct Panics;

    impl CaptureSource for Panics {
        fn info(&self) -> SourceInfo {
            SourceInfo {
                name: "/dev/video7".into(),
                driver: "test".into(),
                format: crate::media::PixelFormat::I420,
                width: 64,
                height: 64,
                fps: 60,
            }
        }
        fn grab(&mut self) -> Result<RawFrame, CaptureError> {
            panic!("YUV pixels length 1 is too small");
        }
    }

    #[test]
    fn a_source_that_panics_is_reopened_and_the_capture_thread_lives() {
        let opens = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&opens);
        let factory: SourceFactory = Box::new(move || {
            Ok(match counted.fetch_add(1, Ordering::SeqCst) {
                0 => Box::new(Panics) as Box<dyn CaptureSource>,
                _ => Box::new(TestPattern::new(64, 64, 60)?),
            })
        });
        let recovery = Recovery {
            timings: Timings {
                backoff_min: Duration::from_millis(50),
                ..Timings::default()
            },
            root: PathBuf::from("/nonexistent"),
            while_down: None,
            usb_id: None,
        };
        let h264 = Box::new(MjpegEncoder::new().unwrap());
        let mjpeg = Box::new(MjpegEncoder::new().unwrap());
        let mut p = Pipeline::start_with(factory, h264, mjpeg, recovery).unwrap();
        let c = Arc::clone(&p.capture);
        let end = Instant::now() + Duration::from_secs(5);
        while c.frames.load(Ordering::SeqCst) < 5 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        p.stop();
        let r = Ordering::SeqCst;
        assert!(c.frames.load(r) >= 5, "frames after the panic");
        assert_eq!(opens.load(r), 2, "opened again once");
        assert_eq!(c.stalls.load(r), 1, "the panic closed the source");
        assert_eq!(*c.phase.lock().unwrap(), Phase::Streaming);
        assert_eq!(
            *c.error.lock().unwrap(),
            None,
            "cleared by the frames since"
        );
    }

    /// A source that gives `frames` frames, then only timeouts (a dongle that went quiet).
    struct Quiet {
        inner: TestPattern,
        frames: u32,
    }

    impl CaptureSource for Quiet {
        fn info(&self) -> SourceInfo {
            self.inner.info()
        }
        fn grab(&mut self) -> Result<RawFrame, CaptureError> {
            if self.frames == 0 {
                std::thread::sleep(Duration::from_millis(20));
                return Err(CaptureError::Timeout("quiet".into()));
            }
            self.frames -= 1;
            self.inner.grab()
        }
    }

    #[test]
    fn a_quiet_source_is_reopened_and_h264_gets_a_keyframe_request() {
        let opens = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&opens);
        let factory: SourceFactory = Box::new(move || {
            let inner = TestPattern::new(64, 64, 60)?;
            match counted.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(Box::new(Quiet { inner, frames: 3 })),
                1 => Err(CaptureError::NoDevice("/dev/video9".into())),
                _ => Ok(Box::new(inner)),
            }
        });
        let down_frames = Arc::new(AtomicU64::new(0));
        let made = Arc::clone(&down_frames);
        let recovery = Recovery {
            timings: Timings {
                stall_after: Duration::from_millis(200),
                backoff_min: Duration::from_millis(100),
                ..Timings::default()
            },
            root: PathBuf::from("/nonexistent"),
            while_down: Some(Box::new(move |_, why| {
                assert!(matches!(why, NoPicture::DeviceMissing(_)), "{why:?}");
                made.fetch_add(1, Ordering::SeqCst);
                None
            })),
            usb_id: None,
        };
        let h264 = Box::new(MjpegEncoder::new().unwrap());
        let mjpeg = Box::new(MjpegEncoder::new().unwrap());
        let mut p = Pipeline::start_with(factory, h264, mjpeg, recovery).unwrap();
        let c = Arc::clone(&p.capture);
        let end = Instant::now() + Duration::from_secs(5);
        while c.recoveries.load(Ordering::SeqCst) == 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        let requests = p.h264.stats.keyframe_requests.load(Ordering::SeqCst);
        p.stop();
        let r = Ordering::SeqCst;
        assert_eq!(
            [&c.stalls, &c.reopens, &c.reopen_failures, &c.recoveries].map(|a| a.load(r)),
            [1, 2, 1, 1]
        );
        assert_eq!(
            c.usb_resets.load(r) + c.usb_reset_failures.load(r),
            0,
            "not on USB"
        );
        assert_eq!(opens.load(r), 3);
        assert_eq!(
            requests, 1,
            "the recovery asked the H.264 encoder for a keyframe"
        );
        assert_eq!(down_frames.load(r), 1, "one card during the 100 ms wait");
        assert_eq!(*c.phase.lock().unwrap(), Phase::Streaming);
        assert_eq!(*c.error.lock().unwrap(), None);
    }

    /// A USB dongle that never opened (its node missing from the start): after the failed
    /// reopens, the device is found by the profile's VID:PID and reset.
    #[test]
    fn a_device_that_never_opened_is_reset_by_the_profiles_usb_id() {
        let tmp = tempfile::tempdir().unwrap();
        let usb = crate::media::capture::usb_reset::tests::fake_sys(tmp.path());
        let factory: SourceFactory = Box::new(|| Err(CaptureError::NoDevice("/dev/video0".into())));
        let recovery = Recovery {
            timings: Timings {
                backoff_min: Duration::from_millis(10),
                backoff_max: Duration::from_millis(20),
                reset_settle: Duration::from_millis(10),
                ..Timings::default()
            },
            root: tmp.path().to_path_buf(),
            while_down: None,
            usb_id: Some((0x534d, 0x2109)),
        };
        let h264 = Box::new(MjpegEncoder::new().unwrap());
        let mjpeg = Box::new(MjpegEncoder::new().unwrap());
        let mut p = Pipeline::start_with(factory, h264, mjpeg, recovery).unwrap();
        let c = Arc::clone(&p.capture);
        let end = Instant::now() + Duration::from_secs(5);
        while c.usb_resets.load(Ordering::SeqCst) == 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        p.stop();
        assert_eq!(c.usb_resets.load(Ordering::SeqCst), 1, "reset by VID:PID");
        // No usbfs in the fake tree: the reset toggled `authorized` and left it on.
        let authorized = std::fs::read_to_string(usb.join("authorized")).unwrap();
        assert_eq!(authorized.trim(), "1");
    }

    /// An HDMI source whose signal changes after a few frames.
    struct Changing {
        inner: TestPattern,
        frames: u32,
    }

    impl CaptureSource for Changing {
        fn info(&self) -> SourceInfo {
            self.inner.info()
        }
        fn grab(&mut self) -> Result<RawFrame, CaptureError> {
            if self.frames == 0 {
                return Err(CaptureError::SourceChanged {
                    device: "/dev/video0".into(),
                    why: "signal lost".into(),
                });
            }
            self.frames -= 1;
            self.inner.grab()
        }
    }

    /// A source change restarts capture; while the input has no signal it is polled every
    /// `signal_retry` (no backoff, no USB reset, no stall counted) and viewers get the
    /// no-signal card at the old size; then capture runs at the new size and H.264 is asked
    /// for a keyframe.
    #[test]
    fn a_changed_signal_shows_the_card_then_streams_at_the_new_size() {
        let opens = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&opens);
        let factory: SourceFactory =
            Box::new(move || match counted.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(Box::new(Changing {
                    inner: TestPattern::new(64, 64, 60)?,
                    frames: 3,
                })),
                1..=3 => Err(CaptureError::NoSignal("/dev/video0".into())),
                _ => Ok(Box::new(TestPattern::new(96, 64, 60)?)),
            });
        let cards = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&cards);
        let recovery = Recovery {
            timings: Timings {
                signal_retry: Duration::from_millis(50),
                ..Timings::default()
            },
            root: PathBuf::from("/nonexistent"),
            while_down: Some(Box::new(move |info, why| {
                let frame = card_frame(info, why);
                if let (Ok(mut v), Some(f)) = (seen.lock(), &frame) {
                    v.push((why.clone(), f.width, f.height));
                }
                frame
            })),
            usb_id: Some((0x534d, 0x2109)),
        };
        let h264 = Box::new(MjpegEncoder::new().unwrap());
        let mjpeg = Box::new(MjpegEncoder::new().unwrap());
        let mut p = Pipeline::start_with(factory, h264, mjpeg, recovery).unwrap();
        let c = Arc::clone(&p.capture);
        let end = Instant::now() + Duration::from_secs(5);
        while c.recoveries.load(Ordering::SeqCst) == 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        let requests = p.h264.stats.keyframe_requests.load(Ordering::SeqCst);
        p.stop();
        let r = Ordering::SeqCst;
        assert_eq!(
            opens.load(r),
            5,
            "first open, three polls without signal, then new timings"
        );
        assert_eq!(
            [
                &c.source_changes,
                &c.stalls,
                &c.reopens,
                &c.reopen_failures,
                &c.recoveries
            ]
            .map(|a| a.load(r)),
            [1, 0, 1, 0, 1]
        );
        assert_eq!(c.usb_resets.load(r) + c.usb_reset_failures.load(r), 0);
        assert_eq!(requests, 1, "a keyframe when frames return");
        let info = c.info.lock().unwrap().clone().unwrap();
        assert_eq!((info.width, info.height), (96, 64));
        let cards = cards.lock().unwrap();
        assert!(!cards.is_empty(), "viewers saw the card");
        assert!(
            cards.iter().all(|c| *c == (NoPicture::NoSignal, 64, 64)),
            "{cards:?}"
        );
    }

    /// An encoder that records the bitrates it was asked for, and takes them or not.
    struct Rated {
        takes: bool,
        asked: Arc<Mutex<Vec<u32>>>,
    }

    impl Encoder for Rated {
        fn name(&self) -> &'static str {
            "rated"
        }
        fn codec(&self) -> Codec {
            Codec::H264
        }
        fn set_bitrate(&mut self, bps: u32) -> bool {
            if let Ok(mut a) = self.asked.lock() {
                a.push(bps);
            }
            self.takes
        }
        fn encode(
            &mut self,
            frame: &RawFrame,
            keyframe: bool,
        ) -> Result<Option<EncodedFrame>, EncodeError> {
            Ok(Some(access_unit(frame, keyframe)))
        }
    }

    async fn five_frames(sub: &mut crate::media::fanout::Subscriber) {
        for _ in 0..5 {
            tokio::time::timeout(Duration::from_secs(5), sub.recv())
                .await
                .expect("a frame within 5 s")
                .expect("bus open");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_full_streams_bitrate_follows_its_control_while_it_runs() {
        for takes in [true, false] {
            let factory: SourceFactory =
                Box::new(|| Ok(Box::new(TestPattern::new(64, 64, 120)?) as Box<dyn CaptureSource>));
            let asked = Arc::new(Mutex::new(Vec::new()));
            let h264 = Box::new(Rated {
                takes,
                asked: Arc::clone(&asked),
            });
            let mut p =
                Pipeline::start(factory, h264, Box::new(MjpegEncoder::new().unwrap())).unwrap();
            let mut sub = p.h264.subscribe();
            five_frames(&mut sub).await;
            assert!(
                asked.lock().unwrap().is_empty(),
                "nothing set, nothing asked"
            );
            let control = Arc::clone(&p.h264_control);
            let asked_for = |n: usize| {
                let asked = Arc::clone(&asked);
                async move {
                    tokio::time::timeout(Duration::from_secs(5), async {
                        while asked.lock().unwrap().len() < n {
                            // Polling what the encode thread recorded; bounded above.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    })
                    .await
                    .expect("the encode thread asks the encoder");
                }
            };
            control.target_bps.store(500_000, Ordering::Relaxed);
            asked_for(1).await;
            five_frames(&mut sub).await;
            control.target_bps.store(700_000, Ordering::Relaxed);
            asked_for(2).await;
            five_frames(&mut sub).await;
            p.stop();
            assert_eq!(
                *asked.lock().unwrap(),
                vec![500_000, 700_000],
                "asked once per change, not once per frame"
            );
            let applied = control.applied_bps.load(Ordering::Relaxed);
            let refused = control.refused.load(Ordering::Relaxed);
            match takes {
                true => assert_eq!((applied, refused), (700_000, false)),
                false => assert_eq!((applied, refused), (0, true)),
            }
        }
    }

    #[test]
    fn the_jpeg_quality_is_taken_at_the_next_raw_frame() {
        let mut p = TestPattern::new(320, 240, 30).unwrap();
        let frame = p.grab().unwrap();
        let q = crate::media::encode::jpeg::JpegQuality::default();
        let mut enc = MjpegEncoder::with_quality(q.clone()).unwrap();
        let at80 = enc.jpeg(&frame).unwrap().len();
        q.set(15);
        let at15 = enc.jpeg(&frame).unwrap().len();
        q.set(95);
        let at95 = enc.jpeg(&frame).unwrap().len();
        // The desktop pattern's flat areas cost little at any quality: 15 takes ~30 % off.
        assert!(
            (at15 as f64) < at80 as f64 * 0.85 && at80 < at95,
            "{at15} {at80} {at95}"
        );
    }
}
