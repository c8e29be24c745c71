//! What backups parse from outside: the sealed-keys payload a phone sends to `restore_keys`
//! (after opening), the bundle an app reads back, a document to republish, the typed backup
//! phrase, and an identity key as the database holds it (sealed by the vault). None may panic;
//! what parses round-trips.
#![no_main]
use identity_box::backup::wire::SealedKeys;
use identity_box::client::{Bundle, mnemonic};
use identity_box::crypto::{BackupSecrets, KeyVault, Secret32};
use identity_box::identity::Did;
use identity_box::identity::document::parse_live;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(keys) = SealedKeys::parse(data) {
        assert_eq!(SealedKeys::parse(&keys.padded()).unwrap(), keys);
        for id in &keys.identities {
            let _ = id.secret();
        }
    }
    let _ = serde_json::from_slice::<Bundle>(data);
    // A sealed identity key read from the database: random bytes do not open.
    let vault = KeyVault::new(Secret32::new([2; 32]));
    assert!(vault.open("did:ipid:k", data).is_none());
    // A bundle under some key: opening random bytes fails cleanly.
    let secrets = BackupSecrets::from_entropy(&Secret32::new([1; 32]));
    assert!(secrets.open_bundle(data).is_none() || data.len() >= 40);
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) {
        let did: Did = "did:ipid:k51qzi5uqu5dljtg5upm7x7ugan9lql3ewyknv4r4mhhkwzn8n7cnbd1unfwgq"
            .parse()
            .unwrap();
        let _ = parse_live(&did, &doc);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(entropy) = mnemonic::parse(text) {
            assert_eq!(mnemonic::parse(&mnemonic::words(&entropy)).unwrap(), entropy);
        }
    }
});
