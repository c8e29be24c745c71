//! The web page in a real browser: headless Chromium, driven over WebDriver (`chromedriver`,
//! through the `fantoccini` crate), against a real box on 127.0.0.1.
//!
//! What a household does, checked by what they would see:
//! - the status shows the box's name and that it is healthy;
//! - the pairing QR on the page, read back from a screenshot with a QR decoder (`rqrr`), is the
//!   URI `identity-box pair --uri` prints, and a phone pairs with it;
//! - "Save a backup": the approval QR read from the screen is approved by the reference client,
//!   the browser downloads the archive by itself, and `identity-box verify` passes on it (with
//!   the phone's 24 words);
//! - a refusal on the phone, and a box that went away, get their messages on the page;
//! - the page fits a phone's screen, and the backup can be started with the keyboard alone;
//! - no error in the browser's console at any point.
//!
//! Screenshots of each screen are kept under `target/screenshots/` (CI artifacts).
//! Needs Debian's `chromium` and `chromium-driver` (scripts/test.sh installs them); the test
//! fails, saying so, when they are missing.

use std::io::{BufRead, BufReader, Cursor};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client as WebDriver, ClientBuilder, Locator};
use identity_box::client::Client;
use identity_box::clock::SystemClock;
use serde_json::{Value, json};

use crate::common::{self, Daemon};

const BROWSER: &str = "/usr/bin/chromium";
const DRIVER: &str = "chromedriver";
/// How long the page may take to show something (it polls the box every second).
const PATIENCE: Duration = Duration::from_secs(30);

/// `chromedriver` on a port it chose itself, and one Chromium session in it.
struct Browser {
    runtime: tokio::runtime::Runtime,
    driver: Child,
    web: WebDriver,
    downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    fn start(shots: &str) -> Browser {
        let mut driver = Command::new(DRIVER)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {DRIVER} ({e}): the browser tests need Debian's chromium and \
                     chromium-driver (`apt-get install chromium chromium-driver`; \
                     scripts/test.sh installs them)"
                )
            });
        // It says which port it took once it listens: no guessing, no sleeping.
        let mut lines = BufReader::new(driver.stdout.take().unwrap()).lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                let rest = line.split("started successfully on port ").nth(1)?;
                rest.trim_end_matches('.').parse::<u16>().ok()
            })
            .unwrap_or_else(|| panic!("{DRIVER} did not start"));
        // Keep reading its output so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));

        let downloads = tempfile::tempdir().unwrap();
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": BROWSER,
                "args": [
                    "--headless=new",
                    // The test's own throwaway browser (and CI runs as root, where Chromium's
                    // sandbox cannot start); it opens nothing but the box's page.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=900,1400",
                    // Twice as many pixels as CSS pixels: the QR's modules are crisp.
                    "--force-device-scale-factor=2",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                },
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let web = runtime
            .block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .unwrap_or_else(|e| panic!("no Chromium session from {DRIVER}: {e}"));
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .unwrap()
            .join("screenshots")
            .join(shots);
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            runtime,
            driver,
            web,
            downloads,
            _profile: profile,
            shots,
        }
    }

    fn goto(&self, url: &str) {
        self.runtime.block_on(self.web.goto(url)).unwrap();
    }

    /// The element with this id.
    fn element(&self, id: &str) -> fantoccini::elements::Element {
        self.runtime
            .block_on(self.web.find(Locator::Id(id)))
            .unwrap()
    }

    /// The text of the element with this id.
    fn text(&self, id: &str) -> String {
        self.runtime.block_on(self.element(id).text()).unwrap()
    }

    fn click(&self, id: &str) {
        self.runtime.block_on(self.element(id).click()).unwrap()
    }

    /// Runs `script` (a function body that returns a value) in the page.
    fn script(&self, script: &str) -> Value {
        self.runtime
            .block_on(self.web.execute(script, vec![]))
            .unwrap()
    }

    /// Polls the page until `check` holds; fails with `what` and a screenshot's name otherwise.
    fn until(&self, what: &str, mut check: impl FnMut(&Browser) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !check(self) {
            if Instant::now() > deadline {
                self.screenshot("timed-out");
                panic!(
                    "the page never showed {what} (screenshot: {})",
                    self.shots.join("timed-out.png").display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the `save` section shows the step called `name`.
    fn until_step(&self, name: &str) {
        let script = format!(
            "const d = document.querySelector('#save [data-step=\"{name}\"]'); \
             return d !== null && !d.hidden;"
        );
        self.until(&format!("the step '{name}'"), |b| {
            b.script(&script) == json!(true)
        });
    }

    /// Waits until the image with this id has loaded a picture.
    fn until_image(&self, id: &str) {
        let script = format!(
            "const i = document.getElementById('{id}'); \
             return i.complete && i.naturalWidth > 0 && i.offsetParent !== null;"
        );
        self.until(&format!("the picture #{id}"), |b| {
            b.script(&script) == json!(true)
        });
    }

    fn resize(&self, width: u32, height: u32) {
        self.runtime
            .block_on(self.web.set_window_size(width, height))
            .unwrap();
    }

    /// Presses `key` (a WebDriver key code) on whatever has the focus; returns the id of what
    /// has the focus then.
    fn press(&self, key: fantoccini::key::Key) -> String {
        self.runtime.block_on(async {
            let focused = self.web.active_element().await.unwrap();
            focused
                .send_keys(&char::from(key).to_string())
                .await
                .unwrap();
            let now = self.web.active_element().await.unwrap();
            now.attr("id").await.unwrap().unwrap_or_default()
        })
    }

    /// A screenshot of the whole window, kept as `NAME.png`.
    fn screenshot(&self, name: &str) {
        let png = self.runtime.block_on(self.web.screenshot()).unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// A screenshot of one element, as PNG bytes.
    fn element_png(&self, id: &str) -> Vec<u8> {
        self.runtime
            .block_on(self.element(id).screenshot())
            .unwrap()
    }

    /// The browser console's entries since the last call (Chromium's log endpoint).
    fn console(&self) -> Vec<Value> {
        let entries = self
            .runtime
            .block_on(self.web.issue_cmd(BrowserLog))
            .unwrap();
        entries.as_array().cloned().unwrap_or_default()
    }

    /// Fails if the console holds an error (a script error, a CSP violation, a failed load).
    fn assert_no_console_errors(&self, page: &str) {
        let errors: Vec<Value> = self
            .console()
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .collect();
        assert!(errors.is_empty(), "console errors on {page}: {errors:#?}");
    }

    /// Waits for the browser to finish downloading a file called `name`, and returns its path.
    fn downloaded(&self, name: &str) -> PathBuf {
        let path = self.downloads.path().join(name);
        self.until(&format!("a finished download of {name}"), |b| {
            let partial = std::fs::read_dir(b.downloads.path())
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"));
            path.exists() && !partial
        });
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let web = self.web.clone();
        let _ = self.runtime.block_on(web.close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `POST /session/{id}/se/log {"type": "browser"}`: chromedriver's console log.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.to_owned()))
    }
}

/// Reads the QR code in a PNG picture.
fn decode_qr(png_bytes: &[u8]) -> String {
    let mut decoder = png::Decoder::new(Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    let (width, height) = (frame.width as usize, frame.height as usize);
    let grey = |x: usize, y: usize| {
        let at = (y * width + x) * channels;
        match channels {
            1 | 2 => pixels[at],
            _ => {
                let sum =
                    u16::from(pixels[at]) + u16::from(pixels[at + 1]) + u16::from(pixels[at + 2]);
                (sum / 3) as u8
            }
        }
    };
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, grey);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "expected one QR code in the picture");
    let (_, content) = grids[0].decode().unwrap();
    content
}

#[test]
fn a_household_pairs_and_saves_a_backup_from_the_web_page() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start_with_env(
        &dir.path().join("box"),
        &[],
        &[("IDENTITY_BOX_NAME", "Kitchen box")],
    )
    .expect_ready();
    let url = format!("http://{}/", daemon.addr);
    let browser = Browser::start("web");

    // Status: the box's name, healthy.
    browser.goto(&url);
    browser.until("the box's name", |b| b.text("box-name") == "Kitchen box");
    browser.until("a healthy box", |b| b.text("health") == "Healthy");
    assert!(browser.text("box-version").starts_with("Identity Box "));
    assert_eq!(browser.text("last-backup"), "No backup yet");

    // On a phone's screen: nothing wider than the screen, the QR code whole.
    browser.resize(390, 844);
    browser.until_image("pairing-qr");
    let fits = browser.script(
        "const qr = document.getElementById('pairing-qr').getBoundingClientRect(); \
         return document.documentElement.scrollWidth <= window.innerWidth \
             && qr.right <= window.innerWidth;",
    );
    browser.screenshot("0-on-a-phone");
    assert_eq!(fits, json!(true), "the page is wider than a phone's screen");
    browser.resize(900, 1400);

    // Pairing: the QR on the screen is the console's pairing URI, and a phone pairs with it.
    browser.until_image("pairing-qr");
    browser.screenshot("1-status-and-pairing");
    let on_screen = decode_qr(&browser.element_png("pairing-qr"));
    assert_eq!(on_screen, common::admin_pair_uri(&daemon));
    assert!(on_screen.starts_with("idbox://pair?"), "{on_screen}");
    browser.assert_no_console_errors("the status page");

    let mut phone = Client::pair(&on_screen, "phone", Arc::new(SystemClock)).unwrap();
    let (words, _) = phone.enable_backup().unwrap();
    phone.create_identity("Alice").unwrap();
    browser.goto(&url);
    browser.until("the last backup's time", |b| {
        b.text("last-backup") != "No backup yet" && b.text("last-backup") != "–"
    });
    // Once a phone paired, the page shows what is left of the start-up window; a window the
    // console opens now is the console's alone (protocol §2), so its code is another.
    browser.until_image("pairing-qr");
    let public = decode_qr(&browser.element_png("pairing-qr"));
    assert!(public.starts_with("idbox://pair?"), "{public}");
    assert_ne!(public, on_screen, "the first window's token was used");
    assert_ne!(public, common::admin_pair_uri(&daemon));

    // Save a backup: the page shows an approval QR; the phone reads it and approves.
    browser.click("save-start");
    browser.until_step("approve");
    browser.until_image("save-qr");
    browser.screenshot("2-save-waiting-for-the-phone");
    let approve = decode_qr(&browser.element_png("save-qr"));
    assert!(approve.starts_with("idbox://approve?"), "{approve}");
    let code = browser.text("save-code");
    assert!(
        approve.contains(&format!("code={code}")),
        "the page shows {code}, the QR says {approve}"
    );
    assert_eq!(
        json!(phone.approve_extraction(&approve, false).unwrap().approved),
        true
    );

    // The browser downloads the archive by itself, and it is a good one.
    browser.until_step("done");
    browser.screenshot("3-save-done");
    let name = browser.text("save-file");
    assert!(name.ends_with(".idbox"), "{name}");
    let file = browser.downloaded(&name);
    let words_file = dir.path().join("words.txt");
    std::fs::write(&words_file, format!("{}\n", words.as_str())).unwrap();
    let (code, _, err) = common::verify(&[
        file.to_str().unwrap(),
        "--mnemonic-file",
        words_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "identity-box verify: {err}");
    assert!(
        browser.text("save-size").contains("KiB") || browser.text("save-size").contains("bytes")
    );
    browser.assert_no_console_errors("the backup download");

    // Again, with the keyboard alone, and this time the phone refuses: the page says so and
    // offers to try again.
    browser.click("save-again");
    browser.until_step("start");
    browser.goto(&url);
    browser.until("the box's name", |b| b.text("box-name") == "Kitchen box");
    let mut focused = String::new();
    for _ in 0..10 {
        focused = browser.press(fantoccini::key::Key::Tab);
        if focused == "save-start" {
            break;
        }
    }
    assert_eq!(focused, "save-start", "Tab never reaches the button");
    browser.press(fantoccini::key::Key::Enter);
    browser.until_step("approve");
    browser.until_image("save-qr");
    let approve = decode_qr(&browser.element_png("save-qr"));
    assert_eq!(
        json!(phone.approve_extraction(&approve, true).unwrap().approved),
        false
    );
    browser.until_step("problem");
    browser.screenshot("4-save-refused");
    assert!(
        browser.text("save-problem").contains("refused"),
        "{}",
        browser.text("save-problem")
    );
    browser.assert_no_console_errors("a refusal");

    // The box goes away (unplugged): the page says what to check.
    let mut daemon = daemon;
    daemon.terminate();
    browser.click("save-retry");
    browser.until("the unreachable box's message", |b| {
        b.text("save-problem").contains("cannot be reached")
    });
    browser.screenshot("5-box-unreachable");
}
