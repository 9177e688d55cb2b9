//! Signalling errors and how each maps to an HTTP status.

/// Why a session could not be set up or found.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SignalError {
    /// The offer is not usable SDP.
    #[error("bad offer: {0}")]
    BadOffer(String),
    /// The offer has no H.264 video the device can send.
    #[error("the offer has no H.264 video (packetization-mode=1, constrained baseline): {0}")]
    NoH264(String),
    /// Too many sessions are open.
    #[error("too many sessions ({0} open)")]
    TooMany(usize),
    /// No session with that id.
    #[error("no such session")]
    NotFound,
    /// The request body is not what the endpoint takes.
    #[error("{0}")]
    BadRequest(String),
    /// Anything else (logged by the host).
    #[error("internal error: {0}")]
    Internal(String),
}

impl SignalError {
    /// The HTTP status for this error.
    pub fn status(&self) -> u16 {
        match self {
            SignalError::BadOffer(_) | SignalError::BadRequest(_) => 400,
            SignalError::NoH264(_) => 406,
            SignalError::NotFound => 404,
            SignalError::TooMany(_) => 503,
            SignalError::Internal(_) => 500,
        }
    }
}
