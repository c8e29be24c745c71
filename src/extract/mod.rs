//! Desktop extraction (protocol §6): the sessions in which a phone approves a desktop's request for
//! an archive, and the download tickets it gets. A ticket is a random 32-byte bearer secret in
//! a URL, valid for [`TICKET_SECS`] and until one download has sent the archive's last byte;
//! `Range` requests within that time continue a broken download. A session lives
//! [`SESSION_SECS`] unanswered: the desktop polls it with its secret, and the phone that scanned
//! its QR code answers with the code in it.
//!
//! Tickets and sessions are kept in memory (a restart forgets them: the desktop asks again);
//! tickets are indexed by their SHA-256 so that finding one reveals nothing about others by its
//! timing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backup::ArchiveSource;
use crate::clock::Clock;
use crate::crypto::{self, Secret32};

/// How long a download URL stays valid (protocol §6).
pub const TICKET_SECS: i64 = 5 * 60;
/// At most this many live tickets; the oldest goes first.
const MAX_TICKETS: usize = 64;

/// Drops the expired entries of `live`, then the ones expiring first until one more fits
/// under `max`.
fn make_room<K: Clone + Eq + std::hash::Hash, V>(
    live: &mut HashMap<K, V>,
    now: i64,
    max: usize,
    expires: impl Fn(&V) -> i64,
) {
    live.retain(|_, v| expires(v) > now);
    while live.len() >= max {
        let Some(first) = live
            .iter()
            .min_by_key(|(_, v)| expires(v))
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        live.remove(&first);
    }
}

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
        make_room(&mut live, now, MAX_TICKETS, |e| e.expires);
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
    use crate::clock::ManualClock;

    #[test]
    fn a_ticket_lives_five_minutes_and_until_completed() {
        let clock = Arc::new(ManualClock::new(1000));
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
        clock.set(1000 + TICKET_SECS - 1);
        assert_eq!(tickets.get(&b.ticket), Some(8));
        clock.set(1000 + TICKET_SECS);
        assert_eq!(tickets.get(&b.ticket), None, "expired");
    }

    #[test]
    fn old_tickets_make_room() {
        let clock = Arc::new(ManualClock::new(0));
        let tickets: Tickets<usize> = Tickets::new(clock.clone());
        let mut issued = Vec::new();
        for i in 0..MAX_TICKETS + 5 {
            clock.set(i as i64);
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

/// How long a desktop's request to save a backup waits for the phone (protocol §6).
pub const SESSION_SECS: i64 = 5 * 60;
/// At most this many sessions at once; beyond it new ones are refused (nobody's session is
/// pushed out by someone else's).
pub const MAX_SESSIONS: usize = 256;
/// At most this many waiting sessions per address: a fifth one from the same computer replaces
/// that computer's oldest (someone who clicked "save" again).
pub const SESSIONS_PER_ADDRESS: usize = 4;
/// Wrong codes after which a session ends (protocol §6).
pub const MAX_WRONG_CODES: u32 = 5;

/// What `POST /v1/extract` answers: the desktop keeps `secret` and shows `qr` (with `code`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Started {
    pub session: String,
    pub secret: String,
    pub code: String,
    pub qr: String,
    pub expires: i64,
}

/// Where a session stands, as `GET /v1/extract/<session>` tells the desktop.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the phone.
    Pending { expires: i64 },
    /// The phone approved: a download URL (single use, valid until `expires`).
    Approved {
        url: String,
        filename: String,
        size: u64,
        expires: i64,
    },
    /// The phone said no.
    Refused { message: String },
}

#[derive(Debug)]
struct Session {
    secret_hash: [u8; 32],
    code: String,
    expires: i64,
    status: Status,
    /// The desktop's address.
    owner: IpAddr,
    started: i64,
    wrong_codes: u32,
}

/// Why no session was started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// As many sessions wait as the box keeps.
    #[error("the box is busy with other requests to save backups; try again in a few minutes")]
    Busy,
    #[error(transparent)]
    Random(#[from] crypto::KeyError),
}

/// Why a phone's approval was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApproveError {
    #[error(
        "this request to save a backup has expired or does not exist; start it again on the computer"
    )]
    Gone,
    #[error("this code does not match the request; scan the QR code on the computer again")]
    WrongCode,
    #[error(
        "this request to save a backup got too many wrong codes and has ended; start it again on \
         the computer"
    )]
    TooManyWrongCodes,
    #[error("this request was already answered")]
    Answered,
}

/// Desktop extraction sessions (protocol §6), kept in memory.
#[derive(Debug, Clone)]
pub struct Sessions {
    clock: Arc<dyn Clock>,
    live: Arc<Mutex<HashMap<String, Session>>>,
}

impl Sessions {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            live: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn live(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for the desktop at `owner`.
    pub fn start(&self, owner: IpAddr) -> Result<Started, StartError> {
        let id = &Secret32::random()?.expose()[..16].to_vec();
        let session = crypto::b64u(id);
        let secret = crypto::b64u(Secret32::random()?.expose());
        let digits = Secret32::random()?;
        let n = u32::from_le_bytes([
            digits.expose()[0],
            digits.expose()[1],
            digits.expose()[2],
            digits.expose()[3],
        ]);
        let code = format!("{:08}", n % 100_000_000);
        let now = self.clock.now_unix();
        let expires = now + SESSION_SECS;
        let mut live = self.live();
        live.retain(|_, s| s.alive(now));
        let waiting = |s: &Session, owner: IpAddr| {
            s.owner == owner && matches!(s.status, Status::Pending { .. })
        };
        while live.values().filter(|s| waiting(s, owner)).count() >= SESSIONS_PER_ADDRESS {
            let oldest = live
                .iter()
                .filter(|(_, s)| waiting(s, owner))
                .min_by_key(|(_, s)| s.started)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => live.remove(&k),
                None => break,
            };
        }
        if live.len() >= MAX_SESSIONS {
            return Err(StartError::Busy);
        }
        live.insert(
            session.clone(),
            Session {
                secret_hash: crypto::sha256(secret.as_bytes()),
                code: code.clone(),
                expires,
                status: Status::Pending { expires },
                owner,
                started: now,
                wrong_codes: 0,
            },
        );
        Ok(Started {
            qr: approve_uri(&session, &code),
            session,
            secret,
            code,
            expires,
        })
    }

    /// The session's status for the desktop holding `secret`; `None` when it is unknown,
    /// expired, or the secret is wrong.
    pub fn status(&self, session: &str, secret: &str) -> Option<Status> {
        let now = self.clock.now_unix();
        let mut live = self.live();
        let s = live.get(session)?;
        if !crypto::ct_eq(&crypto::sha256(secret.as_bytes()), &s.secret_hash) {
            return None;
        }
        if !s.alive(now) {
            live.remove(session);
            return None;
        }
        Some(s.status.clone())
    }

    /// Checks a phone's answer before it is acted on. A wrong code counts against the session:
    /// the fifth ends it, and the desktop is told to start again.
    pub fn check(&self, session: &str, code: &str) -> Result<(), ApproveError> {
        let now = self.clock.now_unix();
        let mut live = self.live();
        let s = live
            .get_mut(session)
            .filter(|s| s.expires > now)
            .ok_or(ApproveError::Gone)?;
        if s.wrong_codes >= MAX_WRONG_CODES {
            return Err(ApproveError::TooManyWrongCodes);
        }
        if !crypto::ct_eq(code.as_bytes(), s.code.as_bytes()) {
            s.wrong_codes += 1;
            if s.wrong_codes < MAX_WRONG_CODES {
                return Err(ApproveError::WrongCode);
            }
            if matches!(s.status, Status::Pending { .. }) {
                s.status = Status::Refused {
                    message: "The phone's code was wrong too many times, so this request has \
                              ended. Start again to save the backup."
                        .into(),
                };
            }
            return Err(ApproveError::TooManyWrongCodes);
        }
        if !matches!(s.status, Status::Pending { .. }) {
            return Err(ApproveError::Answered);
        }
        Ok(())
    }

    /// Records the phone's answer (after [`Sessions::check`]).
    pub fn answer(&self, session: &str, code: &str, status: Status) -> Result<(), ApproveError> {
        self.check(session, code)?;
        if let Some(s) = self.live().get_mut(session) {
            s.status = status;
        }
        Ok(())
    }
}

impl Session {
    /// A waiting session lives five minutes; an approved one as long as its ticket.
    fn alive(&self, now: i64) -> bool {
        match &self.status {
            Status::Approved { expires, .. } => *expires > now,
            _ => self.expires > now,
        }
    }
}

/// The QR payload a desktop shows: `idbox://approve?session=…&code=…`.
pub fn approve_uri(session: &str, code: &str) -> String {
    format!("idbox://approve?session={session}&code={code}")
}

/// The session and code of an approval URI.
pub fn parse_approve_uri(uri: &str) -> Option<(String, String)> {
    let url = url::Url::parse(uri.trim()).ok()?;
    if url.scheme() != "idbox" || url.host_str() != Some("approve") {
        return None;
    }
    let mut session = None;
    let mut code = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "session" => session = Some(v.into_owned()),
            "code" => code = Some(v.into_owned()),
            _ => {}
        }
    }
    Some((session?, code?))
}

#[cfg(test)]
mod session_tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::clock::ManualClock;

    const DESKTOP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 20));

    /// Hosts other than the desktop.
    fn addr(n: u8) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn no_address_pushes_out_another_ones_session() {
        let clock = Arc::new(ManualClock::new(100));
        let sessions = Sessions::new(clock.clone());
        let desktop = sessions.start(DESKTOP).unwrap();
        // Another host starts as many as it may, and more: its own oldest go, not the desktop's.
        let mut mine = Vec::new();
        for _ in 0..3 * SESSIONS_PER_ADDRESS {
            mine.push(sessions.start(addr(66)).unwrap());
            clock.advance(1);
        }
        assert!(sessions.status(&desktop.session, &desktop.secret).is_some());
        let kept = mine
            .iter()
            .filter(|s| sessions.status(&s.session, &s.secret).is_some())
            .count();
        assert_eq!(kept, SESSIONS_PER_ADDRESS);
        assert!(
            sessions
                .status(&mine.last().unwrap().session, &mine.last().unwrap().secret)
                .is_some()
        );
        // Many hosts fill the box: then new sessions are refused, and still none is pushed out.
        for n in 0..=u8::try_from(MAX_SESSIONS / SESSIONS_PER_ADDRESS).unwrap() {
            for _ in 0..SESSIONS_PER_ADDRESS {
                let _ = sessions.start(addr(n));
            }
        }
        assert!(matches!(sessions.start(addr(200)), Err(StartError::Busy)));
        assert!(sessions.status(&desktop.session, &desktop.secret).is_some());
        assert_eq!(sessions.check(&desktop.session, &desktop.code), Ok(()));
        // Once they expire there is room again.
        clock.advance(SESSION_SECS + 1);
        assert!(sessions.start(addr(200)).is_ok());
    }

    #[test]
    fn the_fifth_wrong_code_ends_the_session() {
        let clock = Arc::new(ManualClock::new(100));
        let sessions = Sessions::new(clock);
        let s = sessions.start(DESKTOP).unwrap();
        for _ in 1..MAX_WRONG_CODES {
            assert_eq!(
                sessions.check(&s.session, "00000000x"),
                Err(ApproveError::WrongCode)
            );
        }
        // The test can fail: the right code still works before the fifth wrong one.
        assert_eq!(sessions.check(&s.session, &s.code), Ok(()));
        assert_eq!(
            sessions.check(&s.session, "00000000x"),
            Err(ApproveError::TooManyWrongCodes)
        );
        assert_eq!(
            sessions.check(&s.session, &s.code),
            Err(ApproveError::TooManyWrongCodes)
        );
        assert!(matches!(
            sessions.status(&s.session, &s.secret),
            Some(Status::Refused { .. })
        ));
    }

    #[test]
    fn a_session_waits_for_the_phone_then_expires() {
        let clock = Arc::new(ManualClock::new(100));
        let sessions = Sessions::new(clock.clone());
        let s = sessions.start(DESKTOP).unwrap();
        assert_eq!(
            parse_approve_uri(&s.qr),
            Some((s.session.clone(), s.code.clone()))
        );
        assert_eq!(s.code.len(), 8);
        assert_eq!(
            sessions.status(&s.session, &s.secret),
            Some(Status::Pending {
                expires: 100 + SESSION_SECS
            })
        );
        assert_eq!(sessions.status(&s.session, "wrong"), None);
        assert_eq!(
            sessions.check(&s.session, "00000000x"),
            Err(ApproveError::WrongCode)
        );
        assert_eq!(sessions.check("nope", &s.code), Err(ApproveError::Gone));
        let approved = Status::Approved {
            url: "/v1/archive/t".into(),
            filename: "f.idbox".into(),
            size: 10,
            expires: 100 + SESSION_SECS + 200,
        };
        sessions
            .answer(&s.session, &s.code, approved.clone())
            .unwrap();
        assert_eq!(
            sessions.check(&s.session, &s.code),
            Err(ApproveError::Answered)
        );
        // An approved session lives as long as its ticket.
        clock.set(100 + SESSION_SECS + 1);
        assert_eq!(sessions.status(&s.session, &s.secret), Some(approved));
        clock.set(100 + SESSION_SECS + 200);
        assert_eq!(sessions.status(&s.session, &s.secret), None);

        // Unanswered, it expires after five minutes, and can no longer be approved.
        let t = sessions.start(DESKTOP).unwrap();
        clock.set(100 + 2 * SESSION_SECS + 200);
        assert_eq!(sessions.check(&t.session, &t.code), Err(ApproveError::Gone));
        assert_eq!(sessions.status(&t.session, &t.secret), None);
    }

    #[test]
    fn approval_uris_parse_strictly() {
        assert_eq!(
            parse_approve_uri("idbox://approve?session=abc&code=12345678"),
            Some(("abc".into(), "12345678".into()))
        );
        assert_eq!(parse_approve_uri("idbox://pair?session=abc&code=1"), None);
        assert_eq!(
            parse_approve_uri("https://approve?session=abc&code=1"),
            None
        );
        assert_eq!(parse_approve_uri("idbox://approve?session=abc"), None);
    }
}
