//! HID report descriptors for the gadget's three HID functions, written from the USB HID 1.11
//! specification (section 6.2.2 items, Appendix B boot devices, Appendix E.6 keyboard example)
//! and the HID Usage Tables. Pure data.
//!
//! The report byte layouts match `hid::report` exactly:
//! - keyboard (boot, subclass 1 protocol 1): input `[modifiers, reserved, k1..k6]`, output one
//!   byte of LEDs (bit 0 Num, 1 Caps, 2 Scroll, 3 Compose, 4 Kana, 3 bits padding). The key
//!   array's logical maximum is 0xDD (not Appendix B's 0x65) so that F13-F24, the
//!   international and LANG keys `input::keymap` produces are legal in report protocol; the
//!   boot layout is unchanged.
//! - absolute pointer (subclass 0): `[buttons, X lo, X hi, Y lo, Y hi, wheel, pan]`, 3 buttons,
//!   X/Y 0..=32767 (Windows 7 refuses larger or negative maxima), wheel and horizontal wheel
//!   (Consumer AC Pan) -127..=127 relative, inside a Physical collection (Apple's recovery
//!   mode wants it).
//! - relative mouse (boot, subclass 1 protocol 2): `[buttons, dx, dy, wheel, pan]`, the
//!   Appendix B boot mouse plus wheel bytes that boot-protocol hosts ignore.

/// Everything configfs needs to know about one HID function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HidFunction {
    /// bInterfaceSubClass: 1 = boot interface.
    pub subclass: u8,
    /// bInterfaceProtocol: 1 = keyboard, 2 = mouse (boot only), 0 = none.
    pub protocol: u8,
    /// Input report length in bytes.
    pub report_length: u8,
    /// The report descriptor.
    pub descriptor: &'static [u8],
}

/// Boot keyboard with LED output report.
pub const KEYBOARD: HidFunction = HidFunction {
    subclass: 1,
    protocol: 1,
    report_length: 8,
    descriptor: &[
        0x05, 0x01, // Usage Page (Generic Desktop)
        0x09, 0x06, // Usage (Keyboard)
        0xA1, 0x01, // Collection (Application)
        0x05, 0x07, //   Usage Page (Keyboard/Keypad)
        0x19, 0xE0, //   Usage Minimum (Left Control)
        0x29, 0xE7, //   Usage Maximum (Right GUI)
        0x15, 0x00, //   Logical Minimum (0)
        0x25, 0x01, //   Logical Maximum (1)
        0x75, 0x01, //   Report Size (1)
        0x95, 0x08, //   Report Count (8)
        0x81, 0x02, //   Input (Data, Variable, Absolute): modifier byte
        0x75, 0x08, //   Report Size (8)
        0x95, 0x01, //   Report Count (1)
        0x81, 0x01, //   Input (Constant): reserved byte
        0x05, 0x08, //   Usage Page (LEDs)
        0x19, 0x01, //   Usage Minimum (Num Lock)
        0x29, 0x05, //   Usage Maximum (Kana)
        0x75, 0x01, //   Report Size (1)
        0x95, 0x05, //   Report Count (5)
        0x91, 0x02, //   Output (Data, Variable, Absolute): LED bits
        0x75, 0x03, //   Report Size (3)
        0x95, 0x01, //   Report Count (1)
        0x91, 0x01, //   Output (Constant): LED padding
        0x05, 0x07, //   Usage Page (Keyboard/Keypad)
        0x19, 0x00, //   Usage Minimum (0)
        0x29, 0xDD, //   Usage Maximum (0xDD)
        0x15, 0x00, //   Logical Minimum (0)
        0x26, 0xDD, 0x00, // Logical Maximum (0xDD)
        0x75, 0x08, //   Report Size (8)
        0x95, 0x06, //   Report Count (6)
        0x81, 0x00, //   Input (Data, Array): six key codes
        0xC0, // End Collection
    ],
};

/// Absolute pointer: three buttons, X/Y 0..=32767, wheel, horizontal wheel.
pub const MOUSE_ABS: HidFunction = HidFunction {
    subclass: 0,
    protocol: 0,
    report_length: 7,
    descriptor: &[
        0x05, 0x01, // Usage Page (Generic Desktop)
        0x09, 0x02, // Usage (Mouse)
        0xA1, 0x01, // Collection (Application)
        0x09, 0x01, //   Usage (Pointer)
        0xA1, 0x00, //   Collection (Physical)
        0x05, 0x09, //     Usage Page (Button)
        0x19, 0x01, //     Usage Minimum (Button 1)
        0x29, 0x03, //     Usage Maximum (Button 3)
        0x15, 0x00, //     Logical Minimum (0)
        0x25, 0x01, //     Logical Maximum (1)
        0x75, 0x01, //     Report Size (1)
        0x95, 0x03, //     Report Count (3)
        0x81, 0x02, //     Input (Data, Variable, Absolute): buttons
        0x75, 0x05, //     Report Size (5)
        0x95, 0x01, //     Report Count (1)
        0x81, 0x01, //     Input (Constant): padding
        0x05, 0x01, //     Usage Page (Generic Desktop)
        0x09, 0x30, //     Usage (X)
        0x09, 0x31, //     Usage (Y)
        0x15, 0x00, //     Logical Minimum (0)
        0x26, 0xFF, 0x7F, // Logical Maximum (32767)
        0x75, 0x10, //     Report Size (16)
        0x95, 0x02, //     Report Count (2)
        0x81, 0x02, //     Input (Data, Variable, Absolute): X, Y
        0x09, 0x38, //     Usage (Wheel)
        0x15, 0x81, //     Logical Minimum (-127)
        0x25, 0x7F, //     Logical Maximum (127)
        0x75, 0x08, //     Report Size (8)
        0x95, 0x01, //     Report Count (1)
        0x81, 0x06, //     Input (Data, Variable, Relative): wheel
        0x05, 0x0C, //     Usage Page (Consumer)
        0x0A, 0x38, 0x02, // Usage (AC Pan)
        0x15, 0x81, //     Logical Minimum (-127)
        0x25, 0x7F, //     Logical Maximum (127)
        0x75, 0x08, //     Report Size (8)
        0x95, 0x01, //     Report Count (1)
        0x81, 0x06, //     Input (Data, Variable, Relative): horizontal wheel
        0xC0, //   End Collection
        0xC0, // End Collection
    ],
};

/// Relative boot mouse: three buttons, dx, dy, wheel, horizontal wheel.
pub const MOUSE_REL: HidFunction = HidFunction {
    subclass: 1,
    protocol: 2,
    report_length: 5,
    descriptor: &[
        0x05, 0x01, // Usage Page (Generic Desktop)
        0x09, 0x02, // Usage (Mouse)
        0xA1, 0x01, // Collection (Application)
        0x09, 0x01, //   Usage (Pointer)
        0xA1, 0x00, //   Collection (Physical)
        0x05, 0x09, //     Usage Page (Button)
        0x19, 0x01, //     Usage Minimum (Button 1)
        0x29, 0x03, //     Usage Maximum (Button 3)
        0x15, 0x00, //     Logical Minimum (0)
        0x25, 0x01, //     Logical Maximum (1)
        0x75, 0x01, //     Report Size (1)
        0x95, 0x03, //     Report Count (3)
        0x81, 0x02, //     Input (Data, Variable, Absolute): buttons
        0x75, 0x05, //     Report Size (5)
        0x95, 0x01, //     Report Count (1)
        0x81, 0x01, //     Input (Constant): padding
        0x05, 0x01, //     Usage Page (Generic Desktop)
        0x09, 0x30, //     Usage (X)
        0x09, 0x31, //     Usage (Y)
        0x09, 0x38, //     Usage (Wheel)
        0x15, 0x81, //     Logical Minimum (-127)
        0x25, 0x7F, //     Logical Maximum (127)
        0x75, 0x08, //     Report Size (8)
        0x95, 0x03, //     Report Count (3)
        0x81, 0x06, //     Input (Data, Variable, Relative): dx, dy, wheel
        0x05, 0x0C, //     Usage Page (Consumer)
        0x0A, 0x38, 0x02, // Usage (AC Pan)
        0x15, 0x81, //     Logical Minimum (-127)
        0x25, 0x7F, //     Logical Maximum (127)
        0x75, 0x08, //     Report Size (8)
        0x95, 0x01, //     Report Count (1)
        0x81, 0x06, //     Input (Data, Variable, Relative): horizontal wheel
        0xC0, //   End Collection
        0xC0, // End Collection
    ],
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks short items (HID 1.11 section 6.2.2.2) and returns (input bits, output bits,
    /// collection depth at the end, logical maxima seen).
    fn walk(desc: &[u8]) -> (u32, u32, i32, Vec<i32>) {
        let (mut size, mut count) = (0u32, 0u32);
        let (mut input, mut output, mut depth) = (0, 0, 0);
        let mut maxima = Vec::new();
        let mut i = 0;
        while i < desc.len() {
            let prefix = desc[i];
            let n = match prefix & 0x03 {
                3 => 4,
                s => s as usize,
            };
            let data = &desc[i + 1..i + 1 + n];
            let value = match n {
                0 => 0,
                1 => data[0] as i8 as i32,
                2 => i16::from_le_bytes([data[0], data[1]]) as i32,
                _ => i32::from_le_bytes([data[0], data[1], data[2], data[3]]),
            };
            let unsigned = data
                .iter()
                .rev()
                .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
            match prefix & 0xFC {
                0x74 => size = unsigned,
                0x94 => count = unsigned,
                0x80 => input += size * count,
                0x90 => output += size * count,
                0xA0 => depth += 1,
                0xC0 => depth -= 1,
                0x24 => maxima.push(value),
                _ => {}
            }
            i += 1 + n;
        }
        (input, output, depth, maxima)
    }

    #[test]
    fn report_lengths_match_the_declared_layouts() {
        for (f, out_bits) in [(KEYBOARD, 8), (MOUSE_ABS, 0), (MOUSE_REL, 0)] {
            let (input, output, depth, _) = walk(f.descriptor);
            assert_eq!(input, u32::from(f.report_length) * 8, "{f:?}");
            assert_eq!(output, out_bits, "{f:?}");
            assert_eq!(depth, 0, "collections close");
        }
        assert_eq!(KEYBOARD.descriptor.len(), 64);
        assert_eq!(MOUSE_ABS.descriptor.len(), 78);
        assert_eq!(MOUSE_REL.descriptor.len(), 67);
    }

    #[test]
    fn known_fields() {
        // Generic Desktop / Keyboard application collection, boot keyboard interface.
        assert_eq!(
            &KEYBOARD.descriptor[..6],
            &[0x05, 0x01, 0x09, 0x06, 0xA1, 0x01]
        );
        assert_eq!((KEYBOARD.subclass, KEYBOARD.protocol), (1, 1));
        // Five LED usages then three bits of padding, as Appendix B.
        let k = KEYBOARD.descriptor;
        assert!(k
            .windows(6)
            .any(|w| w == [0x19, 0x01, 0x29, 0x05, 0x75, 0x01]));
        assert!(k.windows(2).any(|w| w == [0x91, 0x02]));
        // Key array covers every usage the keymap produces (up to LANG5 0x94).
        assert!(walk(k).3.contains(&0xDD));
        // Absolute X/Y 0..=32767, a Physical collection inside the Application one.
        let (_, _, _, maxima) = walk(MOUSE_ABS.descriptor);
        assert!(maxima.contains(&32767), "{maxima:?}");
        assert!(MOUSE_ABS
            .descriptor
            .windows(4)
            .any(|w| w == [0x09, 0x01, 0xA1, 0x00]));
        assert_eq!((MOUSE_REL.subclass, MOUSE_REL.protocol), (1, 2));
        assert_eq!(*MOUSE_ABS.descriptor.last().unwrap(), 0xC0);
    }

    #[test]
    fn report_lengths_match_hid_report() {
        use crate::hid::HidReport;
        assert_eq!(
            HidReport::Keyboard([0; 8]).bytes().len(),
            KEYBOARD.report_length as usize
        );
        assert_eq!(
            HidReport::MouseAbs([0; 7]).bytes().len(),
            MOUSE_ABS.report_length as usize
        );
        assert_eq!(
            HidReport::MouseRel([0; 5]).bytes().len(),
            MOUSE_REL.report_length as usize
        );
    }
}
