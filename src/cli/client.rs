//! `identity-box client --state FILE …`: the reference phone on the command line.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use clap::Subcommand;
use serde::Serialize;
use serde_json::Value;

use crate::client::{Client, ClientError, Peer};
use crate::clock::SystemClock;
use crate::protocol::backup::{BackupDisable, BackupStatus, Stored};
use crate::protocol::devices::{
    DevicesApprove, DevicesList, DevicesReassign, DevicesRename, DevicesRevoke, DevicesSetRole,
    PairingOpen, PairingOpened,
};
use crate::protocol::identity::{DidResolve, IdentityList, IdentityView};
use crate::protocol::info::BoxInfo;

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
    /// Backups of this phone's address book (protocol §5).
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Other people's DIDs in this phone's address book.
    Peer {
        #[command(subcommand)]
        command: PeerCommand,
    },
    /// Link this device with another device of yours (one person, several devices).
    Link {
        #[command(subcommand)]
        command: LinkCommand,
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
pub enum LinkCommand {
    /// On the new device: show the link code (the `idbox://link?…` text of its QR code).
    Show,
    /// On a device you already use: scan the new device's link code. Prints the comparison
    /// code; when the new device shows the same, run again with --confirm CODE.
    Approve {
        uri: String,
        /// The comparison code both devices show.
        #[arg(long)]
        confirm: Option<String>,
    },
    /// On the new device: see whether it is linked, and take what the other device sent.
    Fetch,
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
    /// Remove a device (an owner may remove any; any device may remove itself); its key never
    /// pairs again.
    Revoke { device_id: String },
    /// Rename a device.
    Rename { device_id: String, name: String },
    /// Make a device an owner or a member (owners only).
    SetRole {
        device_id: String,
        #[arg(value_parser = parse_role)]
        role: crate::protocol::Role,
    },
    /// Let a pending device in, as a member (owners only).
    Approve { device_id: String },
    /// Hand what a removed device held (identities, backups) to a paired device (owners only).
    Reassign { from: String, to: String },
}

fn parse_role(text: &str) -> Result<crate::protocol::Role, String> {
    match text {
        "owner" => Ok(crate::protocol::Role::Owner),
        "member" => Ok(crate::protocol::Role::Member),
        _ => Err("a role is owner or member".into()),
    }
}

#[derive(Debug, Subcommand)]
pub enum PairingCommand {
    /// Open a pairing window so that another phone can pair; prints its QR code.
    Open,
}

/// What a command shows: JSON for `--json`, its `Display` for a person.
trait Shown {
    fn json(&self) -> Result<Value, ClientError>;
    fn human(&self) -> String;
}

impl<T: Serialize + std::fmt::Display> Shown for T {
    fn json(&self) -> Result<Value, ClientError> {
        serde_json::to_value(self).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    fn human(&self) -> String {
        self.to_string()
    }
}

type Output = Box<dyn Shown>;

fn shown<T: Serialize + std::fmt::Display + 'static>(value: T) -> Output {
    Box::new(value)
}

/// A change of the address book, and the backup version it made (when backups are on).
struct WithBackup {
    change: Output,
    backup: Option<Stored>,
}

impl Shown for WithBackup {
    fn json(&self) -> Result<Value, ClientError> {
        let mut v = self.change.json()?;
        if let (Some(stored), Some(map)) = (&self.backup, v.as_object_mut()) {
            map.insert("backup".into(), stored.json()?);
        }
        Ok(v)
    }

    fn human(&self) -> String {
        match &self.backup {
            Some(stored) => format!(
                "{}\nBackup version {} saved on the box.",
                self.change.human(),
                stored.version
            ),
            None => self.change.human(),
        }
    }
}

/// The result of `pair`.
#[derive(Serialize)]
struct Paired {
    #[serde(rename = "box")]
    box_name: String,
    device_id: String,
    role: crate::protocol::Role,
}

impl std::fmt::Display for Paired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Paired with \"{}\" as {} (device {}).",
            self.box_name,
            match self.role {
                crate::protocol::Role::Owner => "its owner",
                crate::protocol::Role::Member => "a member",
                crate::protocol::Role::Pending =>
                    "a phone waiting for an owner's approval (or restore your backup with its 24 words)",
            },
            self.device_id
        )
    }
}

/// `identity create`: the identity, and where its keys are.
#[derive(Serialize)]
#[serde(transparent)]
struct Created(IdentityView);

impl std::fmt::Display for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Created \"{}\": {}\nIts keys are kept in this client's state file; the box \
             published the document.",
            self.0.name, self.0.did
        )
    }
}

/// `pairing open`: the code, and its QR code for a person.
#[derive(Serialize)]
#[serde(transparent)]
struct Opened(PairingOpened);

impl std::fmt::Display for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(qr) = crate::pairing::uri::terminal_qr(&self.0.uri) {
            writeln!(f, "{qr}")?;
        }
        write!(f, "{}", self.0)
    }
}

/// `peer list`.
#[derive(Serialize)]
struct PeerList {
    peers: Vec<Peer>,
}

impl std::fmt::Display for PeerList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.peers.is_empty() {
            return write!(
                f,
                "The address book has no peers yet: `peer add DID NAME` adds one."
            );
        }
        let lines: Vec<String> = self.peers.iter().map(ToString::to_string).collect();
        write!(f, "{}", lines.join("\n"))
    }
}

/// `backup enable`: the words, shown once, and the first version.
#[derive(Serialize)]
struct BackupOn {
    mnemonic: String,
    stored: Stored,
}

impl std::fmt::Display for BackupOn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Backups are on. Your backup phrase (24 words):\n\n    {}\n\nWrite these words on \
             paper and keep them somewhere safe. They are shown only this once, and without \
             them nobody (not even the box) can restore your identities. Version {} is saved \
             on the box; every change of your address book saves a new one by itself.",
            self.mnemonic, self.stored.version
        )
    }
}

impl Drop for BackupOn {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.mnemonic);
    }
}

/// Runs one client command; prints JSON with `json`, else text for a person. When the box does
/// not answer at its known addresses, it is looked for by mDNS on `mdns_interfaces` (empty:
/// every interface but loopback) by its fingerprint, and then, if `box.info` named its relays,
/// reached over libp2p through them (at once with `via_relay`).
pub fn run(
    state: &Path,
    json_out: bool,
    mdns_interfaces: &[String],
    via_relay: bool,
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
        // How the box is reached from outside the home, while the phone is at home.
        if let Ok(facts) = client.call(&BoxInfo {})
            && let Some(network) = &facts.network
        {
            client.note_network(network);
        }
        client.save(state)?;
        let s = client.state();
        return print(
            json_out,
            &Paired {
                box_name: s.box_pin.name.clone(),
                device_id: s.device.device_id.clone(),
                role: s.device.role,
            },
        );
    }

    let mut client = Client::load(state, clock)?;
    if via_relay {
        client.use_relay()?;
    }
    let result = match act(&mut client, &command) {
        Err(ClientError::Unreachable { addrs, detail }) if !via_relay => {
            let fp = client.state().box_pin.fingerprint.clone();
            match crate::discovery::find(Some(&fp), Duration::from_secs(5), mdns_interfaces) {
                Ok(found) if !found.is_empty() => {
                    client.prefer_addrs(found.iter().map(ToString::to_string).collect());
                    act(&mut client, &command)
                }
                // Away from home: through the box's relay, if it has one.
                _ if !client.state().box_pin.relayed.is_empty() => {
                    client.use_relay()?;
                    act(&mut client, &command)
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
        let backup = match client.backup_if_enabled() {
            Ok(stored) => stored,
            Err(e) => {
                eprintln!(
                    "warning: the change is made, but the backup could not be updated: {e}. It \
                     will be with the next change, or run `client backup put`."
                );
                None
            }
        };
        client.save(state)?;
        result = Box::new(WithBackup {
            change: result,
            backup,
        });
    }
    print(json_out, result.as_ref())
}

fn print(json_out: bool, output: &dyn Shown) -> Result<(), ClientError> {
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&output.json()?)
                .map_err(|e| ClientError::Protocol(e.to_string()))?
        );
    } else {
        println!("{}", output.human());
    }
    Ok(())
}

/// One command's work: its calls, and what it shows.
fn act(client: &mut Client, command: &ClientCommand) -> Result<Output, ClientError> {
    Ok(match command {
        ClientCommand::Pair { .. } => unreachable!("pairing makes the client; handled before"),
        ClientCommand::Info => {
            let facts = client.call(&BoxInfo {})?;
            if let Some(network) = &facts.network {
                client.note_network(network);
            }
            shown(facts)
        }
        ClientCommand::Devices { command } => match command {
            DevicesCommand::List => shown(client.call(&DevicesList {})?),
            DevicesCommand::Revoke { device_id } => shown(client.call(&DevicesRevoke {
                device_id: device_id.clone(),
            })?),
            DevicesCommand::Rename { device_id, name } => shown(client.call(&DevicesRename {
                device_id: device_id.clone(),
                name: name.clone(),
            })?),
            DevicesCommand::SetRole { device_id, role } => shown(client.call(&DevicesSetRole {
                device_id: device_id.clone(),
                role: *role,
            })?),
            DevicesCommand::Approve { device_id } => shown(client.call(&DevicesApprove {
                device_id: device_id.clone(),
            })?),
            DevicesCommand::Reassign { from, to } => shown(client.call(&DevicesReassign {
                from: from.clone(),
                to: to.clone(),
            })?),
        },
        ClientCommand::Pairing {
            command: PairingCommand::Open,
        } => shown(Opened(client.call(&PairingOpen {})?)),
        ClientCommand::Identity { command } => match command {
            IdentityCommand::Create { name } => shown(Created(client.create_identity(name)?)),
            IdentityCommand::List => shown(client.call(&IdentityList {})?),
            IdentityCommand::Delete { did } => shown(client.delete_identity(did)?),
        },
        ClientCommand::Resolve { did } => shown(client.call(&DidResolve { did: did.clone() })?),
        ClientCommand::Peer { command } => match command {
            PeerCommand::Add { did, name } => shown(client.add_peer(did, name)?),
            PeerCommand::Remove { did } => shown(client.remove_peer(did)?),
            PeerCommand::List => shown(PeerList {
                peers: client.state().peers.clone(),
            }),
        },
        ClientCommand::Backup { command } => backup(client, command)?,
        ClientCommand::Approve { uri, refuse } => shown(client.approve_extraction(uri, *refuse)?),
        ClientCommand::Link { command } => match command {
            LinkCommand::Show => shown(client.link_start()?),
            LinkCommand::Approve { uri, confirm: None } => shown(client.link_claim(uri)?),
            LinkCommand::Approve {
                uri,
                confirm: Some(code),
            } => shown(client.link_approve(uri, code)?),
            LinkCommand::Fetch => shown(client.link_progress()?),
        },
    })
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

fn backup(client: &mut Client, command: &BackupCommand) -> Result<Output, ClientError> {
    Ok(match command {
        BackupCommand::Enable => {
            let (words, stored) = client.enable_backup()?;
            shown(BackupOn {
                mnemonic: words.as_str().to_owned(),
                stored,
            })
        }
        BackupCommand::Put => shown(client.put_backup()?),
        BackupCommand::Status => shown(client.call(&BackupStatus {})?),
        BackupCommand::Restore { mnemonic_file } => {
            let phrase =
                zeroize::Zeroizing::new(std::fs::read_to_string(mnemonic_file).map_err(|e| {
                    ClientError::State {
                        path: mnemonic_file.display().to_string(),
                        detail: format!("cannot read the backup phrase: {e}"),
                    }
                })?);
            shown(client.restore_backup(&phrase)?)
        }
        BackupCommand::Disable { delete } => {
            let backup_id = client
                .state()
                .backup
                .as_ref()
                .map(|b| b.backup_id.clone())
                .ok_or(ClientError::BackupsOff)?;
            let answer = client.call(&BackupDisable {
                backup_id,
                delete: *delete,
            })?;
            client.forget_backup();
            shown(answer)
        }
    })
}

fn default_device_name() -> String {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    format!("Reference client on {host}")
}
