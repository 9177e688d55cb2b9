//! Signalling for periscope: how a browser or a WHEP player sets up and ends a media session.
//! This crate knows HTTP, WebSocket and JSON; it knows nothing about WebRTC internals, video or
//! HID. The daemon implements [`SessionHost`]; the filters here call it.
//!
//! WHEP (draft-ietf-wish-whep):
//! ```text
//! player ── POST /api/whep (application/sdp offer) ──▶ SessionHost::open
//!        ◀── 201 Created, Location: /api/whep/{uuid}, application/sdp answer
//! player ── DELETE /api/whep/{uuid} ──▶ SessionHost::close ──▶ 200
//! ```
//! WebSocket (/ws, the built-in UI):
//! ```text
//! ui ── {"type":"offer","sdp":…} ──▶ SessionHost::open ──▶ {"type":"answer","sdp":…,"session":uuid}
//!    ◀── {"type":"state",…} about once a second ── StateSource
//! socket closes ──▶ SessionHost::close
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]
// No `unwrap()` outside tests: what comes from outside gets an error with a reason, and an
// internal invariant an `expect` that names it. clippy -D warnings (scripts/test) enforces it.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod error;
pub mod host;
pub mod protocol;
pub mod whep;
pub mod ws;

pub use error::SignalError;
pub use host::{Opened, Role, SessionHost, SessionId, StateSource};
