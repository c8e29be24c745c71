//! What the node's DHT record store takes from peers (protocol §9, "The DHT record store").
//!
//! Left to itself, libp2p-kad stores whatever a peer puts, and the last write wins: a replayed
//! old record brings a deleted DID back for outside resolvers, one junk record under a DID's key
//! makes it unresolvable, and junk under made-up keys fills the store so that the box's own new
//! records find no room. The node therefore hands every record a peer puts to a [`DhtGuard`]
//! first, which admits it only as a resolver would take it:
//!
//! - the key is `/ipns/` and a peer id, the value at most [`MAX_RECORD_BYTES`], a record with a
//!   valid V2 signature by that name's key over CBOR data matching its fields, alive now;
//! - for the box's own names nothing from a peer is kept: the box's current record stays;
//! - a record never replaces a better one (a higher sequence, or the same and a later end of
//!   life): an old record replayed changes nothing;
//! - one peer holds at most [`GuardLimits::per_peer`] records and peers together at most
//!   [`GuardLimits::remote`]; the store has room beyond that for the box's own records, which
//!   are therefore never crowded out (and never evicted: the store evicts nothing).
//!
//! Refusals are counted and, at most once a minute, logged at warn with the latest reason.
//! This module is pure bookkeeping (the node calls it from its swarm task, with the store at
//! hand), so its rules are unit-tested and fuzzed without a network.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p_identity::PeerId;

use super::record::{self, RecordError};

/// The largest IPNS record (the IPNS specification's limit).
pub const MAX_RECORD_BYTES: usize = 10 * 1024;

/// How many records peers may leave in the box's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardLimits {
    /// Records one peer has put and the store still holds.
    pub per_peer: usize,
    /// Records all peers together have put and the store still holds.
    pub remote: usize,
}

impl Default for GuardLimits {
    fn default() -> Self {
        Self {
            per_peer: 64,
            remote: 1024,
        }
    }
}

/// Room the store keeps for the box's own records, beyond [`GuardLimits::remote`]: more than
/// the quotas allow (16 devices × 100 identities).
pub const OWN_RECORDS: usize = 4096;

/// Why a peer's record was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("its key is not an IPNS name")]
    NotIpns,
    #[error("it is over {MAX_RECORD_BYTES} bytes")]
    TooLarge,
    #[error("it is not a valid IPNS record for its name: {0}")]
    Invalid(String),
    #[error("it has expired")]
    Expired,
    #[error("it is for one of the box's own names, which only the box writes")]
    OwnName,
    #[error("the store holds a newer record for the name (sequence {held}, offered {offered})")]
    NotNewer { held: u64, offered: u64 },
    #[error("the peer has put as many records as one peer may ({0})")]
    PeerFull(usize),
    #[error("peers have put as many records as the box keeps for them ({0})")]
    StoreFull(usize),
}

/// A record the guard admits: store it, expiring no later than `eol` (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub eol: i64,
}

/// The guard's count of what it refused, for `identity-box status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Records of peers the guard has let in and the store still holds.
    pub remote_records: usize,
    /// Records refused since the node started.
    pub refused: u64,
}

/// The rules and the bookkeeping of [`module`](self).
#[derive(Debug, Default)]
pub struct DhtGuard {
    limits: GuardLimits,
    /// Keys of the box's own names.
    own: HashSet<Vec<u8>>,
    /// Who put each stored key of a peer's record.
    put_by: HashMap<Vec<u8>, PeerId>,
    per_peer: HashMap<PeerId, usize>,
    refused: u64,
    /// Refused since the last warning, and when that was.
    unreported: u64,
    last_warning: Option<Instant>,
}

/// How often refusals are reported at warn.
const WARN_EVERY: Duration = Duration::from_secs(60);

impl DhtGuard {
    pub fn new(limits: GuardLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Marks `key` as one of the box's own names: no peer writes it from now on.
    pub fn own_name(&mut self, key: &[u8]) {
        if !self.own.contains(key) {
            self.own.insert(key.to_vec());
        }
    }

    /// Whether `source` may put `value` under `key`, given the record the store holds for it
    /// (`held`, as stored). On `Ok`, store the record and call [`stored`](Self::stored).
    pub fn check(
        &self,
        source: &PeerId,
        key: &[u8],
        value: &[u8],
        held: Option<&[u8]>,
        now: i64,
    ) -> Result<Admitted, Refusal> {
        let name = key
            .strip_prefix(b"/ipns/")
            .and_then(|id| PeerId::from_bytes(id).ok())
            .ok_or(Refusal::NotIpns)?;
        if value.len() > MAX_RECORD_BYTES {
            return Err(Refusal::TooLarge);
        }
        if self.own.contains(key) {
            return Err(Refusal::OwnName);
        }
        let offered = match record::verify_for_peer(name, value, now) {
            Ok(info) => info,
            Err(RecordError::Expired { .. }) => return Err(Refusal::Expired),
            Err(e) => return Err(Refusal::Invalid(e.to_string())),
        };
        // A stored record was checked when it came; one that has expired since loses anyway.
        if let Some(Ok(held)) = held.map(|h| record::verify_for_peer(name, h, now))
            && (held.seq, held.eol) >= (offered.seq, offered.eol)
        {
            return Err(Refusal::NotNewer {
                held: held.seq,
                offered: offered.seq,
            });
        }
        let replaces_own_put = self.put_by.get(key) == Some(source);
        if !replaces_own_put {
            let of_peer = self.per_peer.get(source).copied().unwrap_or(0);
            if of_peer >= self.limits.per_peer {
                return Err(Refusal::PeerFull(self.limits.per_peer));
            }
            if !self.put_by.contains_key(key) && self.put_by.len() >= self.limits.remote {
                return Err(Refusal::StoreFull(self.limits.remote));
            }
        }
        Ok(Admitted { eol: offered.eol })
    }

    /// Notes that the store now holds `source`'s record under `key`.
    pub fn stored(&mut self, source: PeerId, key: &[u8]) {
        if let Some(previous) = self.put_by.insert(key.to_vec(), source) {
            self.release(&previous);
        }
        *self.per_peer.entry(source).or_insert(0) += 1;
    }

    /// Forgets the keys the store no longer holds (expired, or removed), so that their room
    /// counts again.
    pub fn retain(&mut self, mut holds: impl FnMut(&[u8]) -> bool) {
        let gone: Vec<Vec<u8>> = self.put_by.keys().filter(|k| !holds(k)).cloned().collect();
        for key in gone {
            if let Some(peer) = self.put_by.remove(&key) {
                self.release(&peer);
            }
        }
    }

    /// Whether a [`retain`](Self::retain) could make room for `source`: the limits are reached.
    pub fn is_full_for(&self, source: &PeerId) -> bool {
        self.put_by.len() >= self.limits.remote
            || self.per_peer.get(source).copied().unwrap_or(0) >= self.limits.per_peer
    }

    fn release(&mut self, peer: &PeerId) {
        if let Some(n) = self.per_peer.get_mut(peer) {
            *n -= 1;
            if *n == 0 {
                self.per_peer.remove(peer);
            }
        }
    }

    /// Counts a refusal; returns the warning to log when a minute has passed since the last.
    pub fn refused(&mut self, source: &PeerId, why: &Refusal, now: Instant) -> Option<String> {
        self.refused += 1;
        self.unreported += 1;
        if self
            .last_warning
            .is_some_and(|at| now.duration_since(at) < WARN_EVERY)
        {
            return None;
        }
        let n = std::mem::take(&mut self.unreported);
        self.last_warning = Some(now);
        Some(format!(
            "the IPFS node refused {n} DHT record(s) from peers since its last report (the \
             latest from {source}: {why}); nothing to do unless this goes on, which means a \
             peer on the network is misbehaving"
        ))
    }

    pub fn stats(&self) -> GuardStats {
        GuardStats {
            remote_records: self.put_by.len(),
            refused: self.refused,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ipfs::record::{name_of_seed, sign};

    const NOW: i64 = 1_800_000_000;

    fn peer(n: u8) -> PeerId {
        libp2p_identity::Keypair::ed25519_from_bytes([n; 32])
            .unwrap()
            .public()
            .to_peer_id()
    }

    /// The key and a record of the name with this seed.
    fn record(seed: u8, seq: u64, eol: i64) -> (Vec<u8>, Vec<u8>) {
        let key = name_of_seed(&[seed; 32]).record_key();
        (key, sign(&[seed; 32], "/ipfs/bafyabc", seq, eol).unwrap())
    }

    fn guard(per_peer: usize, remote: usize) -> DhtGuard {
        DhtGuard::new(GuardLimits { per_peer, remote })
    }

    #[test]
    fn a_valid_record_of_a_peer_is_admitted_until_its_end_of_life() {
        let g = guard(4, 8);
        let (key, value) = record(1, 3, NOW + 3600);
        assert_eq!(
            g.check(&peer(9), &key, &value, None, NOW),
            Ok(Admitted { eol: NOW + 3600 })
        );
        assert_eq!(
            g.check(&peer(9), &key, &value, None, NOW + 3600),
            Err(Refusal::Expired)
        );
    }

    #[test]
    fn junk_keys_junk_values_and_other_names_signatures_are_refused() {
        let g = guard(4, 8);
        let (key, value) = record(1, 0, NOW + 3600);
        let (other_key, _) = record(2, 0, NOW + 3600);
        let p = peer(9);
        assert_eq!(
            g.check(&p, b"/junk/1", &value, None, NOW),
            Err(Refusal::NotIpns)
        );
        assert_eq!(
            g.check(&p, b"/ipns/xyz", &value, None, NOW),
            Err(Refusal::NotIpns)
        );
        assert!(matches!(
            g.check(&p, &key, b"not a record", None, NOW),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            g.check(&p, &other_key, &value, None, NOW),
            Err(Refusal::Invalid(_))
        ));
        assert_eq!(
            g.check(&p, &key, &vec![0; MAX_RECORD_BYTES + 1], None, NOW),
            Err(Refusal::TooLarge)
        );
        let mut altered = value.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert!(g.check(&p, &key, &altered, None, NOW).is_err());
    }

    #[test]
    fn the_boxs_own_names_take_nothing_from_peers() {
        let mut g = guard(4, 8);
        let (key, newer) = record(1, 9, NOW + 7200);
        g.own_name(&key);
        assert_eq!(
            g.check(&peer(9), &key, &newer, None, NOW),
            Err(Refusal::OwnName)
        );
    }

    #[test]
    fn an_older_or_equal_record_never_replaces_a_newer_one() {
        let g = guard(4, 8);
        let (key, held) = record(1, 5, NOW + 3600);
        let (_, older) = record(1, 4, NOW + 9999);
        let (_, same_earlier) = record(1, 5, NOW + 60);
        let (_, same_later) = record(1, 5, NOW + 7200);
        let (_, newer) = record(1, 6, NOW + 60);
        let p = peer(9);
        assert_eq!(
            g.check(&p, &key, &older, Some(&held), NOW),
            Err(Refusal::NotNewer {
                held: 5,
                offered: 4
            })
        );
        assert!(g.check(&p, &key, &held, Some(&held), NOW).is_err());
        assert!(g.check(&p, &key, &same_earlier, Some(&held), NOW).is_err());
        assert!(g.check(&p, &key, &same_later, Some(&held), NOW).is_ok());
        assert!(g.check(&p, &key, &newer, Some(&held), NOW).is_ok());
        // A held record that has expired loses to any live one.
        assert!(g.check(&p, &key, &older, Some(&held), NOW + 3600).is_ok());
    }

    #[test]
    fn one_peer_cannot_take_the_room_of_the_others() {
        let mut g = guard(2, 3);
        let (a, b) = (peer(8), peer(9));
        for seed in 1..=2 {
            let (key, value) = record(seed, 0, NOW + 3600);
            g.check(&a, &key, &value, None, NOW).unwrap();
            g.stored(a, &key);
        }
        let (key3, value3) = record(3, 0, NOW + 3600);
        assert_eq!(
            g.check(&a, &key3, &value3, None, NOW),
            Err(Refusal::PeerFull(2))
        );
        // Another peer still has room; then the store's share for peers is spent.
        g.check(&b, &key3, &value3, None, NOW).unwrap();
        g.stored(b, &key3);
        let (key4, value4) = record(4, 0, NOW + 3600);
        assert_eq!(
            g.check(&b, &key4, &value4, None, NOW),
            Err(Refusal::StoreFull(3))
        );
        // A peer may update a record it put although it is at its limit.
        let (key1, _) = record(1, 0, NOW + 3600);
        let (_, update) = record(1, 1, NOW + 3600);
        assert!(g.check(&a, &key1, &update, None, NOW).is_ok());
        assert_eq!(
            g.stats(),
            GuardStats {
                remote_records: 3,
                refused: 0
            }
        );

        // A record taken over by another peer counts for that one; expired ones free room.
        g.stored(b, &key1);
        assert_eq!(g.per_peer[&a], 1);
        assert_eq!(g.per_peer[&b], 2);
        assert!(g.is_full_for(&b));
        g.retain(|k| k != key1.as_slice() && k != key3.as_slice());
        assert_eq!(g.stats().remote_records, 1);
        assert!(!g.per_peer.contains_key(&b));
        assert!(g.check(&b, &key4, &value4, None, NOW).is_ok());
    }

    #[test]
    fn refusals_are_counted_and_reported_once_a_minute() {
        let mut g = guard(2, 3);
        let start = Instant::now();
        let first = g.refused(&peer(9), &Refusal::NotIpns, start).unwrap();
        assert!(first.contains("refused 1 DHT record"), "{first}");
        assert!(first.contains("its key is not an IPNS name"), "{first}");
        for i in 1..100 {
            assert!(
                g.refused(
                    &peer(9),
                    &Refusal::Expired,
                    start + Duration::from_millis(i)
                )
                .is_none()
            );
        }
        let next = g
            .refused(&peer(9), &Refusal::Expired, start + Duration::from_secs(61))
            .unwrap();
        assert!(next.contains("refused 100 DHT record"), "{next}");
        assert_eq!(g.stats().refused, 101);
    }
}
