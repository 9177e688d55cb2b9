//! The JPEG frames of the MJPEG passthrough test (tests/hw.rs, tests/vm/cases/mjpeg.sh):
//! distinct test pictures made with libjpeg-turbo, the sequence-number stamp the guest's feeder
//! (tests/vm/mjpeg_feed.rs, which includes this file) puts into each frame it writes, and a
//! reader for multipart/x-mixed-replace bodies.
//!
//! Every frame written into the V4L2 device is `stamp(&frames[seq % frames.len()], seq)`: a
//! COM segment right after SOI carrying the frame's sequence number. Each frame the host reads
//! back is therefore unique, and its exact expected bytes follow from the number it carries.
#![allow(dead_code)]

/// What the COM segment of a stamped frame says before the sequence number.
pub const STAMP_PREFIX: &[u8] = b"periscope-mjpeg-feed seq=";
/// Digits of the sequence number (zero-padded: every stamp has the same length).
const STAMP_DIGITS: usize = 10;

/// `jpeg` with a COM segment (`FF FE`, length, "periscope-mjpeg-feed seq=0000000042") inserted
/// after its SOI marker.
pub fn stamp(jpeg: &[u8], seq: u64) -> Vec<u8> {
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    let text = format!("{seq:0width$}", width = STAMP_DIGITS);
    let payload = [STAMP_PREFIX, text.as_bytes()].concat();
    let len = u16::try_from(payload.len() + 2).expect("short COM segment");
    let mut out = Vec::with_capacity(jpeg.len() + payload.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// The sequence number of a frame made by [`stamp`], if it starts with such a segment.
pub fn stamped_seq(jpeg: &[u8]) -> Option<u64> {
    let rest = jpeg.strip_prefix(&[0xFF, 0xD8, 0xFF, 0xFE][..])?;
    let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    let payload = rest.get(2..len)?;
    let digits = payload.strip_prefix(STAMP_PREFIX)?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `count` distinct `w`x`h` JPEGs (quality 80, 4:2:0): colour bars shifted per frame, the
/// frame's index as black/white blocks, and a block of noise whose area differs from frame
/// to frame, so that sizes vary widely.
pub fn frames(count: usize, w: usize, h: usize) -> Vec<Vec<u8>> {
    (0..count).map(|i| picture(i, count, w, h)).collect()
}

fn picture(i: usize, count: usize, w: usize, h: usize) -> Vec<u8> {
    const BARS: [[u8; 3]; 8] = [
        [235, 235, 235],
        [235, 235, 16],
        [16, 235, 235],
        [16, 235, 16],
        [235, 16, 235],
        [235, 16, 16],
        [16, 16, 235],
        [16, 16, 16],
    ];
    let mut rgb = vec![0u8; w * h * 3];
    let shift = i * w / count.max(1);
    // Noise in a band whose height grows with i (xorshift, seeded per frame).
    let noise_rows = h / 24 + (h / 8) * (i % 5) / 4;
    let mut x64: u64 = 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
    for y in 0..h {
        for x in 0..w {
            let o = (y * w + x) * 3;
            let px = if y >= h - noise_rows {
                x64 ^= x64 << 13;
                x64 ^= x64 >> 7;
                x64 ^= x64 << 17;
                let v = x64.to_le_bytes();
                [v[0], v[1], v[2]]
            } else {
                BARS[((x + shift) * 8 / w) % 8]
            };
            rgb[o..o + 3].copy_from_slice(&px);
        }
    }
    // The index as 8 blocks of 32x32 in the top-left corner (white = 1).
    for bit in 0..8 {
        let v = if (i >> (7 - bit)) & 1 == 1 { 255 } else { 0 };
        for y in 16..48 {
            for x in 16 + bit * 32..48 + bit * 32 {
                let o = (y * w + x) * 3;
                rgb[o..o + 3].fill(v);
            }
        }
    }
    let image = turbojpeg::Image {
        pixels: &rgb[..],
        width: w,
        pitch: w * 3,
        height: h,
        format: turbojpeg::PixelFormat::RGB,
    };
    turbojpeg::compress(image, 80, turbojpeg::Subsamp::Sub2x2)
        .expect("libjpeg-turbo compresses the test picture")
        .to_vec()
}

/// Splits a multipart/x-mixed-replace body as it arrives: [`Multipart::push`] the bytes read,
/// [`Multipart::next_part`] returns each part's body once the next boundary has arrived
/// (a part's end is the CRLF before the next `--BOUNDARY` line; headers are skipped).
pub struct Multipart {
    delimiter: Vec<u8>,
    buf: Vec<u8>,
    started: bool,
}

impl Multipart {
    /// A reader for parts separated by `--boundary`.
    pub fn new(boundary: &str) -> Multipart {
        Multipart {
            delimiter: format!("--{boundary}").into_bytes(),
            buf: Vec::new(),
            started: false,
        }
    }

    /// Adds bytes read from the body.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete part's body, if one has fully arrived.
    pub fn next_part(&mut self) -> Option<Vec<u8>> {
        if !self.started {
            // The body starts with the first boundary line.
            let at = find(&self.buf, &self.delimiter)?;
            self.buf.drain(..at + self.delimiter.len());
            self.started = true;
        }
        // After the boundary: the rest of its line, the part's headers, an empty line.
        let body = find(&self.buf, b"\r\n\r\n")? + 4;
        let end_marker = [&b"\r\n"[..], &self.delimiter].concat();
        let end = body + find(&self.buf[body..], &end_marker)?;
        let part = self.buf[body..end].to_vec();
        self.buf.drain(..end + end_marker.len());
        Some(part)
    }
}

/// Position of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
