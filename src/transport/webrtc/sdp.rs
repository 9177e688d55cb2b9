//! Pure SDP text work for the WebRTC transport: checking that an offer carries H.264 we can
//! send, picking the payload type to answer with, reading the answer's ICE ufrag, and
//! rewriting host candidates (`--webrtc-advertise`, the shared `--webrtc-udp-port`).
//!
//! No sockets, no peer connections: strings in, strings or reasons out. Parsing that decides
//! whether an offer is well-formed SDP at all is left to the `rtc` parser (`mod.rs`); here a
//! line that does not fit is skipped, never a panic.

use std::collections::HashSet;
use std::net::IpAddr;

/// Profile-level-id prefixes (profile_idc + constraint flags, lower-case hex) we answer, in
/// order of preference: constrained baseline (42e0, 42c0), then plain baseline (4200), which
/// every constrained-baseline stream also satisfies.
pub const PROFILES: [&str; 3] = ["42e0", "42c0", "4200"];

/// The fmtp line we register for each accepted profile (level 3.1; levels are asymmetric).
pub fn fmtp_for(profile: &str) -> String {
    format!("level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={profile}1f")
}

/// The H.264 format chosen from an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct H264Choice {
    /// The offer's payload type for it.
    pub payload_type: u8,
    /// The offer's fmtp line for it.
    pub fmtp: String,
    /// Index into [`PROFILES`].
    pub profile: usize,
}

/// One video format an offer lists.
#[derive(Debug, Default)]
struct Format {
    pt: u8,
    codec: String,
    fmtp: String,
}

/// Finds the best H.264 format in the first usable video m-section, or says why there is none.
pub fn choose_h264(offer: &str) -> Result<H264Choice, String> {
    let sections = video_sections(offer);
    if sections.is_empty() {
        return Err("the offer has no video m-line".into());
    }
    let mut seen = Vec::new();
    let mut h264_reasons = Vec::new();
    for formats in sections {
        let mut best: Option<H264Choice> = None;
        for f in &formats {
            if !f.codec.eq_ignore_ascii_case("h264") {
                if !f.codec.is_empty() && !seen.contains(&f.codec) {
                    seen.push(f.codec.clone());
                }
                continue;
            }
            match h264_profile(&f.fmtp) {
                Ok(profile) => {
                    if best.as_ref().is_none_or(|b| profile < b.profile) {
                        best = Some(H264Choice {
                            payload_type: f.pt,
                            fmtp: f.fmtp.clone(),
                            profile,
                        });
                    }
                }
                Err(reason) => h264_reasons.push(format!("payload type {}: {reason}", f.pt)),
            }
        }
        if let Some(best) = best {
            return Ok(best);
        }
    }
    if h264_reasons.is_empty() {
        let listed = if seen.is_empty() {
            "nothing".to_string()
        } else {
            seen.join(", ")
        };
        Err(format!("video offers {listed}, no H.264"))
    } else {
        Err(h264_reasons.join("; "))
    }
}

/// Which of [`PROFILES`] an H.264 fmtp line is, or why it is not usable.
fn h264_profile(fmtp: &str) -> Result<usize, String> {
    let mut mode = "0";
    let mut plid = None;
    for param in fmtp.split(';') {
        let Some((key, value)) = param.split_once('=') else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "packetization-mode" => mode = value.trim(),
            "profile-level-id" => plid = Some(value.trim().to_ascii_lowercase()),
            _ => {}
        }
    }
    if mode != "1" {
        return Err(format!("packetization-mode={mode}, need 1"));
    }
    let Some(plid) = plid else {
        return Err("no profile-level-id".into());
    };
    if plid.len() != 6 || !plid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("profile-level-id={plid} is malformed"));
    }
    PROFILES
        .iter()
        .position(|p| plid.starts_with(p))
        .ok_or_else(|| format!("profile-level-id={plid} is not (constrained) baseline"))
}

/// The formats of every video m-section with a non-zero port, in offer order.
fn video_sections(sdp: &str) -> Vec<Vec<Format>> {
    let mut sections: Vec<Vec<Format>> = Vec::new();
    let mut in_video = false;
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            let fields: Vec<&str> = m.split_whitespace().collect();
            in_video = fields.first() == Some(&"video") && fields.get(1).is_some_and(|p| *p != "0");
            if in_video {
                let pts = fields.iter().skip(3).filter_map(|pt| pt.parse::<u8>().ok());
                sections.push(
                    pts.map(|pt| Format {
                        pt,
                        ..Format::default()
                    })
                    .collect(),
                );
            }
            continue;
        }
        let Some(formats) = sections.last_mut().filter(|_| in_video) else {
            continue;
        };
        if let Some(rest) = line.strip_prefix("a=rtpmap:") {
            if let Some((pt, f)) = format_line(rest, formats) {
                f.codec = pt.split('/').next().unwrap_or_default().to_string();
            }
        } else if let Some(rest) = line.strip_prefix("a=fmtp:") {
            if let Some((params, f)) = format_line(rest, formats) {
                f.fmtp = params.to_string();
            }
        }
    }
    sections
}

/// Splits `"<pt> <rest>"` and finds the format with that payload type.
fn format_line<'a, 'f>(
    rest: &'a str,
    formats: &'f mut [Format],
) -> Option<(&'a str, &'f mut Format)> {
    let (pt, value) = rest.split_once(' ')?;
    let pt: u8 = pt.trim().parse().ok()?;
    let f = formats.iter_mut().find(|f| f.pt == pt)?;
    Some((value.trim(), f))
}

/// The first `a=ice-ufrag:` value in an SDP.
pub fn ice_ufrag(sdp: &str) -> Option<String> {
    sdp.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("a=ice-ufrag:"))
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
}

/// Rewrites every UDP host candidate of an answer: its address to `advertise` (and the
/// `c=` lines with it), its port to `port`. Candidates that become identical are kept once
/// per m-section. Line endings are preserved.
pub fn rewrite_candidates(sdp: &str, advertise: Option<IpAddr>, port: Option<u16>) -> String {
    if advertise.is_none() && port.is_none() {
        return sdp.to_string();
    }
    let mut out = String::with_capacity(sdp.len());
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for raw in sdp.split_inclusive('\n') {
        let line = raw.trim_end_matches(['\r', '\n']);
        let ending = &raw[line.len()..];
        if line.starts_with("m=") {
            seen.clear();
        }
        if let (Some(ip), true) = (advertise, line.starts_with("c=IN ")) {
            let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
            out.push_str(&format!("c=IN {family} {ip}"));
            out.push_str(ending);
            continue;
        }
        match rewrite_candidate(line, advertise, port) {
            Some((text, key)) => {
                if seen.insert(key) {
                    out.push_str(&text);
                    out.push_str(ending);
                }
            }
            None => out.push_str(raw),
        }
    }
    out
}

/// A rewritten `a=candidate:` line and its (address, port), or `None` to keep it as is.
fn rewrite_candidate(
    line: &str,
    advertise: Option<IpAddr>,
    port: Option<u16>,
) -> Option<(String, (String, String))> {
    let body = line.strip_prefix("a=candidate:")?;
    let mut fields: Vec<String> = body.split_whitespace().map(str::to_string).collect();
    // foundation component transport priority address port "typ" type ...
    if fields.len() < 8
        || !fields[2].eq_ignore_ascii_case("udp")
        || fields[6] != "typ"
        || fields[7] != "host"
    {
        return None;
    }
    if let Some(ip) = advertise {
        fields[4] = ip.to_string();
    }
    if let Some(p) = port {
        fields[5] = p.to_string();
    }
    let key = (fields[4].clone(), fields[5].clone());
    Some((format!("a=candidate:{}", fields.join(" ")), key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_VP8_FIRST: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        a=group:BUNDLE 0 1\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 106 107 127 112\r\n\
        c=IN IP4 0.0.0.0\r\n\
        a=mid:0\r\na=recvonly\r\n\
        a=rtpmap:96 VP8/90000\r\n\
        a=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\n\
        a=rtpmap:102 H264/90000\r\n\
        a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\n\
        a=rtpmap:103 H264/90000\r\n\
        a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\n\
        a=rtpmap:106 H264/90000\r\n\
        a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
        a=rtpmap:107 rtx/90000\r\na=fmtp:107 apt=106\r\n\
        a=rtpmap:127 H264/90000\r\n\
        a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r\n\
        a=rtpmap:112 H264/90000\r\n\
        a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:1\r\n";

    #[test]
    fn h264_is_chosen_even_when_vp8_is_listed_first() {
        let choice = choose_h264(CHROME_VP8_FIRST).unwrap();
        assert_eq!(
            choice.payload_type, 106,
            "constrained baseline preferred over baseline"
        );
        assert_eq!(choice.profile, 0);
        assert!(choice.fmtp.contains("42e01f"));
    }

    #[test]
    fn plain_baseline_and_42c0_are_accepted() {
        let only_baseline =
            CHROME_VP8_FIRST.replace("profile-level-id=42e01f", "profile-level-id=64001f");
        assert_eq!(choose_h264(&only_baseline).unwrap().payload_type, 102);
        let c0 = "m=video 9 UDP/TLS/RTP/SAVPF 100\r\na=rtpmap:100 H264/90000\r\n\
            a=fmtp:100 profile-level-id=42C01E;packetization-mode=1\r\n";
        assert_eq!(
            choose_h264(c0).unwrap(),
            H264Choice {
                payload_type: 100,
                fmtp: "profile-level-id=42C01E;packetization-mode=1".into(),
                profile: 1
            }
        );
    }

    #[test]
    fn offers_without_usable_h264_are_refused_with_a_reason() {
        let vp8_only = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=rtpmap:96 VP8/90000\r\n\
            a=rtpmap:97 VP9/90000\r\n";
        assert_eq!(
            choose_h264(vp8_only).unwrap_err(),
            "video offers VP8, VP9, no H.264"
        );
        let mode0 = "m=video 9 UDP/TLS/RTP/SAVPF 100\r\na=rtpmap:100 H264/90000\r\n\
            a=fmtp:100 profile-level-id=42e01f\r\n";
        assert!(choose_h264(mode0)
            .unwrap_err()
            .contains("packetization-mode=0"));
        let high = "m=video 9 UDP/TLS/RTP/SAVPF 100\r\na=rtpmap:100 H264/90000\r\n\
            a=fmtp:100 profile-level-id=640c1f;packetization-mode=1\r\n";
        assert!(choose_h264(high)
            .unwrap_err()
            .contains("not (constrained) baseline"));
        let audio_only = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n";
        assert_eq!(
            choose_h264(audio_only).unwrap_err(),
            "the offer has no video m-line"
        );
        let rejected = "m=video 0 UDP/TLS/RTP/SAVPF 100\r\na=rtpmap:100 H264/90000\r\n\
            a=fmtp:100 profile-level-id=42e01f;packetization-mode=1\r\n";
        assert_eq!(
            choose_h264(rejected).unwrap_err(),
            "the offer has no video m-line"
        );
    }

    const ANSWER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 106\r\nc=IN IP4 0.0.0.0\r\n\
        a=ice-ufrag:AbCdEf\r\na=ice-pwd:xyz\r\n\
        a=candidate:1 1 udp 2130706431 192.168.1.5 50001 typ host\r\n\
        a=candidate:2 1 udp 2130706431 127.0.0.1 50002 typ host\r\n\
        a=candidate:3 1 udp 1694498815 203.0.113.9 40000 typ srflx raddr 192.168.1.5 rport 50001\r\n\
        a=end-of-candidates\r\n";

    #[test]
    fn ufrag_is_read_from_the_answer() {
        assert_eq!(ice_ufrag(ANSWER).as_deref(), Some("AbCdEf"));
        assert_eq!(ice_ufrag("v=0\r\n"), None);
    }

    #[test]
    fn host_candidates_get_the_shared_port() {
        let out = rewrite_candidates(ANSWER, None, Some(9000));
        assert!(out.contains("a=candidate:1 1 udp 2130706431 192.168.1.5 9000 typ host\r\n"));
        assert!(out.contains("a=candidate:2 1 udp 2130706431 127.0.0.1 9000 typ host\r\n"));
        assert!(
            out.contains("203.0.113.9 40000 typ srflx"),
            "only host candidates change"
        );
        assert!(
            out.contains("c=IN IP4 0.0.0.0\r\n"),
            "c= kept without --webrtc-advertise"
        );
        assert_eq!(rewrite_candidates(ANSWER, None, None), ANSWER);
    }

    #[test]
    fn advertise_rewrites_addresses_and_drops_duplicates() {
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let out = rewrite_candidates(ANSWER, Some(ip), Some(9000));
        assert!(out.contains("c=IN IP4 198.51.100.7\r\n"));
        assert!(out.contains("a=candidate:1 1 udp 2130706431 198.51.100.7 9000 typ host\r\n"));
        assert!(
            !out.contains("a=candidate:2 "),
            "same address and port: kept once"
        );
        assert!(!out.contains("192.168.1.5 9000"));
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let out = rewrite_candidates(ANSWER, Some(v6), None);
        assert!(out.contains("c=IN IP6 2001:db8::1\r\n"));
        assert!(
            out.contains("2001:db8::1 50001 typ host")
                && out.contains("2001:db8::1 50002 typ host")
        );
    }
}
