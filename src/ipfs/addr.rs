//! Which multiaddrs are public: what a node on the public IPFS network may hand to others.
//!
//! A home network's addresses (RFC 1918, link-local, loopback, carrier-grade NAT, IPv6 unique
//! local and link-local) mean nothing outside it and tell strangers how the household's network
//! is laid out, so in `public` mode they never enter the DHT's routing table (whose entries
//! the node gives to anyone who asks), as kubo keeps them out of its public DHT.

use std::net::{Ipv4Addr, Ipv6Addr};

use multiaddr::{Multiaddr, Protocol};

/// Whether `addr` may be told to the public network: its first component is a public IP
/// address, or a DNS name (which resolves where the asker is).
pub fn is_public(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => is_public_v4(ip),
        Some(Protocol::Ip6(ip)) => is_public_v6(ip),
        Some(Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_) | Protocol::Dnsaddr(_)) => {
            true
        }
        _ => false,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b); // RFC 6598, carrier-grade NAT
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || shared
        || a == 0)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00; // fc00::/7
    let link_local = first & 0xffc0 == 0xfe80; // fe80::/10
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn home_addresses_are_private_and_internet_addresses_public() {
        for private in [
            "/ip4/192.168.1.20/tcp/4001",
            "/ip4/10.0.0.5/tcp/4001/p2p/12D3KooWQK1wnefoLrcVHbbnf5tLzbopUd3K3bFAoJpA7YJgL5pV",
            "/ip4/172.16.3.4/udp/4001/quic-v1",
            "/ip4/127.0.0.1/tcp/4001",
            "/ip4/169.254.10.1/tcp/4001",
            "/ip4/100.64.0.1/tcp/4001",
            "/ip4/0.0.0.0/tcp/4001",
            "/ip6/::1/tcp/4001",
            "/ip6/fd12:3456::1/tcp/4001",
            "/ip6/fe80::1/tcp/4001",
            "/ip6/::ffff:192.168.1.2/tcp/4001",
            "/p2p-circuit",
        ] {
            assert!(!is_public(&private.parse().unwrap()), "{private}");
        }
        for public in [
            "/ip4/104.131.131.82/tcp/4001",
            "/ip4/11.1.0.1/tcp/4001",
            "/ip4/100.128.0.1/tcp/4001",
            "/ip6/2604:a880:1:20::203:d001/tcp/4001",
            "/dns4/bootstrap.example/tcp/4001",
        ] {
            assert!(is_public(&public.parse().unwrap()), "{public}");
        }
    }
}
