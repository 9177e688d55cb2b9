//! `/api/msd`: virtual media over HTTP (see `crate::msd`).
//!
//! | method, path | what |
//! |---|---|
//! | `GET /api/msd` | images (name, size, sha256), what is attached, uploads under way, the limit |
//! | `PUT /api/msd/images/{name}` | the body, streamed to disk: 201 with size and sha256; 413 past the limit |
//! | `DELETE /api/msd/images/{name}` | 409 while attached |
//! | `POST /api/msd/attach` | `{"name": "…", "mode": "cdrom"\|"disk"}`; 409 when one is attached |
//! | `POST /api/msd/eject` | detaches the attached image |
//!
//! Reading needs a session, changing needs the controller; every change is audited with the
//! front panel's actions (`/api/audit`).

use super::devices::{forbidden, who};
use super::json_status;
use crate::auth::{Auth, Role};
use crate::devices::Devices;
use crate::msd::{Mode, Msd, MsdError};
use futures_util::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Buf, Filter, Rejection, Reply};

/// A request body, chunk by chunk.
type BodyStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, warp::Error>> + Send>>;

fn boxed<S, B>(s: S) -> BodyStream
where
    S: futures_util::Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf,
{
    Box::pin(s.map(|r| r.map(|mut b| b.copy_to_bytes(b.remaining()))))
}

/// An attach request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachBody {
    name: String,
    mode: Mode,
}

/// The routes; `audit` records every change.
pub fn routes(
    msd: Arc<Msd>,
    audit: Arc<Devices>,
    auth: Arc<Auth>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    let ctx = warp::any().map(move || (Arc::clone(&msd), Arc::clone(&audit)));
    let who = who(auth);
    let status = warp::path!("api" / "msd")
        .and(warp::get())
        .and(ctx.clone())
        .map(|(msd, _): (Arc<Msd>, Arc<Devices>)| warp::reply::json(&msd.status()).into_response());
    let upload = warp::path!("api" / "msd" / "images" / String)
        .and(warp::put())
        .and(who.clone())
        .and(warp::header::optional::<u64>("content-length"))
        .and(warp::body::stream().map(boxed))
        .and(ctx.clone())
        .then(
            |name: String,
             (who, role): (String, Role),
             length: Option<u64>,
             mut body: BodyStream,
             (msd, audit): (Arc<Msd>, Arc<Devices>)| async move {
                if role != Role::Controller {
                    return forbidden();
                }
                let what = format!("media upload {name}");
                let result = async {
                    let mut up = msd.begin_upload(&name, length)?;
                    while let Some(chunk) = body.next().await {
                        let chunk = chunk.map_err(|e| MsdError::Io {
                            what: format!("upload {name}"),
                            source: std::io::Error::other(e.to_string()),
                        })?;
                        up.write(&chunk)?;
                    }
                    up.finish()
                }
                .await;
                let outcome = match &result {
                    Ok(img) => format!(
                        "ok {} bytes sha256 {}",
                        img.size,
                        img.sha256.as_deref().unwrap_or("")
                    ),
                    Err(e) => e.to_string(),
                };
                audit.audit_line(&who, &what, &outcome);
                match result {
                    Ok(img) => json_status(StatusCode::CREATED, serde_json::json!(img)),
                    Err(e) => error(e),
                }
            },
        );
    let delete = warp::path!("api" / "msd" / "images" / String)
        .and(warp::delete())
        .and(who.clone())
        .and(ctx.clone())
        .map(
            |name: String, (who, role): (String, Role), (msd, audit): (Arc<Msd>, Arc<Devices>)| {
                if role != Role::Controller {
                    return forbidden();
                }
                let result = msd.delete(&name);
                audit.audit_line(&who, &format!("media delete {name}"), &outcome(&result));
                match result {
                    Ok(()) => json_status(StatusCode::OK, serde_json::json!({ "ok": true })),
                    Err(e) => error(e),
                }
            },
        );
    let attach = warp::path!("api" / "msd" / "attach")
        .and(warp::post())
        .and(who.clone())
        .and(warp::body::content_length_limit(4096))
        .and(warp::body::bytes())
        .and(ctx.clone())
        .map(
            |(who, role): (String, Role),
             body: bytes::Bytes,
             (msd, audit): (Arc<Msd>, Arc<Devices>)| {
                if role != Role::Controller {
                    return forbidden();
                }
                let req: AttachBody = match serde_json::from_slice(&body) {
                    Ok(b) => b,
                    Err(e) => {
                        let msg =
                            format!("body must be {{\"name\":\"…\",\"mode\":\"cdrom|disk\"}}: {e}");
                        return json_status(
                            StatusCode::BAD_REQUEST,
                            serde_json::json!({ "error": msg }),
                        );
                    }
                };
                let result = msd.attach(&req.name, req.mode);
                let mode = if req.mode == Mode::Cdrom {
                    "cdrom"
                } else {
                    "disk"
                };
                audit.audit_line(
                    &who,
                    &format!("media attach {} {mode}", req.name),
                    &outcome(&result),
                );
                match result {
                    Ok(a) => json_status(StatusCode::OK, serde_json::json!({ "attached": a })),
                    Err(e) => error(e),
                }
            },
        );
    let eject = warp::path!("api" / "msd" / "eject")
        .and(warp::post())
        .and(who)
        .and(ctx)
        .map(
            |(who, role): (String, Role), (msd, audit): (Arc<Msd>, Arc<Devices>)| {
                if role != Role::Controller {
                    return forbidden();
                }
                let result = msd.eject();
                audit.audit_line(&who, "media eject", &outcome(&result));
                match result {
                    Ok(was) => json_status(StatusCode::OK, serde_json::json!({ "ejected": was })),
                    Err(e) => error(e),
                }
            },
        );
    status
        .or(upload)
        .unify()
        .or(delete)
        .unify()
        .or(attach)
        .unify()
        .or(eject)
        .unify()
}

fn outcome<T>(r: &Result<T, MsdError>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => e.to_string(),
    }
}

fn error(e: MsdError) -> Response {
    let status = match &e {
        MsdError::BadName(_) => StatusCode::BAD_REQUEST,
        MsdError::NotFound(_) => StatusCode::NOT_FOUND,
        MsdError::Conflict(_) => StatusCode::CONFLICT,
        MsdError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        MsdError::TooSoon => StatusCode::TOO_MANY_REQUESTS,
        MsdError::Io { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status.is_server_error() {
        tracing::warn!(target: "msd", error = %e, "media request failed");
    }
    json_status(status, serde_json::json!({ "error": e.to_string() }))
}
