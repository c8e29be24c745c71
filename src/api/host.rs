//! The `Host` check of protocol §9: a defence against DNS rebinding.
//!
//! A web page on another site can make a browser send requests to the box by pointing its own
//! name at the box's address; such requests carry the attacker's name in `Host`. So the box
//! answers only requests addressed to `localhost`, to one of its own names, or to an IP address
//! literal (a rebinding attack always uses a name: a page cannot make a browser send an IP
//! literal for its own origin).

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The names the box answers to (lower case, without a trailing dot).
#[derive(Debug, Clone)]
pub struct AllowedHosts {
    names: HashSet<String>,
}

impl AllowedHosts {
    /// `localhost` and `names`; each name `x` without a dot also allows `x.local`.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = HashSet::from(["localhost".to_owned()]);
        for name in names {
            let name = normalise(name.as_ref());
            if name.is_empty() {
                continue;
            }
            if !name.contains('.') {
                set.insert(format!("{name}.local"));
            }
            set.insert(name);
        }
        Self { names: set }
    }

    /// Whether a request with this `Host` header value is addressed to the box.
    pub fn allows(&self, host_header: &str) -> bool {
        let Some(host) = strip_port(host_header.trim()) else {
            return false;
        };
        if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            return v6.parse::<Ipv6Addr>().is_ok();
        }
        if host.parse::<Ipv4Addr>().is_ok() {
            return true;
        }
        self.names.contains(&normalise(host))
    }
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `host[:port]` → `host`; `[v6][:port]` → `[v6]`. `None` when the port is not a number.
fn strip_port(value: &str) -> Option<&str> {
    if value.starts_with('[') {
        let end = value.find(']')?;
        let rest = &value[end + 1..];
        return match rest.strip_prefix(':') {
            None if rest.is_empty() => Some(&value[..=end]),
            Some(port) if is_port(port) => Some(&value[..=end]),
            _ => None,
        };
    }
    match value.rsplit_once(':') {
        Some((host, port)) if is_port(port) && !host.contains(':') => Some(host),
        Some(_) => None,
        None => Some(value),
    }
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hosts() -> AllowedHosts {
        AllowedHosts::new(["identity-box", "kitchen.example"])
    }

    #[test]
    fn own_names_and_addresses_are_allowed() {
        let h = hosts();
        for ok in [
            "localhost",
            "localhost:8080",
            "identity-box.local",
            "IDENTITY-BOX.LOCAL.",
            "identity-box:80",
            "kitchen.example",
            "192.168.1.20",
            "127.0.0.1:8080",
            "[::1]:8080",
            "[fe80::1]",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
    }

    #[test]
    fn other_names_are_refused() {
        let h = hosts();
        for bad in [
            "evil.com",
            "evil.com:8080",
            "identity-box.evil.com",
            "localhost.evil.com",
            "",
            "localhost:http",
            "[::1",
            "::1",
            "127.0.0.1:99999999",
            "[zz::1]",
        ] {
            assert!(!h.allows(bad), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn foreign_names_never_pass(label in "[a-z][a-z0-9-]{0,20}", tld in "(com|net|org|io)") {
            let name = format!("{label}.{tld}");
            prop_assert!(!hosts().allows(&name));
            let with_port = format!("{name}:80");
            prop_assert!(!hosts().allows(&with_port));
        }

        #[test]
        fn any_input_is_handled(input in ".{0,64}") {
            let _ = hosts().allows(&input);
        }
    }
}
