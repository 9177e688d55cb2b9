//! `/api/atx`, `/api/gpio`, `/api/wol` and `/api/audit`: the front panel over HTTP.
//!
//! Reading state needs any session; every action needs the controller (`admin`: a viewer gets
//! 403). Errors are JSON `{"error": "…"}` with 400 (bad request: wrong action, missing
//! confirmation), 404 (unknown button, part not configured), 409 (busy, or the configured
//! path is not that device), 429 (too soon) or 502 (the device failed); each action, refused or not, leaves an audit line.

use super::{json_status, session_role, tls::ClientAddr};
use crate::auth::{Auth, Role};
use crate::devices::config::Action;
use crate::devices::driver::DriverError;
use crate::devices::{ActionError, AtxAction, Devices, Done};
use serde::Deserialize;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// Largest action body accepted.
const MAX_BODY: u64 = 1024;

/// A button press: `{"action": "on"|"off"|"pulse", "confirm": true}`, both optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Press {
    action: Option<String>,
    #[serde(default)]
    confirm: bool,
}

/// The routes, for sessions of `auth`.
pub fn routes(
    devices: Arc<Devices>,
    auth: Arc<Auth>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    let d = move || {
        let devices = Arc::clone(&devices);
        warp::any().map(move || Arc::clone(&devices))
    };
    let who = who(auth);
    let atx_state =
        warp::path!("api" / "atx")
            .and(warp::get())
            .and(d())
            .then(|d: Arc<Devices>| async move {
                warp::reply::json(&d.atx_state().await).into_response()
            });
    let atx_action = warp::path!("api" / "atx" / String)
        .and(warp::post())
        .and(who.clone())
        .and(d())
        .then(
            |action: String, (who, role): (String, Role), d: Arc<Devices>| async move {
                if role != Role::Controller {
                    return forbidden();
                }
                match action.parse::<AtxAction>() {
                    Ok(a) => reply(d.atx(&who, a).await),
                    Err(e) => {
                        json_status(StatusCode::BAD_REQUEST, serde_json::json!({ "error": e }))
                    }
                }
            },
        );
    let gpio_state =
        warp::path!("api" / "gpio")
            .and(warp::get())
            .and(d())
            .then(|d: Arc<Devices>| async move {
                warp::reply::json(&d.buttons_state().await).into_response()
            });
    let gpio_action = warp::path!("api" / "gpio" / String)
        .and(warp::post())
        .and(who.clone())
        .and(small_body())
        .and(d())
        .then(
            |name: String, (who, role): (String, Role), body: bytes::Bytes, d: Arc<Devices>| async move {
                if role != Role::Controller {
                    return forbidden();
                }
                let press: Press = if body.is_empty() {
                    Press::default()
                } else {
                    match serde_json::from_slice(&body) {
                        Ok(p) => p,
                        Err(e) => {
                            let msg = format!("body must be {{\"action\":\"on|off|pulse\",\"confirm\":true}}: {e}");
                            return json_status(StatusCode::BAD_REQUEST, serde_json::json!({ "error": msg }));
                        }
                    }
                };
                let action = match press.action.as_deref().map(str::parse::<Action>) {
                    None => None,
                    Some(Ok(a)) => Some(a),
                    Some(Err(e)) => {
                        return json_status(StatusCode::BAD_REQUEST, serde_json::json!({ "error": e }))
                    }
                };
                reply(d.button(&who, &name, action, press.confirm).await)
            },
        );
    let wol = warp::path!("api" / "wol")
        .and(warp::post())
        .and(who.clone())
        .and(d())
        .then(|(who, role): (String, Role), d: Arc<Devices>| async move {
            if role != Role::Controller {
                return forbidden();
            }
            reply(d.wol(&who).await)
        });
    let audit = warp::path!("api" / "audit")
        .and(warp::get())
        .and(who)
        .and(d())
        .map(|(_, role): (String, Role), d: Arc<Devices>| {
            if role != Role::Controller {
                return forbidden();
            }
            warp::reply::json(&serde_json::json!({ "entries": d.audit() })).into_response()
        });
    atx_state
        .or(atx_action)
        .unify()
        .or(gpio_state)
        .unify()
        .or(gpio_action)
        .unify()
        .or(wol)
        .unify()
        .or(audit)
        .unify()
}

/// The request body, at most [`MAX_BODY`] bytes (413 beyond); a POST with neither a length nor
/// a chunked body (`curl -X POST`) has an empty one.
fn small_body() -> impl Filter<Extract = (bytes::Bytes,), Error = Rejection> + Clone {
    let sized = warp::body::content_length_limit(MAX_BODY).and(warp::body::bytes());
    let none = warp::header::optional::<String>("content-length")
        .and(warp::header::optional::<String>("transfer-encoding"))
        .and_then(|len: Option<String>, te: Option<String>| async move {
            match (len, te) {
                (None, None) => Ok(bytes::Bytes::new()),
                _ => Err(warp::reject::not_found()),
            }
        });
    sized.or(none).unify()
}

/// Who is asking (`admin@ADDRESS` or `viewer@ADDRESS`, for the audit log) and their role; 401
/// without a session.
pub(super) fn who(
    auth: Arc<Auth>,
) -> impl Filter<Extract = ((String, Role),), Error = Rejection> + Clone + Send + Sync + 'static {
    warp::ext::optional::<ClientAddr>()
        .and(session_role(auth))
        .map(|addr: Option<ClientAddr>, role: Role| {
            let at = addr.map_or_else(|| "local".to_string(), |a| a.0.ip().to_string());
            let user = if role == Role::Controller {
                "admin"
            } else {
                "viewer"
            };
            (format!("{user}@{at}"), role)
        })
}

/// 403 for a view-only session.
pub(super) fn forbidden() -> Response {
    json_status(
        StatusCode::FORBIDDEN,
        serde_json::json!({ "error": "view-only session: log in as admin to control" }),
    )
}

fn reply(result: Result<Done, ActionError>) -> Response {
    match result {
        Ok(done) => json_status(
            StatusCode::OK,
            serde_json::json!({ "ok": true, "done": done }),
        ),
        Err(e) => {
            let (status, extra) = match &e {
                ActionError::NotFound(_) => (StatusCode::NOT_FOUND, None),
                ActionError::Bad(_) => (StatusCode::BAD_REQUEST, None),
                ActionError::NeedsConfirm(_) => (StatusCode::BAD_REQUEST, Some("confirm")),
                ActionError::Busy(_) => (StatusCode::CONFLICT, None),
                ActionError::TooSoon(_) => (StatusCode::TOO_MANY_REQUESTS, None),
                // The configured path is not that device (a relay path that is not a relay).
                ActionError::Driver(DriverError::NotTheDevice(_)) => (StatusCode::CONFLICT, None),
                ActionError::Driver(DriverError::Unsupported(_)) => (StatusCode::BAD_REQUEST, None),
                ActionError::Driver(DriverError::Io { .. }) => (StatusCode::BAD_GATEWAY, None),
            };
            let mut body = serde_json::json!({ "error": e.to_string() });
            if let Some(k) = extra {
                body["needs"] = serde_json::json!(k);
            }
            json_status(status, body)
        }
    }
}
