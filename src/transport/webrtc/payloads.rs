//! RTP packetization done once per access unit and shared by every viewer that sends it.
//!
//! An access unit is split into H.264 RTP payloads (RFC 6184: SPS and PPS aggregated in a
//! STAP-A before the IDR, single NAL units, FU-A fragments) by webrtc's own payloader, once:
//! the first viewer's video task to send a frame makes its payloads and keeps them in
//! [`Payloads`]; the others take the same `Bytes` (a refcount). Each viewer then only
//! writes its own RTP header ([`RtpStream`]: SSRC, sequence number, timestamp, the
//! playout-delay extension). The payloads
//! the NACK responders keep for retransmission are then one copy for every viewer, not one
//! each (at 1080p and a few Mbit/s that history is ~1 MB per viewer).

use crate::media::EncodedFrame;
use bytes::Bytes;
use rtc::rtp::codec::h264::H264Payloader;
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;
use rtc::rtp::packetizer::Payloader;
use rtc::shared::error::Error;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};

/// Largest RTP packet we build (headers included): fits any sane path MTU with SRTP and
/// TURN overhead.
pub const RTP_MTU: usize = 1200;
/// The fixed RTP header (no CSRC, before extensions), which the payloads leave room for.
const RTP_HEADER: usize = 12;
/// Access units kept: a few frames of each rung, enough for viewers a frame or two apart.
const RECENT: usize = 6;

/// The RTP payloads of one access unit (pure: bytes in, payloads out). A fresh payloader per
/// unit: every access unit our encoders make carries its own SPS and PPS with its IDR.
pub fn h264_payloads(au: &Bytes) -> Result<Vec<Bytes>, Error> {
    H264Payloader::default().payload(RTP_MTU - RTP_HEADER, au)
}

/// One access unit (held weakly) and its payloads.
type Entry = (Weak<EncodedFrame>, Arc<[Bytes]>);

/// The payloads of the last few access units sent, shared by the sessions sending them.
#[derive(Default)]
pub struct Payloads {
    recent: Mutex<VecDeque<Entry>>,
}

impl Payloads {
    /// The payloads of `frame`, made now if no session has sent it yet.
    pub fn of(&self, frame: &Arc<EncodedFrame>) -> Result<Arc<[Bytes]>, Error> {
        // A poisoned lock still holds whole entries (each is pushed in one call).
        let mut recent = self
            .recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // The Weak keeps the frame's allocation, so its address is not reused while it is
        // listed: equal pointers are the same frame.
        let me = Arc::as_ptr(frame);
        if let Some((_, payloads)) = recent.iter().find(|(f, _)| Weak::as_ptr(f) == me) {
            return Ok(Arc::clone(payloads));
        }
        let payloads: Arc<[Bytes]> = h264_payloads(&frame.data)?.into();
        if recent.len() >= RECENT {
            recent.pop_front();
        }
        recent.push_back((Arc::downgrade(frame), Arc::clone(&payloads)));
        Ok(payloads)
    }
}

/// One viewer's RTP stream: its SSRC, payload type, sequence numbers and timestamps, and a
/// header extension every packet carries.
pub struct RtpStream {
    ssrc: u32,
    payload_type: u8,
    /// The next packet's sequence number.
    sequence: u16,
    timestamp: u32,
    /// (negotiated id, payload) put on every packet.
    extension: Option<(u8, Bytes)>,
}

impl RtpStream {
    /// A stream starting at a random sequence number and timestamp (RFC 3550 §5.1).
    pub fn new(ssrc: u32, payload_type: u8) -> RtpStream {
        RtpStream {
            ssrc,
            payload_type,
            sequence: rand::random::<u16>(),
            timestamp: rand::random::<u32>(),
            extension: None,
        }
    }

    /// The same stream with the header extension `id` carrying `payload` on every packet
    /// (RFC 8285; one-byte form for payloads up to 16 bytes).
    pub fn with_extension(mut self, id: u8, payload: Bytes) -> RtpStream {
        self.extension = Some((id, payload));
        self
    }

    /// The sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.sequence
    }

    /// Moves the timestamp on by `ticks` (the time since the last frame, in clock ticks).
    pub fn advance(&mut self, ticks: u32) {
        self.timestamp = self.timestamp.wrapping_add(ticks);
    }

    /// The packets of one access unit: `payloads` in order under this stream's headers, the
    /// marker bit on the last.
    pub fn packets(&mut self, payloads: &[Bytes]) -> Vec<Packet> {
        let last = payloads.len().saturating_sub(1);
        payloads
            .iter()
            .enumerate()
            .map(|(i, payload)| {
                let sequence_number = self.sequence;
                self.sequence = self.sequence.wrapping_add(1);
                let mut header = Header {
                    version: 2,
                    marker: i == last,
                    payload_type: self.payload_type,
                    sequence_number,
                    timestamp: self.timestamp,
                    ssrc: self.ssrc,
                    ..Default::default()
                };
                if let Some((id, data)) = &self.extension {
                    // The header has no extension yet: this adds one and cannot fail.
                    let _ = header.set_extension(*id, data.clone());
                }
                Packet {
                    header,
                    payload: payload.clone(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::{CaptureTime, Codec};
    use rtc::rtp::packetizer::{new_packetizer, Packetizer};
    use rtc::rtp::sequence::new_random_sequencer;
    use std::time::Instant;

    /// SPS, PPS, a 3000-byte IDR slice and a small slice, with 4- and 3-byte start codes.
    fn access_unit() -> Bytes {
        let mut au = Vec::new();
        au.extend_from_slice(&[0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda]);
        au.extend_from_slice(&[0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80]);
        au.extend_from_slice(&[0, 0, 1, 0x65]);
        au.extend((0..3000u32).map(|i| (i % 251) as u8 | 1));
        au.extend_from_slice(&[0, 0, 1, 0x41, 0x9a, 0x02]);
        Bytes::from(au)
    }

    fn frame(data: Bytes) -> Arc<EncodedFrame> {
        Arc::new(EncodedFrame {
            codec: Codec::H264,
            keyframe: true,
            data,
            width: 64,
            height: 64,
            captured: CaptureTime {
                instant: Instant::now(),
                unix_ms: 0,
            },
            sequence: 1,
            encoded_at: Instant::now(),
        })
    }

    #[test]
    fn the_payloads_are_what_a_viewers_own_packetizer_makes() {
        let au = access_unit();
        let shared = h264_payloads(&au).unwrap();
        let mut own = new_packetizer(
            Instant::now(),
            RTP_MTU,
            96,
            7,
            Box::<H264Payloader>::default(),
            Box::new(new_random_sequencer()),
            90_000,
        );
        let packets = own.packetize(Instant::now(), &au, 0).unwrap();
        let theirs: Vec<&Bytes> = packets.iter().map(|p| &p.payload).collect();
        assert_eq!(shared.iter().collect::<Vec<_>>(), theirs);
        // STAP-A (SPS + PPS), three FU-A fragments of the IDR, the small slice whole.
        assert_eq!(shared.len(), 5);
        assert_eq!(shared[0][0] & 0x1f, 24, "STAP-A");
        assert!(shared[1..4].iter().all(|p| p[0] & 0x1f == 28), "FU-A");
        assert_eq!(shared[1][1], 0x80 | 5, "start of the IDR");
        assert_eq!(shared[3][1], 0x40 | 5, "end of the IDR");
        assert_eq!(&shared[4][..], &[0x41, 0x9a, 0x02]);
        assert!(shared.iter().all(|p| p.len() + RTP_HEADER <= RTP_MTU));
    }

    #[test]
    fn every_viewer_gets_the_same_bytes_under_its_own_headers() {
        let cache = Payloads::default();
        let f = frame(access_unit());
        let a = cache.of(&f).unwrap();
        let b = cache.of(&f).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "made once");
        let (mut one, mut two) = (RtpStream::new(1, 96), RtpStream::new(2, 97));
        let (p1, p2) = (one.packets(&a), two.packets(&b));
        assert_eq!(p1.len(), 5);
        for (x, y) in p1.iter().zip(&p2) {
            assert_eq!(x.payload.as_ptr(), y.payload.as_ptr(), "no copy per viewer");
            assert_eq!((x.header.ssrc, y.header.ssrc), (1, 2));
            assert_eq!((x.header.payload_type, y.header.payload_type), (96, 97));
        }
        let markers: Vec<bool> = p1.iter().map(|p| p.header.marker).collect();
        assert_eq!(markers, [false, false, false, false, true]);
        let seqs: Vec<u16> = p1.iter().map(|p| p.header.sequence_number).collect();
        for w in seqs.windows(2) {
            assert_eq!(w[1], w[0].wrapping_add(1));
        }
        // The next frame continues the numbering, at the advanced timestamp.
        let ts = p1[0].header.timestamp;
        one.advance(3000);
        let next = one.packets(
            &cache
                .of(&frame(Bytes::from_static(&[0, 0, 1, 0x41, 1])))
                .unwrap(),
        );
        assert_eq!(next[0].header.sequence_number, seqs[4].wrapping_add(1));
        assert_eq!(one.next_sequence(), seqs[4].wrapping_add(2));
        assert_eq!(next[0].header.timestamp, ts.wrapping_add(3000));
        assert!(next[0].header.marker);
    }

    #[test]
    fn a_stream_puts_its_extension_on_every_packet_in_the_one_byte_form() {
        use rtc::shared::marshal::Marshal;
        let cache = Payloads::default();
        let units = cache.of(&frame(access_unit())).unwrap();
        let zero = Bytes::from_static(&[0, 0, 0]);
        let mut with = RtpStream::new(1, 96).with_extension(5, zero.clone());
        for p in with.packets(&units) {
            assert_eq!(p.header.get_extension(5), Some(zero.clone()));
            assert_eq!(p.header.get_extension_ids(), vec![5]);
            let wire = p.marshal().unwrap();
            // After the 12-byte header: 0xBEDE, one 32-bit word, then id 5 / length 3-1, the
            // three bytes; no padding needed.
            assert_eq!(&wire[12..20], &[0xBE, 0xDE, 0, 1, 0x52, 0, 0, 0]);
            assert_eq!(&wire[20..], &p.payload[..]);
        }
        for p in RtpStream::new(1, 96).packets(&units) {
            assert!(!p.header.extension && p.header.get_extension_ids().is_empty());
        }
    }

    #[test]
    fn old_frames_leave_the_cache_and_bad_units_are_errors_not_panics() {
        let cache = Payloads::default();
        let first = frame(access_unit());
        let kept = cache.of(&first).unwrap();
        for _ in 0..RECENT {
            cache.of(&frame(access_unit())).unwrap();
        }
        let again = cache.of(&first).unwrap();
        assert!(!Arc::ptr_eq(&kept, &again), "made again once evicted");
        assert_eq!(kept, again);
        // Nothing to send: no payloads, no packets.
        let empty = cache.of(&frame(Bytes::new())).unwrap();
        assert!(empty.is_empty());
        assert!(RtpStream::new(1, 96).packets(&empty).is_empty());
    }
}
