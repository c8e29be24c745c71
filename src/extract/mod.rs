//! Desktop extraction (SPEC §6): download tickets for archives. A ticket is a random 32-byte
//! bearer secret in a URL, valid for [`TICKET_SECS`] and until one download has sent the
//! archive's last byte; `Range` requests within that time continue a broken download.
//!
//! Tickets are kept in memory (a restart forgets them: the desktop asks again), indexed by the
//! SHA-256 of the ticket so that finding one reveals nothing about others by its timing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backup::ArchiveSource;
use crate::clock::Clock;
use crate::crypto::{self, Secret32};

/// How long a download URL stays valid (SPEC §6).
pub const TICKET_SECS: i64 = 5 * 60;
/// At most this many live tickets; the oldest goes first.
const MAX_TICKETS: usize = 64;

/// A ticket as handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub ticket: String,
    pub expires: i64,
}

#[derive(Debug)]
struct Entry<T> {
    source: T,
    expires: i64,
}

/// The live download tickets, each for a `T` (an archive).
#[derive(Debug, Clone)]
pub struct Tickets<T = ArchiveSource> {
    clock: Arc<dyn Clock>,
    live: Arc<Mutex<HashMap<[u8; 32], Entry<T>>>>,
}

impl<T: Clone> Tickets<T> {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            live: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn live(&self) -> MutexGuard<'_, HashMap<[u8; 32], Entry<T>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new ticket for `source`.
    pub fn issue(&self, source: T) -> Result<Issued, crypto::KeyError> {
        let secret = Secret32::random()?;
        let ticket = crypto::b64u(secret.expose());
        let expires = self.clock.now_unix() + TICKET_SECS;
        let mut live = self.live();
        let now = self.clock.now_unix();
        live.retain(|_, e| e.expires > now);
        while live.len() >= MAX_TICKETS {
            let oldest = live.iter().min_by_key(|(_, e)| e.expires).map(|(k, _)| *k);
            match oldest {
                Some(k) => live.remove(&k),
                None => break,
            };
        }
        live.insert(crypto::sha256(ticket.as_bytes()), Entry { source, expires });
        Ok(Issued { ticket, expires })
    }

    /// The archive of a live ticket.
    pub fn get(&self, ticket: &str) -> Option<T> {
        let key = crypto::sha256(ticket.as_bytes());
        let mut live = self.live();
        let now = self.clock.now_unix();
        match live.get(&key) {
            Some(e) if e.expires > now => Some(e.source.clone()),
            Some(_) => {
                live.remove(&key);
                None
            }
            None => None,
        }
    }

    /// A download sent the last byte: the ticket is used up.
    pub fn complete(&self, ticket: &str) {
        self.live().remove(&crypto::sha256(ticket.as_bytes()));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    #[derive(Debug, Default)]
    struct TestClock(AtomicI64);
    impl Clock for TestClock {
        fn now_unix(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn a_ticket_lives_five_minutes_and_until_completed() {
        let clock = Arc::new(TestClock(AtomicI64::new(1000)));
        let tickets: Tickets<u32> = Tickets::new(clock.clone());
        let a = tickets.issue(7).unwrap();
        let b = tickets.issue(8).unwrap();
        assert_ne!(a.ticket, b.ticket);
        assert_eq!(a.expires, 1000 + TICKET_SECS);
        assert_eq!(tickets.get(&a.ticket), Some(7));
        assert_eq!(
            tickets.get(&a.ticket),
            Some(7),
            "a range request may come again"
        );
        assert_eq!(tickets.get("not-a-ticket"), None);
        tickets.complete(&a.ticket);
        assert_eq!(tickets.get(&a.ticket), None, "used");
        clock.0.store(1000 + TICKET_SECS - 1, Ordering::SeqCst);
        assert_eq!(tickets.get(&b.ticket), Some(8));
        clock.0.store(1000 + TICKET_SECS, Ordering::SeqCst);
        assert_eq!(tickets.get(&b.ticket), None, "expired");
    }

    #[test]
    fn old_tickets_make_room() {
        let clock = Arc::new(TestClock(AtomicI64::new(0)));
        let tickets: Tickets<usize> = Tickets::new(clock.clone());
        let mut issued = Vec::new();
        for i in 0..MAX_TICKETS + 5 {
            clock.0.store(i as i64, Ordering::SeqCst);
            issued.push(tickets.issue(i).unwrap());
        }
        assert_eq!(tickets.live().len(), MAX_TICKETS);
        assert_eq!(tickets.get(&issued[0].ticket), None);
        assert_eq!(
            tickets.get(&issued[MAX_TICKETS + 4].ticket),
            Some(MAX_TICKETS + 4)
        );
    }
}
