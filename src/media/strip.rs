//! The test pattern's timestamp strip (contracts.md): two bands of 32 cells in the top rows,
//! the first carrying the capture wall-clock time in ms mod 2^32, the second a frame counter.
//!
//! Pure functions over a luma plane: no clock, no I/O. The web UI and the tests decode the
//! same layout, so any change here must keep to the contract.

/// Luma of a 1 bit (video range white).
pub const LUMA_ONE: u8 = 235;
/// Luma of a 0 bit (video range black).
pub const LUMA_ZERO: u8 = 16;
/// Cells per band: one per bit of a 32-bit value, most significant first.
pub const CELLS: u32 = 32;

/// What the strip carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StripValue {
    /// Source wall clock at capture, ms since the Unix epoch, mod 2^32.
    pub timestamp_ms: u32,
    /// Source frame counter, mod 2^32.
    pub counter: u32,
}

/// Height in rows of one band for a frame `height` rows tall: `max(16, floor(H/16))`.
pub fn band_height(height: u32) -> u32 {
    (height / 16).max(16)
}

/// First and last column (inclusive) of cell `i` in a frame `width` pixels wide.
pub fn cell_columns(i: u32, width: u32) -> (u32, u32) {
    let start = (i as u64 * width as u64 / CELLS as u64) as u32;
    let end = ((i as u64 + 1) * width as u64 / CELLS as u64) as u32;
    (start, end.saturating_sub(1).max(start))
}

/// A luma plane view: `stride` bytes per row, at least `height` rows.
#[derive(Debug)]
pub struct Luma<'a> {
    /// Row-major samples.
    pub data: &'a [u8],
    /// Width in pixels.
    pub width: u32,
    /// Height in rows.
    pub height: u32,
    /// Bytes between the starts of two rows.
    pub stride: usize,
}

/// Errors from reading a strip.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StripError {
    /// The plane is too small to hold two bands and 32 cells.
    #[error("strip: frame {width}x{height} is too small for the timestamp strip")]
    TooSmall {
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
    },
    /// `data` is shorter than `stride * height`.
    #[error("strip: luma plane has {have} bytes, needs {need}")]
    ShortPlane {
        /// Bytes given.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
}

fn check(width: u32, height: u32, stride: usize, len: usize) -> Result<(), StripError> {
    if width < CELLS || height < 2 * band_height(height) {
        return Err(StripError::TooSmall { width, height });
    }
    let need = stride * (2 * band_height(height) as usize);
    if len < need || stride < width as usize {
        return Err(StripError::ShortPlane { have: len, need });
    }
    Ok(())
}

/// Paints both bands into a mutable luma plane (`stride` bytes per row).
pub fn paint(
    luma: &mut [u8],
    width: u32,
    height: u32,
    stride: usize,
    value: StripValue,
) -> Result<(), StripError> {
    check(width, height, stride, luma.len())?;
    let band = band_height(height) as usize;
    for (band_index, word) in [value.timestamp_ms, value.counter].into_iter().enumerate() {
        let first_row = band_index * band;
        for i in 0..CELLS {
            let bit = (word >> (31 - i)) & 1;
            let luma_value = if bit == 1 { LUMA_ONE } else { LUMA_ZERO };
            let (c0, c1) = cell_columns(i, width);
            for row in first_row..first_row + band {
                let start = row * stride + c0 as usize;
                luma[start..=row * stride + c1 as usize].fill(luma_value);
            }
        }
    }
    Ok(())
}

/// Paints both bands' chroma neutral (128) in a 4:2:0 chroma plane of a frame `height` tall.
pub fn paint_chroma_neutral(chroma: &mut [u8], chroma_stride: usize, height: u32) {
    let rows = (2 * band_height(height)).div_ceil(2) as usize;
    let end = (rows * chroma_stride).min(chroma.len());
    chroma[..end].fill(128);
}

/// Reads both bands: the mean luma of the middle 50 % of each cell, thresholded at 128.
pub fn read(plane: &Luma<'_>) -> Result<StripValue, StripError> {
    check(plane.width, plane.height, plane.stride, plane.data.len())?;
    let band = band_height(plane.height);
    let mut words = [0u32; 2];
    for (band_index, word) in words.iter_mut().enumerate() {
        let top = band_index as u32 * band;
        let (r0, r1) = (top + band / 4, top + band - band / 4);
        for i in 0..CELLS {
            let (c0, c1) = cell_columns(i, plane.width);
            let cw = c1 - c0 + 1;
            let (x0, x1) = (c0 + cw / 4, (c0 + cw - cw / 4).max(c0 + cw / 4 + 1));
            let mut sum = 0u64;
            let mut n = 0u64;
            for row in r0..r1.max(r0 + 1) {
                let base = row as usize * plane.stride;
                for x in x0..x1 {
                    sum += plane.data[base + x as usize] as u64;
                    n += 1;
                }
            }
            if sum >= 128 * n {
                *word |= 1 << (31 - i);
            }
        }
    }
    Ok(StripValue {
        timestamp_ms: words[0],
        counter: words[1],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_height_follows_contract() {
        assert_eq!(band_height(720), 45);
        assert_eq!(band_height(1080), 67);
        assert_eq!(band_height(200), 16);
    }

    #[test]
    fn cells_cover_the_full_width_without_overlap() {
        for width in [32, 100, 1280, 1366, 1920] {
            let mut next = 0;
            for i in 0..CELLS {
                let (a, b) = cell_columns(i, width);
                assert_eq!(a, next, "cell {i} of {width}");
                next = b + 1;
            }
            assert_eq!(next, width);
        }
    }

    #[test]
    fn round_trip_raw() {
        for (w, h) in [(1280u32, 720u32), (1920, 1080), (640, 480), (333, 200)] {
            let stride = w as usize + 7;
            let mut luma = vec![90u8; stride * h as usize];
            let v = StripValue {
                timestamp_ms: 0xDEAD_BEEF,
                counter: 0x0000_0001,
            };
            paint(&mut luma, w, h, stride, v).unwrap();
            let got = read(&Luma {
                data: &luma,
                width: w,
                height: h,
                stride,
            })
            .unwrap();
            assert_eq!(got, v, "{w}x{h}");
        }
    }

    #[test]
    fn too_small_frames_are_refused() {
        let luma = vec![0u8; 16 * 16];
        let err = read(&Luma {
            data: &luma,
            width: 16,
            height: 16,
            stride: 16,
        });
        assert_eq!(
            err,
            Err(StripError::TooSmall {
                width: 16,
                height: 16
            })
        );
        let short = vec![0u8; 10];
        let err = read(&Luma {
            data: &short,
            width: 64,
            height: 64,
            stride: 64,
        });
        assert!(matches!(err, Err(StripError::ShortPlane { .. })));
    }
}
