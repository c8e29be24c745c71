//! The approval QR code a desktop shows (`idbox://approve?session=…&code=…`), as a phone reads
//! it: any text is refused or parsed, and what the box makes parses back to its parts.
#![no_main]
use identity_box::extract::{approve_uri, parse_approve_uri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_approve_uri(text);
        let _ = parse_approve_uri(&format!("idbox://approve?{text}"));
        // Sessions and codes as the box makes them (base64url, digits) round-trip.
        let session: String = text
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(22)
            .collect();
        let code: String = text.chars().filter(char::is_ascii_digit).take(8).collect();
        if !session.is_empty() && !code.is_empty() {
            assert_eq!(
                parse_approve_uri(&approve_uri(&session, &code)),
                Some((session, code))
            );
        }
    }
});
