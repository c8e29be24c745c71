//! Rate limits (protocol §3, §9): token buckets keyed by the client's IP address or device.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Addresses tracked at most; beyond it, buckets that have refilled are forgotten first.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug)]
pub struct RateLimiter<K = IpAddr> {
    per_minute: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// Allows bursts of `per_minute` requests, refilled at `per_minute` per minute.
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute: f64::from(per_minute.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `ip` has a request left (without using it).
    pub fn allows(&self, ip: &K) -> bool {
        let now = Instant::now();
        let buckets = self.lock();
        buckets.get(ip).is_none_or(|b| self.refilled(b, now) >= 1.0)
    }

    /// Uses one request of `ip`'s allowance; `false` when none was left.
    pub fn hit(&self, ip: &K) -> bool {
        let now = Instant::now();
        let mut buckets = self.lock();
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(ip) {
            let full = self.per_minute;
            buckets.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * full / 60.0 < full
            });
            if buckets.len() >= MAX_TRACKED {
                // Still full of active addresses: refuse the newcomer rather than grow.
                return false;
            }
        }
        let bucket = buckets.entry(ip.clone()).or_insert(Bucket {
            tokens: self.per_minute,
            updated: now,
        });
        let tokens = self.refilled(bucket, now);
        if tokens < 1.0 {
            *bucket = Bucket {
                tokens,
                updated: now,
            };
            return false;
        }
        *bucket = Bucket {
            tokens: tokens - 1.0,
            updated: now,
        };
        true
    }

    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        let elapsed = now.duration_since(b.updated).as_secs_f64();
        (b.tokens + elapsed * self.per_minute / 60.0).min(self.per_minute)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Bucket>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_refusal_per_address() {
        let l = RateLimiter::new(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap_or_else(|_| unreachable!());
        let b: IpAddr = "192.0.2.2".parse().unwrap_or_else(|_| unreachable!());
        assert!(l.hit(&a) && l.hit(&a) && l.hit(&a));
        assert!(!l.allows(&a));
        assert!(!l.hit(&a));
        assert!(l.allows(&b) && l.hit(&b));
    }
}
