//! The reference client: plays the phone (protocol §2, §3) for tests, trials and `identity-box client`.
//!
//! It pins the box key from the QR code and refuses any answer that does not open with it. Its
//! state (box pin, device key, clock offset) lives in one JSON file written atomically, mode 0600.

mod backup;
mod group;
pub mod mnemonic;

pub use backup::{
    BackupState, Bundle, Drill, Named, Peer, PeerRemoved, Restored, RestoredArchive, drill,
};
pub use group::{LinkApproval, LinkProgress, LinkSecrets};

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::clock::Clock;
use crate::crypto::{self, Secret32, SharedKey, b64u, b64u_decode};
use crate::fsutil;
use crate::pairing::uri::{PairingUri, UriError};
use crate::pairing::wire::{Envelope, PairAnswer, PairPayload, PairRequest, RpcResponse, Sealed};
use crate::protocol::identity::{Deleted, IdentityCreate, IdentityDelete, IdentityView, KeysParam};
use crate::protocol::info::Info;
use crate::protocol::{Method, Role};

/// Why a client operation failed; each message tells a person what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Uri(#[from] UriError),
    /// No address of the box answered.
    #[error("cannot reach the box at {addrs}: {detail}. Is it switched on and on this network?")]
    Unreachable { addrs: String, detail: String },
    /// The answer did not come from the box whose key was pinned (possible impostor).
    #[error(
        "the device that answered is not the box from the QR code ({0}); nothing was sent to it. \
         Check that you are on your home network and scan the code on the box's own screen"
    )]
    WrongBox(&'static str),
    /// The box refused the request outside the channel (HTTP error with `{error, message}`).
    #[error("the box refused: {message} ({kind})")]
    Refused {
        status: u16,
        kind: String,
        message: String,
    },
    /// A method failed inside the channel.
    #[error("{message} ({kind})")]
    Rpc { kind: String, message: String },
    /// The state file cannot be read or written.
    #[error("client state {path}: {detail}")]
    State { path: String, detail: String },
    /// The box answered something that is not the protocol.
    #[error("unexpected answer from the box: {0}")]
    Protocol(String),
    /// The backup phrase has an unknown word or a bad checksum.
    #[error(transparent)]
    Mnemonic(#[from] mnemonic::MnemonicError),
    /// Restore: the box holds no backup of anyone.
    #[error(
        "this box holds no backup at all. If it is a new or reset box and the backup was saved \
         to a USB stick, restore from that file with `identity-box restore FILE`"
    )]
    NoBackupOnBox,
    /// Restore: no backup on the box belongs to this phrase.
    #[error(
        "no backup on this box matches this backup phrase. Check that it is the phrase written \
         down when backups were turned on for this household"
    )]
    NoMatchingBackup,
    /// Restore: the backup is there but fails a hash or does not open.
    #[error(
        "the backup for this phrase is on the box but it is damaged ({0}); nothing was \
         changed. Try an older version, or the copy saved on a USB stick"
    )]
    BackupDamaged(String),
    /// A restore drill: the archive holds the backup of another phrase.
    #[error(
        "this archive holds another backup than the one these words open (the words belong \
         to backup {words}, the archive to backup {archive}); check the words, or the file"
    )]
    ArchiveOfOtherWords { words: String, archive: String },
    /// A backup command before `backup enable`.
    #[error("backups are not turned on for this phone: run `client backup enable` first")]
    BackupsOff,
}

impl ClientError {
    /// The command line's exit status: restore's outcomes each have their own, so that a
    /// script (or an app's test) can tell them apart; everything else is 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            ClientError::Mnemonic(mnemonic::MnemonicError::Checksum) => 4,
            ClientError::Mnemonic(_) => 3,
            ClientError::NoBackupOnBox => 5,
            ClientError::NoMatchingBackup | ClientError::ArchiveOfOtherWords { .. } => 6,
            ClientError::BackupDamaged(_) => 7,
            _ => 1,
        }
    }

    /// The machine-readable kind of a refusal or method error.
    pub fn kind(&self) -> Option<&str> {
        match self {
            ClientError::Refused { kind, .. } | ClientError::Rpc { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

/// The pinned box.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BoxPin {
    pub name: String,
    /// The agreement key from the QR code, b64u.
    pub agreement_key: String,
    pub signing_key: String,
    pub fingerprint: String,
    /// `host:port`, the last one that answered first.
    pub addrs: Vec<String>,
    /// The box's IPFS peer id (`12D3…`), which a connection over libp2p is pinned to: from the
    /// pairing code, or `box.info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_id: Option<String>,
    /// The box's relayed addresses as `box.info` last gave them: how the client reaches the box
    /// from outside the home (protocol §3, "The channel over libp2p").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relayed: Vec<String>,
}

/// This device's identity towards the box.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceCreds {
    pub device_id: String,
    /// The device's X25519 secret, b64u in the file.
    #[serde(with = "secret_b64u")]
    pub secret: Secret32,
    pub name: String,
    pub role: Role,
}

/// Everything the client keeps between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientState {
    pub v: u32,
    #[serde(rename = "box")]
    pub box_pin: BoxPin,
    pub device: DeviceCreds,
    /// Box clock minus this machine's clock, seconds.
    pub clock_offset: i64,
    /// The identities this phone owns, with their private keys (the address book's own part).
    #[serde(default)]
    pub identities: Vec<OwnIdentity>,
    /// Other people's DIDs (the address book's second part).
    #[serde(default)]
    pub peers: Vec<Peer>,
    /// The backup secrets, once backups are turned on (they let the phone upload bundles by
    /// itself; the 24 words are shown once and not kept).
    #[serde(default)]
    pub backup: Option<BackupState>,
    /// The person's group key (protocol §5, "Bundle format v2"), made at the first v2 bundle
    /// or given by the device that linked this one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "secret_b64u_opt"
    )]
    pub group_key: Option<Secret32>,
    /// The code of this device's link QR while it waits to be linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_code: Option<String>,
}

/// An identity this phone owns. Its document lists the public halves of these keys; the private
/// halves never leave the phone (only inside its encrypted backup bundle).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OwnIdentity {
    pub did: String,
    pub name: String,
    /// Ed25519 seed of the document's `#signing-key`.
    #[serde(with = "secret_b64u")]
    pub signing_secret: Secret32,
    /// X25519 secret of the document's `#agreement-key`.
    #[serde(with = "secret_b64u")]
    pub agreement_secret: Secret32,
    /// The document as the box last published it (so that a new box can publish it again,
    /// services included). An addition to protocol §5's bundle entry; readers ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<Value>,
}

impl OwnIdentity {
    /// The public keys as `identity.create` and `identity.update` take them.
    pub fn keys_param(&self) -> KeysParam {
        let signing = ed25519_dalek::SigningKey::from_bytes(self.signing_secret.expose());
        KeysParam {
            signing: b64u(signing.verifying_key().as_bytes()),
            agreement: b64u(&crypto::x25519_public(&self.agreement_secret)),
        }
    }
}

pub(crate) mod secret_b64u_opt {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::crypto::Secret32;

    #[derive(Serialize, Deserialize)]
    struct Wrap(#[serde(with = "super::secret_b64u")] Secret32);

    pub fn serialize<S: Serializer>(s: &Option<Secret32>, ser: S) -> Result<S::Ok, S::Error> {
        s.clone().map(Wrap).serialize(ser)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Secret32>, D::Error> {
        Ok(Option::<Wrap>::deserialize(de)?.map(|w| w.0))
    }
}

pub(crate) mod secret_b64u {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::crypto::{Secret32, b64u, b64u_decode};

    pub fn serialize<S: Serializer>(s: &Secret32, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(&b64u(s.expose()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(de: D) -> Result<Secret32, D::Error> {
        let text = zeroize::Zeroizing::new(String::deserialize(de)?);
        let bytes = zeroize::Zeroizing::new(
            b64u_decode(&text).map_err(|_| serde::de::Error::custom("secret is not b64u"))?,
        );
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| serde::de::Error::custom("secret must be 32 bytes"))?;
        Ok(Secret32::new(array))
    }
}

/// A paired reference client.
#[derive(Debug)]
pub struct Client {
    state: ClientState,
    clock: Arc<dyn Clock>,
    agent: ureq::Agent,
    next_id: u64,
    /// The `crypto_box` key of this device and the pinned box, computed once.
    shared: SharedKey,
    /// Set: requests go to the box over libp2p through its relay, not over HTTP.
    relay: Option<RelayLink>,
}

/// A libp2p node of the client's own, for the channel over libp2p: an IPFS node with a new
/// key each run, its repository in a temporary directory removed with it.
struct RelayLink {
    runtime: tokio::runtime::Runtime,
    node: crate::ipfs::Node,
    repo: std::path::PathBuf,
}

impl std::fmt::Debug for RelayLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayLink")
            .field("node", &self.node)
            .finish()
    }
}

impl Drop for RelayLink {
    // Without the feature `node` there is no node to stop (and no link is ever made).
    #[cfg_attr(not(feature = "node"), allow(unreachable_code, unused_variables))]
    fn drop(&mut self) {
        let node = self.node.clone();
        self.runtime.block_on(node.stop());
        let _ = std::fs::remove_dir_all(&self.repo);
    }
}

impl RelayLink {
    fn start() -> Result<RelayLink, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let key = Secret32::random().map_err(|e| e.to_string())?;
        let repo =
            std::env::temp_dir().join(format!("idbox-client-{}", hex::encode(&key.expose()[..8])));
        let config = crate::ipfs::NodeConfig {
            network: crate::ipfs::Network::Lan,
            repo: repo.clone(),
            // Listening (on a port of the system's choosing) lets a hole punch reuse the port.
            listen: vec!["/ip4/0.0.0.0/tcp/0".into()],
            bootstrap: Vec::new(),
            mdns: false,
            delegated_routing: Vec::new(),
            announce: Vec::new(),
            relays: Vec::new(),
            relay_server: Default::default(),
            channel_max_bytes: CHANNEL_MAX_BYTES,
        };
        let node = runtime
            .block_on(crate::ipfs::Node::start(&config, key.expose()))
            .map_err(|e| e.to_string())?;
        Ok(RelayLink {
            runtime,
            node,
            repo,
        })
    }
}

/// The largest request or answer the client sends or reads over libp2p (the box's
/// `http.max_body_bytes` by default).
const CHANNEL_MAX_BYTES: usize = 16 * 1024 * 1024;

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .build()
}

/// The result of one HTTP exchange: status and JSON body.
struct Answer {
    status: u16,
    body: Value,
}

impl Client {
    /// Pairs with the box of a QR code: pins its key, registers this device as `device_name`
    /// with a new device key.
    pub fn pair(
        uri: &str,
        device_name: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Client, ClientError> {
        let secret = Secret32::random().map_err(|e| ClientError::Protocol(e.to_string()))?;
        Self::pair_with_key(uri, device_name, secret, clock)
    }

    /// Pairs with the device key `secret` (a device that pairs again keeps its key; tests use
    /// it to show that a removed key stays out).
    pub fn pair_with_key(
        uri: &str,
        device_name: &str,
        secret: Secret32,
        clock: Arc<dyn Clock>,
    ) -> Result<Client, ClientError> {
        let uri = PairingUri::parse(uri)?;
        let agent = agent();
        let pinned = b64u(&uri.key);
        let device_key = crypto::x25519_public(&secret);

        // Find an address that answers, and learn the box's clock from it.
        let mut last_error = String::new();
        let mut found = None;
        for (i, addr) in uri.addrs.iter().enumerate() {
            match get_json(&agent, &format!("http://{addr}/v1/info")) {
                Ok(answer) => {
                    let info: Info = serde_json::from_value(answer.body)
                        .map_err(|_| ClientError::WrongBox("its /v1/info is not a box's facts"))?;
                    if info.agreement_key != pinned {
                        return Err(ClientError::WrongBox("it announces another key"));
                    }
                    found = Some((i, info.time - clock.now_unix()));
                    break;
                }
                Err(e) => last_error = e,
            }
        }
        let Some((addr_index, mut offset)) = found else {
            return Err(ClientError::Unreachable {
                addrs: uri.addrs.join(", "),
                detail: last_error,
            });
        };
        let addr = &uri.addrs[addr_index];

        let mut retried = false;
        let (answer, nonce) = loop {
            let payload = PairPayload {
                token: b64u(&uri.token),
                device_name: device_name.to_owned(),
                ts: clock.now_unix() + offset,
            };
            let plain = zeroize::Zeroizing::new(
                serde_json::to_vec(&payload).map_err(|e| ClientError::Protocol(e.to_string()))?,
            );
            let nonce = crypto::random_nonce();
            let request = PairRequest {
                v: 1,
                device_key: b64u(&device_key),
                nonce: b64u(&nonce),
                boxed: b64u(&crypto::nacl_box(&secret, &uri.key, &nonce, &plain)),
            };
            let answer = post_json(&agent, &format!("http://{addr}/v1/pair"), &request).map_err(
                |detail| ClientError::Unreachable {
                    addrs: addr.clone(),
                    detail,
                },
            )?;
            match stale_box_time(&answer) {
                Some(box_time) if !retried => {
                    offset = box_time - clock.now_unix();
                    retried = true;
                }
                _ => break (answer, nonce),
            }
        };
        let answer: PairAnswer = open_answer(
            &SharedKey::new(&secret, &uri.key),
            answer,
            "the pairing answer is not {device_id, …}",
        )?;
        check_request_nonce(&answer.request_nonce, &nonce)?;
        if answer.device_id != crypto::device_id(&device_key) {
            return Err(ClientError::Protocol(
                "the box named another device id".into(),
            ));
        }
        let mut addrs = uri.addrs.clone();
        addrs.rotate_left(addr_index);
        let shared = SharedKey::new(&secret, &uri.key);
        Ok(Client {
            relay: None,
            state: ClientState {
                v: 1,
                box_pin: BoxPin {
                    name: answer.box_name,
                    agreement_key: pinned,
                    signing_key: answer.box_signing_key,
                    fingerprint: crypto::fingerprint(&uri.key),
                    addrs,
                    peer_id: uri.peer.clone(),
                    relayed: Vec::new(),
                },
                device: DeviceCreds {
                    device_id: answer.device_id,
                    secret,
                    name: device_name.to_owned(),
                    role: answer.role,
                },
                clock_offset: offset,
                identities: Vec::new(),
                peers: Vec::new(),
                backup: None,
                group_key: None,
                link_code: None,
            },
            clock,
            agent,
            next_id: 1,
            shared,
        })
    }

    /// Keeps the address book and backup secrets of an earlier state (a phone that pairs with
    /// a new or reset box keeps what it owns).
    pub fn keep_address_book(&mut self, earlier: ClientState) {
        self.state.identities = earlier.identities;
        self.state.peers = earlier.peers;
        self.state.backup = earlier.backup;
    }

    /// Loads a client from its state file.
    pub fn load(path: &Path, clock: Arc<dyn Clock>) -> Result<Client, ClientError> {
        let state_err = |detail: String| ClientError::State {
            path: path.display().to_string(),
            detail,
        };
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                state_err(
                    "not paired yet: run `identity-box client --state FILE pair URI` first".into(),
                )
            } else {
                state_err(e.to_string())
            }
        })?);
        let state: ClientState =
            serde_json::from_str(&text).map_err(|e| state_err(e.to_string()))?;
        let box_key = pinned_key(&state)
            .ok_or_else(|| state_err("the pinned box key is damaged; pair again".into()))?;
        let shared = SharedKey::new(&state.device.secret, &box_key);
        Ok(Client {
            state,
            clock,
            agent: agent(),
            next_id: 1,
            shared,
            relay: None,
        })
    }

    /// From now on, requests go to the box over libp2p, through the relays `box.info` last
    /// named, pinned to the box's peer id (protocol §3, "The channel over libp2p").
    pub fn use_relay(&mut self) -> Result<(), ClientError> {
        if self.relay.is_some() {
            return Ok(());
        }
        let pin = &self.state.box_pin;
        if pin.peer_id.is_none() || pin.relayed.is_empty() {
            return Err(ClientError::Unreachable {
                addrs: "a relay".into(),
                detail: "this phone does not know the box's relay yet: run `client info` once at \
                         home (the box must have a relay: identity-box status shows it)"
                    .into(),
            });
        }
        let link = RelayLink::start().map_err(|e| ClientError::Unreachable {
            addrs: "a relay".into(),
            detail: format!("the phone's libp2p node cannot start: {e}"),
        })?;
        self.relay = Some(link);
        Ok(())
    }

    /// Notes how the box is reached from outside the home, as `box.info` told it.
    pub fn note_network(&mut self, network: &crate::protocol::info::BoxNetwork) {
        self.state.box_pin.peer_id = Some(network.peer_id.clone());
        if !network.relayed.is_empty() {
            self.state.box_pin.relayed = network.relayed.clone();
        }
    }

    /// Writes the state file atomically, readable only by its owner.
    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        let text = zeroize::Zeroizing::new(
            serde_json::to_vec_pretty(&self.state)
                .map_err(|e| ClientError::Protocol(e.to_string()))?,
        );
        fsutil::write_atomic(path, &text, 0o600).map_err(|e| ClientError::State {
            path: path.display().to_string(),
            detail: e.to_string(),
        })
    }

    pub fn state(&self) -> &ClientState {
        &self.state
    }

    /// Puts newly found addresses of the pinned box first (found by mDNS after a move); the
    /// known ones stay as fallbacks. The box key stays pinned: an impostor at a found address
    /// cannot open or answer a request.
    pub fn prefer_addrs(&mut self, found: Vec<String>) {
        let mut addrs = found;
        for old in &self.state.box_pin.addrs {
            if !addrs.contains(old) {
                addrs.push(old.clone());
            }
        }
        self.state.box_pin.addrs = addrs;
    }

    /// Calls a method through the channel and reads its answer into the method's result type;
    /// retries once with the box's clock on `401 stale`.
    pub fn call<M: Method>(&mut self, params: &M) -> Result<M::Result, ClientError> {
        let raw = self.exchange(M::NAME, params)?;
        let text = raw.as_ref().map_or("null", |r| r.get());
        serde_json::from_str(text)
            .map_err(|e| ClientError::Protocol(format!("{} answered {e}", M::NAME)))
    }

    /// Calls a method by name with params as JSON and returns the result as JSON: for tests
    /// that check the wire itself (unknown methods, wrong params, raw fields).
    pub fn call_json(&mut self, method: &str, params: Value) -> Result<Value, ClientError> {
        let raw = self.exchange(method, &params)?;
        match raw {
            None => Ok(Value::Null),
            Some(r) => serde_json::from_str(r.get())
                .map_err(|e| ClientError::Protocol(format!("{method} answered {e}"))),
        }
    }

    /// One request and its answer's result, still as JSON text.
    fn exchange<P: Serialize + ?Sized>(
        &mut self,
        method: &str,
        params: &P,
    ) -> Result<Option<Box<RawValue>>, ClientError> {
        let mut retried = false;
        loop {
            let (envelope, nonce) = self.envelope(method, params)?;
            let answer = self.post_rpc(&envelope)?;
            if let Some(box_time) = stale_box_time(&answer)
                && !retried
            {
                self.state.clock_offset = box_time - self.clock.now_unix();
                retried = true;
                continue;
            }
            let response: RpcResponse = open_answer(
                &self.shared,
                answer,
                "the answer is not a JSON-RPC response",
            )?;
            check_request_nonce(&response.request_nonce, &nonce)?;
            if let Some(error) = response.error {
                return Err(ClientError::Rpc {
                    kind: error.data.kind,
                    message: error.message,
                });
            }
            return Ok(response.result);
        }
    }

    /// The sealed envelope of one request, and its nonce.
    pub fn envelope<P: Serialize + ?Sized>(
        &mut self,
        method: &str,
        params: &P,
    ) -> Result<(Envelope, [u8; 24]), ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        /// The request as sent, borrowing the params (a bundle is megabytes: no copy).
        #[derive(Serialize)]
        struct Request<'a, P: ?Sized> {
            jsonrpc: &'static str,
            id: u64,
            method: &'a str,
            params: &'a P,
            ts: i64,
        }
        let request = Request {
            jsonrpc: "2.0",
            id,
            method,
            params,
            ts: self.clock.now_unix() + self.state.clock_offset,
        };
        let plain =
            serde_json::to_vec(&request).map_err(|e| ClientError::Protocol(e.to_string()))?;
        let nonce = crypto::random_nonce();
        Ok((
            Envelope {
                device: self.state.device.device_id.clone(),
                nonce: b64u(&nonce),
                boxed: b64u(&self.shared.seal(&nonce, &plain)),
            },
            nonce,
        ))
    }

    /// Sends an envelope as it is (tests use it to replay or alter requests); tries each known
    /// address in turn and keeps the one that answered first.
    pub fn post_rpc_raw(&mut self, envelope: &Value) -> Result<(u16, Value), ClientError> {
        let answer = self.post_any("/v1/rpc", envelope)?;
        Ok((answer.status, answer.body))
    }

    #[cfg_attr(not(feature = "node"), allow(unreachable_code, unused_variables))]
    fn post_rpc(&mut self, envelope: &Envelope) -> Result<Answer, ClientError> {
        if let Some(link) = &self.relay {
            let pin = &self.state.box_pin;
            let peer = pin.peer_id.clone().unwrap_or_default();
            let request =
                serde_json::to_vec(envelope).map_err(|e| ClientError::Protocol(e.to_string()))?;
            let node = link.node.clone();
            let relayed = pin.relayed.clone();
            let answer = link
                .runtime
                .block_on(async move { node.channel_call(&peer, &relayed, request).await })
                .map_err(|e| ClientError::Unreachable {
                    addrs: format!("its relay ({})", pin.relayed.join(", ")),
                    detail: e.to_string(),
                })?;
            let mut answer: Value = serde_json::from_slice(&answer)
                .map_err(|e| ClientError::Protocol(format!("the channel over libp2p: {e}")))?;
            let status = answer["status"]
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| {
                    ClientError::Protocol("the channel's answer has no status".into())
                })?;
            return Ok(Answer {
                status,
                body: answer["body"].take(),
            });
        }
        self.post_any("/v1/rpc", envelope)
    }

    fn post_any<T: Serialize>(&mut self, path: &str, body: &T) -> Result<Answer, ClientError> {
        let mut last_error = String::new();
        for i in 0..self.state.box_pin.addrs.len() {
            let addr = &self.state.box_pin.addrs[i];
            // The device names itself, so that the box reads a large body (protocol §9).
            let request = self
                .agent
                .post(&format!("http://{addr}{path}"))
                .set(DEVICE_HEADER, &self.state.device.device_id);
            match into_answer(request.send_json(body)) {
                Ok(answer) => {
                    self.state.box_pin.addrs.rotate_left(i);
                    return Ok(answer);
                }
                Err(e) => last_error = e,
            }
        }
        Err(ClientError::Unreachable {
            addrs: self.state.box_pin.addrs.join(", "),
            detail: last_error,
        })
    }

    /// Makes keys for a new identity on this phone and has the box create and publish it. The
    /// state must be saved afterwards: it now holds the identity's private keys.
    pub fn create_identity(&mut self, name: &str) -> Result<IdentityView, ClientError> {
        let random = || Secret32::random().map_err(|e| ClientError::Protocol(e.to_string()));
        let mut own = OwnIdentity {
            did: String::new(),
            name: name.to_owned(),
            signing_secret: random()?,
            agreement_secret: random()?,
            document: None,
        };
        let view = self.call(&IdentityCreate {
            name: name.to_owned(),
            keys: own.keys_param(),
            services: Vec::new(),
        })?;
        own.did = view.did.clone();
        own.name = view.name.clone();
        own.document = Some(view.document.clone());
        self.state.identities.push(own);
        Ok(view)
    }

    /// Deletes an identity on the box (it publishes the deactivated document) and forgets its
    /// keys here. The state must be saved afterwards.
    pub fn delete_identity(&mut self, did: &str) -> Result<Deleted, ClientError> {
        let deleted = self.call(&IdentityDelete {
            did: did.to_owned(),
        })?;
        self.state.identities.retain(|i| i.did != did);
        Ok(deleted)
    }

    /// The pinned box agreement key.
    pub fn box_key(&self) -> Result<[u8; 32], ClientError> {
        pinned_key(&self.state).ok_or_else(|| ClientError::State {
            path: String::new(),
            detail: "the pinned box key is damaged; pair again".into(),
        })
    }
}

fn pinned_key(state: &ClientState) -> Option<[u8; 32]> {
    b64u_decode(&state.box_pin.agreement_key)
        .ok()
        .and_then(|k| k.try_into().ok())
}

fn get_json(agent: &ureq::Agent, url: &str) -> Result<Answer, String> {
    into_answer(agent.get(url).call())
}

/// The header in which a paired device names itself (protocol §9, "Bodies").
pub const DEVICE_HEADER: &str = "Idbox-Device";

fn post_json<T: Serialize>(agent: &ureq::Agent, url: &str, body: &T) -> Result<Answer, String> {
    into_answer(agent.post(url).send_json(body))
}

/// HTTP statuses are answers; only transport failures are errors.
fn into_answer(result: Result<ureq::Response, ureq::Error>) -> Result<Answer, String> {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(ureq::Error::Transport(t)) => return Err(t.to_string()),
    };
    let status = response.status();
    let body = response.into_json().unwrap_or(Value::Null);
    Ok(Answer { status, body })
}

fn stale_box_time(answer: &Answer) -> Option<i64> {
    (answer.status == 401 && answer.body["error"] == "stale")
        .then(|| answer.body["box_time"].as_i64())
        .flatten()
}

fn expect_sealed(answer: Answer) -> Result<Sealed, ClientError> {
    if answer.status != 200 {
        return Err(ClientError::Refused {
            status: answer.status,
            kind: answer.body["error"]
                .as_str()
                .unwrap_or("unknown")
                .to_owned(),
            message: answer.body["message"]
                .as_str()
                .unwrap_or("no message")
                .to_owned(),
        });
    }
    serde_json::from_value(answer.body)
        .map_err(|_| ClientError::Protocol("the answer is not {nonce, box}".into()))
}

/// A sealed answer from the pinned box, opened and parsed; `what` says what it should have been.
fn open_answer<T: serde::de::DeserializeOwned>(
    shared: &SharedKey,
    answer: Answer,
    what: &'static str,
) -> Result<T, ClientError> {
    let plain = open_sealed(shared, &expect_sealed(answer)?)?;
    serde_json::from_slice(&plain).map_err(|_| ClientError::Protocol(what.into()))
}

/// The box echoes the request's nonce: an answer to anything else is refused.
fn check_request_nonce(echoed: &str, sent: &[u8; 24]) -> Result<(), ClientError> {
    if echoed == b64u(sent) {
        Ok(())
    } else {
        Err(ClientError::WrongBox(
            "the answer belongs to another request",
        ))
    }
}

fn open_sealed(shared: &SharedKey, sealed: &Sealed) -> Result<Vec<u8>, ClientError> {
    let nonce: [u8; 24] = b64u_decode(&sealed.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or(ClientError::WrongBox("the answer's nonce is malformed"))?;
    let boxed =
        b64u_decode(&sealed.boxed).map_err(|_| ClientError::WrongBox("the answer is not b64u"))?;
    shared.open(&nonce, &boxed).ok_or(ClientError::WrongBox(
        "the answer does not open with the pinned key",
    ))
}
