//! The H.264 encoder chain and the GStreamer encoders (feature `gstreamer`): every raw format
//! and MJPEG through `x264enc`, decoded again with OpenH264 (size, the timestamp strip intact,
//! so the plane layout is right), IDRs exactly when asked, a size change mid-stream, a release
//! and restart, errors instead of panics, and the chain's fallback to OpenH264 with the reason.
#![cfg(feature = "openh264")]

use periscope::app::h264_encoder;

fn chain(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn an_encoder_missing_here_falls_back_to_openh264_with_the_reason() {
    let (enc, skipped) = h264_encoder(&chain(&["mpph264enc", "openh264"]), 0, 30, 1).unwrap();
    assert_eq!(enc.name(), "openh264");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    let (name, why) = (&skipped[0].name, &skipped[0].reason);
    assert_eq!(name, "mpph264enc");
    let expected = if cfg!(feature = "gstreamer") {
        "no such GStreamer element here"
    } else {
        "built without the gstreamer feature"
    };
    assert!(why.contains(expected), "{why}");
    let (enc, skipped) = h264_encoder(&chain(&["openh264"]), 0, 30, 1).unwrap();
    assert_eq!((enc.name(), skipped.len()), ("openh264", 0));
}

#[cfg(feature = "gstreamer")]
mod x264 {
    use super::{chain, h264_encoder};
    use bytes::Bytes;
    use openh264::decoder::Decoder;
    use openh264::formats::YUVSource;
    use periscope::media::capture::pattern::TestPattern;
    use periscope::media::encode::gst::{nal_types, GstH264Encoder};
    use periscope::media::encode::h264::H264Config;
    use periscope::media::encode::jpeg::MjpegEncoder;
    use periscope::media::encode::{EncodeError, Encoder};
    use periscope::media::strip::{self, Luma};
    use periscope::media::{CaptureTime, EncodedFrame, PixelFormat, RawFrame};
    use std::time::{Duration, Instant};

    const CONFIG: H264Config = H264Config {
        bitrate_bps: 2_000_000,
        fps: 30,
        skip_frames: true,
    };

    fn x264() -> GstH264Encoder {
        GstH264Encoder::open("x264enc", CONFIG).expect("x264enc (gstreamer1.0-plugins-ugly)")
    }

    /// Frame `seq` of a `w`x`h` test pattern in `format`, captured `seq` frame times after t0.
    fn frame(t0: Instant, w: u32, h: u32, seq: u64, format: PixelFormat) -> RawFrame {
        let unix_ms = 7_000_000 + seq * 33;
        let i420 = TestPattern::new(w, h, 30).unwrap().render(seq, unix_ms);
        let raw = RawFrame {
            format: PixelFormat::I420,
            width: w,
            height: h,
            data: Bytes::from(i420.clone()),
            captured: CaptureTime {
                instant: t0 + Duration::from_millis(seq * 33),
                unix_ms,
            },
            sequence: seq,
        };
        let data = match format {
            PixelFormat::I420 => return raw,
            PixelFormat::Mjpeg => MjpegEncoder::new().unwrap().jpeg(&raw).unwrap(),
            other => Bytes::from(from_i420(other, w as usize, h as usize, &i420)),
        };
        RawFrame {
            format,
            data,
            ..raw
        }
    }

    /// I420 → NV12 / YUYV / UYVY (the inverse of `media::convert`, for test input).
    fn from_i420(format: PixelFormat, w: usize, h: usize, i420: &[u8]) -> Vec<u8> {
        let (y, rest) = i420.split_at(w * h);
        let (u, v) = rest.split_at(w * h / 4);
        let c = |x: usize, row: usize| (row / 2) * (w / 2) + x / 2;
        match format {
            PixelFormat::Nv12 => {
                let mut out = y.to_vec();
                for i in 0..w * h / 4 {
                    out.push(u[i]);
                    out.push(v[i]);
                }
                out
            }
            PixelFormat::Yuyv | PixelFormat::Uyvy => {
                let mut out = Vec::with_capacity(w * h * 2);
                for row in 0..h {
                    for x in (0..w).step_by(2) {
                        let (y0, y1) = (y[row * w + x], y[row * w + x + 1]);
                        let (cb, cr) = (u[c(x, row)], v[c(x, row)]);
                        if format == PixelFormat::Yuyv {
                            out.extend_from_slice(&[y0, cb, y1, cr]);
                        } else {
                            out.extend_from_slice(&[cb, y0, cr, y1]);
                        }
                    }
                }
                out
            }
            _ => unreachable!("test input format"),
        }
    }

    /// Decodes one access unit: the picture's size and strip (counter, timestamp), if any.
    fn decode(dec: &mut Decoder, unit: &EncodedFrame) -> Option<((usize, usize), (u32, u32))> {
        let yuv = dec.decode(&unit.data).expect("decodable H.264")?;
        let (w, h) = yuv.dimensions();
        let v = strip::read(&Luma {
            data: yuv.y(),
            width: w as u32,
            height: h as u32,
            stride: yuv.strides().0,
        })
        .expect("strip readable");
        Some(((w, h), (v.counter, v.timestamp_ms)))
    }

    /// Encodes frames 0..n (keyframes asked at `idr`) and returns the units that came out.
    fn run(
        enc: &mut dyn Encoder,
        t0: Instant,
        size: (u32, u32),
        seqs: std::ops::Range<u64>,
        format: PixelFormat,
        idr: &[u64],
    ) -> Vec<EncodedFrame> {
        seqs.filter_map(|i| {
            enc.encode(&frame(t0, size.0, size.1, i, format), idr.contains(&i))
                .unwrap_or_else(|e| panic!("frame {i} {format}: {e}"))
        })
        .collect()
    }

    #[test]
    fn every_raw_format_and_mjpeg_encodes_through_x264enc_and_decodes_with_openh264() {
        let t0 = Instant::now();
        // 1366 is not a multiple of 4 at half width: the copy into GStreamer's padded layout.
        for (w, h) in [(640, 480), (1366, 768)] {
            for format in [
                PixelFormat::I420,
                PixelFormat::Nv12,
                PixelFormat::Yuyv,
                PixelFormat::Uyvy,
                PixelFormat::Mjpeg,
            ] {
                let mut enc = x264();
                let mut dec = Decoder::new().unwrap();
                let units = run(&mut enc, t0, (w, h), 0..6, format, &[0]);
                assert!(units.len() >= 5, "{format} {w}x{h}: {} units", units.len());
                assert!(units[0].keyframe, "{format}: the stream starts with an IDR");
                let mut pictures = 0;
                for u in &units {
                    assert_eq!((u.width, u.height), (w, h));
                    if let Some((size, (counter, ts))) = decode(&mut dec, u) {
                        assert_eq!(size, (w as usize, h as usize), "{format}");
                        assert_eq!(counter as u64, u.sequence, "{format}: unit ↔ frame");
                        assert_eq!(ts, 7_000_000 + counter * 33, "{format}: strip intact");
                        assert_eq!(u.captured.unix_ms as u32, ts);
                        pictures += 1;
                    }
                }
                assert!(pictures >= 5, "{format} {w}x{h}: {pictures} pictures");
            }
        }
    }

    #[test]
    fn a_forced_keyframe_is_an_idr_with_sps_and_pps_and_there_are_no_others() {
        let mut enc = x264();
        let units = run(
            &mut enc,
            Instant::now(),
            (640, 480),
            0..40,
            PixelFormat::I420,
            &[0, 12, 30],
        );
        assert_eq!(units.len(), 40, "one unit per frame");
        let idrs: Vec<u64> = units
            .iter()
            .filter(|u| u.keyframe)
            .map(|u| u.sequence)
            .collect();
        assert_eq!(idrs, vec![0, 12, 30], "IDRs only when asked");
        for u in &units {
            let types = nal_types(&u.data);
            if u.keyframe {
                for t in [7, 8, 5] {
                    assert!(
                        types.contains(&t),
                        "IDR {} lacks NAL {t}: {types:?}",
                        u.sequence
                    );
                }
            } else {
                assert!(!types.contains(&5), "{types:?}");
            }
        }
        let mut dec = Decoder::new().unwrap();
        // A decoder joining at the second IDR decodes from there.
        let late: Vec<_> = units[12..]
            .iter()
            .filter_map(|u| decode(&mut dec, u))
            .collect();
        assert_eq!(late.len(), 28);
    }

    #[test]
    fn a_size_or_format_change_restarts_the_stream_at_the_new_size() {
        let mut enc = x264();
        let mut dec = Decoder::new().unwrap();
        let t0 = Instant::now();
        let mut seq = 0;
        for (size, format) in [
            ((640, 480), PixelFormat::I420),
            ((320, 240), PixelFormat::I420),
            ((1280, 720), PixelFormat::Uyvy),
            ((1280, 720), PixelFormat::Nv12),
        ] {
            let units = run(&mut enc, t0, size, seq..seq + 4, format, &[]);
            seq += 4;
            assert!(
                units[0].keyframe,
                "{size:?} {format}: a new pipeline starts with an IDR"
            );
            for u in &units {
                let (got, _) = decode(&mut dec, u).expect("one picture per unit");
                assert_eq!(got, (size.0 as usize, size.1 as usize));
            }
        }
    }

    #[test]
    fn a_released_pipeline_starts_again_on_an_idr_and_decodes_on() {
        let mut enc = x264();
        let mut dec = Decoder::new().unwrap();
        let t0 = Instant::now();
        let before = run(&mut enc, t0, (640, 480), 0..8, PixelFormat::I420, &[0]);
        enc.release();
        enc.release(); // twice is harmless
        let after = run(&mut enc, t0, (640, 480), 8..16, PixelFormat::I420, &[]);
        assert_eq!(after.len(), 8, "one unit per frame after the release");
        assert!(after[0].keyframe, "the new pipeline starts with an IDR");
        assert_eq!(after.iter().filter(|u| u.keyframe).count(), 1);
        let decoded: Vec<u64> = before
            .iter()
            .chain(&after)
            .filter_map(|u| decode(&mut dec, u).map(|(_, (counter, _))| counter as u64))
            .collect();
        assert_eq!(
            decoded,
            (0..16).collect::<Vec<_>>(),
            "one decoder, every frame"
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut enc = x264();
        let t0 = Instant::now();
        let mut short = frame(t0, 64, 64, 0, PixelFormat::I420);
        short.data = short.data.slice(..100);
        assert!(matches!(
            enc.encode(&short, false),
            Err(EncodeError::BadInput(_))
        ));
        let mut odd = frame(t0, 64, 64, 1, PixelFormat::Yuyv);
        odd.width = 63;
        assert!(matches!(
            enc.encode(&odd, false),
            Err(EncodeError::BadInput(_))
        ));
        let mut garbage = frame(t0, 64, 64, 2, PixelFormat::Mjpeg);
        garbage.data = Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0x00]);
        assert!(enc.encode(&garbage, false).is_err());
        // And it still encodes afterwards.
        let ok = enc
            .encode(&frame(t0, 64, 64, 3, PixelFormat::I420), true)
            .unwrap();
        assert!(ok.is_some_and(|u| u.keyframe));
    }

    #[test]
    fn the_chain_picks_x264enc_when_it_comes_first() {
        let (enc, skipped) =
            h264_encoder(&chain(&["v4l2h264enc", "x264enc", "openh264"]), 0, 30, 1).unwrap();
        assert_eq!(enc.name(), "x264enc");
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].name, "v4l2h264enc");
    }

    /// One access unit per frame, in the same call, over 60 frames at 720p (what the encode
    /// thread relies on); prints the time per frame as a by-product (not a benchmark).
    #[test]
    fn every_720p_frame_gives_its_unit_in_the_same_call() {
        let mut enc = x264();
        let t0 = Instant::now();
        let frames: Vec<RawFrame> = (0..60)
            .map(|i| frame(t0, 1280, 720, i, PixelFormat::I420))
            .collect();
        let mut times = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let start = Instant::now();
            let out = enc.encode(f, i == 0).unwrap();
            times.push(start.elapsed());
            assert!(out.is_some(), "frame {i}");
        }
        times.sort();
        eprintln!(
            "x264enc 1280x720 I420: median {:?}, max {:?} per frame (60 frames)",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }

    /// The ladder's low rung needs a bitrate that changes while the pipeline runs: x264enc
    /// follows `set_bitrate` from one second to the next, and the stream keeps decoding.
    #[test]
    fn set_bitrate_changes_the_running_x264enc_streams_rate() {
        use periscope::media::capture::pattern::Motion;
        let pattern = TestPattern::new(640, 360, 30)
            .unwrap()
            .with_motion(Motion::Busy);
        let mut enc = GstH264Encoder::open(
            "x264enc",
            H264Config {
                bitrate_bps: 3_000_000,
                ..CONFIG
            },
        )
        .unwrap();
        let mut dec = Decoder::new().unwrap();
        let t0 = Instant::now();
        // Bits per second over frames [from, to) at 30 fps, and the pictures decoded.
        let mut run = |enc: &mut GstH264Encoder, from: u64, to: u64| {
            let (mut bytes, mut decoded) = (0usize, 0);
            for i in from..to {
                let unix_ms = 9_000_000 + i * 33;
                let f = RawFrame {
                    format: PixelFormat::I420,
                    width: 640,
                    height: 360,
                    data: Bytes::from(pattern.render(i, unix_ms)),
                    captured: CaptureTime {
                        instant: t0 + Duration::from_millis(i * 33),
                        unix_ms,
                    },
                    sequence: i,
                };
                if let Some(out) = enc.encode(&f, i == 0).unwrap() {
                    bytes += out.data.len();
                    decoded += usize::from(dec.decode(&out.data).unwrap().is_some());
                }
            }
            (bytes as f64 * 8.0 * 30.0 / (to - from) as f64, decoded)
        };
        run(&mut enc, 0, 30);
        let (high, _) = run(&mut enc, 30, 90);
        assert!(enc.set_bitrate(400_000), "x264enc's bitrate is live");
        run(&mut enc, 90, 120);
        let (low, decoded) = run(&mut enc, 120, 180);
        assert!(
            high > 1_500_000.0,
            "the busy pattern fills 3 Mbit/s: {high}"
        );
        assert!(
            low < 700_000.0 && low < high / 3.0,
            "after set_bitrate(400k) the stream is {low} bit/s (was {high})"
        );
        assert!(decoded > 50, "the same stream keeps decoding: {decoded}");
        // An element that cannot change its rate while it runs says so.
        assert!(!periscope::media::encode::gst::adapts("vaapih264enc"));
        assert!(periscope::media::encode::gst::adapts("v4l2h264enc"));
    }
}
