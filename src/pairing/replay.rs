//! The channel's memory of recent nonces (protocol §3), bounded.
//!
//! A request is acceptable only while its `ts` is within the allowed skew, so a nonce needs to be
//! remembered only that long. When the cache is full, the oldest entry is forgotten and its `ts`
//! becomes a floor: anything at or below it is refused as stale, because it could no longer be
//! recognised as a replay. Memory stays bounded and no replay ever gets through.

use std::collections::{HashSet, VecDeque};

#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    /// Nonces with their `ts`, oldest arrival first.
    order: VecDeque<(i64, [u8; 24])>,
    seen: HashSet<[u8; 24]>,
    floor: i64,
}

/// Why a nonce was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    Fresh,
    Replay,
    /// Older than what the full cache can still vouch for.
    BelowFloor,
}

impl ReplayCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            seen: HashSet::new(),
            floor: i64::MIN,
        }
    }

    /// Records `nonce` (sent at `ts`) unless it was seen; forgets entries whose `ts` is before
    /// `forget_before` (they would be refused as stale anyway).
    pub fn check_and_insert(
        &mut self,
        nonce: [u8; 24],
        ts: i64,
        forget_before: i64,
    ) -> ReplayVerdict {
        while let Some(&(old_ts, old)) = self.order.front() {
            if old_ts >= forget_before {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&old);
        }
        if ts <= self.floor {
            return ReplayVerdict::BelowFloor;
        }
        if self.seen.contains(&nonce) {
            return ReplayVerdict::Replay;
        }
        if self.order.len() >= self.capacity
            && let Some((old_ts, old)) = self.order.pop_front()
        {
            self.seen.remove(&old);
            self.floor = self.floor.max(old_ts);
            if ts <= self.floor {
                return ReplayVerdict::BelowFloor;
            }
        }
        self.order.push_back((ts, nonce));
        self.seen.insert(nonce);
        ReplayVerdict::Fresh
    }

    /// The remembered nonces with their `ts`, oldest first (saved at shutdown).
    pub fn entries(&self) -> Vec<([u8; 24], i64)> {
        self.order.iter().map(|&(ts, n)| (n, ts)).collect()
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once() {
        let mut c = ReplayCache::new(10);
        assert_eq!(c.check_and_insert([1; 24], 100, 0), ReplayVerdict::Fresh);
        assert_eq!(c.check_and_insert([1; 24], 100, 0), ReplayVerdict::Replay);
        assert_eq!(c.check_and_insert([2; 24], 100, 0), ReplayVerdict::Fresh);
    }

    #[test]
    fn old_entries_are_forgotten() {
        let mut c = ReplayCache::new(10);
        c.check_and_insert([1; 24], 100, 0);
        c.check_and_insert([2; 24], 200, 0);
        c.check_and_insert([3; 24], 300, 150);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn a_full_cache_raises_a_floor_instead_of_forgetting_silently() {
        let mut c = ReplayCache::new(2);
        assert_eq!(c.check_and_insert([1; 24], 100, 0), ReplayVerdict::Fresh);
        assert_eq!(c.check_and_insert([2; 24], 101, 0), ReplayVerdict::Fresh);
        // Evicts nonce 1 (ts 100): from now on ts <= 100 is refused.
        assert_eq!(c.check_and_insert([3; 24], 102, 0), ReplayVerdict::Fresh);
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.check_and_insert([1; 24], 100, 0),
            ReplayVerdict::BelowFloor
        );
        assert_eq!(c.check_and_insert([2; 24], 101, 0), ReplayVerdict::Replay);
    }
}
