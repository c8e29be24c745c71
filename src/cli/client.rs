//! `identity-box client --state FILE …`: the reference phone on the command line.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use serde_json::{Value, json};

use crate::client::{Client, ClientError};
use crate::clock::SystemClock;

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Pair with the box of a QR code (its `idbox://pair?…` text).
    Pair {
        uri: String,
        /// The name the box shows for this device.
        #[arg(long)]
        name: Option<String>,
    },
    /// Show the box's information through the encrypted channel.
    Info,
    /// The devices paired with the box.
    Devices {
        #[command(subcommand)]
        command: DevicesCommand,
    },
    /// Pairing windows.
    Pairing {
        #[command(subcommand)]
        command: PairingCommand,
    },
    /// This phone's identities (DIDs).
    Identity {
        #[command(subcommand)]
        command: IdentityCommand,
    },
    /// Look up any did:ipid DID and print its document.
    Resolve { did: String },
    /// Backups of this phone's address book (SPEC §5).
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Other people's DIDs in this phone's address book.
    Peer {
        #[command(subcommand)]
        command: PeerCommand,
    },
    /// Let a computer save this phone's backup: the `idbox://approve?…` text of the QR code
    /// it shows.
    Approve {
        uri: String,
        /// Say no instead.
        #[arg(long)]
        refuse: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Turn backups on: prints the 24-word backup phrase once; write it down.
    Enable,
    /// Upload the address book now (changes upload by themselves once backups are on).
    Put,
    /// This phone's backups on the box.
    Status,
    /// After a reset: bring the address book back with the 24 words from a file.
    Restore {
        /// A file holding the 24 words (kept off the command line and out of shell history).
        #[arg(long)]
        mnemonic_file: std::path::PathBuf,
    },
    /// Turn backups off; with --delete, erase every version on the box.
    Disable {
        #[arg(long)]
        delete: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PeerCommand {
    /// Add someone's DID to the address book under a name.
    Add { did: String, name: String },
    /// Remove a DID from the address book.
    Remove { did: String },
    /// List the address book's peers.
    List,
}

#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Make a new identity: keys are made here, the box publishes its DID document.
    Create { name: String },
    /// List this phone's identities on the box.
    List,
    /// Delete an identity: the box publishes it as deactivated and erases its key.
    Delete { did: String },
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// List the paired devices.
    List,
    /// Remove a device (the owner may remove any; any device may remove itself).
    Revoke { device_id: String },
    /// Rename a device.
    Rename { device_id: String, name: String },
}

#[derive(Debug, Subcommand)]
pub enum PairingCommand {
    /// Open a pairing window so that another phone can pair; prints its QR code.
    Open,
}

/// Runs one client command; prints JSON with `json`, else text for a person. When the box does
/// not answer at its known addresses, it is looked for by mDNS on `mdns_interfaces` (empty:
/// every interface but loopback) by its fingerprint.
pub fn run(
    state: &Path,
    json_out: bool,
    mdns_interfaces: &[String],
    command: ClientCommand,
) -> Result<(), ClientError> {
    let clock = Arc::new(SystemClock);
    if let ClientCommand::Pair { uri, name } = command {
        let name = name.unwrap_or_else(default_device_name);
        // A phone that pairs again (with a new or reset box) keeps its address book.
        let earlier = Client::load(state, clock.clone()).ok();
        let mut client = Client::pair(&uri, &name, clock)?;
        if let Some(earlier) = earlier {
            client.keep_address_book(earlier.state().clone());
        }
        client.save(state)?;
        let s = client.state();
        if json_out {
            print_json(&json!({
                "box": s.box_pin.name, "device_id": s.device.device_id, "role": s.device.role,
            }));
        } else {
            println!(
                "Paired with \"{}\" as {} (device {}).",
                s.box_pin.name,
                match s.device.role {
                    crate::store::Role::Owner => "its owner",
                    crate::store::Role::Member => "a member",
                },
                s.device.device_id
            );
        }
        return Ok(());
    }

    let mut client = Client::load(state, clock)?;
    let act = |client: &mut Client| match &command {
        ClientCommand::Identity {
            command: IdentityCommand::Create { name },
        } => client.create_identity(name),
        ClientCommand::Identity {
            command: IdentityCommand::Delete { did },
        } => client.delete_identity(did),
        ClientCommand::Peer { command } => match command {
            PeerCommand::Add { did, name } => client.add_peer(did, name),
            PeerCommand::Remove { did } => client.remove_peer(did),
            PeerCommand::List => Ok(json!({ "peers": client.state().peers })),
        },
        ClientCommand::Backup { command } => backup(client, command),
        ClientCommand::Approve { uri, refuse } => client.approve_extraction(uri, *refuse),
        other => {
            let (method, params) = method_of(other);
            client.call(method, params)
        }
    };
    let result = match act(&mut client) {
        Err(ClientError::Unreachable { addrs, detail }) => {
            let fp = client.state().box_pin.fingerprint.clone();
            match crate::discovery::find(Some(&fp), Duration::from_secs(5), mdns_interfaces) {
                Ok(found) if !found.is_empty() => {
                    client.prefer_addrs(found.iter().map(ToString::to_string).collect());
                    act(&mut client)
                }
                _ => Err(ClientError::Unreachable { addrs, detail }),
            }
        }
        other => other,
    };
    // The clock offset may have been corrected even when the call failed.
    client.save(state)?;
    let mut result = result?;
    // A change of the address book uploads a new backup version by itself.
    if changes_address_book(&command) {
        match client.backup_if_enabled() {
            Ok(Some(stored)) => result["backup"] = stored,
            Ok(None) => {}
            Err(e) => eprintln!(
                "warning: the change is made, but the backup could not be updated: {e}. It \
                 will be with the next change, or run `client backup put`."
            ),
        }
        client.save(state)?;
    }
    if json_out {
        print_json(&result);
    } else {
        print_human(&command, &result);
    }
    Ok(())
}

fn changes_address_book(command: &ClientCommand) -> bool {
    matches!(
        command,
        ClientCommand::Identity {
            command: IdentityCommand::Create { .. } | IdentityCommand::Delete { .. }
        } | ClientCommand::Peer {
            command: PeerCommand::Add { .. } | PeerCommand::Remove { .. }
        }
    )
}

fn backup(client: &mut Client, command: &BackupCommand) -> Result<Value, ClientError> {
    let backup_id = || {
        client
            .state()
            .backup
            .as_ref()
            .map(|b| b.backup_id.clone())
            .ok_or(ClientError::BackupsOff)
    };
    match command {
        BackupCommand::Enable => {
            let (words, stored) = client.enable_backup()?;
            Ok(json!({ "mnemonic": words.as_str(), "stored": stored }))
        }
        BackupCommand::Put => client.put_backup(),
        BackupCommand::Status => client.call("backup.status", json!({})),
        BackupCommand::Restore { mnemonic_file } => {
            let phrase =
                zeroize::Zeroizing::new(std::fs::read_to_string(mnemonic_file).map_err(|e| {
                    ClientError::State {
                        path: mnemonic_file.display().to_string(),
                        detail: format!("cannot read the backup phrase: {e}"),
                    }
                })?);
            client.restore_backup(&phrase)
        }
        BackupCommand::Disable { delete } => {
            let id = backup_id()?;
            let answer = client.call(
                "backup.disable",
                json!({ "backup_id": id, "delete": delete }),
            )?;
            client.forget_backup();
            Ok(answer)
        }
    }
}

/// The method and params of a command that is one plain call.
fn method_of(command: &ClientCommand) -> (&'static str, Value) {
    match command {
        ClientCommand::Info => ("box.info", json!({})),
        ClientCommand::Devices { command } => match command {
            DevicesCommand::List => ("devices.list", json!({})),
            DevicesCommand::Revoke { device_id } => {
                ("devices.revoke", json!({ "device_id": device_id }))
            }
            DevicesCommand::Rename { device_id, name } => (
                "devices.rename",
                json!({ "device_id": device_id, "name": name }),
            ),
        },
        ClientCommand::Pairing {
            command: PairingCommand::Open,
        } => ("pairing.open", json!({})),
        ClientCommand::Identity {
            command: IdentityCommand::List,
        } => ("identity.list", json!({})),
        ClientCommand::Resolve { did } => ("did.resolve", json!({ "did": did })),
        ClientCommand::Pair { .. }
        | ClientCommand::Approve { .. }
        | ClientCommand::Backup { .. }
        | ClientCommand::Peer { .. }
        | ClientCommand::Identity {
            command: IdentityCommand::Create { .. } | IdentityCommand::Delete { .. },
        } => unreachable!("handled by the caller"),
    }
}

fn default_device_name() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("Reference client on {host}")
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn print_human(command: &ClientCommand, r: &Value) {
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    };
    match command {
        ClientCommand::Info => {
            println!("Box \"{}\" (version {})", s(&r["name"]), s(&r["version"]));
            println!("  box key       {}", s(&r["agreement_key"]));
            println!("  fingerprint   {}", s(&r["fingerprint"]));
            println!("  uptime        {} s", r["uptime_s"]);
            println!("  devices       {}", r["devices"]);
            println!("  identities    {}", r["identities"]);
            println!("  IPFS peers    {}", r["ipfs_peers"]);
            println!("  pairing open  {}", r["pairing_open"]);
        }
        ClientCommand::Devices {
            command: DevicesCommand::List,
        } => {
            for d in r["devices"].as_array().into_iter().flatten() {
                println!(
                    "{}  {:<6}  {}",
                    s(&d["device_id"]),
                    s(&d["role"]),
                    s(&d["name"])
                );
            }
        }
        ClientCommand::Devices {
            command: DevicesCommand::Revoke { device_id },
        } => println!("Removed device {device_id}."),
        ClientCommand::Devices {
            command: DevicesCommand::Rename { device_id, .. },
        } => println!("Device {device_id} is now called \"{}\".", s(&r["name"])),
        ClientCommand::Pairing { .. } => {
            let uri = s(&r["uri"]);
            if let Some(qr) = crate::pairing::uri::terminal_qr(&uri) {
                println!("{qr}");
            }
            println!("Pairing code: {uri}");
        }
        ClientCommand::Identity {
            command: IdentityCommand::Create { .. },
        } => {
            println!("Created \"{}\": {}", s(&r["name"]), s(&r["did"]));
            println!(
                "Its keys are kept in this client's state file; the box published the document."
            );
        }
        ClientCommand::Identity {
            command: IdentityCommand::List,
        } => {
            let list = r["identities"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("No identities yet: `identity create NAME` makes one.");
            }
            for i in list {
                println!(
                    "{}  {}  (version {})",
                    s(&i["did"]),
                    s(&i["name"]),
                    i["seq"]
                );
            }
        }
        ClientCommand::Identity {
            command: IdentityCommand::Delete { did },
        } => println!("Deleted {did}: it now resolves as deactivated, and its key is erased."),
        ClientCommand::Resolve { .. } => {
            println!(
                "{}",
                serde_json::to_string_pretty(&r["document"]).unwrap_or_default()
            );
            let m = &r["metadata"];
            println!(
                "version {}, {}{}",
                m["seq"],
                if m["local"] == json!(true) {
                    "held by this box"
                } else {
                    "from the network"
                },
                if m["deactivated"] == json!(true) {
                    ", deactivated"
                } else {
                    ""
                }
            );
        }
        ClientCommand::Backup { command } => print_backup(command, r),
        ClientCommand::Peer { command } => match command {
            PeerCommand::Add { did, name } => println!("Added {name}: {did}"),
            PeerCommand::Remove { did } => println!("Removed {did} from the address book."),
            PeerCommand::List => {
                let list = r["peers"].as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    println!("The address book has no peers yet: `peer add DID NAME` adds one.");
                }
                for p in list {
                    println!("{}  {}", s(&p["did"]), s(&p["name"]));
                }
            }
        },
        ClientCommand::Approve { .. } => {
            if r["approved"] == true {
                println!(
                    "Approved: the computer is saving {} ({} bytes).",
                    s(&r["filename"]),
                    s(&r["size"])
                );
            } else {
                println!("Refused: the computer will not get the backup.");
            }
        }
        ClientCommand::Pair { .. } => {}
    }
    if let Some(v) = r.get("backup").and_then(|b| b.get("version")) {
        println!("Backup version {v} saved on the box.");
    }
}

fn print_backup(command: &BackupCommand, r: &Value) {
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    };
    match command {
        BackupCommand::Enable => {
            println!("Backups are on. Your backup phrase (24 words):\n");
            println!("    {}\n", s(&r["mnemonic"]));
            println!(
                "Write these words on paper and keep them somewhere safe. They are shown only \
                 this once, and without them nobody (not even the box) can restore your \
                 identities. Version {} is saved on the box; every change of your address book \
                 saves a new one by itself.",
                r["stored"]["version"]
            );
        }
        BackupCommand::Put => println!(
            "Backup version {} saved on the box ({} bytes).",
            r["version"], r["size"]
        ),
        BackupCommand::Status => {
            let list = r["backups"].as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                println!("This phone has no backup on the box: `backup enable` turns backups on.");
            }
            for b in list {
                println!(
                    "backup {}: {} versions kept, newest is version {} ({} bytes)",
                    s(&b["backup_id"]),
                    b["versions"],
                    b["latest_version"],
                    b["size"]
                );
            }
        }
        BackupCommand::Restore { .. } => {
            let ids = r["identities"].as_array().cloned().unwrap_or_default();
            let peers = r["peers"].as_array().map_or(0, Vec::len);
            println!(
                "Restored from backup version {}: {} identities and {} peers.",
                r["version"],
                ids.len(),
                peers
            );
            for i in ids {
                println!("  {}  {}", s(&i["did"]), s(&i["name"]));
            }
            let keys = r["keys_restored"].as_array().map_or(0, Vec::len);
            if keys > 0 {
                println!("The box had lost {keys} identity keys; they are back and republished.");
            }
        }
        BackupCommand::Disable { delete } => {
            if *delete {
                println!("Backups are off, and every version is erased from the box.");
            } else {
                println!("Backups are off; the versions on the box are kept.");
            }
        }
    }
}
