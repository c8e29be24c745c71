//! Time as the box sees it, behind a trait so that tests can move it.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in Unix seconds.
pub trait Clock: Send + Sync + Debug {
    fn now_unix(&self) -> i64;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        // A clock before 1970 (a Pi without a time source can boot into the past) reads as 0.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that stands still until it is set or moved, so that tests of time-dependent logic
/// (pairing windows, ticket and session expiry) move time instead of waiting for it. Public so
/// that end-to-end tests and benchmarks can use it too.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock that reads `now`, in Unix seconds.
    pub fn new(now: i64) -> Self {
        Self(AtomicI64::new(now))
    }

    /// Sets the time to `now`.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the time by `secs`, backwards when it is negative (a clock corrected by NTP).
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1_000);
        assert_eq!(clock.now_unix(), 1_000);
        clock.advance(600);
        assert_eq!(clock.now_unix(), 1_600);
        clock.advance(-1_600);
        assert_eq!(clock.now_unix(), 0);
        clock.set(1_700_000_000);
        assert_eq!(clock.now_unix(), 1_700_000_000);
        assert_eq!(ManualClock::default().now_unix(), 0);
    }
}
