//! A v2 backup bundle (protocol §5), as the box reads its slots at `backup.put` and a device
//! opens it: any bytes are refused or parsed without a panic, what parses opens with no key it
//! was not made for, and a bundle made from the input parses back to its parts.
#![no_main]
use identity_box::backup::bundle::{self, Randomness, Recipients};
use identity_box::crypto::Secret32;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for bytes in [data.to_vec(), [bundle::MAGIC.as_slice(), data].concat()] {
        if let Ok(parsed) = bundle::parse(&bytes) {
            let _ = parsed.backup_id();
            let _ = parsed.device_ids().count();
            let key = Secret32::new([7; 32]);
            let _ = parsed.open_with_bundle_key(&key);
            let _ = parsed.open_with_group_key(&key);
            let _ = parsed.group_key_for(&[0; 16], &key);
        }
    }
    let devices: Vec<([u8; 16], [u8; 32])> = data
        .chunks_exact(48)
        .take(14)
        .map(|c| (c[..16].try_into().unwrap(), c[16..].try_into().unwrap()))
        .collect();
    let (bundle_key, group_key) = (Secret32::new([1; 32]), Secret32::new([2; 32]));
    let made = bundle::seal_with(
        data,
        &Recipients {
            backup_id: [3; 16],
            bundle_key: &bundle_key,
            group_key: &group_key,
            devices: &devices,
        },
        &Randomness {
            data_key: Secret32::new([4; 32]),
            mnemonic_nonce: [5; 24],
            group_nonce: [6; 24],
            payload_nonce: [8; 24],
        },
    );
    let parsed = bundle::parse(&made).unwrap();
    assert_eq!(parsed.backup_id(), [3; 16]);
    assert_eq!(parsed.open_with_group_key(&group_key).unwrap().as_slice(), data);
    assert_eq!(parsed.open_with_bundle_key(&bundle_key).unwrap().as_slice(), data);
});
