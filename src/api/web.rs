//! The box's web page (`web/`, embedded in the binary): `GET /` and its files (script, style, icon). The page is
//! static; it reads `GET /v1/info` and `GET /health`, shows the pairing QR from
//! `/v1/pairing/qr.svg`, and saves a backup through `POST /v1/extract`.

use warp::http::{HeaderValue, header};
use warp::reply::{Reply, Response};

/// The files of the page: name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../web/index.html"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/style.css"),
    ),
    // The browser asks for an icon; without one its console shows a failed load.
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../web/icon.svg"),
    ),
];

/// What the page may load and do: its own files and API only; no inline script or style, no
/// frames, no forms, no plug-ins. `blob:` images are the approval QR, drawn from the SVG that
/// `POST /v1/extract` returns.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' blob:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The file `name` (`""` is `index.html`), or `None`.
pub fn file(name: &str) -> Option<Response> {
    let name = if name.is_empty() { "index.html" } else { name };
    let (_, content_type, bytes) = FILES.iter().find(|(n, _, _)| *n == name)?;
    let mut response = Response::new(bytes.to_vec().into());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Some(response.into_response())
}

/// An SVG drawing of a QR code of `text`, or `None` when `text` is too long for one.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(256, 256)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_page_and_its_files_are_served_with_their_types() {
        let index = file("").unwrap();
        assert_eq!(
            index.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert_eq!(
            file("app.js").unwrap().headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        assert!(file("style.css").is_some());
        assert!(file("secret.txt").is_none());
        assert!(file("../Cargo.toml").is_none());
    }

    #[test]
    fn the_page_has_no_inline_script_or_style() {
        // The policy would block them; a test says so before a browser does.
        for (name, _, bytes) in FILES {
            let text = std::str::from_utf8(bytes).unwrap().to_ascii_lowercase();
            if name.ends_with(".html") {
                for (i, _) in text.match_indices("<script") {
                    let tag = &text[i..i + text[i..].find('>').unwrap()];
                    assert!(tag.contains("src="), "{name}: inline script {tag}");
                }
                assert!(!text.contains("<style"), "{name}: inline style");
                assert!(!text.contains(" style="), "{name}: a style attribute");
                assert!(
                    !text.contains(" onclick=") && !text.contains(" onload="),
                    "{name}: handler attribute"
                );
                assert!(
                    !text.contains("http://") && !text.contains("https://"),
                    "{name}: an outside resource"
                );
            }
        }
    }

    #[test]
    fn qr_svg_draws_short_texts_and_refuses_long_ones() {
        let svg = qr_svg("idbox://approve?s=abc&c=12345678").unwrap();
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"));
        assert!(qr_svg(&"x".repeat(8000)).is_none());
    }
}
