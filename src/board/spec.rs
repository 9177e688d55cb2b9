//! The board-facing parts of a profile: `[board]` (how to recognise the machine),
//! `[[overlays]]` (the device-tree overlays the board needs, with the snippet a user adds),
//! the capture device's identity (`capture.driver`, `capture.bridge`, `capture.usb_id`) and
//! the encoder chain. Pure: serde structs in, validated values or `(key, message)` out.

use serde::Deserialize;

/// A string or a list of strings (`driver = "uvcvideo"` or `driver = ["rkisp", "rkcif"]`;
/// also `capture.bridge` and `overlays.node`).
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several, in order.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values, in order.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `[board]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardSection {
    /// Substrings of /proc/device-tree/model.
    #[serde(default)]
    pub model: Vec<String>,
    /// Strings of /proc/device-tree/compatible.
    #[serde(default)]
    pub compatible: Vec<String>,
}

/// `[[overlays]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverlaySection {
    /// Short name for the doctor's lines.
    pub name: String,
    /// The exact line(s) a user adds.
    pub snippet: String,
    /// The file the snippet goes into.
    pub file: String,
    /// A device-tree node name the overlay creates or changes (`tc358743`, `usb@7e980000`), or
    /// a list of alternatives (vendor and mainline kernels name some nodes differently).
    pub node: OneOrMany,
    /// A property of that node to compare (`dr_mode`, `compatible`, `status`).
    pub property: Option<String>,
    /// Accepted values of `property` (any of them).
    #[serde(default)]
    pub values: Vec<String>,
    /// Extra advice printed with the fix.
    pub note: Option<String>,
}

/// How the machine is recognised (`[board]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BoardMatch {
    /// Any of these substrings in the device-tree model.
    pub model: Vec<String>,
    /// Any of these in the device-tree compatible list.
    pub compatible: Vec<String>,
}

/// An expected device-tree overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// Short name.
    pub name: String,
    /// The line(s) to add.
    pub snippet: String,
    /// Where they go.
    pub file: String,
    /// Node names (before `@`, or the full `name@unit`), any of which proves it is loaded.
    pub nodes: Vec<String>,
    /// Property to compare, if any.
    pub property: Option<String>,
    /// Accepted values of the property.
    pub values: Vec<String>,
    /// Extra advice.
    pub note: Option<String>,
}

/// The device-tree properties the doctor reads (the snapshot holds only these).
pub const DT_PROPERTIES: &[&str] = &["compatible", "dr_mode", "status"];

/// Encoder names a chain may hold; the chain must end with `openh264` (no system library).
pub const ENCODERS: &[&str] = &[
    "v4l2h264enc",
    "mpph264enc",
    "vaapih264enc",
    "x264enc",
    "openh264",
];

type KeyError = (&'static str, String);

/// `[board]`: at least one model substring or compatible string, none empty.
pub fn validate_board(b: BoardSection) -> Result<BoardMatch, KeyError> {
    if b.model.is_empty() && b.compatible.is_empty() {
        return Err((
            "board",
            "needs board.model (device-tree model substrings) or board.compatible".into(),
        ));
    }
    if b.model.iter().any(|m| m.trim().is_empty()) {
        return Err(("board.model", "\"\": must be a non-empty substring".into()));
    }
    if let Some(c) = b.compatible.iter().find(|c| !c.contains(',')) {
        return Err((
            "board.compatible",
            format!("{c:?}: must be vendor,board (e.g. raspberrypi,4-model-b)"),
        ));
    }
    Ok(BoardMatch {
        model: b.model,
        compatible: b.compatible,
    })
}

/// One `[[overlays]]` entry.
pub fn validate_overlay(o: OverlaySection) -> Result<Overlay, KeyError> {
    let nodes = o.node.into_vec();
    for (key, v) in [
        ("overlays.name", &o.name),
        ("overlays.snippet", &o.snippet),
        ("overlays.file", &o.file),
    ]
    .into_iter()
    .chain(nodes.iter().map(|n| ("overlays.node", n)))
    {
        if v.trim().is_empty() {
            return Err((key, "must not be empty".into()));
        }
    }
    if nodes.is_empty() {
        return Err((
            "overlays.node",
            "must name a node or a list of alternatives (e.g. [\"usb@fcc00000\", \"dwc3@fcc00000\"])"
                .into(),
        ));
    }
    if !o.file.starts_with('/') {
        return Err((
            "overlays.file",
            format!("{:?}: must be an absolute path", o.file),
        ));
    }
    if let Some(n) = nodes.iter().find(|n| n.contains('/')) {
        return Err((
            "overlays.node",
            format!("{n:?}: a node name, not a path (e.g. tc358743)"),
        ));
    }
    match &o.property {
        Some(p) if !DT_PROPERTIES.contains(&p.as_str()) => {
            return Err((
                "overlays.property",
                format!("{p:?}: must be one of {}", DT_PROPERTIES.join(", ")),
            ))
        }
        Some(_) if o.values.is_empty() => {
            return Err(("overlays.values", "must list the accepted values".into()))
        }
        None if !o.values.is_empty() => {
            return Err((
                "overlays.values",
                "set, but overlays.property is not".into(),
            ))
        }
        _ => {}
    }
    Ok(Overlay {
        name: o.name,
        snippet: o.snippet,
        file: o.file,
        nodes,
        property: o.property,
        values: o.values,
        note: o.note,
    })
}

/// `capture.usb_id`: `vvvv:pppp` in hex.
pub fn parse_usb_id(s: &str) -> Result<(u16, u16), KeyError> {
    let bad = || {
        (
            "capture.usb_id",
            format!("{s:?}: must be VID:PID in hex, e.g. 534d:2109"),
        )
    };
    let (v, p) = s.split_once(':').ok_or_else(bad)?;
    if v.len() != 4 || p.len() != 4 {
        return Err(bad());
    }
    let v = u16::from_str_radix(v, 16).map_err(|_| bad())?;
    let p = u16::from_str_radix(p, 16).map_err(|_| bad())?;
    Ok((v, p))
}

/// `encoder.h264`: known names, each once, ending with `openh264`.
pub fn validate_chain(chain: Vec<String>) -> Result<Vec<String>, KeyError> {
    let key = "encoder.h264";
    for (i, name) in chain.iter().enumerate() {
        if !ENCODERS.contains(&name.as_str()) {
            return Err((
                key,
                format!("{name:?}: must be one of {}", ENCODERS.join(", ")),
            ));
        }
        if chain[..i].contains(name) {
            return Err((key, format!("{name:?}: listed twice")));
        }
    }
    if chain.last().map(String::as_str) != Some("openh264") {
        return Err((
            key,
            "must end with \"openh264\" (the fallback that needs no system library)".into(),
        ));
    }
    Ok(chain)
}

/// A V4L2 driver or I²C driver name: lower-case letters, digits, `_`, `-`.
pub fn validate_driver_name(key: &'static str, s: &str) -> Result<(), KeyError> {
    let ok = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err((
            key,
            format!("{s:?}: must be a kernel driver name (a-z, 0-9, _ and -)"),
        ))
    }
}
