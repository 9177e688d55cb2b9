//! `/api/hid/jiggler`: the mouse jiggler (`hid::worker`), which nudges the target's pointer
//! after a quiet interval so its screen lock and sleep timer stay away while someone watches
//! without typing (PiKVM and JetKVM offer the same). `GET` needs any session; `POST` is a
//! settings change (`http::setting`: controller only, 400 with the reason, 413 over 1 KiB,
//! audited). The setting lasts until the appliance restarts.

use super::devices::who;
use super::{setting, with};
use crate::auth::Auth;
use crate::devices::Devices;
use crate::hid::worker::HidHandle;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// The interval when a request names none (PiKVM's).
pub const DEFAULT_INTERVAL_S: u64 = 60;
/// The intervals accepted, seconds.
pub const INTERVAL_S: (u64, u64) = (5, 3600);

/// A change: `{"enabled": true, "interval_s": 60}` (`interval_s` optional).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JigglerChange {
    /// On or off.
    pub enabled: bool,
    /// Seconds without input before a nudge, and between nudges.
    pub interval_s: Option<u64>,
}

/// The jiggler as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JigglerView {
    /// On or off.
    pub enabled: bool,
    /// Its interval (the default when off).
    pub interval_s: u64,
    /// Nudges given since the start.
    pub jiggles: u64,
}

/// The interval a change sets: `None` to turn it off; an error naming the range (pure).
pub fn interval_of(change: &JigglerChange) -> Result<Option<Duration>, String> {
    let secs = change.interval_s.unwrap_or(DEFAULT_INTERVAL_S);
    let (lo, hi) = INTERVAL_S;
    if !(lo..=hi).contains(&secs) {
        return Err(format!("interval_s: {secs} is outside {lo}..={hi}"));
    }
    Ok(change.enabled.then(|| Duration::from_secs(secs)))
}

fn view(hid: &HidHandle) -> JigglerView {
    let every = hid.jiggler();
    JigglerView {
        enabled: every.is_some(),
        interval_s: every.map_or(DEFAULT_INTERVAL_S, |d| d.as_secs()),
        jiggles: hid.stats.jiggles.load(Ordering::Relaxed),
    }
}

/// The routes, for sessions of `auth`; changes are audited in `devices`' log.
pub fn routes(
    hid: HidHandle,
    devices: Arc<Devices>,
    auth: Arc<Auth>,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static {
    let get = warp::path!("api" / "hid" / "jiggler")
        .and(warp::get())
        .and(with(hid.clone()))
        .map(|hid: HidHandle| warp::reply::json(&view(&hid)).into_response());
    let post = warp::path!("api" / "hid" / "jiggler")
        .and(warp::post())
        .and(who(auth))
        .and(setting::body())
        .and(with(hid))
        .map(move |who, body: bytes::Bytes, hid: HidHandle| {
            let shape = r#"{"enabled": true|false, "interval_s": N}"#;
            setting::change(
                who,
                &body,
                &devices,
                ("jiggler", shape),
                |c: JigglerChange| {
                    hid.set_jiggler(interval_of(&c)?);
                    Ok(view(&hid))
                },
            )
        });
    get.or(post).unify()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_gives_its_interval_or_off_and_out_of_range_is_named() {
        let c = |enabled, interval_s| JigglerChange {
            enabled,
            interval_s,
        };
        assert_eq!(
            interval_of(&c(true, None)),
            Ok(Some(Duration::from_secs(60)))
        );
        assert_eq!(
            interval_of(&c(true, Some(5))),
            Ok(Some(Duration::from_secs(5)))
        );
        assert_eq!(interval_of(&c(false, Some(90))), Ok(None));
        assert_eq!(
            interval_of(&c(true, Some(4))),
            Err("interval_s: 4 is outside 5..=3600".into())
        );
        assert!(
            interval_of(&c(false, Some(3601))).is_err(),
            "checked even when off"
        );
        let bad: Result<JigglerChange, _> = serde_json::from_str(r#"{"interval_s": 60}"#);
        assert!(bad.is_err(), "enabled is required");
        let bad: Result<JigglerChange, _> = serde_json::from_str(r#"{"enabled": true, "x": 1}"#);
        assert!(bad.is_err(), "unknown fields are refused");
    }
}
