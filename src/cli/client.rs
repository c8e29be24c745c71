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
        let client = Client::pair(&uri, &name, clock)?;
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
        other => {
            let (method, params) = method_of(other);
            client.call(method, params)
        }
    };
    let result = match act(&mut client) {
        Err(ClientError::Unreachable { addrs, detail }) => {
            let fp = client.state().box_pin.fingerprint.clone();
            match crate::discovery::find(&fp, Duration::from_secs(5), mdns_interfaces) {
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
    let result = result?;
    if json_out {
        print_json(&result);
    } else {
        print_human(&command, &result);
    }
    Ok(())
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
        ClientCommand::Pair { .. } => {}
    }
}
