//! German (ISO, QWERTZ): xkb layout `de`, default variant (`latin(type4)` plus the German
//! keys), with dead `^`, `´` and `` ` `` on the key caps and AltGr dead keys.
//!
//! Data only (lookup in `table.rs`). Rows follow `xkbcli compile-keymap --layout de`; the
//! characters and strokes are pinned by `tests/layouts/de.txt`, which
//! `tests/layouts/check.py` derives from xkb-data and replays through libxkbcommon.

use super::table::{DeadKey, Table, NO, SPACE};
use super::Stroke;

/// Keys of the typing block: (HID usage, [plain, Shift, AltGr, Shift+AltGr]).
#[rustfmt::skip]
const KEYS: &[(u8, [char; 4])] = &[
    (0x04, ['a', 'A', 'æ', 'Æ']),
    (0x05, ['b', 'B', '“', '‘']),
    (0x06, ['c', 'C', '¢', '©']),
    (0x07, ['d', 'D', 'ð', 'Ð']),
    (0x08, ['e', 'E', '€', '€']),
    (0x09, ['f', 'F', 'đ', 'ª']),
    (0x0A, ['g', 'G', 'ŋ', 'Ŋ']),
    (0x0B, ['h', 'H', 'ħ', 'Ħ']),
    (0x0C, ['i', 'I', '→', 'ı']),
    (0x0D, ['j', 'J', NO, NO]), // dead_belowdot, dead_abovedot
    (0x0E, ['k', 'K', 'ĸ', '&']),
    (0x0F, ['l', 'L', 'ł', 'Ł']),
    (0x10, ['m', 'M', 'µ', 'º']),
    (0x11, ['n', 'N', '”', '’']),
    (0x12, ['o', 'O', 'ø', 'Ø']),
    (0x13, ['p', 'P', 'þ', 'Þ']),
    (0x14, ['q', 'Q', '@', 'Ω']),
    (0x15, ['r', 'R', '¶', '®']),
    (0x16, ['s', 'S', 'ſ', 'ẞ']),
    (0x17, ['t', 'T', 'ŧ', 'Ŧ']),
    (0x18, ['u', 'U', '↓', '↑']),
    (0x19, ['v', 'V', '„', '‚']),
    (0x1A, ['w', 'W', 'ſ', '§']),
    (0x1B, ['x', 'X', '«', '‹']),
    (0x1C, ['z', 'Z', '←', '¥']),
    (0x1D, ['y', 'Y', '»', '›']),
    (0x1E, ['1', '!', '¹', '¡']),
    (0x1F, ['2', '"', '²', '⅛']),
    (0x20, ['3', '§', '³', '£']),
    (0x21, ['4', '$', '¼', '¤']),
    (0x22, ['5', '%', '½', '⅜']),
    (0x23, ['6', '&', '¬', '⅝']),
    (0x24, ['7', '/', '{', '⅞']),
    (0x25, ['8', '(', '[', '™']),
    (0x26, ['9', ')', ']', '±']),
    (0x27, ['0', '=', '}', '°']),
    (0x2D, ['ß', '?', '\\', '¿']),
    (0x2E, [NO, NO, NO, NO]), // dead_acute, dead_grave, dead_cedilla, dead_ogonek
    (0x2F, ['ü', 'Ü', NO, NO]), // dead_diaeresis, dead_abovering
    (0x30, ['+', '*', '~', '¯']),
    (0x31, ['#', '\'', '’', NO]), // dead_breve
    (0x33, ['ö', 'Ö', NO, NO]), // dead_doubleacute, dead_belowdot
    (0x34, ['ä', 'Ä', NO, NO]), // dead_circumflex, dead_caron
    (0x35, [NO, '°', '′', '″']), // dead_circumflex
    (0x36, [',', ';', '·', '×']),
    (0x37, ['.', ':', '…', '÷']),
    (0x38, ['-', '_', '–', '—']),
    (0x64, ['<', '>', '|', NO]), // dead_belowmacron
];

/// Dead keys, in search order (level, then usage).
const DEAD: &[DeadKey] = &[
    // dead_acute
    DeadKey {
        key: Stroke::plain(0x2E),
        alone: Some(('´', Stroke::plain(0x2E))),
        letters: &[
            ('a', 'á'),
            ('e', 'é'),
            ('i', 'í'),
            ('o', 'ó'),
            ('u', 'ú'),
            ('y', 'ý'),
            ('A', 'Á'),
            ('E', 'É'),
            ('I', 'Í'),
            ('O', 'Ó'),
            ('U', 'Ú'),
            ('Y', 'Ý'),
        ],
    },
    // dead_circumflex
    DeadKey {
        key: Stroke::plain(0x35),
        alone: Some(('^', SPACE)),
        letters: &[
            ('a', 'â'),
            ('e', 'ê'),
            ('i', 'î'),
            ('o', 'ô'),
            ('u', 'û'),
            ('A', 'Â'),
            ('E', 'Ê'),
            ('I', 'Î'),
            ('O', 'Ô'),
            ('U', 'Û'),
        ],
    },
    // dead_grave
    DeadKey {
        key: Stroke::shift(0x2E),
        alone: Some(('`', SPACE)),
        letters: &[
            ('a', 'à'),
            ('e', 'è'),
            ('i', 'ì'),
            ('o', 'ò'),
            ('u', 'ù'),
            ('A', 'À'),
            ('E', 'È'),
            ('I', 'Ì'),
            ('O', 'Ò'),
            ('U', 'Ù'),
        ],
    },
    // dead_cedilla
    DeadKey {
        key: Stroke::altgr(0x2E),
        alone: Some(('¸', SPACE)),
        letters: &[('c', 'ç'), ('C', 'Ç')],
    },
    // dead_diaeresis
    DeadKey {
        key: Stroke::altgr(0x2F),
        alone: Some(('¨', Stroke::altgr(0x2F))),
        letters: &[('e', 'ë'), ('i', 'ï'), ('y', 'ÿ'), ('E', 'Ë'), ('I', 'Ï')],
    },
    // dead_doubleacute
    DeadKey {
        key: Stroke::altgr(0x33),
        alone: Some(('˝', SPACE)),
        letters: &[],
    },
    // dead_abovedot
    DeadKey {
        key: Stroke::shift_altgr(0x0D),
        alone: Some(('˙', SPACE)),
        letters: &[],
    },
    // dead_ogonek
    DeadKey {
        key: Stroke::shift_altgr(0x2E),
        alone: Some(('˛', SPACE)),
        letters: &[],
    },
    // dead_abovering
    DeadKey {
        key: Stroke::shift_altgr(0x2F),
        alone: None,
        letters: &[('a', 'å'), ('A', 'Å')],
    },
    // dead_breve
    DeadKey {
        key: Stroke::shift_altgr(0x31),
        alone: Some(('˘', SPACE)),
        letters: &[],
    },
    // dead_caron
    DeadKey {
        key: Stroke::shift_altgr(0x34),
        alone: Some(('ˇ', SPACE)),
        letters: &[],
    },
];

/// The de layout.
pub(super) static TABLE: Table = Table {
    keys: KEYS,
    dead: DEAD,
    prefer: &[],
};

#[cfg(test)]
mod tests {
    use super::super::{Layout, Stroke};

    #[test]
    fn a_sentence() {
        let s = Layout::De
            .strokes("Grüße: {ä} ^2 `x´ 3€@ â Zoë\r\n")
            .unwrap();
        let want = [
            Stroke::shift(0x0A), // G
            Stroke::plain(0x15), // r
            Stroke::plain(0x2F), // ü
            Stroke::plain(0x2D), // ß
            Stroke::plain(0x08), // e
            Stroke::shift(0x37), // :
            Stroke::plain(0x2C), // space
            Stroke::altgr(0x24), // {
            Stroke::plain(0x34), // ä
            Stroke::altgr(0x27), // }
            Stroke::plain(0x2C), // space
            Stroke::plain(0x35), // dead ^
            Stroke::plain(0x2C), // space → ^
            Stroke::plain(0x1F), // 2
            Stroke::plain(0x2C), // space
            Stroke::shift(0x2E), // dead `
            Stroke::plain(0x2C), // space → `
            Stroke::plain(0x1B), // x
            Stroke::plain(0x2E), // dead ´
            Stroke::plain(0x2E), // dead ´ again → ´ (Space would give ')
            Stroke::plain(0x2C), // space
            Stroke::plain(0x20), // 3
            Stroke::altgr(0x08), // €
            Stroke::altgr(0x14), // @
            Stroke::plain(0x2C), // space
            Stroke::plain(0x35), // dead ^
            Stroke::plain(0x04), // a → â
            Stroke::plain(0x2C), // space
            Stroke::shift(0x1C), // Z (QWERTZ: the Y key position)
            Stroke::plain(0x12), // o
            Stroke::altgr(0x2F), // dead ¨ (AltGr+ü)
            Stroke::plain(0x08), // e → ë
            Stroke::plain(0x28), // \r\n: one Enter
        ];
        assert_eq!(s, want);
    }

    #[test]
    fn untypeable_all_at_once() {
        let e = Layout::De.strokes("Señor 🙂 ñ!").unwrap_err();
        assert_eq!(e.to_string(), "the de layout cannot type \"ñ🙂\"");
    }
}
