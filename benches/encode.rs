//! Encode benchmark (not a test): OpenH264 and libjpeg-turbo cost per frame on the
//! desktop-like test pattern at 720p and 1080p, one thread, as the appliance runs them.
//! Prints a Markdown table; `scripts/bench` puts it into docs/BENCHMARKS.md.
//! Run: `cargo bench --bench encode`.

use periscope::media::capture::pattern::TestPattern;
use periscope::media::encode::h264::{H264Config, OpenH264Encoder};
use periscope::media::encode::jpeg::MjpegEncoder;
use periscope::media::encode::Encoder;
use periscope::media::{CaptureTime, PixelFormat, RawFrame};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const FRAMES: u64 = 150;

fn frame(p: &TestPattern, w: u32, h: u32, seq: u64) -> RawFrame {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    RawFrame {
        format: PixelFormat::I420,
        width: w,
        height: h,
        data: p.render(seq, unix_ms).into(),
        captured: CaptureTime {
            instant: Instant::now(),
            unix_ms,
        },
        sequence: seq,
    }
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let median = v[v.len() / 2];
    let p95 = v[((v.len() as f64 * 0.95) as usize).min(v.len() - 1)];
    (median, p95)
}

fn main() {
    println!("| size | stage | median ms/frame | p95 ms/frame | real-time at 30 fps on one core |");
    println!("|---|---|---|---|---|");
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        let p = TestPattern::new(w, h, 30).expect("pattern");
        let frames: Vec<RawFrame> = (0..FRAMES).map(|i| frame(&p, w, h, i)).collect();
        let mut render = Vec::new();
        for i in 0..30 {
            let t = Instant::now();
            std::hint::black_box(p.render(i, 0));
            render.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let mut enc = OpenH264Encoder::new(H264Config {
            bitrate_bps: 0,
            fps: 30,
            skip_frames: true,
        });
        let (mut p_frames, mut idr) = (Vec::new(), Vec::new());
        for (i, f) in frames.iter().enumerate() {
            let force = i % 50 == 0;
            let t = Instant::now();
            let out = enc.encode(f, force).expect("encode");
            let ms = t.elapsed().as_secs_f64() * 1e3;
            match out {
                Some(o) if o.keyframe => idr.push(ms),
                Some(_) => p_frames.push(ms),
                None => {}
            }
        }
        let mut jpeg_enc = MjpegEncoder::new().expect("jpeg");
        let mut jpeg = Vec::new();
        for f in frames.iter().take(60) {
            let t = Instant::now();
            std::hint::black_box(jpeg_enc.encode(f, false).expect("jpeg encode"));
            jpeg.push(t.elapsed().as_secs_f64() * 1e3);
        }
        for (stage, v) in [
            ("test pattern render", render),
            ("OpenH264 P-frame", p_frames),
            ("OpenH264 IDR", idr),
            ("JPEG (turbojpeg, q80)", jpeg),
        ] {
            if v.is_empty() {
                continue;
            }
            let (m, p95) = stats(v);
            let rt = if stage.contains("IDR") {
                "—".to_string()
            } else {
                (if p95 < 33.3 { "yes" } else { "no" }).to_string()
            };
            println!("| {w}x{h} | {stage} | {m:.1} | {p95:.1} | {rt} |");
        }
    }
}
