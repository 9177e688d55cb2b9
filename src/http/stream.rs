//! `/api/stream`: the stream settings a user changes while watching (`media::settings`).
//! `GET` needs any session; `POST` the controller (a viewer gets 403). A bad body is 400 with
//! the reason (`{"error": "…"}`), a body over 1 KiB 413; every change, refused or not,
//! leaves an audit line.

use super::devices::{forbidden, who};
use super::json_status;
use crate::auth::{Auth, Role};
use crate::devices::Devices;
use crate::media::settings::{StreamChange, StreamSettings};
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// Largest body accepted.
const MAX_BODY: u64 = 1024;

/// The routes, for sessions of `auth`; changes are audited in `devices`' log.
pub fn routes(
    settings: Arc<StreamSettings>,
    devices: Arc<Devices>,
    auth: Arc<Auth>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    let s = move || {
        let settings = Arc::clone(&settings);
        warp::any().map(move || Arc::clone(&settings))
    };
    let get = warp::path!("api" / "stream")
        .and(warp::get())
        .and(s())
        .map(|s: Arc<StreamSettings>| warp::reply::json(&s.view()).into_response());
    let post = warp::path!("api" / "stream")
        .and(warp::post())
        .and(who(auth))
        .and(warp::body::content_length_limit(MAX_BODY))
        .and(warp::body::bytes())
        .and(s())
        .map(
            move |(who, role): (String, Role), body: bytes::Bytes, s: Arc<StreamSettings>| {
                if role != Role::Controller {
                    return forbidden();
                }
                let text = String::from_utf8_lossy(&body);
                let what = format!("stream {}", text.trim());
                let result = serde_json::from_slice::<StreamChange>(&body)
                    .map_err(|e| {
                        format!(
                            "body must be {{\"h264_kbps\": N, \"jpeg_quality\": N}} (either): {e}"
                        )
                    })
                    .and_then(|change| s.apply(&change));
                match result {
                    Ok(view) => {
                        devices.audit_line(&who, &what, "ok");
                        tracing::info!(target: "http", %who, h264_kbps = view.h264_kbps,
                            jpeg_quality = view.jpeg_quality, "stream settings changed");
                        warp::reply::json(&view).into_response()
                    }
                    Err(e) => {
                        devices.audit_line(&who, &what, &format!("refused: {e}"));
                        json_status(StatusCode::BAD_REQUEST, serde_json::json!({ "error": e }))
                    }
                }
            },
        );
    get.or(post).unify()
}
