//! Desktop extraction sessions under any sequence of what hosts and phones may do: start from
//! one of a few addresses, poll with the right or a wrong secret, answer with the right or a
//! wrong code, let time pass. Nothing panics; no address pushes out another's waiting session;
//! a session takes no approval after its fifth wrong code.
#![no_main]
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use identity_box::clock::{Clock, ManualClock};
use identity_box::extract::{ApproveError, MAX_WRONG_CODES, Sessions, Status};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|ops: Vec<(u8, u8)>| {
    let clock = Arc::new(ManualClock::new(1_000));
    let sessions = Sessions::new(clock.clone());
    // The desktop's own session, at an address no other operation uses.
    let desktop = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 1));
    let mine = sessions.start(desktop).unwrap();
    let mut started = Vec::new();
    let mut wrong = 0u32;
    for (op, arg) in ops.into_iter().take(2_000) {
        match op % 5 {
            0 => {
                let host = IpAddr::V4(Ipv4Addr::new(10, 0, arg / 64, arg % 64));
                if let Ok(s) = sessions.start(host) {
                    started.push(s);
                }
            }
            1 => {
                if let Some(s) = started.get(usize::from(arg) % started.len().max(1)) {
                    let _ = sessions.status(&s.session, &s.secret);
                    assert!(sessions.status(&s.session, "wrong").is_none());
                }
            }
            2 => {
                if let Some(s) = started.get(usize::from(arg) % started.len().max(1)) {
                    let _ = sessions.check(&s.session, &s.code);
                }
            }
            3 => {
                // A wrong code for the desktop's session.
                if sessions.check(&mine.session, &format!("{arg:08}x")) != Err(ApproveError::Gone) {
                    wrong += 1;
                }
            }
            _ => clock.advance(i64::from(arg % 8)),
        }
        // Within its five minutes, the desktop's session is there whatever others did.
        if clock.now_unix() < mine.expires {
            assert!(sessions.status(&mine.session, &mine.secret).is_some());
            if wrong >= MAX_WRONG_CODES {
                assert!(matches!(
                    sessions.status(&mine.session, &mine.secret),
                    Some(Status::Refused { .. })
                ));
                assert!(sessions.check(&mine.session, &mine.code).is_err());
            }
        }
    }
});
