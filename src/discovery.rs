//! mDNS / DNS-SD (protocol §8): the box announces `_identitybox._tcp` with TXT `v=1` and `fp`; a
//! client finds its pinned box again by that fingerprint when the address it knew stops
//! answering (home routers hand out new addresses). Only this module knows mdns-sd.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};

/// The DNS-SD service type.
pub const SERVICE_TYPE: &str = "_identitybox._tcp.local.";

/// Why mDNS could not be used.
#[derive(Debug, thiserror::Error)]
#[error("mDNS: {0}")]
pub struct DiscoveryError(String);

fn err(e: impl std::fmt::Display) -> DiscoveryError {
    DiscoveryError(e.to_string())
}

/// Which interfaces mDNS uses: empty means every interface except loopback; otherwise exactly
/// the named ones (`lo` included when named, as tests in a network namespace do).
fn daemon(interfaces: &[String]) -> Result<ServiceDaemon, DiscoveryError> {
    let mdns = ServiceDaemon::new().map_err(err)?;
    if !interfaces.is_empty() {
        mdns.disable_interface(IfKind::All).map_err(err)?;
        for name in interfaces {
            mdns.enable_interface(IfKind::Name(name.clone()))
                .map_err(err)?;
        }
        if interfaces.iter().any(|n| n == "lo") {
            mdns.enable_interface(IfKind::LoopbackV4).map_err(err)?;
        }
    }
    Ok(mdns)
}

/// The host name the announcement uses: one of the box's own, so as not to contend with avahi
/// for the machine's name (`identity-box-<first 8 hex digits of fp>.local`).
pub fn host_name(fp: &str) -> String {
    format!("identity-box-{}.local", &fp[..fp.len().min(8)])
}

/// The box's announcement; withdrawn by [`Advertiser::stop`].
pub struct Advertiser {
    mdns: ServiceDaemon,
    fullname: String,
}

impl std::fmt::Debug for Advertiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Advertiser")
            .field("fullname", &self.fullname)
            .finish_non_exhaustive()
    }
}

impl Advertiser {
    /// Announces the box `name` with fingerprint `fp` on `port`.
    pub fn start(
        name: &str,
        fp: &str,
        port: u16,
        interfaces: &[String],
    ) -> Result<Advertiser, DiscoveryError> {
        let mdns = daemon(interfaces)?;
        let short = &fp[..fp.len().min(8)];
        let host = format!("{}.", host_name(fp));
        let instance = format!("{name} {short}");
        let info = ServiceInfo::new(
            SERVICE_TYPE,
            &instance,
            &host,
            "",
            port,
            &[("v", "1"), ("fp", fp)][..],
        )
        .map_err(err)?
        .enable_addr_auto();
        let fullname = info.get_fullname().to_owned();
        mdns.register(info).map_err(err)?;
        Ok(Advertiser { mdns, fullname })
    }

    /// Withdraws the announcement and stops the mDNS thread.
    pub fn stop(self) {
        if let Ok(done) = self.mdns.unregister(&self.fullname) {
            let _ = done.recv_timeout(Duration::from_secs(1));
        }
        if let Ok(done) = self.mdns.shutdown() {
            let _ = done.recv_timeout(Duration::from_secs(1));
        }
    }
}

/// Looks for the box whose TXT `fp` is `fp` (any box when `None`: the first to answer), for at
/// most `timeout`; its `ip:port` addresses.
pub fn find(
    fp: Option<&str>,
    timeout: Duration,
    interfaces: &[String],
) -> Result<Vec<SocketAddr>, DiscoveryError> {
    let mdns = daemon(interfaces)?;
    let events = mdns.browse(SERVICE_TYPE).map_err(err)?;
    let deadline = Instant::now() + timeout;
    let mut found = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(service)) => {
                if fp.is_none_or(|fp| service.get_property_val_str("fp") == Some(fp))
                    && service.get_property_val_str("v") == Some("1")
                {
                    let port = service.get_port();
                    found.extend(
                        service
                            .get_addresses_v4()
                            .into_iter()
                            .map(|ip| SocketAddr::from((ip, port))),
                    );
                    if !found.is_empty() {
                        break;
                    }
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = mdns.stop_browse(SERVICE_TYPE);
    if let Ok(done) = mdns.shutdown() {
        let _ = done.recv_timeout(Duration::from_secs(1));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announced_host_name_is_one_the_box_answers_to() {
        let name = host_name("d49c431afdfaae62");
        assert_eq!(name, "identity-box-d49c431a.local");
        let allowed = crate::api::AllowedHosts::new([name.as_str()]);
        assert!(allowed.allows("identity-box-d49c431a.local:80"));
    }
}
