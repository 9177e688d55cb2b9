//! HID report bytes from input state (pure): the boot keyboard report, the absolute mouse
//! (tablet) report and the relative mouse report, plus US-layout text → keystrokes.
//!
//! Byte layouts follow USB HID 1.11 Appendix B (boot keyboard) and the descriptors that
//! `hid::gadget` (a later issue) declares: absolute X/Y are 0..=32767 little endian.

use crate::input::keymap;

/// Keys a boot report holds at once (six-key rollover).
pub const ROLLOVER: usize = 6;
/// Absolute axis maximum (descriptor logical maximum).
pub const ABS_MAX: u16 = 32767;
/// Boot-report code for "too many keys" (ErrorRollOver).
const ERROR_ROLLOVER: u8 = 0x01;

/// One report for one HID function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HidReport {
    /// 8 bytes: modifiers, reserved, six key usages.
    Keyboard([u8; 8]),
    /// 6 bytes: buttons, X lo, X hi, Y lo, Y hi, wheel.
    MouseAbs([u8; 6]),
    /// 4 bytes: buttons, dx, dy, wheel.
    MouseRel([u8; 4]),
}

impl HidReport {
    /// The function this report goes to: "keyboard", "mouse_abs" or "mouse_rel".
    pub fn device(&self) -> &'static str {
        match self {
            HidReport::Keyboard(_) => "keyboard",
            HidReport::MouseAbs(_) => "mouse_abs",
            HidReport::MouseRel(_) => "mouse_rel",
        }
    }

    /// The report bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            HidReport::Keyboard(b) => b,
            HidReport::MouseAbs(b) => b,
            HidReport::MouseRel(b) => b,
        }
    }
}

/// Keys currently held on the keyboard, in press order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyboardState {
    modifiers: u8,
    keys: Vec<u8>,
}

impl KeyboardState {
    /// Applies a key change; returns the new report if anything changed.
    pub fn key(&mut self, usage: u8, down: bool) -> Option<HidReport> {
        let before = self.clone();
        if keymap::is_modifier(usage) {
            let bit = 1u8 << (usage - 0xE0);
            if down {
                self.modifiers |= bit;
            } else {
                self.modifiers &= !bit;
            }
        } else if down {
            if !self.keys.contains(&usage) {
                self.keys.push(usage);
            }
        } else {
            self.keys.retain(|k| *k != usage);
        }
        (before != *self).then(|| self.report())
    }

    /// Whether any key or modifier is held.
    pub fn any_held(&self) -> bool {
        self.modifiers != 0 || !self.keys.is_empty()
    }

    /// Releases everything; returns the empty report.
    pub fn release_all(&mut self) -> HidReport {
        *self = KeyboardState::default();
        self.report()
    }

    /// The boot report for the current state. More than six keys → ErrorRollOver in all six.
    pub fn report(&self) -> HidReport {
        let mut b = [0u8; 8];
        b[0] = self.modifiers;
        if self.keys.len() > ROLLOVER {
            b[2..].fill(ERROR_ROLLOVER);
        } else {
            for (slot, key) in b[2..].iter_mut().zip(&self.keys) {
                *slot = *key;
            }
        }
        HidReport::Keyboard(b)
    }
}

/// Mouse buttons and last absolute position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MouseState {
    buttons: u8,
    x: u16,
    y: u16,
}

impl MouseState {
    /// Moves the absolute pointer (x, y in 0..=1); buttons unchanged when `None`.
    pub fn abs(&mut self, x: f64, y: f64, buttons: Option<u8>) -> HidReport {
        self.x = scale(x);
        self.y = scale(y);
        if let Some(b) = buttons {
            self.buttons = b & 0x07;
        }
        self.abs_report(0)
    }

    /// Relative motion; buttons unchanged when `None`.
    pub fn rel(&mut self, dx: i8, dy: i8, buttons: Option<u8>) -> HidReport {
        if let Some(b) = buttons {
            self.buttons = b & 0x07;
        }
        HidReport::MouseRel([self.buttons, dx as u8, dy as u8, 0])
    }

    /// Wheel steps at the current absolute position (horizontal wheel is not in the
    /// boot-compatible report and is ignored).
    pub fn wheel(&mut self, dy: i8) -> HidReport {
        self.abs_report(dy)
    }

    /// Whether any button is held.
    pub fn any_held(&self) -> bool {
        self.buttons != 0
    }

    /// Releases every button; returns the report.
    pub fn release_all(&mut self) -> HidReport {
        self.buttons = 0;
        self.abs_report(0)
    }

    fn abs_report(&self, wheel: i8) -> HidReport {
        let [xl, xh] = self.x.to_le_bytes();
        let [yl, yh] = self.y.to_le_bytes();
        HidReport::MouseAbs([self.buttons, xl, xh, yl, yh, wheel as u8])
    }
}

fn scale(v: f64) -> u16 {
    (v.clamp(0.0, 1.0) * ABS_MAX as f64).round() as u16
}

/// One keystroke of typed text: a usage, with or without Shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stroke {
    /// Key usage.
    pub usage: u8,
    /// Hold Shift while pressing it.
    pub shift: bool,
}

/// Turns text into keystrokes on the US layout; `Err` lists the characters it cannot type.
pub fn type_text_us(text: &str) -> Result<Vec<Stroke>, String> {
    let mut strokes = Vec::with_capacity(text.len());
    let mut bad: Vec<char> = Vec::new();
    for ch in text.chars() {
        match us_stroke(ch) {
            Some(s) => strokes.push(s),
            None if !bad.contains(&ch) => bad.push(ch),
            None => {}
        }
    }
    if bad.is_empty() {
        Ok(strokes)
    } else {
        Err(format!(
            "the us layout cannot type {:?}",
            bad.iter().collect::<String>()
        ))
    }
}

fn us_stroke(ch: char) -> Option<Stroke> {
    const SHIFTED_DIGITS: &str = ")!@#$%^&*(";
    let plain = |usage| {
        Some(Stroke {
            usage,
            shift: false,
        })
    };
    let shifted = |usage| Some(Stroke { usage, shift: true });
    match ch {
        'a'..='z' => plain(0x04 + (ch as u8 - b'a')),
        'A'..='Z' => shifted(0x04 + (ch as u8 - b'A')),
        '1'..='9' => plain(0x1E + (ch as u8 - b'1')),
        '0' => plain(0x27),
        '\n' => plain(0x28),
        '\t' => plain(0x2B),
        ' ' => plain(0x2C),
        _ => {
            if let Some(i) = SHIFTED_DIGITS.find(ch) {
                return shifted(if i == 0 { 0x27 } else { 0x1E + i as u8 - 1 });
            }
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
            PUNCT.iter().find_map(|&(p, s, u)| {
                if ch == p {
                    plain(u)
                } else if ch == s {
                    shifted(u)
                } else {
                    None
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb(r: Option<HidReport>) -> [u8; 8] {
        match r {
            Some(HidReport::Keyboard(b)) => b,
            other => panic!("not a keyboard report: {other:?}"),
        }
    }

    #[test]
    fn keys_and_modifiers_make_boot_reports() {
        let mut k = KeyboardState::default();
        assert_eq!(kb(k.key(0xE1, true)), [0x02, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(kb(k.key(0x04, true)), [0x02, 0, 0x04, 0, 0, 0, 0, 0]);
        assert_eq!(k.key(0x04, true), None, "a repeated press changes nothing");
        assert_eq!(kb(k.key(0x05, true)), [0x02, 0, 0x04, 0x05, 0, 0, 0, 0]);
        assert_eq!(kb(k.key(0x04, false)), [0x02, 0, 0x05, 0, 0, 0, 0, 0]);
        assert_eq!(kb(k.key(0xE1, false)), [0, 0, 0x05, 0, 0, 0, 0, 0]);
        assert!(k.any_held());
        assert_eq!(k.release_all(), HidReport::Keyboard([0; 8]));
        assert!(!k.any_held());
    }

    #[test]
    fn a_seventh_key_reports_rollover_error_until_released() {
        let mut k = KeyboardState::default();
        for u in 0x04..0x0A {
            k.key(u, true);
        }
        assert_eq!(kb(k.key(0x0A, true)), [0, 0, 1, 1, 1, 1, 1, 1]);
        assert_eq!(
            kb(k.key(0x0A, false)),
            [0, 0, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09]
        );
    }

    #[test]
    fn mouse_reports() {
        let mut m = MouseState::default();
        assert_eq!(
            m.abs(0.5, 1.0, Some(1)),
            HidReport::MouseAbs([1, 0x00, 0x40, 0xFF, 0x7F, 0])
        );
        assert_eq!(
            m.abs(0.0, 0.0, None),
            HidReport::MouseAbs([1, 0, 0, 0, 0, 0])
        );
        assert_eq!(m.wheel(-1), HidReport::MouseAbs([1, 0, 0, 0, 0, 0xFF]));
        assert_eq!(m.rel(-3, 5, Some(2)), HidReport::MouseRel([2, 0xFD, 5, 0]));
        assert!(m.any_held());
        assert_eq!(m.release_all(), HidReport::MouseAbs([0, 0, 0, 0, 0, 0]));
    }

    #[test]
    fn us_text() {
        let s = type_text_us("aZ1!\n").unwrap();
        assert_eq!(
            s,
            vec![
                Stroke {
                    usage: 0x04,
                    shift: false
                },
                Stroke {
                    usage: 0x1D,
                    shift: true
                },
                Stroke {
                    usage: 0x1E,
                    shift: false
                },
                Stroke {
                    usage: 0x1E,
                    shift: true
                },
                Stroke {
                    usage: 0x28,
                    shift: false
                },
            ]
        );
        assert_eq!(
            type_text_us(")").unwrap(),
            vec![Stroke {
                usage: 0x27,
                shift: true
            }]
        );
        assert_eq!(
            type_text_us("?").unwrap(),
            vec![Stroke {
                usage: 0x38,
                shift: true
            }]
        );
        assert_eq!(
            type_text_us("é€é").unwrap_err(),
            "the us layout cannot type \"é€\""
        );
    }
}
