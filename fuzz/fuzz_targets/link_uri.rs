//! The link QR a new device shows (`idbox://link?v=1&device=…&key=…&code=…`, protocol §2), as
//! another device reads it: any text is refused or parsed, and what parses encodes back to a
//! text that parses to the same.
#![no_main]
use identity_box::pairing::link::LinkUri;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for t in [text.to_owned(), format!("idbox://link?{text}")] {
            if let Ok(uri) = LinkUri::parse(&t) {
                assert_eq!(LinkUri::parse(&uri.encode()), Ok(uri));
            }
        }
    }
});
