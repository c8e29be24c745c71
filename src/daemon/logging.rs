//! Log set-up: the systemd journal when stderr is connected to it, else stderr.
//!
//! Everything logs through the `log` facade; dependencies that use `tracing` reach the same sink
//! through tracing's `log` feature (enabled in Cargo.toml). No secret is ever formatted into a
//! log line: secret types print as `[redacted]`.

use std::str::FromStr;

use log::LevelFilter;

/// The level of log lines from dependencies (libp2p, rust-ipfs…): their `info` is chatter that
/// would drown the box's own lines in the journal.
fn dependency_level(configured: LevelFilter, target: &str) -> LevelFilter {
    // "Failed to trigger bootstrap: No known peers" is the normal state of a box alone on its LAN.
    let cap = if target.starts_with("libp2p_kad") {
        LevelFilter::Error
    } else {
        LevelFilter::Warn
    };
    configured.min(cap)
}

fn is_own(target: &str) -> bool {
    target == "identity_box" || target.starts_with("identity_box::")
}

/// The journal logger with the box's own lines at the configured level and dependencies capped.
struct Filtered<L> {
    inner: L,
    configured: LevelFilter,
}

impl<L: log::Log> log::Log for Filtered<L> {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let target = metadata.target();
        let level = if is_own(target) {
            self.configured
        } else {
            dependency_level(self.configured, target)
        };
        metadata.level() <= level && self.inner.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            self.inner.log(record);
        }
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Installs the logger. `RUST_LOG`, when set, wins over the configured level.
pub fn init(configured_level: &str) {
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let configured = LevelFilter::from_str(configured_level).unwrap_or(LevelFilter::Info);
    if systemd_journal_logger::connected_to_journal()
        && let Ok(journal) = systemd_journal_logger::JournalLog::new()
    {
        {
            let journal = journal.with_syslog_identifier("identity-box".to_owned());
            // The journal takes plain levels; a RUST_LOG with per-module filters falls back to
            // the configured level.
            let level = rust_log
                .as_deref()
                .and_then(|s| LevelFilter::from_str(s).ok())
                .unwrap_or(configured);
            let logger = Filtered {
                inner: journal,
                configured: level,
            };
            if log::set_boxed_logger(Box::new(logger)).is_ok() {
                log::set_max_level(level);
                return;
            }
        }
    }
    let mut builder = env_logger::Builder::new();
    builder.target(env_logger::Target::Stderr);
    match rust_log {
        Some(filters) => {
            builder.filter_level(configured).parse_filters(&filters);
        }
        None => {
            builder
                .filter_level(dependency_level(configured, ""))
                .filter_module("libp2p_kad", dependency_level(configured, "libp2p_kad"))
                .filter_module("identity_box", configured);
        }
    }
    // A logger installed twice (tests calling in) keeps the first one.
    let _ = builder.try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::{Level, Log, Metadata};

    struct Everything;
    impl Log for Everything {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn log(&self, _: &log::Record<'_>) {}
        fn flush(&self) {}
    }

    fn enabled(logger: &Filtered<Everything>, target: &str, level: Level) -> bool {
        logger.enabled(&Metadata::builder().target(target).level(level).build())
    }

    #[test]
    fn dependencies_are_capped_and_the_box_is_not() {
        let logger = Filtered {
            inner: Everything,
            configured: LevelFilter::Info,
        };
        assert!(enabled(&logger, "identity_box::daemon", Level::Info));
        assert!(enabled(&logger, "identity_box", Level::Info));
        assert!(!enabled(&logger, "identity_box::daemon", Level::Debug));
        assert!(!enabled(&logger, "identity_boxer", Level::Info));
        assert!(!enabled(&logger, "libp2p_swarm", Level::Info));
        assert!(enabled(&logger, "libp2p_swarm", Level::Warn));
        assert!(!enabled(&logger, "libp2p_kad::behaviour", Level::Warn));
        assert!(enabled(&logger, "libp2p_kad::behaviour", Level::Error));
        let quiet = Filtered {
            inner: Everything,
            configured: LevelFilter::Error,
        };
        assert!(!enabled(&quiet, "connexa::task", Level::Warn));
    }
}
