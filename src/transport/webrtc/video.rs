//! The video leg of a session: H.264 access units from the [`FrameBus`] onto the RTP track,
//! and keyframe requests (PLI/FIR) from the browser back to the encoder.
//!
//! Owns the session's packetizer. Never paces and never queues: each access unit is
//! packetized and handed to the driver as soon as the bus yields it, stamped with its capture
//! time, with the playout-delay extension asking the browser to show it at once.

use super::{VideoCounters, LOG};
use crate::media::fanout::FrameBus;
use crate::media::EncodedFrame;
use bytes::Bytes;
use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::extension::playout_delay_extension::PlayoutDelayExtension;
use rtc::rtp::extension::HeaderExtension;
use rtc::rtp::packetizer::{new_packetizer, Packetizer};
use rtc::rtp::sequence::new_random_sequencer;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::RTCPeerConnectionState;

/// H.264's RTP clock rate.
pub const CLOCK_RATE: u32 = 90_000;
/// Largest RTP packet we build (headers included): fits any sane path MTU with SRTP and
/// TURN overhead.
const RTP_MTU: usize = 1200;

/// What the video task needs to send.
pub struct VideoLeg {
    /// The track bound to the negotiated sender.
    pub track: Arc<TrackLocalStaticRTP>,
    /// Its SSRC.
    pub ssrc: u32,
    /// The negotiated H.264 payload type.
    pub payload_type: u8,
}

/// Sends frames from `bus` once the connection is up, until `cancel` fires or the bus closes.
pub async fn run(
    leg: VideoLeg,
    bus: Arc<FrameBus>,
    mut state: watch::Receiver<RTCPeerConnectionState>,
    cancel: CancellationToken,
    stats: Arc<VideoCounters>,
    peer: String,
) {
    // Subscribe only now, so the first frame is an IDR made for this viewer.
    if !wait_connected(&mut state, &cancel).await {
        return;
    }
    let mut sub = bus.subscribe();
    let mut clock = RtpClock::default();
    let mut packetizer = new_packetizer(
        Instant::now(),
        RTP_MTU,
        leg.payload_type,
        leg.ssrc,
        Box::<rtc::rtp::codec::h264::H264Payloader>::default(),
        Box::new(new_random_sequencer()),
        CLOCK_RATE,
    );
    let playout = [HeaderExtension::PlayoutDelay(PlayoutDelayExtension::new(
        0, 0,
    ))];
    let mut last_error: Option<String> = None;
    tracing::info!(target: LOG, peer, "video started");
    loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => break,
            frame = sub.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
        };
        packetizer.skip_samples(clock.advance(frame.captured.instant));
        let result = send_frame(&leg, &mut packetizer, &frame, &playout).await;
        match result {
            Ok(()) => {
                stats.frames_sent.fetch_add(1, Ordering::Relaxed);
                let us = frame.encoded_at.elapsed().as_micros() as u64;
                stats.last_latency_us.store(us, Ordering::Relaxed);
                last_error = None;
            }
            Err(e) => {
                stats.frames_failed.fetch_add(1, Ordering::Relaxed);
                let msg = e.to_string();
                if last_error.as_deref() != Some(msg.as_str()) {
                    tracing::warn!(target: LOG, peer, error = %msg, "video frame not sent");
                    last_error = Some(msg);
                }
            }
        }
    }
    tracing::info!(target: LOG, peer, dropped = sub.dropped(), "video stopped");
}

/// Waits for `Connected`; false when the session ends first.
async fn wait_connected(
    state: &mut watch::Receiver<RTCPeerConnectionState>,
    cancel: &CancellationToken,
) -> bool {
    loop {
        match *state.borrow_and_update() {
            RTCPeerConnectionState::Connected => return true,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => return false,
            _ => {}
        }
        tokio::select! {
            _ = cancel.cancelled() => return false,
            changed = state.changed() => if changed.is_err() { return false },
        }
    }
}

async fn send_frame(
    leg: &VideoLeg,
    packetizer: &mut impl Packetizer,
    frame: &EncodedFrame,
    extensions: &[HeaderExtension],
) -> Result<(), Error> {
    let data: Bytes = frame.data.clone();
    let packets = packetizer.packetize(Instant::now(), &data, 0)?;
    for mut packet in packets {
        packet.header.payload_type = leg.payload_type;
        leg.track
            .write_rtp_with_extensions(packet, extensions)
            .await?;
    }
    Ok(())
}

/// RTP timestamps from capture instants: the first frame starts the clock; every later one
/// is `capture time − first capture time` at 90 kHz, so rounding never accumulates.
#[derive(Debug, Default)]
pub struct RtpClock {
    /// First capture instant and the last timestamp offset handed out.
    state: Option<(Instant, u64)>,
}

impl RtpClock {
    /// Ticks to add before packetizing the frame captured at `at` (0 for the first frame,
    /// and for a frame that claims to be older than the previous one).
    pub fn advance(&mut self, at: Instant) -> u32 {
        let Some((start, last)) = self.state else {
            self.state = Some((at, 0));
            return 0;
        };
        let now =
            at.saturating_duration_since(start).as_micros() as u64 * CLOCK_RATE as u64 / 1_000_000;
        let now = now.max(last);
        self.state = Some((start, now));
        (now - last) as u32
    }
}

/// Turns PLI/FIR from the browser into keyframe requests on the bus, until the track goes.
pub async fn forward_keyframe_requests(
    track: Arc<TrackLocalStaticRTP>,
    bus: Arc<FrameBus>,
    cancel: CancellationToken,
    stats: Arc<VideoCounters>,
) {
    loop {
        let event = tokio::select! {
            _ = cancel.cancelled() => return,
            event = track.poll() => event,
        };
        match event {
            Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                    stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
                    bus.request_keyframe();
                }
            }
            Some(_) => {}
            None => return,
        }
    }
}

fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

/// Marks inbound PLI/FIR for the application (the track's `OnRtcpPacket`) and ends every
/// other inbound RTCP here, after the interceptors before it have used it. Registered
/// application-most, as in webrtc's `rtcp-processing` example.
#[derive(Default)]
pub struct KeyframeRequestForwarder {
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestForwarder {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<Box<dyn rtc::rtcp::Packet>> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .cloned()
                .collect();
            if requests.is_empty() {
                return Ok(());
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for KeyframeRequestForwarder {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rtp_clock_follows_capture_times_without_drift() {
        let t0 = Instant::now();
        let mut clock = RtpClock::default();
        assert_eq!(clock.advance(t0), 0);
        // 30 fps with a 1/3 ms remainder each frame: 3000 ticks, then 3000, 3000 …
        let mut total = 0u64;
        for i in 1..=300u64 {
            total += clock.advance(t0 + Duration::from_micros(i * 100_000 / 3)) as u64;
        }
        assert_eq!(total, 900_000, "10 s at 90 kHz, no accumulated rounding");
        // A skipped frame shows as a double step; time never runs backwards.
        let late = t0 + Duration::from_micros(300 * 100_000 / 3 + 66_667);
        assert_eq!(clock.advance(late), 6000);
        assert_eq!(clock.advance(t0), 0);
    }
}
