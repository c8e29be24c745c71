//! The command line (SPEC §8): one binary, one subcommand per job.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

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
    /// Show whether the running box is healthy, its version, uptime, data directory and keys.
    Status {
        #[command(flatten)]
        common: CommonArgs,
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
    }
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("identity-box: {message}");
    ExitCode::from(code)
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
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
    let result = rt.block_on(daemon::run(
        config,
        DaemonEnv::from_process(),
        CancellationToken::new(),
    ));
    // Background threads (the runtime's blocking pool) get a bounded time to end.
    rt.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // stderr reaches the journal under systemd; logging it as well would say it twice.
        Err(e) => fail(e.exit_code(), e),
    }
}

fn status(common: &CommonArgs, json: bool) -> ExitCode {
    let config = match common.load(None) {
        Ok(c) => c,
        Err(e) => return fail(EXIT_NEEDS_ATTENTION, e),
    };
    let env = DaemonEnv::from_process();
    let data_dir = match config.data_dir(env.state_directory.as_deref()) {
        Ok(d) => d,
        Err(e) => return fail(EXIT_NEEDS_ATTENTION, e),
    };
    let candidates = [
        config.runtime_dir(env.runtime_directory.as_deref(), &data_dir),
        PathBuf::from(admin::SYSTEM_RUNTIME_DIR),
    ];
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(1, format!("cannot start the async runtime: {e}")),
    };
    let answer = rt.block_on(async {
        let socket = admin::find_socket(&candidates)?;
        admin::request(&socket, &AdminRequest::Status).await
    });
    match answer {
        Ok(AdminResponse::Status(report)) => {
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
        Ok(AdminResponse::Error { message }) => fail(1, message),
        Err(e) => fail(1, e),
    }
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
         first started   {since}\n",
        name = r.name,
        version = r.version,
        uptime = humantime::format_duration(Duration::from_secs(r.uptime_secs)),
        listen = r.listen,
        data_dir = r.data_dir.display(),
        key = r.agreement_key,
        fp = r.fingerprint,
        signing = r.signing_key,
    )
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
