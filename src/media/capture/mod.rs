//! Video sources: the [`CaptureSource`] trait, its errors, the backends (V4L2, test
//! pattern), and what heals a failing one (`watchdog` decides, `usb_reset` resets). A
//! source runs on its own thread (see `media::pipeline`) and is never waited on by a
//! consumer.

pub mod jpeg_pattern;
pub mod pattern;
#[allow(unsafe_code)] // the USBDEVFS_RESET ioctl
pub mod usb_reset;
#[cfg(feature = "v4l2")]
#[allow(unsafe_code)] // clock_gettime(CLOCK_MONOTONIC) for driver timestamps
pub mod v4l2;
pub mod watchdog;

use super::{PixelFormat, RawFrame};

/// What the user asked a source to deliver. Sources pick the closest they can.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureRequest {
    /// Wanted width in pixels (`None`: the device's current or largest).
    pub width: Option<u32>,
    /// Wanted height in pixels.
    pub height: Option<u32>,
    /// Wanted frames per second (`None`: the device's default).
    pub fps: Option<u32>,
    /// Pixel formats in order of preference (the profile's list).
    pub formats: Vec<PixelFormat>,
    /// EDID bytes for an HDMI (DV-timings) input, written before the signal is queried;
    /// `None`: leave the device's EDID as it is.
    pub edid: Option<Vec<u8>>,
}

impl Default for CaptureRequest {
    fn default() -> Self {
        CaptureRequest {
            width: None,
            height: None,
            fps: None,
            formats: DEFAULT_FORMAT_ORDER.to_vec(),
            edid: None,
        }
    }
}

/// Format preference when the profile gives none: MJPEG passes through untouched, then raw
/// formats the H.264 path converts cheaply.
pub const DEFAULT_FORMAT_ORDER: &[PixelFormat] = &[
    PixelFormat::Mjpeg,
    PixelFormat::Uyvy,
    PixelFormat::Yuyv,
    PixelFormat::Nv12,
];

/// What a source actually delivers once opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// "test-pattern" or the device path.
    pub name: String,
    /// Driver name (`vivid`, `uvcvideo`, …) or "synthetic".
    pub driver: String,
    /// Negotiated pixel format.
    pub format: PixelFormat,
    /// Negotiated width.
    pub width: u32,
    /// Negotiated height.
    pub height: u32,
    /// Negotiated frame rate (frames per second, rounded).
    pub fps: u32,
}

/// What `periscope doctor` learns from an open capture device, read-only (nothing is set or
/// written): its driver, the formats it offers that periscope takes, and for an HDMI input
/// its EDID and signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceReport {
    /// The driver (VIDIOC_QUERYCAP).
    pub driver: String,
    /// The card name.
    pub card: String,
    /// Offered formats periscope takes natively, in the device's order.
    pub formats: Vec<PixelFormat>,
    /// The HDMI (DV-timings) input, if the current input is one.
    pub hdmi: Option<HdmiReport>,
}

/// An HDMI input's EDID and signal, as `DeviceReport` carries them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HdmiReport {
    /// The EDID the input holds (`None`: none, so the source sees no display).
    pub edid: Option<Vec<u8>>,
    /// What the input receives.
    pub signal: SignalReport,
}

/// An HDMI input's signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalReport {
    /// A stable signal, named like `1920x1080p60`.
    Locked(String),
    /// No signal (ENOLINK).
    NoSignal,
    /// No sync (ENOLCK).
    NoSync,
    /// Out of range (ERANGE), with the mode seen if known.
    OutOfRange(Option<String>),
    /// The query failed otherwise.
    Unknown(String),
}

/// Why a source gave no frame. Callers branch on these (blank card, retry, reopen).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The device node does not exist or vanished.
    #[error("capture: {0}: no such device")]
    NoDevice(String),
    /// The device has no signal (ENOLINK).
    #[error("capture: {0}: no signal")]
    NoSignal(String),
    /// The device cannot lock onto the signal (ENOLCK).
    #[error("capture: {0}: no sync")]
    NoSync(String),
    /// The signal's timings are outside what the device takes (ERANGE).
    #[error("capture: {device}: signal out of range{}", seen.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    OutOfRange {
        /// The device path.
        device: String,
        /// The mode the device saw, if it said (`1920x1080p60`).
        seen: Option<String>,
    },
    /// The input's signal changed (a source-change event, or new timings): the source must
    /// be reopened to capture at the new timings.
    #[error("capture: {device}: the signal changed ({why}), restarting capture")]
    SourceChanged {
        /// The device path.
        device: String,
        /// What changed.
        why: String,
    },
    /// None of the wanted formats or sizes is offered.
    #[error("capture: {device}: unsupported format: {reason}")]
    UnsupportedFormat {
        /// The device path.
        device: String,
        /// What was wanted and what the device offers.
        reason: String,
    },
    /// No frame arrived in time.
    #[error("capture: {0}: timed out waiting for a frame")]
    Timeout(String),
    /// Any other I/O error.
    #[error("capture: {device}: {source}")]
    Io {
        /// The device path.
        device: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A source of raw (or MJPEG) frames. `grab` blocks until the next frame; implementations
/// return within about 100 ms even without a frame (`CaptureError::Timeout`) so the capture
/// thread can notice a stop request.
pub trait CaptureSource: Send {
    /// What this source delivers.
    fn info(&self) -> SourceInfo;
    /// The next frame.
    fn grab(&mut self) -> Result<RawFrame, CaptureError>;
}
