//! Linking a device into a person's group (protocol §2, "Linking"): the link codes the box
//! hands out, the link QR, and the comparison code both devices show.
//!
//! A code is 8 random digits for one device, single use, and good for 5 minutes; after
//! `MAX_WRONG` wrong codes it stops working. Codes live in memory: a restart of the box ends
//! them (the new device shows a new link QR).

use std::collections::HashMap;

use zeroize::Zeroizing;

use crate::crypto::{self, b64u, b64u_decode};
use crate::protocol::Role;
use crate::protocol::devices::{
    DevicesLink, DevicesLinkClaim, DevicesLinkFetch, LinkClaimed, LinkDone, LinkFetched, LinkPeer,
    LinkStarted, LinkState,
};
use crate::store::{Device, Linked, Store};

/// How long a link code works by default (`pairing.link_code_secs`).
pub const LINK_SECS: i64 = 5 * 60;
/// Wrong codes a link takes before it stops working.
pub const MAX_WRONG: u32 = 5;
/// How long the box remembers a used or expired code (to tell "used" and "expired" apart).
const REMEMBER_SECS: i64 = 3600;

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("this device has no link code on the box; show the link QR on the new device again")]
    NoCode,
    #[error("the link code has expired; show a new link QR on the new device")]
    Expired,
    #[error("the link code was used already; show a new link QR on the new device")]
    Used,
    #[error(
        "the link code is wrong; {left} tries are left before it stops working (scan the QR \
         again)"
    )]
    Wrong { left: u32 },
    #[error("the link code was entered wrong too often; show a new link QR on the new device")]
    TooManyWrong,
    #[error(
        "another device scanned this link code first; if that was not yours, show a new link QR \
         on the new device"
    )]
    ClaimedByOther,
}

/// The device that claimed a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimer {
    pub device_id: String,
    pub name: String,
    pub key: [u8; 32],
}

#[derive(Debug)]
struct Session {
    code: Zeroizing<String>,
    expires: i64,
    wrong: u32,
    used: bool,
    claimed: Option<Claimer>,
}

/// The link codes handed out, by the new device's id.
#[derive(Debug, Default)]
pub struct LinkBook {
    sessions: HashMap<String, Session>,
}

/// 8 random digits.
fn new_code() -> Zeroizing<String> {
    let mut bytes = [0u8; 8];
    getrandom::getrandom(&mut bytes).unwrap_or_else(|e| panic!("no random numbers: {e}"));
    // 2^64 is 1.8e19: the bias of `% 10^8` is below 1e-11.
    Zeroizing::new(format!("{:08}", u64::from_le_bytes(bytes) % 100_000_000))
}

impl LinkBook {
    fn forget_old(&mut self, now: i64) {
        self.sessions.retain(|_, s| s.expires + REMEMBER_SECS > now);
    }

    /// A new code for `device_id` (one replaces the one before); returns it and its end.
    pub fn start(&mut self, device_id: &str, now: i64, secs: i64) -> (Zeroizing<String>, i64) {
        self.forget_old(now);
        let code = new_code();
        let expires = now + secs;
        self.sessions.insert(
            device_id.to_owned(),
            Session {
                code: code.clone(),
                expires,
                wrong: 0,
                used: false,
                claimed: None,
            },
        );
        (code, expires)
    }

    /// Checks `code` for `device_id`; a wrong one is counted.
    fn check(&mut self, device_id: &str, code: &str, now: i64) -> Result<&mut Session, CodeError> {
        self.forget_old(now);
        let s = self.sessions.get_mut(device_id).ok_or(CodeError::NoCode)?;
        if s.used {
            return Err(CodeError::Used);
        }
        if now >= s.expires {
            return Err(CodeError::Expired);
        }
        if s.wrong >= MAX_WRONG {
            return Err(CodeError::TooManyWrong);
        }
        if !crypto::ct_eq(s.code.as_bytes(), code.as_bytes()) {
            s.wrong += 1;
            return Err(match MAX_WRONG - s.wrong {
                0 => CodeError::TooManyWrong,
                left => CodeError::Wrong { left },
            });
        }
        Ok(s)
    }

    /// A device scanned the code: it is remembered as the claimer (a later claim replaces
    /// it). Returns the code's end.
    pub fn claim(
        &mut self,
        device_id: &str,
        code: &str,
        by: Claimer,
        now: i64,
    ) -> Result<i64, CodeError> {
        let s = self.check(device_id, code, now)?;
        if s.claimed
            .as_ref()
            .is_some_and(|c| c.device_id != by.device_id)
        {
            return Err(CodeError::ClaimedByOther);
        }
        s.claimed = Some(by);
        Ok(s.expires)
    }

    /// The claimer's link: checks the code and that `by` claimed it, and uses the code up at
    /// once (so no second link can run beside this one); `unuse` gives it back if the link
    /// could not be stored.
    pub fn redeem(
        &mut self,
        device_id: &str,
        code: &str,
        by: &str,
        now: i64,
    ) -> Result<Result<(), NotClaimed>, CodeError> {
        let s = self.check(device_id, code, now)?;
        if s.claimed.as_ref().map(|c| c.device_id.as_str()) != Some(by) {
            return Ok(Err(NotClaimed));
        }
        s.used = true;
        Ok(Ok(()))
    }

    /// Gives a code back after its link failed to be stored.
    pub fn unuse(&mut self, device_id: &str) {
        if let Some(s) = self.sessions.get_mut(device_id) {
            s.used = false;
        }
    }

    /// Who claimed the code of `device_id`, while it lasts.
    pub fn claimer(&mut self, device_id: &str, now: i64) -> Option<Claimer> {
        self.forget_old(now);
        self.sessions
            .get(device_id)
            .filter(|s| !s.used && now < s.expires)
            .and_then(|s| s.claimed.clone())
    }
}

/// `devices.link` before `devices.link_claim` by the same device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotClaimed;

/// The link QR: `idbox://link?v=1&device=<device_id>&key=<b64u X25519 key>&code=<8 digits>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkUri {
    pub device_id: String,
    pub key: [u8; 32],
    pub code: String,
}

/// Why a link QR did not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this is not an Identity Box link code ({0}); scan the link QR the new device shows")]
pub struct LinkUriError(&'static str);

impl LinkUri {
    pub fn encode(&self) -> String {
        format!(
            "idbox://link?v=1&device={}&key={}&code={}",
            self.device_id,
            b64u(&self.key),
            self.code
        )
    }

    /// Reads a link QR. The device id must be the key's.
    pub fn parse(text: &str) -> Result<Self, LinkUriError> {
        let query = text
            .trim()
            .strip_prefix("idbox://link?")
            .ok_or(LinkUriError("it does not start with idbox://link?"))?;
        let (mut v, mut device, mut key, mut code) = (None, None, None, None);
        for pair in query.split('&') {
            let (k, value) = pair
                .split_once('=')
                .ok_or(LinkUriError("a field has no value"))?;
            let slot = match k {
                "v" => &mut v,
                "device" => &mut device,
                "key" => &mut key,
                "code" => &mut code,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(LinkUriError("a field is given twice"));
            }
        }
        if v != Some("1") {
            return Err(LinkUriError("its version is not 1"));
        }
        let key: [u8; 32] = b64u_decode(key.ok_or(LinkUriError("it has no key"))?)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or(LinkUriError("its key is not 32 bytes of base64url"))?;
        let device_id = device.ok_or(LinkUriError("it has no device"))?;
        if device_id != crypto::device_id(&key) {
            return Err(LinkUriError("its device id is not its key's"));
        }
        let code = code.ok_or(LinkUriError("it has no code"))?;
        if code.len() != 8 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LinkUriError("its code is not 8 digits"));
        }
        Ok(Self {
            device_id: device_id.to_owned(),
            key,
            code: code.to_owned(),
        })
    }
}

/// The 6-digit comparison code both devices show: the first 4 bytes of
/// `HKDF(new key ‖ existing key ‖ code, "link-compare")`, big-endian, modulo 10^6.
pub fn comparison_code(new_key: &[u8; 32], existing_key: &[u8; 32], code: &str) -> String {
    let mut ikm = Zeroizing::new(Vec::with_capacity(64 + code.len()));
    ikm.extend_from_slice(new_key);
    ikm.extend_from_slice(existing_key);
    ikm.extend_from_slice(code.as_bytes());
    let out = crypto::hkdf32(&ikm, "link-compare");
    let n = u32::from_be_bytes(
        out.expose()[..4]
            .try_into()
            .unwrap_or_else(|_| unreachable!("4 bytes")),
    );
    format!("{:06}", n % 1_000_000)
}

/// Why a link step was refused; each maps to a protocol §3 error kind.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error(transparent)]
    Code(#[from] CodeError),
    #[error("scan the link QR first: this device has not claimed the code (devices.link_claim)")]
    NotClaimed,
    #[error("a device cannot link itself; scan the link QR with another device of yours")]
    Itself,
    #[error(
        "this phone is waiting for approval: ask an owner of the box to approve it before it \
         links other devices"
    )]
    Pending,
    #[error("no device {0} is paired; pair the new device with the box first")]
    NotPaired(String),
    #[error(
        "your devices are {max} already, as many as one person may link; revoke one you no \
         longer use first",
        max = crate::store::MAX_GROUP_DEVICES
    )]
    GroupFull,
    #[error(
        "the new device is waiting for an owner's approval; only an owner's device can link it"
    )]
    NeedsOwner,
    #[error("only the new device itself can fetch what was sealed for it")]
    NotYours,
    #[error("sealed must be base64url of a sealed box (at least 48 bytes)")]
    BadSealed,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

fn peer(device_id: &str, name: &str, key: &[u8; 32]) -> LinkPeer {
    LinkPeer {
        device_id: device_id.to_owned(),
        name: name.to_owned(),
        key: b64u(key),
    }
}

impl super::Pairing {
    fn links(&self) -> std::sync::MutexGuard<'_, LinkBook> {
        super::lock(&self.links)
    }

    /// `devices.link_start`: a new code for the caller, and its link QR.
    pub fn link_start(&self, caller: &Device) -> LinkStarted {
        let (code, expires) = self.links().start(
            &caller.device_id,
            self.clock.now_unix(),
            self.link_code_secs,
        );
        let uri = LinkUri {
            device_id: caller.device_id.clone(),
            key: caller.device_key,
            code: code.to_string(),
        };
        log::info!("link code made for device {}", caller.device_id);
        LinkStarted {
            uri: uri.encode(),
            code: code.to_string(),
            expires,
        }
    }

    /// `devices.link_claim`: the caller scanned the link QR of `p.device_id`.
    pub async fn link_claim(
        &self,
        store: &Store,
        caller: &Device,
        p: DevicesLinkClaim,
    ) -> Result<LinkClaimed, LinkError> {
        self.may_link(caller, &p.device_id)?;
        let target = store
            .device(&p.device_id)
            .await?
            .ok_or_else(|| LinkError::NotPaired(p.device_id.clone()))?;
        let by = Claimer {
            device_id: caller.device_id.clone(),
            name: caller.name.clone(),
            key: caller.device_key,
        };
        let expires = self
            .links()
            .claim(&p.device_id, &p.code, by, self.clock.now_unix())
            .inspect_err(|e| self.note_refused(caller, &p.device_id, e))?;
        Ok(LinkClaimed {
            device: peer(&target.device_id, &target.name, &target.device_key),
            expires,
        })
    }

    /// `devices.link`: the claimer hands the new device the group's secrets; the new device
    /// joins the caller's group.
    pub async fn link(
        &self,
        store: &Store,
        caller: &Device,
        p: DevicesLink,
    ) -> Result<LinkDone, LinkError> {
        self.may_link(caller, &p.device_id)?;
        let sealed = b64u_decode(&p.sealed).map_err(|_| LinkError::BadSealed)?;
        if sealed.len() < 48 {
            return Err(LinkError::BadSealed);
        }
        let now = self.clock.now_unix();
        self.links()
            .redeem(&p.device_id, &p.code, &caller.device_id, now)
            .inspect_err(|e| self.note_refused(caller, &p.device_id, e))?
            .map_err(|NotClaimed| LinkError::NotClaimed)?;
        let linked = store
            .link_device(
                &p.device_id,
                caller,
                sealed,
                crate::store::MAX_GROUP_DEVICES,
                now,
            )
            .await;
        let role = match linked {
            Ok(Linked::Done(role)) => role,
            failed => {
                self.links().unuse(&p.device_id);
                return Err(match failed? {
                    Linked::NotPaired => LinkError::NotPaired(p.device_id),
                    Linked::GroupFull => LinkError::GroupFull,
                    _ => LinkError::NeedsOwner,
                });
            }
        };
        log::info!(
            "device {} linked by device {} into its group",
            p.device_id,
            caller.device_id
        );
        Ok(LinkDone {
            device_id: p.device_id,
            group_id: caller.group_id.clone(),
            role,
        })
    }

    /// `devices.link_fetch`: how the caller's link stands, and what was sealed for it.
    pub async fn link_fetch(
        &self,
        store: &Store,
        caller: &Device,
        p: DevicesLinkFetch,
    ) -> Result<LinkFetched, LinkError> {
        if p.device_id != caller.device_id {
            return Err(LinkError::NotYours);
        }
        let now = self.clock.now_unix();
        if let Some(d) = store.link_delivery(&caller.device_id, now).await? {
            let name = store
                .device(&d.by_device)
                .await?
                .map(|by| by.name)
                .unwrap_or_default();
            return Ok(LinkFetched {
                state: LinkState::Linked,
                by: Some(peer(&d.by_device, &name, &d.by_key)),
                group_id: Some(d.group_id),
                sealed: Some(b64u(&d.sealed)),
            });
        }
        Ok(match self.links().claimer(&caller.device_id, now) {
            Some(c) => LinkFetched {
                state: LinkState::Claimed,
                by: Some(peer(&c.device_id, &c.name, &c.key)),
                group_id: None,
                sealed: None,
            },
            None => LinkFetched {
                state: LinkState::Waiting,
                by: None,
                group_id: None,
                sealed: None,
            },
        })
    }

    fn may_link(&self, caller: &Device, device_id: &str) -> Result<(), LinkError> {
        if caller.role == Role::Pending {
            return Err(LinkError::Pending);
        }
        if caller.device_id == device_id {
            return Err(LinkError::Itself);
        }
        Ok(())
    }

    fn note_refused(&self, caller: &Device, device_id: &str, e: &CodeError) {
        log::warn!(
            "link of device {device_id} by device {} refused: {e}",
            caller.device_id
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claimer(id: &str) -> Claimer {
        Claimer {
            device_id: id.into(),
            name: id.into(),
            key: [1; 32],
        }
    }

    #[test]
    fn a_code_is_single_use_expires_and_counts_wrong_tries() {
        let mut book = LinkBook::default();
        let (code, expires) = book.start("nn", 100, LINK_SECS);
        assert_eq!((code.len(), expires), (8, 100 + LINK_SECS));
        assert_eq!(
            book.claim("xx", &code, claimer("ee"), 101),
            Err(CodeError::NoCode)
        );
        let wrong = if code.as_str() == "00000000" {
            "00000001"
        } else {
            "00000000"
        };
        assert_eq!(
            book.claim("nn", wrong, claimer("ee"), 101),
            Err(CodeError::Wrong { left: 4 })
        );
        assert_eq!(book.claim("nn", &code, claimer("ee"), 102), Ok(expires));
        assert_eq!(book.claimer("nn", 102), Some(claimer("ee")));
        // Only the claimer redeems.
        assert_eq!(book.redeem("nn", &code, "ff", 103), Ok(Err(NotClaimed)));
        // The first claimer keeps it.
        assert_eq!(
            book.claim("nn", &code, claimer("ff"), 103),
            Err(CodeError::ClaimedByOther)
        );
        assert_eq!(book.redeem("nn", &code, "ee", 103), Ok(Ok(())));
        assert_eq!(book.redeem("nn", &code, "ee", 104), Err(CodeError::Used));
        book.unuse("nn");
        assert_eq!(book.redeem("nn", &code, "ee", 104), Ok(Ok(())));
        // Expired.
        let (code, _) = book.start("mm", 200, LINK_SECS);
        assert_eq!(
            book.claim("mm", &code, claimer("ee"), 200 + LINK_SECS),
            Err(CodeError::Expired)
        );
        // Too many wrong codes stop even the right one.
        let (code, _) = book.start("kk", 300, LINK_SECS);
        let wrong = if code.as_str() == "00000000" {
            "00000001"
        } else {
            "00000000"
        };
        for left in (1..MAX_WRONG).rev() {
            assert_eq!(
                book.claim("kk", wrong, claimer("ee"), 301),
                Err(CodeError::Wrong { left })
            );
        }
        assert_eq!(
            book.claim("kk", wrong, claimer("ee"), 301),
            Err(CodeError::TooManyWrong)
        );
        assert_eq!(
            book.claim("kk", &code, claimer("ee"), 301),
            Err(CodeError::TooManyWrong)
        );
    }

    #[test]
    fn the_link_uri_reads_back_and_checks_its_parts() {
        let key = [7u8; 32];
        let uri = LinkUri {
            device_id: crypto::device_id(&key),
            key,
            code: "01234567".into(),
        };
        assert_eq!(LinkUri::parse(&uri.encode()), Ok(uri.clone()));
        let text = uri.encode();
        for bad in [
            text.replace("v=1", "v=2"),
            text.replace("01234567", "0123456"),
            text.replace("01234567", "0123456a"),
            text.replace(&uri.device_id, &"0".repeat(32)),
            text.replace("idbox://link?", "idbox://pair?"),
            format!("{text}&code=11111111"),
        ] {
            assert!(LinkUri::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_comparison_code_depends_on_both_keys_and_the_code() {
        let a = comparison_code(&[1; 32], &[2; 32], "12345678");
        assert_eq!(a.len(), 6);
        assert_eq!(a, comparison_code(&[1; 32], &[2; 32], "12345678"));
        assert_ne!(a, comparison_code(&[2; 32], &[1; 32], "12345678"));
        assert_ne!(a, comparison_code(&[1; 32], &[3; 32], "12345678"));
        assert_ne!(a, comparison_code(&[1; 32], &[2; 32], "12345679"));
    }
}
