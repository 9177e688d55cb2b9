//! French (ISO, AZERTY): xkb layout `fr`, default variant (`latin` plus the French keys),
//! with dead `^` and `¨` on the key caps and AltGr dead keys.
//!
//! Data only (lookup in `table.rs`). Rows follow `xkbcli compile-keymap --layout fr`; the
//! characters and strokes are pinned by `tests/layouts/fr.txt`, which
//! `tests/layouts/check.py` derives from xkb-data and replays through libxkbcommon.

use super::table::{DeadKey, Table, NO, SPACE};
use super::Stroke;

/// Keys of the typing block: (HID usage, [plain, Shift, AltGr, Shift+AltGr]).
#[rustfmt::skip]
const KEYS: &[(u8, [char; 4])] = &[
    (0x04, ['q', 'Q', '@', 'Ω']),
    (0x05, ['b', 'B', '“', '‘']),
    (0x06, ['c', 'C', '¢', '©']),
    (0x07, ['d', 'D', 'ð', 'Ð']),
    (0x08, ['e', 'E', '€', '¢']),
    (0x09, ['f', 'F', 'đ', 'ª']),
    (0x0A, ['g', 'G', 'ŋ', 'Ŋ']),
    (0x0B, ['h', 'H', 'ħ', 'Ħ']),
    (0x0C, ['i', 'I', '→', 'ı']),
    (0x0D, ['j', 'J', NO, NO]), // dead_hook, dead_horn
    (0x0E, ['k', 'K', 'ĸ', '&']),
    (0x0F, ['l', 'L', 'ł', 'Ł']),
    (0x10, [',', '?', NO, NO]), // dead_acute, dead_doubleacute
    (0x11, ['n', 'N', '”', '’']),
    (0x12, ['o', 'O', 'ø', 'Ø']),
    (0x13, ['p', 'P', 'þ', 'Þ']),
    (0x14, ['a', 'A', 'æ', 'Æ']),
    (0x15, ['r', 'R', '¶', '®']),
    (0x16, ['s', 'S', 'ß', 'ẞ']),
    (0x17, ['t', 'T', 'ŧ', 'Ŧ']),
    (0x18, ['u', 'U', '↓', '↑']),
    (0x19, ['v', 'V', '„', '‚']),
    (0x1A, ['z', 'Z', '«', '<']),
    (0x1B, ['x', 'X', '»', '>']),
    (0x1C, ['y', 'Y', '←', '¥']),
    (0x1D, ['w', 'W', 'ł', 'Ł']),
    (0x1E, ['&', '1', '¹', '¡']),
    (0x1F, ['é', '2', '~', '⅛']),
    (0x20, ['"', '3', '#', '£']),
    (0x21, ['\'', '4', '{', '$']),
    (0x22, ['(', '5', '[', '⅜']),
    (0x23, ['-', '6', '|', '⅝']),
    (0x24, ['è', '7', '`', '⅞']),
    (0x25, ['_', '8', '\\', '™']),
    (0x26, ['ç', '9', '^', '±']),
    (0x27, ['à', '0', '@', '°']),
    (0x2D, [')', '°', ']', '¿']),
    (0x2E, ['=', '+', '}', NO]), // dead_ogonek
    (0x2F, [NO, NO, NO, NO]), // dead_circumflex, dead_diaeresis, dead_diaeresis, dead_abovering
    (0x30, ['$', '£', '¤', NO]), // dead_macron
    (0x31, ['*', 'µ', NO, NO]), // dead_grave, dead_breve
    (0x33, ['m', 'M', 'µ', 'º']),
    (0x34, ['ù', '%', NO, NO]), // dead_circumflex, dead_caron
    (0x35, ['²', '~', '¬', '¬']),
    (0x36, [';', '.', '•', '×']),
    (0x37, [':', '/', '·', '÷']),
    (0x38, ['!', '§', NO, NO]), // dead_belowdot, dead_abovedot
    (0x64, ['<', '>', '|', '¦']),
];

/// Dead keys, in search order (level, then usage).
const DEAD: &[DeadKey] = &[
    // dead_circumflex
    DeadKey {
        key: Stroke::plain(0x2F),
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
    // dead_diaeresis
    DeadKey {
        key: Stroke::shift(0x2F),
        alone: Some(('¨', Stroke::shift(0x2F))),
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
    // dead_acute
    DeadKey {
        key: Stroke::altgr(0x10),
        alone: Some(('´', Stroke::altgr(0x10))),
        letters: &[
            ('a', 'á'),
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
    // dead_grave
    DeadKey {
        key: Stroke::altgr(0x31),
        alone: None,
        letters: &[
            ('i', 'ì'),
            ('o', 'ò'),
            ('A', 'À'),
            ('E', 'È'),
            ('I', 'Ì'),
            ('O', 'Ò'),
            ('U', 'Ù'),
        ],
    },
    // dead_doubleacute
    DeadKey {
        key: Stroke::shift_altgr(0x10),
        alone: Some(('˝', SPACE)),
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

/// Characters X11 has on two keys, typed with the key Windows' French layout agrees with
/// (`PREFER` in tests/layouts/check.py, docs/HID.md).
const PREFER: &[(char, Stroke)] = &[
    // AltGr+Q is "@" on X11 only; AltGr+à (the key cap) on both.
    ('@', Stroke::altgr(0x27)),
    // Shift+² types nothing on Windows; AltGr+é is "~" on X11, the dead tilde on Windows.
    ('~', Stroke::altgr(0x1F)),
];

/// The fr layout.
pub(super) static TABLE: Table = Table {
    keys: KEYS,
    dead: DEAD,
    prefer: PREFER,
};

#[cfg(test)]
mod tests {
    use super::super::{Layout, Stroke};

    #[test]
    fn a_sentence() {
        let s = Layout::Fr.strokes("Où êtes-vous ? ~/a|b@ ¨ÿ 1€\n").unwrap();
        let want = [
            Stroke::shift(0x12), // O
            Stroke::plain(0x34), // ù
            Stroke::plain(0x2C), // space
            Stroke::plain(0x2F), // dead ^
            Stroke::plain(0x08), // e → ê
            Stroke::plain(0x17), // t
            Stroke::plain(0x08), // e
            Stroke::plain(0x16), // s
            Stroke::plain(0x23), // -
            Stroke::plain(0x19), // v
            Stroke::plain(0x12), // o
            Stroke::plain(0x18), // u
            Stroke::plain(0x16), // s
            Stroke::plain(0x2C), // space
            Stroke::shift(0x10), // ? (the M key position)
            Stroke::plain(0x2C), // space
            Stroke::altgr(0x1F), // ~ (AltGr+é, preferred)
            Stroke::shift(0x37), // /
            Stroke::plain(0x14), // a (AZERTY: the Q key position)
            Stroke::altgr(0x23), // |
            Stroke::plain(0x05), // b
            Stroke::altgr(0x27), // @ (AltGr+à, preferred)
            Stroke::plain(0x2C), // space
            Stroke::shift(0x2F), // dead ¨
            Stroke::shift(0x2F), // dead ¨ again → ¨ (Space would give ")
            Stroke::shift(0x2F), // dead ¨
            Stroke::plain(0x1C), // y → ÿ
            Stroke::plain(0x2C), // space
            Stroke::shift(0x1E), // 1
            Stroke::altgr(0x08), // €
            Stroke::plain(0x28), // \n: Enter
        ];
        assert_eq!(s, want);
    }

    #[test]
    fn untypeable_all_at_once() {
        let e = Layout::Fr.strokes("Ÿ ß ñ Ÿ").unwrap_err();
        assert_eq!(e.to_string(), "the fr layout cannot type \"Ÿñ\"");
    }
}
