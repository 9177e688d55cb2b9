//! Choosing a profile from a `Snapshot` (pure): a profile whose `[board]` matches the device
//! tree and whose capture device is seen wins; the reasons say which facts matched. A machine
//! no board profile fits gets `generic-uvc` when it has a V4L2 capture node, else
//! `test-pattern`. Never reads the system itself (`snapshot::read` does).

use super::snapshot::{Snapshot, VideoNode};
use crate::profile::HwProfile;

/// Video-node drivers that are codecs or converters, never capture inputs (a Pi's
/// bcm2835-codec at /dev/video10 does not make it a capture machine).
pub const NOT_CAPTURE: &[&str] = &[
    "bcm2835-codec",
    "bcm2835-isp",
    "rpivid",
    "rpi-hevc-dec",
    "hantro-vpu",
    "rkvdec",
    "rkvenc",
    "rockchip-rga",
    "rockchip-vpu",
];

/// The chosen profile and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The chosen profile's name.
    pub profile: String,
    /// One line per fact that decided it, in order.
    pub reasons: Vec<String>,
}

/// Why a profile's `[board]` matches, or `None`.
pub fn board_reason(p: &HwProfile, s: &Snapshot) -> Option<String> {
    let b = p.board.as_ref()?;
    if let Some(model) = &s.model {
        if let Some(m) = b.model.iter().find(|m| model.contains(m.as_str())) {
            return Some(format!("device-tree model {model:?} contains {m:?}"));
        }
    }
    b.compatible
        .iter()
        .find(|c| s.compatible.contains(c))
        .map(|c| format!("device-tree compatible lists {c:?}"))
}

fn describe(v: &VideoNode) -> String {
    let name = v.name.as_deref().unwrap_or("?");
    let driver = v.driver.as_deref().unwrap_or("no driver");
    format!("/dev/{} ({name:?}, driver {driver})", v.node)
}

/// How well the machine shows the profile's capture device: 2 = its identity (USB id, or an
/// I²C device bound to one of its bridge drivers), 1 = only a video node with its driver,
/// 0 = nothing; with the facts.
pub fn capture_evidence(p: &HwProfile, s: &Snapshot) -> (u8, Vec<String>) {
    let mut facts = Vec::new();
    let mut score = 0;
    if let Some((vid, pid)) = p.usb_id {
        if let Some(d) = s.usb_devices.iter().find(|d| d.id == (vid, pid)) {
            let product = d.product.as_deref().unwrap_or("?");
            facts.push(format!(
                "USB device {vid:04x}:{pid:04x} ({product:?}) at {}",
                d.path
            ));
            score = 2;
        }
    }
    if let Some((bridge, dev)) = s.i2c_bound.iter().find(|(d, _)| p.bridges.contains(d)) {
        facts.push(format!("I2C device {dev} is bound to the {bridge} driver"));
        score = 2;
    }
    let wanted = |v: &&VideoNode| {
        v.driver
            .as_ref()
            .is_some_and(|d| p.drivers.iter().any(|w| w == d))
    };
    if let Some(v) = s.videos.iter().find(wanted) {
        facts.push(format!("video node {}", describe(v)));
        score = score.max(1);
    }
    (score, facts)
}

/// The V4L2 nodes that may be capture inputs.
pub fn capture_nodes(s: &Snapshot) -> Vec<&VideoNode> {
    s.videos
        .iter()
        .filter(|v| {
            !v.driver
                .as_deref()
                .is_some_and(|d| NOT_CAPTURE.contains(&d))
        })
        .collect()
}

fn machine(s: &Snapshot) -> String {
    match (&s.model, s.compatible.first()) {
        (Some(m), _) => format!("device-tree model {m:?}"),
        (None, Some(c)) => format!("device-tree compatible {c:?}"),
        (None, None) => "no device tree (not an ARM board, or not exposed)".into(),
    }
}

/// Picks a profile among `profiles` (shipped order breaks ties).
pub fn detect(s: &Snapshot, profiles: &[HwProfile]) -> Detection {
    let scored: Vec<(&HwProfile, Option<String>, u8, Vec<String>)> = profiles
        .iter()
        .map(|p| {
            let (score, facts) = capture_evidence(p, s);
            (p, board_reason(p, s), score, facts)
        })
        .collect();
    let on_board = || scored.iter().filter(|c| c.1.is_some());
    let best_board = on_board().fold(None, |best: Option<&(_, _, u8, _)>, c| match best {
        Some(b) if b.2 >= c.2 => Some(b),
        _ => Some(c),
    });
    let boardless_capture = scored
        .iter()
        .find(|c| c.0.board.is_none() && c.2 > 0 && c.0.device != "test-pattern");
    if let Some((p, Some(why), score, facts)) = best_board {
        if *score > 0 || boardless_capture.is_none() {
            let mut reasons = vec![format!("board: {why}")];
            reasons.extend(facts.iter().map(|f| format!("capture: {f}")));
            if *score == 0 {
                reasons.push(format!(
                    "capture: none of this board's capture devices is present; {} is its first \
                     profile (periscope doctor says what is missing)",
                    p.name
                ));
            }
            return Detection {
                profile: p.name.clone(),
                reasons,
            };
        }
    }
    let mut reasons = vec![match best_board {
        Some((p, _, _, _)) => format!(
            "board: recognised for {}, but none of its capture devices is present",
            p.name
        ),
        None => format!("board: no profile's [board] matches ({})", machine(s)),
    }];
    if let Some((p, _, _, facts)) = boardless_capture {
        reasons.extend(facts.iter().map(|f| format!("capture: {f}")));
        return Detection {
            profile: p.name.clone(),
            reasons,
        };
    }
    fallback(s, reasons)
}

fn fallback(s: &Snapshot, mut reasons: Vec<String>) -> Detection {
    let nodes = capture_nodes(s);
    let profile = if let Some(v) = nodes.first() {
        reasons.push(format!(
            "capture: no profile's capture device matches; {} is a V4L2 device, so the \
             generic UVC profile is the fallback",
            describe(v)
        ));
        "generic-uvc"
    } else {
        reasons.push("capture: no V4L2 capture device, so the built-in test pattern".into());
        "test-pattern"
    };
    Detection {
        profile: profile.into(),
        reasons,
    }
}
