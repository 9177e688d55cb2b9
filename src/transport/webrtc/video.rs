//! The video leg of a session: H.264 access units from its rung of the [`Ladder`] onto the
//! RTP track, and keyframe requests (PLI/FIR) from the browser back to that rung's encoder.
//!
//! Owns the session's RTP stream (its headers: [`RtpStream`]); the payloads of each access
//! unit are made once for every session ([`Payloads`]). Never queues: each access unit is
//! handed to the driver as soon as the bus yields it, stamped with its capture time, with the
//! playout-delay extension asking the browser to show it at once. On the full rung only the
//! session's first keyframe is paced (it probes the link); on the low rung every packet is.
//!
//! Every [`CHECK`] (every [`CHECK_CALM`] while the link has room to spare) the session's view
//! of its link goes to its [`ViewerRung`]. A move down
//! happens at once (the full rung's frames only deepen the queue of an overfull link; the
//! low rung's first keyframe follows). A move up subscribes to the full rung and keeps
//! sending the low one until the full one's first keyframe arrives: the picture never stops.
//! Either way the RTP stream (SSRC, sequence numbers, timestamps) runs on unbroken.

use super::backlog::{Backlog, PACKET_OVERHEAD};
use super::bwe::Estimate;
use super::payloads::{Payloads, RtpStream};
use super::retransmit::Floor;
use super::{VideoCounters, LOG};
use crate::media::fanout::Subscriber;
use crate::media::ladder::{Ladder, Rung};
use crate::media::EncodedFrame;
use bytes::Bytes;
use rtc::interceptor::{Attribute, Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::RTCPeerConnectionState;

/// H.264's RTP clock rate.
pub const CLOCK_RATE: u32 = 90_000;

/// What the video task needs to send.
pub struct VideoLeg {
    /// The track bound to the negotiated sender.
    pub track: Arc<TrackLocalStaticRTP>,
    /// Its SSRC.
    pub ssrc: u32,
    /// The negotiated H.264 payload type.
    pub payload_type: u8,
    /// The negotiated id of the playout-delay extension (`None`: not negotiated).
    pub playout_id: Option<u8>,
}

/// The playout-delay extension's payload asking for no delay at all (min = max = 0: show
/// each frame the moment it is decoded), as every packet carries it.
pub const PLAYOUT_NONE: [u8; 3] = [0, 0, 0];

/// How often the bandwidth estimate is looked at while it matters: a session's first
/// [`SETTLE`], the [`SETTLE`] after each move, and whenever the link is not calm
/// ([`ViewerRung::calm`](crate::media::ladder::ViewerRung::calm)).
pub const CHECK: Duration = Duration::from_millis(100);
/// How often it is looked at while the link is calm: each look wakes the session's task,
/// a cost every viewer pays, so a calm viewer wakes for it twice a second instead of ten
/// times.
pub const CHECK_CALM: Duration = Duration::from_millis(500);
/// How long checks stay at [`CHECK`] after a session starts or moves.
pub const SETTLE: Duration = Duration::from_secs(3);

/// Where a session's frames come from.
pub struct Rungs {
    /// The shared streams.
    pub ladder: Arc<Ladder>,
    /// The session's bandwidth estimate (`None`: no congestion control, stay on full).
    pub estimate: Option<Estimate>,
    /// Woken for each keyframe request from the browser.
    pub keyframes: Arc<Notify>,
    /// The access units' RTP payloads, shared with the other sessions on the ladder.
    pub payloads: Arc<Payloads>,
    /// Set on a move down: nothing sent before the move is resent.
    pub floor: Floor,
}

/// Sends frames from the ladder once the connection is up, until `cancel` fires or the bus
/// closes.
pub async fn run(
    leg: VideoLeg,
    rungs: Rungs,
    mut state: watch::Receiver<RTCPeerConnectionState>,
    cancel: CancellationToken,
    stats: Arc<VideoCounters>,
    peer: String,
) {
    // Subscribe only now, so the first frame is an IDR made for this viewer.
    if !wait_connected(&mut state, &cancel).await {
        return;
    }
    let ladder = &rungs.ladder;
    let mut place = ladder.viewer();
    let mut sub = ladder.subscribe(Rung::Full);
    let mut current = Rung::Full;
    // The rung being moved to, until its first keyframe.
    let mut next: Option<(Rung, Subscriber)> = None;
    let mut pacer = Pacer::default();
    // What this session's sends may still have queued on its link (see `backlog`).
    let mut backlog = Backlog::default();
    // The session's first keyframe is paced (see `ViewerRung::first_pace_bps`).
    let mut first = rungs.estimate.is_some();
    // Checks stay frequent until then (see `SETTLE`).
    let mut busy_until = Instant::now() + SETTLE;
    let check = tokio::time::sleep(CHECK);
    tokio::pin!(check);
    let mut clock = RtpClock::default();
    let mut stream = RtpStream::new(leg.ssrc, leg.payload_type);
    if let Some(id) = leg.playout_id {
        stream = stream.with_extension(id, Bytes::from_static(&PLAYOUT_NONE));
    }
    let mut last_error: Option<String> = None;
    tracing::info!(target: LOG, peer, "video started");
    loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => break,
            frame = sub.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
            Some(frame) = first_keyframe(&mut next) => {
                if let Some((rung, moved)) = next.take() {
                    tracing::info!(target: LOG, peer, rung = rung.name(),
                        estimate_bps = rungs.estimate.as_ref().map(|e| e.bps() as u64), "video moved");
                    (current, sub) = (rung, moved);
                }
                frame
            }
            _ = rungs.keyframes.notified() => {
                sub.request_keyframe();
                continue;
            }
            _ = &mut check, if rungs.estimate.is_some() => {
                let now = Instant::now();
                let mut period = CHECK;
                if let Some(estimate) = &rungs.estimate {
                    let link = estimate.link();
                    tracing::trace!(target: LOG, peer, estimate = link.estimate_bps as u64,
                        delivered = link.delivered_bps as u64, capacity = link.capacity_bps as u64,
                        loss = link.loss, rung = current.name(), "link");
                    if let Some(to) = place.update(now, link) {
                        busy_until = now + SETTLE;
                        // Moving back before the last move finished drops the pending one.
                        next = None;
                        if to == Rung::Low && current != Rung::Low {
                            // The link is overfull: stop sending the full rung at once (its
                            // frames only deepen the queue); the low rung's keyframe is next,
                            // once the queue the full rung filled is half drained.
                            let hold = backlog.hold_time(now, link.rate_bps());
                            pacer.hold_until(now + hold);
                            // No more resends of anything the old rung sent: the low rung's
                            // keyframe replaces it all, and resends only compete with it.
                            rungs.floor.set(stream.next_sequence());
                            tracing::info!(target: LOG, peer, rung = to.name(),
                                estimate_bps = link.estimate_bps as u64, delivered_bps = link.delivered_bps as u64,
                                capacity_bps = link.capacity_bps as u64, loss = link.loss,
                                hold_ms = hold.as_millis() as u64, "video moved");
                            (current, sub) = (to, ladder.subscribe(to));
                        } else if to != current {
                            next = Some((to, ladder.subscribe(to)));
                        }
                    }
                    if now >= busy_until && next.is_none() && place.calm(link) {
                        period = CHECK_CALM;
                    }
                }
                check.as_mut().reset((now + period).into());
                continue;
            }
        };
        stream.advance(clock.advance(frame.captured.instant));
        let pace = if first {
            first = false;
            Some(place.first_pace_bps())
        } else {
            place.pace_bps().filter(|_| current == Rung::Low)
        };
        let result = match rungs.payloads.of(&frame) {
            Ok(payloads) => {
                let packets = stream.packets(&payloads);
                // Only a session that can move down needs its backlog.
                let tracked = rungs.estimate.is_some().then(|| {
                    let bytes = packets.iter().map(|p| p.payload.len() + PACKET_OVERHEAD);
                    (Instant::now(), bytes.sum::<usize>())
                });
                let sent = send_frame(&leg, packets, pace, &mut pacer).await;
                if let Some((start, bytes)) = tracked {
                    backlog.sent(start, Instant::now(), bytes);
                }
                sent
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                stats.frames_sent.fetch_add(1, Ordering::Relaxed);
                let us = frame.encoded_at.elapsed().as_micros() as u64;
                stats.last_latency_us.store(us, Ordering::Relaxed);
                stats.send_seconds.observe_us(us);
                stats
                    .capture_to_sent_seconds
                    .observe(frame.captured.instant.elapsed().as_secs_f64());
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

/// The first frame of the rung being moved to (always a keyframe: a new subscriber starts at
/// one); pending forever when no move is under way.
async fn first_keyframe(next: &mut Option<(Rung, Subscriber)>) -> Option<Arc<EncodedFrame>> {
    match next {
        Some((_, sub)) => sub.recv().await,
        None => std::future::pending().await,
    }
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

/// Sends one access unit's packets; with `pace` (bits per second) they are spread at that
/// rate.
async fn send_frame(
    leg: &VideoLeg,
    packets: Vec<rtc::rtp::packet::Packet>,
    pace: Option<f64>,
    pacer: &mut Pacer,
) -> Result<(), Error> {
    for packet in packets {
        if let Some(bps) = pace {
            let at = pacer.slot(Instant::now(), packet.payload.len() + PACKET_OVERHEAD, bps);
            tokio::time::sleep_until(at.into()).await;
        }
        // The headers already carry their extensions (`RtpStream`), so this is the plain
        // write: `write_rtp_with_extensions` would look each one up in a map it builds per
        // packet.
        leg.track.write_rtp(packet).await?;
    }
    Ok(())
}

/// Bytes a paced viewer may receive at once (eight full packets).
const PACE_BURST: f64 = 8.0 * 1200.0;

/// A token bucket for pacing one viewer's packets (pure: instants in, instants out).
#[derive(Debug, Default)]
pub struct Pacer {
    /// When the bucket is full again (`None`: full now).
    full_at: Option<Instant>,
    /// No packet leaves before this.
    not_before: Option<Instant>,
}

impl Pacer {
    /// Holds every packet until `at` (then a full bucket's burst may leave at once).
    pub fn hold_until(&mut self, at: Instant) {
        self.not_before = Some(self.not_before.map_or(at, |t| t.max(at)));
    }

    /// When a packet of `bytes` may leave, at `bps`, if it is ready at `now`: once the
    /// bucket (of [`PACE_BURST`] bytes, refilled at `bps`) holds that many.
    pub fn slot(&mut self, now: Instant, bytes: usize, bps: f64) -> Instant {
        let secs = |b: f64| Duration::from_secs_f64(b.max(0.0) * 8.0 / bps.max(1.0));
        let now = self.not_before.map_or(now, |t| t.max(now));
        let full_at = self.full_at.unwrap_or(now).max(now);
        let send = full_at
            .checked_sub(secs(PACE_BURST - bytes as f64))
            .map_or(now, |t| t.max(now));
        self.full_at = Some(full_at.max(send) + secs(bytes as f64));
        send
    }
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

/// Turns PLI/FIR from the browser into keyframe requests for the video task (which asks the
/// rung it is sending), until the track goes.
pub async fn forward_keyframe_requests(
    track: Arc<TrackLocalStaticRTP>,
    keyframes: Arc<Notify>,
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
                    keyframes.notify_one();
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
    fn no_playout_delay_is_what_webrtcs_extension_marshals_for_0_0() {
        use rtc::rtp::extension::playout_delay_extension::PlayoutDelayExtension;
        use rtc::rtp::extension::HeaderExtension;
        use rtc::shared::marshal::{Marshal, MarshalSize};
        let ext = HeaderExtension::PlayoutDelay(PlayoutDelayExtension::new(0, 0));
        let mut buf = vec![0u8; ext.marshal_size()];
        ext.marshal_to(&mut buf).unwrap();
        assert_eq!(buf, PLAYOUT_NONE);
    }

    #[test]
    fn the_pacer_allows_a_small_burst_then_spreads_packets_at_the_rate() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut p = Pacer::default();
        // 1 Mbit/s, 1200-byte packets (9.6 ms each): eight go at once …
        for _ in 0..8 {
            assert_eq!(p.slot(t0, 1200, 1e6), t0);
        }
        // … then one every 9.6 ms.
        let ninth = p.slot(t0, 1200, 1e6);
        assert_eq!(ninth - t0, Duration::from_micros(9600));
        let tenth = p.slot(t0, 1200, 1e6);
        assert_eq!(tenth - t0, Duration::from_micros(19_200));
        // After a quiet second the burst is available again.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(p.slot(later, 1200, 1e6), later);
    }

    #[test]
    fn a_held_pacer_sends_nothing_before_the_hold_then_its_burst() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut p = Pacer::default();
        let until = t0 + Duration::from_millis(300);
        p.hold_until(until);
        // An earlier hold does not shorten a later one.
        p.hold_until(t0 + Duration::from_millis(100));
        for _ in 0..8 {
            assert_eq!(p.slot(t0, 1200, 1e6), until);
        }
        assert_eq!(p.slot(t0, 1200, 1e6) - until, Duration::from_micros(9600));
        // After the hold, pacing is as before.
        let later = until + Duration::from_secs(1);
        assert_eq!(p.slot(later, 1200, 1e6), later);
    }

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
