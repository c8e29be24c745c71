//! The DHT record store's guard under any sequence of peers' puts: made-up or real keys, junk
//! or well-signed records of any sequence, several peers, time passing, records expiring. The
//! guard never panics; a record it admits verifies for its name; nothing is admitted for the
//! box's own name; a record never replaces a better one; and no peer holds more than its share.
#![no_main]
use std::collections::HashMap;

use identity_box::ipfs::dht_guard::{DhtGuard, GuardLimits, Refusal};
use identity_box::ipfs::record;
use libfuzzer_sys::fuzz_target;

const NOW: i64 = 1_800_000_000;

fuzz_target!(|ops: Vec<(u8, u8, u8, Vec<u8>)>| {
    let limits = GuardLimits {
        per_peer: 3,
        remote: 5,
    };
    let mut guard = DhtGuard::new(limits);
    let own = record::name_of_seed(&[200; 32]).record_key();
    guard.own_name(&own);
    let peers: Vec<_> = (1..=3u8)
        .map(|n| {
            libp2p_identity::Keypair::ed25519_from_bytes([n; 32])
                .unwrap()
                .public()
                .to_peer_id()
        })
        .collect();
    // The store as the node keeps it: key → (value, who put it).
    let mut store: HashMap<Vec<u8>, (Vec<u8>, usize)> = HashMap::new();
    let mut now = NOW;
    for (op, a, b, bytes) in ops.into_iter().take(200) {
        let who = usize::from(a) % peers.len();
        let source = peers[who];
        // Names 0..4, the box's own name (4), or a key of the input's bytes.
        let (key, value) = match op % 4 {
            0 => {
                let seed = [b % 5 + 100; 32];
                let seed = if b % 5 == 4 { [200; 32] } else { seed };
                let key = record::name_of_seed(&seed).record_key();
                let value = record::sign(
                    &seed,
                    "/ipfs/bafyx",
                    u64::from(a % 4),
                    now + i64::from(b % 8) * 60,
                )
                .unwrap();
                (key, value)
            }
            1 => {
                let seed = [b % 5 + 100; 32];
                (record::name_of_seed(&seed).record_key(), bytes)
            }
            2 => (bytes.clone(), bytes),
            _ => {
                // Time passes; the store drops what expired.
                now += i64::from(b) * 30;
                store.retain(|k, (v, _)| {
                    let name = libp2p_identity::PeerId::from_bytes(&k[6..]).unwrap();
                    record::verify_for_peer(name, v, now).is_ok()
                });
                guard.retain(|k| store.contains_key(k));
                continue;
            }
        };
        let held = store.get(&key).map(|(v, _)| v.clone());
        match guard.check(&source, &key, &value, held.as_deref(), now) {
            Ok(admitted) => {
                assert_ne!(key, own);
                let name = libp2p_identity::PeerId::from_bytes(&key[6..]).unwrap();
                let offered = record::verify_for_peer(name, &value, now).unwrap();
                assert_eq!(admitted.eol, offered.eol);
                if let Some(held) = held.and_then(|h| record::verify_for_peer(name, &h, now).ok()) {
                    assert!((offered.seq, offered.eol) > (held.seq, held.eol));
                }
                store.insert(key.clone(), (value, who));
                guard.stored(source, &key);
            }
            Err(Refusal::OwnName) => assert_eq!(key, own),
            Err(_) => {}
        }
        let stats = guard.stats();
        assert_eq!(stats.remote_records, store.len());
        assert!(store.len() <= limits.remote);
        for p in 0..peers.len() {
            assert!(store.values().filter(|(_, w)| *w == p).count() <= limits.per_peer);
        }
    }
});
