//! The service manager's side channel: readiness, status, stopping, and the watchdog.
//!
//! Outside systemd (`NOTIFY_SOCKET` unset) every call is a no-op.

use std::time::Duration;

use sd_notify::NotifyState;

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("Stopping")]);
}

pub fn watchdog_ping() {
    send(&[NotifyState::Watchdog]);
}

/// The HTTP socket systemd passed (socket activation, `identity-box.socket`), if it passed
/// one: the box then needs no privilege to serve port 80. Taken once per process; a box that
/// starts again after a factory reset serves the same socket.
pub fn take_http_listener() -> std::io::Result<Option<std::net::TcpListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    fds.take_tcp_listener(0)
}

/// Half of `WATCHDOG_USEC`, the interval at which to ping, when the watchdog is on.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        log::warn!("cannot notify the service manager: {e}");
    }
}
