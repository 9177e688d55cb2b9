//! mjpeg-feed: the writer side of a v4l2loopback device, for the MJPEG passthrough test on
//! the QEMU bench (tests/vm/cases/mjpeg.sh, `mjpeg_passthrough_is_byte_identical_on_the_mjpeg_page`
//! in tests/hw.rs). A test tool, built only with the `vm-bench` feature.
//!
//!   mjpeg-feed DEVICE FRAMES_DIR [FPS=30]
//!
//! Sets DEVICE's OUTPUT format to MJPEG at the size of the first JPEG in FRAMES_DIR (its
//! `*.jpg` files in name order), starts streaming, then writes frame `seq` =
//! `stamp(frames[seq % K], seq)` (tests/common/jpegs.rs: a COM segment with the sequence
//! number after SOI) with one `write()` each, paced at FPS, until killed. Prints
//! `mjpeg-feed: streaming` once the first frame is in.
//!
//! Why write() and STREAMON (v4l2loopback 0.12.7, Debian bookworm): a writer that only writes
//! is never marked as the writer, and with `exclusive_caps=1` the node then loses its capture
//! side for good once it closes; an mmap (QBUF/DQBUF) writer gets back from DQBUF the buffer
//! it queued last and refills a buffer a reader may still be copying (torn frames).
#[path = "../common/jpegs.rs"]
mod jpegs;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};
use v4l::video::Output;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: mjpeg-feed DEVICE FRAMES_DIR [FPS]");
        std::process::exit(2);
    }
    let fps: u32 = args
        .get(3)
        .map_or(30, |f| f.parse().expect("FPS is a number"));
    if let Err(e) = run(Path::new(&args[1]), Path::new(&args[2]), fps.max(1)) {
        eprintln!("mjpeg-feed: {e}");
        std::process::exit(1);
    }
}

fn run(device: &Path, dir: &Path, fps: u32) -> Result<(), String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    names.sort();
    let frames: Vec<Vec<u8>> = names
        .iter()
        .map(|p| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())))
        .collect::<Result<_, _>>()?;
    let first = frames
        .first()
        .ok_or(format!("no *.jpg in {}", dir.display()))?;
    let (w, h) = jpeg_size(first).ok_or("the first frame has no SOF marker")?;

    let dev = v4l::Device::with_path(device).map_err(|e| format!("{}: {e}", device.display()))?;
    let want = v4l::Format::new(w, h, v4l::FourCC::new(b"MJPG"));
    let got = dev
        .set_format(&want)
        .map_err(|e| format!("S_FMT(OUTPUT): {e}"))?;
    if got.fourcc != want.fourcc || (got.width, got.height) != (w, h) {
        return Err(format!("the device took {got} for {want}"));
    }
    dev.set_params(&v4l::video::output::Parameters::with_fps(fps))
        .map_err(|e| format!("S_PARM(OUTPUT): {e}"))?;
    let fd = dev.handle().fd();
    let mut kind = v4l::buffer::Type::VideoOutput as std::os::raw::c_int;
    // SAFETY: fd is the open device; STREAMON reads one int.
    unsafe {
        v4l::v4l2::ioctl(
            fd,
            v4l::v4l2::vidioc::VIDIOC_STREAMON,
            &mut kind as *mut _ as *mut std::os::raw::c_void,
        )
    }
    .map_err(|e| format!("STREAMON(OUTPUT): {e}"))?;

    let period = Duration::from_secs(1) / fps;
    let start = Instant::now();
    for seq in 0u64.. {
        let frame = jpegs::stamp(&frames[(seq % frames.len() as u64) as usize], seq);
        // SAFETY: fd is open; the buffer is valid for its length.
        let n = unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
        if n != frame.len() as isize {
            return Err(format!(
                "write of frame {seq} ({} bytes): {}",
                frame.len(),
                if n < 0 {
                    std::io::Error::last_os_error().to_string()
                } else {
                    format!("{n} bytes written")
                }
            ));
        }
        if seq == 0 {
            println!(
                "mjpeg-feed: streaming {} frames ({w}x{h}, {}..{} bytes) at {fps} fps to {}",
                frames.len(),
                frames.iter().map(Vec::len).min().unwrap_or(0),
                frames.iter().map(Vec::len).max().unwrap_or(0),
                device.display()
            );
            let _ = std::io::stdout().flush();
        }
        let next = start + period * (seq as u32 + 1);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(())
}

/// Width and height from a JPEG's first SOFn segment.
fn jpeg_size(j: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    while i + 9 < j.len() {
        if j[i] != 0xFF {
            return None;
        }
        let marker = j[i + 1];
        let len = usize::from(u16::from_be_bytes([j[i + 2], j[i + 3]]));
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let h = u16::from_be_bytes([j[i + 5], j[i + 6]]);
            let w = u16::from_be_bytes([j[i + 7], j[i + 8]]);
            return Some((w.into(), h.into()));
        }
        i += 2 + len;
    }
    None
}
