//! Pairing windows (protocol §2): when pairing is possible, with which single-use token, which
//! role it gives, and the lockout of an opened window after too many wrong tokens. Pure logic over
//! a `now` the caller passes in.

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
    /// Wrong tokens that close a window opened by a device or the console.
    pub max_failures: u32,
}

/// Which window a token belongs to; it decides the role of the device that pairs with it
/// (protocol §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// Open while no device is paired: trust on first use, the device becomes the owner. Public:
    /// its QR code is on the web page.
    UntilPaired,
    /// Open for a while after a real power cycle: the device is pending until an owner approves
    /// it, or until it proves a backup's words. Public too.
    Startup,
    /// Opened by an owner (`pairing.open`) or the console: its code goes only to whoever opened
    /// it, and the device becomes a member.
    Opened,
}

impl WindowKind {
    /// Whether anyone on the network may see its code (the web page's QR code).
    pub fn is_public(self) -> bool {
        matches!(self, WindowKind::UntilPaired | WindowKind::Startup)
    }
}

/// An open window, as callers see it.
#[derive(Debug, Clone)]
pub struct OpenWindow {
    pub kind: WindowKind,
    pub token: Token,
    /// When it closes (Unix seconds); `None` while it stays open until the first pairing.
    pub expires_at: Option<i64>,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No window is open.
    Closed,
    /// Wrong token; `locked_out` when this failure closed the opened window.
    BadToken { locked_out: bool },
}

/// A redeemed token: the window it opened, and when that window closes (`None`: it stayed open
/// until this pairing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redeemed {
    pub kind: WindowKind,
    pub closes_at: Option<i64>,
}

#[derive(Debug)]
struct Window {
    kind: WindowKind,
    token: Token,
    /// Open until this time (start-up, device or console request); `None` for until-paired.
    expires_at: Option<i64>,
    /// Until-paired in the place of a start-up window: the start-up window's end, which it
    /// becomes again after its first pairing.
    startup_until: Option<i64>,
    failures: u32,
}

impl Window {
    fn new(kind: WindowKind, expires_at: Option<i64>) -> Self {
        Self {
            kind,
            token: Token::random(),
            expires_at,
            startup_until: None,
            failures: 0,
        }
    }

    fn open_at(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }

    fn view(&self) -> OpenWindow {
        OpenWindow {
            kind: self.kind,
            token: self.token.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// The box's pairing windows: at most one public window (until-paired, or else start-up) and at
/// most one opened window, each with its own token.
#[derive(Debug)]
pub struct Windows {
    config: WindowConfig,
    public: Option<Window>,
    opened: Option<Window>,
}

impl Windows {
    pub fn new(config: WindowConfig) -> Self {
        Self {
            config,
            public: None,
            opened: None,
        }
    }

    /// Opens (or keeps open) the window that lasts until the first device pairs. It takes the
    /// place of a start-up window, which follows it after the first pairing for what is left of
    /// its time.
    pub fn open_until_paired(&mut self, now: i64) {
        self.expire(now);
        match &mut self.public {
            Some(w) if w.kind == WindowKind::Startup => {
                w.kind = WindowKind::UntilPaired;
                w.startup_until = w.expires_at.take();
            }
            Some(_) => {}
            None => self.public = Some(Window::new(WindowKind::UntilPaired, None)),
        }
    }

    /// Opens the start-up window for `duration_secs` from `now`; while the until-paired window
    /// is open, the start-up window follows it.
    pub fn open_startup(&mut self, now: i64, duration_secs: i64) {
        self.expire(now);
        let until = now.saturating_add(duration_secs);
        match &mut self.public {
            Some(w) if w.kind == WindowKind::UntilPaired => {
                w.startup_until = Some(w.startup_until.map_or(until, |t| t.max(until)));
            }
            Some(w) => w.expires_at = Some(w.expires_at.map_or(until, |t| t.max(until))),
            None => self.public = Some(Window::new(WindowKind::Startup, Some(until))),
        }
    }

    /// Opens a window of the configured length (an owner's or the console's request), or
    /// extends the opened one (same token).
    pub fn open(&mut self, now: i64) -> OpenWindow {
        self.expire(now);
        let until = now.saturating_add(self.config.duration_secs);
        let w = self
            .opened
            .get_or_insert_with(|| Window::new(WindowKind::Opened, Some(until)));
        w.expires_at = Some(w.expires_at.map_or(until, |e| e.max(until)));
        w.view()
    }

    /// The public window (the web page's QR code), if one is open.
    pub fn public(&mut self, now: i64) -> Option<OpenWindow> {
        self.expire(now);
        self.public.as_ref().map(Window::view)
    }

    /// Whether any window is open.
    pub fn is_open(&mut self, now: i64) -> bool {
        self.expire(now);
        self.public.is_some() || self.opened.is_some()
    }

    /// Checks a token against every open window and, when it is one's, uses it up: that
    /// window then closes, or gets a new token while its time has not run out. The check and
    /// the use are one step, so one token can never pair two devices. A wrong token counts
    /// only against the opened window (a phone is being paired in it right now); the public
    /// windows stay open whatever a stranger sends, and the per-address limit slows guessing.
    pub fn redeem(&mut self, candidate: &[u8], now: i64) -> Result<Redeemed, Refusal> {
        self.expire(now);
        if self.public.is_none() && self.opened.is_none() {
            return Err(Refusal::Closed);
        }
        // Both compared, in constant time, whatever the first gives.
        let public = self
            .public
            .as_ref()
            .is_some_and(|w| w.token.matches(candidate));
        let opened = self
            .opened
            .as_ref()
            .is_some_and(|w| w.token.matches(candidate));
        let slot = if public {
            &mut self.public
        } else if opened {
            &mut self.opened
        } else {
            if let Some(w) = &mut self.opened {
                w.failures += 1;
                if w.failures >= self.config.max_failures {
                    self.opened = None;
                    return Err(Refusal::BadToken { locked_out: true });
                }
            }
            return Err(Refusal::BadToken { locked_out: false });
        };
        let Some(w) = slot else {
            return Err(Refusal::Closed);
        };
        let redeemed = Redeemed {
            kind: w.kind,
            closes_at: w.expires_at,
        };
        if w.kind == WindowKind::UntilPaired {
            // The first device paired: what is left is the start-up window, if any.
            w.kind = WindowKind::Startup;
            w.expires_at = w.startup_until.take();
        }
        if w.expires_at.is_some_and(|e| now < e) {
            w.token = Token::random();
            w.failures = 0;
        } else {
            *slot = None;
        }
        Ok(redeemed)
    }

    fn expire(&mut self, now: i64) {
        for slot in [&mut self.public, &mut self.opened] {
            if slot.as_ref().is_some_and(|w| !w.open_at(now)) {
                *slot = None;
            }
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

    fn opened(kind: WindowKind, closes_at: Option<i64>) -> Result<Redeemed, Refusal> {
        Ok(Redeemed { kind, closes_at })
    }

    #[test]
    fn closed_until_opened_and_expires() {
        let mut w = windows();
        assert!(!w.is_open(0));
        assert_eq!(w.redeem(&[0; 16], 0), Err(Refusal::Closed));
        let open = w.open(100);
        assert_eq!(
            (open.kind, open.expires_at),
            (WindowKind::Opened, Some(700))
        );
        assert!(w.is_open(699));
        assert!(w.public(699).is_none(), "an opened window is not public");
        assert!(!w.is_open(700));
        assert_eq!(w.redeem(open.token.as_bytes(), 700), Err(Refusal::Closed));
    }

    #[test]
    fn a_token_is_single_use_and_a_new_one_follows() {
        let mut w = windows();
        let first = w.open(0).token;
        assert_eq!(
            w.redeem(first.as_bytes(), 10),
            opened(WindowKind::Opened, Some(600))
        );
        assert_eq!(
            w.redeem(first.as_bytes(), 11),
            Err(Refusal::BadToken { locked_out: false })
        );
        let second = w.open(12).token;
        assert_ne!(first, second);
        assert_eq!(
            w.redeem(second.as_bytes(), 12),
            opened(WindowKind::Opened, Some(612))
        );
    }

    #[test]
    fn until_paired_closes_after_the_first_pairing() {
        let mut w = windows();
        w.open_until_paired(0);
        assert!(w.is_open(1_000_000));
        let public = w.public(5).unwrap();
        assert_eq!(
            (public.kind, public.expires_at),
            (WindowKind::UntilPaired, None)
        );
        assert_eq!(
            w.redeem(public.token.as_bytes(), 5),
            opened(WindowKind::UntilPaired, None)
        );
        assert!(!w.is_open(6));
    }

    #[test]
    fn until_paired_takes_the_place_of_the_startup_window_which_follows_it() {
        for startup_first in [true, false] {
            let mut w = windows();
            if startup_first {
                w.open_startup(0, 600);
                w.open_until_paired(0);
            } else {
                w.open_until_paired(0);
                w.open_startup(0, 600);
            }
            let t = w.public(5).unwrap();
            assert_eq!((t.kind, t.expires_at), (WindowKind::UntilPaired, None));
            assert_eq!(
                w.redeem(t.token.as_bytes(), 5),
                opened(WindowKind::UntilPaired, None)
            );
            let next = w.public(6).unwrap();
            assert_eq!(
                (next.kind, next.expires_at),
                (WindowKind::Startup, Some(600))
            );
            assert_ne!(next.token, t.token);
            assert!(!w.is_open(600));
        }
    }

    #[test]
    fn the_startup_window_gives_new_tokens_until_its_time_runs_out() {
        let mut w = windows();
        w.open_startup(0, 600);
        let t = w.public(5).unwrap();
        assert_eq!(
            w.redeem(t.token.as_bytes(), 5),
            opened(WindowKind::Startup, Some(600))
        );
        let next = w.public(6).unwrap();
        assert_ne!(next.token, t.token);
        assert!(w.public(600).is_none());
    }

    #[test]
    fn each_window_has_its_own_token() {
        let mut w = windows();
        w.open_startup(0, 600);
        let public = w.public(1).unwrap().token;
        let private = w.open(1).token;
        assert_ne!(public, private);
        assert_eq!(
            w.redeem(private.as_bytes(), 2),
            opened(WindowKind::Opened, Some(601))
        );
        assert_eq!(
            w.redeem(public.as_bytes(), 3),
            opened(WindowKind::Startup, Some(600))
        );
    }

    #[test]
    fn the_twentieth_failure_closes_the_opened_window_only() {
        let mut w = windows();
        w.open_until_paired(0);
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
        assert_eq!(
            w.redeem(good.as_bytes(), 1),
            Err(Refusal::BadToken { locked_out: false })
        );
        // The until-paired window is still there, and strangers' tokens do not close it.
        for i in 0..100 {
            assert_eq!(
                w.redeem(&[i as u8; 16], 2),
                Err(Refusal::BadToken { locked_out: false })
            );
        }
        let public = w.public(3).unwrap().token;
        assert_eq!(
            w.redeem(public.as_bytes(), 3),
            opened(WindowKind::UntilPaired, None)
        );
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
