//! Log set-up: the systemd journal when stderr is connected to it, else stderr.
//!
//! Everything logs through the `log` facade; dependencies that use `tracing` reach the same sink
//! through tracing's `log` feature (enabled in Cargo.toml). No secret is ever formatted into a
//! log line: secret types print as `[redacted]`.

use std::str::FromStr;

use log::LevelFilter;

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
            if journal.install().is_ok() {
                // The journal takes plain levels; a RUST_LOG with per-module filters falls back
                // to the configured level.
                let level = rust_log
                    .as_deref()
                    .and_then(|s| LevelFilter::from_str(s).ok())
                    .unwrap_or(configured);
                log::set_max_level(level);
                return;
            }
        }
    }
    let mut builder = env_logger::Builder::new();
    builder
        .filter_level(configured)
        .target(env_logger::Target::Stderr);
    if let Some(filters) = rust_log {
        builder.parse_filters(&filters);
    }
    // A logger installed twice (tests calling in) keeps the first one.
    let _ = builder.try_init();
}
