//! IPNS records from the DHT: any bytes are refused or verified; a verified record verifies the
//! same way again, and a record is never accepted for a name whose key did not sign it.
#![no_main]
use identity_box::ipfs::IpnsName;
use identity_box::ipfs::record::{self, RecordError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let signer = record::name_of_seed(&[7; 32]);
    let other = record::name_of_seed(&[8; 32]);
    let now = 1_800_000_000;
    match record::verify(&signer, data, now) {
        Ok(info) => {
            assert_eq!(record::verify(&signer, data, now).ok(), Some(info));
            assert!(record::verify(&other, data, now).is_err());
        }
        Err(RecordError::Expired { .. } | RecordError::Invalid(_)) => {}
        Err(RecordError::Build(e)) => panic!("verifying never builds: {e}"),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(name) = text.parse::<IpnsName>() {
            assert_eq!(name.to_string(), text);
        }
    }
});
