//! The command line (protocol §8): one binary, one subcommand per job.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

mod client;
mod extract;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminRequest, AdminResponse, StatusReport};
use crate::config::{Config, Overrides};
use crate::daemon::{self, DaemonEnv, EXIT_NEEDS_ATTENTION};

/// Identity Box: keeps your household's decentralized identities and their backups.
#[derive(Debug, Parser)]
#[command(name = "identity-box", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the box: the HTTP API, the admin socket, the database.
    Serve {
        #[command(flatten)]
        common: CommonArgs,
        /// Address and port to listen on (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Open a pairing window on the running box and show its QR code.
    Pair {
        #[command(flatten)]
        common: CommonArgs,
        /// Print only the pairing URI (the QR code's text).
        #[arg(long)]
        uri: bool,
    },
    /// The reference phone: pair with a box and use its encrypted channel (for tests and trials).
    Client {
        /// The client's state file (made by `pair`, mode 0600).
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
        /// Where to look for the box by mDNS if its address changed (repeatable; default:
        /// every interface but loopback).
        #[arg(long = "mdns-interface", value_name = "NAME")]
        mdns_interfaces: Vec<String>,
        /// Reach the box over libp2p through its relay, as from outside the home (without it,
        /// only when neither its known addresses nor mDNS find it).
        #[arg(long)]
        via_relay: bool,
        #[command(subcommand)]
        command: client::ClientCommand,
    },
    /// Erase everything on the box (identity keys, paired phones, backups) and start again as
    /// a new box with a new key and an open pairing window.
    FactoryReset {
        #[command(flatten)]
        common: CommonArgs,
        /// Really erase everything; without it nothing happens.
        #[arg(long)]
        yes: bool,
        /// Do not ask the running box: mark its data directory so that the box erases itself
        /// the next time it starts (before it reads anything else).
        #[arg(long)]
        at_next_start: bool,
        /// With --at-next-start: only if this file exists (the image's memory-card reset,
        /// `identity-box-factory-reset` on the FAT partition), which is then deleted. The
        /// file stands for --yes: whoever can write to the card may erase the box.
        #[arg(long, value_name = "FILE", requires = "at_next_start")]
        card_file: Option<PathBuf>,
    },
    /// On a computer: save the box's backup to a folder (a USB stick) after the phone approves.
    /// Shows a QR code for the phone to scan, waits, downloads and checks the file.
    Extract {
        /// The box's address (http://identity-box.local or http://IP:PORT); found by mDNS
        /// when absent.
        #[arg(long = "box", value_name = "URL")]
        box_url: Option<String>,
        /// The folder to save the file in.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Print machine-readable JSON (the approval text first, then the result).
        #[arg(long)]
        json: bool,
        /// Where to look for the box by mDNS (repeatable; default: every interface but
        /// loopback).
        #[arg(long = "mdns-interface", value_name = "NAME")]
        mdns_interfaces: Vec<String>,
    },
    /// Restore a box from a backup archive (.idbox) and the 24 backup words: the box gets the
    /// identities' keys, their documents and the backup back, as when the archive was made.
    Restore {
        /// The archive.
        file: PathBuf,
        /// The box: its pairing code text (idbox://pair?…, from `identity-box pair --uri` or
        /// the box's QR code); or, with --state, any address (the state knows the box).
        #[arg(long = "box", value_name = "URL")]
        box_url: Option<String>,
        /// A file holding the 24 backup words.
        #[arg(long, value_name = "F")]
        mnemonic_file: PathBuf,
        /// Restore only if the archive was signed by this box (the old box's signing key, as
        /// `identity-box status` showed it).
        #[arg(long, value_name = "KEY")]
        box_key: Option<String>,
        /// A client state file: used if it exists (already paired), written afterwards.
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a backup archive (.idbox): its structure, checksums and the box's signature. No
    /// secret is needed; with --mnemonic-file it also opens the backup (a restore drill that
    /// changes nothing).
    Verify {
        /// The archive.
        file: PathBuf,
        /// A file holding the 24 backup words: also open the bundle and the sealed keys.
        #[arg(long, value_name = "F")]
        mnemonic_file: Option<PathBuf>,
        /// Fail unless the archive was signed by this box: its signing key, as `identity-box
        /// status` shows it (43 characters).
        #[arg(long, value_name = "KEY", conflicts_with = "box_url")]
        box_key: Option<String>,
        /// Fail unless the archive was signed by the box at this address (it is asked for its
        /// key: http://identity-box.local or http://IP:PORT).
        #[arg(long = "box", value_name = "URL")]
        box_url: Option<String>,
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show whether the running box is healthy, its version, uptime, data directory and keys.
    Status {
        #[command(flatten)]
        common: CommonArgs,
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check that the running box can reach another box: it dials the address (through the
    /// relay the address names, if any) and waits up to 10 s for a direct connection.
    Reach {
        #[command(flatten)]
        common: CommonArgs,
        /// The other box's address as its `identity-box status` shows it, e.g.
        /// /ip4/203.0.113.7/tcp/4001/p2p/12D3…/p2p-circuit/p2p/12D3…
        addr: String,
        /// Print machine-readable JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Options every command that finds the box's files takes.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Configuration file (TOML).
    #[arg(long, value_name = "FILE", env = "IDENTITY_BOX_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where the box keeps its keys and database.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

impl CommonArgs {
    fn load(&self, listen: Option<SocketAddr>) -> Result<Config, crate::config::ConfigError> {
        Config::load(
            self.config.as_deref(),
            &Overrides {
                data_dir: self.data_dir.clone(),
                listen,
            },
        )
    }
}

/// Runs the command line and returns the process's exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { common, listen } => serve(&common, listen),
        Command::Status { common, json } => status(&common, json),
        Command::Reach { common, addr, json } => reach(&common, addr, json),
        Command::FactoryReset {
            common,
            yes,
            at_next_start: true,
            card_file,
        } => reset_at_next_start(&common, yes, card_file.as_deref()),
        Command::FactoryReset { common, yes, .. } => factory_reset(&common, yes),
        Command::Pair { common, uri } => pair(&common, uri),
        Command::Extract {
            box_url,
            out,
            json,
            mdns_interfaces,
        } => extract_to(box_url.as_deref(), &out, json, &mdns_interfaces),
        Command::Restore {
            file,
            box_url,
            mnemonic_file,
            box_key,
            state,
            json,
        } => restore_from(
            &file,
            box_url.as_deref(),
            &mnemonic_file,
            box_key.as_deref(),
            state.as_deref(),
            json,
        ),
        Command::Verify {
            file,
            mnemonic_file,
            box_key,
            box_url,
            json,
        } => {
            let trusted = match (box_key, box_url) {
                (Some(key), _) => Some(key),
                (None, Some(url)) => match extract::box_keys(&extract::box_base(&url)) {
                    Ok(keys) => Some(keys.signing_key),
                    Err(e) => return fail(1, format!("cannot ask the box at {url}: {e}")),
                },
                (None, None) => None,
            };
            verify(&file, mnemonic_file.as_deref(), trusted.as_deref(), json)
        }
        Command::Client {
            state,
            json,
            mdns_interfaces,
            via_relay,
            command,
        } => match client::run(&state, json, &mdns_interfaces, via_relay, command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e.exit_code(), e),
        },
    }
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("identity-box: {message}");
    ExitCode::from(code)
}

/// Threads of the runtime's blocking pool (file and database work) at most: tokio's default of
/// 512 would not fit the unit's `TasksMax=256` (systemd/identity-box.service), and a Pi's four
/// cores gain nothing from more.
const BLOCKING_THREADS: usize = 64;

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
}

fn serve(common: &CommonArgs, listen: Option<SocketAddr>) -> ExitCode {
    let config = match common.load(listen) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_NEEDS_ATTENTION, e),
    };
    daemon::logging::init(&config.log_level);
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(1, format!("cannot start the async runtime: {e}")),
    };
    let mut config = config;
    let mut env = DaemonEnv::from_process();
    match daemon::systemd::take_http_listener() {
        Ok(listener) => env.http_listener = listener.map(std::sync::Arc::new),
        Err(e) => {
            return fail(
                EXIT_NEEDS_ATTENTION,
                format!(
                    "systemd passed a socket that is not a TCP listening socket ({e}); check \
                     identity-box.socket (ListenStream=80)"
                ),
            );
        }
    }
    let result: Result<(), daemon::DaemonError> = rt.block_on(async {
        loop {
            let started =
                daemon::start(config.clone(), env.clone(), CancellationToken::new()).await?;
            let Some(running) = started else {
                return Ok(());
            };
            print_banner(&running);
            match running.run().await? {
                // A factory reset: the same process starts again as a new box, on the same
                // address.
                daemon::Outcome::FactoryReset { listen } => config.listen = listen,
                daemon::Outcome::Stopped => return Ok(()),
            }
        }
    });
    // Background threads (the runtime's blocking pool) get a bounded time to end.
    rt.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // stderr reaches the journal under systemd; logging it as well would say it twice.
        Err(e) => fail(e.exit_code(), e),
    }
}

/// What a person running `serve` in a terminal sees: where to open the page, and the pairing
/// code while the public window is open. The code goes only to a terminal: under systemd,
/// standard output is the journal, which is no place for a pairing token.
fn print_banner(running: &daemon::Running) {
    use std::io::IsTerminal;
    println!("Identity Box \"{}\" is running.", running.name());
    println!("Open {} in a browser on this network.", running.url());
    if !std::io::stdout().is_terminal() {
        return;
    }
    if let Some(uri) = running.pairing_uri() {
        if let Some(qr) = crate::pairing::uri::terminal_qr(&uri) {
            println!("\nTo pair your phone, scan this code with the Identity Box app:\n{qr}");
        }
        println!("Pairing code: {uri}");
    }
}

/// Sends one request to the running daemon's admin socket.
fn admin_request(common: &CommonArgs, req: AdminRequest) -> Result<AdminResponse, (u8, String)> {
    let config = common
        .load(None)
        .map_err(|e| (EXIT_NEEDS_ATTENTION, e.to_string()))?;
    let env = DaemonEnv::from_process();
    let data_dir = config
        .data_dir(env.state_directory.as_deref())
        .map_err(|e| (EXIT_NEEDS_ATTENTION, e.to_string()))?;
    let candidates = [
        config.runtime_dir(env.runtime_directory.as_deref(), &data_dir),
        PathBuf::from(admin::SYSTEM_RUNTIME_DIR),
    ];
    let rt = runtime().map_err(|e| (1, format!("cannot start the async runtime: {e}")))?;
    rt.block_on(async {
        let socket = admin::find_socket(&candidates)?;
        admin::request(&socket, &req).await
    })
    .map_err(|e| (1, e.to_string()))
}

fn pair(common: &CommonArgs, uri_only: bool) -> ExitCode {
    match admin_request(common, AdminRequest::Pair) {
        Ok(AdminResponse::Pairing { uri, expires, now }) => {
            if uri_only {
                println!("{uri}");
                return ExitCode::SUCCESS;
            }
            if let Some(qr) = crate::pairing::uri::terminal_qr(&uri) {
                println!("{qr}");
            }
            println!("Scan this code with the Identity Box app on your phone.");
            match expires {
                Some(t) => println!(
                    "Pairing is open for {} more minute(s).",
                    ((t - now).max(0) + 59) / 60
                ),
                None => println!("Pairing stays open until a phone pairs."),
            }
            println!("Pairing code: {uri}");
            ExitCode::SUCCESS
        }
        Ok(AdminResponse::Error { message }) => fail(1, message),
        Ok(other) => fail(1, format!("unexpected answer from the box: {other:?}")),
        Err((code, message)) => fail(code, message),
    }
}

/// How long `factory-reset` waits for the box to come back as a new box.
const RESET_WAIT: Duration = Duration::from_secs(120);

fn factory_reset(common: &CommonArgs, yes: bool) -> ExitCode {
    if !yes {
        return fail(
            2,
            "this erases every identity key, paired phone and backup on this box, and cannot be \
             undone; run `identity-box factory-reset --yes` to do it",
        );
    }
    let old = match admin_request(common, AdminRequest::FactoryReset) {
        Ok(AdminResponse::Resetting { old_fingerprint }) => old_fingerprint,
        Ok(AdminResponse::Error { message }) => return fail(1, message),
        Ok(other) => return fail(1, format!("unexpected answer from the box: {other:?}")),
        Err((code, message)) => return fail(code, message),
    };
    println!("Erasing the box…");
    // The daemon stops, erases and starts again in the same process; ask until the new box
    // answers (the admin socket is gone for a moment in between).
    let deadline = std::time::Instant::now() + RESET_WAIT;
    while std::time::Instant::now() < deadline {
        if let Ok(AdminResponse::Status(report)) = admin_request(common, AdminRequest::Status)
            && report.healthy
            && report.fingerprint != old
        {
            println!(
                "The box is erased and started again as a new box (fingerprint {}).",
                report.fingerprint
            );
            println!("Pair a phone with it: run `identity-box pair` and scan the code.");
            return ExitCode::SUCCESS;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    fail(
        1,
        "the box was erased but has not started again; see `journalctl -u identity-box`",
    )
}

/// `factory-reset --at-next-start`: the reset's durable marker (crate::reset) is written into
/// the data directory; the box erases itself when it next starts. With a card file, only if it
/// exists, and it is deleted afterwards, so that the erase happens once.
fn reset_at_next_start(common: &CommonArgs, yes: bool, card_file: Option<&Path>) -> ExitCode {
    match card_file {
        Some(card) if !card.exists() => {
            println!(
                "No reset was asked for ({} does not exist).",
                card.display()
            );
            return ExitCode::SUCCESS;
        }
        None if !yes => {
            return fail(
                2,
                "this erases every identity key, paired phone and backup on this box when it \
                 next starts, and cannot be undone; run `identity-box factory-reset \
                 --at-next-start --yes` to do it",
            );
        }
        _ => {}
    }
    let data_dir = match common
        .load(None)
        .and_then(|config| config.data_dir(DaemonEnv::from_process().state_directory.as_deref()))
    {
        Ok(dir) => dir,
        Err(e) => return fail(EXIT_NEEDS_ATTENTION, e),
    };
    // A box that never started has nothing to erase.
    let marked = data_dir.is_dir();
    if marked && let Err(e) = crate::reset::mark(&data_dir) {
        return fail(
            1,
            format!(
                "cannot mark {} for erasing ({e}); nothing was erased",
                data_dir.display()
            ),
        );
    }
    if let Some(card) = card_file
        && let Err(e) = remove_card_file(card)
    {
        // Left in place, the file would erase the box again at every start: undo the mark.
        if marked {
            let _ = std::fs::remove_file(data_dir.join(crate::reset::MARKER_FILE));
        }
        return fail(
            1,
            format!(
                "cannot delete {} ({e}), so the box was not erased (it would be erased again at \
                 every start). Delete the file from the memory card on a computer, or check that \
                 the card is not write-protected",
                card.display()
            ),
        );
    }
    if marked {
        println!(
            "The box's data in {} will be erased when the box starts next; it then starts as a \
             new box, and a phone can pair with it from the QR code on its web page.",
            data_dir.display()
        );
    } else {
        println!(
            "The box has no data yet ({} does not exist): there is nothing to erase.",
            data_dir.display()
        );
    }
    ExitCode::SUCCESS
}

/// Deletes the card's reset file durably (the FAT directory is synced).
fn remove_card_file(card: &Path) -> std::io::Result<()> {
    std::fs::remove_file(card)?;
    if let Some(dir) = card.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::fsutil::sync_dir(dir)?;
    }
    Ok(())
}

fn status(common: &CommonArgs, json: bool) -> ExitCode {
    let answer = match admin_request(common, AdminRequest::Status) {
        Ok(a) => a,
        Err((code, message)) => return fail(code, message),
    };
    match answer {
        AdminResponse::Status(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => return fail(1, e),
                }
            } else {
                print!("{}", format_status(&report));
            }
            if report.healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        AdminResponse::Error { message } => fail(1, message),
        other => fail(1, format!("unexpected answer from the box: {other:?}")),
    }
}

/// The lines of `identity-box status` on reaching the box from outside the home.
fn reachable_lines(i: &crate::admin::IpfsStatus) -> String {
    let network = crate::protocol::info::BoxNetwork {
        peer_id: i.peer_id.clone(),
        reachability: i.reachability,
        relayed: i.relayed.clone(),
        hole_punch: i.hole_punch.clone(),
    };
    let mut out = format!("\n  reachable       {}", network.describe());
    for addr in &i.relayed {
        out.push_str(&format!("\n    at            {addr}"));
    }
    if let Some(load) = i.relay_server {
        out.push_str(&format!(
            "\n  relay server    on: {} boxes hold a slot, {} connections relayed now",
            load.reservations, load.circuits
        ));
    }
    out
}

/// `identity-box reach ADDR`.
fn reach(common: &CommonArgs, addr: String, json: bool) -> ExitCode {
    let answer = match admin_request(common, AdminRequest::Reach { addr }) {
        Ok(a) => a,
        Err((code, message)) => return fail(code, message),
    };
    match answer {
        AdminResponse::Reached(r) => {
            if json {
                match serde_json::to_string(&r) {
                    Ok(text) => println!("{text}"),
                    Err(e) => return fail(1, e),
                }
            } else {
                println!("{}", format_reach(&r));
            }
            ExitCode::SUCCESS
        }
        AdminResponse::Error { message } => fail(1, message),
        other => fail(1, format!("unexpected answer from the box: {other:?}")),
    }
}

/// The human form of `identity-box reach`.
pub fn format_reach(r: &crate::ipfs::Reach) -> String {
    let how = if r.relayed {
        "through the relay"
    } else {
        "directly"
    };
    let mut text = format!("Reached {} {how} in {} ms.", r.peer, r.connected_ms);
    if r.relayed {
        match (r.direct_ms, &r.hole_punch_error) {
            (Some(ms), _) => text.push_str(&format!(
                " The routers let a direct connection through after {ms} ms (hole punch)."
            )),
            (None, error) => text.push_str(&format!(
                " No direct connection ({}): the two boxes talk through the relay, which \
                 limits how much they can send. A port forward to one of them makes it direct.",
                error.as_deref().unwrap_or("no hole punch")
            )),
        }
    }
    text
}

/// The human form of `identity-box status`.
pub fn format_status(r: &StatusReport) -> String {
    let health = if r.healthy {
        "healthy"
    } else {
        "starting (not ready yet)"
    };
    let since = r
        .first_started_at
        .and_then(|t| u64::try_from(t).ok())
        .map(|t| humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t)).to_string())
        .unwrap_or_else(|| "unknown".to_owned());
    format!(
        "Identity Box \"{name}\": {health}\n  \
         version         {version}\n  \
         uptime          {uptime}\n  \
         listening on    {listen}\n  \
         data directory  {data_dir}\n  \
         box key         {key}\n  \
         fingerprint     {fp}\n  \
         signing key     {signing}\n  \
         first started   {since}\n  \
         paired devices  {devices}\n  \
         identities      {identities}\n  \
         backups         {backups}\n  \
         IPFS node       {ipfs}\n  \
         pairing         {pairing}\n",
        name = r.name,
        version = r.version,
        uptime = humantime::format_duration(Duration::from_secs(r.uptime_s)),
        listen = r.listen,
        data_dir = r.data_dir.display(),
        key = r.agreement_key,
        fp = r.fingerprint,
        signing = r.signing_key,
        devices = r
            .devices
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
        identities = r
            .identities
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
        backups = r
            .backups
            .map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
        ipfs = r.ipfs.as_ref().map_or_else(
            || "not running".to_owned(),
            |i| format!(
                "{} ({} network, {}; {} peers; DHT {}: {} records of peers kept, {} refused) on {}",
                i.peer_id,
                i.network.as_str(),
                match i.network {
                    crate::ipfs::Network::Lan => "the home network only",
                    crate::ipfs::Network::Public => i.reachability.describe(),
                },
                i.peers,
                if i.dht_server { "server" } else { "client" },
                i.dht_peer_records,
                i.dht_refused,
                if i.listen.is_empty() {
                    "no address".to_owned()
                } else {
                    i.listen.join(", ")
                }
            ) + &reachable_lines(i)
        ),
        pairing = if r.pairing_open {
            "open (identity-box pair shows the code)"
        } else {
            "closed (identity-box pair opens it)"
        },
    )
}

/// `identity-box extract --box URL --out DIR`.
fn extract_to(
    box_url: Option<&str>,
    out: &std::path::Path,
    json: bool,
    interfaces: &[String],
) -> ExitCode {
    if !out.is_dir() {
        return fail(
            1,
            format!(
                "{} is not a folder: give an existing folder, such as the USB stick's, with --out",
                out.display()
            ),
        );
    }
    let cancelled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = cancelled.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
    let result = extract::run(box_url, out, interfaces, &cancelled, |started| {
        if json {
            println!(
                "{}",
                serde_json::json!({ "approve": started.qr, "code": started.code })
            );
        } else {
            println!(
                "To save the backup, the phone must approve. On the paired phone, scan this code:\n"
            );
            if let Some(qr) = crate::pairing::uri::terminal_qr(&started.qr) {
                println!("{qr}");
            }
            println!(
                "Code: {}   (or on the phone: identity-box client approve '{}')",
                started.code, started.qr
            );
            println!("The request expires in 5 minutes.");
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    });
    match result {
        Ok(saved) => {
            if json {
                println!("{}", serde_json::json!({ "saved": saved }));
            } else {
                println!("Saved {} ({} bytes).", saved.path.display(), saved.size);
                println!(
                    "It holds backup {} version {} of the box \"{}\" (fingerprint {}), with {} identities, was signed by that box and passed its check.",
                    saved.backup_id,
                    saved.version,
                    saved.box_name,
                    saved.fingerprint,
                    saved.identities.len()
                );
                println!(
                    "Keep it on a USB stick, away from the box. Without the 24 backup words it opens for no one."
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e.exit_code(), e),
    }
}

/// `identity-box restore FILE --box URL --mnemonic-file F [--state FILE]`.
fn restore_from(
    file: &std::path::Path,
    box_url: Option<&str>,
    mnemonic_file: &std::path::Path,
    box_key: Option<&str>,
    state: Option<&std::path::Path>,
    json: bool,
) -> ExitCode {
    use crate::backup::archive;
    use crate::client::Client;
    let shown = file.display();
    let opened = match std::fs::File::open(file)
        .map_err(archive::ArchiveError::Io)
        .and_then(|f| archive::read(std::io::BufReader::with_capacity(1 << 16, f), true))
    {
        Ok(opened) => opened,
        Err(e) => return fail(1, format!("{shown}: check failed: {e}")),
    };
    match signer_line(&shown, &opened.manifest.box_info, box_key) {
        Ok(line) if !json => println!("{line}"),
        Ok(_) => {}
        Err(refusal) => return fail(1, format!("{refusal}; nothing was restored")),
    }
    let phrase = match std::fs::read_to_string(mnemonic_file) {
        Ok(text) => zeroize::Zeroizing::new(text),
        Err(e) => {
            return fail(
                1,
                format!(
                    "cannot read the backup words from {}: {e}",
                    mnemonic_file.display()
                ),
            );
        }
    };
    let clock: std::sync::Arc<dyn crate::clock::Clock> =
        std::sync::Arc::new(crate::clock::SystemClock);
    let existing = state.filter(|p| p.exists());
    let client = match (existing, box_url) {
        (Some(path), _) => Client::load(path, clock),
        (None, Some(uri)) if uri.starts_with("idbox://pair") => {
            Client::pair(uri, "Restore from a backup file", clock)
        }
        _ => {
            return fail(
                1,
                "give the box's pairing code with --box 'idbox://pair?…' (run `identity-box pair --uri` on the box, or copy the text of its QR code), or a paired client's --state file",
            );
        }
    };
    let mut client = match client {
        Ok(c) => c,
        Err(e) => return fail(e.exit_code(), e),
    };
    let result = client.restore_archive(&opened, &phrase);
    if let Some(path) = state
        && let Err(e) = client.save(path)
    {
        return fail(1, e);
    }
    match result {
        Ok(r) => {
            if json {
                match serde_json::to_string_pretty(&r) {
                    Ok(text) => println!("{text}"),
                    Err(e) => return fail(1, e),
                }
            } else {
                println!("Restored from {shown}: {r}");
                println!(
                    "On the phone, pair with the box and run the backup restore with the same 24 words to take the backup over."
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e.exit_code(), format!("{shown}: {e}")),
    }
}

/// Who signed an archive, checked against the box key the user trusts (if one was given):
/// the line to print, or the refusal.
fn signer_line(
    shown: &dyn std::fmt::Display,
    m: &crate::backup::archive::ManifestBox,
    trusted: Option<&str>,
) -> Result<String, String> {
    let fingerprint = m.fingerprint().unwrap_or_else(|| "unknown".into());
    match trusted {
        Some(key) if m.signed_by(key) => Ok(format!(
            "It was signed by the box with fingerprint {fingerprint} (\"{}\"), the box you named.",
            m.name
        )),
        Some(key) => Err(format!(
            "{shown} was NOT signed by the box you named (signing key {}): it was signed with the \
             key {}. Do not restore from this file; save a new copy from your box",
            key.trim(),
            m.signing_key
        )),
        None => Ok(format!(
            "It was signed with the key {} by a box that calls itself \"{}\" (fingerprint \
             {fingerprint}). The file alone cannot prove that this is your box: to check, run \
             again with --box-key (the signing key `identity-box status` shows on your box) or \
             --box with its address.",
            m.signing_key, m.name
        )),
    }
}

/// `identity-box verify FILE [--mnemonic-file F] [--box-key KEY | --box URL]`.
fn verify(
    file: &std::path::Path,
    mnemonic_file: Option<&std::path::Path>,
    trusted: Option<&str>,
    json: bool,
) -> ExitCode {
    use crate::backup::archive;
    let shown = file.display();
    let opened = match std::fs::File::open(file)
        .map_err(archive::ArchiveError::Io)
        .and_then(|f| {
            archive::read(
                std::io::BufReader::with_capacity(1 << 16, f),
                mnemonic_file.is_some(),
            )
        }) {
        Ok(opened) => opened,
        Err(e) => return fail(1, format!("{shown}: check failed: {e}")),
    };
    let drill = match mnemonic_file {
        None => None,
        Some(path) => {
            let phrase = match std::fs::read_to_string(path) {
                Ok(text) => zeroize::Zeroizing::new(text),
                Err(e) => {
                    return fail(
                        1,
                        format!("cannot read the backup words from {}: {e}", path.display()),
                    );
                }
            };
            match crate::client::drill(&opened, &phrase) {
                Ok(d) => Some(d),
                Err(e) => return fail(e.exit_code(), format!("{shown}: {e}")),
            }
        }
    };
    let m = &opened.manifest;
    let signer = match signer_line(&shown, &m.box_info, trusted) {
        Ok(line) => line,
        Err(refusal) => return fail(1, refusal),
    };
    let created = u64::try_from(m.created)
        .map(|t| humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t)).to_string())
        .unwrap_or_else(|_| m.created.to_string());
    let size: u64 = m.files.iter().map(|f| f.size).sum();
    if json {
        let out = serde_json::json!({
            "file": file.display().to_string(),
            "ok": true,
            "box": m.box_info,
            "signer": {
                "fingerprint": m.box_info.fingerprint(),
                "signing_key": m.box_info.signing_key,
                "checked": trusted.is_some(),
            },
            "backup_id": m.backup_id,
            "version": m.seq,
            "created": m.created,
            "identities": opened.documents.keys().collect::<Vec<_>>(),
            "files": m.files,
            "drill": drill,
        });
        println!("{out:#}");
        return ExitCode::SUCCESS;
    }
    println!("{shown}: good. Its structure, checksums and the box's signature are all right.");
    println!("{signer}");
    println!(
        "  box:        {} (signing key {})",
        m.box_info.name, m.box_info.signing_key
    );
    println!(
        "  backup:     {}, version {}, made {created}",
        m.backup_id, m.seq
    );
    println!("  contents:   {} files, {size} bytes", m.files.len());
    println!("  identities: {}", opened.documents.len());
    for did in opened.documents.keys() {
        println!("              {did}");
    }
    match drill {
        None => println!(
            "To rehearse a restore, add --mnemonic-file with the 24 backup words: it opens the \
             backup and changes nothing."
        ),
        Some(d) => {
            println!(
                "Restore drill: the words open this backup. It would bring back {} identities \
                 (keys for {}) and {} contacts. Nothing was changed.",
                d.identities.len(),
                d.keys.len(),
                d.peers
            );
            for (did, name) in &d.identities {
                println!("              {name}: {did}");
            }
        }
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
