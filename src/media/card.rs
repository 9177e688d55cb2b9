//! The "no picture" card: while the capture device gives no frames (no signal, no sync, an
//! unsupported mode, the device gone or stalled), viewers see a frame that names the state
//! and its likely causes instead of a frozen or black picture.
//!
//! Pure: a [`NoPicture`] and a size in, an I420 frame out. Text is drawn with the
//! public-domain 8x8 bitmap font of the `font8x8` crate, scaled by whole pixels; characters
//! outside ASCII are drawn as `?`; lines that do not fit are cut with `...`.

use super::{CaptureTime, PixelFormat, RawFrame};
use bytes::Bytes;

/// Why there is no picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoPicture {
    /// No TMDS signal (ENOLINK from QUERY_DV_TIMINGS): nothing is sending a picture.
    NoSignal,
    /// A signal without sync (ENOLCK): the input is unstable.
    NoSync,
    /// Timings the capture chip cannot take (ERANGE), with what was seen if known.
    OutOfRange(Option<String>),
    /// The capture device is missing or was removed.
    DeviceMissing(String),
    /// The device is open but sends no frames.
    Stalled,
    /// Any other capture error, as text.
    Error(String),
}

impl NoPicture {
    /// The card's title.
    pub fn title(&self) -> &'static str {
        match self {
            NoPicture::NoSignal => "NO SIGNAL",
            NoPicture::NoSync => "NO SYNC",
            NoPicture::OutOfRange(_) => "OUT OF RANGE",
            NoPicture::DeviceMissing(_) => "CAPTURE DEVICE MISSING",
            NoPicture::Stalled => "CAPTURE STALLED",
            NoPicture::Error(_) => "CAPTURE ERROR",
        }
    }

    /// The likely causes and what to try, one line each.
    pub fn lines(&self) -> Vec<String> {
        let fixed = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            NoPicture::NoSignal => fixed(&[
                "The target sends no picture on HDMI.",
                "- the target is off, asleep or rebooting",
                "- the HDMI cable is unplugged",
                "- the target shows its picture on another output",
            ]),
            NoPicture::NoSync => fixed(&[
                "A signal arrives but it is not stable.",
                "- a loose or too long HDMI cable",
                "- the target is switching modes (wait a moment)",
            ]),
            NoPicture::OutOfRange(mode) => {
                let mut l = vec!["The target's video mode is not supported.".to_string()];
                if let Some(m) = mode {
                    l.push(format!("- the target sends {m}"));
                }
                l.push("- set the target to 1920x1080 at 60 Hz or lower".into());
                l.push("- check the EDID the appliance offers (periscope doctor)".into());
                l
            }
            NoPicture::DeviceMissing(what) => vec![
                "The capture device is not there.".into(),
                format!("- {what}"),
                "- a USB dongle was unplugged or is being reset".into(),
                "- periscope keeps trying; run periscope doctor".into(),
            ],
            NoPicture::Stalled => fixed(&[
                "The capture device stopped sending frames.",
                "- periscope is reopening and resetting it",
                "- if it does not recover, replug the capture device",
            ]),
            NoPicture::Error(e) => vec![
                "Capture failed:".into(),
                format!("- {e}"),
                "- periscope keeps retrying; run periscope doctor".into(),
            ],
        }
    }
}

/// Background luma (dark grey), title and text luma.
const BACKGROUND: u8 = 40;
const TITLE: u8 = 235;
const TEXT: u8 = 180;
/// Neutral chroma.
const GREY: u8 = 128;

/// The card as an I420 frame of `width` x `height` (each at least 2).
pub fn frame(
    width: u32,
    height: u32,
    why: &NoPicture,
    sequence: u64,
    captured: CaptureTime,
) -> RawFrame {
    let (width, height) = (width.max(2), height.max(2));
    RawFrame {
        format: PixelFormat::I420,
        width,
        height,
        data: Bytes::from(render(width, height, why)),
        captured,
        sequence,
    }
}

/// The card's I420 bytes.
pub fn render(width: u32, height: u32, why: &NoPicture) -> Vec<u8> {
    let (w, h) = (width.max(2) as usize, height.max(2) as usize);
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut buf = vec![BACKGROUND; w * h];
    buf.resize(w * h + 2 * cw * ch, GREY);
    let y_plane = &mut buf[..w * h];
    // Title at 1/16 of the height (at least 2x), text at half that; left margin 1/16 width.
    let title_scale = (h / 16 / 8).max(2);
    let text_scale = (title_scale / 2).max(1);
    let margin = w / 16;
    let mut top = h / 5;
    draw_line(y_plane, w, h, margin, top, title_scale, why.title(), TITLE);
    top += 8 * title_scale * 2;
    for line in why.lines() {
        draw_line(y_plane, w, h, margin, top, text_scale, &line, TEXT);
        top += 8 * text_scale * 3 / 2;
    }
    buf
}

/// Draws one line of text with its top-left at (x, y), cut with `...` to fit the width.
#[allow(clippy::too_many_arguments)]
fn draw_line(
    plane: &mut [u8],
    w: usize,
    h: usize,
    x: usize,
    y: usize,
    scale: usize,
    text: &str,
    luma: u8,
) {
    let cell = 8 * scale;
    let fits = w.saturating_sub(2 * x) / cell;
    let mut chars: Vec<char> = text.chars().collect();
    if chars.len() > fits {
        chars.truncate(fits.saturating_sub(3));
        chars.extend("...".chars());
        chars.truncate(fits);
    }
    for (i, c) in chars.iter().enumerate() {
        draw_glyph(plane, w, h, x + i * cell, y, scale, *c, luma);
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_glyph(
    plane: &mut [u8],
    w: usize,
    h: usize,
    x0: usize,
    y0: usize,
    scale: usize,
    c: char,
    luma: u8,
) {
    let index = if c.is_ascii() {
        c as usize
    } else {
        '?' as usize
    };
    let Some(rows) = font8x8::legacy::BASIC_LEGACY.get(index) else {
        return;
    };
    for (ry, bits) in rows.iter().enumerate() {
        for rx in 0..8 {
            if bits & (1 << rx) == 0 {
                continue;
            }
            for dy in 0..scale {
                let y = y0 + ry * scale + dy;
                if y >= h {
                    break;
                }
                let start = y * w + x0 + rx * scale;
                let end = (start + scale).min(y * w + w);
                if start < end {
                    plane[start..end].fill(luma);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luma_at(buf: &[u8], w: usize, x: usize, y: usize) -> u8 {
        buf[y * w + x]
    }

    #[test]
    fn the_card_is_an_i420_frame_with_the_title_drawn() {
        let (w, h) = (1280usize, 720usize);
        let buf = render(w as u32, h as u32, &NoPicture::NoSignal);
        assert_eq!(buf.len(), PixelFormat::I420.frame_len(1280, 720).unwrap());
        // Title scale: 720 / 16 / 8 = 5; 'N' (first glyph) starts at the margin, row h/5.
        let (x0, y0, s) = (w / 16, h / 5, 5);
        let glyph = font8x8::legacy::BASIC_LEGACY['N' as usize];
        let mut lit = 0;
        for (ry, bits) in glyph.iter().enumerate() {
            for rx in 0..8 {
                let on = bits & (1 << rx) != 0;
                let l = luma_at(&buf, w, x0 + rx * s + s / 2, y0 + ry * s + s / 2);
                assert_eq!(l, if on { TITLE } else { BACKGROUND }, "N at {rx},{ry}");
                lit += usize::from(on);
            }
        }
        assert!(lit > 10);
        // Chroma is neutral, the corner is background.
        assert!(buf[w * h..].iter().all(|&c| c == GREY));
        assert_eq!(luma_at(&buf, w, 0, 0), BACKGROUND);
        // Causes are drawn below the title (some text pixels in that band).
        let band = &buf[(y0 + 8 * s * 2) * w..(y0 + 8 * s * 2 + 40) * w];
        assert!(band.contains(&TEXT));
    }

    #[test]
    fn every_state_renders_at_odd_and_tiny_sizes_without_panicking() {
        let states = [
            NoPicture::NoSignal,
            NoPicture::NoSync,
            NoPicture::OutOfRange(Some("3840x2160 at 60 Hz".into())),
            NoPicture::OutOfRange(None),
            NoPicture::DeviceMissing("/dev/video0 is gone".into()),
            NoPicture::Stalled,
            NoPicture::Error("VIDIOC_DQBUF: Input/output error ünïcode".into()),
        ];
        for s in &states {
            assert!(!s.title().is_empty() && !s.lines().is_empty());
            for (w, h) in [(2, 2), (63, 35), (320, 240), (1921, 1081)] {
                let at = CaptureTime {
                    instant: std::time::Instant::now(),
                    unix_ms: 1,
                };
                let f = frame(w, h, s, 7, at);
                assert_eq!(
                    f.data.len(),
                    PixelFormat::I420.frame_len(f.width, f.height).unwrap(),
                    "{s:?} at {w}x{h}"
                );
                assert_eq!((f.width, f.height, f.sequence), (w.max(2), h.max(2), 7));
            }
        }
        assert!(NoPicture::OutOfRange(Some("4K".into()))
            .lines()
            .iter()
            .any(|l| l.contains("4K")));
    }

    #[test]
    fn long_lines_are_cut_to_the_width() {
        let w = 160usize;
        let buf = render(w as u32, 120, &NoPicture::Error("x".repeat(500)));
        // Nothing drawn in the right margin (w/16 = 10 px).
        for y in 0..120 {
            for x in w - 10..w {
                assert_eq!(luma_at(&buf, w, x, y), BACKGROUND, "{x},{y}");
            }
        }
    }
}
