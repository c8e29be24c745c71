//! Pairing windows (protocol §2): when pairing is possible, with which single-use token, and the
//! lockout after too many wrong tokens. Pure logic over a `now` the caller passes in.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A pairing token: 16 random bytes, single use, compared in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Token([u8; 16]);

impl Token {
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).unwrap_or_else(|e| panic!("no random numbers: {e}"));
        Self(bytes)
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    fn matches(&self, candidate: &[u8]) -> bool {
        crate::crypto::ct_eq(&self.0, candidate)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// Settings of the windows.
#[derive(Debug, Clone, Copy)]
pub struct WindowConfig {
    /// How long a window opened by a device or the console stays open, in seconds.
    pub duration_secs: i64,
    /// Wrong tokens that close a window.
    pub max_failures: u32,
}

/// An open window, as callers see it.
#[derive(Debug, Clone)]
pub struct OpenWindow {
    pub token: Token,
    /// When it closes (Unix seconds); `None` while it stays open until the first pairing.
    pub expires_at: Option<i64>,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No window is open.
    Closed,
    /// Wrong token; `locked_out` when this failure closed the window.
    BadToken { locked_out: bool },
}

#[derive(Debug)]
struct Window {
    token: Token,
    /// Open until a device pairs (the box has none).
    until_paired: bool,
    /// Open until this time, whatever happens (start-up, device or console request).
    expires_at: Option<i64>,
    failures: u32,
}

impl Window {
    fn open_at(&self, now: i64) -> bool {
        self.until_paired || self.expires_at.is_some_and(|e| now < e)
    }
}

/// The box's pairing window state.
#[derive(Debug)]
pub struct Windows {
    config: WindowConfig,
    current: Option<Window>,
}

impl Windows {
    pub fn new(config: WindowConfig) -> Self {
        Self {
            config,
            current: None,
        }
    }

    /// Opens (or keeps open) a window that lasts until the first device pairs.
    pub fn open_until_paired(&mut self, now: i64) {
        self.expire(now);
        match &mut self.current {
            Some(w) => w.until_paired = true,
            None => {
                self.current = Some(Window {
                    token: Token::random(),
                    until_paired: true,
                    expires_at: None,
                    failures: 0,
                })
            }
        }
    }

    /// Opens a window for `duration_secs` from `now`, or extends the open one (same token).
    pub fn open_for(&mut self, now: i64, duration_secs: i64) -> OpenWindow {
        self.expire(now);
        let until = now.saturating_add(duration_secs);
        let w = self.current.get_or_insert_with(|| Window {
            token: Token::random(),
            until_paired: false,
            expires_at: None,
            failures: 0,
        });
        w.expires_at = Some(w.expires_at.map_or(until, |e| e.max(until)));
        OpenWindow {
            token: w.token.clone(),
            expires_at: if w.until_paired { None } else { w.expires_at },
        }
    }

    /// Opens a window of the configured length (a device's or the console's request).
    pub fn open(&mut self, now: i64) -> OpenWindow {
        self.open_for(now, self.config.duration_secs)
    }

    /// The open window, if any.
    pub fn current(&mut self, now: i64) -> Option<OpenWindow> {
        self.expire(now);
        self.current.as_ref().map(|w| OpenWindow {
            token: w.token.clone(),
            expires_at: if w.until_paired { None } else { w.expires_at },
        })
    }

    pub fn is_open(&mut self, now: i64) -> bool {
        self.current(now).is_some()
    }

    /// Checks a token and, when it is right, uses it up: the window then closes, or gets a new
    /// token while its time has not run out. The check and the use are one step, so one token
    /// can never pair two devices.
    pub fn redeem(&mut self, candidate: &[u8], now: i64) -> Result<(), Refusal> {
        self.expire(now);
        let Some(w) = &mut self.current else {
            return Err(Refusal::Closed);
        };
        if !w.token.matches(candidate) {
            w.failures += 1;
            if w.failures >= self.config.max_failures {
                self.current = None;
                return Err(Refusal::BadToken { locked_out: true });
            }
            return Err(Refusal::BadToken { locked_out: false });
        }
        w.until_paired = false;
        if w.expires_at.is_some_and(|e| now < e) {
            w.token = Token::random();
            w.failures = 0;
        } else {
            self.current = None;
        }
        Ok(())
    }

    fn expire(&mut self, now: i64) {
        if self.current.as_ref().is_some_and(|w| !w.open_at(now)) {
            self.current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows() -> Windows {
        Windows::new(WindowConfig {
            duration_secs: 600,
            max_failures: 20,
        })
    }

    #[test]
    fn closed_until_opened_and_expires() {
        let mut w = windows();
        assert!(!w.is_open(0));
        assert_eq!(w.redeem(&[0; 16], 0), Err(Refusal::Closed));
        let open = w.open(100);
        assert_eq!(open.expires_at, Some(700));
        assert!(w.is_open(699));
        assert!(!w.is_open(700));
        assert_eq!(w.redeem(open.token.as_bytes(), 700), Err(Refusal::Closed));
    }

    #[test]
    fn a_token_is_single_use_and_a_new_one_follows() {
        let mut w = windows();
        let first = w.open(0).token;
        assert_eq!(w.redeem(first.as_bytes(), 10), Ok(()));
        assert_eq!(
            w.redeem(first.as_bytes(), 11),
            Err(Refusal::BadToken { locked_out: false })
        );
        let second = w.current(12).unwrap().token;
        assert_ne!(first, second);
        assert_eq!(w.redeem(second.as_bytes(), 12), Ok(()));
    }

    #[test]
    fn until_paired_closes_after_the_first_pairing() {
        let mut w = windows();
        w.open_until_paired(0);
        assert!(w.is_open(1_000_000));
        assert_eq!(w.current(5).unwrap().expires_at, None);
        let t = w.current(5).unwrap().token;
        assert_eq!(w.redeem(t.as_bytes(), 5), Ok(()));
        assert!(!w.is_open(6));
    }

    #[test]
    fn until_paired_with_a_start_window_stays_open_for_its_time() {
        let mut w = windows();
        w.open_until_paired(0);
        w.open_for(0, 600);
        let t = w.current(5).unwrap().token;
        assert_eq!(w.redeem(t.as_bytes(), 5), Ok(()));
        assert_eq!(w.current(6).unwrap().expires_at, Some(600));
        assert!(!w.is_open(600));
    }

    #[test]
    fn the_twentieth_failure_closes_the_window() {
        let mut w = windows();
        let good = w.open(0).token;
        for i in 1..20 {
            assert_eq!(
                w.redeem(&[i as u8; 16], 1),
                Err(Refusal::BadToken { locked_out: false }),
                "{i}"
            );
        }
        assert_eq!(
            w.redeem(&[99; 16], 1),
            Err(Refusal::BadToken { locked_out: true })
        );
        assert_eq!(w.redeem(good.as_bytes(), 1), Err(Refusal::Closed));
    }

    #[test]
    fn reopening_extends_and_keeps_the_token() {
        let mut w = windows();
        let a = w.open(0);
        let b = w.open(300);
        assert_eq!(a.token, b.token);
        assert_eq!(b.expires_at, Some(900));
        assert!(format!("{:?}", a.token).contains("redacted"));
    }
}
