//! Pins every layout table to its vector file, `tests/layouts/<layout>.txt`: each line's
//! character must be typed with exactly the strokes listed, and the table must type no
//! character the file lacks. The files come from xkb-data through `tests/layouts/check.py`
//! (which also replays them through libxkbcommon); this test needs neither.

use super::{table::NO, Layout, Stroke, ALTGR, SHIFT};
use std::collections::BTreeSet;

/// The committed vector file of a layout.
fn file(layout: Layout) -> &'static str {
    match layout {
        Layout::Us => include_str!("../../../tests/layouts/us.txt"),
        Layout::Uk => include_str!("../../../tests/layouts/uk.txt"),
        Layout::De => include_str!("../../../tests/layouts/de.txt"),
        Layout::Fr => include_str!("../../../tests/layouts/fr.txt"),
    }
}

/// `05+SA` → usage 0x05 with Shift and AltGr.
fn stroke(text: &str) -> Stroke {
    let (usage, mods) = text.split_once('+').unwrap_or((text, ""));
    let modifiers = match mods {
        "" => 0,
        "S" => SHIFT,
        "A" => ALTGR,
        "SA" => SHIFT | ALTGR,
        other => panic!("bad modifiers {other:?} in {text:?}"),
    };
    let usage = u8::from_str_radix(usage, 16).expect("usage is hex");
    Stroke { usage, modifiers }
}

/// `U+00E2 35 04 # â` lines → (character, strokes).
fn parse(text: &str) -> Vec<(char, Vec<Stroke>)> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .filter(|body| !body.trim().is_empty())
        .map(|body| {
            let mut fields = body.split_whitespace();
            let code = fields.next().and_then(|f| f.strip_prefix("U+"));
            let code = u32::from_str_radix(code.expect("U+ code point"), 16).expect("hex");
            let ch = char::from_u32(code).expect("a character");
            (ch, fields.map(stroke).collect())
        })
        .collect()
}

#[test]
fn every_vector_is_typed_exactly() {
    for &layout in Layout::ALL {
        let vectors = parse(file(layout));
        assert!(
            vectors.len() >= 94,
            "{}: only {}",
            layout.name(),
            vectors.len()
        );
        for (ch, strokes) in vectors {
            assert_eq!(
                layout.strokes(&ch.to_string()),
                Ok(strokes),
                "{} {ch:?} (U+{:04X})",
                layout.name(),
                ch as u32
            );
        }
    }
}

#[test]
fn tables_type_nothing_the_vectors_lack() {
    for &layout in Layout::ALL {
        let listed: BTreeSet<char> = parse(file(layout)).into_iter().map(|(c, _)| c).collect();
        let table: BTreeSet<char> = layout.table().chars().into_iter().collect();
        let extra: String = table.difference(&listed).collect();
        let missing: String = listed.difference(&table).collect();
        assert_eq!(
            (extra.as_str(), missing.as_str()),
            ("", ""),
            "{}",
            layout.name()
        );
    }
}

#[test]
fn nul_and_controls_are_untypeable() {
    for &layout in Layout::ALL {
        for ch in [NO, '\u{7}', '\u{7f}', '\u{a0}'] {
            assert!(layout.strokes(&ch.to_string()).is_err(), "{ch:?}");
        }
    }
}
