//! JPEG for the MJPEG page and snapshots, and JPEG decoding for MJPEG → H.264, through
//! libjpeg-turbo (the `turbojpeg` crate). MJPEG input passes through untouched.

use super::{EncodeError, Encoder};
use crate::media::{convert, Codec, EncodedFrame, PixelFormat, RawFrame};
use bytes::Bytes;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;
use turbojpeg::{Compressor, Decompressor, Subsamp, YuvImage};

/// JPEG quality for raw frames (text on a desktop needs a high one).
pub const JPEG_QUALITY: i32 = 80;

/// Encodes I420 planes (tightly packed) as a 4:2:0 JPEG.
pub fn encode_i420(
    compressor: &mut Compressor,
    i420: &[u8],
    width: u32,
    height: u32,
) -> Result<Vec<u8>, EncodeError> {
    encode_i420_with(compressor, &mut Vec::new(), i420, width, height)
}

/// [`encode_i420`] with `scratch` for the full-range copy: an encoder that keeps it between
/// frames allocates (and page-faults in) nothing per frame for it.
fn encode_i420_with(
    compressor: &mut Compressor,
    scratch: &mut Vec<u8>,
    i420: &[u8],
    width: u32,
    height: u32,
) -> Result<Vec<u8>, EncodeError> {
    let need = PixelFormat::I420.frame_len(width, height).unwrap_or(0);
    if i420.len() < need {
        return Err(EncodeError::BadInput(format!(
            "i420 {width}x{height}: {} bytes, need {need}",
            i420.len()
        )));
    }
    // JPEG (JFIF) YCbCr is full range; our I420 is video range (luma 16..=235).
    let (w, h) = (width as usize, height as usize);
    let luma = w * h;
    if w % 2 == 0 && h % 2 == 0 {
        scratch.resize(need, 0);
        map_planes(&i420[..need], scratch, luma, full_luma, full_chroma);
    } else {
        // libjpeg-turbo's 4:2:0 planes cover whole 2x2 blocks: an odd-sized picture's luma
        // plane gets its last column and row repeated (the chroma planes already match).
        let (pw, ph) = (w.next_multiple_of(2), h.next_multiple_of(2));
        scratch.clear();
        scratch.reserve(pw * ph + (need - luma));
        for y in 0..ph {
            let row = &i420[y.min(h - 1) * w..][..w];
            scratch.extend(row.iter().map(|v| full_luma(*v)));
            if pw > w {
                scratch.push(full_luma(row[w - 1]));
            }
        }
        scratch.extend(i420[luma..need].iter().map(|v| full_chroma(*v)));
    }
    let image = YuvImage {
        pixels: scratch.as_slice(),
        width: width as usize,
        align: 1,
        height: height as usize,
        subsamp: Subsamp::Sub2x2,
    };
    compressor
        .compress_yuv_to_vec(image)
        .map_err(|e| EncodeError::Backend(format!("jpeg: {e}")))
}

/// Decodes a JPEG into tightly packed I420; returns (pixels, width, height). 4:2:0 and 4:2:2
/// JPEGs (what capture dongles send) are supported.
pub fn decode_to_i420(
    decompressor: &mut Decompressor,
    jpeg: &[u8],
) -> Result<(Vec<u8>, u32, u32), EncodeError> {
    let bad = |e: turbojpeg::Error| EncodeError::BadInput(format!("jpeg: {e}"));
    let header = decompressor.read_header(jpeg).map_err(bad)?;
    let (w, h) = (header.width, header.height);
    if w == 0 || h == 0 || w > 8192 || h > 8192 {
        return Err(EncodeError::BadInput(format!(
            "jpeg: size {w}x{h} out of range"
        )));
    }
    let subsamp = match header.subsamp {
        Subsamp::Sub2x2 => Subsamp::Sub2x2,
        Subsamp::Sub2x1 => Subsamp::Sub2x1,
        other => {
            return Err(EncodeError::BadInput(format!(
                "jpeg: unsupported subsampling {other:?}"
            )))
        }
    };
    let len = turbojpeg::yuv_pixels_len(w, 1, h, subsamp).map_err(bad)?;
    let mut pixels = vec![0u8; len];
    let image = YuvImage {
        pixels: pixels.as_mut_slice(),
        width: w,
        align: 1,
        height: h,
        subsamp,
    };
    decompressor.decompress_to_yuv(jpeg, image).map_err(bad)?;
    // libjpeg-turbo pads the luma plane to whole blocks (an even width; for 4:2:0 an even
    // height too); ours is tight.
    let padded_h = match subsamp {
        Subsamp::Sub2x2 => h.next_multiple_of(2),
        _ => h,
    };
    let pw = w.next_multiple_of(2);
    if pw != w || padded_h != h {
        let mut tight = Vec::with_capacity(len);
        for row in pixels[..pw * padded_h].chunks_exact(pw).take(h) {
            tight.extend_from_slice(&row[..w]);
        }
        tight.extend_from_slice(&pixels[pw * padded_h..]);
        pixels = tight;
    }
    if subsamp == Subsamp::Sub2x1 {
        pixels = i422_to_i420(&pixels, w, h);
    }
    let luma = (w * h).min(pixels.len());
    let (y, c) = pixels.split_at_mut(luma);
    y.iter_mut().for_each(|v| *v = video_luma(*v));
    c.iter_mut().for_each(|v| *v = video_chroma(*v));
    Ok((pixels, w as u32, h as u32))
}

/// Writes `src` mapped into `dst` (as long as `src`): its first `luma_len` bytes through
/// `luma`, the rest through `chroma`. Written as zipped slices so that the compiler turns the
/// fixed-point maps below into vector code (a lookup table cannot be).
fn map_planes(
    src: &[u8],
    dst: &mut [u8],
    luma_len: usize,
    luma: impl Fn(u8) -> u8,
    chroma: impl Fn(u8) -> u8,
) {
    let split = luma_len.min(src.len()).min(dst.len());
    let (sy, sc) = src.split_at(split);
    let (dy, dc) = dst.split_at_mut(split);
    dy.iter_mut().zip(sy).for_each(|(d, s)| *d = luma(*s));
    dc.iter_mut().zip(sc).for_each(|(d, s)| *d = chroma(*s));
}

// Video range (Y 16..=235, C 16..=240) ↔ full range (0..=255), in fixed point. Each gives
// exactly what `range_tables` (in the tests) gives for all 256 inputs, which the tests check:
// the multiplier and offset were searched for that, per direction and, for chroma, per side
// of 128 (the tables round away from zero).

/// Video-range luma → full range: `(Y - 16) * 255 / 219`, rounded, clamped.
#[inline(always)]
fn full_luma(v: u8) -> u8 {
    let t = v.saturating_sub(16).min(220) as u32;
    ((t * 2385 + 986) >> 11).min(255) as u8
}

/// Video-range chroma → full range: `(C - 128) * 255 / 224 + 128`, rounded, clamped.
#[inline(always)]
fn full_chroma(v: u8) -> u8 {
    let up = (v.saturating_sub(128) as u32 * 2331 + 1040) >> 11;
    let down = (128u8.saturating_sub(v) as u32 * 2332 + 995) >> 11;
    (128 + up).min(255).saturating_sub(down) as u8
}

/// Full-range luma → video range: `Y * 219 / 255 + 16`, rounded.
#[inline(always)]
fn video_luma(v: u8) -> u8 {
    (((v as u32 * 56280 + 33216) >> 16) + 16) as u8
}

/// Full-range chroma → video range: `(C - 128) * 224 / 255 + 128`, rounded.
#[inline(always)]
fn video_chroma(v: u8) -> u8 {
    let up = (v.saturating_sub(128) as u32 * 57544 + 35144) >> 16;
    let down = (128u8.saturating_sub(v) as u32 * 57544 + 35144) >> 16;
    (128 + up - down) as u8
}

/// Planar 4:2:2 → 4:2:0 by averaging chroma row pairs.
fn i422_to_i420(src: &[u8], w: usize, h: usize) -> Vec<u8> {
    let cw = w.div_ceil(2);
    let ch = h.div_ceil(2);
    let mut out = Vec::with_capacity(w * h + 2 * cw * ch);
    out.extend_from_slice(&src[..w * h]);
    for plane in 0..2 {
        let base = w * h + plane * cw * h;
        for row in 0..ch {
            let a = &src[base + 2 * row * cw..base + (2 * row + 1) * cw];
            let b_row = (2 * row + 1).min(h - 1);
            let b = &src[base + b_row * cw..base + (b_row + 1) * cw];
            out.extend(
                a.iter()
                    .zip(b)
                    .map(|(x, y)| (*x as u16 + *y as u16).div_ceil(2) as u8),
            );
        }
    }
    out
}

/// `frame` as a frame of the MJPEG stream, `data` its JPEG (every JPEG is a keyframe),
/// ready now.
pub fn jpeg_frame(frame: &RawFrame, data: Bytes) -> EncodedFrame {
    EncodedFrame {
        codec: Codec::Mjpeg,
        keyframe: true,
        data,
        width: frame.width,
        height: frame.height,
        captured: frame.captured,
        sequence: frame.sequence,
        encoded_at: Instant::now(),
    }
}

/// The JPEG quality of raw frames, shared by the MJPEG stream's encoder, snapshots and
/// `/api/stream`, which changes it while the stream runs.
#[derive(Debug, Clone)]
pub struct JpegQuality(Arc<AtomicU32>);

impl Default for JpegQuality {
    fn default() -> Self {
        JpegQuality(Arc::new(AtomicU32::new(JPEG_QUALITY as u32)))
    }
}

impl JpegQuality {
    /// The quality now (1..=100).
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed).clamp(1, 100)
    }
    /// Sets it for the next frame.
    pub fn set(&self, q: u32) {
        self.0.store(q.clamp(1, 100), Ordering::Relaxed);
    }
}

/// The MJPEG stream's encoder: passthrough for MJPEG sources, libjpeg-turbo for raw ones.
pub struct MjpegEncoder {
    compressor: Compressor,
    /// The full-range copy of each raw frame, kept between frames.
    scratch: Vec<u8>,
    /// The quality asked for, and the one the compressor has.
    quality: JpegQuality,
    set: u32,
}

impl MjpegEncoder {
    /// A new encoder at [`JPEG_QUALITY`].
    pub fn new() -> Result<MjpegEncoder, EncodeError> {
        MjpegEncoder::with_quality(JpegQuality::default())
    }

    /// A new encoder that follows `quality` from frame to frame.
    pub fn with_quality(quality: JpegQuality) -> Result<MjpegEncoder, EncodeError> {
        let mut compressor =
            Compressor::new().map_err(|e| EncodeError::Backend(format!("jpeg: {e}")))?;
        let set = quality.get();
        compressor
            .set_quality(set as i32)
            .and_then(|_| compressor.set_subsamp(Subsamp::Sub2x2))
            .map_err(|e| EncodeError::Backend(format!("jpeg: {e}")))?;
        Ok(MjpegEncoder {
            compressor,
            scratch: Vec::new(),
            quality,
            set,
        })
    }

    /// Encodes any frame to JPEG bytes (passthrough for MJPEG).
    pub fn jpeg(&mut self, frame: &RawFrame) -> Result<Bytes, EncodeError> {
        let want = self.quality.get();
        if want != self.set && frame.format != PixelFormat::Mjpeg {
            self.compressor
                .set_quality(want as i32)
                .map_err(|e| EncodeError::Backend(format!("jpeg quality {want}: {e}")))?;
            self.set = want;
        }
        match frame.format {
            PixelFormat::Mjpeg => Ok(frame.data.clone()),
            PixelFormat::I420 => Ok(encode_i420_with(
                &mut self.compressor,
                &mut self.scratch,
                &frame.data,
                frame.width,
                frame.height,
            )?
            .into()),
            other => {
                let i420 = convert::to_i420(other, frame.width, frame.height, &frame.data)
                    .map_err(|e| EncodeError::BadInput(e.to_string()))?;
                Ok(encode_i420_with(
                    &mut self.compressor,
                    &mut self.scratch,
                    &i420,
                    frame.width,
                    frame.height,
                )?
                .into())
            }
        }
    }
}

impl Encoder for MjpegEncoder {
    fn name(&self) -> &'static str {
        "turbojpeg"
    }
    fn codec(&self) -> Codec {
        Codec::Mjpeg
    }
    /// Drops the full-range scratch copy (one raw frame).
    fn release(&mut self) {
        self.scratch = Vec::new();
    }
    fn encode(
        &mut self,
        frame: &RawFrame,
        _keyframe: bool,
    ) -> Result<Option<EncodedFrame>, EncodeError> {
        Ok(Some(jpeg_frame(frame, self.jpeg(frame)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::capture::pattern::TestPattern;
    use crate::media::strip::{self, Luma};

    /// Lookup tables between video range (Y 16..=235, C 16..=240) and full range (0..=255),
    /// `[luma table, chroma table]`: the reference the fixed-point maps must equal.
    type RangeTables = [[u8; 256]; 2];

    const fn range_tables(to_full: bool) -> RangeTables {
        let mut t = [[0u8; 256]; 2];
        let mut i = 0;
        while i < 256 {
            let v = i as i32;
            let (y, c) = if to_full {
                ((v - 16) * 255 * 2 / 219, (v - 128) * 255 * 2 / 224)
            } else {
                (v * 219 * 2 / 255 + 32, (v - 128) * 224 * 2 / 255)
            };
            // Values are doubled above: halve with rounding (away from zero for chroma).
            let y = (y + 1) / 2;
            let c = if c >= 0 {
                (c + 1) / 2 + 128
            } else {
                (c - 1) / 2 + 128
            };
            t[0][i] = if y < 0 {
                0
            } else if y > 255 {
                255
            } else {
                y as u8
            };
            t[1][i] = if c < 0 {
                0
            } else if c > 255 {
                255
            } else {
                c as u8
            };
            i += 1;
        }
        t
    }

    static TO_FULL: RangeTables = range_tables(true);
    static TO_VIDEO: RangeTables = range_tables(false);

    #[test]
    fn fixed_point_maps_equal_the_rounded_tables_for_every_value() {
        for v in 0..=255u8 {
            let i = v as usize;
            assert_eq!(full_luma(v), TO_FULL[0][i], "full luma {v}");
            assert_eq!(full_chroma(v), TO_FULL[1][i], "full chroma {v}");
            assert_eq!(video_luma(v), TO_VIDEO[0][i], "video luma {v}");
            assert_eq!(video_chroma(v), TO_VIDEO[1][i], "video chroma {v}");
        }
    }

    #[test]
    fn planes_map_luma_then_chroma_and_the_scratch_is_reused() {
        let src = [16u8, 235, 16, 240];
        let mut dst = [0u8; 4];
        map_planes(&src, &mut dst, 2, full_luma, full_chroma);
        assert_eq!(dst, [0, 255, 0, 255]);
        let (w, h) = (64u32, 32u32);
        let i420 = vec![128u8; PixelFormat::I420.frame_len(w, h).unwrap()];
        let mut e = MjpegEncoder::new().unwrap();
        let frame = |data: Vec<u8>| RawFrame {
            format: PixelFormat::I420,
            width: w,
            height: h,
            data: Bytes::from(data),
            captured: crate::media::CaptureTime {
                instant: Instant::now(),
                unix_ms: 0,
            },
            sequence: 0,
        };
        let first = e.jpeg(&frame(i420.clone())).unwrap();
        let buffer = e.scratch.as_ptr();
        let second = e.jpeg(&frame(i420)).unwrap();
        assert_eq!(first, second, "same frame, same JPEG");
        assert_eq!(e.scratch.as_ptr(), buffer, "the scratch buffer is kept");
        assert_eq!(e.scratch.len(), PixelFormat::I420.frame_len(w, h).unwrap());
    }

    #[test]
    fn the_strip_survives_jpeg() {
        let p = TestPattern::new(1280, 720, 30).unwrap();
        let raw = p.render(1234, 987_654_321);
        let mut c = Compressor::new().unwrap();
        c.set_quality(JPEG_QUALITY).unwrap();
        c.set_subsamp(Subsamp::Sub2x2).unwrap();
        let jpeg = encode_i420(&mut c, &raw, 1280, 720).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        let (back, w, h) = decode_to_i420(&mut Decompressor::new().unwrap(), &jpeg).unwrap();
        assert_eq!((w, h), (1280, 720));
        let v = strip::read(&Luma {
            data: &back,
            width: w,
            height: h,
            stride: w as usize,
        })
        .unwrap();
        assert_eq!(
            v,
            strip::StripValue {
                timestamp_ms: 987_654_321,
                counter: 1234
            }
        );
    }

    /// Mean absolute difference of two equally long planes.
    fn mean_diff(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let sum: u64 = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as u64).sum();
        sum as f64 / a.len() as f64
    }

    #[test]
    fn odd_sized_pictures_go_through_jpeg_and_back_in_place() {
        // libjpeg-turbo pads planes to whole 2x2 blocks; an odd width or height used to
        // panic in the encoder (a thread lost) and skew the decoded picture by a column.
        let mut c = Compressor::new().unwrap();
        c.set_quality(JPEG_QUALITY).unwrap();
        c.set_subsamp(Subsamp::Sub2x2).unwrap();
        let mut d = Decompressor::new().unwrap();
        for (w, h) in [(333u32, 201u32), (334, 201), (333, 200), (1280, 720)] {
            let raw = TestPattern::new(w, h, 30).unwrap().render(77, 123_456);
            let jpeg = encode_i420(&mut c, &raw, w, h).unwrap();
            let (back, bw, bh) = decode_to_i420(&mut d, &jpeg).unwrap();
            assert_eq!((bw, bh), (w, h));
            assert_eq!(back.len(), raw.len(), "{w}x{h}: tight I420 back");
            let luma = (w * h) as usize;
            let diff = mean_diff(&raw[..luma], &back[..luma]);
            assert!(diff < 3.0, "{w}x{h}: luma differs by {diff:.2} on average");
            let diff = mean_diff(&raw[luma..], &back[luma..]);
            assert!(
                diff < 3.0,
                "{w}x{h}: chroma differs by {diff:.2} on average"
            );
            let v = strip::read(&Luma {
                data: &back,
                width: bw,
                height: bh,
                stride: bw as usize,
            })
            .unwrap();
            assert_eq!((v.counter, v.timestamp_ms), (77, 123_456), "{w}x{h}");
        }
    }

    #[test]
    fn mjpeg_passes_through_untouched_and_garbage_is_refused() {
        let mut e = MjpegEncoder::new().unwrap();
        let jpeg = Bytes::from_static(&[0xFF, 0xD8, 1, 2, 3, 0xFF, 0xD9]);
        let frame = RawFrame {
            format: PixelFormat::Mjpeg,
            width: 2,
            height: 2,
            data: jpeg.clone(),
            captured: crate::media::CaptureTime {
                instant: Instant::now(),
                unix_ms: 0,
            },
            sequence: 0,
        };
        let out = e.encode(&frame, false).unwrap().unwrap();
        assert_eq!(out.data.as_ptr(), jpeg.as_ptr(), "same buffer, no copy");
        assert!(decode_to_i420(&mut Decompressor::new().unwrap(), &[0xFF, 0xD8, 0, 0]).is_err());
    }

    #[test]
    fn range_tables_map_black_white_and_grey() {
        assert_eq!(
            (
                TO_FULL[0][16],
                TO_FULL[0][235],
                TO_FULL[0][0],
                TO_FULL[0][255]
            ),
            (0, 255, 0, 255)
        );
        assert_eq!(
            (TO_FULL[1][128], TO_FULL[1][16], TO_FULL[1][240]),
            (128, 0, 255)
        );
        assert_eq!((TO_VIDEO[0][0], TO_VIDEO[0][255]), (16, 235));
        assert_eq!(
            (TO_VIDEO[1][128], TO_VIDEO[1][0], TO_VIDEO[1][255]),
            (128, 16, 240)
        );
        for v in 16..=235u8 {
            let back = TO_VIDEO[0][TO_FULL[0][v as usize] as usize] as i32;
            assert!((back - v as i32).abs() <= 1, "{v} -> {back}");
        }
    }

    #[test]
    fn a_jpeg_of_video_range_black_and_white_is_full_range() {
        let (w, h) = (64u32, 64u32);
        let mut i420 = vec![128u8; PixelFormat::I420.frame_len(w, h).unwrap()];
        i420[..(w * h / 2) as usize].fill(16);
        i420[(w * h / 2) as usize..(w * h) as usize].fill(235);
        let mut c = Compressor::new().unwrap();
        c.set_quality(95).unwrap();
        c.set_subsamp(Subsamp::Sub2x2).unwrap();
        let jpeg = encode_i420(&mut c, &i420, w, h).unwrap();
        let rgb = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::RGB).unwrap();
        let (top, bottom) = (rgb.pixels[3 * (8 * 64 + 8)], rgb.pixels[3 * (56 * 64 + 8)]);
        assert!(top <= 3 && bottom >= 252, "black {top}, white {bottom}");
    }

    #[test]
    fn i422_chroma_rows_are_averaged() {
        // 2x2 luma, chroma 1x2 per plane.
        let src = [1, 2, 3, 4, 10, 20, 30, 40];
        assert_eq!(i422_to_i420(&src, 2, 2), vec![1, 2, 3, 4, 15, 35]);
    }
}
