//! MJPEG fallback: `GET /stream.mjpeg` (multipart/x-mixed-replace, one JPEG per part, only
//! the newest frame for each client, each part's header sent ahead) and `GET /snapshot.jpg`.
//! Every client shares the one JPEG per frame that the MJPEG stream's encoder made (or the
//! device's own MJPEG).

use crate::media::encode::jpeg::MjpegEncoder;
use crate::media::fanout::FrameBus;
use crate::media::pipeline::LatestFrame;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Multipart boundary.
pub const BOUNDARY: &str = "periscopeframe";
/// Opens the stream: the first part's boundary and header.
pub const STREAM_START: &[u8] = b"--periscopeframe\r\nContent-Type: image/jpeg\r\n\r\n";
/// Sent right after each JPEG: closes its part and opens the next one, header included.
/// Browsers show a multipart picture only once the *next* part's header has arrived; sending
/// it ahead (so it carries no Content-Length) shows each frame one frame interval sooner
/// (50 → 22 ms median at 720p30 in headless Chromium, docs/BENCHMARKS.md). Parts are
/// delimited by the boundary alone, which every MJPEG client handles.
pub const PART_END: &[u8] = b"\r\n--periscopeframe\r\nContent-Type: image/jpeg\r\n\r\n";

/// Chunks buffered per client between its frame task and the HTTP body: a frame (JPEG, then
/// the next part's boundary and header) and a bit. When full the task waits, and meanwhile its subscriber keeps only the
/// newest frame.
const CLIENT_CHUNKS: usize = 3;
/// A published MJPEG frame younger than this serves a snapshot as is.
const SNAPSHOT_FRESH: Duration = Duration::from_millis(500);

/// The streaming reply body: a task per client reads the bus and feeds a small channel.
pub fn stream(bus: &Arc<FrameBus>) -> impl warp::Reply {
    let (tx, mut rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(CLIENT_CHUNKS);
    let mut sub = bus.subscribe();
    tokio::spawn(async move {
        if tx.send(Ok(Bytes::from_static(STREAM_START))).await.is_err() {
            return;
        }
        while let Some(frame) = sub.recv_latest().await {
            for chunk in [frame.data.clone(), Bytes::from_static(PART_END)] {
                if tx.send(Ok(chunk)).await.is_err() {
                    return; // the client went away
                }
            }
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let reply = warp::reply::stream(body);
    let reply = warp::reply::with_header(
        reply,
        "content-type",
        format!("multipart/x-mixed-replace; boundary={BOUNDARY}"),
    );
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

    #[test]
    fn parts_are_delimited_by_the_boundary_with_the_next_header_sent_ahead() {
        let boundary = format!("--{BOUNDARY}\r\n");
        assert!(STREAM_START.starts_with(boundary.as_bytes()));
        assert!(PART_END.starts_with(b"\r\n") && PART_END.ends_with(STREAM_START));
        assert!(STREAM_START.ends_with(b"Content-Type: image/jpeg\r\n\r\n"));
    }
}
