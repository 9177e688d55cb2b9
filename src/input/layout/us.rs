//! US English (ANSI): xkb layout `us`, default variant. Right Alt is Alt here, not AltGr, so
//! only two levels; no dead keys. No ISO key left of Z (usage 0x64): an ANSI keyboard has
//! none, and X11 (`<` `>`) and Windows (`\` `|`) disagree on it.
//!
//! Data only (lookup in `table.rs`). Rows follow `xkbcli compile-keymap --layout us`; the
//! characters and strokes are pinned by `tests/layouts/us.txt`, which
//! `tests/layouts/check.py` derives from xkb-data and replays through libxkbcommon.

use super::table::{Table, NO};

/// Keys of the typing block: (HID usage, [plain, Shift, AltGr, Shift+AltGr]).
#[rustfmt::skip]
const KEYS: &[(u8, [char; 4])] = &[
    (0x04, ['a', 'A', NO, NO]),
    (0x05, ['b', 'B', NO, NO]),
    (0x06, ['c', 'C', NO, NO]),
    (0x07, ['d', 'D', NO, NO]),
    (0x08, ['e', 'E', NO, NO]),
    (0x09, ['f', 'F', NO, NO]),
    (0x0A, ['g', 'G', NO, NO]),
    (0x0B, ['h', 'H', NO, NO]),
    (0x0C, ['i', 'I', NO, NO]),
    (0x0D, ['j', 'J', NO, NO]),
    (0x0E, ['k', 'K', NO, NO]),
    (0x0F, ['l', 'L', NO, NO]),
    (0x10, ['m', 'M', NO, NO]),
    (0x11, ['n', 'N', NO, NO]),
    (0x12, ['o', 'O', NO, NO]),
    (0x13, ['p', 'P', NO, NO]),
    (0x14, ['q', 'Q', NO, NO]),
    (0x15, ['r', 'R', NO, NO]),
    (0x16, ['s', 'S', NO, NO]),
    (0x17, ['t', 'T', NO, NO]),
    (0x18, ['u', 'U', NO, NO]),
    (0x19, ['v', 'V', NO, NO]),
    (0x1A, ['w', 'W', NO, NO]),
    (0x1B, ['x', 'X', NO, NO]),
    (0x1C, ['y', 'Y', NO, NO]),
    (0x1D, ['z', 'Z', NO, NO]),
    (0x1E, ['1', '!', NO, NO]),
    (0x1F, ['2', '@', NO, NO]),
    (0x20, ['3', '#', NO, NO]),
    (0x21, ['4', '$', NO, NO]),
    (0x22, ['5', '%', NO, NO]),
    (0x23, ['6', '^', NO, NO]),
    (0x24, ['7', '&', NO, NO]),
    (0x25, ['8', '*', NO, NO]),
    (0x26, ['9', '(', NO, NO]),
    (0x27, ['0', ')', NO, NO]),
    (0x2D, ['-', '_', NO, NO]),
    (0x2E, ['=', '+', NO, NO]),
    (0x2F, ['[', '{', NO, NO]),
    (0x30, [']', '}', NO, NO]),
    (0x31, ['\\', '|', NO, NO]),
    (0x33, [';', ':', NO, NO]),
    (0x34, ['\'', '"', NO, NO]),
    (0x35, ['`', '~', NO, NO]),
    (0x36, [',', '<', NO, NO]),
    (0x37, ['.', '>', NO, NO]),
    (0x38, ['/', '?', NO, NO]),
];

/// The us layout.
pub(super) static TABLE: Table = Table {
    keys: KEYS,
    dead: &[],
    prefer: &[],
};
