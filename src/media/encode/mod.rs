//! Encoders: raw (or MJPEG) frames in, [`EncodedFrame`]s out, behind the [`Encoder`] trait so
//! hardware encoders (GStreamer) slot in beside OpenH264.
//!
//! - [`jpeg::MjpegEncoder`]: MJPEG frames pass through untouched; raw frames are JPEG-encoded.
//! - [`h264::OpenH264Encoder`] (feature `openh264`): constrained baseline H.264; MJPEG input is
//!   decoded to I420 first.
//! - [`gst::GstH264Encoder`] (feature `gstreamer`): a GStreamer H.264 element (`v4l2h264enc`,
//!   `mpph264enc`, `vaapih264enc`, `x264enc`) chosen by the profile's encoder chain.

#[cfg(feature = "gstreamer")]
pub mod gst;
#[cfg(feature = "openh264")]
pub mod h264;
pub mod jpeg;

use super::{Codec, EncodedFrame, RawFrame};

/// Why a frame was not encoded. The pipeline logs it (once per change) and goes on.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The input could not be read (bad JPEG, wrong length).
    #[error("encode: bad input: {0}")]
    BadInput(String),
    /// The encoder library failed.
    #[error("encode: {0}")]
    Backend(String),
}

/// Turns frames into one stream's access units.
pub trait Encoder: Send {
    /// Name for logs and /api/state ("openh264", "passthrough", "turbojpeg").
    fn name(&self) -> &'static str;
    /// The codec produced.
    fn codec(&self) -> Codec;
    /// Encodes one frame; `keyframe` forces an IDR. `Ok(None)`: the encoder skipped this
    /// frame (rate control).
    fn encode(
        &mut self,
        frame: &RawFrame,
        keyframe: bool,
    ) -> Result<Option<EncodedFrame>, EncodeError>;
    /// Changes the target bitrate of the running stream (bits per second), from the next
    /// frame on. False: this encoder cannot (it keeps its rate).
    fn set_bitrate(&mut self, _bps: u32) -> bool {
        false
    }
    /// Lets go of what the encoder holds between frames (the library's encoder and its
    /// picture buffers, a GStreamer pipeline) while its stream has no viewers; the next
    /// [`Encoder::encode`] sets it up again and starts with a keyframe. Settings (bitrate)
    /// are kept. Default: nothing to let go of.
    fn release(&mut self) {}
}
