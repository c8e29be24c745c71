//! `POST /v1/pair` bodies: any bytes are refused or opened without a panic. Half the inputs are
//! wrapped into a request that really opens, so the payload parser is reached too.
#![no_main]
use identity_box::crypto::{self, b64u, BoxKeys, BoxSeed, Secret32};
use identity_box::pairing::{open_pair_request, wire::PairRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = BoxKeys::from_seed(&BoxSeed::from_bytes([1; 32]));
    if let Ok(req) = serde_json::from_slice::<PairRequest>(data) {
        let _ = open_pair_request(&keys, &req);
    }
    let device = Secret32::new([2; 32]);
    let nonce = [3u8; 24];
    let req = PairRequest {
        v: 1,
        device_key: b64u(&crypto::x25519_public(&device)),
        nonce: b64u(&nonce),
        boxed: b64u(&crypto::nacl_box(&device, &keys.agreement_public(), &nonce, data)),
    };
    let _ = open_pair_request(&keys, &req);
});
