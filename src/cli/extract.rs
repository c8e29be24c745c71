//! `identity-box extract --box URL --out DIR` (protocol §6): the desktop asks the box for a backup,
//! shows the approval QR, waits for the phone, downloads with a progress bar (resuming with
//! `Range` when the connection breaks), syncs the file to disk, verifies it and says what it is.
//! Ctrl-C cancels at any point and leaves no partial file behind.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::backup::archive;
use crate::extract::{Started, Status};
use crate::fsutil;

/// How often the desktop asks whether the phone has answered.
const POLL: Duration = Duration::from_millis(500);
/// How many times a broken download is resumed.
const RESUMES: u32 = 5;

/// Why extraction stopped; each says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("no Identity Box answered on this network; give its address with --box http://ADDRESS")]
    NoBox,
    #[error("cannot reach the box at {url}: {detail}. Check the address and that the box is on")]
    Unreachable { url: String, detail: String },
    #[error("the box refused: {0}")]
    Refused(String),
    #[error("the request expired before the phone approved it; run the command again")]
    Expired,
    #[error("cancelled; nothing was saved")]
    Cancelled,
    #[error("cannot write {path}: {detail}")]
    Write { path: String, detail: String },
    #[error("the download failed: {0}. Run the command again")]
    Download(String),
    #[error(
        "the downloaded file {path} failed its check: {detail}. It was removed; run the command again"
    )]
    Check { path: String, detail: String },
    #[error(
        "the downloaded file was not signed by the box this computer asked (fingerprint \
         {asked}), so it was removed. Something on the network may be pretending to be the box: \
         connect the computer to the box's network directly and run the command again"
    )]
    WrongSigner { asked: String },
}

/// The keys a box says it has (`GET /v1/info`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BoxKeys {
    pub agreement_key: String,
    pub signing_key: String,
    pub fingerprint: String,
}

/// Asks the box at `base` (`http://host:port`) for its keys.
pub fn box_keys(base: &str) -> Result<BoxKeys, ExtractError> {
    let url = format!("{}/v1/info", base.trim_end_matches('/'));
    agent()
        .get(&url)
        .call()
        .map_err(|e| refusal(&url, e))?
        .into_json()
        .map_err(|e| ExtractError::Refused(format!("an answer that is not the box's ({e})")))
}

/// `--box` as a base URL: `http://` is added when no scheme is given.
pub fn box_base(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

impl ExtractError {
    pub fn exit_code(&self) -> u8 {
        match self {
            ExtractError::Cancelled => 130,
            _ => 1,
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(5))
        .timeout_read(Duration::from_secs(30))
        .build()
}

fn refusal(url: &str, e: ureq::Error) -> ExtractError {
    match e {
        ureq::Error::Status(404, _) => ExtractError::Expired,
        ureq::Error::Status(_, r) => {
            let body: serde_json::Value = r.into_json().unwrap_or_default();
            ExtractError::Refused(
                body["message"]
                    .as_str()
                    .unwrap_or("no reason given")
                    .to_owned(),
            )
        }
        ureq::Error::Transport(t) => ExtractError::Unreachable {
            url: url.to_owned(),
            detail: t.to_string(),
        },
    }
}

/// The box's base URL: `--box`, or the first box that answers by mDNS.
fn base_url(given: Option<&str>, interfaces: &[String]) -> Result<String, ExtractError> {
    if let Some(url) = given {
        return Ok(box_base(url));
    }
    let found = crate::discovery::find(None, Duration::from_secs(5), interfaces)
        .map_err(|_| ExtractError::NoBox)?;
    found
        .first()
        .map(|a| format!("http://{a}"))
        .ok_or(ExtractError::NoBox)
}

/// What was saved.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Saved {
    pub path: PathBuf,
    /// The box that signed it: the one asked.
    pub fingerprint: String,
    pub size: u64,
    pub backup_id: String,
    pub version: u64,
    pub box_name: String,
    pub identities: Vec<String>,
}

/// Runs the whole flow; `show` prints the approval QR and instructions.
pub fn run(
    given: Option<&str>,
    out_dir: &Path,
    interfaces: &[String],
    cancelled: &Arc<AtomicBool>,
    show: impl FnOnce(&Started),
) -> Result<Saved, ExtractError> {
    let base = base_url(given, interfaces)?;
    // The box this computer talks to: the archive must be signed by it.
    let asked = box_keys(&base)?;
    let agent = agent();
    let start_url = format!("{base}/v1/extract");
    let started: Started = agent
        .post(&start_url)
        .send_json(serde_json::json!({}))
        .map_err(|e| refusal(&start_url, e))?
        .into_json()
        .map_err(|e| ExtractError::Refused(format!("an answer that is not JSON ({e})")))?;
    show(&started);

    let spinner = ProgressBar::new_spinner();
    spinner.set_message("Waiting for the phone to approve… (Ctrl-C cancels)");
    spinner.enable_steady_tick(Duration::from_millis(120));
    let status_url = format!("{base}/v1/extract/{}", started.session);
    let (url, filename, size) = loop {
        if cancelled.load(Ordering::SeqCst) {
            spinner.finish_and_clear();
            return Err(ExtractError::Cancelled);
        }
        let status: Status = agent
            .get(&status_url)
            .set("Idbox-Extract-Secret", &started.secret)
            .call()
            .map_err(|e| refusal(&status_url, e))?
            .into_json()
            .map_err(|e| ExtractError::Refused(format!("an answer that is not JSON ({e})")))?;
        match status {
            Status::Pending { .. } => std::thread::sleep(POLL),
            Status::Approved {
                url,
                filename,
                size,
                ..
            } => break (url, filename, size),
            Status::Refused { message } => {
                spinner.finish_and_clear();
                return Err(ExtractError::Refused(message));
            }
        }
    };
    spinner.finish_and_clear();

    // The box makes the name; keep only its last component, whatever it says.
    let filename = Path::new(&filename)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".idbox"))
        .unwrap_or_else(|| "identity-box-backup.idbox".into());
    let path = out_dir.join(&filename);
    let part = out_dir.join(format!(".{filename}.part"));
    let result = download(&agent, &format!("{base}{url}"), &part, size, cancelled)
        .and_then(|()| finish(&part, &path));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    let opened = File::open(&path)
        .map_err(archive::ArchiveError::Io)
        .and_then(|f| archive::read(io::BufReader::with_capacity(1 << 16, f), false))
        .map_err(|e| {
            let _ = std::fs::remove_file(&path);
            ExtractError::Check {
                path: path.display().to_string(),
                detail: e.to_string(),
            }
        })?;
    if !opened.manifest.box_info.signed_by(&asked.signing_key)
        || opened.manifest.box_info.agreement_key != asked.agreement_key
    {
        let _ = std::fs::remove_file(&path);
        let _ = path.parent().map(fsutil::sync_dir);
        return Err(ExtractError::WrongSigner {
            asked: asked.fingerprint,
        });
    }
    Ok(Saved {
        fingerprint: asked.fingerprint,
        path,
        size,
        backup_id: opened.manifest.backup_id,
        version: opened.manifest.seq,
        box_name: opened.manifest.box_info.name,
        identities: opened.documents.into_keys().collect(),
    })
}

fn write_err(path: &Path, e: io::Error) -> ExtractError {
    ExtractError::Write {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

/// Downloads `url` into `part`, resuming with `Range` after a broken connection.
fn download(
    agent: &ureq::Agent,
    url: &str,
    part: &Path,
    size: u64,
    cancelled: &Arc<AtomicBool>,
) -> Result<(), ExtractError> {
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(part)
        .map_err(|e| write_err(part, e))?;
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let bar = ProgressBar::new(size);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} Saving [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut have = 0u64;
    let mut failures = 0;
    let mut buf = vec![0u8; 1 << 16];
    while have < size {
        let mut request = agent.get(url);
        if have > 0 {
            request = request.set("Range", &format!("bytes={have}-"));
        }
        let response = match request.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(404, _)) => {
                return Err(ExtractError::Download(
                    "the download link expired before the file was complete".into(),
                ));
            }
            Err(e) => {
                failures += 1;
                if failures > RESUMES {
                    return Err(ExtractError::Download(e.to_string()));
                }
                continue;
            }
        };
        let expected = if have > 0 { 206 } else { 200 };
        if response.status() != expected {
            return Err(ExtractError::Download(format!(
                "the box answered {} instead of {expected}",
                response.status()
            )));
        }
        let mut body = response.into_reader();
        loop {
            if cancelled.load(Ordering::SeqCst) {
                bar.finish_and_clear();
                return Err(ExtractError::Cancelled);
            }
            match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    out.write_all(&buf[..n]).map_err(|e| write_err(part, e))?;
                    have += n as u64;
                    bar.set_position(have);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failures += 1;
                    if failures > RESUMES {
                        return Err(ExtractError::Download(e.to_string()));
                    }
                    break;
                }
            }
        }
    }
    bar.finish_and_clear();
    if have != size {
        return Err(ExtractError::Download(format!(
            "got {have} bytes, the box announced {size}"
        )));
    }
    let file = out
        .into_inner()
        .map_err(|e| write_err(part, e.into_error()))?;
    file.sync_all().map_err(|e| write_err(part, e))?;
    Ok(())
}

/// Moves the complete file in place and makes the rename durable.
fn finish(part: &Path, path: &Path) -> Result<(), ExtractError> {
    std::fs::rename(part, path).map_err(|e| write_err(path, e))?;
    if let Some(dir) = path.parent() {
        fsutil::sync_dir(dir).map_err(|e| write_err(dir, e))?;
    }
    Ok(())
}
