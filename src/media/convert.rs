//! Raw pixel layouts → I420, the one layout the encoders take. Pure loops; packed 4:2:2
//! rows are averaged in pairs for chroma.

use super::PixelFormat;

/// Why a conversion was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConvertError {
    /// The buffer does not match the format and size.
    #[error("convert: {format} {width}x{height} needs {need} bytes, got {have}")]
    BadLength {
        /// Source format.
        format: PixelFormat,
        /// Width.
        width: u32,
        /// Height.
        height: u32,
        /// Bytes expected.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// Compressed or unknown input.
    #[error("convert: {0} is not a raw format")]
    NotRaw(PixelFormat),
}

/// Converts one raw frame to tightly packed I420.
pub fn to_i420(
    format: PixelFormat,
    width: u32,
    height: u32,
    src: &[u8],
) -> Result<Vec<u8>, ConvertError> {
    let mut out = Vec::new();
    to_i420_into(&mut out, format, width, height, src)?;
    Ok(out)
}

/// [`to_i420`] into `out`, whose allocation is reused frame after frame (a 1080p frame is
/// 3 MB: allocating it 30 times a second fragments the heap).
pub fn to_i420_into(
    out: &mut Vec<u8>,
    format: PixelFormat,
    width: u32,
    height: u32,
    src: &[u8],
) -> Result<(), ConvertError> {
    let need = format
        .frame_len(width, height)
        .ok_or(ConvertError::NotRaw(format))?;
    if src.len() < need {
        return Err(ConvertError::BadLength {
            format,
            width,
            height,
            need,
            have: src.len(),
        });
    }
    let (w, h) = (width as usize, height as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    match format {
        PixelFormat::I420 => {
            out.clear();
            out.extend_from_slice(&src[..need]);
        }
        PixelFormat::Nv12 => {
            // Every byte is written below: resizing keeps the old contents, no zeroing.
            out.resize(w * h + 2 * cw * ch, 0);
            out[..w * h].copy_from_slice(&src[..w * h]);
            let (u, v) = out[w * h..].split_at_mut(cw * ch);
            for (i, pair) in src[w * h..w * h + 2 * cw * ch].chunks_exact(2).enumerate() {
                u[i] = pair[0];
                v[i] = pair[1];
            }
        }
        PixelFormat::Yuyv | PixelFormat::Uyvy => {
            let (yo, uo, vo) = if format == PixelFormat::Yuyv {
                (0, 1, 3)
            } else {
                (1, 0, 2)
            };
            out.resize(w * h + 2 * cw * ch, 0);
            packed422(out, src, w, h, yo, uo, vo);
        }
        PixelFormat::Mjpeg => return Err(ConvertError::NotRaw(format)),
    }
    Ok(())
}

/// Packed 4:2:2 with luma at byte `yo` (and `yo + 2`), chroma at `uo`/`vo` of each 4-byte
/// group, into `out` (I420-sized; every byte is written).
fn packed422(out: &mut [u8], src: &[u8], w: usize, h: usize, yo: usize, uo: usize, vo: usize) {
    let (cw, _) = (w.div_ceil(2), h.div_ceil(2));
    let (y_plane, chroma) = out.split_at_mut(w * h);
    let (u_plane, v_plane) = chroma.split_at_mut(cw * h.div_ceil(2));
    let row_bytes = w * 2;
    for row in 0..h {
        let line = &src[row * row_bytes..(row + 1) * row_bytes];
        for x in 0..w {
            y_plane[row * w + x] = line[(x / 2) * 4 + yo + (x % 2) * 2];
        }
        if row % 2 == 0 {
            let next = if row + 1 < h {
                &src[(row + 1) * row_bytes..(row + 2) * row_bytes]
            } else {
                line
            };
            for cx in 0..cw {
                let g = cx * 4;
                if g + 3 >= line.len() {
                    break;
                }
                u_plane[(row / 2) * cw + cx] =
                    (line[g + uo] as u16 + next[g + uo] as u16).div_ceil(2) as u8;
                v_plane[(row / 2) * cw + cx] =
                    (line[g + vo] as u16 + next[g + vo] as u16).div_ceil(2) as u8;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuyv_and_uyvy_vectors() {
        // 2x2: row 0 Y=10,20 U=100 V=200; row 1 Y=30,40 U=110 V=210.
        let yuyv = [10, 100, 20, 200, 30, 110, 40, 210];
        assert_eq!(
            to_i420(PixelFormat::Yuyv, 2, 2, &yuyv).unwrap(),
            vec![10, 20, 30, 40, 105, 205]
        );
        let uyvy = [100, 10, 200, 20, 110, 30, 210, 40];
        assert_eq!(
            to_i420(PixelFormat::Uyvy, 2, 2, &uyvy).unwrap(),
            vec![10, 20, 30, 40, 105, 205]
        );
    }

    #[test]
    fn nv12_deinterleaves_chroma() {
        let nv12 = [1, 2, 3, 4, 50, 60];
        assert_eq!(
            to_i420(PixelFormat::Nv12, 2, 2, &nv12).unwrap(),
            vec![1, 2, 3, 4, 50, 60]
        );
    }

    #[test]
    fn short_buffers_and_mjpeg_are_refused() {
        assert!(matches!(
            to_i420(PixelFormat::Yuyv, 4, 4, &[0; 8]),
            Err(ConvertError::BadLength { .. })
        ));
        assert_eq!(
            to_i420(PixelFormat::Mjpeg, 4, 4, &[0; 8]),
            Err(ConvertError::NotRaw(PixelFormat::Mjpeg))
        );
    }
}
