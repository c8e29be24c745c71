//! DIDs and DID documents from phones and other boxes: a DID parses or is refused, and what
//! parses prints back as the same text; a gateway's name in any spelling parses to a name whose
//! canonical text parses back to it; any JSON document is accepted or refused by the shape
//! check without panicking.
#![no_main]
use identity_box::identity::Did;
use identity_box::identity::document::{check_conformance, check_shape};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(did) = text.parse::<Did>() {
            assert_eq!(did.to_string(), text);
        }
        for candidate in [text.to_owned(), format!("did:ipid:{text}")] {
            let _ = candidate.parse::<Did>();
        }
        if let Ok(name) = identity_box::ipfs::IpnsName::from_any_form(text) {
            let canonical = name.to_string();
            assert_eq!(canonical.parse::<identity_box::ipfs::IpnsName>(), Ok(name));
        }
    }
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) {
        let did: Did = "did:ipid:k51qzi5uqu5dljtg5upm7x7ugan9lql3ewyknv4r4mhhkwzn8n7cnbd1unfwgq"
            .parse()
            .unwrap();
        // The box's own shape is stricter than what any document from the network must be.
        if check_shape(&did, &doc).is_ok() {
            assert!(check_conformance(&did, &doc).is_ok());
        }
    }
});
