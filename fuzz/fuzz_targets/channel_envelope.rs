//! `POST /v1/rpc` bodies and `/identity-box/channel/1` requests (the same envelope): any bytes are refused or opened without a panic; inputs are also sealed
//! for real so that the JSON-RPC request parser, and every method's params type, is reached.
#![no_main]
use identity_box::crypto::{self, b64u, BoxKeys, BoxSeed, Secret32};
use identity_box::pairing::{open_envelope, wire::Envelope, wire::RpcRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let keys = BoxKeys::from_seed(&BoxSeed::from_bytes([1; 32]));
    let device = Secret32::new([2; 32]);
    let device_key = crypto::x25519_public(&device);
    if let Ok(env) = serde_json::from_slice::<Envelope>(data) {
        let _ = open_envelope(&keys, &device_key, &env);
    }
    let nonce = [4u8; 24];
    let env = Envelope {
        device: "00".repeat(16),
        nonce: b64u(&nonce),
        boxed: b64u(&crypto::nacl_box(&device, &keys.agreement_public(), &nonce, data)),
    };
    if let Ok((_, plain)) = open_envelope(&keys, &device_key, &env) {
        assert_eq!(plain, data);
        if let Ok(request) = serde_json::from_slice::<RpcRequest>(&plain) {
            // Every method's params type reads what the request carries, as the box would.
            let params = request.params.map_or("{}", |p| p.get());
            for method in identity_box::protocol::METHODS {
                let _ = identity_box::protocol::read_params(method, params);
            }
            let _ = identity_box::protocol::read_params(&request.method, params);
        }
    }
});
