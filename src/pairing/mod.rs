//! Pairing (protocol §2) and the request channel (protocol §3): windows and tokens, the handshake that
//! registers a device, and opening and sealing every request of a paired device.

mod devices;
pub mod link;
pub mod replay;
pub mod uri;
pub mod window;
pub mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::clock::Clock;
use crate::crypto::{self, BoxKeys, NONCE_LEN, SharedKey, b64u, b64u_decode};
use crate::protocol::Role;
use crate::store::{Device, DeviceLimits, NewRole, Paired, Store, StoreError};
pub use devices::{DeviceError, Devices};
use replay::{ReplayCache, ReplayVerdict};
use uri::PairingUri;
use window::{Refusal, WindowConfig, WindowKind, Windows};
use wire::{Envelope, PairAnswer, PairPayload, PairRequest, RpcRequest, RpcResponse, Sealed};

/// How far a request's `ts` may be from the box's clock (protocol §2, §3).
pub const MAX_SKEW_SECS: i64 = 300;

/// `last_seen` is written at most this often per device, to spare the SD card.
const LAST_SEEN_EVERY_SECS: i64 = 60;

/// The longest device name accepted, in characters.
pub const MAX_DEVICE_NAME: usize = 64;

/// How long a device paired in the start-up window stays pending after the window closed,
/// unless an owner approves it or it takes a backup over (protocol §2).
pub const PENDING_GRACE_SECS: i64 = 3600;

/// Why a pairing attempt failed (protocol §2's failure statuses).
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// The request is not a pairing request, or its box does not open.
    #[error("{0}")]
    Malformed(&'static str),
    /// No pairing window is open.
    #[error("pairing is closed")]
    Closed,
    /// The token is wrong (or was used already).
    #[error("wrong pairing code")]
    BadToken,
    /// That was one wrong token too many: the window is now closed.
    #[error("too many wrong pairing codes")]
    LockedOut,
    /// The device's key was revoked or superseded: it never pairs again.
    #[error("this device was removed from the box")]
    Revoked,
    /// The box has as many devices (or pending ones) as its quota allows.
    #[error("{0}")]
    Quota(String),
    /// The device key is not a usable X25519 key (all zeros, or of small order).
    #[error("the device key is not a usable X25519 public key")]
    WeakKey,
    /// `ts` is too far from the box's clock.
    #[error("timestamp out of range")]
    Stale { box_time: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a channel request was refused before dispatch (protocol §3).
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The envelope is not valid JSON of the right shape.
    #[error("{0}")]
    Malformed(&'static str),
    /// No paired device has this id (never paired, or revoked).
    #[error("unknown device")]
    UnknownDevice,
    /// The box does not open with the device's key.
    #[error("the request does not open")]
    BadBox,
    /// `ts` is outside the window, or from before the box started.
    #[error("timestamp out of range")]
    Stale { box_time: i64 },
    /// The nonce was used already.
    #[error("replayed request")]
    Replay,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A request that opened with a paired device's key. Its JSON is parsed by the caller, which
/// borrows the params from [`OpenedRequest::plain`] (a bundle is megabytes: no copy), then
/// admitted with [`Pairing::admit`] (freshness, replay).
#[derive(Debug)]
pub struct OpenedRequest {
    pub device: Device,
    /// The request's JSON.
    pub plain: zeroize::Zeroizing<Vec<u8>>,
    /// The request's nonce, b64u (echoed in the answer).
    pub nonce: String,
    nonce_bytes: [u8; NONCE_LEN],
}

impl OpenedRequest {
    /// The JSON-RPC request, or why its JSON is not one (answered inside the channel).
    pub fn request(&self) -> Result<RpcRequest<'_>, String> {
        serde_json::from_slice(&self.plain).map_err(|e| format!("not a JSON-RPC request: {e}"))
    }
}

/// Settings of pairing.
#[derive(Debug, Clone, Copy)]
pub struct PairingConfig {
    pub window: WindowConfig,
    /// Seconds the start-up window stays open after a power cycle (0: none).
    pub startup_window_secs: i64,
    /// Seconds a link code works (`pairing.link_code_secs`).
    pub link_code_secs: i64,
    /// Nonces the replay cache holds at most.
    pub replay_capacity: usize,
    /// How many devices, and pending ones, the box may have.
    pub limits: DeviceLimits,
}

/// The box's pairing and channel state.
#[derive(Debug)]
pub struct Pairing {
    keys: Arc<BoxKeys>,
    name: String,
    addrs: Vec<String>,
    clock: Arc<dyn Clock>,
    /// When the box started, on the wall clock and on the monotonic one.
    started_at: i64,
    started: std::time::Instant,
    startup_window_secs: i64,
    link_code_secs: i64,
    limits: DeviceLimits,
    windows: Mutex<Windows>,
    replay: Mutex<ReplayCache>,
    last_seen_written: Mutex<HashMap<String, i64>>,
    /// Precomputed `crypto_box` keys per device key (one X25519 per device, not per message).
    shared_keys: Mutex<HashMap<[u8; 32], Arc<SharedKey>>>,
    /// Link codes handed out (protocol §2, "Linking").
    links: Mutex<link::LinkBook>,
}

/// Shared keys kept at most; the cache starts over when full (a box has a few devices).
const SHARED_KEY_CACHE: usize = 256;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Pairing {
    /// `addrs` are the `host:port` addresses the QR code lists.
    pub fn new(
        keys: Arc<BoxKeys>,
        name: String,
        addrs: Vec<String>,
        clock: Arc<dyn Clock>,
        config: PairingConfig,
    ) -> Self {
        Self {
            keys,
            name,
            addrs,
            started_at: clock.now_unix(),
            started: std::time::Instant::now(),
            clock,
            startup_window_secs: config.startup_window_secs,
            link_code_secs: config.link_code_secs,
            limits: config.limits,
            windows: Mutex::new(Windows::new(config.window)),
            replay: Mutex::new(ReplayCache::new(config.replay_capacity)),
            last_seen_written: Mutex::new(HashMap::new()),
            shared_keys: Mutex::new(HashMap::new()),
            links: Mutex::new(link::LinkBook::default()),
        }
    }

    fn shared_key(&self, device_key: &[u8; 32]) -> Arc<SharedKey> {
        let mut cache = lock(&self.shared_keys);
        if let Some(k) = cache.get(device_key) {
            return k.clone();
        }
        if cache.len() >= SHARED_KEY_CACHE {
            cache.clear();
        }
        let key = Arc::new(SharedKey::new(self.keys.agreement_secret(), device_key));
        cache.insert(*device_key, key.clone());
        key
    }

    /// Keeps a window open until the first device pairs (called while the box has none).
    pub fn open_until_paired(&self) {
        lock(&self.windows).open_until_paired(self.clock.now_unix());
    }

    /// Opens the start-up window, for `pairing.startup_window_secs` from now: the daemon calls
    /// it after a real power cycle (a new boot id), not when systemd restarts the service.
    pub fn open_startup_window(&self) {
        if self.startup_window_secs > 0 {
            lock(&self.windows).open_startup(self.clock.now_unix(), self.startup_window_secs);
        }
    }

    /// Opens a window of the configured length (an owner's `pairing.open`, or the console) and
    /// returns its URI and closing time: only its caller sees them.
    pub fn open_window(&self) -> (PairingUri, Option<i64>) {
        let open = lock(&self.windows).open(self.clock.now_unix());
        (self.uri(open.token.as_bytes()), open.expires_at)
    }

    /// The public window's URI and closing time (`None`: it lasts until a first pairing), if
    /// one is open: the until-paired or the start-up window, whose QR code anyone on the
    /// network may see on the web page.
    pub fn public_window(&self) -> Option<(PairingUri, Option<i64>)> {
        let open = lock(&self.windows).public(self.clock.now_unix())?;
        Some((self.uri(open.token.as_bytes()), open.expires_at))
    }

    /// Whether the public window is the until-paired one (the console may then show it).
    pub fn until_paired(&self) -> bool {
        lock(&self.windows)
            .public(self.clock.now_unix())
            .is_some_and(|w| w.kind == WindowKind::UntilPaired)
    }

    pub fn is_open(&self) -> bool {
        lock(&self.windows).is_open(self.clock.now_unix())
    }

    pub fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// The paired devices, and who may change whom.
    pub fn devices<'a>(&'a self, store: &'a Store) -> Devices<'a> {
        Devices {
            store,
            clock: self.clock.as_ref(),
        }
    }

    fn uri(&self, token: &[u8; 16]) -> PairingUri {
        PairingUri {
            name: self.name.clone(),
            key: self.keys.agreement_public(),
            token: *token,
            addrs: self.addrs.clone(),
            peer: Some(self.keys.ipfs_peer_id()),
        }
    }

    /// The pairing handshake (protocol §2): opens the request, checks window, time and token,
    /// registers the device and seals the answer to it.
    pub async fn pair(&self, store: &Store, req: &PairRequest) -> Result<Sealed, PairError> {
        let OpenedPair {
            device_key,
            payload,
            name,
        } = open_pair_request(&self.keys, req)?;
        let now = self.clock.now_unix();
        if !lock(&self.windows).is_open(now) {
            return Err(PairError::Closed);
        }
        if !fresh(payload.ts, now) {
            return Err(PairError::Stale { box_time: now });
        }
        // Before the token is used up: a removed key must not spend the code a household
        // member is about to scan. (The store checks again when it registers the device.)
        if store.is_removed_key(&device_key).await? {
            log::warn!("a removed device tried to pair again; refused");
            return Err(PairError::Revoked);
        }
        let token = b64u_decode(&payload.token).unwrap_or_default();
        let redeemed = lock(&self.windows).redeem(&token, now);
        let redeemed = match redeemed {
            Ok(r) => r,
            Err(Refusal::Closed) => return Err(PairError::Closed),
            Err(Refusal::BadToken { locked_out: false }) => return Err(PairError::BadToken),
            Err(Refusal::BadToken { locked_out: true }) => {
                log::warn!("pairing window closed after too many wrong pairing codes");
                store
                    .add_event(
                        "lockout",
                        None,
                        "pairing window closed after too many wrong codes".into(),
                        now,
                    )
                    .await?;
                return Err(PairError::LockedOut);
            }
        };

        let role = match redeemed.kind {
            WindowKind::UntilPaired => NewRole::Owner,
            WindowKind::Opened => NewRole::Member,
            WindowKind::Startup => NewRole::Pending {
                until: redeemed
                    .closes_at
                    .unwrap_or(now)
                    .saturating_add(PENDING_GRACE_SECS),
            },
        };
        let device_id = crypto::device_id(&device_key);
        let device = match store
            .pair_device(device_id, device_key, name, role, self.limits, now)
            .await?
        {
            Paired::Device(d) => d,
            Paired::Removed => {
                log::warn!("a revoked device tried to pair again; refused");
                return Err(PairError::Revoked);
            }
            Paired::Full { pending: false } => {
                return Err(PairError::Quota(format!(
                    "the box has {} devices, as many as it allows (quota.devices); an owner can \
                     remove one first",
                    self.limits.devices
                )));
            }
            Paired::Full { pending: true } => {
                return Err(PairError::Quota(format!(
                    "{} phones are already waiting for approval (quota.pending_devices); an owner \
                     can approve them, or they are removed an hour after pairing closes",
                    self.limits.pending
                )));
            }
        };
        log::info!(
            "paired device {} ({:?}) as {:?}",
            device.device_id,
            device.name,
            device.role
        );
        let answer = PairAnswer {
            device_id: device.device_id,
            box_name: self.name.clone(),
            box_signing_key: b64u(&self.keys.signing_public()),
            role: device.role,
            request_nonce: req.nonce.clone(),
        };
        Ok(self.seal(&device_key, &answer, Some(1)))
    }

    /// Opens a channel request (protocol §3): the device, the box, the time, the nonce.
    /// Opens a request of a paired device. The envelope is taken by value: its base64 is the
    /// largest buffer of a request (16 MiB at most), and it is freed as soon as it is decoded,
    /// before the plaintext is made.
    pub async fn open_request(
        &self,
        store: &Store,
        env: Envelope,
    ) -> Result<OpenedRequest, ChannelError> {
        if env.device.len() != 32 || !env.device.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ChannelError::UnknownDevice);
        }
        let device = store
            .device(&env.device)
            .await?
            .ok_or(ChannelError::UnknownDevice)?;
        if device.role == Role::Pending
            && device
                .pending_until
                .is_some_and(|t| t <= self.clock.now_unix())
        {
            // Its time ran out: it is removed (the next listing or pairing sweeps it).
            store.expire_pending(self.clock.now_unix()).await?;
            return Err(ChannelError::UnknownDevice);
        }
        let Envelope { nonce, boxed, .. } = env;
        let (nonce_bytes, plain) = open_boxed(&self.shared_key(&device.device_key), &nonce, boxed)?;
        Ok(OpenedRequest {
            device,
            plain: zeroize::Zeroizing::new(plain),
            nonce,
            nonce_bytes,
        })
    }

    /// Admits an opened request whose JSON carried `ts`: refuses it when `ts` is outside the
    /// window or from before the box started, or when its nonce was seen (protocol §3).
    pub async fn admit(
        &self,
        store: &Store,
        opened: &OpenedRequest,
        ts: i64,
    ) -> Result<(), ChannelError> {
        let now = self.clock.now_unix();
        // The box's start: its wall-clock time, moved back by as much as the clock was stepped
        // back since (measured on the monotonic clock), so that a backward step does not make
        // every request "earlier than the start".
        let since_start = i64::try_from(self.started.elapsed().as_secs()).unwrap_or(i64::MAX);
        let started = self.started_at.min(now.saturating_sub(since_start));
        if !fresh(ts, now) || ts < started {
            return Err(ChannelError::Stale { box_time: now });
        }
        let verdict =
            lock(&self.replay).check_and_insert(opened.nonce_bytes, ts, now - MAX_SKEW_SECS);
        match verdict {
            ReplayVerdict::Fresh => {}
            ReplayVerdict::Replay => return Err(ChannelError::Replay),
            ReplayVerdict::BelowFloor => return Err(ChannelError::Stale { box_time: now }),
        }
        self.note_seen(store, &opened.device.device_id, now).await;
        Ok(())
    }

    /// The nonces to remember across a restart (see [`Pairing::remember_nonces`]).
    pub fn recent_nonces(&self) -> Vec<([u8; 24], i64)> {
        lock(&self.replay).entries()
    }

    /// Loads nonces saved by the previous run, so its requests cannot be replayed to this one.
    pub fn remember_nonces(&self, nonces: Vec<([u8; 24], i64)>) {
        let now = self.clock.now_unix();
        let mut replay = lock(&self.replay);
        for (nonce, ts) in nonces {
            replay.check_and_insert(nonce, ts, now - MAX_SKEW_SECS);
        }
    }

    /// Seals a JSON-RPC response to the device that sent the request.
    pub fn seal_response(&self, device: &Device, response: &RpcResponse) -> Sealed {
        let json = serde_json::to_vec(response)
            .unwrap_or_else(|_| unreachable!("wire types always serialize"));
        let nonce = crypto::random_nonce();
        let boxed = self.shared_key(&device.device_key).seal(&nonce, &json);
        Sealed {
            v: None,
            nonce: b64u(&nonce),
            boxed: b64u(&boxed),
        }
    }

    fn seal<T: serde::Serialize>(
        &self,
        device_key: &[u8; 32],
        value: &T,
        v: Option<u32>,
    ) -> Sealed {
        let nonce = crypto::random_nonce();
        let json = serde_json::to_vec(value)
            .unwrap_or_else(|_| unreachable!("wire types always serialize"));
        let boxed = crypto::nacl_box(self.keys.agreement_secret(), device_key, &nonce, &json);
        Sealed {
            v,
            nonce: b64u(&nonce),
            boxed: b64u(&boxed),
        }
    }

    async fn note_seen(&self, store: &Store, device_id: &str, now: i64) {
        let due = {
            let mut written = lock(&self.last_seen_written);
            if written
                .get(device_id)
                .is_none_or(|&last| now.saturating_sub(last) >= LAST_SEEN_EVERY_SECS)
            {
                written.insert(device_id.to_owned(), now);
                true
            } else {
                false
            }
        };
        if due && let Err(e) = store.touch_devices(vec![(device_id.to_owned(), now)]).await {
            log::warn!("cannot record when device {device_id} was last seen: {e}");
        }
    }
}

/// Whether a request's `ts` is within [`MAX_SKEW_SECS`] of the box's clock (any `i64`: no
/// overflow, so `i64::MIN` is as stale as it looks).
fn fresh(ts: i64, now: i64) -> bool {
    ts.abs_diff(now) <= MAX_SKEW_SECS.unsigned_abs()
}

/// A pairing request, opened and checked for shape (not yet for window, time or token).
#[derive(Debug)]
pub struct OpenedPair {
    pub device_key: [u8; 32],
    pub payload: PairPayload,
    /// The device name, trimmed and checked.
    pub name: String,
}

/// Decodes and opens a pairing request with the box's key: every check that needs no state.
pub fn open_pair_request(keys: &BoxKeys, req: &PairRequest) -> Result<OpenedPair, PairError> {
    if req.v != 1 {
        return Err(PairError::Malformed("unsupported pairing version"));
    }
    let device_key = decode_array::<32>(&req.device_key)
        .ok_or(PairError::Malformed("device_key must be 32 bytes, b64u"))?;
    if crypto::check_x25519_public(&device_key).is_err() {
        return Err(PairError::WeakKey);
    }
    let nonce = decode_array::<NONCE_LEN>(&req.nonce)
        .ok_or(PairError::Malformed("nonce must be 24 bytes, b64u"))?;
    let boxed = b64u_decode(&req.boxed).map_err(|_| PairError::Malformed("box must be b64u"))?;
    let plain = zeroize::Zeroizing::new(
        crypto::nacl_box_open(keys.agreement_secret(), &device_key, &nonce, &boxed).ok_or(
            PairError::Malformed("the request does not open with the box's key"),
        )?,
    );
    let payload: PairPayload = serde_json::from_slice(&plain)
        .map_err(|_| PairError::Malformed("the sealed payload is not {token, device_name, ts}"))?;
    let name = valid_device_name(&payload.device_name).ok_or(PairError::Malformed(
        "device_name must be 1 to 64 printable characters",
    ))?;
    Ok(OpenedPair {
        device_key,
        payload,
        name,
    })
}

/// Decodes a channel envelope and opens its box with a device's key: the request's nonce and
/// plaintext, or why not.
pub fn open_envelope(
    keys: &BoxKeys,
    device_key: &[u8; 32],
    env: &Envelope,
) -> Result<([u8; NONCE_LEN], Vec<u8>), ChannelError> {
    let shared = SharedKey::new(keys.agreement_secret(), device_key);
    open_boxed(&shared, &env.nonce, env.boxed.clone())
}

/// Decodes and opens a box; the base64 text is dropped once decoded.
fn open_boxed(
    shared: &SharedKey,
    nonce: &str,
    boxed: String,
) -> Result<([u8; NONCE_LEN], Vec<u8>), ChannelError> {
    let nonce = decode_array::<NONCE_LEN>(nonce)
        .ok_or(ChannelError::Malformed("nonce must be 24 bytes, b64u"))?;
    let bytes = b64u_decode(&boxed).map_err(|_| ChannelError::Malformed("box must be b64u"))?;
    drop(boxed);
    let plain = shared.open(&nonce, &bytes).ok_or(ChannelError::BadBox)?;
    Ok((nonce, plain))
}

/// A device name as stored: trimmed, 1 to 64 characters, no control characters.
pub fn valid_device_name(name: &str) -> Option<String> {
    let name = name.trim();
    let len = name.chars().count();
    (len > 0 && len <= MAX_DEVICE_NAME && !name.chars().any(char::is_control))
        .then(|| name.to_owned())
}

fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    b64u_decode(text).ok()?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::crypto::{BoxSeed, Secret32};

    fn setup() -> (Pairing, Arc<ManualClock>, Arc<BoxKeys>) {
        let keys = Arc::new(BoxKeys::from_seed(&BoxSeed::from_bytes([5; 32])));
        let clock = Arc::new(ManualClock::new(1_000_000));
        let pairing = Pairing::new(
            keys.clone(),
            "box".into(),
            vec!["127.0.0.1:1".into()],
            clock.clone(),
            PairingConfig {
                window: WindowConfig {
                    duration_secs: 600,
                    max_failures: 20,
                },
                startup_window_secs: 0,
                link_code_secs: 300,
                replay_capacity: 10,
                limits: DeviceLimits::default(),
            },
        );
        (pairing, clock, keys)
    }

    fn request(keys: &BoxKeys, token: &[u8; 16], ts: i64) -> PairRequest {
        let device = Secret32::new([8; 32]);
        let nonce = crypto::random_nonce();
        let payload = serde_json::json!({"token": b64u(token), "device_name": "phone", "ts": ts});
        PairRequest {
            v: 1,
            device_key: b64u(&crypto::x25519_public(&device)),
            nonce: b64u(&nonce),
            boxed: b64u(&crypto::nacl_box(
                &device,
                &keys.agreement_public(),
                &nonce,
                payload.to_string().as_bytes(),
            )),
        }
    }

    proptest::proptest! {
        /// Any request a device seals opens to the same bytes and parses to the same request.
        #[test]
        fn envelopes_round_trip(
            method in "[a-z.]{1,20}",
            id in proptest::prelude::any::<u32>(),
            ts in proptest::prelude::any::<i64>(),
            text in "\\PC{0,64}",
        ) {
            let keys = BoxKeys::from_seed(&BoxSeed::from_bytes([5; 32]));
            let device = Secret32::new([8; 32]);
            let request = serde_json::json!({
                "jsonrpc": "2.0",
                "id": id,
                "method": method,
                "params": { "text": text },
                "ts": ts,
            });
            let plain = serde_json::to_vec(&request).unwrap();
            let nonce = crypto::random_nonce();
            let env = Envelope {
                device: "00".repeat(16),
                nonce: b64u(&nonce),
                boxed: b64u(&crypto::nacl_box(&device, &keys.agreement_public(), &nonce, &plain)),
            };
            let wire = serde_json::to_string(&env).unwrap();
            let env: Envelope = serde_json::from_str(&wire).unwrap();
            let (opened_nonce, opened) =
                open_envelope(&keys, &crypto::x25519_public(&device), &env).unwrap();
            proptest::prop_assert_eq!(opened_nonce, nonce);
            let parsed: RpcRequest = serde_json::from_slice(&opened).unwrap();
            proptest::prop_assert_eq!(parsed.jsonrpc.as_ref(), "2.0");
            proptest::prop_assert_eq!(parsed.id, serde_json::json!(id));
            proptest::prop_assert_eq!(parsed.method.as_ref(), method.as_str());
            proptest::prop_assert_eq!(parsed.ts, ts);
            let params: serde_json::Value =
                serde_json::from_str(parsed.params.unwrap().get()).unwrap();
            proptest::prop_assert_eq!(params, serde_json::json!({ "text": text }));
            // With another device's key it does not open.
            let other = crypto::x25519_public(&Secret32::new([9; 32]));
            proptest::prop_assert!(matches!(
                open_envelope(&keys, &other, &env),
                Err(ChannelError::BadBox)
            ));
        }
    }

    #[test]
    fn the_time_check_cannot_overflow() {
        assert!(fresh(1_000, 1_000 + MAX_SKEW_SECS));
        assert!(!fresh(1_000, 1_001 + MAX_SKEW_SECS));
        for (ts, now) in [
            (i64::MIN, 0),
            (i64::MAX, 0),
            (i64::MIN, i64::MAX),
            (0, i64::MIN),
        ] {
            assert!(!fresh(ts, now), "{ts} {now}");
        }
    }

    #[tokio::test]
    async fn a_clock_stepped_back_after_the_start_locks_nobody_out() {
        let (pairing, clock, _) = setup();
        let store = Store::open_in_memory(0).await.unwrap();
        let opened = |n: u8| OpenedRequest {
            device: Device {
                device_id: "aa".into(),
                device_key: [1; 32],
                name: "phone".into(),
                role: Role::Owner,
                paired_at: 0,
                last_seen: None,
                pending_until: None,
                group_id: "aa".into(),
            },
            plain: zeroize::Zeroizing::new(Vec::new()),
            nonce: String::new(),
            nonce_bytes: [n; NONCE_LEN],
        };
        // Before the start: refused (a request captured before a crash).
        let err = pairing.admit(&store, &opened(1), 1_000_000 - 10).await;
        assert!(matches!(err, Err(ChannelError::Stale { .. })), "{err:?}");
        // The time server steps the clock back an hour: today's requests still pass.
        clock.set(1_000_000 - 3_600);
        pairing
            .admit(&store, &opened(2), 1_000_000 - 3_600)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_expired_window_refuses_its_own_token() {
        let (pairing, clock, keys) = setup();
        let store = Store::open_in_memory(0).await.unwrap();
        let (uri, expires) = pairing.open_window();
        assert_eq!(expires, Some(1_000_600));
        clock.set(1_000_600);
        let err = pairing
            .pair(&store, &request(&keys, &uri.token, 1_000_600))
            .await
            .unwrap_err();
        assert!(matches!(err, PairError::Closed), "{err:?}");
    }

    #[tokio::test]
    async fn a_stale_pair_request_keeps_the_token() {
        let (pairing, _clock, keys) = setup();
        let store = Store::open_in_memory(0).await.unwrap();
        let (uri, _) = pairing.open_window();
        let err = pairing
            .pair(&store, &request(&keys, &uri.token, 1_000_000 - 301))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                PairError::Stale {
                    box_time: 1_000_000
                }
            ),
            "{err:?}"
        );
        // The token was not used up by the stale attempt.
        pairing
            .pair(&store, &request(&keys, &uri.token, 1_000_000))
            .await
            .unwrap();
    }
}
