//! The HTTP surface (contracts.md): the embedded web UI, login, and the protected endpoints —
//! WHEP, /ws, MJPEG, snapshot, /api/state, /metrics — each behind the session check. Served
//! over TLS by [`tls`].

mod devices;
mod jiggler;
mod msd;
mod setting;
mod stream;
mod suites;
pub mod tls;

use crate::auth::{Auth, GateError, Role, COOKIE};
use crate::media::fanout::FrameBus;
use crate::media::pipeline::LatestFrame;
use crate::transport::mjpeg;
use periscope_signaling::ws::with_role;
use periscope_signaling::{SessionHost, StateSource};
use rust_embed::RustEmbed;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;
use tls::ClientAddr;
use warp::http::{header, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// The web UI, embedded at build time.
#[derive(RustEmbed)]
#[folder = "frontend/"]
struct Assets;

/// Largest login body.
const MAX_LOGIN_BYTES: u64 = 4096;

/// Formats the metrics text.
pub trait MetricsSource: Send + Sync + 'static {
    /// Prometheus text.
    fn metrics(&self) -> String;
}

/// Everything the routes need.
#[derive(Clone)]
pub struct HttpContext {
    /// Password and sessions.
    pub auth: Arc<Auth>,
    /// WebRTC sessions.
    pub host: Arc<dyn SessionHost>,
    /// /api/state and the /ws state pushes.
    pub state: Arc<dyn StateSource>,
    /// /metrics.
    pub metrics: Arc<dyn MetricsSource>,
    /// The MJPEG stream.
    pub mjpeg: Arc<FrameBus>,
    /// What its clients were handed, and when.
    pub mjpeg_sent: Arc<crate::transport::mjpeg::SendStats>,
    /// The newest raw frame (snapshots).
    pub raw: Arc<LatestFrame>,
    /// ATX, buttons, Wake-on-LAN.
    pub devices: Arc<crate::devices::Devices>,
    /// Virtual media.
    pub msd: Arc<crate::msd::Msd>,
    /// The stream settings a user may change (`/api/stream`), and the JPEG quality
    /// snapshots are encoded at.
    pub stream: Arc<crate::media::settings::StreamSettings>,
    /// The JPEG quality of raw frames.
    pub jpeg_quality: crate::media::encode::jpeg::JpegQuality,
    /// The HID worker (the mouse jiggler's setting).
    pub hid: crate::hid::worker::HidHandle,
}

#[derive(Debug)]
struct Unauthorized;
impl warp::reject::Reject for Unauthorized {}

#[derive(Debug)]
struct TooManyAttempts;
impl warp::reject::Reject for TooManyAttempts {}

/// Every password check is taken (`auth::CheckGate`).
#[derive(Debug)]
struct TooManyLogins;
impl warp::reject::Reject for TooManyLogins {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    user: String,
    password: String,
}

/// All routes, with errors turned into JSON replies and security headers added.
pub fn routes(
    ctx: HttpContext,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    // Body errors are answered here, inside the matched route, so that they are not
    // outranked by the session filter's 401 when warp combines rejections.
    let login_body = warp::ext::optional::<ClientAddr>()
        .and(warp::body::content_length_limit(MAX_LOGIN_BYTES))
        .and(warp::body::bytes())
        .and(with(Arc::clone(&ctx.auth)))
        .and_then(login)
        .recover(recover)
        .unify();
    let login = warp::path!("api" / "auth" / "login")
        .and(warp::post())
        .and(login_body);

    let protected = protected(ctx.clone());
    let auth = authenticated(Arc::clone(&ctx.auth));
    let logout = warp::path!("api" / "auth" / "logout")
        .and(warp::post())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::cookie::optional(COOKIE))
        .and(with(Arc::clone(&ctx.auth)))
        .map(
            |bearer: Option<String>, cookie: Option<String>, auth: Arc<Auth>| {
                if let Some(t) = token_from(bearer.as_deref(), cookie.as_deref()) {
                    if let Ok(mut s) = auth.sessions.lock() {
                        s.remove(&t);
                    }
                }
                let clear =
                    format!("{COOKIE}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict");
                warp::reply::with_header(
                    json_status(StatusCode::OK, serde_json::json!({})),
                    header::SET_COOKIE,
                    clear,
                )
                .into_response()
            },
        );

    let headers = {
        let mut h = warp::http::HeaderMap::new();
        let mut put = |k: &'static str, v: &'static str| {
            h.insert(k, warp::http::HeaderValue::from_static(v));
        };
        put("content-security-policy", "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'");
        put("x-content-type-options", "nosniff");
        put("referrer-policy", "no-referrer");
        put("strict-transport-security", "max-age=31536000");
        h
    };

    assets()
        .or(login)
        .unify()
        .or(auth.and(logout.or(protected).unify()))
        .unify()
        .recover(recover)
        .unify()
        .with(warp::reply::with::headers(headers))
        .map(Reply::into_response)
}

fn with<T: Clone + Send + Sync + 'static>(
    v: T,
) -> impl Filter<Extract = (T,), Error = Infallible> + Clone {
    warp::any().map(move || v.clone())
}

fn protected(
    ctx: HttpContext,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    let state_src = Arc::clone(&ctx.state);
    let api_state = warp::path!("api" / "state")
        .and(warp::get())
        .and(session_role(Arc::clone(&ctx.auth)))
        .map(move |role| warp::reply::json(&with_role(state_src.state(), role)).into_response());
    let metrics_src = Arc::clone(&ctx.metrics);
    let metrics = warp::path!("metrics").and(warp::get()).map(move || {
        warp::reply::with_header(
            metrics_src.metrics(),
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )
        .into_response()
    });
    let (bus, sent) = (Arc::clone(&ctx.mjpeg), Arc::clone(&ctx.mjpeg_sent));
    let stream = warp::path!("stream.mjpeg")
        .and(warp::get())
        .map(move || mjpeg::stream(&bus, Arc::clone(&sent)).into_response());
    let (bus, raw, quality) = (
        Arc::clone(&ctx.mjpeg),
        Arc::clone(&ctx.raw),
        ctx.jpeg_quality.clone(),
    );
    let snapshot = warp::path!("snapshot.jpg").and(warp::get()).then(move || {
        let (bus, raw, quality) = (Arc::clone(&bus), Arc::clone(&raw), quality.clone());
        async move {
            match mjpeg::snapshot(&bus, &raw, quality).await {
                Some(jpeg) => {
                    warp::reply::with_header(jpeg.to_vec(), header::CONTENT_TYPE, "image/jpeg")
                        .into_response()
                }
                None => json_status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    serde_json::json!({"error": "no frame captured yet"}),
                ),
            }
        }
    });
    let whep = periscope_signaling::whep::routes(
        Arc::clone(&ctx.host),
        session_role(Arc::clone(&ctx.auth)),
    )
    .map(Reply::into_response);
    let ws = periscope_signaling::ws::route(
        Arc::clone(&ctx.host),
        Arc::clone(&ctx.state),
        session_role(Arc::clone(&ctx.auth)),
    )
    .map(Reply::into_response);
    let devices = devices::routes(Arc::clone(&ctx.devices), Arc::clone(&ctx.auth));
    let msd = msd::routes(
        Arc::clone(&ctx.msd),
        Arc::clone(&ctx.devices),
        Arc::clone(&ctx.auth),
    );
    let stream_settings = stream::routes(
        Arc::clone(&ctx.stream),
        Arc::clone(&ctx.devices),
        Arc::clone(&ctx.auth),
    );
    let jiggler = jiggler::routes(
        ctx.hid.clone(),
        Arc::clone(&ctx.devices),
        Arc::clone(&ctx.auth),
    );
    api_state
        .or(devices)
        .unify()
        .or(stream_settings)
        .unify()
        .or(jiggler)
        .unify()
        .or(msd)
        .unify()
        .or(metrics)
        .unify()
        .or(stream)
        .unify()
        .or(snapshot)
        .unify()
        .or(whep)
        .unify()
        .or(ws)
        .unify()
}

/// A session token from `Authorization: Bearer …` or the session cookie.
fn token_from(bearer: Option<&str>, cookie: Option<&str>) -> Option<String> {
    let from_header = bearer.and_then(|h| h.strip_prefix("Bearer ").map(|t| t.trim().to_string()));
    from_header
        .or_else(|| cookie.map(str::to_string))
        .filter(|t| !t.is_empty())
}

/// Passes requests with a live session (rejects the rest with 401).
fn authenticated(auth: Arc<Auth>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    session_role(auth).map(|_| ()).untuple_one()
}

/// The role of the request's session; 401 without a live one.
fn session_role(
    auth: Arc<Auth>,
) -> impl Filter<Extract = (Role,), Error = Rejection> + Clone + Send + Sync + 'static {
    warp::header::optional::<String>("authorization")
        .and(warp::cookie::optional(COOKIE))
        .and_then(move |bearer: Option<String>, cookie: Option<String>| {
            let auth = Arc::clone(&auth);
            async move {
                token_from(bearer.as_deref(), cookie.as_deref())
                    .and_then(|t| auth.check_token(&t))
                    .ok_or_else(|| warp::reject::custom(Unauthorized))
            }
        })
}

async fn login(
    client: Option<ClientAddr>,
    body: bytes::Bytes,
    auth: Arc<Auth>,
) -> Result<Response, Rejection> {
    let body: Login = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            let msg = format!("login body must be {{\"user\":\"admin\",\"password\":\"…\"}}: {e}");
            return Ok(json_status(
                StatusCode::BAD_REQUEST,
                serde_json::json!({ "error": msg }),
            ));
        }
    };
    let ip = client
        .map(|c| c.0.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    let allowed = auth
        .limiter
        .lock()
        .map(|mut l| l.allowed(ip, Instant::now()))
        .unwrap_or(false);
    if !allowed {
        tracing::warn!(target: "http", %ip, "login refused: too many failed attempts");
        return Err(warp::reject::custom(TooManyAttempts));
    }
    let check = Arc::clone(&auth);
    let user = body.user.clone();
    let role = match auth
        .checks
        .run(move || check.verify(&body.user, &body.password))
        .await
    {
        Ok(role) => role,
        Err(GateError::Busy) => {
            tracing::warn!(target: "http", %ip, "login refused: too many logins at once");
            return Err(warp::reject::custom(TooManyLogins));
        }
        Err(GateError::Failed) => None,
    };
    let Some(role) = role else {
        if let Ok(mut l) = auth.limiter.lock() {
            l.failed(ip, Instant::now());
        }
        tracing::warn!(target: "http", %ip, "login failed");
        return Ok(json_status(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "wrong user or password"}),
        ));
    };
    if let Ok(mut l) = auth.limiter.lock() {
        l.succeeded(ip);
    }
    let token = auth
        .sessions
        .lock()
        .map(|mut s| s.create(Instant::now(), role))
        .map_err(|_| warp::reject::reject())?;
    tracing::info!(target: "http", %ip, user, role = role.name(), "login");
    let cookie = format!("{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict");
    let reply = json_status(StatusCode::OK, serde_json::json!({ "token": token }));
    Ok(warp::reply::with_header(reply, header::SET_COOKIE, cookie).into_response())
}

fn assets() -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::get()
        .and(warp::path::full())
        .and_then(|path: warp::path::FullPath| async move {
            let name = match path.as_str().trim_start_matches('/') {
                "" => "index.html",
                other => other,
            };
            if name.contains("..") || name.starts_with("node_modules") {
                return Err(warp::reject::not_found());
            }
            match Assets::get(name) {
                Some(file) => {
                    let mime = mime_for(name);
                    let mut resp = Response::new(file.data.into_owned().into());
                    resp.headers_mut().insert(
                        header::CONTENT_TYPE,
                        warp::http::HeaderValue::from_static(mime),
                    );
                    resp.headers_mut().insert(
                        header::CACHE_CONTROL,
                        warp::http::HeaderValue::from_static("no-cache"),
                    );
                    Ok(resp)
                }
                None => Err(warp::reject::not_found()),
            }
        })
}

fn mime_for(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

fn json_status(status: StatusCode, body: serde_json::Value) -> Response {
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

async fn recover(err: Rejection) -> Result<Response, Infallible> {
    let (status, msg) = if err.find::<Unauthorized>().is_some() {
        (StatusCode::UNAUTHORIZED, "login required".to_string())
    } else if err.find::<TooManyAttempts>().is_some() {
        (
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; wait a minute".to_string(),
        )
    } else if err.find::<TooManyLogins>().is_some() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many logins at once; try again in a moment".to_string(),
        )
    } else if err.is_not_found() {
        (StatusCode::NOT_FOUND, "not found".to_string())
    } else if err.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large".to_string(),
        )
    } else if let Some(e) = err.find::<warp::filters::body::BodyDeserializeError>() {
        (StatusCode::BAD_REQUEST, format!("bad request body: {e}"))
    } else if err.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed".to_string(),
        )
    } else if err.find::<warp::reject::UnsupportedMediaType>().is_some() {
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported content type".to_string(),
        )
    } else {
        (StatusCode::BAD_REQUEST, format!("bad request: {err:?}"))
    };
    Ok(json_status(status, serde_json::json!({ "error": msg })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_bearer_or_cookie() {
        assert_eq!(token_from(Some("Bearer abc"), None), Some("abc".into()));
        assert_eq!(token_from(None, Some("xyz")), Some("xyz".into()));
        assert_eq!(
            token_from(Some("Bearer abc"), Some("xyz")),
            Some("abc".into())
        );
        assert_eq!(token_from(Some("Basic abc"), None), None);
        assert_eq!(token_from(Some("Bearer "), None), None);
    }
}
