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
//!
//! A [`Floor`] set by the session's video task refuses resends of packets sent before it,
//! whatever the budget. On a move down the video task sets it at the move: nothing the old
//! rung sent is resent any more, since the low rung's first keyframe replaces it all and
//! resends on the overfull link would only compete with that keyframe.

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::sansio::Protocol;
use rtc::shared::error::Error;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// Retransmitted bytes allowed per byte of new media.
pub const RETRANSMIT_SHARE: f64 = 0.25;
/// The most budget that can be saved up (bytes): a burst of repairs after a quiet spell.
pub const MAX_SAVED: f64 = 16_000.0;

/// Interceptor slot: between the pacer (3 000) and the NACK responder (4 000).
pub const SLOT: usize = 3_500;

/// The oldest sequence number still worth resending, shared between a session's video
/// task (which sets it) and its [`RetransmitBudget`] (which reads it). Unset: every packet.
#[derive(Debug, Clone, Default)]
pub struct Floor(Arc<AtomicU32>);

impl Floor {
    /// Packets before `seq` (in RTP sequence order) are no longer resent.
    pub fn set(&self, seq: u16) {
        self.0.store(0x1_0000 | u32::from(seq), Ordering::Relaxed);
    }

    fn get(&self) -> Option<u16> {
        let v = self.0.load(Ordering::Relaxed);
        (v & 0x1_0000 != 0).then_some(v as u16)
    }
}

/// Lets retransmissions through within a budget earned by new media.
#[derive(Default)]
pub struct RetransmitBudget {
    /// Resends of packets before it are refused.
    floor: Floor,
    /// Newest sequence number sent, per SSRC.
    newest: HashMap<u32, u16>,
    /// Bytes of retransmission allowed now.
    saved: f64,
    /// Retransmissions sent and dropped.
    pub sent: u64,
    /// Retransmissions over budget or under the floor, not sent.
    pub dropped: u64,
    read_queue: VecDeque<TaggedPacket>,
    write_queue: VecDeque<TaggedPacket>,
}

impl RetransmitBudget {
    /// A budget that also refuses resends under `floor`.
    pub fn with_floor(floor: Floor) -> RetransmitBudget {
        RetransmitBudget {
            floor,
            ..Default::default()
        }
    }

    /// Whether an outgoing RTP packet (SSRC, sequence number, bytes) may go.
    pub fn admit(&mut self, ssrc: u32, seq: u16, bytes: usize) -> bool {
        let newest = self.newest.entry(ssrc).or_insert(seq.wrapping_sub(1));
        let is_new = seq.wrapping_sub(*newest) as i16 > 0;
        if is_new {
            *newest = seq;
            self.saved = (self.saved + bytes as f64 * RETRANSMIT_SHARE).min(MAX_SAVED);
            return true;
        }
        let stale = self
            .floor
            .get()
            .is_some_and(|floor| (seq.wrapping_sub(floor) as i16) < 0);
        if !stale && self.saved >= bytes as f64 {
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

    #[test]
    fn resends_under_the_floor_are_refused_whatever_the_budget() {
        let floor = Floor::default();
        let mut b = RetransmitBudget::with_floor(floor.clone());
        for seq in 65_500..=65_535u16 {
            assert!(b.admit(3, seq, 1000));
        }
        for seq in 0..40u16 {
            assert!(b.admit(3, seq, 1000));
        }
        // Unset: a resend within budget goes.
        assert!(b.admit(3, 65_520, 100));
        // The floor at 10 (past the wrap): 65 520 and 9 are before it, 10 and 30 are not.
        floor.set(10);
        assert!(!b.admit(3, 65_520, 100));
        assert!(!b.admit(3, 9, 100));
        assert!(b.admit(3, 10, 100));
        assert!(b.admit(3, 30, 100));
        assert_eq!((b.sent, b.dropped), (3, 2));
        // New media always goes.
        assert!(b.admit(3, 40, 1000));
    }
}
