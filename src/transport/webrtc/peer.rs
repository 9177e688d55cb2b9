//! Building and negotiating one peer connection: the media engine (H.264 only, the
//! playout-delay extension), interceptors (webrtc's sending defaults with a shorter send
//! history, plus the keyframe-request forwarder and the retransmission budget), no
//! STUN servers, no mDNS; then offer → track → answer → gathering, in the order webrtc 0.21.1
//! needs.
//!
//! Knows nothing of session bookkeeping; `mod.rs` decides what to do with the result.

use super::bwe::{self, Estimate};
use super::retransmit;
use super::runtime::SessionRuntime;
use super::session::Handler;
use super::video::{self, VideoLeg};
use super::{sdp, GATHER_TIMEOUT, LOG, PLAYOUT_DELAY_URI};
use periscope_signaling::SignalError;
use rtc::ice::mdns::MulticastDnsMode;
use rtc::interceptor::Slot;
use rtc::interceptor::{NackResponderBuilder, SenderReportBuilder};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_H264;
use rtc::rtp_transceiver::rtp_sender::TYPE_RTCP_FB_TRANSPORT_CC;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use rtc::sdp::extmap::TRANSPORT_CC_URI;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tokio::sync::watch;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::peer_connection::{
    configure_simulcast_extension_headers, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCSessionDescription, Registry,
    SettingEngineBuilder,
};
use webrtc::rtp_transceiver::RtpSender;

/// Payload type of the first H.264 format we register (the rest follow by two).
const FIRST_H264_PT: u8 = 102;
/// Interceptor slot of [`video::KeyframeRequestForwarder`]: application-most.
const KEYFRAME_FORWARDER_SLOT: usize = 14_000;
/// RTP packets each session keeps for retransmission (the NACK responder's send history;
/// a power of two). webrtc's default is 1024; libwebrtc's own video sender keeps 600
/// (`kMinSendSidePacketHistorySize`). Each kept packet holds its header and extensions and
/// keeps its (shared) payload alive; 512 instead of 1024 saved ~85 KB per viewer at 720p
/// and ~0.5 MiB at 1080p with 4 viewers of a busy screen (docs/BENCHMARKS.md). 512 packets
/// are ~0.7 s of the busiest 1080p stream and seconds of a calm or throttled one: a resend
/// asked for later than that would arrive after the picture it belongs to was due.
pub const SEND_HISTORY: u16 = 512;

/// The screen's video track with one encoding of `codec` and a random SSRC (viewers'
/// sessions and the WHIP push send the shared H.264 frames through one of these each).
pub(super) fn screen_track(codec: RTCRtpCodec) -> (Arc<TrackLocalStaticRTP>, u32) {
    let ssrc = rand::random::<u32>();
    let encoding = RTCRtpEncodingParameters {
        rtp_coding_parameters: RTCRtpCodingParameters {
            ssrc: Some(ssrc),
            ..Default::default()
        },
        codec,
        ..Default::default()
    };
    let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "periscope".to_string(),
        "screen".to_string(),
        "screen".to_string(),
        RtpCodecKind::Video,
        vec![encoding],
    )));
    (track, ssrc)
}

/// Builds a peer connection that gathers host candidates on `bind_ips`; with `bwe_initial`
/// (bits per second) it runs send-side congestion control from that estimate (`bwe.rs`);
/// resends under `floor` are refused (`retransmit.rs`).
pub async fn build(
    bind_ips: &[IpAddr],
    runtime: SessionRuntime,
    handler: Arc<Handler>,
    bwe_initial: Option<f64>,
    floor: retransmit::Floor,
) -> Result<(Arc<dyn PeerConnection>, Option<Estimate>), webrtc::error::Error> {
    let mut media_engine = MediaEngine::default();
    for (i, profile) in sdp::PROFILES.iter().enumerate() {
        let codec = RTCRtpCodecParameters {
            rtp_codec: h264_codec(profile, true),
            payload_type: FIRST_H264_PT + 2 * i as u8,
        };
        media_engine.register_codec(codec, RtpCodecKind::Video)?;
    }
    let playout = RTCRtpHeaderExtensionCapability {
        uri: PLAYOUT_DELAY_URI.to_string(),
    };
    media_engine.register_header_extension(playout, RtpCodecKind::Video, None)?;
    connect(media_engine, bind_ips, runtime, handler, bwe_initial, floor).await
}

/// A peer connection from `media_engine` (its codecs registered) with the default
/// interceptors, the keyframe-request forwarder, the retransmission budget (refusing resends
/// under `floor`) and, with
/// `bwe_initial`, congestion control;
/// gathering host candidates on `bind_ips`; no STUN, no mDNS. Viewers' sessions and the WHIP
/// push both build theirs here.
pub(super) async fn connect(
    mut media_engine: MediaEngine,
    bind_ips: &[IpAddr],
    runtime: SessionRuntime,
    handler: Arc<dyn PeerConnectionEventHandler>,
    bwe_initial: Option<f64>,
    floor: retransmit::Floor,
) -> Result<(Arc<dyn PeerConnection>, Option<Estimate>), webrtc::error::Error> {
    let registry = default_interceptors(&mut media_engine)?
        .with(
            Slot::from(KEYFRAME_FORWARDER_SLOT),
            video::KeyframeRequestForwarder::default(),
        )
        .with(
            Slot::from(retransmit::SLOT),
            retransmit::RetransmitBudget::with_floor(floor),
        );
    let (registry, estimate) = match bwe_initial {
        Some(initial) => {
            let (registry, estimate) = bwe::with_congestion_control(registry, initial);
            (registry, Some(estimate))
        }
        None => (registry, None),
    };
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(MulticastDnsMode::Disabled)
        .build();
    let addrs: Vec<SocketAddr> = bind_ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::new().build())
        .with_media_engine(media_engine)
        .with_setting_engine(settings)
        .with_interceptor_registry(registry)
        .with_handler(handler)
        .with_runtime(Arc::new(runtime))
        .with_udp_addrs(addrs)
        .build()
        .await?;
    Ok((Arc::new(pc), estimate))
}

/// The interceptors of a peer that only sends RTP: webrtc's defaults
/// (`register_default_interceptors`) less their receiving half. periscope receives no RTP
/// (input comes over a data channel), so the NACK generator, the transport-cc feedback
/// generator and receiver reports would only pass every sent packet along and wake for their
/// timers; each viewer paid for them on every packet. Kept: the NACK responder with a
/// [`SEND_HISTORY`] of packets and sender reports; in the media engine, NACK, PLI and
/// transport-cc feedback and the transport-cc and simulcast header extensions, so the SDP
/// is what it was (`bwe.rs` adds the transport-cc sender when the session estimates its
/// link).
fn default_interceptors(media_engine: &mut MediaEngine) -> Result<Registry, webrtc::error::Error> {
    for parameter in ["", "pli"] {
        media_engine.register_feedback(fb("nack", parameter), RtpCodecKind::Video);
    }
    media_engine.register_feedback(fb(TYPE_RTCP_FB_TRANSPORT_CC, ""), RtpCodecKind::Video);
    let transport_cc = RTCRtpHeaderExtensionCapability {
        uri: TRANSPORT_CC_URI.to_string(),
    };
    media_engine.register_header_extension(transport_cc, RtpCodecKind::Video, None)?;
    configure_simulcast_extension_headers(media_engine)?;
    Ok(Registry::new()
        .with(
            Slot::NackResponder,
            NackResponderBuilder::new().with_size(SEND_HISTORY).build(),
        )
        .with(Slot::SenderReport, SenderReportBuilder::new().build()))
}

/// Applies the offer, adds the video track and applies our answer. Returns the answer as
/// set (candidates may still be gathering) and the video leg.
pub async fn answer(
    pc: &Arc<dyn PeerConnection>,
    offer: RTCSessionDescription,
    choice: &sdp::H264Choice,
) -> Result<(String, VideoLeg), SignalError> {
    // The remote description first: a track added before it binds to pre-negotiation
    // header extension ids and every packet is dropped (crates.md).
    pc.set_remote_description(offer)
        .await
        .map_err(|e| SignalError::BadOffer(e.to_string()))?;
    let (track, ssrc) = screen_track(h264_codec(sdp::PROFILES[choice.profile], true));
    let sender = pc
        .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
        .await
        .map_err(internal)?;
    let (payload_type, playout_id) = negotiated(&*sender, choice.payload_type).await?;
    let answer = pc.create_answer(None).await.map_err(internal)?;
    pc.set_local_description(answer).await.map_err(internal)?;
    let local = local_sdp(pc).await?;
    let leg = VideoLeg {
        track,
        ssrc,
        payload_type,
        playout_id,
    };
    Ok((local, leg))
}

/// The local description once gathering is complete (or after [`GATHER_TIMEOUT`], with the
/// candidates there are).
pub async fn gathered(
    pc: &Arc<dyn PeerConnection>,
    done: &mut watch::Receiver<bool>,
    peer: &str,
) -> Result<String, SignalError> {
    if tokio::time::timeout(GATHER_TIMEOUT, done.wait_for(|done| *done))
        .await
        .is_err()
    {
        tracing::warn!(target: LOG, peer, "candidate gathering incomplete after 3 s; answering anyway");
    }
    local_sdp(pc).await
}

async fn local_sdp(pc: &Arc<dyn PeerConnection>) -> Result<String, SignalError> {
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or_else(|| internal("no local description"))
}

/// An RTCP feedback type.
fn fb(typ: &str, parameter: &str) -> RTCPFeedback {
    RTCPFeedback {
        typ: typ.to_string(),
        parameter: parameter.to_string(),
    }
}

/// Our H.264 format for one of [`sdp::PROFILES`]: FIR, NACK and PLI feedback, and for
/// browsers (`remb`) also goog-remb, which they expect to see offered.
pub(super) fn h264_codec(profile: &str, remb: bool) -> RTCRtpCodec {
    let mut rtcp_feedback = if remb {
        vec![fb("goog-remb", "")]
    } else {
        Vec::new()
    };
    rtcp_feedback.extend([fb("ccm", "fir"), fb("nack", ""), fb("nack", "pli")]);
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_string(),
        clock_rate: video::CLOCK_RATE,
        channels: 0,
        sdp_fmtp_line: sdp::fmtp_for(profile),
        rtcp_feedback,
    }
}

/// What the sender was negotiated with: the payload type (the offer's choice if it is there,
/// else the first H.264 format) and the playout-delay extension's id, if the offer has it.
async fn negotiated(sender: &dyn RtpSender, wanted: u8) -> Result<(u8, Option<u8>), SignalError> {
    let params = sender.get_parameters().await.map_err(internal)?;
    let codecs = &params.rtp_parameters.codecs;
    let is_h264 =
        |c: &&RTCRtpCodecParameters| c.rtp_codec.mime_type.eq_ignore_ascii_case(MIME_TYPE_H264);
    let payload_type = codecs
        .iter()
        .find(|c| c.payload_type == wanted)
        .or_else(|| codecs.iter().find(is_h264))
        .map(|c| c.payload_type)
        .ok_or_else(|| SignalError::NoH264("no H.264 format survived negotiation".into()))?;
    let playout_id = params
        .rtp_parameters
        .header_extensions
        .iter()
        .find(|e| e.uri == PLAYOUT_DELAY_URI)
        .and_then(|e| u8::try_from(e.id).ok());
    Ok((payload_type, playout_id))
}

/// An unexpected setup failure: logged, and reported as a 500.
pub fn internal(e: impl std::fmt::Display) -> SignalError {
    tracing::warn!(target: LOG, error = %e, "session setup failed");
    SignalError::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtc::interceptor::{
        AttributedPacket, Interceptor, Packet, RTCPFeedback as StreamFeedback, StreamInfo,
        TaggedPacket,
    };
    use rtc::rtcp::transport_feedbacks::transport_layer_nack::{NackPair, TransportLayerNack};
    use rtc::sansio::Protocol;
    use rtc::shared::TransportContext;
    use std::time::Instant;

    fn tagged(packet: Packet) -> TaggedPacket {
        TaggedPacket {
            now: Instant::now(),
            transport: TransportContext::default(),
            message: AttributedPacket::new(packet),
        }
    }

    /// The sequence numbers the chain writes after `nacked` are asked for.
    fn resent(chain: &mut impl Interceptor, ssrc: u32, nacked: &[u16]) -> Vec<u16> {
        let nacks = nacked
            .iter()
            .map(|&packet_id| NackPair {
                packet_id,
                lost_packets: 0,
            })
            .collect();
        let nack = TransportLayerNack {
            sender_ssrc: 1,
            media_ssrc: ssrc,
            nacks,
        };
        chain
            .handle_read(tagged(Packet::Rtcp(vec![Box::new(nack)])))
            .expect("the NACK is read");
        while chain.poll_read().is_some() {}
        let mut seqs = Vec::new();
        while let Some(out) = chain.poll_write() {
            if let Packet::Rtp(p) = out.message.packet {
                seqs.push(p.header.sequence_number);
            }
        }
        seqs
    }

    #[test]
    fn the_last_send_history_packets_are_resent_and_older_ones_are_not() {
        let mut engine = MediaEngine::default();
        let mut chain = default_interceptors(&mut engine)
            .expect("the default interceptors")
            .build();
        let ssrc = 0x5eed;
        chain.bind_local_stream(&StreamInfo {
            ssrc,
            payload_type: FIRST_H264_PT,
            rtcp_feedback: vec![StreamFeedback {
                typ: "nack".to_string(),
                parameter: String::new(),
            }],
            ..Default::default()
        });
        // 600 packets of 1000 bytes (enough media to earn the retransmission budget).
        let sent = 600u16;
        for seq in 0..sent {
            let packet = rtc::rtp::Packet {
                header: rtc::rtp::header::Header {
                    version: 2,
                    ssrc,
                    payload_type: FIRST_H264_PT,
                    sequence_number: seq,
                    ..Default::default()
                },
                payload: vec![0u8; 1000].into(),
            };
            chain
                .handle_write(tagged(Packet::Rtp(packet)))
                .expect("the packet is written");
            while chain.poll_write().is_some() {}
        }
        let oldest_kept = sent - SEND_HISTORY;
        assert_eq!(resent(&mut chain, ssrc, &[sent - 1]), vec![sent - 1]);
        assert_eq!(resent(&mut chain, ssrc, &[oldest_kept]), vec![oldest_kept]);
        assert!(resent(&mut chain, ssrc, &[oldest_kept - 1]).is_empty());
        assert!(resent(&mut chain, ssrc, &[0]).is_empty());
    }
}
