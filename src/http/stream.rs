//! `/api/stream`: the stream settings a user changes while watching (`media::settings`).
//! `GET` needs any session; `POST` is a settings change (`http::setting`: controller only,
//! 400 with the reason, 413 over 1 KiB, audited).

use super::devices::who;
use super::{setting, with};
use crate::auth::Auth;
use crate::devices::Devices;
use crate::media::settings::{StreamChange, StreamSettings};
use std::sync::Arc;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// The routes, for sessions of `auth`; changes are audited in `devices`' log.
pub fn routes(
    settings: Arc<StreamSettings>,
    devices: Arc<Devices>,
    auth: Arc<Auth>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    let get = warp::path!("api" / "stream")
        .and(warp::get())
        .and(with(Arc::clone(&settings)))
        .map(|s: Arc<StreamSettings>| warp::reply::json(&s.view()).into_response());
    let post = warp::path!("api" / "stream")
        .and(warp::post())
        .and(who(auth))
        .and(setting::body())
        .and(with(settings))
        .map(move |who, body: bytes::Bytes, s: Arc<StreamSettings>| {
            let shape = r#"{"h264_kbps": N, "jpeg_quality": N} (either)"#;
            setting::change(
                who,
                &body,
                &devices,
                ("stream", shape),
                |c: StreamChange| s.apply(&c),
            )
        });
    get.or(post).unify()
}
