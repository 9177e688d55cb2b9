//! periscope: a KVM-over-IP appliance. A server's HDMI output is captured, encoded once and
//! fanned out to browsers over WebRTC (H.264) and MJPEG; keyboard and mouse events come back
//! over a WebRTC data channel and are replayed as USB HID reports.
//!
//! Modules in pipeline order: [`media`] (capture → encode → fan-out), [`transport`] (WebRTC,
//! MJPEG), [`input`] (data-channel messages) → [`hid`] (reports, backends); [`http`] serves
//! it all over TLS with [`auth`]; [`app`] wires the pieces; [`config`] holds what the user set;
//! [`install`] sets a board up to run it at boot.

// Unsafe code only where a backend needs a syscall the crates do not wrap; each such block
// carries a SAFETY comment and its module an explicit allow.
#![deny(unsafe_code)]
// No `unwrap()` outside tests: what comes from outside gets an error with a reason, and an
// internal invariant an `expect` that names it. clippy -D warnings (scripts/test) enforces it.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod app;
pub mod auth;
pub mod board;
pub mod config;
pub mod devices;
pub mod hid;
pub mod http;
pub mod input;
pub mod install;
pub mod media;
pub mod metrics;
pub mod msd;
pub mod profile;
pub mod transport;
