//! Peers named by DNS: `/dnsaddr/<host>/p2p/<id>` (the public IPFS network's bootstrap peers, as
//! kubo lists them), `/dns4/…`, `/dns6/…` and `/dns/…`.
//!
//! libp2p's DNS transport is not used (connexa 0.5 cannot dial TCP through it, and its resolver
//! falls back to Google's when the system's configuration cannot be read): the node resolves
//! these names itself with the system's resolver before it dials (`node.rs`). This module is the
//! part without a network: what a name needs looking up, and what a `dnsaddr` TXT record says
//! (bytes from the network, fuzzed in `fuzz_targets/dnsaddr.rs`).
//!
//! The `dnsaddr` convention (multiformats/multiaddr, `protocols/DNSADDR.md`): the TXT records of
//! `_dnsaddr.<host>` are strings `dnsaddr=<multiaddr>`; an entry may name another `/dnsaddr/`,
//! resolved in turn; `/dnsaddr/<host>/p2p/<id>` keeps only the entries that end in `/p2p/<id>`.

use multiaddr::{Multiaddr, PeerId, Protocol};

/// How deep `/dnsaddr/` entries may point at other `/dnsaddr/` names (kubo's limit too).
pub const MAX_DEPTH: usize = 4;
/// At most this many addresses come out of one configured entry.
pub const MAX_ADDRESSES: usize = 32;

/// What a configured address needs before the node can dial it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing: it names an IP address (or a transport the node cannot resolve).
    Dial(Multiaddr),
    /// The TXT records of `name` (`_dnsaddr.<host>`), each kept if it names `peer`'s
    /// addresses (any peer's without one).
    Txt { name: String, peer: Option<PeerId> },
    /// The IP addresses of `host` (IPv4 and/or IPv6), each put in place of the first component
    /// of `rest`'s address.
    Ip {
        host: String,
        v4: bool,
        v6: bool,
        /// The address after its first component (`/tcp/4001/p2p/…`).
        rest: Multiaddr,
    },
}

/// What `addr` needs: a look-up, or nothing.
pub fn step(addr: &Multiaddr) -> Step {
    let mut parts = addr.iter();
    let (host, v4, v6) = match parts.next() {
        Some(Protocol::Dnsaddr(host)) => {
            return Step::Txt {
                name: format!("_dnsaddr.{}", host.trim_end_matches('.')),
                peer: peer_of(addr),
            };
        }
        Some(Protocol::Dns4(host)) => (host, true, false),
        Some(Protocol::Dns6(host)) => (host, false, true),
        Some(Protocol::Dns(host)) => (host, true, true),
        _ => return Step::Dial(addr.clone()),
    };
    Step::Ip {
        host: host.into_owned(),
        v4,
        v6,
        rest: parts.collect(),
    }
}

/// The peer an address ends with (`…/p2p/<id>`).
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

/// The multiaddr one TXT string of `_dnsaddr.<host>` gives, if it is a `dnsaddr=` entry that
/// parses and names `peer` (when one is asked for): the string is the record's character
/// strings joined, as DNS carries it. Anything else is `None`: other TXT records share the name.
pub fn parse_txt(txt: &[u8], peer: Option<&PeerId>) -> Option<Multiaddr> {
    let text = std::str::from_utf8(txt).ok()?;
    let addr: Multiaddr = text.trim().strip_prefix("dnsaddr=")?.parse().ok()?;
    if addr.is_empty() {
        return None;
    }
    match peer {
        Some(want) if peer_of(&addr).as_ref() != Some(want) => None,
        _ => Some(addr),
    }
}

/// Whether the node can dial `addr` as it is: an IP address and TCP (the node speaks TCP only;
/// the public bootstrap peers list QUIC and WebTransport addresses too).
pub fn dialable(addr: &Multiaddr) -> bool {
    let mut parts = addr.iter();
    matches!(parts.next(), Some(Protocol::Ip4(_) | Protocol::Ip6(_)))
        && matches!(parts.next(), Some(Protocol::Tcp(_)))
        && parts.all(|p| matches!(p, Protocol::P2p(_)))
}

/// `rest` with `ip` in front: the address a `/dns4/…` name resolved to.
pub fn with_ip(ip: std::net::IpAddr, rest: &Multiaddr) -> Multiaddr {
    let first = match ip {
        std::net::IpAddr::V4(v4) => Protocol::Ip4(v4),
        std::net::IpAddr::V6(v6) => Protocol::Ip6(v6),
    };
    std::iter::once(first).chain(rest.iter()).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ID: &str = "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN";
    const OTHER: &str = "12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";

    fn ma(s: &str) -> Multiaddr {
        s.parse().unwrap()
    }

    #[test]
    fn each_kind_of_name_needs_its_own_look_up() {
        let peer: PeerId = ID.parse().unwrap();
        assert_eq!(
            step(&ma(&format!("/dnsaddr/bootstrap.libp2p.io/p2p/{ID}"))),
            Step::Txt {
                name: "_dnsaddr.bootstrap.libp2p.io".into(),
                peer: Some(peer)
            }
        );
        assert_eq!(
            step(&ma("/dnsaddr/boot.test")),
            Step::Txt {
                name: "_dnsaddr.boot.test".into(),
                peer: None
            }
        );
        assert_eq!(
            step(&ma(&format!("/dns4/boot.test/tcp/4001/p2p/{ID}"))),
            Step::Ip {
                host: "boot.test".into(),
                v4: true,
                v6: false,
                rest: ma(&format!("/tcp/4001/p2p/{ID}")),
            }
        );
        assert!(matches!(
            step(&ma("/dns6/boot.test/tcp/4001")),
            Step::Ip {
                v4: false,
                v6: true,
                ..
            }
        ));
        assert!(matches!(
            step(&ma("/dns/boot.test/tcp/4001")),
            Step::Ip {
                v4: true,
                v6: true,
                ..
            }
        ));
        let ip = ma(&format!("/ip4/104.131.131.82/tcp/4001/p2p/{ID}"));
        assert_eq!(step(&ip), Step::Dial(ip.clone()));
    }

    #[test]
    fn txt_records_give_the_entries_of_the_peer_asked_for() {
        let peer: PeerId = ID.parse().unwrap();
        let mine = format!("dnsaddr=/ip4/147.75.83.83/tcp/4001/p2p/{ID}");
        assert_eq!(
            parse_txt(mine.as_bytes(), Some(&peer)),
            Some(ma(&format!("/ip4/147.75.83.83/tcp/4001/p2p/{ID}")))
        );
        let other = format!("dnsaddr=/ip4/147.75.83.84/tcp/4001/p2p/{OTHER}");
        assert_eq!(parse_txt(other.as_bytes(), Some(&peer)), None);
        // Without a peer asked for, every entry; one that names no peer only then.
        assert!(parse_txt(other.as_bytes(), None).is_some());
        assert_eq!(
            parse_txt(b"dnsaddr=/dnsaddr/sv15.bootstrap.libp2p.io", None),
            Some(ma("/dnsaddr/sv15.bootstrap.libp2p.io"))
        );
        assert_eq!(
            parse_txt(b"dnsaddr=/dnsaddr/sv15.bootstrap.libp2p.io", Some(&peer)),
            None
        );
        for junk in [
            &b"v=spf1 -all"[..],
            b"dnsaddr=",
            b"dnsaddr=/ip4/999.1.1.1/tcp/1",
            b"dnsaddr=not a multiaddr",
            b"\xff\xfednsaddr=/ip4/1.2.3.4/tcp/1",
            b"",
        ] {
            assert_eq!(parse_txt(junk, None), None, "{junk:?}");
        }
    }

    #[test]
    fn only_ip_and_tcp_addresses_are_dialled() {
        assert!(dialable(&ma(&format!(
            "/ip4/147.75.83.83/tcp/4001/p2p/{ID}"
        ))));
        assert!(dialable(&ma("/ip6/2604:1380:4602:5c00::3/tcp/4001")));
        for not in [
            format!("/ip4/147.75.83.83/udp/4001/quic-v1/p2p/{ID}"),
            "/ip4/147.75.83.83/tcp/443/wss".to_owned(),
            "/dns4/boot.test/tcp/4001".to_owned(),
            format!("/p2p/{ID}"),
        ] {
            assert!(!dialable(&ma(&not)), "{not}");
        }
        assert_eq!(
            with_ip("11.1.0.2".parse().unwrap(), &ma("/tcp/4001")),
            ma("/ip4/11.1.0.2/tcp/4001")
        );
    }
}
