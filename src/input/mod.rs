//! Input from viewers: data-channel messages ([`wire`]) and the key table ([`keymap`]).
//!
//! Turns bytes from the network into validated [`InputEvent`]s. Never touches a device: the
//! `hid` module turns events into reports and sends them.

pub mod keymap;
pub mod layout;
pub mod rate;
pub mod wire;

/// A validated input event from one viewer.
#[derive(Debug, Clone, PartialEq)]
pub enum InputEvent {
    /// A key went down or up. `usage` is the HID usage (page 0x07) from [`keymap`].
    Key {
        /// HID keyboard usage id.
        usage: u8,
        /// Pressed (true) or released.
        down: bool,
    },
    /// Absolute pointer position, each axis in 0..=1 of the picture.
    MouseAbs {
        /// Horizontal position.
        x: f64,
        /// Vertical position.
        y: f64,
        /// Button bitmask (1 left, 2 right, 4 middle), or unchanged.
        buttons: Option<u8>,
    },
    /// Relative pointer motion, clamped to ±127.
    MouseRel {
        /// Horizontal motion.
        dx: i8,
        /// Vertical motion.
        dy: i8,
        /// Button bitmask, or unchanged.
        buttons: Option<u8>,
    },
    /// Wheel steps.
    Wheel {
        /// Horizontal steps.
        dx: i8,
        /// Vertical steps.
        dy: i8,
    },
    /// Text to type, with the layout named in the message or else the configured one.
    Text {
        /// The text.
        text: String,
        /// The target host's layout, when the message names one.
        layout: Option<layout::Layout>,
    },
    /// Release every key and button.
    ReleaseAll,
    /// Keep-alive while something is held.
    Ping,
}
