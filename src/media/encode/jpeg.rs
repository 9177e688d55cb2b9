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
        return Err(EncodeError::BadInput(format!("i420 {width}x{height}: {} bytes, need {need}", i420.len())));
    }
    let image = YuvImage {
        pixels: &i420[..need],
        width: width as usize,
        align: 1,
        height: height as usize,
        subsamp: Subsamp::Sub2x2,
    };
    compressor.compress_yuv_to_vec(image).map_err(|e| EncodeError::Backend(format!("jpeg: {e}")))
}

/// Decodes a JPEG into tightly packed I420; returns (pixels, width, height). 4:2:0 and 4:2:2
/// JPEGs (what capture dongles send) are supported.
pub fn decode_to_i420(decompressor: &mut Decompressor, jpeg: &[u8]) -> Result<(Vec<u8>, u32, u32), EncodeError> {
    let bad = |e: turbojpeg::Error| EncodeError::BadInput(format!("jpeg: {e}"));
    let header = decompressor.read_header(jpeg).map_err(bad)?;
    let (w, h) = (header.width, header.height);
    if w == 0 || h == 0 || w > 8192 || h > 8192 {
        return Err(EncodeError::BadInput(format!("jpeg: size {w}x{h} out of range")));
    }
    let subsamp = match header.subsamp {
        Subsamp::Sub2x2 => Subsamp::Sub2x2,
        Subsamp::Sub2x1 => Subsamp::Sub2x1,
        other => return Err(EncodeError::BadInput(format!("jpeg: unsupported subsampling {other:?}"))),
    };
    let len = turbojpeg::yuv_pixels_len(w, 1, h, subsamp).map_err(bad)?;
    let mut pixels = vec![0u8; len];
    let image = YuvImage { pixels: pixels.as_mut_slice(), width: w, align: 1, height: h, subsamp };
    decompressor.decompress_to_yuv(jpeg, image).map_err(bad)?;
    if subsamp == Subsamp::Sub2x1 {
        pixels = i422_to_i420(&pixels, w, h);
    }
    Ok((pixels, w as u32, h as u32))
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
            out.extend(a.iter().zip(b).map(|(x, y)| ((*x as u16 + *y as u16 + 1) / 2) as u8));
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
        let mut compressor = Compressor::new().map_err(|e| EncodeError::Backend(format!("jpeg: {e}")))?;
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
            PixelFormat::I420 => Ok(encode_i420(&mut self.compressor, &frame.data, frame.width, frame.height)?.into()),
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
    fn encode(&mut self, frame: &RawFrame, _keyframe: bool) -> Result<Option<EncodedFrame>, EncodeError> {
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
        let v = strip::read(&Luma { data: &back, width: w, height: h, stride: w as usize }).unwrap();
        assert_eq!(v, strip::StripValue { timestamp_ms: 987_654_321, counter: 1234 });
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
            captured: crate::media::CaptureTime { instant: Instant::now(), unix_ms: 0 },
            sequence: 0,
        };
        let out = e.encode(&frame, false).unwrap().unwrap();
        assert_eq!(out.data.as_ptr(), jpeg.as_ptr(), "same buffer, no copy");
        assert!(decode_to_i420(&mut Decompressor::new().unwrap(), &[0xFF, 0xD8, 0, 0]).is_err());
    }

    #[test]
    fn i422_chroma_rows_are_averaged() {
        // 2x2 luma, chroma 1x2 per plane.
        let src = [1, 2, 3, 4, 10, 20, 30, 40];
        assert_eq!(i422_to_i420(&src, 2, 2), vec![1, 2, 3, 4, 15, 35]);
    }
}
