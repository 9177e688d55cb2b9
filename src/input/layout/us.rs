//! US English (ANSI) layout.

use super::Stroke;

/// Strokes for one character (space, tab and line ends are handled by the caller).
pub(super) fn strokes(ch: char) -> Option<Vec<Stroke>> {
    const SHIFTED_DIGITS: &str = ")!@#$%^&*(";
    const PUNCT: &[(char, char, u8)] = &[
        ('-', '_', 0x2D),
        ('=', '+', 0x2E),
        ('[', '{', 0x2F),
        (']', '}', 0x30),
        ('\\', '|', 0x31),
        (';', ':', 0x33),
        ('\'', '"', 0x34),
        ('`', '~', 0x35),
        (',', '<', 0x36),
        ('.', '>', 0x37),
        ('/', '?', 0x38),
    ];
    let one = |s| Some(vec![s]);
    match ch {
        'a'..='z' => one(Stroke::plain(0x04 + (ch as u8 - b'a'))),
        'A'..='Z' => one(Stroke::shift(0x04 + (ch as u8 - b'A'))),
        '1'..='9' => one(Stroke::plain(0x1E + (ch as u8 - b'1'))),
        '0' => one(Stroke::plain(0x27)),
        _ => {
            if let Some(i) = SHIFTED_DIGITS.find(ch) {
                return one(Stroke::shift(if i == 0 {
                    0x27
                } else {
                    0x1E + i as u8 - 1
                }));
            }
            PUNCT.iter().find_map(|&(p, s, u)| {
                if ch == p {
                    one(Stroke::plain(u))
                } else if ch == s {
                    one(Stroke::shift(u))
                } else {
                    None
                }
            })
        }
    }
}
