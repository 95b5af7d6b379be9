//! `zfs init` and `zfs agent` (spec `zfs.md` §7). The `zfs` group opens no catalog, so it needs
//! no lakehouse URI; `LAKEHOUSE_ON_ZFS` plays no part.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::operation::zfs_agent::{Agent, AgentOptions, own_uid};
use lakehouse::storage::zfs::Zfs;
use lakehouse::storage::zfs::validate::check_pool;
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::{AgentArgs, ZfsCommand};

/// The agent's allowed peer uid when `--allowed-uid` is not given; read only by the agent.
const ALLOWED_UID_VAR: &str = "LAKEHOUSE_ZFS_ALLOWED_UID";

/// Comma-separated properties the agent allows on top of its allowlist (spec `zfs.md` §8.4).
const EXTRA_PROPS_VAR: &str = "LAKEHOUSE_ZFS_EXTRA_PROPS";

/// Runs a `zfs` sub-command; returns the exit code.
pub async fn run(settings: &Settings, command: ZfsCommand) -> Result<ExitCode> {
    match command {
        ZfsCommand::Init { dataset, pool } => init(settings, &dataset, pool).await.map(|()| ExitCode::SUCCESS),
        ZfsCommand::Agent(args) => agent(settings, args).await,
    }
}

/// `zfs init DATASET [--pool POOL]`: ensures the dataset's three ZFS datasets, locally or
/// through the agent of `LAKEHOUSE_ZFS_SOCKET`.
async fn init(settings: &Settings, dataset: &str, pool: Option<String>) -> Result<()> {
    let Some(pool) = non_empty(pool).or_else(|| settings.zfs_pool.clone()) else {
        bail!("No ZFS pool specified. Use --pool or set LAKEHOUSE_ZFS_POOL.");
    };
    let dataset = DatasetName::new(dataset)?;
    Zfs::from_settings(settings).ensure(&pool, &dataset).await?;
    eprintln!("ZFS datasets initialized dataset={dataset} pool={pool}");
    Ok(())
}

/// `zfs agent`: serves until SIGTERM or SIGINT, then exits 0. A missing socket or pool is an
/// error (exit 1); a malformed pool or allowed uid a usage error (exit 2).
async fn agent(settings: &Settings, args: AgentArgs) -> Result<ExitCode> {
    let socket = args.socket.filter(|s| !s.as_os_str().is_empty());
    let Some(socket) = socket.or_else(|| settings.zfs_socket.as_ref().map(PathBuf::from)) else {
        bail!("No socket path specified. Use --socket or set LAKEHOUSE_ZFS_SOCKET.");
    };
    let Some(pool) = non_empty(args.pool).or_else(|| settings.zfs_pool.clone()) else {
        bail!("No pool specified. Use --pool or set LAKEHOUSE_ZFS_POOL.");
    };
    if let Err(e) = check_pool(&pool) {
        return Ok(usage_error(&e.to_string()));
    }
    let allowed_uid = match (args.allowed_uid, env_var(ALLOWED_UID_VAR)) {
        (Some(uid), _) => uid,
        (None, Some(value)) => match value.trim().parse() {
            Ok(uid) => uid,
            Err(_) => {
                return Ok(usage_error(&format!("{ALLOWED_UID_VAR} must be a non-negative integer, got '{value}'")));
            }
        },
        (None, None) => own_uid()?,
    };
    let mut options =
        AgentOptions::new(socket, pool, non_empty(args.owner).or_else(|| settings.zfs_owner.clone()), allowed_uid);
    options.policy.extra_properties = env_var(EXTRA_PROPS_VAR)
        .map(|list| list.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect())
        .unwrap_or_default();
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let shutdown = async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    };
    Agent::bind(options)?.serve(shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// A set, non-empty environment variable.
fn env_var(name: &str) -> Option<String> {
    non_empty(std::env::var(name).ok())
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}
