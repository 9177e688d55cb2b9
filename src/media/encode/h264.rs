//! Software H.264 through OpenH264 (the only importer of `openh264`): constrained baseline,
//! no B-frames, bitrate rate control with frame skipping, no periodic IDR — an IDR only on
//! request (new viewer, PLI/FIR, lag). MJPEG and packed/semi-planar input become I420 first.
//!
//! By default a picture is one slice on one thread. With [`OpenH264Encoder::threads`] above
//! one, pictures are cut into one slice per thread (whole macroblock rows, OpenH264's fixed
//! slice count) that OpenH264 encodes on that many threads: an IDR's wall time drops by a
//! quarter on two cores (the keyframe spike a joining viewer causes) for more CPU and
//! memory: OpenH264 keeps a worst-case bitstream buffer per slice (~12 MB at 1080p),
//! docs/BENCHMARKS.md. Packet-sized slices (libwebrtc's choice) were the first version: on
//! busy or text-heavy 1080p pictures, a few hundred slices per IDR, they took periscope to
//! ~195 MiB. More slices than threads balance uneven pictures better (a thread done with a
//! flat half takes the next slice) but cost ~12 MB each. OpenH264 gains nothing from threads
//! on a single slice.

use super::jpeg::decode_to_i420;
use super::{EncodeError, Encoder};
use crate::media::{convert, Codec, EncodedFrame, PixelFormat, RawFrame};
use bytes::Bytes;
use openh264::encoder::{
    BitRate, Complexity, Encoder as Oh264, EncoderConfig, FrameRate, FrameType, Level, Profile,
    RateControlMode, UsageType,
};
use openh264::formats::YUVSlices;
use openh264::OpenH264API;
use std::time::Instant;
use turbojpeg::Decompressor;

/// What the stream should look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H264Config {
    /// Target bitrate in bits per second (0: pick by picture size).
    pub bitrate_bps: u32,
    /// Frame rate the source runs at (rate control needs it).
    pub fps: u32,
    /// Let rate control skip frames to hold the bitrate (true), or encode every frame and
    /// raise the quantiser instead (false: the ladder's low rung, whose frame rate is its own).
    pub skip_frames: bool,
}

/// A bitrate that keeps desktop text sharp: ~3 bits per 1000 pixels per frame, 1..=12 Mbit/s.
pub fn default_bitrate(width: u32, height: u32, fps: u32) -> u32 {
    let bps = width as u64 * height as u64 * fps.max(1) as u64 / 10;
    bps.clamp(1_000_000, 12_000_000) as u32
}

/// Threads for `threads = 0` ("one per core"): the machine's cores, at most 4 (the boards
/// have 4; OpenH264 gains little beyond that at these picture sizes).
pub fn cores() -> u16 {
    std::thread::available_parallelism()
        .map(|n| n.get().min(4) as u16)
        .unwrap_or(1)
}

/// The H.264 level a picture size needs at 30 fps (constrained baseline either way).
fn level_for(width: u32, height: u32) -> Level {
    let macroblocks = width.div_ceil(16) * height.div_ceil(16);
    if macroblocks <= 3600 {
        Level::Level_3_1
    } else if macroblocks <= 8192 {
        Level::Level_4_0
    } else {
        Level::Level_5_1
    }
}

/// The OpenH264 encoder, re-created when the picture size changes.
pub struct OpenH264Encoder {
    config: H264Config,
    inner: Option<(Oh264, u32, u32)>,
    decompressor: Option<Decompressor>,
    out: Vec<u8>,
    /// Raw frames converted to I420, reused frame after frame.
    i420: Vec<u8>,
    /// OpenH264 threads (1: one slice per picture).
    threads: u16,
}

impl OpenH264Encoder {
    /// An encoder; the library is set up at the first frame (its size decides the level).
    pub fn new(config: H264Config) -> OpenH264Encoder {
        OpenH264Encoder {
            config,
            inner: None,
            decompressor: None,
            out: Vec::new(),
            i420: Vec::new(),
            threads: 1,
        }
    }

    /// Encodes on `n` threads, pictures cut into a slice per thread (`n` > 1); 0: one per
    /// core ([`cores`]); 1: one slice on one thread, the default.
    pub fn threads(mut self, n: u16) -> OpenH264Encoder {
        self.threads = if n == 0 { cores() } else { n };
        self
    }

    /// The encoder for this picture size, and whether it was just made (its library is set
    /// up at its first picture).
    fn encoder_for(&mut self, width: u32, height: u32) -> Result<(&mut Oh264, bool), EncodeError> {
        let stale = !matches!(self.inner, Some((_, w, h)) if w == width && h == height);
        if stale {
            let bitrate = self.target_bps(width, height);
            let cfg = EncoderConfig::new()
                .bitrate(BitRate::from_bps(bitrate))
                .max_frame_rate(FrameRate::from_hz(self.config.fps.max(1) as f32))
                .rate_control_mode(RateControlMode::Bitrate)
                .skip_frames(self.config.skip_frames)
                .usage_type(UsageType::CameraVideoRealTime)
                .profile(Profile::Baseline)
                .level(level_for(width, height))
                // OpenH264's own default (the crate picks Medium): mode decisions by SAD, not
                // SATD. Measured (benches/encode.rs, interleaved): IDRs 10–40 % faster on the
                // busy pattern and ~25 % on text-like content at the same size and PSNR
                // (+0.3 dB); P-frames unchanged. A joining viewer's keyframe is the spike.
                .complexity(Complexity::Low);
            // The crate sets up one slice; `cut_into_slices` changes that after the first
            // picture.
            let cfg = cfg.num_threads(self.threads.max(1));
            let enc = Oh264::with_api_config(OpenH264API::from_source(), cfg)
                .map_err(|e| EncodeError::Backend(format!("openh264: {e}")))?;
            tracing::info!(target: "encode", width, height, bitrate, threads = self.threads, "openh264 encoder ready");
            self.inner = Some((enc, width, height));
        }
        match &mut self.inner {
            Some((enc, _, _)) => Ok((enc, stale)),
            None => Err(EncodeError::Backend("openh264: no encoder".into())),
        }
    }

    /// The configured bitrate, or the picture size's default.
    fn target_bps(&self, width: u32, height: u32) -> u32 {
        match self.config.bitrate_bps {
            0 => default_bitrate(width, height, self.config.fps),
            b => b,
        }
    }

    fn convert_to_i420(&mut self, frame: &RawFrame) -> Result<(Vec<u8>, u32, u32), EncodeError> {
        match frame.format {
            PixelFormat::Mjpeg => {
                if self.decompressor.is_none() {
                    let d = Decompressor::new()
                        .map_err(|e| EncodeError::Backend(format!("jpeg: {e}")))?;
                    self.decompressor = Some(d);
                }
                match &mut self.decompressor {
                    Some(d) => decode_to_i420(d, &frame.data),
                    None => Err(EncodeError::Backend("jpeg: no decompressor".into())),
                }
            }
            PixelFormat::I420 => Err(EncodeError::BadInput("i420 needs no conversion".into())),
            other => {
                let mut out = std::mem::take(&mut self.i420);
                convert::to_i420_into(&mut out, other, frame.width, frame.height, &frame.data)
                    .map(|()| (out, frame.width, frame.height))
                    .map_err(|e| EncodeError::BadInput(e.to_string()))
            }
        }
    }
}

impl Encoder for OpenH264Encoder {
    fn name(&self) -> &'static str {
        "openh264"
    }

    #[allow(unsafe_code)] // OpenH264's SetOption: the crate has no safe bitrate setter
    fn set_bitrate(&mut self, bps: u32) -> bool {
        self.config.bitrate_bps = bps.max(1);
        let Some((enc, _, _)) = self.inner.as_mut() else {
            return true; // used when the encoder is created
        };
        // The whole stream and its one spatial layer; OpenH264 re-plans rate control from
        // the next frame.
        for layer in [
            openh264_sys2::SPATIAL_LAYER_ALL,
            openh264_sys2::SPATIAL_LAYER_0,
        ] {
            let mut info = openh264_sys2::SBitrateInfo {
                iLayer: layer,
                iBitrate: bps.min(i32::MAX as u32) as i32,
            };
            // SAFETY: `info` is a valid SBitrateInfo that outlives the call, which is what
            // ENCODER_OPTION_BITRATE reads; the encoder pointer is owned by `enc`.
            let rc = unsafe {
                enc.raw_api().set_option(
                    openh264_sys2::ENCODER_OPTION_BITRATE,
                    std::ptr::addr_of_mut!(info).cast(),
                )
            };
            if rc != 0 {
                tracing::warn!(target: "encode", bps, layer, rc, "openh264: bitrate not changed");
                return false;
            }
        }
        true
    }

    fn codec(&self) -> Codec {
        Codec::H264
    }

    /// Drops the OpenH264 instance (about 21 MiB of reference and scratch pictures at
    /// 1080p) and the conversion buffers; the next frame makes a new one, whose first
    /// picture is an IDR.
    fn release(&mut self) {
        self.inner = None;
        self.decompressor = None;
        self.out = Vec::new();
        self.i420 = Vec::new();
    }

    fn encode(
        &mut self,
        frame: &RawFrame,
        keyframe: bool,
    ) -> Result<Option<EncodedFrame>, EncodeError> {
        let mut converted = None;
        let result = self.encode_converted(frame, keyframe, &mut converted);
        if let Some((buf, _, _)) = converted {
            self.i420 = buf; // reused by the next frame
        }
        result
    }
}

impl OpenH264Encoder {
    /// [`Encoder::encode`], with the converted frame (if the input needed converting) left
    /// in `converted` for reuse.
    fn encode_converted(
        &mut self,
        frame: &RawFrame,
        keyframe: bool,
        converted: &mut Option<(Vec<u8>, u32, u32)>,
    ) -> Result<Option<EncodedFrame>, EncodeError> {
        let (pixels, width, height): (&[u8], u32, u32) = if frame.format == PixelFormat::I420 {
            (&frame.data, frame.width, frame.height)
        } else {
            let c = converted.insert(self.convert_to_i420(frame)?);
            (&c.0, c.1, c.2)
        };
        if width % 2 != 0 || height % 2 != 0 {
            return Err(EncodeError::BadInput(format!(
                "h264: {width}x{height} must be even"
            )));
        }
        let need = PixelFormat::I420
            .frame_len(width, height)
            .unwrap_or(usize::MAX);
        if pixels.len() < need {
            return Err(EncodeError::BadInput(format!(
                "h264: {} bytes for {width}x{height}",
                pixels.len()
            )));
        }
        let (w, h) = (width as usize, height as usize);
        let (y, rest) = pixels.split_at(w * h);
        let (u, v) = rest.split_at(w * h / 4);
        let yuv = YUVSlices::new((y, u, &v[..w * h / 4]), (w, h), (w, w / 2, w / 2));
        let mut out = std::mem::take(&mut self.out);
        let threads = self.threads;
        let (enc, fresh) = self.encoder_for(width, height)?;
        if fresh && threads > 1 {
            // The crate sets OpenH264 up at the first picture, with one slice: set up with
            // this one (its output dropped), then cut into slices. The next picture is an IDR.
            enc.encode_at(&yuv, openh264::Timestamp::ZERO)
                .map_err(|e| EncodeError::Backend(format!("openh264: {e}")))?;
            cut_into_slices(enc, threads)?;
        }
        if keyframe || fresh {
            enc.force_intra_frame();
        }
        let ts = openh264::Timestamp::from_millis(frame.captured.unix_ms);
        let bitstream = enc
            .encode_at(&yuv, ts)
            .map_err(|e| EncodeError::Backend(format!("openh264: {e}")))?;
        let kind = bitstream.frame_type();
        if matches!(kind, FrameType::Skip | FrameType::Invalid) {
            return Ok(None);
        }
        out.clear();
        bitstream.write_vec(&mut out);
        let data = Bytes::copy_from_slice(&out);
        self.out = out;
        if data.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedFrame {
            codec: Codec::H264,
            keyframe: matches!(kind, FrameType::IDR),
            data,
            width,
            height,
            captured: frame.captured,
            sequence: frame.sequence,
            encoded_at: Instant::now(),
        }))
    }
}

/// Has a set-up OpenH264 encoder cut every picture into a slice of whole macroblock rows per
/// thread (SM_FIXEDSLCNUM_SLICE) encoded on `threads` threads. OpenH264 resets itself for it.
#[allow(unsafe_code)] // OpenH264's GetOption/SetOption: the crate sets no slice count
fn cut_into_slices(enc: &mut Oh264, threads: u16) -> Result<(), EncodeError> {
    let slices = u32::from(threads);
    use openh264_sys2::{SEncParamExt, ENCODER_OPTION_SVC_ENCODE_PARAM_EXT, SM_FIXEDSLCNUM_SLICE};
    let mut params = SEncParamExt::default();
    // SAFETY: `params` is a valid SEncParamExt that outlives the call, which is what
    // ENCODER_OPTION_SVC_ENCODE_PARAM_EXT fills in; the encoder pointer is owned by `enc`.
    let rc = unsafe {
        enc.raw_api().get_option(
            ENCODER_OPTION_SVC_ENCODE_PARAM_EXT,
            std::ptr::addr_of_mut!(params).cast(),
        )
    };
    if rc != 0 {
        return Err(EncodeError::Backend(format!(
            "openh264: reading its parameters failed ({rc})"
        )));
    }
    let slicing = &mut params.sSpatialLayers[0].sSliceArgument;
    slicing.uiSliceMode = SM_FIXEDSLCNUM_SLICE;
    slicing.uiSliceNum = slices;
    // Validation set up one thread for the one slice it had.
    params.iMultipleThreadIdc = threads;
    // SAFETY: as above; SetOption reads the same struct, now with the slice count.
    let rc = unsafe {
        enc.raw_api().set_option(
            ENCODER_OPTION_SVC_ENCODE_PARAM_EXT,
            std::ptr::addr_of_mut!(params).cast(),
        )
    };
    if rc != 0 {
        return Err(EncodeError::Backend(format!(
            "openh264: {slices} slices refused ({rc})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::capture::pattern::TestPattern;
    use crate::media::capture::CaptureSource;
    use crate::media::strip::{self, Luma};
    use openh264::decoder::Decoder;
    use openh264::formats::YUVSource;

    #[test]
    fn the_strip_survives_h264_and_idrs_come_on_request() {
        let mut src = TestPattern::new(640, 480, 30).unwrap();
        let mut enc = OpenH264Encoder::new(H264Config {
            bitrate_bps: 2_000_000,
            fps: 30,
            skip_frames: true,
        });
        let mut dec = Decoder::new().unwrap();
        let mut kinds = Vec::new();
        let mut last_read = None;
        for i in 0..12 {
            let frame = src.grab_now(i);
            let out = enc.encode(&frame, i == 0 || i == 8).unwrap();
            let Some(out) = out else { continue };
            kinds.push(out.keyframe);
            if let Some(v) = decode_strip(&mut dec, &out.data) {
                assert_eq!(v.counter, frame.sequence as u32);
                assert_eq!(v.timestamp_ms, frame.captured.unix_ms as u32);
                last_read = Some(v);
            }
        }
        assert!(last_read.is_some());
        assert!(kinds[0], "first frame is an IDR");
        assert_eq!(
            kinds.iter().filter(|k| **k).count(),
            2,
            "IDRs only when asked: {kinds:?}"
        );
    }

    #[test]
    fn an_mjpeg_source_is_decoded_and_sent_as_h264() {
        let src = TestPattern::new(640, 480, 30).unwrap();
        let mut jpeg_enc = crate::media::encode::jpeg::MjpegEncoder::new().unwrap();
        let mut enc = OpenH264Encoder::new(H264Config {
            bitrate_bps: 2_000_000,
            fps: 30,
            skip_frames: true,
        });
        let mut dec = Decoder::new().unwrap();
        let mut read = Vec::new();
        for i in 0..5u64 {
            let unix_ms = 5_000_000 + i * 33;
            let raw = RawFrame {
                format: PixelFormat::I420,
                width: 640,
                height: 480,
                data: Bytes::from(src.render(i, unix_ms)),
                captured: crate::media::CaptureTime {
                    instant: Instant::now(),
                    unix_ms,
                },
                sequence: i,
            };
            let jpeg = jpeg_enc.jpeg(&raw).unwrap();
            let mjpeg = RawFrame {
                format: PixelFormat::Mjpeg,
                data: jpeg,
                ..raw
            };
            let Some(out) = enc.encode(&mjpeg, i == 0).unwrap() else {
                continue;
            };
            if let Some(v) = decode_strip(&mut dec, &out.data) {
                read.push((v.counter, v.timestamp_ms));
            }
        }
        assert!(!read.is_empty());
        for (counter, ts) in read {
            assert_eq!(
                ts,
                5_000_000 + counter * 33,
                "strip intact through JPEG and H.264"
            );
        }
        let garbage = RawFrame {
            format: PixelFormat::Mjpeg,
            width: 640,
            height: 480,
            data: Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0x00, 0x01]),
            captured: crate::media::CaptureTime {
                instant: Instant::now(),
                unix_ms: 0,
            },
            sequence: 9,
        };
        assert!(matches!(
            enc.encode(&garbage, false),
            Err(EncodeError::BadInput(_))
        ));
    }

    #[test]
    fn bad_sizes_are_refused_not_panicking() {
        let mut enc = OpenH264Encoder::new(H264Config {
            bitrate_bps: 0,
            fps: 30,
            skip_frames: true,
        });
        let frame = RawFrame {
            format: PixelFormat::I420,
            width: 64,
            height: 64,
            data: Bytes::from(vec![0u8; 10]),
            captured: crate::media::CaptureTime {
                instant: Instant::now(),
                unix_ms: 0,
            },
            sequence: 0,
        };
        assert!(enc.encode(&frame, false).is_err());
    }

    /// The busy pattern at 640x360, an encoder at 3 Mbit/s (rate control on) and a decoder.
    fn busy_at_3_mbit() -> (TestPattern, OpenH264Encoder, Decoder) {
        use crate::media::capture::pattern::Motion;
        let src = TestPattern::new(640, 360, 30)
            .unwrap()
            .with_motion(Motion::Busy);
        let enc = OpenH264Encoder::new(H264Config {
            bitrate_bps: 3_000_000,
            fps: 30,
            skip_frames: true,
        });
        (src, enc, Decoder::new().unwrap())
    }

    #[test]
    fn set_bitrate_changes_the_running_streams_rate() {
        let (mut src, mut enc, mut dec) = busy_at_3_mbit();
        // Bits per second over frames [from, to), every frame counted at 1/30 s.
        let mut run = |enc: &mut OpenH264Encoder, from: u64, to: u64| {
            let mut bytes = 0usize;
            let mut decoded = 0;
            for i in from..to {
                if let Some(out) = enc.encode(&src.grab_now(i), i == 0).unwrap() {
                    bytes += out.data.len();
                    decoded += usize::from(dec.decode(&out.data).unwrap().is_some());
                }
            }
            (bytes as f64 * 8.0 * 30.0 / (to - from) as f64, decoded)
        };
        run(&mut enc, 0, 30); // settle after the IDR
        let (high, _) = run(&mut enc, 30, 90);
        assert!(enc.set_bitrate(400_000));
        run(&mut enc, 90, 120); // rate control converges
        let (low, decoded) = run(&mut enc, 120, 180);
        assert!(
            high > 1_500_000.0,
            "the busy pattern fills a 3 Mbit/s target: {high}"
        );
        assert!(
            low < 700_000.0 && low < high / 3.0,
            "after set_bitrate(400k) the stream is {low} bit/s (was {high})"
        );
        assert!(decoded > 30, "the same stream keeps decoding: {decoded}");
    }

    #[test]
    fn a_released_encoder_comes_back_with_an_idr_at_the_rate_it_was_set_to() {
        let (mut src, mut enc, mut dec) = busy_at_3_mbit();
        for i in 0..10 {
            enc.encode(&src.grab_now(i), i == 0).unwrap();
        }
        assert!(enc.set_bitrate(400_000));
        enc.release();
        assert!(enc.inner.is_none(), "the library's encoder is gone");
        assert_eq!(enc.i420.capacity(), 0, "and the converted picture");
        let (mut bytes, mut kinds) = (0usize, Vec::new());
        for i in 10..70 {
            let frame = src.grab_now(i);
            let Some(out) = enc.encode(&frame, false).unwrap() else {
                continue;
            };
            kinds.push(out.keyframe);
            if i >= 40 {
                bytes += out.data.len();
            }
            if let Some(v) = decode_strip(&mut dec, &out.data) {
                assert_eq!(v.counter, frame.sequence as u32, "the stream decodes on");
            }
        }
        assert_eq!(kinds.first(), Some(&true), "the first picture is an IDR");
        assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{kinds:?}");
        let bps = bytes as f64 * 8.0 * 30.0 / 30.0;
        assert!(bps < 700_000.0, "the 400k setting survived: {bps} bit/s");
    }

    /// The NAL units of an Annex B access unit (start codes stripped).
    fn nal_units(au: &[u8]) -> Vec<&[u8]> {
        let mut starts = Vec::new();
        let mut i = 0;
        while i + 3 <= au.len() {
            if au[i..i + 3] == [0, 0, 1] {
                starts.push(i + 3);
                i += 3;
            } else {
                i += 1;
            }
        }
        let mut units = Vec::new();
        for (k, &s) in starts.iter().enumerate() {
            let mut end = starts.get(k + 1).map_or(au.len(), |&n| n - 3);
            while end > s && au[end - 1] == 0 {
                end -= 1; // the zero of a 4-byte start code
            }
            units.push(&au[s..end]);
        }
        units
    }

    /// The NAL units of `au` that are slices (IDR or not).
    fn slices(au: &[u8]) -> Vec<&[u8]> {
        nal_units(au)
            .into_iter()
            .filter(|u| matches!(u.first().map(|b| b & 0x1f), Some(1 | 5)))
            .collect()
    }

    #[test]
    fn with_threads_every_picture_is_cut_into_a_slice_per_thread_that_decode() {
        use crate::media::capture::pattern::Motion;
        let mut src = TestPattern::new(1280, 720, 30)
            .unwrap()
            .with_motion(Motion::Busy);
        let config = H264Config {
            bitrate_bps: 0,
            fps: 30,
            skip_frames: false,
        };
        let mut one = OpenH264Encoder::new(config);
        let mut two = OpenH264Encoder::new(config).threads(2);
        let mut dec = Decoder::new().unwrap();
        for i in 0..6u64 {
            let frame = src.grab_now(i);
            // No keyframe asked for at first: a new encoder's first picture is one anyway.
            let idr = i == 4;
            let single = one.encode(&frame, idr).unwrap().unwrap();
            assert_eq!(slices(&single.data).len(), 1, "the default: one slice");
            let out = two.encode(&frame, idr).unwrap().unwrap();
            assert_eq!(out.keyframe, i == 0 || i == 4, "frame {i}");
            let cut = slices(&out.data);
            assert_eq!(cut.len(), 2, "frame {i}: {} bytes", out.data.len());
            let idr_slices = cut.iter().filter(|s| s[0] & 0x1f == 5).count();
            assert_eq!(idr_slices, if out.keyframe { cut.len() } else { 0 });
            let v = decode_strip(&mut dec, &out.data).expect("a picture per access unit");
            assert_eq!(v.counter, frame.sequence as u32);
        }
    }

    /// Decodes one access unit and reads the strip of the picture it completes, if any.
    fn decode_strip(dec: &mut Decoder, data: &[u8]) -> Option<strip::StripValue> {
        let yuv = dec.decode(data).unwrap()?;
        let (w, h) = yuv.dimensions();
        let (ys, _, _) = yuv.strides();
        Some(
            strip::read(&Luma {
                data: yuv.y(),
                width: w as u32,
                height: h as u32,
                stride: ys,
            })
            .unwrap(),
        )
    }

    impl TestPattern {
        fn grab_now(&mut self, seq: u64) -> RawFrame {
            let unix_ms = 1_000_000 + seq * 33;
            let info = self.info();
            RawFrame {
                format: PixelFormat::I420,
                width: info.width,
                height: info.height,
                data: Bytes::from(self.render(seq, unix_ms)),
                captured: crate::media::CaptureTime {
                    instant: Instant::now(),
                    unix_ms,
                },
                sequence: seq,
            }
        }
    }
}
