//! The household's DIDs: identity keys, DID documents, publishing and resolution (SPEC §4).

pub mod did;
pub mod document;
