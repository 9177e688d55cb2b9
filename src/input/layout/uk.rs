//! UK English (ISO): xkb layout `gb`, default variant (`latin` plus the UK keys), with AltGr
//! (Right Alt) for levels 3 and 4 and the AltGr dead keys it defines.
//!
//! Data only (lookup in `table.rs`). Rows follow `xkbcli compile-keymap --layout gb`; the
//! characters and strokes are pinned by `tests/layouts/uk.txt`, which
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
    (0x08, ['e', 'E', 'e', 'E']),
    (0x09, ['f', 'F', 'đ', 'ª']),
    (0x0A, ['g', 'G', 'ŋ', 'Ŋ']),
    (0x0B, ['h', 'H', 'ħ', 'Ħ']),
    (0x0C, ['i', 'I', '→', 'ı']),
    (0x0D, ['j', 'J', NO, NO]), // dead_hook, dead_horn
    (0x0E, ['k', 'K', 'ĸ', '&']),
    (0x0F, ['l', 'L', 'ł', 'Ł']),
    (0x10, ['m', 'M', 'µ', 'º']),
    (0x11, ['n', 'N', '”', '’']),
    (0x12, ['o', 'O', 'ø', 'Ø']),
    (0x13, ['p', 'P', 'þ', 'Þ']),
    (0x14, ['q', 'Q', '@', 'Ω']),
    (0x15, ['r', 'R', '¶', '®']),
    (0x16, ['s', 'S', 'ß', 'ẞ']),
    (0x17, ['t', 'T', 'ŧ', 'Ŧ']),
    (0x18, ['u', 'U', '↓', '↑']),
    (0x19, ['v', 'V', '„', '‚']),
    (0x1A, ['w', 'W', 'ſ', '§']),
    (0x1B, ['x', 'X', '»', '>']),
    (0x1C, ['y', 'Y', '←', '¥']),
    (0x1D, ['z', 'Z', '«', '<']),
    (0x1E, ['1', '!', '¹', '¡']),
    (0x1F, ['2', '"', '²', '⅛']),
    (0x20, ['3', '£', '³', '£']),
    (0x21, ['4', '$', '€', '¼']),
    (0x22, ['5', '%', '½', '⅜']),
    (0x23, ['6', '^', '¾', '⅝']),
    (0x24, ['7', '&', '{', '⅞']),
    (0x25, ['8', '*', '[', '™']),
    (0x26, ['9', '(', ']', '±']),
    (0x27, ['0', ')', '}', '°']),
    (0x2D, ['-', '_', '\\', '¿']),
    (0x2E, ['=', '+', NO, NO]), // dead_cedilla, dead_ogonek
    (0x2F, ['[', '{', NO, NO]), // dead_diaeresis, dead_abovering
    (0x30, [']', '}', NO, NO]), // dead_tilde, dead_macron
    (0x31, ['#', '~', NO, NO]), // dead_grave, dead_breve
    (0x33, [';', ':', NO, NO]), // dead_acute, dead_doubleacute
    (0x34, ['\'', '@', NO, NO]), // dead_circumflex, dead_caron
    (0x35, ['`', '¬', '|', '|']),
    (0x36, [',', '<', '•', '×']),
    (0x37, ['.', '>', '·', '÷']),
    (0x38, ['/', '?', NO, NO]), // dead_belowdot, dead_abovedot
    (0x64, ['\\', '|', '|', '¦']),
];

/// Dead keys, in search order (level, then usage).
const DEAD: &[DeadKey] = &[
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
        letters: &[
            ('a', 'ä'),
            ('e', 'ë'),
            ('i', 'ï'),
            ('o', 'ö'),
            ('u', 'ü'),
            ('y', 'ÿ'),
            ('A', 'Ä'),
            ('E', 'Ë'),
            ('I', 'Ï'),
            ('O', 'Ö'),
            ('U', 'Ü'),
        ],
    },
    // dead_tilde
    DeadKey {
        key: Stroke::altgr(0x30),
        alone: None,
        letters: &[
            ('a', 'ã'),
            ('n', 'ñ'),
            ('o', 'õ'),
            ('A', 'Ã'),
            ('N', 'Ñ'),
            ('O', 'Õ'),
        ],
    },
    // dead_grave
    DeadKey {
        key: Stroke::altgr(0x31),
        alone: None,
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
    // dead_acute
    DeadKey {
        key: Stroke::altgr(0x33),
        alone: Some(('´', Stroke::altgr(0x33))),
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
        key: Stroke::altgr(0x34),
        alone: None,
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
    // dead_macron
    DeadKey {
        key: Stroke::shift_altgr(0x30),
        alone: Some(('¯', SPACE)),
        letters: &[],
    },
    // dead_breve
    DeadKey {
        key: Stroke::shift_altgr(0x31),
        alone: Some(('˘', SPACE)),
        letters: &[],
    },
    // dead_doubleacute
    DeadKey {
        key: Stroke::shift_altgr(0x33),
        alone: Some(('˝', SPACE)),
        letters: &[],
    },
    // dead_caron
    DeadKey {
        key: Stroke::shift_altgr(0x34),
        alone: Some(('ˇ', SPACE)),
        letters: &[],
    },
    // dead_abovedot
    DeadKey {
        key: Stroke::shift_altgr(0x38),
        alone: Some(('˙', SPACE)),
        letters: &[],
    },
];

/// The uk layout.
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
        let s = Layout::Uk.strokes("£5 @\"#~\\| café€\r\n").unwrap();
        let want = [
            Stroke::shift(0x20), // £
            Stroke::plain(0x22), // 5
            Stroke::plain(0x2C), // space
            Stroke::shift(0x34), // @
            Stroke::shift(0x1F), // "
            Stroke::plain(0x31), // #
            Stroke::shift(0x31), // ~
            Stroke::plain(0x64), // \
            Stroke::shift(0x64), // |
            Stroke::plain(0x2C), // space
            Stroke::plain(0x06), // c
            Stroke::plain(0x04), // a
            Stroke::plain(0x09), // f
            Stroke::altgr(0x33), // dead acute
            Stroke::plain(0x08), // e → é
            Stroke::altgr(0x21), // €
            Stroke::plain(0x28), // \r\n: one Enter
        ];
        assert_eq!(s, want);
    }

    #[test]
    fn untypeable_all_at_once() {
        let e = Layout::Uk.strokes("ça ſ ĉ 中 ĉ").unwrap_err();
        assert_eq!(e.to_string(), "the uk layout cannot type \"ĉ中\"");
    }
}
