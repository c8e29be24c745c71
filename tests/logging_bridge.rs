//! Dependencies that log through `tracing` (hyper, warp, later libp2p) must reach the `log` sink
//! the daemon installs; tracing's `log` feature does that while no tracing subscriber is set.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        self.0
            .lock()
            .unwrap()
            .push(format!("{} {}", record.level(), record.args()));
    }
    fn flush(&self) {}
}

#[test]
fn tracing_events_reach_the_log_facade() {
    let capture: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
    log::set_logger(capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    tracing::warn!(peer = 7, "from a tracing dependency");
    let lines = capture.0.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("WARN") && l.contains("from a tracing dependency")),
        "{lines:?}"
    );
}
