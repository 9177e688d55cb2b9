//! MJPEG fallback: `GET /stream.mjpeg` (multipart/x-mixed-replace, one JPEG per part, only
//! the newest frame for each client, each part's header sent ahead) and `GET /snapshot.jpg`.
//! Every client shares the one JPEG per frame that the MJPEG stream's encoder made (or the
//! device's own MJPEG). [`SendStats`] times each JPEG from its capture to the moment its
//! client's HTTP connection takes it: the path's server-added latency.

use crate::media::encode::jpeg::MjpegEncoder;
use crate::media::fanout::FrameBus;
use crate::media::pipeline::LatestFrame;
use crate::metrics::Histogram;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
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

/// What the MJPEG clients were handed, and when. A JPEG counts as sent when its client's
/// HTTP connection takes it from the stream's body: TLS encryption and the kernel's send
/// follow, as the socket write follows for an RTP packet.
#[derive(Debug, Default)]
pub struct SendStats {
    /// JPEGs handed to clients' connections.
    pub frames_sent: AtomicU64,
    /// The last one's time from publish to its connection, in microseconds.
    pub last_send_us: AtomicU64,
    /// Published (encoded, or passed through) → taken by the connection, every JPEG to every
    /// client.
    pub send_seconds: Histogram,
    /// Captured → taken by the connection, every JPEG to every client.
    pub capture_to_sent_seconds: Histogram,
}

impl SendStats {
    /// A JPEG published at `published` and captured at `captured` was taken by a connection
    /// at `now`.
    fn sent(&self, published: Instant, captured: Instant, now: Instant) {
        let send = now.saturating_duration_since(published);
        self.frames_sent.fetch_add(1, Ordering::Relaxed);
        self.last_send_us
            .store(send.as_micros() as u64, Ordering::Relaxed);
        self.send_seconds.observe(send.as_secs_f64());
        self.capture_to_sent_seconds
            .observe(now.saturating_duration_since(captured).as_secs_f64());
    }
}

/// One piece of the body: a JPEG carries its frame's publish and capture instants.
struct Chunk {
    data: Bytes,
    frame: Option<(Instant, Instant)>,
}

impl Chunk {
    fn fixed(data: &'static [u8]) -> Chunk {
        Chunk {
            data: Bytes::from_static(data),
            frame: None,
        }
    }
}

/// The streaming reply body: a task per client reads the bus and feeds a small channel; the
/// body counts each JPEG into `stats` as the connection takes it.
pub fn stream(bus: &Arc<FrameBus>, stats: Arc<SendStats>) -> impl warp::Reply {
    let (tx, mut rx) = mpsc::channel::<Chunk>(CLIENT_CHUNKS);
    let mut sub = bus.subscribe();
    tokio::spawn(async move {
        if tx.send(Chunk::fixed(STREAM_START)).await.is_err() {
            return;
        }
        while let Some(frame) = sub.recv_latest().await {
            let jpeg = Chunk {
                data: frame.data.clone(),
                frame: Some((frame.encoded_at, frame.captured.instant)),
            };
            for chunk in [jpeg, Chunk::fixed(PART_END)] {
                if tx.send(chunk).await.is_err() {
                    return; // the client went away
                }
            }
        }
    });
    let body = futures_util::stream::poll_fn(move |cx| {
        rx.poll_recv(cx).map(|chunk| {
            chunk.map(|c| {
                if let Some((published, captured)) = c.frame {
                    stats.sent(published, captured, Instant::now());
                }
                Ok::<_, std::io::Error>(c.data)
            })
        })
    });
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
pub async fn snapshot(
    bus: &Arc<FrameBus>,
    raw: &Arc<LatestFrame>,
    quality: crate::media::encode::jpeg::JpegQuality,
) -> Option<Bytes> {
    if let Some(f) = bus.latest() {
        if f.encoded_at.elapsed() < SNAPSHOT_FRESH {
            return Some(f.data.clone());
        }
    }
    let (_, frame) = raw.latest()?;
    let encoded = tokio::task::spawn_blocking(move || {
        let mut enc = MjpegEncoder::with_quality(quality).ok()?;
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
    fn a_sent_jpeg_is_timed_from_its_publish_and_from_its_capture() {
        let stats = SendStats::default();
        let captured = Instant::now();
        let published = captured + Duration::from_micros(1_500);
        stats.sent(published, captured, published + Duration::from_micros(300));
        stats.sent(published, captured, published + Duration::from_micros(700));
        assert_eq!(stats.frames_sent.load(Ordering::Relaxed), 2);
        assert_eq!(stats.last_send_us.load(Ordering::Relaxed), 700);
        let text = crate::metrics::histogram_text(
            "t",
            "t",
            &[
                (Vec::new(), &stats.send_seconds),
                (vec![("k", "c".into())], &stats.capture_to_sent_seconds),
            ],
        );
        // 0.3 and 0.7 ms after publish: the first in the 0.5 ms bucket, both in the 1 ms one;
        // 1.8 and 2.2 ms after capture: the first in the 2 ms bucket, both in the 5 ms one.
        assert!(
            text.contains("periscope_t_bucket{le=\"0.0005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("periscope_t_bucket{le=\"0.001\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("periscope_t_sum 0.001\n"), "{text}");
        assert!(
            text.contains("periscope_t_bucket{k=\"c\",le=\"0.002\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("periscope_t_bucket{k=\"c\",le=\"0.005\"} 2\n"),
            "{text}"
        );
    }

    #[test]
    fn parts_are_delimited_by_the_boundary_with_the_next_header_sent_ahead() {
        let boundary = format!("--{BOUNDARY}\r\n");
        assert!(STREAM_START.starts_with(boundary.as_bytes()));
        assert!(PART_END.starts_with(b"\r\n") && PART_END.ends_with(STREAM_START));
        assert!(STREAM_START.ends_with(b"Content-Type: image/jpeg\r\n\r\n"));
    }
}
