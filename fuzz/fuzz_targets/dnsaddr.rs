//! A `dnsaddr` TXT record as the box reads it from a DNS answer (src/ipfs/dnsaddr.rs): any bytes
//! are refused or give an address that names the peer asked for and prints back to itself, and
//! what the address needs next (another look-up, or a dial) never panics.
#![no_main]
use identity_box::ipfs::dnsaddr::{dialable, parse_txt, peer_of, step};
use libfuzzer_sys::fuzz_target;

const PEER: &str = "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN";

fuzz_target!(|data: &[u8]| {
    let peer: libp2p_identity::PeerId = PEER.parse().expect("a peer id");
    if let Some(addr) = parse_txt(data, Some(&peer)) {
        assert_eq!(peer_of(&addr), Some(peer));
    }
    if let Some(addr) = parse_txt(data, None) {
        let _ = step(&addr);
        let _ = dialable(&addr);
        assert_eq!(addr.to_string().parse().ok(), Some(addr));
    }
});
