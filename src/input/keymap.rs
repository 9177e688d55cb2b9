//! The one key table: W3C `KeyboardEvent.code` → HID keyboard usage (Usage Page 0x07,
//! HID Usage Tables 1.4 §10). Modifiers are usages 0xE0..=0xE7 and become the boot report's
//! modifier bits in `hid::report`.

/// (code, usage) pairs. Sorted by usage within groups for review against the usage tables.
const TABLE: &[(&str, u8)] = &[
    // Letters 0x04..=0x1D
    ("KeyA", 0x04),
    ("KeyB", 0x05),
    ("KeyC", 0x06),
    ("KeyD", 0x07),
    ("KeyE", 0x08),
    ("KeyF", 0x09),
    ("KeyG", 0x0A),
    ("KeyH", 0x0B),
    ("KeyI", 0x0C),
    ("KeyJ", 0x0D),
    ("KeyK", 0x0E),
    ("KeyL", 0x0F),
    ("KeyM", 0x10),
    ("KeyN", 0x11),
    ("KeyO", 0x12),
    ("KeyP", 0x13),
    ("KeyQ", 0x14),
    ("KeyR", 0x15),
    ("KeyS", 0x16),
    ("KeyT", 0x17),
    ("KeyU", 0x18),
    ("KeyV", 0x19),
    ("KeyW", 0x1A),
    ("KeyX", 0x1B),
    ("KeyY", 0x1C),
    ("KeyZ", 0x1D),
    // Digits 0x1E..=0x27
    ("Digit1", 0x1E),
    ("Digit2", 0x1F),
    ("Digit3", 0x20),
    ("Digit4", 0x21),
    ("Digit5", 0x22),
    ("Digit6", 0x23),
    ("Digit7", 0x24),
    ("Digit8", 0x25),
    ("Digit9", 0x26),
    ("Digit0", 0x27),
    // Control and punctuation 0x28..=0x38
    ("Enter", 0x28),
    ("Escape", 0x29),
    ("Backspace", 0x2A),
    ("Tab", 0x2B),
    ("Space", 0x2C),
    ("Minus", 0x2D),
    ("Equal", 0x2E),
    ("BracketLeft", 0x2F),
    ("BracketRight", 0x30),
    ("Backslash", 0x31),
    ("IntlHash", 0x32),
    ("Semicolon", 0x33),
    ("Quote", 0x34),
    ("Backquote", 0x35),
    ("Comma", 0x36),
    ("Period", 0x37),
    ("Slash", 0x38),
    ("CapsLock", 0x39),
    // Function keys 0x3A..=0x45
    ("F1", 0x3A),
    ("F2", 0x3B),
    ("F3", 0x3C),
    ("F4", 0x3D),
    ("F5", 0x3E),
    ("F6", 0x3F),
    ("F7", 0x40),
    ("F8", 0x41),
    ("F9", 0x42),
    ("F10", 0x43),
    ("F11", 0x44),
    ("F12", 0x45),
    // Navigation 0x46..=0x52
    ("PrintScreen", 0x46),
    ("ScrollLock", 0x47),
    ("Pause", 0x48),
    ("Insert", 0x49),
    ("Home", 0x4A),
    ("PageUp", 0x4B),
    ("Delete", 0x4C),
    ("End", 0x4D),
    ("PageDown", 0x4E),
    ("ArrowRight", 0x4F),
    ("ArrowLeft", 0x50),
    ("ArrowDown", 0x51),
    ("ArrowUp", 0x52),
    // Keypad 0x53..=0x63, 0x67, 0x85
    ("NumLock", 0x53),
    ("NumpadDivide", 0x54),
    ("NumpadMultiply", 0x55),
    ("NumpadSubtract", 0x56),
    ("NumpadAdd", 0x57),
    ("NumpadEnter", 0x58),
    ("Numpad1", 0x59),
    ("Numpad2", 0x5A),
    ("Numpad3", 0x5B),
    ("Numpad4", 0x5C),
    ("Numpad5", 0x5D),
    ("Numpad6", 0x5E),
    ("Numpad7", 0x5F),
    ("Numpad8", 0x60),
    ("Numpad9", 0x61),
    ("Numpad0", 0x62),
    ("NumpadDecimal", 0x63),
    ("NumpadEqual", 0x67),
    ("NumpadComma", 0x85),
    // 105-key extra, application, power
    ("IntlBackslash", 0x64),
    ("ContextMenu", 0x65),
    ("Power", 0x66),
    // F13..F24 0x68..=0x73
    ("F13", 0x68),
    ("F14", 0x69),
    ("F15", 0x6A),
    ("F16", 0x6B),
    ("F17", 0x6C),
    ("F18", 0x6D),
    ("F19", 0x6E),
    ("F20", 0x6F),
    ("F21", 0x70),
    ("F22", 0x71),
    ("F23", 0x72),
    ("F24", 0x73),
    // Editing and media keys that the keyboard page carries (0x74..=0x81)
    ("Help", 0x75),
    ("Select", 0x77),
    ("Again", 0x79),
    ("Undo", 0x7A),
    ("Cut", 0x7B),
    ("Copy", 0x7C),
    ("Paste", 0x7D),
    ("Find", 0x7E),
    ("AudioVolumeMute", 0x7F),
    ("AudioVolumeUp", 0x80),
    ("AudioVolumeDown", 0x81),
    // International and language keys
    ("IntlRo", 0x87),
    ("KanaMode", 0x88),
    ("IntlYen", 0x89),
    ("Convert", 0x8A),
    ("NonConvert", 0x8B),
    ("Lang1", 0x90),
    ("Lang2", 0x91),
    ("Lang3", 0x92),
    ("Lang4", 0x93),
    ("Lang5", 0x94),
    // Modifiers 0xE0..=0xE7
    ("ControlLeft", 0xE0),
    ("ShiftLeft", 0xE1),
    ("AltLeft", 0xE2),
    ("MetaLeft", 0xE3),
    ("ControlRight", 0xE4),
    ("ShiftRight", 0xE5),
    ("AltRight", 0xE6),
    ("MetaRight", 0xE7),
    // Older browsers' names for the Meta keys
    ("OSLeft", 0xE3),
    ("OSRight", 0xE7),
];

/// The HID usage for a `KeyboardEvent.code`, or `None` for a code with no keyboard usage.
pub fn usage(code: &str) -> Option<u8> {
    TABLE.iter().find(|(c, _)| *c == code).map(|(_, u)| *u)
}

/// Whether a usage is a modifier (0xE0..=0xE7).
pub fn is_modifier(usage: u8) -> bool {
    (0xE0..=0xE7).contains(&usage)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique() {
        let mut seen = HashSet::new();
        for (code, _) in TABLE {
            assert!(seen.insert(code), "duplicate {code}");
        }
    }

    #[test]
    fn a_standard_105_key_keyboard_is_complete() {
        let mut codes: Vec<String> = Vec::new();
        codes.extend((b'A'..=b'Z').map(|c| format!("Key{}", c as char)));
        codes.extend((0..=9).map(|d| format!("Digit{d}")));
        codes.extend((0..=9).map(|d| format!("Numpad{d}")));
        codes.extend((1..=12).map(|f| format!("F{f}")));
        for c in [
            "Enter",
            "Escape",
            "Backspace",
            "Tab",
            "Space",
            "Minus",
            "Equal",
            "BracketLeft",
            "BracketRight",
            "Backslash",
            "Semicolon",
            "Quote",
            "Backquote",
            "Comma",
            "Period",
            "Slash",
            "CapsLock",
            "PrintScreen",
            "ScrollLock",
            "Pause",
            "Insert",
            "Home",
            "PageUp",
            "Delete",
            "End",
            "PageDown",
            "ArrowRight",
            "ArrowLeft",
            "ArrowDown",
            "ArrowUp",
            "NumLock",
            "NumpadDivide",
            "NumpadMultiply",
            "NumpadSubtract",
            "NumpadAdd",
            "NumpadEnter",
            "NumpadDecimal",
            "IntlBackslash",
            "ContextMenu",
            "ControlLeft",
            "ShiftLeft",
            "AltLeft",
            "MetaLeft",
            "ControlRight",
            "ShiftRight",
            "AltRight",
            "MetaRight",
        ] {
            codes.push(c.to_string());
        }
        for code in &codes {
            assert!(usage(code).is_some(), "{code} has no usage");
        }
        assert_eq!(usage("KeyA"), Some(0x04));
        assert_eq!(usage("Enter"), Some(0x28));
        assert_eq!(usage("ShiftRight"), Some(0xE5));
        assert!(is_modifier(0xE5) && !is_modifier(0x04));
        assert_eq!(usage("Fn"), None);
    }
}
