//! HID report bytes from input state (pure): the boot keyboard report, the absolute mouse
//! (tablet) report and the relative mouse report.
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
    /// 7 bytes: buttons, X lo, X hi, Y lo, Y hi, wheel, horizontal wheel (AC Pan).
    MouseAbs([u8; 7]),
    /// 5 bytes: buttons, dx, dy, wheel, horizontal wheel (boot hosts read the first three).
    MouseRel([u8; 5]),
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

/// Mouse buttons, last absolute position, and which pointer the viewer used last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MouseState {
    buttons: u8,
    x: u16,
    y: u16,
    /// The last pointer event was relative: wheel steps go to the relative mouse then.
    relative: bool,
}

impl MouseState {
    /// Moves the absolute pointer (x, y in 0..=1); buttons unchanged when `None`.
    pub fn abs(&mut self, x: f64, y: f64, buttons: Option<u8>) -> HidReport {
        self.x = scale(x);
        self.y = scale(y);
        self.relative = false;
        if let Some(b) = buttons {
            self.buttons = b & 0x07;
        }
        self.abs_report(0, 0)
    }

    /// Relative motion; buttons unchanged when `None`.
    pub fn rel(&mut self, dx: i8, dy: i8, buttons: Option<u8>) -> HidReport {
        self.relative = true;
        if let Some(b) = buttons {
            self.buttons = b & 0x07;
        }
        HidReport::MouseRel([self.buttons, dx as u8, dy as u8, 0, 0])
    }

    /// Wheel steps (`dy` vertical, positive = away from the user as HID counts it; `dx`
    /// horizontal) on the pointer the viewer used last.
    pub fn wheel(&mut self, dx: i8, dy: i8) -> HidReport {
        if self.relative {
            HidReport::MouseRel([self.buttons, 0, 0, dy as u8, dx as u8])
        } else {
            self.abs_report(dy, dx)
        }
    }

    /// Whether any button is held.
    pub fn any_held(&self) -> bool {
        self.buttons != 0
    }

    /// The mouse jiggler's nudge: one step away and back, on the pointer the viewer used
    /// last, buttons as they are. The pointer ends where it was.
    pub fn jiggle(&mut self) -> [HidReport; 2] {
        if self.relative {
            return [
                HidReport::MouseRel([self.buttons, 1, 0, 0, 0]),
                HidReport::MouseRel([self.buttons, (-1i8) as u8, 0, 0, 0]),
            ];
        }
        let home = self.x;
        // One unit of 0..=32767 (a pixel or less on any screen), inward at the right edge.
        self.x = if home >= ABS_MAX { home - 1 } else { home + 1 };
        let away = self.abs_report(0, 0);
        self.x = home;
        [away, self.abs_report(0, 0)]
    }

    /// Releases every button; returns the report for the pointer in use.
    pub fn release_all(&mut self) -> HidReport {
        self.buttons = 0;
        if self.relative {
            HidReport::MouseRel([0; 5])
        } else {
            self.abs_report(0, 0)
        }
    }

    fn abs_report(&self, wheel: i8, pan: i8) -> HidReport {
        let [xl, xh] = self.x.to_le_bytes();
        let [yl, yh] = self.y.to_le_bytes();
        HidReport::MouseAbs([self.buttons, xl, xh, yl, yh, wheel as u8, pan as u8])
    }
}

fn scale(v: f64) -> u16 {
    (v.clamp(0.0, 1.0) * ABS_MAX as f64).round() as u16
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
            HidReport::MouseAbs([1, 0x00, 0x40, 0xFF, 0x7F, 0, 0])
        );
        assert_eq!(
            m.abs(0.0, 0.0, None),
            HidReport::MouseAbs([1, 0, 0, 0, 0, 0, 0])
        );
        assert_eq!(
            m.wheel(2, -1),
            HidReport::MouseAbs([1, 0, 0, 0, 0, 0xFF, 2])
        );
        assert_eq!(m.release_all(), HidReport::MouseAbs([0; 7]));
        assert_eq!(
            m.rel(-3, 5, Some(2)),
            HidReport::MouseRel([2, 0xFD, 5, 0, 0])
        );
        assert!(m.any_held());
        // After a relative move the wheel goes to the relative mouse.
        assert_eq!(m.wheel(-1, 3), HidReport::MouseRel([2, 0, 0, 3, 0xFF]));
        assert_eq!(m.release_all(), HidReport::MouseRel([0; 5]));
        assert!(!m.any_held());
        // Absolute positions scale to 0..=32767 and clamp.
        assert_eq!(
            m.abs(0.25, 2.0, None),
            HidReport::MouseAbs([0, 0x00, 0x20, 0xFF, 0x7F, 0, 0])
        );
    }
}
