//! The QR payload parser: any text is refused or parsed; what parses encodes and parses back to
//! the same value.
#![no_main]
use identity_box::pairing::uri::PairingUri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for candidate in [text.to_owned(), format!("idbox://pair?{text}")] {
            if let Ok(uri) = PairingUri::parse(&candidate) {
                assert_eq!(PairingUri::parse(&uri.encode()).as_ref(), Ok(&uri));
            }
        }
    }
});
