//! The `Range` header of archive downloads: any text and any file length give a clear answer,
//! and a range that is served lies inside the file and is not empty.
#![no_main]
use identity_box::api::download::parse_range;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, u64)| {
    let (value, len) = input;
    if let Ok(Some((start, end))) = parse_range(value, len) {
        assert!(start < end, "{value:?} of {len}: {start}..{end}");
        assert!(end <= len, "{value:?} of {len}: {start}..{end}");
    }
});
