//! The `Host` header check: any header value is classified without a panic, and a value with a
//! foreign name is never allowed.
#![no_main]
use identity_box::api::AllowedHosts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(host) = std::str::from_utf8(data) {
        let allowed = AllowedHosts::new(["identity-box"]);
        if allowed.allows(host) {
            let t = host.trim().to_ascii_lowercase();
            assert!(
                t.starts_with("localhost")
                    || t.starts_with("identity-box")
                    || t.starts_with('[')
                    || t.starts_with(|c: char| c.is_ascii_digit()),
                "{host:?}"
            );
        }
    }
});
