//! An experiment, not periscope: what a viewer would cost if every session were driven by one
//! loop of our own on webrtc's sansio core (`rtc`) instead of by webrtc's async driver (one
//! task and one pass per packet per session).
//!
//! One thread ("srv") holds N server peer connections (an H.264 media engine like periscope's,
//! and its sending interceptors: NACK responder with 512 packets, sender reports, TWCC sender
//! and GCC) on one UDP socket. Each 33 ms it writes a one-packet frame (the desktop pattern's size) to every
//! session, then flushes each session's datagrams; reads and timers are served in the same
//! loop. N clients (the tests' webrtc WHEP client, with a `hid` data channel) receive it on
//! other threads. Prints the server thread's CPU over the window (utime + stime of that
//! thread, % of a core) and the frames each client got.
//!
//! `cargo bench --bench sansio_loop -- VIEWERS SECONDS` (docs/BENCHMARKS.md, Fan-out notes).
#[path = "probe/common.rs"]
mod common;
#[path = "probe/proc_stat.rs"]
mod proc_stat;
#[path = "../tests/common/whep_client.rs"]
mod whep_client;

use bytes::{Bytes, BytesMut};
use common::Offer;
use periscope::transport::webrtc::PLAYOUT_DELAY_URI;
use rtc::interceptor::{
    CongestionControlBuilder, Gcc, NackResponderBuilder, Registry, SenderReportBuilder, Slot,
    TwccSenderBuilder,
};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MediaEngine, MIME_TYPE_H264};
use rtc::peer_connection::configuration::setting_engine::SettingEngine;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtp::header::{Extension, Header};
use rtc::rtp::packet::Packet;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
    TYPE_RTCP_FB_TRANSPORT_CC,
};
use rtc::sansio::Protocol;
use rtc::sdp::extmap::TRANSPORT_CC_URI;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The one H.264 format both sides use: constrained baseline 3.1, non-interleaved.
const H264_FMTP: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";

struct Session {
    pc: RTCPeerConnection,
    sender: rtc::rtp_transceiver::RTCRtpSenderId,
    ssrc: u32,
    pt: u8,
    playout: Option<u8>,
    seq: u16,
    deadline: Option<Instant>,
}

fn fb(t: &str, p: &str) -> RTCPFeedback {
    RTCPFeedback {
        typ: t.into(),
        parameter: p.into(),
    }
}

fn build_pc() -> RTCPeerConnection {
    let mut me = MediaEngine::default();
    me.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_H264.into(),
                clock_rate: 90_000,
                channels: 0,
                sdp_fmtp_line: H264_FMTP.into(),
                rtcp_feedback: vec![
                    fb("nack", ""),
                    fb("nack", "pli"),
                    fb("ccm", "fir"),
                    fb(TYPE_RTCP_FB_TRANSPORT_CC, ""),
                ],
            },
            payload_type: 102,
        },
        RtpCodecKind::Video,
    )
    .expect("codec");
    for uri in [PLAYOUT_DELAY_URI, TRANSPORT_CC_URI] {
        me.register_header_extension(
            RTCRtpHeaderExtensionCapability { uri: uri.into() },
            RtpCodecKind::Video,
            None,
        )
        .expect("ext");
    }
    let registry = Registry::new()
        .with(
            Slot::NackResponder,
            NackResponderBuilder::new().with_size(512).build(),
        )
        .with(Slot::SenderReport, SenderReportBuilder::new().build())
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(Gcc::new(2e6, 1e5, 8e6)).build(),
        )
        .with(Slot::TwccSender, TwccSenderBuilder::new().build());
    RTCPeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_setting_engine(SettingEngine::default())
        .with_media_engine(me)
        .with_interceptor_registry(registry)
        .build(Instant::now())
        .expect("pc")
}

fn client_port(offer: &str) -> u16 {
    offer
        .lines()
        .find(|l| l.starts_with("a=candidate:") && l.contains("127.0.0.1"))
        .and_then(|l| l.split_whitespace().nth(5))
        .and_then(|p| p.parse().ok())
        .expect("client host candidate")
}

fn server(mut offers: mpsc::Receiver<Offer>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async move {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let local = socket.local_addr().expect("addr");
        let mut sessions: Vec<Session> = Vec::new();
        let mut by_port: HashMap<u16, usize> = HashMap::new();
        let mut buf = vec![0u8; 2048];
        let frame = Duration::from_micros(33_333);
        let start = Instant::now();
        let mut next_frame = Instant::now() + frame;
        // One non-IDR slice NAL (type 1) of the desktop pattern's size: one packet a frame.
        let payload = Bytes::from(vec![0x41u8; 600]);
        let flush = |s: &mut Session, socket: &tokio::net::UdpSocket| {
            while let Some(msg) = s.pc.poll_write() {
                let _ = socket.try_send_to(&msg.message, msg.transport.peer_addr);
            }
            while s.pc.poll_event().is_some() {}
            while s.pc.poll_read().is_some() {}
            s.deadline = s.pc.poll_timeout();
        };
        loop {
            let wake = sessions.iter().filter_map(|s| s.deadline).min().map_or(next_frame, |d| d.min(next_frame));
            tokio::select! {
                o = offers.recv() => {
                    let Some((sdp, reply)) = o else { return };
                    let mut pc = build_pc();
                    let port = client_port(&sdp);
                    pc.set_remote_description(Instant::now(), RTCSessionDescription::offer(sdp).expect("offer")).expect("srd");
                    let ssrc = rand::random::<u32>();
                    let track = MediaStreamTrack::new("p".into(), "s".into(), "s".into(), RtpCodecKind::Video, vec![RTCRtpEncodingParameters {
                        rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                        codec: RTCRtpCodec { mime_type: MIME_TYPE_H264.into(), clock_rate: 90_000, channels: 0,
                            sdp_fmtp_line: H264_FMTP.into(), rtcp_feedback: vec![] },
                        ..Default::default()
                    }]);
                    let sender = pc.add_track(track).expect("track");
                    let cand = CandidateHostConfig { base_config: CandidateConfig { network: "udp".into(), address: local.ip().to_string(), port: local.port(), component: 1, ..Default::default() }, ..Default::default() }
                        .new_candidate_host().expect("cand");
                    pc.add_local_candidate(RTCIceCandidate::from(&cand).to_json().expect("json")).expect("add cand");
                    let answer = pc.create_answer(None).expect("answer");
                    pc.set_local_description(Instant::now(), answer.clone()).expect("sld");
                    let sdp = pc.local_description().map(|d| d.sdp).unwrap_or(answer.sdp);
                    let playout = whep_client::extmap_id(&sdp, PLAYOUT_DELAY_URI);
                    let mut s = Session { pc, sender, ssrc, pt: 102, playout, seq: 0, deadline: None };
                    flush(&mut s, &socket);
                    by_port.insert(port, sessions.len());
                    sessions.push(s);
                    let _ = reply.send(sdp);
                }
                r = socket.recv_from(&mut buf) => {
                    let Ok((n, from)) = r else { continue };
                    let mut next = Some((n, from));
                    while let Some((n, from)) = next.take() {
                        if let Some(&i) = by_port.get(&from.port()) {
                            let s = &mut sessions[i];
                            let _ = s.pc.handle_read(TaggedBytesMut { now: Instant::now(), transport: TransportContext { local_addr: local, peer_addr: from, ecn: None, transport_protocol: TransportProtocol::UDP }, message: BytesMut::from(&buf[..n]) });
                            flush(s, &socket);
                        }
                        next = socket.try_recv_from(&mut buf).ok();
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => {
                    let now = Instant::now();
                    if now >= next_frame {
                        next_frame += frame;
                        let ts = (start.elapsed().as_micros() * 9 / 100) as u32; // 90 kHz
                        for s in sessions.iter_mut() {
                            let mut header = Header { version: 2, marker: true, payload_type: s.pt, sequence_number: s.seq, timestamp: ts, ssrc: s.ssrc, ..Default::default() };
                            if let Some(id) = s.playout {
                                header.extension = true;
                                header.extension_profile = 0xBEDE;
                                header.extensions = vec![Extension { id, payload: Bytes::from_static(&[0, 0, 0]) }];
                            }
                            s.seq = s.seq.wrapping_add(1);
                            if let Some(mut sender) = s.pc.rtp_sender(s.sender) {
                                let _ = sender.write_rtp(now, Packet { header, payload: payload.clone() });
                            }
                            flush(s, &socket);
                        }
                    }
                    for s in sessions.iter_mut() {
                        if s.deadline.is_some_and(|d| d <= now) {
                            let _ = s.pc.handle_timeout(now);
                            flush(s, &socket);
                        }
                    }
                }
            }
        }
    });
}

fn main() {
    common::measure("sansio", server);
}
