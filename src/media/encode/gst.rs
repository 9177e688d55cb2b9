//! Hardware H.264 through GStreamer (feature `gstreamer`; the only importer of `gstreamer`,
//! `gstreamer-app` and `gstreamer-video`): one pipeline per picture size and format,
//! `appsrc ! videoconvert ! ENCODER ! [h264parse !] video/x-h264,byte-stream,au ! appsink`,
//! fed one frame and drained of one access unit per [`Encoder::encode`] call (a bounded wait,
//! never a hang). The encoders a profile may name are [`ELEMENTS`]: `v4l2h264enc` (Raspberry
//! Pi), `mpph264enc` (Rockchip), `vaapih264enc` (Intel/AMD) and `x264enc` (software; tests).
//! Each is set for low latency, constrained baseline, and no periodic IDR: an IDR comes only
//! when asked, through the GstForceKeyUnit event. GStreamer is initialised only when one of
//! these is opened, so a binary built with the feature runs without any plugin when the
//! profile's chain falls through to OpenH264. It never decides which encoder to use:
//! `app::h264_encoder` walks the profile's chain and calls [`GstH264Encoder::open`].

use super::h264::{default_bitrate, H264Config};
use super::jpeg::decode_to_i420;
use super::{EncodeError, Encoder};
use crate::media::{CaptureTime, Codec, EncodedFrame, PixelFormat, RawFrame};
use bytes::Bytes;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use turbojpeg::Decompressor;

/// The GStreamer encoder elements a profile's `encoder.h264` chain may name.
pub const ELEMENTS: &[&str] = &["v4l2h264enc", "mpph264enc", "vaapih264enc", "x264enc"];

/// "No periodic IDR": the keyframe interval given to elements that take one (x264's own
/// "infinite" is 2^30).
const NO_PERIODIC_IDR: u32 = 1 << 30;

/// x264's rate-control buffer, in milliseconds of the bitrate: the most one picture may
/// take. x264enc's default (600) lets a forced IDR reach 0.6 s of the stream's bitrate (a
/// 128 KB IDR measured on the busy 720p pattern at 2.76 Mbit/s), which takes that long to
/// cross a link sized to the stream and overflows a slow link's queue; 300 bounds it to
/// ten frames' worth at 30 fps.
const X264_VBV_MS: u32 = 300;

/// How long `encode` waits for the access unit of a frame it just pushed, once the pipeline
/// has produced its first one. An encoder that holds frames back (hardware queues) hands the
/// unit over in a later call; the wait only bounds a stuck element.
const WAIT_STEADY: Duration = Duration::from_millis(500);

/// The wait for a fresh pipeline's first access unit (a hardware encoder's setup).
const WAIT_FIRST: Duration = Duration::from_secs(2);

/// The wait for the probe frame in [`GstH264Encoder::open`] (end of stream drains it).
const WAIT_PROBE: Duration = Duration::from_secs(5);

/// Raw frames appsrc holds before it drops the oldest (leaky): an encoder slower than the
/// source loses raw frames, never encoded ones.
const APPSRC_MAX_BUFFERS: u32 = 2;

/// Access units appsink holds before the encoder's thread waits for `encode` to take one.
const APPSINK_MAX_BUFFERS: u32 = 8;

/// Frames pushed whose access unit has not come out yet, kept to give each unit its capture
/// time and sequence; beyond this the oldest are forgotten (an element that drops frames).
const IN_FLIGHT_MAX: usize = 16;

/// Size of the frame [`GstH264Encoder::open`] encodes to prove the element works.
const PROBE_SIZE: (u32, u32) = (320, 240);

/// H.264 through a GStreamer encoder element.
pub struct GstH264Encoder {
    element: &'static str,
    config: H264Config,
    /// h264parse exists here (gst-plugins-bad): it repeats SPS/PPS before every IDR.
    parse: bool,
    running: Option<Running>,
    decompressor: Option<Decompressor>,
}

/// One pipeline for one input format and size.
struct Running {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
    format: PixelFormat,
    width: u32,
    height: u32,
    /// GStreamer's plane layout for this format and size (offsets, strides, total size).
    info: gst_video::VideoInfo,
    /// Time zero of the buffer timestamps.
    base: Instant,
    last_pts: Option<gst::ClockTime>,
    in_flight: VecDeque<(gst::ClockTime, CaptureTime, u64)>,
    produced: bool,
    broken: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

impl GstH264Encoder {
    /// Initialises GStreamer, checks that `element` exists here and encodes one small frame
    /// through it (a `v4l2h264enc` without an encoder device, or a `vaapih264enc` without a
    /// GPU, fails here rather than at the first viewer). The error says why, for the log line
    /// of the chain's fallback.
    pub fn open(element: &str, config: H264Config) -> Result<GstH264Encoder, EncodeError> {
        let Some(name) = ELEMENTS.iter().copied().find(|e| *e == element) else {
            return Err(backend(
                element,
                format!("not a known encoder (one of {})", ELEMENTS.join(", ")),
            ));
        };
        gst::init().map_err(|e| backend(name, format!("gstreamer init: {e}")))?;
        if gst::ElementFactory::find(name).is_none() {
            return Err(backend(
                name,
                "no such GStreamer element here (plugin not installed, or no encoder device)"
                    .into(),
            ));
        }
        let mut enc = GstH264Encoder {
            element: name,
            config,
            parse: gst::ElementFactory::find("h264parse").is_some(),
            running: None,
            decompressor: None,
        };
        enc.probe()?;
        tracing::info!(target: "encode", element = name, "gstreamer encoder works");
        Ok(enc)
    }

    /// Encodes one grey frame and drains it with end-of-stream; the pipeline is dropped.
    fn probe(&mut self) -> Result<(), EncodeError> {
        let (w, h) = PROBE_SIZE;
        let len = PixelFormat::I420.frame_len(w, h).unwrap_or(0);
        let mut pixels = vec![128u8; len];
        pixels[..(w * h) as usize].fill(64);
        let frame = RawFrame {
            format: PixelFormat::I420,
            width: w,
            height: h,
            data: Bytes::from(pixels),
            captured: CaptureTime {
                instant: Instant::now(),
                unix_ms: 0,
            },
            sequence: 0,
        };
        self.push(&frame, true)?;
        let run = self.running.take();
        let Some(run) = run else {
            return Err(self.err("no pipeline after the probe frame".into()));
        };
        if run.src.end_of_stream().is_err() {
            return Err(self.err(run.failure("end of stream refused")));
        }
        match run.sink.try_pull_sample(clock(WAIT_PROBE)) {
            Some(_) => Ok(()),
            None => Err(self.err(run.failure(&format!(
                "no access unit for a {w}x{h} probe frame within {} s",
                WAIT_PROBE.as_secs()
            )))),
        }
    }

    fn err(&self, message: String) -> EncodeError {
        backend(self.element, message)
    }

    /// Builds (or rebuilds) the pipeline for this frame when needed and pushes the frame.
    fn push(&mut self, frame: &RawFrame, keyframe: bool) -> Result<(), EncodeError> {
        let stale = match &self.running {
            Some(r) => {
                r.broken
                    || r.format != frame.format
                    || r.width != frame.width
                    || r.height != frame.height
            }
            None => true,
        };
        if stale {
            self.running = None;
            let run = self.start(frame.format, frame.width, frame.height)?;
            self.running = Some(run);
        }
        let element = self.element;
        let fps = self.config.fps.max(1);
        let Some(run) = self.running.as_mut() else {
            return Err(backend(element, "no pipeline".into()));
        };
        let result = run.push(frame, keyframe, fps);
        if result.is_err() {
            run.broken = true;
        }
        result.map_err(|m| backend(element, m))
    }

    /// Starts a pipeline for `format` at `width`x`height`.
    fn start(&self, format: PixelFormat, width: u32, height: u32) -> Result<Running, EncodeError> {
        let bitrate = match self.config.bitrate_bps {
            0 => default_bitrate(width, height, self.config.fps),
            b => b,
        };
        let raw_format = gst_format(format)
            .ok_or_else(|| self.err(format!("{} input must be decoded first", format.name())))?;
        let spec = PipelineSpec {
            element: self.element,
            format: raw_format,
            width,
            height,
            fps: self.config.fps.max(1),
            bitrate_bps: bitrate,
            parse: self.parse,
        };
        let desc = spec.description();
        let pipeline = gst::parse::launch_full(&desc, None, gst::ParseFlags::FATAL_ERRORS)
            .map_err(|e| self.err(format!("pipeline {desc:?}: {e}")))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| self.err("the description did not give a pipeline".into()))?;
        let src = pipeline
            .by_name("src")
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
            .ok_or_else(|| self.err("no appsrc in the pipeline".into()))?;
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| self.err("no appsink in the pipeline".into()))?;
        let vformat = match raw_format {
            "YUY2" => gst_video::VideoFormat::Yuy2,
            "UYVY" => gst_video::VideoFormat::Uyvy,
            "NV12" => gst_video::VideoFormat::Nv12,
            _ => gst_video::VideoFormat::I420,
        };
        let info = gst_video::VideoInfo::builder(vformat, width, height)
            .build()
            .map_err(|e| self.err(format!("video info {width}x{height}: {e}")))?;
        let run = Running {
            pipeline,
            src,
            sink,
            format,
            width,
            height,
            info,
            base: Instant::now(),
            last_pts: None,
            in_flight: VecDeque::new(),
            produced: false,
            broken: false,
        };
        if let Err(e) = run.pipeline.set_state(gst::State::Playing) {
            return Err(self.err(run.failure(&format!("cannot start ({e})"))));
        }
        tracing::info!(target: "encode", element = self.element, width, height,
            format = format.name(), bitrate, parse = self.parse, "gstreamer encoder ready");
        Ok(run)
    }

    fn decode_mjpeg(&mut self, frame: &RawFrame) -> Result<RawFrame, EncodeError> {
        if self.decompressor.is_none() {
            let d = Decompressor::new().map_err(|e| EncodeError::Backend(format!("jpeg: {e}")))?;
            self.decompressor = Some(d);
        }
        let Some(d) = &mut self.decompressor else {
            return Err(EncodeError::Backend("jpeg: no decompressor".into()));
        };
        let (pixels, width, height) = decode_to_i420(d, &frame.data)?;
        Ok(RawFrame {
            format: PixelFormat::I420,
            width,
            height,
            data: Bytes::from(pixels),
            captured: frame.captured,
            sequence: frame.sequence,
        })
    }
}

impl Running {
    /// Pushes one frame (with a force-key-unit event first when asked).
    fn push(&mut self, frame: &RawFrame, keyframe: bool, fps: u32) -> Result<(), String> {
        let buffer = self.buffer(frame, fps)?;
        if keyframe {
            let event = gst_video::UpstreamForceKeyUnitEvent::builder()
                .all_headers(true)
                .build();
            if !self.sink.send_event(event) {
                tracing::debug!(target: "encode", "force-key-unit event not handled");
            }
        }
        if let Some(pts) = buffer.pts() {
            if self.in_flight.len() >= IN_FLIGHT_MAX {
                self.in_flight.pop_front();
            }
            self.in_flight
                .push_back((pts, frame.captured, frame.sequence));
        }
        self.src
            .push_buffer(buffer)
            .map(|_| ())
            .map_err(|e| self.failure(&format!("push refused ({e:?})")))
    }

    /// The frame as a GStreamer buffer in GStreamer's plane layout (zero-copy when the
    /// frame's tight layout already is that), timestamped from the capture instant.
    fn buffer(&mut self, frame: &RawFrame, fps: u32) -> Result<gst::Buffer, String> {
        let (w, h) = (frame.width as usize, frame.height as usize);
        let need = frame
            .format
            .frame_len(frame.width, frame.height)
            .unwrap_or(usize::MAX);
        if frame.data.len() < need {
            return Err(format!(
                "{} bytes for a {}x{} {} frame",
                frame.data.len(),
                w,
                h,
                frame.format.name()
            ));
        }
        let planes = tight_planes(frame.format, w, h);
        let offsets = self.info.offset();
        let strides = self.info.stride();
        let same = planes.len() == offsets.len()
            && planes.iter().enumerate().all(|(i, p)| {
                offsets[i] == p.offset && usize::try_from(strides[i]).ok() == Some(p.stride)
            });
        let mut buffer = if same && self.info.size() <= frame.data.len() {
            gst::Buffer::from_slice(frame.data.slice(..self.info.size()))
        } else {
            let mut out = vec![0u8; self.info.size()];
            for (i, p) in planes.iter().enumerate() {
                let (Some(&off), Some(&stride)) = (offsets.get(i), strides.get(i)) else {
                    return Err("plane layout mismatch".into());
                };
                let stride = usize::try_from(stride).map_err(|_| "negative stride")?;
                for row in 0..p.rows {
                    let s = p.offset + row * p.stride;
                    let d = off + row * stride;
                    let (Some(src), Some(dst)) = (
                        frame.data.get(s..s + p.stride),
                        out.get_mut(d..d + p.stride),
                    ) else {
                        return Err("plane layout out of range".into());
                    };
                    dst.copy_from_slice(src);
                }
            }
            gst::Buffer::from_mut_slice(out)
        };
        let mut pts = gst::ClockTime::from_nseconds(
            frame
                .captured
                .instant
                .saturating_duration_since(self.base)
                .as_nanos() as u64,
        );
        if let Some(last) = self.last_pts {
            if pts <= last {
                pts = last + gst::ClockTime::from_useconds(1);
            }
        }
        self.last_pts = Some(pts);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(pts);
            b.set_duration(gst::ClockTime::from_nseconds(1_000_000_000 / fps as u64));
        }
        Ok(buffer)
    }

    /// Waits (bounded) for the next access unit; `None` when none came in time.
    fn pull(&mut self) -> Result<Option<(Bytes, CaptureTime, u64)>, String> {
        let wait = if self.produced {
            WAIT_STEADY
        } else {
            WAIT_FIRST
        };
        let Some(sample) = self.sink.try_pull_sample(clock(wait)) else {
            if let Some(e) = self.bus_error() {
                return Err(e);
            }
            return Ok(None);
        };
        self.produced = true;
        let buffer = sample
            .buffer()
            .ok_or_else(|| "a sample without a buffer".to_string())?;
        let map = buffer
            .map_readable()
            .map_err(|e| format!("map output: {e}"))?;
        let data = Bytes::copy_from_slice(map.as_slice());
        let pts = buffer.pts();
        // The unit's frame: the in-flight entry with its timestamp; older entries were
        // dropped inside the element and are forgotten.
        let mut older = None;
        let meta = loop {
            match (self.in_flight.front().copied(), pts) {
                (Some((p, c, s)), Some(pts)) if p < pts => {
                    self.in_flight.pop_front();
                    older = Some((c, s));
                }
                (Some((p, c, s)), Some(pts)) if p == pts => {
                    self.in_flight.pop_front();
                    break Some((c, s));
                }
                (Some((_, c, s)), None) => {
                    self.in_flight.pop_front();
                    break Some((c, s));
                }
                _ => break older,
            }
        };
        let Some((captured, seq)) = meta else {
            return Err("an access unit for no frame pushed".into());
        };
        Ok(Some((data, captured, seq)))
    }

    /// The first error on the bus, as a message naming the element that posted it.
    fn bus_error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        let msg = bus.pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(e) => {
                let from = msg
                    .src()
                    .map(|s| s.name().to_string())
                    .unwrap_or_else(|| "pipeline".into());
                let debug = e.debug().map(|d| format!(" ({d})")).unwrap_or_default();
                Some(format!("{from}: {}{debug}", e.error()))
            }
            _ => None,
        }
    }

    /// `what`, with the bus's error when there is one.
    fn failure(&self, what: &str) -> String {
        match self.bus_error() {
            Some(e) => format!("{what}: {e}"),
            None => what.to_string(),
        }
    }
}

impl Encoder for GstH264Encoder {
    fn name(&self) -> &'static str {
        self.element
    }

    /// Sets the element's bitrate property (see [`live_bitrate`]); before the first frame the
    /// pipeline simply starts at it. False for an element that cannot, or when GStreamer
    /// refuses the value (the stream keeps its rate).
    fn set_bitrate(&mut self, bps: u32) -> bool {
        let bps = bps.max(1);
        let Some((property, value)) = live_bitrate(self.element, bps) else {
            return false;
        };
        let Some(run) = self.running.as_ref() else {
            self.config.bitrate_bps = bps;
            return true;
        };
        let Some(enc) = run.pipeline.by_name("enc") else {
            return false;
        };
        let Some(pspec) = enc
            .find_property(property)
            .filter(|p| p.flags().contains(gst::glib::ParamFlags::WRITABLE))
        else {
            tracing::warn!(target: "encode", element = self.element, property, "no writable bitrate property");
            return false;
        };
        // set_property panics on a value of the wrong type: parse it as the property's type.
        let Ok(parsed) = gst::glib::Value::deserialize(&value, pspec.value_type()) else {
            tracing::warn!(target: "encode", element = self.element, property, value, "bitrate value refused");
            return false;
        };
        enc.set_property(property, parsed);
        self.config.bitrate_bps = bps;
        true
    }

    fn codec(&self) -> Codec {
        Codec::H264
    }

    /// Stops and drops the pipeline (a hardware encoder's buffers go back to the driver);
    /// the next frame starts a new one.
    fn release(&mut self) {
        self.running = None;
        self.decompressor = None;
    }

    fn encode(
        &mut self,
        frame: &RawFrame,
        keyframe: bool,
    ) -> Result<Option<EncodedFrame>, EncodeError> {
        let decoded;
        let frame = if frame.format == PixelFormat::Mjpeg {
            decoded = self.decode_mjpeg(frame)?;
            &decoded
        } else {
            frame
        };
        if frame.width % 2 != 0 || frame.height % 2 != 0 || frame.width == 0 || frame.height == 0 {
            return Err(EncodeError::BadInput(format!(
                "h264: {}x{} must be even and non-zero",
                frame.width, frame.height
            )));
        }
        let need = frame
            .format
            .frame_len(frame.width, frame.height)
            .unwrap_or(usize::MAX);
        if frame.data.len() < need {
            return Err(EncodeError::BadInput(format!(
                "h264: {} bytes for {}x{} {}",
                frame.data.len(),
                frame.width,
                frame.height,
                frame.format.name()
            )));
        }
        self.push(frame, keyframe)?;
        let element = self.element;
        let Some(run) = self.running.as_mut() else {
            return Err(backend(element, "no pipeline".into()));
        };
        let (width, height) = (run.width, run.height);
        let out = match run.pull() {
            Ok(out) => out,
            Err(e) => {
                run.broken = true;
                return Err(backend(element, e));
            }
        };
        let Some((data, captured, sequence)) = out else {
            return Ok(None);
        };
        if data.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedFrame {
            codec: Codec::H264,
            keyframe: has_idr(&data),
            data,
            width,
            height,
            captured,
            sequence,
            encoded_at: Instant::now(),
        }))
    }
}

fn backend(element: &str, message: String) -> EncodeError {
    EncodeError::Backend(format!("gstreamer {element}: {message}"))
}

fn clock(d: Duration) -> gst::ClockTime {
    gst::ClockTime::from_mseconds(d.as_millis() as u64)
}

/// GStreamer's name of a raw format (`None`: compressed, decode first).
fn gst_format(format: PixelFormat) -> Option<&'static str> {
    match format {
        PixelFormat::I420 => Some("I420"),
        PixelFormat::Yuyv => Some("YUY2"),
        PixelFormat::Uyvy => Some("UYVY"),
        PixelFormat::Nv12 => Some("NV12"),
        PixelFormat::Mjpeg => None,
    }
}

/// One plane of a tightly packed frame: where it starts, bytes per row, rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Plane {
    offset: usize,
    stride: usize,
    rows: usize,
}

/// The planes of a tightly packed `RawFrame` (even `w` and `h`).
fn tight_planes(format: PixelFormat, w: usize, h: usize) -> Vec<Plane> {
    let luma = Plane {
        offset: 0,
        stride: w,
        rows: h,
    };
    match format {
        PixelFormat::I420 => vec![
            luma,
            Plane {
                offset: w * h,
                stride: w / 2,
                rows: h / 2,
            },
            Plane {
                offset: w * h + (w / 2) * (h / 2),
                stride: w / 2,
                rows: h / 2,
            },
        ],
        PixelFormat::Nv12 => vec![
            luma,
            Plane {
                offset: w * h,
                stride: w,
                rows: h / 2,
            },
        ],
        PixelFormat::Yuyv | PixelFormat::Uyvy => vec![Plane {
            offset: 0,
            stride: w * 2,
            rows: h,
        }],
        PixelFormat::Mjpeg => Vec::new(),
    }
}

/// Whether an Annex B access unit holds an IDR slice (NAL type 5).
pub fn has_idr(annexb: &[u8]) -> bool {
    nal_types(annexb).contains(&5)
}

/// The NAL unit types of an Annex B byte stream, in order.
pub fn nal_types(annexb: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 <= annexb.len() {
        if annexb[i] == 0 && annexb[i + 1] == 0 && annexb[i + 2] == 1 {
            if let Some(b) = annexb.get(i + 3) {
                out.push(b & 0x1f);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

/// The H.264 level (as GStreamer spells it) a picture size needs at 30 fps.
fn level_for(width: u32, height: u32) -> &'static str {
    let macroblocks = width.div_ceil(16) * height.div_ceil(16);
    if macroblocks <= 3600 {
        "3.1"
    } else if macroblocks <= 8192 {
        "4"
    } else {
        "5.1"
    }
}

/// The extra-controls structure `v4l2h264enc` is given: the bitrate first, so that a change
/// while it runs (which sets the controls again, in order) applies it even if the driver
/// refuses the others while streaming.
fn v4l2_controls(bps: u32) -> String {
    format!(
        "controls,video_bitrate={bps},h264_i_frame_period={NO_PERIODIC_IDR},repeat_sequence_header=1"
    )
}

/// The property that sets `element`'s bitrate while it runs, and its value for `bps`; `None`
/// for an element that cannot change it in the PLAYING state (`vaapih264enc`). `x264enc`
/// reconfigures its encoder (x264_encoder_reconfig), `mpph264enc` applies it at the next
/// frame, and `v4l2h264enc` sets the V4L2 control on the open device.
fn live_bitrate(element: &str, bps: u32) -> Option<(&'static str, String)> {
    match element {
        "x264enc" => Some(("bitrate", bps.div_ceil(1000).to_string())),
        "mpph264enc" => Some(("bps", bps.to_string())),
        "v4l2h264enc" => Some(("extra-controls", v4l2_controls(bps))),
        _ => None,
    }
}

/// Whether `element` can follow the bandwidth ladder's low rung (its bitrate changes while
/// it runs): the app gives such an encoder a second instance as the low rung.
pub fn adapts(element: &str) -> bool {
    live_bitrate(element, 1).is_some()
}

/// Everything the pipeline description depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PipelineSpec {
    element: &'static str,
    /// GStreamer raw format name (`I420`, `YUY2`, `UYVY`, `NV12`).
    format: &'static str,
    width: u32,
    height: u32,
    fps: u32,
    bitrate_bps: u32,
    parse: bool,
}

impl PipelineSpec {
    /// The element with its low-latency settings, the raw format it is fed (`None`: what it
    /// negotiates with videoconvert) and the extra fields of its output caps.
    fn encoder(&self) -> (String, Option<&'static str>, String) {
        let (bps, kbps) = (self.bitrate_bps, self.bitrate_bps.div_ceil(1000));
        let baseline = "profile=constrained-baseline".to_string();
        match self.element {
            "x264enc" => (
                format!(
                    "x264enc name=enc tune=zerolatency speed-preset=ultrafast bitrate={kbps} \
                     vbv-buf-capacity={X264_VBV_MS} key-int-max={NO_PERIODIC_IDR} byte-stream=true"
                ),
                Some("I420"),
                baseline,
            ),
            "v4l2h264enc" => (
                format!(
                    "v4l2h264enc name=enc extra-controls=\"{}\"",
                    v4l2_controls(bps)
                ),
                None,
                format!(
                    "{baseline},level=(string){}",
                    level_for(self.width, self.height)
                ),
            ),
            "mpph264enc" => (
                format!(
                    "mpph264enc name=enc bps={bps} gop={NO_PERIODIC_IDR} rc-mode=cbr \
                     profile=baseline"
                ),
                None,
                String::new(),
            ),
            _ => (
                format!(
                    "{} name=enc rate-control=cbr bitrate={kbps} \
                     keyframe-period={NO_PERIODIC_IDR}",
                    self.element
                ),
                Some("NV12"),
                baseline,
            ),
        }
    }

    /// The `gst-launch` description of the whole pipeline.
    fn description(&self) -> String {
        let (enc, feed, extra) = self.encoder();
        let caps_in = format!(
            "video/x-raw,format={},width={},height={},framerate={}/1",
            self.format, self.width, self.height, self.fps
        );
        let convert = match feed {
            Some(f) => format!("videoconvert ! video/x-raw,format={f}"),
            None => "videoconvert".to_string(),
        };
        let parse = if self.parse {
            "h264parse config-interval=-1 ! "
        } else {
            ""
        };
        let extra = if extra.is_empty() {
            extra
        } else {
            format!(",{extra}")
        };
        format!(
            "appsrc name=src is-live=true format=time do-timestamp=false block=false \
             max-buffers={APPSRC_MAX_BUFFERS} leaky-type=downstream caps=\"{caps_in}\" ! \
             {convert} ! {enc} ! {parse}\
             video/x-h264,stream-format=byte-stream,alignment=au{extra} ! \
             appsink name=sink sync=false max-buffers={APPSINK_MAX_BUFFERS} drop=false \
             enable-last-sample=false"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(element: &'static str) -> PipelineSpec {
        PipelineSpec {
            element,
            format: "UYVY",
            width: 1920,
            height: 1080,
            fps: 30,
            bitrate_bps: 4_000_000,
            parse: false,
        }
    }

    #[test]
    fn each_element_gets_its_low_latency_settings() {
        let x = spec("x264enc").description();
        for want in [
            "appsrc name=src is-live=true",
            "caps=\"video/x-raw,format=UYVY,width=1920,height=1080,framerate=30/1\"",
            "videoconvert ! video/x-raw,format=I420 ! x264enc name=enc tune=zerolatency",
            "speed-preset=ultrafast bitrate=4000 vbv-buf-capacity=300 key-int-max=1073741824",
            "video/x-h264,stream-format=byte-stream,alignment=au,profile=constrained-baseline ! appsink",
        ] {
            assert!(x.contains(want), "{want:?} not in {x}");
        }
        let v = spec("v4l2h264enc").description();
        assert!(
            v.contains("extra-controls=\"controls,video_bitrate=4000000,h264_i_frame_period=1073741824,repeat_sequence_header=1\""),
            "{v}"
        );
        assert!(
            v.contains("profile=constrained-baseline,level=(string)4"),
            "{v}"
        );
        assert!(v.contains("videoconvert ! v4l2h264enc"), "{v}");
        let m = spec("mpph264enc").description();
        assert!(
            m.contains("bps=4000000 gop=1073741824 rc-mode=cbr profile=baseline"),
            "{m}"
        );
        assert!(m.contains("alignment=au ! appsink"), "{m}");
        let va = spec("vaapih264enc").description();
        assert!(
            va.contains("format=NV12 ! vaapih264enc name=enc rate-control=cbr bitrate=4000 keyframe-period=1073741824"),
            "{va}"
        );
        let parsed = PipelineSpec {
            parse: true,
            ..spec("x264enc")
        };
        assert!(parsed
            .description()
            .contains("! h264parse config-interval=-1 ! video/x-h264"));
    }

    #[test]
    fn nal_types_are_read_from_annex_b() {
        let au = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 0, 0, 3, 1,
        ];
        assert_eq!(nal_types(&au), vec![7, 8, 5]);
        assert!(has_idr(&au));
        assert!(!has_idr(&[0, 0, 1, 0x41, 0x9a]));
        assert!(nal_types(&[0, 0]).is_empty());
    }

    #[test]
    fn tight_planes_follow_the_raw_frame_layout() {
        let p = tight_planes(PixelFormat::I420, 8, 4);
        assert_eq!(
            p.iter()
                .map(|p| (p.offset, p.stride, p.rows))
                .collect::<Vec<_>>(),
            vec![(0, 8, 4), (32, 4, 2), (40, 4, 2)]
        );
        assert_eq!(tight_planes(PixelFormat::Nv12, 8, 4)[1].offset, 32);
        assert_eq!(tight_planes(PixelFormat::Uyvy, 8, 4)[0].stride, 16);
        assert!(tight_planes(PixelFormat::Mjpeg, 8, 4).is_empty());
    }

    #[test]
    fn an_unknown_element_is_refused_before_gstreamer_is_touched() {
        let e = GstH264Encoder::open(
            "nvh264enc",
            H264Config {
                bitrate_bps: 0,
                fps: 30,
                skip_frames: true,
            },
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(e.contains("nvh264enc") && e.contains("x264enc"), "{e}");
    }
}
