//! What a user may change while the appliance streams (`GET`/`POST /api/stream`, the UI's
//! Stream dialog): the full H.264 stream's bitrate and the JPEG quality of raw frames, as
//! PiKVM's stream settings do. The checks are pure; the values live in atomics that the
//! encode threads read before each frame, so a change applies to the next frame and no
//! viewer reconnects. A JPEG source's own frames (an MS2109's) pass through untouched: the
//! quality only applies to frames periscope compresses itself.

use super::encode::jpeg::JpegQuality;
use super::ladder::RungControl;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The H.264 bitrate a user may set, kbit/s.
pub const H264_KBPS: (u32, u32) = (100, 20_000);
/// The JPEG quality a user may set.
pub const JPEG_QUALITY: (u32, u32) = (10, 100);

/// A change: each field that is present is set.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamChange {
    /// The full H.264 stream's target bitrate, kbit/s.
    pub h264_kbps: Option<u32>,
    /// The JPEG quality of raw frames (MJPEG page, snapshots).
    pub jpeg_quality: Option<u32>,
}

/// The settings as `/api/stream` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamView {
    /// The full H.264 stream's target bitrate, kbit/s (the configured one until changed).
    pub h264_kbps: u32,
    /// False when the encoder refused the last change (it cannot change its rate while it
    /// runs): the stream keeps its old rate.
    pub h264_kbps_applied: bool,
    /// The JPEG quality of raw frames.
    pub jpeg_quality: u32,
    /// `[min, max]` of each.
    pub limits: Limits,
}

/// The accepted ranges.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// kbit/s.
    pub h264_kbps: [u32; 2],
    /// 10..=100.
    pub jpeg_quality: [u32; 2],
}

/// Refuses a change with a reason that names the field and its range (pure).
pub fn check(change: &StreamChange) -> Result<(), String> {
    let within = |name: &str, v: Option<u32>, (lo, hi): (u32, u32)| match v {
        Some(v) if !(lo..=hi).contains(&v) => Err(format!("{name}: {v} is outside {lo}..={hi}")),
        _ => Ok(()),
    };
    if change.h264_kbps.is_none() && change.jpeg_quality.is_none() {
        return Err("nothing to change: give h264_kbps and/or jpeg_quality".into());
    }
    within("h264_kbps", change.h264_kbps, H264_KBPS)?;
    within("jpeg_quality", change.jpeg_quality, JPEG_QUALITY)
}

/// The live settings: the full H.264 rung's control and the JPEG quality.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    h264: Arc<RungControl>,
    configured_bps: u32,
    jpeg: JpegQuality,
}

impl StreamSettings {
    /// Settings over the pipeline's full-rung `h264` control (configured at
    /// `configured_bps`) and the encoders' `jpeg` quality.
    pub fn new(h264: Arc<RungControl>, configured_bps: u32, jpeg: JpegQuality) -> StreamSettings {
        StreamSettings {
            h264,
            configured_bps,
            jpeg,
        }
    }

    /// What is set now.
    pub fn view(&self) -> StreamView {
        let target = match self.h264.target_bps.load(Ordering::Relaxed) {
            0 => self.configured_bps,
            t => t,
        };
        StreamView {
            h264_kbps: target / 1000,
            h264_kbps_applied: !self.h264.refused.load(Ordering::Relaxed),
            jpeg_quality: self.jpeg.get(),
            limits: Limits {
                h264_kbps: [H264_KBPS.0, H264_KBPS.1],
                jpeg_quality: [JPEG_QUALITY.0, JPEG_QUALITY.1],
            },
        }
    }

    /// Checks and applies `change`; the encoders take it at their next frame.
    pub fn apply(&self, change: &StreamChange) -> Result<StreamView, String> {
        check(change)?;
        if let Some(kbps) = change.h264_kbps {
            self.h264.target_bps.store(kbps * 1000, Ordering::Relaxed);
        }
        if let Some(q) = change.jpeg_quality {
            self.jpeg.set(q);
        }
        Ok(self.view())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> (StreamSettings, Arc<RungControl>, JpegQuality) {
        let control = Arc::new(RungControl::default());
        let q = JpegQuality::default();
        (
            StreamSettings::new(Arc::clone(&control), 2_500_000, q.clone()),
            control,
            q,
        )
    }

    #[test]
    fn the_view_starts_at_the_configured_rate_and_quality() {
        let (s, _, _) = settings();
        let v = s.view();
        assert_eq!((v.h264_kbps, v.jpeg_quality), (2500, 80));
        assert!(v.h264_kbps_applied);
        assert_eq!(v.limits.h264_kbps, [100, 20_000]);
    }

    #[test]
    fn a_change_reaches_the_encoders_controls() {
        let (s, control, q) = settings();
        let change = StreamChange {
            h264_kbps: Some(800),
            jpeg_quality: None,
        };
        let v = s.apply(&change).unwrap();
        assert_eq!(control.target_bps.load(Ordering::Relaxed), 800_000);
        assert_eq!((v.h264_kbps, v.jpeg_quality), (800, 80));
        let v = s
            .apply(&StreamChange {
                h264_kbps: None,
                jpeg_quality: Some(40),
            })
            .unwrap();
        assert_eq!(q.get(), 40);
        assert_eq!((v.h264_kbps, v.jpeg_quality), (800, 40));
        // The encoder refusing shows.
        control.refused.store(true, Ordering::Relaxed);
        assert!(!s.view().h264_kbps_applied);
    }

    #[test]
    fn out_of_range_and_empty_changes_are_refused_with_the_field_named() {
        let (s, control, q) = settings();
        for (change, want) in [
            (
                StreamChange {
                    h264_kbps: Some(99),
                    jpeg_quality: Some(50),
                },
                "h264_kbps: 99 is outside 100..=20000",
            ),
            (
                StreamChange {
                    h264_kbps: Some(20_001),
                    jpeg_quality: None,
                },
                "h264_kbps: 20001",
            ),
            (
                StreamChange {
                    h264_kbps: None,
                    jpeg_quality: Some(9),
                },
                "jpeg_quality: 9 is outside 10..=100",
            ),
            (StreamChange::default(), "nothing to change"),
        ] {
            let e = s.apply(&change).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
        // Nothing was applied, not even the valid half of the first change.
        assert_eq!(control.target_bps.load(Ordering::Relaxed), 0);
        assert_eq!(q.get(), 80);
        let bad: Result<StreamChange, _> = serde_json::from_str(r#"{"fps": 60}"#);
        assert!(bad.is_err(), "unknown fields are refused");
    }
}
