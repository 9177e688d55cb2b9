//! Keyboard layouts for typed text (`{"type":"text"}`): which keys, with which modifiers, the
//! target host must see to produce each character, given the layout the *host* is set to.
//!
//! Pure: text in, [`Stroke`]s out. A character a layout cannot type is reported (all of them,
//! once each), never skipped; nothing is typed then. Line ends (`\n`, `\r\n`, `\r`) are Enter
//! and `\t` is Tab on every layout.
//!
//! Each layout is a data table (`us.rs`, `uk.rs`, `de.rs`, `fr.rs`) following the X11
//! keymap of that name, looked up by `table.rs`. A character may take several strokes: a dead
//! key, then the letter it accents (or Space for the accent alone). The tables are pinned
//! by `tests/layouts/<layout>.txt`, which `tests/layouts/check.py` derives from xkb-data and
//! replays through libxkbcommon (docs/HID.md, "Keyboard layouts for pasted text"). Never
//! knows the target's OS: the layout named is trusted to be the one the host uses.

mod de;
mod fr;
mod table;
mod uk;
mod us;
#[cfg(test)]
mod vectors;

/// Modifier bit for Left Shift in the boot report's first byte.
pub const SHIFT: u8 = 0x02;
/// Modifier bit for Right Alt (AltGr on European layouts).
pub const ALTGR: u8 = 0x40;

/// One key press: `usage` pressed and released while `modifiers` are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stroke {
    /// HID keyboard usage (page 0x07).
    pub usage: u8,
    /// Modifier bits held around it ([`SHIFT`], [`ALTGR`]).
    pub modifiers: u8,
}

impl Stroke {
    /// A key with no modifier.
    pub const fn plain(usage: u8) -> Stroke {
        Stroke {
            usage,
            modifiers: 0,
        }
    }
    /// A key with Shift.
    pub const fn shift(usage: u8) -> Stroke {
        Stroke {
            usage,
            modifiers: SHIFT,
        }
    }
    /// A key with AltGr.
    pub const fn altgr(usage: u8) -> Stroke {
        Stroke {
            usage,
            modifiers: ALTGR,
        }
    }
    /// A key with Shift and AltGr.
    pub const fn shift_altgr(usage: u8) -> Stroke {
        Stroke {
            usage,
            modifiers: SHIFT | ALTGR,
        }
    }
}

/// A keyboard layout the target host may be set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// US English (ANSI), X11 `us`.
    #[default]
    Us,
    /// UK English (ISO), X11 `gb`.
    Uk,
    /// German (ISO, QWERTZ), X11 `de`.
    De,
    /// French (ISO, AZERTY), X11 `fr`.
    Fr,
}

/// Text with characters a layout cannot type. `Display` is the reason sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {layout} layout cannot type {chars:?}")]
pub struct Untypeable {
    /// The layout's name.
    pub layout: &'static str,
    /// Every character it cannot type, once each, in order of first appearance.
    pub chars: String,
}

impl Layout {
    /// Every layout.
    pub const ALL: &'static [Layout] = &[Layout::Us, Layout::Uk, Layout::De, Layout::Fr];

    /// The layout's name (`us`, `uk`, `de`, `fr`), as the flag, config and messages spell it.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Us => "us",
            Layout::Uk => "uk",
            Layout::De => "de",
            Layout::Fr => "fr",
        }
    }

    /// The strokes that type `text`, or every character that cannot be typed.
    pub fn strokes(self, text: &str) -> Result<Vec<Stroke>, Untypeable> {
        let mut out = Vec::with_capacity(text.len());
        let mut bad = String::new();
        let mut chars = text.chars().peekable();
        while let Some(ch) = chars.next() {
            let strokes = match ch {
                '\r' => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                    Some(vec![Stroke::plain(0x28)])
                }
                '\n' => Some(vec![Stroke::plain(0x28)]),
                '\t' => Some(vec![Stroke::plain(0x2B)]),
                ' ' => Some(vec![Stroke::plain(0x2C)]),
                _ => self.char_strokes(ch),
            };
            match strokes {
                Some(s) => out.extend(s),
                None if !bad.contains(ch) => bad.push(ch),
                None => {}
            }
        }
        if bad.is_empty() {
            Ok(out)
        } else {
            Err(Untypeable {
                layout: self.name(),
                chars: bad,
            })
        }
    }

    fn char_strokes(self, ch: char) -> Option<Vec<Stroke>> {
        self.table().strokes(ch)
    }

    fn table(self) -> &'static table::Table {
        match self {
            Layout::Us => &us::TABLE,
            Layout::Uk => &uk::TABLE,
            Layout::De => &de::TABLE,
            Layout::Fr => &fr::TABLE,
        }
    }
}

impl std::str::FromStr for Layout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Layout::ALL
            .iter()
            .copied()
            .find(|l| l.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Layout::ALL.iter().map(|l| l.name()).collect();
                format!(
                    "unknown keyboard layout {s:?} (known: {})",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn us_text() {
        let s = Layout::Us.strokes("aZ1!\r\n").unwrap();
        assert_eq!(
            s,
            vec![
                Stroke::plain(0x04),
                Stroke::shift(0x1D),
                Stroke::plain(0x1E),
                Stroke::shift(0x1E),
                Stroke::plain(0x28),
            ]
        );
        assert_eq!(Layout::Us.strokes(")").unwrap(), vec![Stroke::shift(0x27)]);
        assert_eq!(Layout::Us.strokes("?").unwrap(), vec![Stroke::shift(0x38)]);
        let e = Layout::Us.strokes("é€é").unwrap_err();
        assert_eq!(e.to_string(), "the us layout cannot type \"é€\"");
    }

    #[test]
    fn names_parse() {
        assert_eq!("US".parse::<Layout>(), Ok(Layout::Us));
        for &l in Layout::ALL {
            assert_eq!(l.name().parse::<Layout>(), Ok(l));
        }
        let e = "gb".parse::<Layout>().unwrap_err();
        assert_eq!(e, "unknown keyboard layout \"gb\" (known: us, uk, de, fr)");
    }
}
