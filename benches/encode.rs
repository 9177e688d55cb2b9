//! Encode benchmark (not a test): OpenH264 and libjpeg-turbo cost per frame on the
//! desktop-like and the busy test pattern at 720p and 1080p, as the appliance runs them:
//! OpenH264 by default (one slice, one thread) and with `--encoder-threads` set to the cores
//! (a slice per thread); JPEG on one. An IDR is forced every 10th
//! frame; the first one (the encoder's start: its buffers and threads) is its own row.
//! Prints a Markdown table; `scripts/bench` puts it into docs/BENCHMARKS.md.
//! Run: `cargo bench --bench encode`.

use periscope::media::capture::pattern::TestPattern;
use periscope::media::encode::h264::{cores, H264Config, OpenH264Encoder};
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

/// This process's CPU time (every thread), in ms.
#[allow(unsafe_code)]
fn cpu_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// One call's result, and its wall and CPU ms.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Sample) {
    let (t, c) = (Instant::now(), cpu_ms());
    let out = f();
    (out, (t.elapsed().as_secs_f64() * 1e3, cpu_ms() - c))
}

/// Wall and CPU ms of one frame's stage.
type Sample = (f64, f64);

fn main() {
    println!(
        "| size | content | stage | median ms/frame | p95 ms/frame | CPU ms/frame (all threads, median) | real-time at 30 fps |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        for motion in ["desktop", "busy"] {
            let p = TestPattern::new(w, h, 30)
                .expect("pattern")
                .with_motion(motion.parse().expect("motion"));
            let frames: Vec<RawFrame> = (0..FRAMES).map(|i| frame(&p, w, h, i)).collect();
            let mut render = Vec::new();
            for i in 0..30 {
                render.push(timed(|| std::hint::black_box(p.render(i, 0))).1);
            }
            let mut h264_rows = Vec::new();
            let threads: Vec<u16> = if cores() > 1 {
                vec![1, cores()]
            } else {
                vec![1]
            };
            for n in threads {
                let mut enc = OpenH264Encoder::new(H264Config {
                    bitrate_bps: 0,
                    fps: 30,
                    skip_frames: true,
                })
                .threads(n);
                let (mut p_frames, mut idr, mut first) = (Vec::new(), Vec::new(), Vec::new());
                for (i, f) in frames.iter().enumerate() {
                    let force = i % 10 == 0;
                    let (out, sample) = timed(|| enc.encode(f, force).expect("encode"));
                    match out {
                        Some(o) if o.keyframe && i == 0 => first.push(sample),
                        Some(o) if o.keyframe => idr.push(sample),
                        Some(_) => p_frames.push(sample),
                        None => {}
                    }
                }
                let t = if n == 1 {
                    String::new()
                } else {
                    format!(", {n} threads")
                };
                h264_rows.push((format!("OpenH264 P-frame{t}"), p_frames));
                h264_rows.push((format!("OpenH264 IDR{t}"), idr));
                h264_rows.push((format!("OpenH264 first IDR (encoder start){t}"), first));
            }
            let mut jpeg_enc = MjpegEncoder::new().expect("jpeg");
            let mut jpeg = Vec::new();
            for f in frames.iter().take(60) {
                jpeg.push(
                    timed(|| std::hint::black_box(jpeg_enc.encode(f, false).expect("jpeg encode")))
                        .1,
                );
            }
            let mut rows = vec![("test pattern render".to_string(), render)];
            rows.extend(h264_rows);
            rows.push(("JPEG (turbojpeg, q80)".to_string(), jpeg));
            for (stage, v) in rows {
                if v.is_empty() {
                    continue;
                }
                let (m, p95) = stats(v.iter().map(|x| x.0).collect());
                let (cpu, _) = stats(v.iter().map(|x| x.1).collect());
                let rt = if stage.contains("IDR") {
                    "—".to_string()
                } else {
                    (if p95 < 33.3 { "yes" } else { "no" }).to_string()
                };
                println!("| {w}x{h} | {motion} | {stage} | {m:.1} | {p95:.1} | {cpu:.1} | {rt} |");
            }
        }
    }
}
