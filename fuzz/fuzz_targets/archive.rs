//! The archive reader (`identity-box verify`, `restore`): any bytes from a file. It must never
//! panic nor hold more than the declared, bounded sizes; an archive it accepts names a format
//! it knows and lists every member it holds.
#![no_main]
use identity_box::backup::archive::{self, FORMAT};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(opened) = archive::read(data, true) {
        assert_eq!(opened.manifest.format, FORMAT);
        assert!(opened.bundle.is_some() && opened.sealed_keys.is_some());
        for did in opened.documents.keys() {
            let path = format!("did/{}.json", &did["did:ipid:".len()..]);
            assert!(opened.manifest.files.iter().any(|f| f.path == path));
        }
    }
});
