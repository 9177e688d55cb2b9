//! The shared shape of a settings POST (`/api/stream`, `/api/hid/jiggler`): the controller
//! only (a viewer gets 403), a JSON body of at most [`MAX_BODY`] bytes (413 beyond), checked
//! and applied by the caller → 200 with the settings as they now are, or 400
//! `{"error": "…"}` with the reason; an audit line either way.

use super::devices::forbidden;
use super::json_status;
use crate::auth::Role;
use crate::devices::Devices;
use serde::de::DeserializeOwned;
use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// Largest body accepted.
pub const MAX_BODY: u64 = 1024;

/// The request body, at most [`MAX_BODY`] bytes.
pub fn body() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    warp::body::content_length_limit(MAX_BODY).and(warp::body::bytes())
}

/// Handles one POST from `who` (with its `role`): `body` parsed as a `T` (else 400 "body
/// must be `shape`: …") and given to `apply`, whose error is the 400's reason. The audit
/// line reads `name` and the body.
pub fn change<T: DeserializeOwned, V: Serialize>(
    (who, role): (String, Role),
    body: &[u8],
    devices: &Devices,
    (name, shape): (&str, &str),
    apply: impl FnOnce(T) -> Result<V, String>,
) -> Response {
    if role != Role::Controller {
        return forbidden();
    }
    let what = format!("{name} {}", String::from_utf8_lossy(body).trim());
    let result = serde_json::from_slice::<T>(body)
        .map_err(|e| format!("body must be {shape}: {e}"))
        .and_then(apply);
    match result {
        Ok(now) => {
            devices.audit_line(&who, &what, "ok");
            warp::reply::json(&now).into_response()
        }
        Err(e) => {
            devices.audit_line(&who, &what, &format!("refused: {e}"));
            json_status(StatusCode::BAD_REQUEST, serde_json::json!({ "error": e }))
        }
    }
}
