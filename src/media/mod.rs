//! Video media types and the video pipeline: capture → encode → fan-out.
//!
//! Owns the frame types that move between stages. Never touches the network: transports
//! subscribe to a [`fanout::FrameBus`] and take [`EncodedFrame`]s from it.

pub mod capture;
pub mod card;
pub mod convert;
pub mod edid;
pub mod encode;
pub mod fanout;
pub mod keyframe;
pub mod ladder;
pub mod pipeline;
pub mod pool;
pub mod settings;
pub mod strip;

use bytes::Bytes;
use std::fmt;
use std::time::Instant;

/// Pixel layout of a raw or compressed frame as a source delivers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Planar 4:2:0: Y plane, then U (Cb), then V (Cr), each tightly packed.
    I420,
    /// Packed 4:2:2: Y0 U Y1 V.
    Yuyv,
    /// Packed 4:2:2: U Y0 V Y1 (TC358743).
    Uyvy,
    /// Semi-planar 4:2:0: Y plane, then interleaved UV.
    Nv12,
    /// Motion JPEG: each frame a complete JPEG (MS2109 dongles).
    Mjpeg,
}

impl PixelFormat {
    /// The name used in logs, the UI and the API (V4L2 fourcc spelling).
    pub fn name(self) -> &'static str {
        match self {
            PixelFormat::I420 => "I420",
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Uyvy => "UYVY",
            PixelFormat::Nv12 => "NV12",
            PixelFormat::Mjpeg => "MJPG",
        }
    }

    /// Bytes one raw frame of this format takes, or `None` for compressed formats.
    pub fn frame_len(self, width: u32, height: u32) -> Option<usize> {
        let (w, h) = (width as usize, height as usize);
        match self {
            PixelFormat::I420 | PixelFormat::Nv12 => {
                Some(w * h + 2 * (w.div_ceil(2) * h.div_ceil(2)))
            }
            PixelFormat::Yuyv | PixelFormat::Uyvy => Some(w * h * 2),
            PixelFormat::Mjpeg => None,
        }
    }
}

impl fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// When a frame was captured: the monotonic instant (for stage latencies) and the wall
/// clock in milliseconds since the Unix epoch (what the test pattern's strip carries).
#[derive(Debug, Clone, Copy)]
pub struct CaptureTime {
    /// Monotonic time of capture (dequeue, or the driver's timestamp mapped onto it).
    pub instant: Instant,
    /// Wall-clock milliseconds since the Unix epoch at capture.
    pub unix_ms: u64,
}

/// One frame as a source produced it.
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// Layout of `data`.
    pub format: PixelFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels (or the JPEG for [`PixelFormat::Mjpeg`]), shared, never copied per consumer.
    pub data: Bytes,
    /// When the source produced it.
    pub captured: CaptureTime,
    /// Source frame counter: consecutive frames differ by one; gaps mean drops.
    pub sequence: u64,
}

/// The codec of an encoded stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// H.264 Annex B access units (constrained baseline).
    H264,
    /// One complete JPEG per frame.
    Mjpeg,
}

impl Codec {
    /// The name used in the API and UI.
    pub fn name(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::Mjpeg => "mjpeg",
        }
    }
}

/// One encoded access unit, shared by every viewer through an `Arc`.
#[derive(Debug, Clone)]
pub struct EncodedFrame {
    /// Codec of `data`.
    pub codec: Codec,
    /// Whether a decoder can start here (H.264 IDR; every JPEG).
    pub keyframe: bool,
    /// Annex B NAL units or a JPEG.
    pub data: Bytes,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// When the source produced the frame this was encoded from.
    pub captured: CaptureTime,
    /// Source sequence number of that frame.
    pub sequence: u64,
    /// When encoding finished (for the server-added latency metric).
    pub encoded_at: Instant,
}
