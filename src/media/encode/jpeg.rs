//! JPEG for the MJPEG page and snapshots, and JPEG decoding for MJPEG → H.264, through
//! libjpeg-turbo (the `turbojpeg` crate). MJPEG input passes through untouched.

use super::{EncodeError, Encoder};
use crate::media::{convert, Codec, EncodedFrame, PixelFormat, RawFrame};
use bytes::Bytes;
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
    let need = PixelFormat::I420.frame_len(width, height).unwrap_or(0);
    if i420.len() < need {
        return Err(EncodeError::BadInput(format!(
            "i420 {width}x{height}: {} bytes, need {need}",
            i420.len()
        )));
    }
    // JPEG (JFIF) YCbCr is full range; our I420 is video range (luma 16..=235).
    let full = range_convert(&i420[..need], width as usize * height as usize, &TO_FULL);
    let image = YuvImage {
        pixels: full.as_slice(),
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
    if subsamp == Subsamp::Sub2x1 {
        pixels = i422_to_i420(&pixels, w, h);
    }
    let video = range_convert(&pixels, w * h, &TO_VIDEO);
    Ok((video, w as u32, h as u32))
}

/// Lookup tables between video range (Y 16..=235, C 16..=240) and full range (0..=255):
/// `[luma table, chroma table]`.
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

/// Video range → full range (before JPEG encoding).
static TO_FULL: RangeTables = range_tables(true);
/// Full range → video range (after JPEG decoding).
static TO_VIDEO: RangeTables = range_tables(false);

/// Maps an I420 buffer whose first `luma_len` bytes are luma through `tables`.
fn range_convert(i420: &[u8], luma_len: usize, tables: &RangeTables) -> Vec<u8> {
    let split = luma_len.min(i420.len());
    let mut out = Vec::with_capacity(i420.len());
    out.extend(i420[..split].iter().map(|v| tables[0][*v as usize]));
    out.extend(i420[split..].iter().map(|v| tables[1][*v as usize]));
    out
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

/// The MJPEG stream's encoder: passthrough for MJPEG sources, libjpeg-turbo for raw ones.
pub struct MjpegEncoder {
    compressor: Compressor,
}

impl MjpegEncoder {
    /// A new encoder at [`JPEG_QUALITY`].
    pub fn new() -> Result<MjpegEncoder, EncodeError> {
        let mut compressor =
            Compressor::new().map_err(|e| EncodeError::Backend(format!("jpeg: {e}")))?;
        compressor
            .set_quality(JPEG_QUALITY)
            .and_then(|_| compressor.set_subsamp(Subsamp::Sub2x2))
            .map_err(|e| EncodeError::Backend(format!("jpeg: {e}")))?;
        Ok(MjpegEncoder { compressor })
    }

    /// Encodes any frame to JPEG bytes (passthrough for MJPEG).
    pub fn jpeg(&mut self, frame: &RawFrame) -> Result<Bytes, EncodeError> {
        match frame.format {
            PixelFormat::Mjpeg => Ok(frame.data.clone()),
            PixelFormat::I420 => {
                Ok(
                    encode_i420(&mut self.compressor, &frame.data, frame.width, frame.height)?
                        .into(),
                )
            }
            other => {
                let i420 = convert::to_i420(other, frame.width, frame.height, &frame.data)
                    .map_err(|e| EncodeError::BadInput(e.to_string()))?;
                Ok(encode_i420(&mut self.compressor, &i420, frame.width, frame.height)?.into())
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
    fn encode(
        &mut self,
        frame: &RawFrame,
        _keyframe: bool,
    ) -> Result<Option<EncodedFrame>, EncodeError> {
        let data = self.jpeg(frame)?;
        Ok(Some(EncodedFrame {
            codec: Codec::Mjpeg,
            keyframe: true,
            data,
            width: frame.width,
            height: frame.height,
            captured: frame.captured,
            sequence: frame.sequence,
            encoded_at: Instant::now(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::capture::pattern::TestPattern;
    use crate::media::strip::{self, Luma};

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
