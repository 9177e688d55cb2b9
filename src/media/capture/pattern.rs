//! The built-in test pattern: a desktop-like I420 picture (windows, text lines, a taskbar)
//! with a moving element and the timestamp strip of contracts.md. Used when there is no
//! capture device, by the tests and by the latency benchmarks.
//!
//! Each frame is drawn whole into a recycled buffer: the still desktop (a few filled
//! rectangles, as cheap as copying a kept picture and without holding one: 3 MB at 1080p),
//! then the moving parts, then the strip with the wall-clock time at which the frame is
//! produced.
//!
//! [`Motion::Busy`] adds a "video playing" window: a blocky texture panning a few pixels a
//! frame with fresh low-level grain on every frame, so the encoder's bitrate follows its
//! quantiser like camera video does (a busy source for the bandwidth-adaptation tests).

use super::{CaptureError, CaptureSource, SourceInfo};
use crate::media::pool::FramePool;
use crate::media::strip::{self, StripValue};
use crate::media::{CaptureTime, PixelFormat, RawFrame};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Longest single sleep while waiting for the next frame, so a stop is seen quickly.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// A YUV colour (video range).
#[derive(Debug, Clone, Copy)]
struct Yuv(u8, u8, u8);

const DESKTOP: Yuv = Yuv(92, 150, 110);
const TASKBAR: Yuv = Yuv(40, 128, 128);
const TITLE: Yuv = Yuv(70, 170, 110);
const WINDOW: Yuv = Yuv(225, 128, 128);
const TEXT: Yuv = Yuv(60, 128, 128);
const CURSOR: Yuv = Yuv(200, 60, 200);
const PROGRESS: Yuv = Yuv(145, 54, 34);

/// I420 planes of one picture.
#[derive(Debug, Clone)]
struct Planes {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl Planes {
    /// `data` (emptied first; its allocation is reused) as a `width`×`height` picture of
    /// `fill`.
    fn filled(mut data: Vec<u8>, width: u32, height: u32, fill: Yuv) -> Planes {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        data.clear();
        data.resize(w * h + 2 * cw * ch, fill.0);
        data[w * h..w * h + cw * ch].fill(fill.1);
        data[w * h + cw * ch..].fill(fill.2);
        Planes {
            width: w,
            height: h,
            data,
        }
    }

    /// Fills a rectangle, clipped to the picture.
    fn rect(&mut self, x: i64, y: i64, w: i64, h: i64, c: Yuv) {
        let (pw, ph) = (self.width as i64, self.height as i64);
        let (x0, y0) = (x.clamp(0, pw), y.clamp(0, ph));
        let (x1, y1) = ((x + w).clamp(0, pw), (y + h).clamp(0, ph));
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        for row in y0..y1 {
            let start = row as usize * self.width;
            self.data[start + x0 as usize..start + x1 as usize].fill(c.0);
        }
        let cw = self.width.div_ceil(2);
        let ch = self.height.div_ceil(2);
        let (u_off, v_off) = (self.width * self.height, self.width * self.height + cw * ch);
        let (cx0, cy0, cx1, cy1) = (
            x0 as usize / 2,
            y0 as usize / 2,
            (x1 as usize).div_ceil(2),
            (y1 as usize).div_ceil(2),
        );
        for row in cy0..cy1 {
            self.data[u_off + row * cw + cx0..u_off + row * cw + cx1].fill(c.1);
            self.data[v_off + row * cw + cx0..v_off + row * cw + cx1].fill(c.2);
        }
    }
}

/// Draws the still desktop into `buf` (its allocation reused): two windows with title bars
/// and text lines, and a taskbar.
fn desktop(buf: Vec<u8>, width: u32, height: u32) -> Planes {
    let mut p = Planes::filled(buf, width, height, DESKTOP);
    let (w, h) = (width as i64, height as i64);
    let top = 2 * strip::band_height(height) as i64;
    p.rect(0, h - h / 20, w, h / 20, TASKBAR);
    let windows = [
        (w / 16, top + h / 12, w / 2, h / 2),
        (w / 2, top + h / 5, w * 7 / 16, h / 2),
    ];
    for (x, y, ww, wh) in windows {
        p.rect(x, y, ww, wh, WINDOW);
        p.rect(x, y, ww, (h / 30).max(4), TITLE);
        let line = (h / 60).max(2);
        let mut ty = y + (h / 30).max(4) + line * 2;
        let mut n = 0;
        while ty + line < y + wh - line {
            let len = ww * (5 + (n * 7) % 5) / 12;
            p.rect(x + line * 2, ty, len, line, TEXT);
            ty += line * 2;
            n += 1;
        }
    }
    p
}

/// How much of the picture moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Motion {
    /// A still desktop with a small moving box and a progress bar (the default).
    #[default]
    Desktop,
    /// The desktop plus a large window of moving, grainy video.
    Busy,
}

impl std::str::FromStr for Motion {
    type Err = String;
    fn from_str(s: &str) -> Result<Motion, String> {
        match s {
            "desktop" => Ok(Motion::Desktop),
            "busy" => Ok(Motion::Busy),
            other => Err(format!("{other:?}: desktop or busy")),
        }
    }
}

/// The synthetic source.
#[derive(Debug)]
pub struct TestPattern {
    motion: Motion,
    width: u32,
    height: u32,
    fps: u32,
    interval: Duration,
    next_due: Option<Instant>,
    sequence: u64,
    /// Frame buffers, reused (see `media::pool`).
    pool: Arc<FramePool>,
}

impl TestPattern {
    /// A pattern of `width`×`height` at `fps` frames per second.
    pub fn new(width: u32, height: u32, fps: u32) -> Result<TestPattern, CaptureError> {
        let small = width < 64 || height < 64 || width > 7680 || height > 4320;
        if small || fps == 0 || fps > 240 {
            return Err(CaptureError::UnsupportedFormat {
                device: "test-pattern".into(),
                reason: format!("{width}x{height}@{fps}: needs 64x64..7680x4320 at 1..=240 fps"),
            });
        }
        Ok(TestPattern {
            motion: Motion::Desktop,
            width,
            height,
            fps,
            interval: Duration::from_secs_f64(1.0 / fps as f64),
            next_due: None,
            sequence: 0,
            pool: FramePool::new(),
        })
    }

    /// The same pattern with `motion`.
    pub fn with_motion(mut self, motion: Motion) -> TestPattern {
        self.motion = motion;
        self
    }

    /// Draws frame `sequence` with `unix_ms` in its strip (pure; used by tests too).
    pub fn render(&self, sequence: u64, unix_ms: u64) -> Vec<u8> {
        self.render_into(Vec::new(), sequence, unix_ms)
    }

    /// [`TestPattern::render`] into `buf` (emptied first; its allocation is reused).
    fn render_into(&self, buf: Vec<u8>, sequence: u64, unix_ms: u64) -> Vec<u8> {
        let mut p = desktop(buf, self.width, self.height);
        let (w, h) = (self.width as i64, self.height as i64);
        let top = 2 * strip::band_height(self.height) as i64;
        if self.motion == Motion::Busy {
            video_window(&mut p, top, sequence);
        }
        // A cursor-sized box moving around the desktop, and a progress bar in the taskbar.
        let t = sequence as i64;
        let size = (h / 24).max(8);
        let span_x = (w - size).max(1);
        let span_y = (h - top - h / 20 - size).max(1);
        let bx = bounce(t * 7, span_x);
        let by = top + bounce(t * 5, span_y);
        p.rect(bx, by, size, size, CURSOR);
        let bar = (t * 4) % (w / 3).max(1);
        p.rect(w / 3, h - h / 30, bar, (h / 60).max(2), PROGRESS);
        let value = StripValue {
            timestamp_ms: unix_ms as u32,
            counter: sequence as u32,
        };
        let stride = self.width as usize;
        // INVARIANT: width/height were checked in `new` to hold the strip.
        let _ = strip::paint(&mut p.data, self.width, self.height, stride, value);
        let luma_len = self.width as usize * self.height as usize;
        let cw = (self.width as usize).div_ceil(2);
        let chroma_len = cw * (self.height as usize).div_ceil(2);
        strip::paint_chroma_neutral(
            &mut p.data[luma_len..luma_len + chroma_len],
            cw,
            self.height,
        );
        strip::paint_chroma_neutral(&mut p.data[luma_len + chroma_len..], cw, self.height);
        p.data
    }
}

/// The busy pattern's video window (the middle of the desktop, below the strip): 8x8 blocks
/// of a hashed texture panning 3 px right and 2 px down a frame, plus ±6 of grain that is new
/// on every frame.
fn video_window(p: &mut Planes, top: i64, sequence: u64) {
    let (w, h) = (p.width, p.height);
    let (x0, x1) = (w / 8, w - w / 8);
    let y0 = (top as usize + h / 10).min(h);
    let y1 = (h - h / 8).max(y0);
    let (dx, dy) = (sequence as usize * 3, sequence as usize * 2);
    let mut grain = (sequence as u32).wrapping_mul(0x9E37_79B9) | 1;
    for y in y0..y1 {
        let row = &mut p.data[y * w..(y + 1) * w];
        let by = (y + h * 4 - dy % (h * 4)) / 8;
        let (mut last_bx, mut block) = (usize::MAX, 0);
        for (x, px) in row.iter_mut().enumerate().take(x1).skip(x0) {
            let bx = (x + w * 4 - dx % (w * 4)) / 8;
            if bx != last_bx {
                (last_bx, block) = (bx, hash(bx as u32, by as u32));
            }
            // xorshift32: cheap per-pixel grain.
            grain ^= grain << 13;
            grain ^= grain >> 17;
            grain ^= grain << 5;
            let g = (grain % 13) as i32 - 6;
            *px = (40 + (block % 176) as i32 + g).clamp(16, 235) as u8;
        }
    }
    let cw = w.div_ceil(2);
    let ch = h.div_ceil(2);
    let luma = w * h;
    for y in y0 / 2..y1 / 2 {
        let by = (y * 2 + h * 4 - dy % (h * 4)) / 8;
        for x in x0 / 2..x1 / 2 {
            let bx = (x * 2 + w * 4 - dx % (w * 4)) / 8;
            let block = hash(by as u32, bx as u32);
            p.data[luma + y * cw + x] = 96 + (block % 64) as u8;
            p.data[luma + cw * ch + y * cw + x] = 96 + ((block >> 8) % 64) as u8;
        }
    }
}

/// A well-mixed 32-bit hash of a block position.
fn hash(a: u32, b: u32) -> u32 {
    let mut x = a.wrapping_mul(0x85EB_CA6B) ^ b.wrapping_mul(0xC2B2_AE35) ^ 0x27D4_EB2F;
    x ^= x >> 15;
    x = x.wrapping_mul(0x2C1B_3C6D);
    x ^= x >> 12;
    x
}

fn bounce(pos: i64, span: i64) -> i64 {
    let m = pos.rem_euclid(2 * span);
    if m < span {
        m
    } else {
        2 * span - m
    }
}

impl CaptureSource for TestPattern {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            name: "test-pattern".into(),
            driver: "synthetic".into(),
            format: PixelFormat::I420,
            width: self.width,
            height: self.height,
            fps: self.fps,
        }
    }

    fn grab(&mut self) -> Result<RawFrame, CaptureError> {
        let now = Instant::now();
        let due = *self.next_due.get_or_insert(now);
        if due > now {
            let wait = due - now;
            std::thread::sleep(wait.min(MAX_SLEEP));
            if wait > MAX_SLEEP {
                return Err(CaptureError::Timeout("test-pattern".into()));
            }
        }
        // Keep a steady cadence; after a stall, skip missed slots instead of bursting.
        let mut next = due + self.interval;
        let now = Instant::now();
        if next < now {
            next = now + self.interval;
        }
        self.next_due = Some(next);
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let instant = Instant::now();
        let len = PixelFormat::I420
            .frame_len(self.width, self.height)
            .unwrap_or_default();
        let mut buf = self.pool.take(len);
        *buf = self.render_into(std::mem::take(&mut buf), self.sequence, unix_ms);
        let frame = RawFrame {
            format: PixelFormat::I420,
            width: self.width,
            height: self.height,
            data: buf.freeze(),
            captured: CaptureTime { instant, unix_ms },
            sequence: self.sequence,
        };
        self.sequence += 1;
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::strip::Luma;

    #[test]
    fn frames_carry_the_strip_and_move() {
        let p = TestPattern::new(1280, 720, 30).unwrap();
        let a = p.render(41, 1_700_000_000_123);
        let b = p.render(42, 1_700_000_000_156);
        assert_eq!(a.len(), PixelFormat::I420.frame_len(1280, 720).unwrap());
        let read = |d: &[u8]| {
            strip::read(&Luma {
                data: d,
                width: 1280,
                height: 720,
                stride: 1280,
            })
            .unwrap()
        };
        assert_eq!(
            read(&a),
            StripValue {
                timestamp_ms: 1_700_000_000_123u64 as u32,
                counter: 41
            }
        );
        assert_eq!(read(&b).counter, 42);
        let top = 2 * strip::band_height(720) as usize * 1280;
        assert_ne!(
            a[top..1280 * 720],
            b[top..1280 * 720],
            "the picture below the strip moves"
        );
    }

    #[test]
    fn odd_sizes_work_and_silly_sizes_are_refused() {
        let p = TestPattern::new(333, 201, 5).unwrap();
        assert_eq!(
            p.render(0, 0).len(),
            PixelFormat::I420.frame_len(333, 201).unwrap()
        );
        assert!(TestPattern::new(10, 10, 30).is_err());
        assert!(TestPattern::new(640, 480, 0).is_err());
    }

    #[test]
    fn grab_paces_frames_and_counts_them() {
        let mut p = TestPattern::new(320, 240, 50).unwrap();
        let start = Instant::now();
        let mut seqs = Vec::new();
        while seqs.len() < 5 {
            if let Ok(f) = p.grab() {
                seqs.push(f.sequence);
            }
        }
        assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
        assert!(
            start.elapsed() >= Duration::from_millis(75),
            "5 frames at 50 fps span ≥ 80 ms"
        );
    }
}
