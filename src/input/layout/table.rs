//! The shape every layout shares: which character each key of the typing block gives at each
//! level, and the dead keys with the letters they compose. Looking a character up here is
//! the only logic; the layout files are data. Never decides what the caller does with
//! space, tab or line ends (`mod.rs` does).
//!
//! Search order, which `tests/layouts/check.py` uses too: the layout's preferred stroke for
//! the character, if any; else a key typing it directly, lowest level first (plain, Shift,
//! AltGr, Shift+AltGr), then lowest usage; else the first dead key in table order that
//! composes it.

use super::{Stroke, ALTGR, SHIFT};

/// "Nothing here" in a key's levels (a dead key, or no character).
pub(super) const NO: char = '\0';

/// Modifier bits for levels 1..=4 of a key.
const LEVELS: [u8; 4] = [0, SHIFT, ALTGR, SHIFT | ALTGR];

/// Space, which follows a dead key to type its accent on its own.
pub(super) const SPACE: Stroke = Stroke::plain(0x2C);

/// A dead key: pressed before a letter, it puts an accent on it.
#[derive(Debug)]
pub(super) struct DeadKey {
    /// The dead key's own stroke.
    pub key: Stroke,
    /// The accent on its own, and what follows the dead key to type it (Space, or the dead
    /// key again where Space gives something else).
    pub alone: Option<(char, Stroke)>,
    /// (letter, composed letter) pairs; the letter is typed with its direct stroke.
    pub letters: &'static [(char, char)],
}

/// One layout.
#[derive(Debug)]
pub(super) struct Table {
    /// (HID usage, characters at plain, Shift, AltGr, Shift+AltGr), sorted by usage.
    pub keys: &'static [(u8, [char; 4])],
    /// Dead keys, in the order their strokes are searched (level, then usage).
    pub dead: &'static [DeadKey],
    /// Characters on more than one key, typed with this stroke rather than the first found.
    pub prefer: &'static [(char, Stroke)],
}

impl Table {
    /// The strokes for `ch`, or `None` if the layout cannot type it.
    pub fn strokes(&self, ch: char) -> Option<Vec<Stroke>> {
        if let Some(s) = self.direct(ch) {
            return Some(vec![s]);
        }
        self.dead.iter().find_map(|d| {
            if let Some((_, then)) = d.alone.filter(|(accent, _)| *accent == ch) {
                return Some(vec![d.key, then]);
            }
            let (letter, _) = d.letters.iter().find(|(_, composed)| *composed == ch)?;
            Some(vec![d.key, self.direct(*letter)?])
        })
    }

    /// The one stroke that types `ch`, if a key gives it at some level.
    fn direct(&self, ch: char) -> Option<Stroke> {
        if ch == NO {
            return None;
        }
        if let Some(&(_, s)) = self.prefer.iter().find(|(c, _)| *c == ch) {
            return Some(s);
        }
        LEVELS.iter().enumerate().find_map(|(level, &modifiers)| {
            self.keys
                .iter()
                .find(|(_, chars)| chars[level] == ch)
                .map(|&(usage, _)| Stroke { usage, modifiers })
        })
    }

    /// Every character the table mentions (typeable or shadowed by an earlier key).
    #[cfg(test)]
    pub fn chars(&self) -> Vec<char> {
        let keys = self.keys.iter().flat_map(|(_, c)| c.iter().copied());
        let alone = self.dead.iter().filter_map(|d| d.alone.map(|(c, _)| c));
        let letters = self
            .dead
            .iter()
            .flat_map(|d| d.letters.iter().map(|&(_, c)| c));
        keys.chain(alone)
            .chain(letters)
            .filter(|&c| c != NO)
            .collect()
    }
}
