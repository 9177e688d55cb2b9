//! MJPEG fallback: `GET /stream.mjpeg` (multipart/x-mixed-replace, one JPEG per part, only
//! the newest frame for each client) and `GET /snapshot.jpg`. Every client shares the one
//! JPEG per frame that the MJPEG stream's encoder made (or the device's own MJPEG).

use crate::media::encode::jpeg::MjpegEncoder;
use crate::media::fanout::FrameBus;
use crate::media::pipeline::LatestFrame;
use crate::media::EncodedFrame;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Multipart boundary.
pub const BOUNDARY: &str = "periscopeframe";
/// Chunks buffered per client between its frame task and the HTTP body: one frame (header,
/// JPEG, trailer). When full the task waits, and meanwhile its subscriber keeps only the
/// newest frame.
const CLIENT_CHUNKS: usize = 3;
/// A published MJPEG frame younger than this serves a snapshot as is.
const SNAPSHOT_FRESH: Duration = Duration::from_millis(500);

/// The part header for one frame (pure).
pub fn part_header(frame: &EncodedFrame) -> Bytes {
    Bytes::from(format!(
        "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nX-Timestamp: {}\r\nX-Sequence: {}\r\n\r\n",
        frame.data.len(),
        frame.captured.unix_ms,
        frame.sequence
    ))
}

/// The streaming reply body: a task per client reads the bus and feeds a small channel.
pub fn stream(bus: &Arc<FrameBus>) -> impl warp::Reply {
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CLIENT_CHUNKS);
    let mut sub = bus.subscribe();
    tokio::spawn(async move {
        while let Some(frame) = sub.recv_latest().await {
            for chunk in [part_header(&frame), frame.data.clone(), Bytes::from_static(b"\r\n")] {
                if tx.send(Ok(chunk)).await.is_err() {
                    return; // the client went away
                }
            }
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let reply = warp::reply::stream(body);
    let reply = warp::reply::with_header(reply, "content-type", format!("multipart/x-mixed-replace; boundary={BOUNDARY}"));
    let reply = warp::reply::with_header(reply, "cache-control", "no-store");
    warp::reply::with_header(reply, "x-accel-buffering", "no")
}

/// The newest frame as a JPEG: the MJPEG stream's last frame when fresh, else the newest raw
/// frame encoded now. `None` when no frame was captured yet.
pub async fn snapshot(bus: &Arc<FrameBus>, raw: &Arc<LatestFrame>) -> Option<Bytes> {
    if let Some(f) = bus.latest() {
        if f.encoded_at.elapsed() < SNAPSHOT_FRESH {
            return Some(f.data.clone());
        }
    }
    let (_, frame) = raw.latest()?;
    let encoded = tokio::task::spawn_blocking(move || {
        let mut enc = MjpegEncoder::new().ok()?;
        enc.jpeg(&frame).ok()
    })
    .await
    .ok()??;
    Some(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{CaptureTime, Codec};
    use std::time::Instant;

    #[test]
    fn part_header_format() {
        let f = EncodedFrame {
            codec: Codec::Mjpeg,
            keyframe: true,
            data: Bytes::from_static(&[0xFF, 0xD8, 0xFF, 0xD9]),
            width: 2,
            height: 2,
            captured: CaptureTime { instant: Instant::now(), unix_ms: 42 },
            sequence: 7,
            encoded_at: Instant::now(),
        };
        assert_eq!(
            part_header(&f),
            Bytes::from_static(b"--periscopeframe\r\nContent-Type: image/jpeg\r\nContent-Length: 4\r\nX-Timestamp: 42\r\nX-Sequence: 7\r\n\r\n")
        );
    }
}
