//! The seam between signalling and media: the daemon implements [`SessionHost`].

use crate::SignalError;
use async_trait::async_trait;

/// A session's id (also its WHEP resource name).
pub type SessionId = uuid::Uuid;

/// A session that was set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Its id.
    pub id: SessionId,
    /// The SDP answer (gathering complete: every candidate included).
    pub answer_sdp: String,
}

/// What the caller's login allows in the session it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// Sees the screen and controls keyboard and mouse (the admin).
    #[default]
    Controller,
    /// Sees the screen only: input on the `hid` channel is refused.
    Viewer,
}

impl Role {
    /// `controller` or `viewer`, as /api/state reports it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Controller => "controller",
            Role::Viewer => "viewer",
        }
    }
}

/// Creates and ends media sessions.
#[async_trait]
pub trait SessionHost: Send + Sync + 'static {
    /// Answers an SDP offer and starts the session with the caller's role.
    async fn open(&self, offer_sdp: String, role: Role) -> Result<Opened, SignalError>;
    /// Ends a session (its input is released).
    async fn close(&self, id: SessionId) -> Result<(), SignalError>;
}

/// Gives the JSON state object pushed to UI clients over /ws.
pub trait StateSource: Send + Sync + 'static {
    /// The current state as a JSON object (same fields as GET /api/state).
    fn state(&self) -> serde_json::Value;
}
