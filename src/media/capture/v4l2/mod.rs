//! The V4L2 capture backend: opens a `/dev/videoN` node through the `v4l` crate, negotiates
//! pixel format, size and frame rate from a [`CaptureRequest`], streams through mmap buffers
//! and turns each dequeued buffer into a [`RawFrame`] (one JPEG, or tightly packed raw rows)
//! carrying the driver's timestamp and sequence number.
//!
//! Owns the device handle and its buffers; the only module (with its `dv` part) that imports
//! `v4l`. On an HDMI input (DV timings: TC358743, vivid) [`V4l2Capture::open`] first writes
//! the EDID, queries the signal and sets its timings, so the capture size is the source's;
//! while streaming it watches source-change events (and re-queries the signal every
//! [`SIGNAL_RECHECK`]) and returns [`CaptureError::SourceChanged`] when the signal changes,
//! for the caller to reopen. Never converts pixels and never blocks longer than
//! [`GRAB_TIMEOUT`]. Single-planar capture only (no `VIDEO_CAPTURE_MPLANE` drivers).
//!
//! What a [`V4l2Capture::grab`] error means to the caller: `Timeout`, no frame yet (call
//! again); `Io` whose source kind is `InvalidData`, this one frame was bad (no JPEG SOI, too
//! short, flagged corrupt by the driver) and is dropped while the stream goes on;
//! `SourceChanged`, reopen at once; anything else (`NoDevice`, `Io`), the stream is
//! unusable: drop the source and reopen. `open` fails with `NoSignal`, `NoSync` or
//! `OutOfRange` while an HDMI input has no usable signal.

pub mod dv;

use std::cmp::Reverse;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::media::pool::FramePool;
use bytes::Bytes;
use tracing::{debug, info, warn};
use v4l::buffer::{Flags as BufFlags, Type};
use v4l::capability::Flags as CapFlags;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::{CaptureStream, Stream as _};
use v4l::video::capture::Parameters;
use v4l::video::Capture;
use v4l::{Device, Format, FourCC, Timestamp};

use super::{
    CaptureError, CaptureRequest, CaptureSource, DeviceReport, HdmiReport, SignalReport,
    SourceInfo, DEFAULT_FORMAT_ORDER,
};
use crate::media::{CaptureTime, PixelFormat, RawFrame};
use dv::{DvInput, Signal, Timings};

/// Longest `grab` waits for a frame before it returns `CaptureError::Timeout`.
pub const GRAB_TIMEOUT: Duration = Duration::from_millis(100);
/// How often a streaming HDMI input's signal is queried again, for drivers that send no
/// source-change event.
pub const SIGNAL_RECHECK: Duration = Duration::from_secs(1);
/// mmap buffers asked of the driver: one held by us, the rest queued for it to fill.
const BUFFER_COUNT: usize = 4;
/// A driver timestamp further than this from CLOCK_MONOTONIC at dequeue is not taken as one.
const MAX_TIMESTAMP_SKEW: Duration = Duration::from_secs(2);
/// Sizes `probe` lists out of a stepwise (continuous) range, besides its maximum.
#[rustfmt::skip]
const COMMON_SIZES: &[(u32, u32)] =
    &[(640, 480), (800, 600), (1024, 768), (1280, 720), (1280, 1024), (1920, 1080), (3840, 2160)];

/// A V4L2 capture device, streaming.
pub struct V4l2Capture {
    info: SourceInfo,
    /// Bytes between row starts of the first plane, as the driver set it (`bytesperline`).
    stride: usize,
    /// v4l's `Stream::next` re-queues the buffer it handed out last, then dequeues.
    stream: Stream<'static>,
    /// Whether we hold that last buffer (it is not queued to the driver).
    held: bool,
    /// Whether "driver timestamp not used" has been logged.
    stamp_noted: bool,
    /// An HDMI input: its DV calls, the timings captured at, and when they were last checked.
    dv: Option<(DvInput, Timings, Instant)>,
    /// Frame buffers, reused (see `media::pool`).
    pool: Arc<FramePool>,
}

impl V4l2Capture {
    /// Opens `path`, negotiates what `req` asks for (or the closest the device offers) and
    /// starts streaming.
    pub fn open(path: &str, req: &CaptureRequest) -> Result<V4l2Capture, CaptureError> {
        let err = |e| capture_error(path, e);
        let device = Device::with_path(path).map_err(err)?;
        let caps = guarded(|| device.query_caps()).map_err(err)?;
        if !caps
            .capabilities
            .contains(CapFlags::VIDEO_CAPTURE | CapFlags::STREAMING)
        {
            let why = format!("{} has no single-planar streaming capture", caps.driver);
            return Err(unsupported(path, why));
        }
        let offered = offered_fourccs(&device).map_err(err)?;
        let wanted = if req.formats.is_empty() {
            DEFAULT_FORMAT_ORDER
        } else {
            &req.formats
        };
        let Some(fourcc) = choose_format(wanted, &offered) else {
            let names: Vec<&str> = wanted.iter().map(|f| f.name()).collect();
            let why = format!("wanted {}, offered {}", names.join(","), fourccs(&offered));
            return Err(unsupported(path, why));
        };
        let dv = hdmi_input(&device, path, req)?;
        let current = guarded(|| device.format()).map_or((0, 0), |f| (f.width, f.height));
        let want = (
            req.width.unwrap_or(current.0),
            req.height.unwrap_or(current.1),
        );
        let (w, h) = match &dv {
            // An HDMI input captures the source's size, whatever was asked.
            Some((_, t)) => (t.width, t.height),
            None => pick_size(&frame_sizes(&device, fourcc), want).unwrap_or(want),
        };
        let set =
            guarded(|| device.set_format(&Format::new(w, h, FourCC::new(&fourcc)))).map_err(err)?;
        let format = match pixel_format(&set.fourcc.repr) {
            Some(format) if set.width > 0 && set.height > 0 => format,
            _ => {
                let (got, size) = (fourccs(&[set.fourcc.repr]), (set.width, set.height));
                let why = format!(
                    "asked {} {w}x{h}, driver set {got} {size:?}",
                    fourccs(&[fourcc])
                );
                return Err(unsupported(path, why));
            }
        };
        let fps = match &dv {
            Some((_, t)) => t.fps(),
            None => negotiate_fps(&device, path, req.fps),
        };
        let mut stream =
            Stream::with_buffers(&device, Type::VideoCapture, BUFFER_COUNT as u32).map_err(err)?;
        stream.set_timeout(GRAB_TIMEOUT);
        prime(&mut stream).map_err(err)?;
        let (width, height, driver) = (set.width, set.height, caps.driver);
        let fps = fps.or(req.fps).unwrap_or(0);
        info!(target: "capture", device = path, %driver, card = %caps.card, %format, width,
            height, fps, stride = set.stride, "capture: opened");
        let info = SourceInfo {
            name: path.to_owned(),
            driver,
            format,
            width,
            height,
            fps,
        };
        let stride = set.stride as usize;
        Ok(V4l2Capture {
            info,
            stride,
            stream,
            held: true,
            stamp_noted: false,
            dv: dv.map(|(input, t)| (input, t, Instant::now())),
            pool: FramePool::new(),
        })
    }

    /// On an HDMI input: a pending source-change event, or (every [`SIGNAL_RECHECK`])
    /// timings other than those captured at, as `SourceChanged`.
    fn check_signal(&mut self, event: bool) -> Result<(), CaptureError> {
        let Some((input, timings, checked)) = self.dv.as_mut() else {
            return Ok(());
        };
        let name = &self.info.name;
        let changed = |why: String| CaptureError::SourceChanged {
            device: name.clone(),
            why,
        };
        if event && input.source_changed().map_err(|e| capture_error(name, e))? {
            return Err(changed("source-change event".into()));
        }
        if checked.elapsed() < SIGNAL_RECHECK {
            return Ok(());
        }
        *checked = Instant::now();
        match input.query().map_err(|e| capture_error(name, e))? {
            Signal::Locked(now, _) if now == *timings => Ok(()),
            Signal::Locked(now, _) => Err(changed(format!("{} now", now.name()))),
            Signal::NoSignal => Err(changed("signal lost".into())),
            Signal::NoSync => Err(changed("sync lost".into())),
            Signal::OutOfRange(_) => Err(changed("out of range".into())),
        }
    }

    /// Waits until the device has a buffer (or an error) ready, at most until `deadline`.
    /// On an HDMI input an event (POLLPRI) or a changed signal ends the wait with
    /// `SourceChanged`.
    fn wait_ready(&mut self, deadline: Instant) -> Result<(), CaptureError> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            let events = if self.dv.is_some() {
                libc::POLLIN | libc::POLLPRI
            } else {
                libc::POLLIN
            };
            let mut fds = [libc::pollfd {
                fd: self.stream.handle().fd(),
                events,
                revents: 0,
            }];
            // SAFETY: `fds` is one valid pollfd that outlives the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(capture_error(&self.info.name, e));
            }
            let revents = fds[0].revents;
            self.check_signal(revents & libc::POLLPRI != 0)?;
            if revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                return Ok(());
            }
            if n == 0 || Instant::now() >= deadline {
                return Err(CaptureError::Timeout(self.info.name.clone()));
            }
        }
    }
}

impl CaptureSource for V4l2Capture {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }

    fn grab(&mut self) -> Result<RawFrame, CaptureError> {
        let deadline = Instant::now() + GRAB_TIMEOUT;
        loop {
            self.wait_ready(deadline)?;
            if self.held {
                break;
            }
            // An earlier `next` re-queued our buffer and then failed to dequeue: take one
            // buffer back (its frame is lost) so that `next` has one to re-queue.
            CaptureStream::dequeue(&mut self.stream)
                .map_err(|e| capture_error(&self.info.name, e))?;
            self.held = true;
        }
        let name = &self.info.name;
        self.held = false;
        let (buf, meta) = self.stream.next().map_err(|e| capture_error(name, e))?;
        self.held = true;
        let (mono_now, now, wall) = (monotonic_now(), Instant::now(), SystemTime::now());
        let stamp = driver_stamp(meta.timestamp, meta.flags);
        let (captured, trusted) = capture_time(stamp, mono_now, now, wall);
        if !trusted && !self.stamp_noted {
            self.stamp_noted = true;
            debug!(target: "capture", device = %name, flags = %meta.flags, ?stamp, ?mono_now,
                "capture: driver timestamp not CLOCK_MONOTONIC, using dequeue time");
        }
        let info = &self.info;
        let bad = |why: &str| {
            let why = format!(
                "{why} (sequence {}, {} bytes)",
                meta.sequence, meta.bytesused
            );
            let source = io::Error::new(io::ErrorKind::InvalidData, why);
            CaptureError::Io {
                device: name.clone(),
                source,
            }
        };
        if meta.flags.contains(BufFlags::ERROR) {
            return Err(bad("driver flagged the buffer as corrupt"));
        }
        let used = match meta.bytesused as usize {
            0 if info.format != PixelFormat::Mjpeg => buf, // raw: 0 means the whole buffer
            n => buf.get(..n).unwrap_or(buf),
        };
        let data = frame_data(
            info.format,
            (info.width, info.height),
            self.stride,
            used,
            &self.pool,
        );
        let (format, width, height) = (info.format, info.width, info.height);
        let sequence = u64::from(meta.sequence);
        Ok(RawFrame {
            format,
            width,
            height,
            data: data.map_err(bad)?,
            captured,
            sequence,
        })
    }
}

/// On an HDMI input: writes the EDID (if asked and different), queries the signal, sets its
/// timings and subscribes to source-change events. `None` for inputs without DV timings.
fn hdmi_input(
    device: &Device,
    path: &str,
    req: &CaptureRequest,
) -> Result<Option<(DvInput, Timings)>, CaptureError> {
    let err = |e| capture_error(path, e);
    let Some(input) = DvInput::probe(device.handle()).map_err(err)? else {
        return Ok(None);
    };
    if let Some(edid) = &req.edid {
        match input.write_edid(edid) {
            Ok(true) => info!(target: "capture", device = path, bytes = edid.len(),
                name = ?crate::media::edid::monitor_name(edid), "capture: EDID written"),
            Ok(false) => debug!(target: "capture", device = path, "capture: EDID already set"),
            // Some receivers take the EDID only on their subdevice (media-controller mode):
            // capture can still work with the EDID set elsewhere.
            Err(e) => warn!(target: "capture", device = path, error = %e,
                "capture: writing the EDID failed; the source may see no display"),
        }
    }
    let timings = match input.query().map_err(err)? {
        Signal::Locked(t, raw) => {
            if input.apply(&raw).map_err(err)? {
                info!(target: "capture", device = path, timings = %t.name(), "capture: DV timings set");
            }
            t
        }
        Signal::NoSignal => return Err(CaptureError::NoSignal(path.to_owned())),
        Signal::NoSync => return Err(CaptureError::NoSync(path.to_owned())),
        Signal::OutOfRange(seen) => {
            return Err(CaptureError::OutOfRange {
                device: path.to_owned(),
                seen: seen.map(|t| t.name()),
            })
        }
    };
    if let Err(e) = input.subscribe() {
        debug!(target: "capture", device = path, error = %e,
            "capture: no source-change events; the signal is re-queried every second");
    }
    Ok(Some((input, timings)))
}

/// What `periscope doctor` reports of `path`: opened, asked, closed; nothing set or written
/// (periscope may be streaming from it meanwhile).
pub fn inspect(path: &str) -> Result<DeviceReport, CaptureError> {
    let err = |e| capture_error(path, e);
    let device = Device::with_path(path).map_err(err)?;
    let caps = guarded(|| device.query_caps()).map_err(err)?;
    let formats = offered_fourccs(&device)
        .map_err(err)?
        .iter()
        .filter_map(pixel_format)
        .collect();
    let hdmi = match DvInput::probe(device.handle()).map_err(err)? {
        None => None,
        Some(input) => Some(HdmiReport {
            edid: input.read_edid().map_err(err)?,
            signal: match input.query() {
                Ok(Signal::Locked(t, _)) => SignalReport::Locked(t.name()),
                Ok(Signal::NoSignal) => SignalReport::NoSignal,
                Ok(Signal::NoSync) => SignalReport::NoSync,
                Ok(Signal::OutOfRange(t)) => SignalReport::OutOfRange(t.map(|t| t.name())),
                Err(e) => SignalReport::Unknown(e.to_string()),
            },
        }),
    };
    Ok(DeviceReport {
        driver: caps.driver,
        card: caps.card,
        formats,
        hdmi,
    })
}

/// Lists what `path` offers in the formats we take natively. A stepwise size range is listed
/// as the common sizes in it plus its maximum; 0x0 means the driver lists no sizes.
pub fn probe(path: &str) -> Result<Vec<(PixelFormat, u32, u32)>, CaptureError> {
    let device = Device::with_path(path).map_err(|e| capture_error(path, e))?;
    let mut out = Vec::new();
    for fourcc in offered_fourccs(&device).map_err(|e| capture_error(path, e))? {
        if let Some(format) = pixel_format(&fourcc) {
            let ranges = frame_sizes(&device, fourcc);
            let sizes: Vec<_> = ranges.iter().flat_map(listed).collect();
            out.extend(sizes.iter().map(|&(w, h)| (format, w, h)));
            if sizes.is_empty() {
                out.push((format, 0, 0));
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|entry| seen.insert(*entry));
    Ok(out)
}

/// Queues every buffer but index 0 and starts streaming. `Stream::next` begins by queuing
/// the buffer it handed out last (index 0 at first), so it never waits in a dequeue that
/// `grab` has not seen ready. A driver may grant fewer buffers than asked (at least two).
fn prime(stream: &mut Stream<'static>) -> io::Result<()> {
    for index in 1..BUFFER_COUNT {
        match CaptureStream::queue(stream, index) {
            Ok(()) => {}
            Err(e) if index > 1 && e.raw_os_error() == Some(libc::EINVAL) => break,
            Err(e) => return Err(e),
        }
    }
    stream.start()
}

/// Asks for `want` frames per second (a failure is only logged: many HDMI bridges have a
/// fixed rate) and returns the rate the driver reports, if it reports one.
fn negotiate_fps(device: &Device, path: &str, want: Option<u32>) -> Option<u32> {
    if let Some(fps) = want.filter(|&fps| fps > 0) {
        if let Err(e) = device.set_params(&Parameters::with_fps(fps)) {
            debug!(target: "capture", device = path, fps, error = %e,
                "capture: setting the frame interval failed");
        }
    }
    let interval = device.params().ok()?.interval;
    fps_of(interval.numerator, interval.denominator)
}

/// Runs a `v4l` call that panics on a malformed driver reply (a name that is not UTF-8, an
/// unknown colorspace) and turns that panic into an error.
fn guarded<T>(call: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "malformed driver reply");
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|_| Err(malformed()))
}

fn offered_fourccs(device: &Device) -> io::Result<Vec<[u8; 4]>> {
    Ok(guarded(|| device.enum_formats())?
        .iter()
        .map(|d| d.fourcc.repr)
        .collect())
}

/// What VIDIOC_ENUM_FRAMESIZES says for `fourcc` (nothing if the driver does not answer).
fn frame_sizes(device: &Device, fourcc: [u8; 4]) -> Vec<SizeRange> {
    let sizes = guarded(|| device.enum_framesizes(FourCC::new(&fourcc))).unwrap_or_default();
    let range = |size| match size {
        FrameSizeEnum::Discrete(d) => SizeRange::exactly(d.width, d.height),
        FrameSizeEnum::Stepwise(s) => SizeRange(
            [s.min_width, s.max_width, s.step_width],
            [s.min_height, s.max_height, s.step_height],
        ),
    };
    sizes.into_iter().map(|s| range(s.size)).collect()
}

fn unsupported(path: &str, reason: String) -> CaptureError {
    CaptureError::UnsupportedFormat {
        device: path.to_owned(),
        reason,
    }
}

fn fourccs(list: &[[u8; 4]]) -> String {
    let names: Vec<String> = list
        .iter()
        .map(|f| String::from_utf8_lossy(f).into())
        .collect();
    names.join(",")
}

// ===== Pure parts (unit-tested below) =====

/// Maps an OS error from the device to the case callers branch on.
fn capture_error(device: &str, e: io::Error) -> CaptureError {
    let device = device.to_owned();
    match e.raw_os_error() {
        Some(libc::ENODEV | libc::ENOENT | libc::ENXIO) => CaptureError::NoDevice(device),
        Some(libc::ENOLINK) => CaptureError::NoSignal(device),
        Some(libc::ENOLCK) => CaptureError::NoSync(device),
        Some(libc::ETIMEDOUT) => CaptureError::Timeout(device),
        _ if e.kind() == io::ErrorKind::TimedOut => CaptureError::Timeout(device),
        _ => CaptureError::Io { device, source: e },
    }
}

/// The pixel format a V4L2 fourcc carries, for those we take natively.
fn pixel_format(fourcc: &[u8; 4]) -> Option<PixelFormat> {
    match fourcc {
        b"MJPG" | b"JPEG" => Some(PixelFormat::Mjpeg),
        b"YUYV" => Some(PixelFormat::Yuyv),
        b"UYVY" => Some(PixelFormat::Uyvy),
        b"NV12" => Some(PixelFormat::Nv12),
        b"YU12" | b"I420" => Some(PixelFormat::I420),
        _ => None,
    }
}

/// The fourcc to ask for: the first of `wanted` (in order) that `offered` has.
fn choose_format(wanted: &[PixelFormat], offered: &[[u8; 4]]) -> Option<[u8; 4]> {
    let offer = |w| offered.iter().copied().find(|f| pixel_format(f) == Some(w));
    wanted.iter().find_map(|&w| offer(w))
}

/// Sizes a device offers: `[min, max, step]` for the width, then the height (a discrete
/// size has min = max).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SizeRange([u32; 3], [u32; 3]);

impl SizeRange {
    fn exactly(w: u32, h: u32) -> SizeRange {
        SizeRange([w, w, 1], [h, h, 1])
    }

    fn max(&self) -> (u32, u32) {
        (self.0[1], self.1[1])
    }

    /// The size in this range nearest to `(w, h)`.
    fn nearest(&self, (w, h): (u32, u32)) -> (u32, u32) {
        let snap = |v: u32, [min, max, step]: [u32; 3]| {
            let (max, step) = (max.max(min) as u64, step.max(1) as u64);
            let (v, min) = ((v as u64).clamp(min as u64, max), min as u64);
            let s = min + (v - min + step / 2) / step * step;
            u32::try_from(if s > max { s - step } else { s }).unwrap_or(u32::MAX)
        };
        (snap(w, self.0), snap(h, self.1))
    }
}

/// The offered size closest to `want` (sum of the width and height differences, the larger
/// wins a tie); a 0 in `want` means "as large as possible".
fn pick_size(ranges: &[SizeRange], want: (u32, u32)) -> Option<(u32, u32)> {
    let or_max = |v: u32| if v == 0 { u32::MAX } else { v };
    let want = (or_max(want.0), or_max(want.1));
    let dist = |(w, h): (u32, u32)| w.abs_diff(want.0) as u64 + h.abs_diff(want.1) as u64;
    let key = |&s: &(u32, u32)| (dist(s), Reverse(s.0 as u64 * s.1 as u64));
    ranges.iter().map(|r| r.nearest(want)).min_by_key(key)
}

/// The sizes `probe` lists for one range: the common sizes in it, then its maximum.
fn listed(range: &SizeRange) -> Vec<(u32, u32)> {
    let fits = |&s: &(u32, u32)| range.nearest(s) == s && s != range.max();
    COMMON_SIZES
        .iter()
        .copied()
        .filter(fits)
        .chain([range.max()])
        .collect()
}

/// `RawFrame::data` from the used bytes of a buffer: a JPEG must start with SOI and ends at
/// its last EOI; raw rows `stride` bytes apart (0: tight) are packed tight, bytes past the
/// frame dropped.
/// `Err` says why the frame is dropped.
fn frame_data(
    format: PixelFormat,
    size: (u32, u32),
    stride: usize,
    src: &[u8],
    pool: &Arc<FramePool>,
) -> Result<Bytes, &'static str> {
    if format == PixelFormat::Mjpeg {
        if !src.starts_with(&[0xFF, 0xD8]) {
            return Err("not a JPEG (no SOI marker)");
        }
        // Stale or padded buffers carry junk after the image: an older, longer frame's tail
        // (v4l2loopback hands a new reader such a first buffer) or zeros. The image ends at
        // the EOI its segments lead to; a JPEG too broken to walk ends at its last EOI.
        let end = jpeg_end(src).unwrap_or_else(|| {
            memchr::memmem::rfind(src, &[0xFF, 0xD9]).map_or(src.len(), |i| i + 2)
        });
        return Ok(pool.copy(&src[..end]));
    }
    let mut out = pool.take(format.frame_len(size.0, size.1).unwrap_or(0));
    pack_rows_into(&mut out, format, size, stride, src)
        .ok_or("frame shorter than its format needs")?;
    Ok(out.freeze())
}

/// Where the JPEG image starting at `src[0]` (SOI) ends: just past the EOI reached by walking
/// its marker segments and entropy-coded scans. `None` if the walk runs off the data.
fn jpeg_end(src: &[u8]) -> Option<usize> {
    let mut i = 2; // past SOI
    loop {
        if *src.get(i)? != 0xFF {
            return None;
        }
        while *src.get(i + 1)? == 0xFF {
            i += 1; // fill bytes
        }
        let marker = *src.get(i + 1)?;
        i += 2;
        match marker {
            0xD9 => return Some(i),
            0x01 | 0xD0..=0xD7 => {}
            _ => {
                let len = usize::from(u16::from_be_bytes([*src.get(i)?, *src.get(i + 1)?]));
                if len < 2 {
                    return None;
                }
                i += len;
                if marker == 0xDA {
                    // Entropy-coded data: runs to the next marker that is neither a stuffed
                    // 0xFF00 nor a restart marker.
                    loop {
                        let at = i + memchr::memchr(0xFF, src.get(i..)?)?;
                        match *src.get(at + 1)? {
                            0x00 | 0xD0..=0xD7 | 0xFF => i = at + 1,
                            _ => {
                                i = at;
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// [`pack_rows_into`] into a new vector.
#[cfg(test)]
fn pack_rows(format: PixelFormat, size: (u32, u32), stride: usize, src: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    pack_rows_into(&mut out, format, size, stride, src)?;
    Some(out)
}

/// Copies planes whose rows are `stride` bytes apart (I420's chroma planes at `stride / 2`,
/// as V4L2 lays out single-buffer YU12) into tight rows in `out` (emptied first; its
/// allocation is reused); `None` if `src` is too short.
fn pack_rows_into(
    out: &mut Vec<u8>,
    format: PixelFormat,
    (width, height): (u32, u32),
    stride: usize,
    src: &[u8],
) -> Option<()> {
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    // (bytes per row, rows, source stride) of each plane, in memory order.
    let plane = |row, rows, div| (row, rows, if stride == 0 { row } else { stride / div });
    let planes = match format {
        PixelFormat::Yuyv | PixelFormat::Uyvy => vec![plane(w * 2, h, 1)],
        PixelFormat::Nv12 => vec![plane(w, h, 1), plane(cw * 2, ch, 1)],
        PixelFormat::I420 => vec![plane(w, h, 1), plane(cw, ch, 2), plane(cw, ch, 2)],
        PixelFormat::Mjpeg => return None,
    };
    out.clear();
    out.reserve(format.frame_len(width, height)?);
    let mut offset = 0usize;
    for (row, rows, pitch) in planes {
        if pitch < row {
            return None;
        }
        for r in 0..rows {
            let start = offset.checked_add(r.checked_mul(pitch)?)?;
            out.extend_from_slice(src.get(start..start.checked_add(row)?)?);
        }
        offset = offset.checked_add(rows.checked_mul(pitch)?)?;
    }
    Some(())
}

/// Frames per second, rounded, of a frame interval of `num/den` seconds.
fn fps_of(num: u32, den: u32) -> Option<u32> {
    let fps = (den as u64 + num as u64 / 2).checked_div(num as u64)?;
    u32::try_from(fps).ok().filter(|&fps| fps > 0)
}

/// The driver's timestamp as time since CLOCK_MONOTONIC's origin, or `None` when it is
/// zero, malformed, or copied from elsewhere (`V4L2_BUF_FLAG_TIMESTAMP_COPY`).
fn driver_stamp(ts: Timestamp, flags: BufFlags) -> Option<Duration> {
    let (sec, usec) = (u64::try_from(ts.sec).ok()?, u32::try_from(ts.usec).ok()?);
    let copied = flags & BufFlags::TIMESTAMP_MASK == BufFlags::TIMESTAMP_COPY;
    let valid = !copied && usec < 1_000_000 && (sec, usec) != (0, 0);
    valid.then(|| Duration::new(sec, usec * 1000))
}

/// When the frame was captured: the clocks read at dequeue (`now`, `wall`) moved back by the
/// frame's age, `mono_now - stamp`. A stamp ahead of `mono_now` (vivid stamps the expected
/// end of frame) counts as age 0; one more than [`MAX_TIMESTAMP_SKEW`] off either way is not
/// CLOCK_MONOTONIC, so the dequeue time stands. The flag says whether the stamp was used.
fn capture_time(
    stamp: Option<Duration>,
    mono_now: Option<Duration>,
    now: Instant,
    wall: SystemTime,
) -> (CaptureTime, bool) {
    let age = stamp
        .zip(mono_now)
        .and_then(|(s, m)| match m.checked_sub(s) {
            Some(age) => (age <= MAX_TIMESTAMP_SKEW).then_some(age),
            None => (s - m <= MAX_TIMESTAMP_SKEW).then_some(Duration::ZERO),
        });
    let back = age.unwrap_or(Duration::ZERO);
    let instant = now.checked_sub(back).unwrap_or(now);
    let unix = wall
        .checked_sub(back)
        .unwrap_or(wall)
        .duration_since(UNIX_EPOCH);
    let unix_ms = unix.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    (CaptureTime { instant, unix_ms }, age.is_some())
}

/// CLOCK_MONOTONIC now, the clock V4L2 drivers stamp buffers with.
fn monotonic_now() -> Option<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call; clock_gettime only
    // writes into it and keeps no pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    let nanos = u32::try_from(ts.tv_nsec)
        .ok()
        .filter(|&n| rc == 0 && n < 1_000_000_000)?;
    Some(Duration::new(u64::try_from(ts.tv_sec).ok()?, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use PixelFormat::*;

    #[test]
    fn fourccs_map_and_the_first_offered_preference_wins() {
        assert_eq!(
            (pixel_format(b"YU12"), pixel_format(b"JPEG")),
            (Some(I420), Some(Mjpeg))
        );
        assert_eq!(pixel_format(b"RGB3"), None);
        let offered = [*b"RGB3", *b"NV12", *b"YUYV", *b"UYVY"];
        assert_eq!(
            choose_format(DEFAULT_FORMAT_ORDER, &offered),
            Some(*b"UYVY")
        );
        assert_eq!(choose_format(&[Mjpeg, Nv12], &offered), Some(*b"NV12"));
        assert_eq!(choose_format(&[Mjpeg], &offered), None);
    }

    #[test]
    fn sizes_pick_exact_else_closest_else_largest() {
        let discrete =
            [(640, 480), (1280, 720), (1920, 1080)].map(|(w, h)| SizeRange::exactly(w, h));
        assert_eq!(pick_size(&discrete, (1280, 720)), Some((1280, 720)));
        assert_eq!(pick_size(&discrete, (1920, 1200)), Some((1920, 1080)));
        assert_eq!(pick_size(&discrete, (0, 0)), Some((1920, 1080)));
        assert_eq!(pick_size(&[], (640, 480)), None);
        let step = SizeRange([16, 4096, 16], [16, 2160, 8]);
        assert_eq!(pick_size(&[step], (1283, 719)), Some((1280, 720)));
        assert_eq!(pick_size(&[step], (8000, 1)), Some((4096, 16)));
        let no_step = SizeRange([16, 4096, 0], [16, 2160, 0]);
        assert_eq!(no_step.nearest((4095, 7)), (4095, 16));
        let list = listed(&step);
        assert!(list.contains(&(1920, 1080)) && list.last() == Some(&(4096, 2160)));
        assert_eq!(listed(&SizeRange::exactly(640, 480)), vec![(640, 480)]);
    }

    #[test]
    fn jpeg_needs_soi_and_ends_at_its_last_eoi() {
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 0xFF, 0xD9];
        assert_eq!(
            frame_data(Mjpeg, (64, 64), 0, &jpeg, &FramePool::new()).as_deref(),
            Ok(&jpeg[..])
        );
        assert!(frame_data(Mjpeg, (64, 64), 0, &[0, 0, 0xFF, 0xD8], &FramePool::new()).is_err());
        assert!(frame_data(Mjpeg, (64, 64), 0, &[], &FramePool::new()).is_err());
        let padded = [&jpeg[..], &[0; 9]].concat();
        assert_eq!(
            frame_data(Mjpeg, (64, 64), 0, &padded, &FramePool::new()).as_deref(),
            Ok(&jpeg[..])
        );
        let truncated = &jpeg[..5];
        assert_eq!(
            frame_data(Mjpeg, (64, 64), 0, truncated, &FramePool::new()).as_deref(),
            Ok(truncated)
        );
    }

    #[test]
    fn a_jpeg_ends_at_its_own_eoi_not_a_stale_frames() {
        // SOI, a COM segment holding FF D9, SOS (3-byte header), entropy data with a stuffed
        // FF 00 and a restart marker, EOI; then the tail of an older frame with its own EOI.
        let image = [
            0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x04, 0xFF, 0xD9, 0xFF, 0xDA, 0x00, 0x03, 0x01, 0x12,
            0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD9,
        ];
        let stale = [0x77, 0x88, 0xFF, 0x00, 0x99, 0xFF, 0xD9, 0, 0];
        let buffer = [&image[..], &stale[..]].concat();
        assert_eq!(jpeg_end(&image), Some(image.len()));
        assert_eq!(
            frame_data(Mjpeg, (64, 64), 0, &buffer, &FramePool::new()).as_deref(),
            Ok(&image[..])
        );
        // Too broken to walk (a segment length running off the end): the last EOI stands.
        let broken = [0xFF, 0xD8, 0xFF, 0xE0, 0x7F, 0xFF, 1, 0xFF, 0xD9, 0];
        assert_eq!(jpeg_end(&broken), None);
        assert_eq!(
            frame_data(Mjpeg, (64, 64), 0, &broken, &FramePool::new()).as_deref(),
            Ok(&broken[..9])
        );
        // A real JPEG from turbojpeg, with junk after it.
        let mut c = turbojpeg::Compressor::new().unwrap();
        let pixels = vec![128u8; 32 * 16 * 3];
        let img = turbojpeg::Image {
            pixels: &pixels[..],
            width: 32,
            pitch: 32 * 3,
            height: 16,
            format: turbojpeg::PixelFormat::RGB,
        };
        let jpeg = c.compress_to_vec(img).unwrap();
        let padded = [&jpeg[..], &[0xFF, 0xD9, 1, 2][..]].concat();
        assert_eq!(jpeg_end(&padded), Some(jpeg.len()));
    }

    #[test]
    fn raw_frames_are_length_checked_and_padded_rows_repacked() {
        let tight: Vec<u8> = (0..16).collect();
        let longer = [&tight[..], &[9; 5]].concat();
        assert_eq!(
            frame_data(Yuyv, (4, 2), 8, &longer, &FramePool::new()).as_deref(),
            Ok(&tight[..])
        );
        assert_eq!(
            frame_data(Yuyv, (4, 2), 0, &tight, &FramePool::new()).as_deref(),
            Ok(&tight[..])
        );
        assert!(frame_data(Yuyv, (4, 2), 8, &tight[..15], &FramePool::new()).is_err());
        // UYVY 2x2 with 8-byte rows, the last row unpadded.
        let src = [1, 2, 3, 4, 0, 0, 0, 0, 5, 6, 7, 8];
        assert_eq!(
            pack_rows(Uyvy, (2, 2), 8, &src),
            Some(vec![1, 2, 3, 4, 5, 6, 7, 8])
        );
        // NV12 2x2, stride 4: two Y rows, one UV row.
        let src = [1, 2, 0, 0, 3, 4, 0, 0, 5, 6, 0, 0];
        assert_eq!(
            pack_rows(Nv12, (2, 2), 4, &src),
            Some(vec![1, 2, 3, 4, 5, 6])
        );
        // I420 4x2, stride 6: chroma planes at stride 3.
        let src = [1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 0, 9, 10, 0, 11, 12, 0];
        assert_eq!(pack_rows(I420, (4, 2), 6, &src), Some((1..=12).collect()));
        assert_eq!(pack_rows(I420, (4, 2), 6, &src[..16]), None);
        assert_eq!(
            pack_rows(Yuyv, (4, 2), 6, &[0; 64]),
            None,
            "stride below a row"
        );
    }

    #[test]
    fn driver_stamps_are_taken_only_when_monotonic_and_sane() {
        let ts = |sec, usec| Timestamp::new(sec, usec);
        let mono = BufFlags::TIMESTAMP_MONOTONIC;
        assert_eq!(
            driver_stamp(ts(5, 250_000), mono),
            Some(Duration::from_millis(5250))
        );
        assert_eq!(
            driver_stamp(ts(5, 0), BufFlags::TIMESTAMP_UNKNOWN),
            Some(Duration::from_secs(5))
        );
        for bad in [ts(0, 0), ts(5, 1_000_000), ts(-1, 0), ts(5, -1)] {
            assert_eq!(driver_stamp(bad, mono), None);
        }
        assert_eq!(driver_stamp(ts(5, 0), BufFlags::TIMESTAMP_COPY), None);
    }

    #[test]
    fn capture_time_moves_the_dequeue_clocks_back_by_the_age() {
        let (now, wall) = (
            Instant::now(),
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_500),
        );
        let mono_now = Some(Duration::from_millis(100_040));
        let (t, used) = capture_time(Some(Duration::from_millis(100_000)), mono_now, now, wall);
        assert!(used);
        assert_eq!(
            (now - t.instant, t.unix_ms),
            (Duration::from_millis(40), 1_700_000_000_460)
        );
        let (t, used) = capture_time(Some(Duration::from_millis(100_045)), mono_now, now, wall);
        assert!(
            used,
            "a stamp slightly ahead is the monotonic clock: dequeue time"
        );
        assert_eq!((t.instant, t.unix_ms), (now, 1_700_000_000_500));
        for stamp in [
            None,
            Some(Duration::from_secs(103)),
            Some(Duration::from_secs(10)),
        ] {
            let (t, used) = capture_time(stamp, mono_now, now, wall);
            assert!(!used);
            assert_eq!((t.instant, t.unix_ms), (now, 1_700_000_000_500));
        }
        assert!(!capture_time(Some(Duration::from_secs(1)), None, now, wall).1);
        let first = monotonic_now().expect("CLOCK_MONOTONIC is readable");
        assert!(monotonic_now().is_some_and(|later| later >= first));
    }

    #[test]
    fn errnos_map_to_the_cases_and_rates_round() {
        let e = |code| capture_error("/dev/video0", io::Error::from_raw_os_error(code));
        assert!(matches!(e(libc::ENODEV), CaptureError::NoDevice(_)));
        assert!(matches!(e(libc::ENOENT), CaptureError::NoDevice(_)));
        assert!(matches!(e(libc::ENOLINK), CaptureError::NoSignal(_)));
        assert!(matches!(e(libc::ENOLCK), CaptureError::NoSync(_)));
        assert!(matches!(e(libc::EBUSY), CaptureError::Io { .. }));
        let timed_out = io::Error::new(io::ErrorKind::TimedOut, "VIDIOC_DQBUF");
        assert!(matches!(
            capture_error("x", timed_out),
            CaptureError::Timeout(_)
        ));
        assert_eq!(
            (fps_of(1001, 30000), fps_of(1, 60), fps_of(0, 60)),
            (Some(30), Some(60), None)
        );
        fn is_send<T: Send>() {}
        is_send::<V4l2Capture>();
    }
}
