//! WHEP routes: `POST /api/whep` (SDP offer → 201 + Location + SDP answer) and
//! `DELETE /api/whep/{uuid}`. Authentication is the caller's filter, applied in front; it
//! also gives the caller's [`Role`].

use crate::{Role, SessionHost, SignalError};
use std::sync::Arc;
use warp::http::{header, Response, StatusCode};
use warp::hyper::body::Bytes;
use warp::Filter;

/// Largest SDP offer accepted.
pub const MAX_OFFER_BYTES: u64 = 64 * 1024;

/// The WHEP routes; `role` extracts the caller's role (after authentication).
pub fn routes<R>(
    host: Arc<dyn SessionHost>,
    role: R,
) -> impl Filter<Extract = (Response<String>,), Error = warp::Rejection> + Clone
where
    R: Filter<Extract = (Role,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
{
    let post_host = Arc::clone(&host);
    let post = warp::path!("api" / "whep")
        .and(warp::post())
        .and(role)
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::content_length_limit(MAX_OFFER_BYTES))
        .and(warp::body::bytes())
        .then(move |role: Role, ctype: Option<String>, body: Bytes| {
            let host = Arc::clone(&post_host);
            async move { post_offer(host, role, ctype, body).await }
        });
    let delete = warp::path!("api" / "whep" / String)
        .and(warp::delete())
        .then(move |id: String| {
            let host = Arc::clone(&host);
            async move { delete_session(host, id).await }
        });
    post.or(delete).unify()
}

async fn post_offer(
    host: Arc<dyn SessionHost>,
    role: Role,
    ctype: Option<String>,
    body: Bytes,
) -> Response<String> {
    let is_sdp = ctype
        .as_deref()
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/sdp")
        })
        .unwrap_or(false);
    if !is_sdp {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "whep: the offer must be Content-Type: application/sdp",
        );
    }
    let offer = match String::from_utf8(body.to_vec()) {
        Ok(s) => s,
        Err(_) => return error(SignalError::BadOffer("not UTF-8".into())),
    };
    match host.open(offer, role).await {
        Ok(opened) => Response::builder()
            .status(StatusCode::CREATED)
            .header(header::CONTENT_TYPE, "application/sdp")
            .header(header::LOCATION, format!("/api/whep/{}", opened.id))
            .body(opened.answer_sdp)
            .unwrap_or_else(|_| Response::new(String::new())),
        Err(e) => error(e),
    }
}

async fn delete_session(host: Arc<dyn SessionHost>, id: String) -> Response<String> {
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return error(SignalError::NotFound);
    };
    match host.close(id).await {
        Ok(()) => text(StatusCode::OK, ""),
        Err(e) => error(e),
    }
}

fn error(e: SignalError) -> Response<String> {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    tracing::info!(target: "signaling", status = status.as_u16(), "whep: {e}");
    text(status, &format!("{e}\n"))
}

fn text(status: StatusCode, body: &str) -> Response<String> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body.to_string())
        .unwrap_or_else(|_| Response::new(String::new()))
}
