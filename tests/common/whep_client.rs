//! A WHEP client built on the `webrtc` crate, for tests: offers VP8 before H.264, a recvonly
//! video transceiver and a `hid` data channel; depacketizes the H.264 it receives, decodes it
//! with OpenH264 and reads the test pattern's strip. Used by tests/whep.rs and tests/hw.rs.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use openh264::formats::YUVSource;
use periscope::media::strip;
use periscope::transport::webrtc::PLAYOUT_DELAY_URI;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::{NackGeneratorBuilder, Slot};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_H264, MIME_TYPE_VP8};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCIceGatheringState, RTCPeerConnectionState,
    RTCSessionDescription, Registry, SettingEngineBuilder,
};

/// Failure bound for anything network-shaped.
pub const BOUND: Duration = Duration::from_secs(20);
/// Frames each client must decode.
pub const FRAMES: usize = 30;
/// Largest counter step allowed between consecutive decoded frames (encoder skips, lag).
pub const MAX_GAP: u32 = 5;

pub struct ClientHandler {
    gathered: watch::Sender<bool>,
    state: watch::Sender<RTCPeerConnectionState>,
    /// Complete access units, in order.
    units: mpsc::Sender<Bytes>,
    /// Packets that carried the playout-delay extension (negotiated id).
    playout_id: Arc<AtomicU64>,
    playout_packets: Arc<AtomicU64>,
    /// The received video track (to send RTCP on).
    track: watch::Sender<Option<Arc<dyn TrackRemote>>>,
    /// Access units dropped for a sequence gap (lost packets).
    broken: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for ClientHandler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        self.state.send_replace(state);
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let (units, id, count) = (
            self.units.clone(),
            Arc::clone(&self.playout_id),
            Arc::clone(&self.playout_packets),
        );
        self.track.send_replace(Some(Arc::clone(&track)));
        let broken = Arc::clone(&self.broken);
        tokio::spawn(read_track(track, units, id, count, broken));
    }
}

/// RTP → Annex B access units, framed like a browser's packet buffer: a unit ends at its
/// marker bit, or when a packet of a new RTP timestamp arrives first (the marker was lost:
/// that unit is dropped). A unit is dropped if packets are missing inside it, or if packets
/// are missing before it and it is not an IDR (it would refer to a picture that never came).
/// A packet not newer than the last one (a late resend of a packet already passed, or a
/// duplicate) is set aside, as a jitter buffer files it under its own old frame: it does not
/// break the unit being received.
pub async fn read_track(
    track: Arc<dyn TrackRemote>,
    units: mpsc::Sender<Bytes>,
    playout_id: Arc<AtomicU64>,
    playout: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
) {
    let mut depacketizer = H264Packet::default();
    let mut unit = BytesMut::new();
    let mut last_seq: Option<u16> = None;
    // The RTP timestamp of the unit being received (None: between units).
    let mut unit_ts: Option<u32> = None;
    let mut broken = false;
    let mut gap_before = false;
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        let seq = packet.header.sequence_number;
        let gap = match last_seq.map(|last| seq.wrapping_sub(last) as i16) {
            Some(..=0) => continue,
            Some(1) | None => false,
            Some(_) => true,
        };
        last_seq = Some(seq);
        let id = playout_id.load(Ordering::Relaxed) as u8;
        if packet.header.extensions.iter().any(|e| e.id == id) {
            playout.fetch_add(1, Ordering::Relaxed);
        }
        let ts = packet.header.timestamp;
        if unit_ts.is_some_and(|t| t != ts) {
            // A new picture before the last one's marker: the last one lost its end.
            dropped.fetch_add(1, Ordering::Relaxed);
            unit.clear();
            depacketizer = H264Packet::default();
            unit_ts = None;
        }
        if unit_ts.is_none() {
            broken = gap && !starts_nal(&packet.payload);
            gap_before = gap;
            unit_ts = Some(ts);
        } else if gap {
            broken = true;
        }
        match depacketizer.depacketize(&packet.payload) {
            Ok(bytes) => unit.extend_from_slice(&bytes),
            Err(_) => broken = true,
        }
        if packet.header.marker {
            let done = unit.split().freeze();
            if broken || (gap_before && !has_idr(&done)) {
                dropped.fetch_add(1, Ordering::Relaxed);
            } else if units.try_send(done).is_err() {
                return;
            }
            broken = false;
            unit_ts = None;
        }
    }
}

/// Whether an RTP H.264 payload begins a NAL unit (not an FU-A continuation).
fn starts_nal(payload: &[u8]) -> bool {
    match payload {
        [] => false,
        [h, rest @ ..] if h & 0x1f == 28 => rest.first().is_some_and(|fu| fu & 0x80 != 0),
        _ => true,
    }
}

/// Whether an Annex B access unit holds an IDR slice.
pub fn has_idr(au: &[u8]) -> bool {
    au.windows(4)
        .any(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 5)
}

pub struct Client {
    pub pc: Arc<dyn PeerConnection>,
    pub state: watch::Receiver<RTCPeerConnectionState>,
    pub units: mpsc::Receiver<Bytes>,
    /// Text messages from the server on `hid`.
    pub replies: mpsc::Receiver<String>,
    pub dc: Arc<dyn DataChannel>,
    pub dc_open: watch::Receiver<bool>,
    pub playout_id: Arc<AtomicU64>,
    pub playout_packets: Arc<AtomicU64>,
    pub track: watch::Receiver<Option<Arc<dyn TrackRemote>>>,
    /// Access units dropped for lost packets.
    pub broken: Arc<AtomicU64>,
    /// One decoder for the whole stream (later units need the first IDR's parameter sets).
    pub decoder: openh264::decoder::Decoder,
}

/// A client with its offer (gathering complete).
pub async fn client() -> (Client, String) {
    client_on("127.0.0.1:0").await
}

/// A client gathering on `addr` (a fixed port lets a test shape its traffic).
pub async fn client_on(addr: &str) -> (Client, String) {
    let mut media_engine = MediaEngine::default();
    let fb = |typ: &str, p: &str| RTCPFeedback {
        typ: typ.into(),
        parameter: p.into(),
    };
    let video = |mime: &str, fmtp: &str, pt: u8| RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: mime.into(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: fmtp.into(),
            rtcp_feedback: vec![fb("nack", ""), fb("nack", "pli"), fb("ccm", "fir")],
        },
        payload_type: pt,
    };
    // VP8 first, as Chromium lists it: the server must still answer H.264.
    media_engine
        .register_codec(video(MIME_TYPE_VP8, "", 96), RtpCodecKind::Video)
        .unwrap();
    media_engine
        .register_codec(
            video(
                MIME_TYPE_H264,
                "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
                102,
            ),
            RtpCodecKind::Video,
        )
        .unwrap();
    media_engine
        .register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: PLAYOUT_DELAY_URI.into(),
            },
            RtpCodecKind::Video,
            None,
        )
        .unwrap();
    // NACK each lost packet at most 10 times, as Chromium does (kMaxNackRetries); the
    // default asks forever, every 100 ms, which floods a slow link with retransmissions.
    let registry = register_default_interceptors(Registry::new(), &mut media_engine)
        .unwrap()
        .with(
            Slot::NackGenerator,
            NackGeneratorBuilder::new()
                .with_max_nacks_per_packet(10)
                .build(),
        );

    let (gathered_tx, mut gathered) = watch::channel(false);
    let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
    let (units_tx, units) = mpsc::channel(1024);
    let playout_id = Arc::new(AtomicU64::new(u64::MAX));
    let playout_packets = Arc::new(AtomicU64::new(0));
    let broken = Arc::new(AtomicU64::new(0));
    let (track_tx, track) = watch::channel(None);
    let handler = Arc::new(ClientHandler {
        gathered: gathered_tx,
        state: state_tx,
        units: units_tx,
        playout_id: Arc::clone(&playout_id),
        playout_packets: Arc::clone(&playout_packets),
        track: track_tx,
        broken: Arc::clone(&broken),
    });
    // No mDNS: a namespace with only loopback has no multicast route (ENODEV).
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_media_engine(media_engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_udp_addrs(vec![addr.to_string()])
        .build()
        .await
        .expect("client peer connection");
    let pc: Arc<dyn PeerConnection> = Arc::new(pc);
    pc.add_transceiver_from_kind(
        RtpCodecKind::Video,
        Some(RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Recvonly,
            ..Default::default()
        }),
    )
    .await
    .expect("recvonly transceiver");
    let dc = pc
        .create_data_channel("hid", None)
        .await
        .expect("hid channel");
    let (open_tx, dc_open) = watch::channel(false);
    let (replies_tx, replies) = mpsc::channel(64);
    {
        let dc = Arc::clone(&dc);
        tokio::spawn(async move {
            while let Some(event) = dc.poll().await {
                match event {
                    DataChannelEvent::OnOpen => {
                        open_tx.send_replace(true);
                    }
                    DataChannelEvent::OnMessage(m) => {
                        let _ = replies_tx
                            .send(String::from_utf8_lossy(&m.data).into_owned())
                            .await;
                    }
                    DataChannelEvent::OnClose => break,
                    _ => {}
                }
            }
        });
    }
    let offer = pc.create_offer(None).await.expect("offer");
    pc.set_local_description(offer).await.expect("local offer");
    timeout(BOUND, gathered.wait_for(|g| *g))
        .await
        .expect("client gathering")
        .expect("gathering watch");
    let offer = pc.local_description().await.expect("offer sdp").sdp;
    let decoder = openh264::decoder::Decoder::new().expect("openh264 decoder");
    let client = Client {
        pc,
        state,
        units,
        replies,
        dc,
        dc_open,
        playout_id,
        playout_packets,
        track,
        broken,
        decoder,
    };
    (client, offer)
}

/// Opens `client`'s WHEP session through the appliance's HTTPS API at `base`: POSTs `offer`
/// (authenticated by `token` as a bearer, or by `http`'s session cookie), expects 201 and
/// accepts the answer, which it returns.
pub async fn post_offer(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    client: &mut Client,
    offer: String,
) -> String {
    let req = http.post(format!("{base}/api/whep"));
    let req = match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    };
    let r = req
        .header("content-type", "application/sdp")
        .body(offer)
        .send()
        .await
        .expect("WHEP POST");
    assert_eq!(r.status(), 201, "WHEP answer");
    let answer = r.text().await.expect("SDP answer");
    client.accept(&answer).await;
    answer
}

impl Client {
    pub async fn accept(&mut self, answer: &str) {
        let id =
            extmap_id(answer, PLAYOUT_DELAY_URI).expect("playout-delay negotiated in the answer");
        self.playout_id.store(id as u64, Ordering::Relaxed);
        let answer = RTCSessionDescription::answer(answer.to_string()).expect("answer parses");
        self.pc
            .set_remote_description(answer)
            .await
            .expect("remote answer");
        timeout(
            BOUND,
            self.state
                .wait_for(|s| *s == RTCPeerConnectionState::Connected),
        )
        .await
        .expect("client connects")
        .expect("state watch");
    }

    /// Decodes access units until `n` pictures; `read` turns each picture into a value.
    async fn decode_pictures<T>(
        &mut self,
        n: usize,
        bound: Duration,
        mut read: impl FnMut(&openh264::decoder::DecodedYUV<'_>) -> T,
    ) -> Vec<T> {
        let mut out = Vec::new();
        while out.len() < n {
            let unit = timeout(bound, self.units.recv())
                .await
                .expect("video keeps coming")
                .expect("track open");
            if let Some(picture) = self.decoder.decode(&unit).expect("decodable H.264") {
                out.push(read(&picture));
            }
        }
        out
    }

    /// Decodes until `FRAMES` pictures of the 640x480 test pattern; returns their strip counters.
    pub async fn counters(&mut self) -> Vec<u32> {
        self.decode_pictures(FRAMES, BOUND, |picture| {
            let (width, height) = picture.dimensions();
            assert_eq!((width, height), (640, 480));
            let luma = strip::Luma {
                data: picture.y(),
                width: width as u32,
                height: height as u32,
                stride: picture.strides().0,
            };
            strip::read(&luma).expect("strip readable").counter
        })
        .await
    }

    /// Decodes `n` pictures of any source: (width, height, hash of the luma plane).
    pub async fn pictures(&mut self, n: usize, bound: Duration) -> Vec<(usize, usize, u64)> {
        use std::hash::{Hash, Hasher};
        self.decode_pictures(n, bound, |picture| {
            let (width, height) = picture.dimensions();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            picture.y().hash(&mut h);
            (width, height, h.finish())
        })
        .await
    }

    /// Decodes `n` pictures: (width, height, the luma plane with rows packed tight).
    pub async fn lumas(&mut self, n: usize, bound: Duration) -> Vec<(usize, usize, Vec<u8>)> {
        self.decode_pictures(n, bound, |picture| {
            let (width, height) = picture.dimensions();
            let stride = picture.strides().0;
            let y = picture.y();
            let rows = (0..height).flat_map(|r| &y[r * stride..r * stride + width]);
            (width, height, rows.copied().collect())
        })
        .await
    }

    /// Sends a Picture Loss Indication for the video, as a browser does after loss.
    pub async fn send_pli(&self) {
        let track = self.track.borrow().clone().expect("video track");
        let media_ssrc = *track.ssrcs().await.first().expect("track SSRC");
        let pli = PictureLossIndication {
            sender_ssrc: 1,
            media_ssrc,
        };
        track
            .write_rtcp(vec![Box::new(pli)])
            .await
            .expect("RTCP sent");
    }

    pub async fn send(&self, text: &str) {
        timeout(BOUND, self.dc_open.clone().wait_for(|o| *o))
            .await
            .expect("hid channel opens")
            .expect("open watch");
        self.dc.send_text(text).await.expect("send on hid");
    }

    /// The next reply of type `kind` within `bound`, skipping others; panics on an
    /// `{"type":"error",…}` reply meanwhile (a message the device refused) unless `kind` is
    /// "error".
    pub async fn reply_of_type(&mut self, kind: &str, bound: Duration) -> serde_json::Value {
        let end = tokio::time::Instant::now() + bound;
        loop {
            let text = tokio::time::timeout_at(end, self.replies.recv())
                .await
                .unwrap_or_else(|_| panic!("no {kind:?} reply within {bound:?}"))
                .expect("channel open");
            let v: serde_json::Value = serde_json::from_str(&text).expect("reply is JSON");
            if v["type"] == kind {
                return v;
            }
            assert_ne!(v["type"], "error", "the device refused a message: {v}");
        }
    }

    /// The next `{"type":"error",…}` reply (LED updates are skipped).
    pub async fn error_reply(&mut self) -> serde_json::Value {
        loop {
            let text = timeout(BOUND, self.replies.recv())
                .await
                .expect("a reply")
                .expect("channel open");
            let v: serde_json::Value = serde_json::from_str(&text).expect("reply is JSON");
            if v["type"] == "error" {
                return v;
            }
        }
    }
}

pub fn extmap_id(sdp: &str, uri: &str) -> Option<u8> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=extmap:"))
        .find(|l| l.split_whitespace().nth(1) == Some(uri))
        .and_then(|l| l.split(|c: char| c == '/' || c.is_whitespace()).next())
        .and_then(|id| id.parse().ok())
}

pub fn without_candidates(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|l| !l.starts_with("a=candidate:") && !l.starts_with("a=end-of-candidates"))
        .collect()
}

pub fn host_candidate_ports(sdp: &str) -> Vec<u16> {
    sdp.lines()
        .filter(|l| l.starts_with("a=candidate:") && l.contains(" typ host"))
        .filter_map(|l| l.split_whitespace().nth(5)?.parse().ok())
        .collect()
}

pub fn assert_counters_advance(counters: &[u32]) {
    for pair in counters.windows(2) {
        let step = pair[1].wrapping_sub(pair[0]);
        assert!(
            (1..=MAX_GAP).contains(&step),
            "frame counter went {} → {} in {counters:?}",
            pair[0],
            pair[1]
        );
    }
}

/// Waits until the record file holds every report in `want`, in order.
pub async fn reports_recorded(path: &Path, want: &[&str]) -> Vec<String> {
    let found = timeout(BOUND, async {
        loop {
            let text = tokio::fs::read_to_string(path).await.unwrap_or_default();
            let reports: Vec<String> = text
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|v| v["device"] == "keyboard")
                .filter_map(|v| v["report"].as_str().map(str::to_string))
                .collect();
            let mut it = reports.iter();
            if want.iter().all(|w| it.any(|r| r == w)) {
                return reports;
            }
            // Polling a file the HID worker appends to; bounded by the timeout above.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    found.expect("keyboard reports recorded")
}
