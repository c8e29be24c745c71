//! The HTTP surface: warp routes, the `Host` and body guards, JSON errors, and the server.
//!
//! Only this module knows HTTP and warp. Handlers are plain functions of [`AppState`].

pub mod error;
pub mod host;
pub mod server;

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde::Serialize;
use warp::http::{HeaderMap, HeaderValue, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::clock::Clock;
use crate::crypto::BoxPublicKeys;
use crate::store::Store;
pub use error::ApiError;
pub use host::AllowedHosts;

/// What the handlers share: the box's identity, its clock, and the store once it is open.
#[derive(Debug)]
pub struct AppState {
    name: String,
    keys: BoxPublicKeys,
    clock: Arc<dyn Clock>,
    started: Instant,
    store: OnceLock<Store>,
}

impl AppState {
    pub fn new(name: String, keys: BoxPublicKeys, clock: Arc<dyn Clock>) -> Self {
        Self {
            name,
            keys,
            clock,
            started: Instant::now(),
            store: OnceLock::new(),
        }
    }

    /// Marks the box ready: from now on `/health` answers 200.
    pub fn set_store(&self, store: Store) {
        let _ = self.store.set(store);
    }

    pub fn store(&self) -> Option<&Store> {
        self.store.get()
    }

    pub fn is_ready(&self) -> bool {
        self.store.get().is_some()
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn keys(&self) -> &BoxPublicKeys {
        &self.keys
    }
}

/// The HTTP-level limits the routes enforce themselves.
#[derive(Debug, Clone)]
pub struct RouteLimits {
    pub allowed_hosts: AllowedHosts,
    /// The largest body any route accepts (routes may accept less).
    pub max_body_bytes: u64,
}

/// Every route of the box, with the guards in front and JSON errors behind.
pub fn routes(
    state: Arc<AppState>,
    limits: RouteLimits,
) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let health = warp::path!("health")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|s: Arc<AppState>| health(&s));
    let info = warp::path!("v1" / "info")
        .and(warp::get())
        .and(with_state(state))
        .map(|s: Arc<AppState>| info(&s));

    host_guard(limits.allowed_hosts)
        .and(body_guard(limits.max_body_bytes))
        .and(health.or(info).unify())
        .recover(error::recover)
        .unify()
        .with(warp::reply::with::headers(security_headers()))
}

fn with_state(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Arc<AppState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// `421` unless the request is addressed to the box (SPEC §9).
fn host_guard(allowed: AllowedHosts) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    let allowed = Arc::new(allowed);
    warp::header::optional::<String>("host")
        .and_then(move |host: Option<String>| {
            let ok = host.as_deref().is_some_and(|h| allowed.allows(h));
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(warp::reject::custom(ApiError::MisdirectedHost))
                }
            }
        })
        .untuple_one()
}

/// `413` for a declared body above `max`, before any of it is read.
fn body_guard(max: u64) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and_then(move |length: Option<u64>| async move {
            match length {
                Some(n) if n > max => Err(warp::reject::custom(ApiError::BodyTooLarge {
                    limit: Some(max),
                })),
                _ => Ok(()),
            }
        })
        .untuple_one()
}

fn security_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'a str,
    version: &'a str,
}

fn health(state: &AppState) -> Response {
    if !state.is_ready() {
        return ApiError::NotReady.reply();
    }
    warp::reply::json(&Health {
        status: "ok",
        version: crate::VERSION,
    })
    .into_response()
}

/// `GET /v1/info` (SPEC §7): public facts a phone needs before pairing.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub version: String,
    /// The box agreement key, b64u.
    pub agreement_key: String,
    /// The box signing key, b64u.
    pub signing_key: String,
    /// `fp` of SPEC §8.
    pub fingerprint: String,
    /// The box's clock, Unix seconds (clients learn their offset from it).
    pub time: i64,
    pub pairing_open: bool,
}

fn info(state: &AppState) -> Response {
    warp::reply::json(&Info {
        name: state.name.clone(),
        version: crate::VERSION.to_owned(),
        agreement_key: state.keys.agreement_b64u.clone(),
        signing_key: state.keys.signing_b64u.clone(),
        fingerprint: state.keys.fingerprint.clone(),
        time: state.clock.now_unix(),
        pairing_open: false,
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypto::{BoxKeys, BoxSeed};

    #[derive(Debug)]
    struct FixedClock(i64);
    impl Clock for FixedClock {
        fn now_unix(&self) -> i64 {
            self.0
        }
    }

    fn state() -> Arc<AppState> {
        let keys = BoxKeys::from_seed(&BoxSeed::from_bytes([3; 32])).public();
        Arc::new(AppState::new(
            "Test box".into(),
            keys,
            Arc::new(FixedClock(1_700_000_000)),
        ))
    }

    fn limits() -> RouteLimits {
        RouteLimits {
            allowed_hosts: AllowedHosts::new(["identity-box"]),
            max_body_bytes: 1024,
        }
    }

    fn json(body: &[u8]) -> serde_json::Value {
        serde_json::from_slice(body).unwrap()
    }

    #[tokio::test]
    async fn health_is_503_until_the_store_is_open() {
        let state = state();
        let api = routes(state.clone(), limits());
        let res = warp::test::request()
            .path("/health")
            .header("host", "localhost")
            .reply(&api)
            .await;
        assert_eq!(res.status(), 503);
        assert_eq!(json(res.body())["error"], "starting");

        state.set_store(Store::open_in_memory(1).await.unwrap());
        let res = warp::test::request()
            .path("/health")
            .header("host", "localhost")
            .reply(&api)
            .await;
        assert_eq!(res.status(), 200);
        assert_eq!(json(res.body())["status"], "ok");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    }

    #[tokio::test]
    async fn info_shows_the_public_key_and_time() {
        let state = state();
        let api = routes(state.clone(), limits());
        let res = warp::test::request()
            .path("/v1/info")
            .header("host", "identity-box.local")
            .reply(&api)
            .await;
        assert_eq!(res.status(), 200);
        let info: Info = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(info.name, "Test box");
        assert_eq!(info.agreement_key, state.keys().agreement_b64u);
        assert_eq!(info.time, 1_700_000_000);
        assert!(!info.pairing_open);
    }

    #[tokio::test]
    async fn foreign_host_is_421() {
        let api = routes(state(), limits());
        for host in [Some("evil.com"), Some("identity-box.evil.com:8080"), None] {
            let mut req = warp::test::request().path("/v1/info");
            if let Some(h) = host {
                req = req.header("host", h);
            }
            let res = req.reply(&api).await;
            assert_eq!(res.status(), 421, "{host:?}");
            assert_eq!(json(res.body())["error"], "misdirected_request");
        }
    }

    #[tokio::test]
    async fn oversized_body_is_413_and_unknown_path_404() {
        let api = routes(state(), limits());
        let res = warp::test::request()
            .method("POST")
            .path("/v1/info")
            .header("host", "localhost")
            .header("content-length", "4096")
            .body(vec![0u8; 4096])
            .reply(&api)
            .await;
        assert_eq!(res.status(), 413);
        assert_eq!(json(res.body())["error"], "too_large");

        let res = warp::test::request()
            .path("/nope")
            .header("host", "localhost")
            .reply(&api)
            .await;
        assert_eq!(res.status(), 404);
        let body = json(res.body());
        assert_eq!(body["error"], "not_found");
        assert!(body["message"].as_str().unwrap().len() > 10);
    }

    #[tokio::test]
    async fn wrong_method_is_405() {
        let api = routes(state(), limits());
        let res = warp::test::request()
            .method("DELETE")
            .path("/health")
            .header("host", "localhost")
            .reply(&api)
            .await;
        assert_eq!(res.status(), 405);
    }
}
