//! The configuration file parser: any bytes give a config or a one-line error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = identity_box::config::Config::parse_toml(text) {
            assert!(!e.to_string().contains('\n'));
        }
    }
});
