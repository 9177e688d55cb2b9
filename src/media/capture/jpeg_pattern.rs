//! The test pattern as a USB HDMI dongle (MS2109 and its kin) delivers a picture: each frame
//! is drawn, then compressed to JPEG on the capture thread, as the dongle's chip compresses
//! it before the host sees it, and handed on as MJPEG. The pipeline then passes it through
//! untouched, as it does a real dongle's frames (`--pattern-format mjpeg`). This is how the
//! MJPEG passthrough path is measured on a machine without a dongle or v4l2loopback.
//!
//! The two times differ as a dongle's do. The strip carries the moment the frame was drawn,
//! before compression (the screen's time). The capture time is the moment the JPEG is
//! ready, which is what a V4L2 dequeue reports. Glass-to-glass latency therefore includes
//! the compression, and the server-added latency starts after it.

use super::pattern::TestPattern;
use super::{CaptureError, CaptureSource, SourceInfo};
use crate::media::encode::jpeg::MjpegEncoder;
use crate::media::{CaptureTime, PixelFormat, RawFrame};
use std::time::Instant;

/// What the synthetic source hands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatternFormat {
    /// Raw I420 frames, as an HDMI-to-CSI bridge delivers (the default).
    #[default]
    Raw,
    /// One JPEG per frame, as a USB HDMI dongle delivers.
    Mjpeg,
}

impl std::str::FromStr for PatternFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<PatternFormat, String> {
        match s {
            "raw" => Ok(PatternFormat::Raw),
            "mjpeg" => Ok(PatternFormat::Mjpeg),
            other => Err(format!("{other:?}: raw or mjpeg")),
        }
    }
}

/// The test pattern, compressed to JPEG frame by frame.
pub struct JpegPattern {
    pattern: TestPattern,
    jpeg: MjpegEncoder,
}

impl JpegPattern {
    /// `pattern`'s frames as JPEGs, at the quality the MJPEG stream uses for raw sources.
    pub fn new(pattern: TestPattern) -> Result<JpegPattern, CaptureError> {
        let jpeg = MjpegEncoder::new().map_err(|e| CaptureError::UnsupportedFormat {
            device: "test-pattern".into(),
            reason: e.to_string(),
        })?;
        Ok(JpegPattern { pattern, jpeg })
    }
}

impl CaptureSource for JpegPattern {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            format: PixelFormat::Mjpeg,
            ..self.pattern.info()
        }
    }

    fn grab(&mut self) -> Result<RawFrame, CaptureError> {
        let raw = self.pattern.grab()?;
        let data = self.jpeg.jpeg(&raw).map_err(|e| CaptureError::Io {
            device: "test-pattern".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        Ok(RawFrame {
            format: PixelFormat::Mjpeg,
            width: raw.width,
            height: raw.height,
            data,
            captured: CaptureTime {
                instant: Instant::now(),
                unix_ms: raw.captured.unix_ms,
            },
            sequence: raw.sequence,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::encode::jpeg::decode_to_i420;
    use crate::media::strip::{self, Luma};
    use turbojpeg::Decompressor;

    #[test]
    fn frames_are_jpegs_that_carry_the_strip_drawn_before_compression() {
        let mut source = JpegPattern::new(TestPattern::new(640, 360, 60).unwrap()).unwrap();
        assert_eq!(source.info().format, PixelFormat::Mjpeg);
        assert_eq!((source.info().width, source.info().height), (640, 360));
        let mut dec = Decompressor::new().unwrap();
        let mut last = None;
        for _ in 0..3 {
            let before = Instant::now();
            let frame = source.grab().unwrap();
            assert_eq!(frame.format, PixelFormat::Mjpeg);
            assert_eq!(&frame.data[..2], &[0xFF, 0xD8], "a JPEG starts with SOI");
            assert!(frame.captured.instant >= before);
            let (i420, w, h) = decode_to_i420(&mut dec, &frame.data).unwrap();
            assert_eq!((w, h), (640, 360));
            let value = strip::read(&Luma {
                data: &i420,
                width: w,
                height: h,
                stride: w as usize,
            })
            .unwrap();
            assert_eq!(value.timestamp_ms, frame.captured.unix_ms as u32);
            assert_eq!(u64::from(value.counter), frame.sequence);
            if let Some(prev) = last {
                assert_eq!(frame.sequence, prev + 1);
            }
            last = Some(frame.sequence);
        }
    }

    #[test]
    fn the_format_is_raw_or_mjpeg() {
        assert_eq!("raw".parse(), Ok(PatternFormat::Raw));
        assert_eq!("mjpeg".parse(), Ok(PatternFormat::Mjpeg));
        assert_eq!(PatternFormat::default(), PatternFormat::Raw);
        let err = "h264".parse::<PatternFormat>().unwrap_err();
        assert!(err.contains("raw or mjpeg"), "{err}");
    }
}
