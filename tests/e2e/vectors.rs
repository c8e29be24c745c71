//! Known answers computed by other implementations (tests/data/, copied from shared/vectors):
//! matching them proves that the box derives and verifies exactly as libsodium, OpenSSL and the
//! reference implementations do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use identity_box::crypto::{self, CryptoError, Secret32};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn hex32(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn hkdf_derivations_match_openssl() {
    let v = load("identity-box-v1.json");
    let cases = v["derive"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let m = hex32(&case["entropy"]);
        let id = crypto::hkdf32(&m, "backup-id");
        assert_eq!(
            hex::encode(&id.expose()[..16]),
            case["backup_id"].as_str().unwrap()
        );
        let bundle = crypto::hkdf32(&m, "bundle-key");
        assert_eq!(
            hex::encode(bundle.expose()),
            case["bundle_key"].as_str().unwrap()
        );
        // The recipient pair is derived exactly like the box agreement key: X25519 of HKDF output.
        let secret = crypto::hkdf32(&m, "box-keys-recipient");
        assert_eq!(
            hex::encode(secret.expose()),
            case["recipient_secret"].as_str().unwrap()
        );
        let public =
            x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*secret.expose()));
        assert_eq!(
            hex::encode(public.as_bytes()),
            case["recipient_public"].as_str().unwrap()
        );
    }
}

#[test]
fn mdns_fingerprints_match() {
    let v = load("identity-box-v1.json");
    for case in v["mdns_fp"].as_array().unwrap() {
        let key: [u8; 32] = crypto::b64u_decode(case["agreement_key_b64u"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(crypto::fingerprint(&key), case["fp"].as_str().unwrap());
    }
}

#[test]
fn x25519_on_libsodium_key_pairs() {
    // Public keys derive from secrets as libsodium derived them, and agreement is symmetric.
    // (The shared_key vectors are after HSalsa20: the channel issue checks those.)
    let v = load("identity-box-v1.json");
    for case in v["box"].as_array().unwrap() {
        let sender = Secret32::new(hex32(&case["sender_secret"]));
        let recipient_public = hex32(&case["recipient_public"]);
        let recipient = Secret32::new(hex32(&case["recipient_secret"]));
        let sender_public = hex32(&case["sender_public"]);
        for (secret, public) in [(&sender, sender_public), (&recipient, recipient_public)] {
            let derived =
                x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*secret.expose()));
            assert_eq!(derived.to_bytes(), public);
        }
        let a = crypto::x25519(&sender, &recipient_public).unwrap();
        let b = crypto::x25519(&recipient, &sender_public).unwrap();
        assert_eq!(a, b);
    }
}

/// Policy: every `valid` case verifies and every `invalid` one is refused (ed25519 has no
/// `acceptable` cases); signatures from outside the box are verified strictly.
#[test]
fn wycheproof_ed25519_strict() {
    let v = load("wycheproof/ed25519_test.json");
    let mut counted = 0;
    for group in v["testGroups"].as_array().unwrap() {
        let pk = hex::decode(group["publicKey"]["pk"].as_str().unwrap()).unwrap();
        for t in group["tests"].as_array().unwrap() {
            let msg = hex::decode(t["msg"].as_str().unwrap()).unwrap();
            let sig = hex::decode(t["sig"].as_str().unwrap()).unwrap();
            let got = crypto::verify_ed25519(&pk, &msg, &sig);
            match t["result"].as_str().unwrap() {
                "valid" => assert_eq!(got, Ok(()), "tcId {}", t["tcId"]),
                "invalid" => assert!(got.is_err(), "tcId {} must be refused", t["tcId"]),
                other => panic!("unexpected result {other}"),
            }
            counted += 1;
        }
    }
    assert_eq!(counted, v["numberOfTests"].as_u64().unwrap());
}

/// Policy: `valid` cases give the expected secret. `acceptable` cases give the expected secret
/// too (twist points, non-canonical encodings), except those whose shared secret is all zeros
/// (low-order public keys): the box refuses those, as protocol §5 asks for `backup.enable`.
#[test]
fn wycheproof_x25519() {
    let v = load("wycheproof/x25519_test.json");
    let (mut refused, mut counted) = (0, 0);
    for group in v["testGroups"].as_array().unwrap() {
        for t in group["tests"].as_array().unwrap() {
            let public = hex32(&t["public"]);
            let private = Secret32::new(hex32(&t["private"]));
            let expected = t["shared"].as_str().unwrap();
            let got = crypto::x25519(&private, &public);
            if expected.bytes().all(|b| b == b'0') {
                assert_eq!(got, Err(CryptoError::LowOrderKey), "tcId {}", t["tcId"]);
                refused += 1;
            } else {
                assert_eq!(
                    hex::encode(got.unwrap().expose()),
                    expected,
                    "tcId {}",
                    t["tcId"]
                );
            }
            counted += 1;
        }
    }
    assert_eq!(counted, v["numberOfTests"].as_u64().unwrap());
    assert!(refused > 0);
}

#[test]
fn nacl_box_matches_libsodium_byte_for_byte() {
    let v = load("identity-box-v1.json");
    let cases = v["box"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let sender = Secret32::new(hex32(&case["sender_secret"]));
        let recipient = Secret32::new(hex32(&case["recipient_secret"]));
        let nonce: [u8; 24] = hex::decode(case["nonce"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let plaintext = hex::decode(case["plaintext"].as_str().unwrap()).unwrap();
        let expected = hex::decode(case["box"].as_str().unwrap()).unwrap();
        let boxed = crypto::nacl_box(
            &sender,
            &hex32(&case["recipient_public"]),
            &nonce,
            &plaintext,
        );
        assert_eq!(boxed, expected);
        let opened = crypto::nacl_box_open(
            &recipient,
            &hex32(&case["sender_public"]),
            &nonce,
            &expected,
        )
        .unwrap();
        assert_eq!(opened, plaintext);
        let mut flipped = expected.clone();
        flipped[0] ^= 1;
        assert!(
            crypto::nacl_box_open(&recipient, &hex32(&case["sender_public"]), &nonce, &flipped)
                .is_none()
        );
    }
}

#[test]
fn device_ids_match() {
    let v = load("identity-box-v1.json");
    for case in v["device_id"].as_array().unwrap() {
        let key: [u8; 32] = crypto::b64u_decode(case["device_key_b64u"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(crypto::device_id(&key), case["device_id"].as_str().unwrap());
    }
}

/// protocol §5 from the owner's words: Rust's parsing and derivations match the vectors, and so
/// does an independent Python computation (`tests/interop/backup_vectors.py`).
#[test]
fn backup_phrase_derivations_match_vectors_and_python() {
    use identity_box::client::mnemonic;
    use identity_box::crypto::BackupSecrets;

    let v = load("backup-derivation.json");
    let cases = v["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/backup-derivation.json"
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/interop/backup_vectors.py"
    );
    let out = std::process::Command::new("python3")
        .args([script, path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "backup_vectors.py (needs PyNaCl and mnemonic): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for (i, case) in cases.iter().enumerate() {
        let entropy = mnemonic::parse(case["mnemonic"].as_str().unwrap()).unwrap();
        assert_eq!(
            hex::encode(entropy.expose()),
            case["entropy"].as_str().unwrap()
        );
        assert_eq!(
            mnemonic::words(&entropy).as_str(),
            case["mnemonic"].as_str().unwrap()
        );
        let s = BackupSecrets::from_entropy(&entropy);
        let ours = serde_json::json!({
            "entropy": hex::encode(entropy.expose()),
            "backup_id": s.backup_id,
            "bundle_key": hex::encode(s.bundle_key.expose()),
            "recipient_secret": hex::encode(s.recipient.expose()),
            "recipient_public": hex::encode(s.recipient_public()),
        });
        for field in [
            "entropy",
            "backup_id",
            "bundle_key",
            "recipient_secret",
            "recipient_public",
        ] {
            assert_eq!(ours[field], case[field], "case {i}: {field}");
            assert_eq!(python[i][field], case[field], "case {i}: Python's {field}");
        }
    }
}

#[test]
fn secretbox_matches_libsodium() {
    let v = load("identity-box-v1.json");
    let cases = v["secretbox"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let key = Secret32::new(hex32(&case["key"]));
        let nonce: [u8; 24] = hex::decode(case["nonce"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap();
        let plaintext = hex::decode(case["plaintext"].as_str().unwrap()).unwrap();
        let expected = hex::decode(case["box"].as_str().unwrap()).unwrap();
        assert_eq!(crypto::secretbox(&key, &nonce, &plaintext), expected);
        assert_eq!(
            crypto::secretbox_open(&key, &nonce, &expected).unwrap(),
            plaintext
        );
        let mut flipped = expected.clone();
        flipped[0] ^= 1;
        assert!(crypto::secretbox_open(&key, &nonce, &flipped).is_none());
    }
}

#[test]
fn sealed_boxes_from_libsodium_open() {
    let v = load("identity-box-v1.json");
    let cases = v["sealed_open"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let secret = Secret32::new(hex32(&case["recipient_secret"]));
        assert_eq!(
            hex::encode(crypto::x25519_public(&secret)),
            case["recipient_public"].as_str().unwrap()
        );
        let sealed = hex::decode(case["sealed"].as_str().unwrap()).unwrap();
        let plaintext = hex::decode(case["plaintext"].as_str().unwrap()).unwrap();
        assert_eq!(crypto::seal_open(&secret, &sealed).unwrap(), plaintext);
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(crypto::seal_open(&secret, &flipped).is_none());
        // And what this side seals, the same key opens.
        let ours = crypto::seal(&hex32(&case["recipient_public"]), &plaintext);
        assert_eq!(crypto::seal_open(&secret, &ours).unwrap(), plaintext);
    }
}

/// protocol §5, bundle format v2: the bundle of `tests/data/bundle-v2.json` (made with PyNaCl)
/// is what Rust makes from the same keys and nonces (all but the device slot's sealed box,
/// which is random), every slot opens it, and an independent Python reading
/// (`tests/interop/bundle_v2.py`) agrees.
#[test]
fn bundle_v2_matches_its_vectors_and_python() {
    use identity_box::backup::bundle::{self, Randomness, Recipients};
    use identity_box::crypto::{BackupSecrets, Secret32};

    let v = load("bundle-v2.json");
    let h = |k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
    let s32 = |k: &str| Secret32::new(h(k).try_into().unwrap());
    let given = h("bundle");
    let plain = v["plaintext"].as_str().unwrap().as_bytes();

    // The words' derivations give the file's backup id and bundle key.
    let words = BackupSecrets::from_entropy(&s32("entropy"));
    assert_eq!(words.backup_id, v["backup_id"].as_str().unwrap());
    assert_eq!(words.bundle_key, s32("bundle_key"));
    let group_key = s32("group_key");
    assert_eq!(
        hex::encode(bundle::group_key_id(&group_key)),
        v["group_key_id"].as_str().unwrap()
    );

    // Rebuilt from the inputs: equal byte for byte outside the device slot.
    let device_id: [u8; 16] = h("device_id").try_into().unwrap();
    let device_public: [u8; 32] = h("device_public").try_into().unwrap();
    assert_eq!(
        hex::encode(device_id),
        identity_box::crypto::device_id(&device_public)
    );
    let ours = bundle::seal_with(
        plain,
        &Recipients {
            backup_id: h("backup_id").try_into().unwrap(),
            bundle_key: &words.bundle_key,
            group_key: &group_key,
            devices: &[(device_id, device_public)],
        },
        &Randomness {
            data_key: s32("data_key"),
            mnemonic_nonce: h("mnemonic_nonce").try_into().unwrap(),
            group_nonce: h("group_nonce").try_into().unwrap(),
            payload_nonce: h("payload_nonce").try_into().unwrap(),
        },
    );
    assert_eq!(ours.len(), given.len());
    let device_slot = 9 + 2 * (18 + bundle::WRAPPED_LEN);
    let body = device_slot + 18..device_slot + 18 + bundle::SEALED_LEN;
    assert_eq!(ours[..body.start], given[..body.start]);
    assert_eq!(ours[body.end..], given[body.end..]);

    // Each slot of the file's bundle opens it.
    let parsed = bundle::parse(&given).unwrap();
    assert_eq!(
        parsed
            .open_with_bundle_key(&words.bundle_key)
            .unwrap()
            .as_slice(),
        plain
    );
    assert_eq!(words.open_bundle(&given).unwrap().as_slice(), plain);
    let from_slot = parsed
        .group_key_for(&device_id, &s32("device_secret"))
        .unwrap();
    assert_eq!(from_slot, group_key);
    assert_eq!(
        parsed.open_with_group_key(&from_slot).unwrap().as_slice(),
        plain
    );

    // Python, with PyNaCl, reads the same.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/bundle-v2.json");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/bundle_v2.py");
    let out = std::process::Command::new("python3")
        .args([script, path])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bundle_v2.py (needs PyNaCl): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let python: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(python["group_key_id"], v["group_key_id"]);
    assert_eq!(
        python["bundle"], v["bundle"],
        "Python rebuilds the same bundle"
    );
    assert_eq!(python["device_slot_group_key"], v["group_key"]);
    for slot in ["1", "2"] {
        assert_eq!(
            python["plaintext_by_slot"][slot], v["plaintext"],
            "slot {slot}"
        );
    }
}
