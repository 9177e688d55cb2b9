//! V4L2 capture against whatever capture device this machine has. Without one the test says
//! so and returns (the QEMU bench drives the vivid driver on every run; see docs/TESTING.md).
#![cfg(feature = "v4l2")]

use periscope::media::capture::v4l2::V4l2Capture;
use periscope::media::capture::{CaptureRequest, CaptureSource, DEFAULT_FORMAT_ORDER};

fn capture_devices() -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/sys/class/video4linux") else {
        return out;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let dev = format!("/dev/{name}");
        if name.starts_with("video") && std::path::Path::new(&dev).exists() {
            out.push(dev);
        }
    }
    out.sort();
    out
}

#[test]
fn captures_frames_from_a_real_device_where_one_exists() {
    let devices = capture_devices();
    if devices.is_empty() {
        println!("SKIPPED: no V4L2 device under /sys/class/video4linux on this machine");
        return;
    }
    let req = CaptureRequest {
        width: Some(640),
        height: Some(480),
        fps: Some(30),
        formats: DEFAULT_FORMAT_ORDER.to_vec(),
        edid: None,
    };
    let mut tried = Vec::new();
    for dev in devices {
        let mut cap = match V4l2Capture::open(&dev, &req) {
            Ok(c) => c,
            Err(e) => {
                tried.push(format!("{dev}: {e}"));
                continue; // metadata or output nodes
            }
        };
        let info = cap.info();
        let mut seqs = Vec::new();
        let mut attempts = 0;
        while seqs.len() < 10 && attempts < 100 {
            attempts += 1;
            match cap.grab() {
                Ok(f) => {
                    assert_eq!((f.width, f.height), (info.width, info.height));
                    if let Some(len) = f.format.frame_len(f.width, f.height) {
                        assert_eq!(f.data.len(), len, "{dev}: raw frame length");
                    } else {
                        assert_eq!(&f.data[..2], &[0xFF, 0xD8], "{dev}: JPEG starts with SOI");
                    }
                    seqs.push(f.sequence);
                }
                Err(e) => println!("{dev}: {e}"),
            }
        }
        assert!(seqs.len() >= 10, "{dev}: got {} frames", seqs.len());
        assert!(
            seqs.windows(2).all(|w| w[1] > w[0]),
            "{dev}: sequence advances: {seqs:?}"
        );
        println!(
            "{dev}: {} {}x{} — {} frames",
            info.format,
            info.width,
            info.height,
            seqs.len()
        );
        return;
    }
    println!(
        "SKIPPED: no capture-capable V4L2 device ({})",
        tried.join("; ")
    );
}
