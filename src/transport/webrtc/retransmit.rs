//! A budget for retransmissions: the NACK responder resends every packet a receiver asks
//! for, as often as it asks. On a link that is already full that is a storm — each lost
//! packet is asked for up to ten times (Chromium's limit), every resend is lost again, and
//! the link carries retransmissions instead of pictures. [`RetransmitBudget`] sits just
//! wire-ward of the responder and lets retransmissions through only while they stay within
//! [`RETRANSMIT_SHARE`] of the media sent: a one-off loss on a good link is repaired at once;
//! a congested link gets new pictures (and the ladder's lower rung) instead.
//!
//! A retransmission is recognised by its sequence number: not newer than the newest packet
//! already sent on its SSRC. Pure bookkeeping; no clock.

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

/// Retransmitted bytes allowed per byte of new media.
pub const RETRANSMIT_SHARE: f64 = 0.25;
/// The most budget that can be saved up (bytes): a burst of repairs after a quiet spell.
pub const MAX_SAVED: f64 = 16_000.0;

/// Interceptor slot: between the pacer (3 000) and the NACK responder (4 000).
pub const SLOT: usize = 3_500;

/// Lets retransmissions through within a budget earned by new media.
#[derive(Default)]
pub struct RetransmitBudget {
    /// Newest sequence number sent, per SSRC.
    newest: HashMap<u32, u16>,
    /// Bytes of retransmission allowed now.
    saved: f64,
    /// Retransmissions sent and dropped.
    pub sent: u64,
    /// Retransmissions over budget, not sent.
    pub dropped: u64,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl RetransmitBudget {
    /// Whether an outgoing RTP packet (SSRC, sequence number, bytes) may go.
    pub fn admit(&mut self, ssrc: u32, seq: u16, bytes: usize) -> bool {
        let newest = self.newest.entry(ssrc).or_insert(seq.wrapping_sub(1));
        let is_new = seq.wrapping_sub(*newest) as i16 > 0;
        if is_new {
            *newest = seq;
            self.saved = (self.saved + bytes as f64 * RETRANSMIT_SHARE).min(MAX_SAVED);
            return true;
        }
        if self.saved >= bytes as f64 {
            self.saved -= bytes as f64;
            self.sent += 1;
            true
        } else {
            self.dropped += 1;
            false
        }
    }
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for RetransmitBudget {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.read_queue.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<Self::Rout> {
        self.read_queue.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtp(rtp) = &msg.message.packet {
            let bytes = rtp.payload.len() + 12;
            if !self.admit(rtp.header.ssrc, rtp.header.sequence_number, bytes) {
                return Ok(());
            }
        }
        self.write_queue.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<Self::Wout> {
        self.write_queue.pop_front()
    }
}

impl Interceptor for RetransmitBudget {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, info: &StreamInfo) {
        self.newest.remove(&info.ssrc);
    }
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmissions_get_a_quarter_of_the_media_and_new_packets_always_go() {
        let mut b = RetransmitBudget::default();
        // 40 new packets of 1000 bytes earn 10 000 bytes of repairs.
        for seq in 0..40u16 {
            assert!(b.admit(7, seq, 1000));
        }
        // 10 resends go, the 11th does not.
        for i in 0..10u16 {
            assert!(b.admit(7, 20 + i, 1000), "resend {i}");
        }
        assert!(!b.admit(7, 35, 1000));
        assert_eq!((b.sent, b.dropped), (10, 1));
        // New media always goes, across the sequence number wrap too, and earns again.
        assert!(b.admit(7, 40, 1000));
        let mut b = RetransmitBudget::default();
        assert!(b.admit(9, 65_535, 1000));
        assert!(b.admit(9, 0, 1000), "0 follows 65535");
        assert!(b.admit(9, 65_535, 100), "a resend within budget");
        // Saving is capped: a long clean run does not license a storm later.
        for seq in 1..10_000u16 {
            b.admit(9, seq, 1200);
        }
        let mut resent = 0;
        while b.admit(9, 5, 1200) {
            resent += 1;
        }
        assert_eq!(resent, (MAX_SAVED / 1200.0) as usize);
    }
}
