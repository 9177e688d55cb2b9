//! An experiment, not periscope: what a viewer costs when str0m (a second sansio WebRTC stack,
//! not the one the design names) drives every session from one loop, for comparison with
//! `benches/sansio_loop.rs` (webrtc's `rtc` core, same loop, same clients).
//!
//! One thread ("srv") holds N str0m `Rtc`s (H.264 only, BWE on, the playout-delay extension)
//! on one UDP socket and writes a 600-byte H.264 slice (one packet, the desktop pattern's
//! size) to each every 33 ms; N of the tests' WHEP clients receive it. Prints the server
//! thread's CPU (utime + stime, % of a core) over the window and the frames each client got.
#[path = "../../probe/common.rs"]
mod common;
#[path = "../../probe/proc_stat.rs"]
mod proc_stat;
#[path = "../../../tests/common/whep_client.rs"]
mod whep_client;

use common::Offer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::bwe::Bitrate;
use str0m::change::SdpOffer;
use str0m::format::Codec;
use str0m::media::{MediaKind, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::Extension;
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::sync::mpsc;

struct Session {
    rtc: Rtc,
    mid: Option<Mid>,
    /// The negotiated H.264 payload type, looked up at the first frame.
    pt: Option<Pt>,
    deadline: Instant,
}

/// Sends what `s` has to send; returns when it only waits.
fn drive(s: &mut Session, socket: &std::net::UdpSocket) {
    loop {
        match s.rtc.poll_output() {
            Ok(Output::Transmit(t)) => {
                let _ = socket.send_to(&t.contents, t.destination);
            }
            Ok(Output::Timeout(at)) => {
                s.deadline = at;
                return;
            }
            Ok(Output::Event(Event::MediaAdded(m))) if m.kind == MediaKind::Video => {
                s.mid = Some(m.mid)
            }
            Ok(Output::Event(_)) => {}
            Err(_) => {
                s.deadline = Instant::now() + Duration::from_secs(3600);
                return;
            }
        }
    }
}

fn server(mut offers: mpsc::Receiver<Offer>) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let local: SocketAddr = socket.local_addr().expect("addr");
    let mut sessions: Vec<Session> = Vec::new();
    let mut buf = vec![0u8; 2048];
    let frame = Duration::from_micros(33_333);
    let start = Instant::now();
    let mut next_frame = start + frame;
    let payload: Arc<[u8]> = {
        let mut v = vec![0u8, 0, 0, 1, 0x41];
        v.resize(600, 0x5a);
        v.into()
    };
    loop {
        // New sessions (the clients send their offers before the frames matter).
        while let Ok((sdp, reply)) = offers.try_recv() {
            let mut config = RtcConfig::new()
                .clear_codecs()
                .enable_h264(true)
                .enable_bwe(Some(Bitrate::kbps(2_000)));
            config.extension_map().set(9, Extension::PlayoutDelay);
            let mut rtc = config.build(Instant::now());
            rtc.add_local_candidate(Candidate::host(local, "udp").expect("candidate"));
            let offer = SdpOffer::from_sdp_string(&sdp).expect("offer");
            let answer = rtc.sdp_api().accept_offer(offer).expect("answer");
            let mut s = Session {
                rtc,
                mid: None,
                pt: None,
                deadline: Instant::now(),
            };
            drive(&mut s, &socket);
            sessions.push(s);
            let _ = reply.send(answer.to_sdp_string());
        }
        let now = Instant::now();
        let wake = sessions
            .iter()
            .map(|s| s.deadline)
            .fold(next_frame, Instant::min);
        let wait = wake
            .saturating_duration_since(now)
            .max(Duration::from_micros(100));
        let wait = wait.min(Duration::from_millis(20));
        socket.set_read_timeout(Some(wait)).expect("timeout");
        if let Ok((n, source)) = socket.recv_from(&mut buf) {
            let now = Instant::now();
            if let Ok(contents) = buf[..n].try_into() {
                let input = Input::Receive(
                    now,
                    Receive {
                        proto: Protocol::Udp,
                        source,
                        destination: local,
                        contents,
                    },
                );
                if let Some(s) = sessions.iter_mut().find(|s| s.rtc.accepts(&input)) {
                    let _ = s.rtc.handle_input(input);
                    drive(s, &socket);
                }
            }
        }
        let now = Instant::now();
        if now >= next_frame {
            next_frame += frame;
            let ts = MediaTime::from_90khz(start.elapsed().as_micros() as u64 * 9 / 100);
            for s in sessions.iter_mut() {
                let Some(mid) = s.mid else { continue };
                if let Some(writer) = s.rtc.writer(mid) {
                    if s.pt.is_none() {
                        s.pt = writer
                            .payload_params()
                            .find(|p| p.spec().codec == Codec::H264)
                            .map(|p| p.pt());
                    }
                    if let Some(pt) = s.pt {
                        let _ = writer.write(pt, now, ts, Arc::clone(&payload));
                    }
                }
                drive(s, &socket);
            }
        }
        let now = Instant::now();
        for s in sessions.iter_mut() {
            if s.deadline <= now {
                let _ = s.rtc.handle_input(Input::Timeout(now));
                drive(s, &socket);
            }
        }
    }
}

fn main() {
    str0m::crypto::from_feature_flags().install_process_default();
    common::measure("str0m", server);
}
