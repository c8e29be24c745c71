//! Any params for any method, through the box's dispatch, as a paired owner or member sends
//! them (the channel has opened: this is what an authenticated device can make the box do).
//! The first byte picks the method and the device; the rest is the params' JSON.
//!
//! The store is real (SQLite in memory), so the handlers that need only it run (devices,
//! pairing, backup status, the reset request); those that need the IPFS node answer that the
//! box is starting, after their params were read. Nothing panics; every answer carries a result
//! or an error, never both; and no params make the box fail with an internal error: bad params
//! get `invalid_params` (or another kind that says what to do), not a 500.
#![no_main]
use std::sync::{Arc, OnceLock};

use identity_box::api::rpc::{Call, dispatch};
use identity_box::api::{AppState, RateLimits};
use identity_box::clock::{Clock, ManualClock};
use identity_box::crypto::{BoxKeys, BoxSeed};
use identity_box::pairing::wire::RpcRequest;
use identity_box::pairing::{Pairing, PairingConfig};
use identity_box::protocol::METHODS;
use identity_box::store::{Device, DeviceLimits, NewRole, Paired, Store};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

struct World {
    rt: tokio::runtime::Runtime,
    state: AppState,
    store: Store,
    devices: [Device; 2],
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let keys = Arc::new(BoxKeys::from_seed(&BoxSeed::from_bytes([7; 32])));
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(1_700_000_000));
        let pairing = Pairing::new(
            keys.clone(),
            "Fuzz box".into(),
            vec!["127.0.0.1:8080".into()],
            clock.clone(),
            PairingConfig {
                window: identity_box::pairing::window::WindowConfig {
                    duration_secs: 600,
                    max_failures: 20,
                },
                startup_window_secs: 0,
                link_code_secs: 300,
                replay_capacity: 100,
                limits: DeviceLimits::default(),
            },
        );
        let state = AppState::new(
            "Fuzz box".into(),
            keys.public(),
            clock,
            pairing,
            RateLimits {
                pair_per_minute: 30,
                bad_rpc_per_minute: 30,
                device_per_minute: 600,
                resolve_per_minute: 120,
            },
        );
        let (store, devices) = rt.block_on(async {
            let store = Store::open_in_memory(1_700_000_000).await.unwrap();
            let mut devices = Vec::new();
            for (id, key, role) in [
                ("owner", 1u8, NewRole::Owner),
                ("member", 2, NewRole::Member),
            ] {
                let paired = store
                    .pair_device(
                        id.into(),
                        [key; 32],
                        id.into(),
                        role,
                        DeviceLimits::default(),
                        1_700_000_000,
                    )
                    .await
                    .unwrap();
                let Paired::Device(d) = paired else {
                    panic!("{id} did not pair")
                };
                devices.push(d);
            }
            (store, devices)
        });
        state.set_store(store.clone());
        let devices = devices.try_into().unwrap();
        World {
            rt,
            state,
            store,
            devices,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, params)) = data.split_first() else {
        return;
    };
    let Ok(params) = std::str::from_utf8(params) else {
        return;
    };
    // The channel hands dispatch params that are JSON (the envelope parsed them).
    let Ok(params) = serde_json::from_str::<&RawValue>(params) else {
        return;
    };
    let world = world();
    let method = METHODS[usize::from(pick >> 1) % METHODS.len()];
    let device = &world.devices[usize::from(pick & 1)];
    let req = RpcRequest {
        jsonrpc: "2.0".into(),
        id: serde_json::Value::from(1),
        method: method.into(),
        params: Some(params),
        ts: 1_700_000_000,
    };
    let call = Call {
        state: &world.state,
        store: &world.store,
        device,
    };
    let response = world.rt.block_on(dispatch(&call, &req, "nonce".into()));
    assert!(
        response.result.is_some() != response.error.is_some(),
        "{method} {params}: {response:?}"
    );
    if let Some(error) = &response.error {
        assert_ne!(error.code, -32603, "{method} {params}: {error:?}");
    }
});
