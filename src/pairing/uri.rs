//! The QR payload (protocol §2):
//! `idbox://pair?v=1&name=…&key=…&token=…&addr=…[&addr=…][&peer=12D3…]`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::crypto::{b64u, b64u_decode};

/// Everything but RFC 3986's unreserved characters is percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The longest URI accepted (a QR code holds at most a few kilobytes anyway).
pub const MAX_URI_LEN: usize = 2048;

/// A decoded pairing URI.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingUri {
    pub name: String,
    /// The box agreement key the phone pins.
    pub key: [u8; 32],
    pub token: [u8; 16],
    /// `host:port` addresses to try, in order.
    pub addrs: Vec<String>,
    /// The box's IPFS peer id, which the channel over libp2p is pinned to (absent in codes of
    /// older boxes).
    pub peer: Option<String>,
}

impl std::fmt::Debug for PairingUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairingUri")
            .field("name", &self.name)
            .field("key", &b64u(&self.key))
            .field("token", &"[redacted]")
            .field("addrs", &self.addrs)
            .field("peer", &self.peer)
            .finish()
    }
}

/// Why a string is not a pairing URI; each says what to do for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("this is not an Identity Box pairing code (it must start with idbox://pair?)")]
    NotPairing,
    #[error("this pairing code is for a newer version of Identity Box; update the app")]
    Version,
    #[error("this pairing code is damaged ({0}); scan it again")]
    Malformed(&'static str),
}

impl PairingUri {
    /// The URI text.
    pub fn encode(&self) -> String {
        let mut out = format!(
            "idbox://pair?v=1&name={}&key={}&token={}",
            utf8_percent_encode(&self.name, QUERY_VALUE),
            b64u(&self.key),
            b64u(&self.token)
        );
        for addr in &self.addrs {
            out.push_str("&addr=");
            out.extend(utf8_percent_encode(addr, QUERY_VALUE));
        }
        if let Some(peer) = &self.peer {
            out.push_str("&peer=");
            out.extend(utf8_percent_encode(peer, QUERY_VALUE));
        }
        out
    }

    /// Parses a URI; unknown parameters are ignored so later versions can add some.
    pub fn parse(text: &str) -> Result<Self, UriError> {
        let text = text.trim();
        if text.len() > MAX_URI_LEN {
            return Err(UriError::Malformed("too long"));
        }
        let query = text
            .strip_prefix("idbox://pair?")
            .ok_or(UriError::NotPairing)?;
        let (mut v, mut name, mut key, mut token, mut addrs) = (None, None, None, None, Vec::new());
        let mut peer = None;
        for (k, value) in form_urlencoded_pairs(query) {
            match k.as_str() {
                "v" => v = Some(value),
                "name" => name = Some(value),
                "key" => key = Some(value),
                "token" => token = Some(value),
                "addr" => addrs.push(value),
                "peer" => peer = Some(value),
                _ => {}
            }
        }
        match v.as_deref() {
            Some("1") => {}
            Some(_) => return Err(UriError::Version),
            None => return Err(UriError::Malformed("no version")),
        }
        let key = b64u_decode(&key.ok_or(UriError::Malformed("no key"))?)
            .ok()
            .and_then(|k| <[u8; 32]>::try_from(k).ok())
            .ok_or(UriError::Malformed("bad key"))?;
        let token = b64u_decode(&token.ok_or(UriError::Malformed("no token"))?)
            .ok()
            .and_then(|t| <[u8; 16]>::try_from(t).ok())
            .ok_or(UriError::Malformed("bad token"))?;
        if addrs.is_empty() {
            return Err(UriError::Malformed("no address"));
        }
        if addrs
            .iter()
            .any(|a| a.is_empty() || a.len() > 255 || a.contains(['/', '?', '#', '@', ' ']))
        {
            return Err(UriError::Malformed("bad address"));
        }
        if let Some(peer) = &peer
            && peer.parse::<libp2p_identity::PeerId>().is_err()
        {
            return Err(UriError::Malformed("bad peer id"));
        }
        Ok(PairingUri {
            name: name.unwrap_or_default(),
            key,
            token,
            addrs,
            peer,
        })
    }
}

/// `text` as a QR code drawn with Unicode half blocks, for a terminal.
pub fn terminal_qr(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn sample() -> PairingUri {
        PairingUri {
            name: "Kitchen box & co/ünïcode".into(),
            key: [7; 32],
            token: [9; 16],
            addrs: vec![
                "192.168.1.20:80".into(),
                "identity-box.local:80".into(),
                "[fe80::1]:80".into(),
            ],
            peer: Some("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA".into()),
        }
    }

    #[test]
    fn encodes_as_the_spec_says() {
        let text = sample().encode();
        assert!(
            text.starts_with("idbox://pair?v=1&name=Kitchen%20box%20%26%20co%2F%C3%BC"),
            "{text}"
        );
        assert!(
            text.contains("&addr=192.168.1.20%3A80&addr=identity-box.local%3A80"),
            "{text}"
        );
        assert_eq!(PairingUri::parse(&text).unwrap(), sample());
        assert!(!format!("{:?}", sample()).contains(&b64u(&[9; 16])));
    }

    #[test]
    fn refuses_what_is_not_a_pairing_code() {
        assert_eq!(
            PairingUri::parse("https://evil.com"),
            Err(UriError::NotPairing)
        );
        let text = sample().encode();
        assert_eq!(
            PairingUri::parse(&text.replace("v=1", "v=2")),
            Err(UriError::Version)
        );
        let no_addr = text.split("&addr").next().unwrap();
        assert_eq!(
            PairingUri::parse(no_addr),
            Err(UriError::Malformed("no address"))
        );
        let short_key = text.replace(&b64u(&[7; 32]), &b64u(&[7; 31]));
        assert_eq!(
            PairingUri::parse(&short_key),
            Err(UriError::Malformed("bad key"))
        );
        assert!(PairingUri::parse(&"x".repeat(5000)).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(
            name in "\\PC{0,40}",
            key in proptest::array::uniform32(any::<u8>()),
            token in proptest::array::uniform16(any::<u8>()),
            addrs in proptest::collection::vec("[a-z0-9.:\\[\\]-]{1,30}", 1..4),
        ) {
            let uri = PairingUri { name, key, token, addrs, peer: None };
            prop_assert_eq!(PairingUri::parse(&uri.encode()).unwrap(), uri);
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,300}") {
            let _ = PairingUri::parse(&text);
            let _ = PairingUri::parse(&format!("idbox://pair?{text}"));
        }
    }
}
