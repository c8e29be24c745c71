//! The web page over a real socket: the page and its files with their headers, the facts it
//! shows (`/v1/info`), and the QR drawing `POST /v1/extract` gives it. (What a browser makes of
//! them is for the browser tests, tests/e2e/browser.rs.)

use std::sync::Arc;

use identity_box::client::Client;
use identity_box::clock::SystemClock;

use crate::common::{self, Daemon};

#[test]
fn the_page_its_files_and_the_facts_it_shows() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::ready(&dir.path().join("box"), &[]);

    let page = daemon.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert!(html.contains(r#"<script src="/app.js" defer></script>"#));

    for (path, kind) in [
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/icon.svg", "image/svg+xml"),
    ] {
        let file = daemon.get(path);
        assert_eq!(file.status, 200, "{path}");
        assert!(
            file.header("content-type").unwrap().starts_with(kind),
            "{path}"
        );
        assert!(!file.body.is_empty());
    }
    let missing = daemon.get("/nothing.js");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "not_found");

    // Facts for anyone on the network: a box nobody has paired with stays pairable until
    // someone does (no expiry), and has no backup.
    let info = daemon.get("/v1/info").json();
    assert_eq!(info["pairing_open"], true);
    assert!(info["pairing_expires"].is_null(), "{info}");
    assert!(info["uptime_s"].is_u64());
    assert!(info["last_backup_at"].is_null());

    // After a backup, the time of the newest version, and nothing else about it.
    let mut phone = Client::pair(&daemon.startup_uri(), "phone", Arc::new(SystemClock)).unwrap();
    phone.enable_backup().unwrap();
    phone.create_identity("Alice").unwrap();
    let info = daemon.get("/v1/info").json();
    // Once paired, what is left is the start-up window, with its end.
    assert_eq!(info["pairing_open"], true);
    assert!(info["pairing_expires"].as_i64().unwrap() > info["time"].as_i64().unwrap());
    let last = info["last_backup_at"].as_i64().unwrap();
    assert!((info["time"].as_i64().unwrap() - last).abs() < 60, "{info}");
    let text = info.to_string();
    let backup_id = &phone.state().backup.as_ref().unwrap().backup_id;
    assert!(!text.contains(backup_id.as_str()), "{text}");

    // The extraction session comes with a drawing of its approval QR.
    let started = common::post_json(daemon.addr, "/v1/extract", &serde_json::json!({}));
    assert_eq!(started.status, 200);
    let started = started.json();
    let svg = started["qr_svg"].as_str().unwrap();
    assert!(svg.contains("<svg"), "{svg}");
    assert!(started["qr"].as_str().unwrap().starts_with("idbox://"));
}
