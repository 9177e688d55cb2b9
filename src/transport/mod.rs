//! Transports: how encoded frames leave the appliance and input comes back.
//!
//! - [`webrtc`]: H.264 over WebRTC (WHEP and /ws sessions), `hid` data channel in.
//! - [`mjpeg`]: `/stream.mjpeg` (multipart/x-mixed-replace) and `/snapshot.jpg`.

pub mod mjpeg;
pub mod webrtc;
