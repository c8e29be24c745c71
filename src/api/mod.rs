//! The HTTP surface: warp routes, the `Host` and body guards, JSON errors, and the server.
//!
//! Only this module knows HTTP and warp. Handlers are plain functions of [`AppState`].

pub mod download;
pub mod error;
pub mod facts;
pub mod gateway;
pub mod host;
pub mod pace;
pub mod ratelimit;
pub mod resolver;
pub mod rpc;
pub mod server;
pub mod web;

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde::Serialize;
use warp::http::{HeaderMap, HeaderValue, header};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

use crate::backup::Backups;
use crate::clock::Clock;
use crate::crypto::BoxPublicKeys;
use crate::extract::{Sessions, Tickets};
use crate::identity::Identities;
use crate::pairing::wire::{Envelope, PairRequest};
use crate::pairing::{ChannelError, Pairing};
use crate::protocol::info::Info;
use crate::store::Store;
pub use error::ApiError;
pub use facts::{Facts, Scope};
pub use host::AllowedHosts;
use ratelimit::RateLimiter;
use server::PeerAddr;

/// Per-address limits on unauthenticated work (protocol §9).
#[derive(Debug, Clone, Copy)]
pub struct RateLimits {
    /// `POST /v1/pair` attempts per minute and address.
    pub pair_per_minute: u32,
    /// `/v1/rpc` requests that do not open, per minute and address.
    pub bad_rpc_per_minute: u32,
    /// Channel requests per minute and paired device.
    pub device_per_minute: u32,
    /// Public DID resolutions per minute and address.
    pub resolve_per_minute: u32,
}

/// What the handlers share: the box's identity, its clock, and the store once it is open.
#[derive(Debug)]
pub struct AppState {
    name: String,
    keys: BoxPublicKeys,
    clock: Arc<dyn Clock>,
    started: Instant,
    store: OnceLock<Store>,
    services: OnceLock<(Identities, Backups)>,
    /// The disk guard of the data directory (protocol §9).
    storage: OnceLock<crate::storage::Storage>,
    /// Cancelled when a factory reset is asked for; the daemon then stops, erases and starts
    /// again as a new box.
    factory_reset: tokio_util::sync::CancellationToken,
    /// Where the reset's marker goes (`None` in tests without a data directory).
    data_dir: Option<std::path::PathBuf>,
    pairing: Pairing,
    /// Body bytes the box holds at once across all requests (protocol §9, "Bodies").
    body_budget: Arc<tokio::sync::Semaphore>,
    pair_limit: RateLimiter,
    resolve_limit: RateLimiter,
    bad_rpc_limit: RateLimiter<Caller>,
    device_limit: RateLimiter<String>,
    tickets: Tickets,
    sessions: Sessions,
}

impl AppState {
    pub fn new(
        name: String,
        keys: BoxPublicKeys,
        clock: Arc<dyn Clock>,
        pairing: Pairing,
        limits: RateLimits,
    ) -> Self {
        Self {
            tickets: Tickets::new(clock.clone()),
            sessions: Sessions::new(clock.clone()),
            name,
            keys,
            clock,
            started: Instant::now(),
            store: OnceLock::new(),
            storage: OnceLock::new(),
            services: OnceLock::new(),
            factory_reset: tokio_util::sync::CancellationToken::new(),
            data_dir: None,
            body_budget: Arc::new(tokio::sync::Semaphore::new(BODY_BUDGET_BYTES as usize)),
            pairing,
            pair_limit: RateLimiter::new(limits.pair_per_minute),
            resolve_limit: RateLimiter::new(limits.resolve_per_minute),
            bad_rpc_limit: RateLimiter::new(limits.bad_rpc_per_minute),
            device_limit: RateLimiter::new(limits.device_per_minute),
        }
    }

    /// The data directory, where a factory reset writes its marker.
    #[must_use]
    pub fn with_data_dir(mut self, dir: &std::path::Path) -> Self {
        self.data_dir = Some(dir.to_owned());
        self
    }

    pub fn pairing(&self) -> &Pairing {
        &self.pairing
    }

    /// Marks the box ready: from now on `/health` answers 200.
    pub fn set_store(&self, store: Store) {
        let _ = self.store.set(store);
    }

    /// Hands over the disk guard of the data directory.
    pub fn set_storage(&self, storage: crate::storage::Storage) {
        let _ = self.storage.set(storage);
    }

    /// How full the data directory's file system is, if known.
    pub fn space(&self) -> Option<crate::storage::Space> {
        self.storage.get()?.space()
    }

    /// Refuses a write of about `bytes` that would leave the card nearly full.
    pub fn room_for(&self, bytes: u64) -> Result<(), crate::storage::StorageFull> {
        match self.storage.get() {
            Some(storage) => storage.check(bytes),
            None => Ok(()),
        }
    }

    /// Hands over the identity and backup services (set before the store: a ready box has
    /// them all).
    pub fn set_services(&self, identities: Identities, backups: Backups) {
        let _ = self.services.set((identities, backups));
    }

    pub fn identities(&self) -> Option<&Identities> {
        self.services.get().map(|(i, _)| i)
    }

    pub fn backups(&self) -> Option<&Backups> {
        self.services.get().map(|(_, b)| b)
    }

    /// Asks the daemon to erase everything and start again as a new box (protocol §3
    /// `box.factory_reset`, `identity-box factory-reset`). The reset's marker is durable when
    /// this returns, so the erase happens even if the power is cut first; requests in flight
    /// still finish. An error means nothing was started.
    pub fn request_factory_reset(&self) -> std::io::Result<()> {
        if let Some(dir) = &self.data_dir {
            crate::reset::mark(dir)?;
        }
        log::warn!("factory reset requested: the box will erase everything and restart");
        self.factory_reset.cancel();
        Ok(())
    }

    /// Completes when a factory reset has been asked for.
    pub fn factory_reset_requested(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.factory_reset.cancelled()
    }

    /// Download tickets for archives.
    pub fn tickets(&self) -> &Tickets {
        &self.tickets
    }

    /// Desktop extraction sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
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
    let page = warp::path::end()
        .map(String::new)
        .or(warp::path!(String))
        .unify()
        .and(warp::get())
        .and_then(
            |name: String| async move { web::file(&name).ok_or_else(warp::reject::not_found) },
        );
    let health = warp::path!("health")
        .and(warp::get())
        .and(with_state(state.clone()))
        .then(health);
    let resolve = warp::path!("1.0" / "identifiers" / String)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(peer_ip())
        .and(warp::header::optional::<String>("accept"))
        .then(resolver::resolve);
    let get_or_head = || warp::get().or(warp::head()).unify();
    let query = || {
        warp::query::<std::collections::HashMap<String, String>>()
            .or(warp::any().map(std::collections::HashMap::new))
            .unify()
    };
    let block = warp::path!("ipfs" / String)
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and(warp::header::optional::<String>("accept"))
        .and(query())
        .then(gateway::block);
    let ipns = warp::path!("ipns" / String)
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and(peer_ip())
        .and(warp::header::optional::<String>("accept"))
        .and(query())
        .then(|name, state, ip, accept, query| {
            gateway::record(name, state, ip, accept, query, false)
        });
    let routing = warp::path!("routing" / "v1" / "ipns" / String)
        .and(get_or_head())
        .and(with_state(state.clone()))
        .and(peer_ip())
        .and(warp::header::optional::<String>("accept"))
        .and(query())
        .then(|name, state, ip, accept, query| {
            gateway::record(name, state, ip, accept, query, true)
        });
    let info = warp::path!("v1" / "info")
        .and(warp::get())
        .and(with_state(state.clone()))
        .then(info);
    let people = warp::path!("v1" / "people")
        .and(warp::get())
        .and(with_state(state.clone()))
        .then(people);
    let qr = warp::path!("v1" / "pairing" / "qr.svg")
        .and(warp::get())
        .and(with_state(state.clone()))
        .map(|s: Arc<AppState>| pairing_qr_svg(&s));
    let pair = warp::path!("v1" / "pair")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(peer_ip())
        .and(json_body::<PairRequest>(PAIR_BODY_LIMIT))
        .then(pair);
    let archive = warp::path!("v1" / "archive" / String)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(warp::header::optional::<String>("range"))
        .then(|ticket, state, range| download::archive(state, ticket, range));
    let extract_start = warp::path!("v1" / "extract")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(peer_ip())
        // `{}`: a JSON body, so that another site's page cannot start sessions (protocol §9).
        .and(json_body::<serde_json::Map<String, serde_json::Value>>(
            PAIR_BODY_LIMIT,
        ))
        .map(|state: Arc<AppState>, ip, _: serde_json::Map<_, _>| {
            download::start_extract(&state, ip)
        });
    let extract_status = warp::path!("v1" / "extract" / String)
        .and(warp::get())
        .and(with_state(state.clone()))
        .and(warp::header::optional::<String>("idbox-extract-secret"))
        .map(
            |session: String, state: Arc<AppState>, secret: Option<String>| {
                download::extract_status(&state, &session, secret.as_deref())
            },
        );
    let rpc = warp::path!("v1" / "rpc")
        .and(warp::post())
        .and(with_state(state.clone()))
        .and(peer_ip())
        .and(admit_body(state))
        .and(json_body::<Envelope>(limits.max_body_bytes))
        .then(|state, ip, permit: BodyPermit, env| async move {
            let response = rpc(state, ip, env).await;
            drop(permit);
            response
        });

    host_guard(limits.allowed_hosts)
        .and(body_guard(limits.max_body_bytes))
        .and(
            health
                .or(info)
                .unify()
                .or(people)
                .unify()
                .or(qr)
                .unify()
                .or(pair)
                .unify()
                .or(rpc)
                .unify()
                .or(resolve)
                .unify()
                .or(block)
                .unify()
                .or(ipns)
                .unify()
                .or(routing)
                .unify()
                .or(archive)
                .unify()
                .or(extract_start)
                .unify()
                .or(extract_status)
                .unify()
                .or(page)
                .unify(),
        )
        .recover(error::recover)
        .unify()
        .with(warp::reply::with::headers(security_headers()))
}

/// The largest channel request read from a sender that does not name a paired device in
/// `Idbox-Device` (protocol §9, "Bodies"): every method but `backup.put` and
/// `backup.restore_keys` fits.
pub const ANONYMOUS_BODY_LIMIT: u64 = 64 * 1024;
/// Body bytes of channel requests the box holds at once; a request beyond it waits up to
/// [`BODY_BUDGET_WAIT`] for room, then gets `503 busy`.
pub const BODY_BUDGET_BYTES: u64 = 64 * 1024 * 1024;
pub const BODY_BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// A share of the body budget, held until the request is answered (none for a small body).
struct BodyPermit(#[allow(dead_code)] Option<tokio::sync::OwnedSemaphorePermit>);

/// Admits a channel request's body before a byte of it is read: one over 64 KiB only from a
/// sender naming a paired device in `Idbox-Device`, and each only once the box's budget of
/// body bytes has room for its `Content-Length` (it waits up to 30 s for it). So strangers holding many connections cannot
/// make the box buffer more than 64 KiB each, nor everyone together more than 64 MiB.
fn admit_body(
    state: Arc<AppState>,
) -> impl Filter<Extract = (BodyPermit,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::header::optional::<String>("idbox-device"))
        .and_then(move |length: Option<u64>, device: Option<String>| {
            let state = state.clone();
            async move {
                let length = length.unwrap_or(0);
                if length > ANONYMOUS_BODY_LIMIT {
                    let known = match (device, state.store()) {
                        (Some(id), Some(store)) if id.len() <= 64 => {
                            matches!(store.device(&id).await, Ok(Some(_)))
                        }
                        _ => false,
                    };
                    if !known {
                        return Err(warp::reject::custom(ApiError::AnonymousBodyTooLarge {
                            limit: ANONYMOUS_BODY_LIMIT,
                        }));
                    }
                }
                // Small bodies take no share: at most 64 KiB on each connection, so the
                // connection cap bounds them (16 MiB), and a phone's everyday requests never
                // wait behind large uploads, or behind someone holding the budget with them.
                if length <= ANONYMOUS_BODY_LIMIT {
                    return Ok(BodyPermit(None));
                }
                let permits = u32::try_from(length).unwrap_or(u32::MAX);
                // A request waits its turn (its body unread, so it holds no memory), and is
                // refused only when the budget stays full.
                let wait = state.body_budget.clone().acquire_many_owned(permits);
                match tokio::time::timeout(BODY_BUDGET_WAIT, wait).await {
                    Ok(Ok(permit)) => Ok(BodyPermit(Some(permit))),
                    _ => Err(warp::reject::custom(ApiError::Busy(
                        "The box is receiving as much as it can hold at once. Try again in a \
                         moment."
                            .into(),
                    ))),
                }
            }
        })
}

/// A pairing request is small; anything bigger is not one.
const PAIR_BODY_LIMIT: u64 = 8 * 1024;

/// The client's IP address (unspecified when unknown, as in `warp::test`).
fn peer_ip() -> impl Filter<Extract = (std::net::IpAddr,), Error = Infallible> + Clone {
    warp::ext::optional::<PeerAddr>().map(|p: Option<PeerAddr>| {
        p.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |PeerAddr(a)| a.ip())
    })
}

/// A JSON body of at most `limit` bytes. The request must say `Content-Type: application/json`
/// (`415` otherwise): a page of another site can send a form or `text/plain` to the box without
/// the browser asking first, but not JSON (a CORS preflight, which the box never allows).
fn json_body<T: serde::de::DeserializeOwned + Send>(
    limit: u64,
) -> impl Filter<Extract = (T,), Error = Rejection> + Clone {
    warp::header::optional::<String>("content-type")
        .and_then(|value: Option<String>| async move {
            if value.as_deref().is_some_and(is_json_media_type) {
                Ok(())
            } else {
                Err(warp::reject::custom(ApiError::NotJson))
            }
        })
        .untuple_one()
        .and(warp::body::content_length_limit(limit))
        .and(warp::body::json())
}

/// `application/json`, with or without parameters (`; charset=utf-8`), in any case.
fn is_json_media_type(value: &str) -> bool {
    value
        .split(';')
        .next()
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

fn with_state(
    state: Arc<AppState>,
) -> impl Filter<Extract = (Arc<AppState>,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}

/// `421` unless the request is addressed to the box (protocol §9).
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
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(web::CONTENT_SECURITY_POLICY),
    );
    headers
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'a str,
    version: &'a str,
    ipfs: IpfsHealth<'a>,
    /// How full the card is (absent when the box cannot tell).
    #[serde(skip_serializing_if = "Option::is_none")]
    storage: Option<StorageHealth>,
}

#[derive(Serialize)]
struct StorageHealth {
    free_bytes: u64,
    total_bytes: u64,
    /// Less than twice what the disk guard keeps free: the page tells the household.
    nearly_full: bool,
}

#[derive(Serialize)]
struct IpfsHealth<'a> {
    running: bool,
    peer_id: &'a str,
    peers: usize,
    /// `lan` or `public`.
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<crate::ipfs::Network>,
    /// `server` or `client`.
    #[serde(skip_serializing_if = "Option::is_none")]
    dht: Option<&'static str>,
    /// What AutoNAT found: `unknown`, `public`, `private`.
    #[serde(skip_serializing_if = "Option::is_none")]
    reachability: Option<crate::ipfs::Reachability>,
    /// How many relays hold a reservation for the box (protocol §4, "Across homes").
    relays: usize,
    /// Whether the last hole punch made a direct connection, and when (never the peer).
    #[serde(skip_serializing_if = "Option::is_none")]
    hole_punch: Option<HolePunchHealth>,
}

#[derive(Serialize)]
struct HolePunchHealth {
    ok: bool,
    at: i64,
}

async fn health(state: Arc<AppState>) -> Response {
    if !state.is_ready() {
        return ApiError::NotReady.reply();
    }
    let ipfs = match state.identities() {
        Some(ids) => {
            let net = ids.node().net_status();
            IpfsHealth {
                running: true,
                peer_id: ids.node().peer_id(),
                peers: ids.node().peer_count().await,
                network: Some(net.network),
                dht: Some(if net.dht_server { "server" } else { "client" }),
                reachability: Some(net.reachability),
                relays: net.relayed.len(),
                hole_punch: net
                    .hole_punch
                    .map(|p| HolePunchHealth { ok: p.ok, at: p.at }),
            }
        }
        None => IpfsHealth {
            running: false,
            peer_id: "",
            peers: 0,
            network: None,
            dht: None,
            reachability: None,
            relays: 0,
            hole_punch: None,
        },
    };
    let storage = state.space().map(|s| StorageHealth {
        free_bytes: s.free,
        total_bytes: s.total,
        nearly_full: s.nearly_full(),
    });
    warp::reply::json(&Health {
        status: "ok",
        version: crate::VERSION,
        ipfs,
        storage,
    })
    .into_response()
}

/// `GET /v1/info` (protocol §7).
async fn info(state: Arc<AppState>) -> Response {
    let f = state.facts(Scope::Public).await;
    warp::reply::json(&Info {
        name: f.name,
        version: f.version,
        agreement_key: f.agreement_key,
        signing_key: f.signing_key,
        fingerprint: f.fingerprint,
        time: f.time,
        pairing_open: f.pairing_open,
        pairing_expires: f.pairing_expires,
        uptime_s: f.uptime_s,
        last_backup_at: f.last_backup_at,
    })
    .into_response()
}

/// `GET /v1/people` (protocol §7): each person's devices, names and last seen only.
async fn people(state: Arc<AppState>) -> Response {
    use crate::protocol::info::{People, Person, PersonDevice};
    let Some(store) = state.store() else {
        return ApiError::NotReady.reply();
    };
    let devices = match store.devices().await {
        Ok(d) => d,
        Err(e) => {
            log::error!("database: {e}");
            return ApiError::Internal.reply();
        }
    };
    let mut groups: Vec<(String, Person)> = Vec::new();
    for d in devices {
        let device = PersonDevice {
            name: d.name,
            last_seen: d.last_seen,
            pending: d.role == crate::protocol::Role::Pending,
        };
        match groups.iter_mut().find(|(g, _)| *g == d.group_id) {
            Some((_, person)) => person.devices.push(device),
            None => groups.push((
                d.group_id,
                Person {
                    devices: vec![device],
                },
            )),
        }
    }
    warp::reply::json(&People {
        people: groups.into_iter().map(|(_, p)| p).collect(),
    })
    .into_response()
}

/// `GET /v1/pairing/qr.svg`: the public window's QR code (until-paired or start-up); `404`
/// otherwise, also while a window an owner opened is open.
fn pairing_qr_svg(state: &AppState) -> Response {
    let Some((uri, _)) = state.pairing.public_window() else {
        return ApiError::NotFound.reply();
    };
    match web::qr_svg(&uri.encode()) {
        Some(svg) => {
            warp::reply::with_header(svg, header::CONTENT_TYPE, "image/svg+xml").into_response()
        }
        None => {
            log::error!("cannot draw the pairing QR code");
            ApiError::Internal.reply()
        }
    }
}

/// `POST /v1/pair` (protocol §2).
async fn pair(state: Arc<AppState>, ip: std::net::IpAddr, req: PairRequest) -> Response {
    if !state.pair_limit.hit(&ip) {
        return ApiError::TooManyAttempts.reply();
    }
    let Some(store) = state.store() else {
        return ApiError::NotReady.reply();
    };
    match state.pairing.pair(store, &req).await {
        Ok(sealed) => warp::reply::json(&sealed).into_response(),
        Err(e) => ApiError::from(e).reply(),
    }
}

/// `POST /v1/rpc` (protocol §3): open, dispatch, seal.
async fn rpc(state: Arc<AppState>, ip: std::net::IpAddr, env: Envelope) -> Response {
    match channel(&state, Caller::Ip(ip), env).await {
        Ok(sealed) => warp::reply::json(&sealed).into_response(),
        Err(e) => e.reply(),
    }
}

/// Who sent a channel request: an address (`POST /v1/rpc`) or a libp2p peer
/// (`/identity-box/channel/1`). Requests no paired device could have sent count per caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Caller {
    Ip(std::net::IpAddr),
    Peer(String),
}

/// One sealed request through the channel, however it came: checked, dispatched, and its answer
/// sealed; or the error the HTTP route answers with.
async fn channel(
    state: &AppState,
    caller: Caller,
    env: Envelope,
) -> Result<crate::pairing::wire::Sealed, ApiError> {
    if !state.bad_rpc_limit.allows(&caller) {
        return Err(ApiError::RateLimited);
    }
    let Some(store) = state.store() else {
        return Err(ApiError::NotReady);
    };
    let opened = match state.pairing.open_request(store, env).await {
        Ok(opened) => opened,
        Err(e) => return Err(refused(state, &caller, e)),
    };
    let request = opened.request();
    if let Ok(req) = &request
        && let Err(e) = state.pairing.admit(store, &opened, req.ts).await
    {
        return Err(refused(state, &caller, e));
    }
    if !state.device_limit.hit(&opened.device.device_id) {
        return Err(ApiError::RateLimited);
    }
    let response = match request {
        Ok(req) => {
            let call = rpc::Call {
                state,
                store,
                device: &opened.device,
            };
            rpc::dispatch(&call, &req, opened.nonce.clone()).await
        }
        Err(message) => rpc::parse_error(message, opened.nonce.clone()),
    };
    Ok(state.pairing.seal_response(&opened.device, &response))
}

/// A request of the channel over libp2p (`/identity-box/channel/1`, protocol §3): the bytes are
/// the envelope `POST /v1/rpc` takes; the answer is `{"status", "body"}` with the status and
/// body the HTTP route would answer with. The peer gets nothing it could not get over HTTP.
pub async fn channel_over_libp2p(state: Arc<AppState>, peer: String, request: Vec<u8>) -> Vec<u8> {
    let caller = Caller::Peer(peer);
    let answer = match serde_json::from_slice::<Envelope>(&request) {
        Err(e) => {
            let error = if state.bad_rpc_limit.allows(&caller) {
                state.bad_rpc_limit.hit(&caller);
                ApiError::BadRequest(format!("the request is not a channel envelope: {e}"))
            } else {
                ApiError::RateLimited
            };
            Err(error)
        }
        Ok(env) => channel(&state, caller, env).await,
    };
    let (status, body) = match answer {
        Ok(sealed) => (200, serde_json::to_value(&sealed).unwrap_or_default()),
        Err(e) => (e.status().as_u16(), e.body()),
    };
    serde_json::to_vec(&serde_json::json!({"status": status, "body": body}))
        .unwrap_or_else(|_| unreachable!("JSON values always serialize"))
}

/// A channel request refused before dispatch; those that no paired device could have sent
/// count towards the caller's limit.
fn refused(state: &AppState, caller: &Caller, e: ChannelError) -> ApiError {
    let error = ApiError::from(e);
    if matches!(
        error,
        ApiError::BadRequest(_) | ApiError::UnknownDevice | ApiError::BadBox
    ) {
        state.bad_rpc_limit.hit(caller);
    }
    error
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::crypto::{BoxKeys, BoxSeed};

    fn state() -> Arc<AppState> {
        let keys = Arc::new(BoxKeys::from_seed(&BoxSeed::from_bytes([3; 32])));
        let clock: Arc<dyn Clock> = Arc::new(crate::clock::ManualClock::new(1_700_000_000));
        let pairing = Pairing::new(
            keys.clone(),
            "Test box".into(),
            vec!["127.0.0.1:8080".into()],
            clock.clone(),
            crate::pairing::PairingConfig {
                window: crate::pairing::window::WindowConfig {
                    duration_secs: 600,
                    max_failures: 20,
                },
                startup_window_secs: 0,
                link_code_secs: 300,
                replay_capacity: 100,
                limits: crate::store::DeviceLimits::default(),
            },
        );
        Arc::new(AppState::new(
            "Test box".into(),
            keys.public(),
            clock,
            pairing,
            RateLimits {
                pair_per_minute: 30,
                bad_rpc_per_minute: 30,
                device_per_minute: 600,
                resolve_per_minute: 120,
            },
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
    async fn the_qr_code_is_served_only_while_pairing_is_open() {
        let state = state();
        let api = routes(state.clone(), limits());
        let get = || {
            warp::test::request()
                .path("/v1/pairing/qr.svg")
                .header("host", "localhost")
        };
        assert_eq!(get().reply(&api).await.status(), 404);
        // A window an owner or the console opened is nobody else's business.
        state.pairing().open_window();
        assert_eq!(get().reply(&api).await.status(), 404);
        state.pairing().open_until_paired();
        let res = get().reply(&api).await;
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "image/svg+xml");
        assert!(String::from_utf8_lossy(res.body()).contains("<svg"));
        let info = warp::test::request()
            .path("/v1/info")
            .header("host", "localhost")
            .reply(&api)
            .await;
        assert_eq!(json(info.body())["pairing_open"], true);
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
