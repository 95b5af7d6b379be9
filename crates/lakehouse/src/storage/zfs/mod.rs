//! ZFS datasets for lakehouse datasets (spec `zfs.md`).
//!
//! On a ZFS-backed lakehouse (`LAKEHOUSE_ON_ZFS`), each lakehouse dataset gets three ZFS
//! datasets under the pool (`LAKEHOUSE_ZFS_POOL`), so its archive and its statement table sit on
//! datasets tuned for them ([`layout`](mod@layout)):
//!
//! | ZFS dataset | properties |
//! |---|---|
//! | `<pool>/<dataset>` | `atime=off xattr=sa dnodesize=auto` |
//! | `<pool>/<dataset>/archive` | `recordsize=128K compression=zstd-9 sync=standard logbias=throughput` |
//! | `<pool>/<dataset>/statements` | `recordsize=1M compression=off sync=standard logbias=throughput` |
//!
//! * [`local`]: `zfs create` run here, probing first and chowning new mountpoints;
//! * [`client`]: the same asked of a host-side ZFS agent over a Unix socket, for containers
//!   without ZFS tools (the agent itself is [`crate::operation::zfs_agent`]);
//! * [`protocol`]: the agent's JSON-lines request and reply;
//! * [`validate`]: what an agent accepts.
//!
//! [`Zfs`] picks local or agent from the settings; [`Zfs::ensure`] creates a dataset's three ZFS
//! datasets, once per process.

pub mod client;
pub mod layout;
pub mod local;
pub mod protocol;
pub mod validate;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use thiserror::Error;

pub use client::AgentClient;
pub use layout::{Properties, layout};
pub use local::LocalZfs;
pub use protocol::{CreateRequest, Policy, Reply};

use crate::error::Error;
use crate::model::DatasetName;
use crate::settings::Settings;

/// Why creating ZFS datasets failed. Messages follow the reference (spec `zfs.md` §3–§6).
#[derive(Debug, Error)]
pub enum ZfsError {
    /// `LAKEHOUSE_ON_ZFS` is on but no pool is configured.
    #[error("Configure LAKEHOUSE_ZFS_POOL for zfs integration!")]
    NoPool,
    /// A pool path with a component that is not a ZFS name.
    #[error("invalid ZFS pool '{0}': use components matching [A-Za-z0-9][A-Za-z0-9._-]* separated by single '/'")]
    InvalidPool(String),
    /// `zfs` could not be started (missing, not executable).
    #[error("cannot run zfs: {0}")]
    CannotRun(std::io::Error),
    /// The dataset exists and the create was not `exist_ok`.
    #[error("dataset already exists: {0}")]
    AlreadyExists(String),
    /// `zfs create` failed (its stderr), or the agent refused or failed the request.
    #[error("zfs create failed: {0}")]
    CreateFailed(String),
    /// The agent's socket cannot be connected to.
    #[error("cannot connect to the ZFS agent at {}: {error}", socket.display())]
    AgentUnreachable {
        /// The agent's socket path.
        socket: PathBuf,
        /// Why connecting failed (missing, refused, permission denied).
        error: std::io::Error,
    },
    /// Sending to or receiving from the agent failed.
    #[error("ZFS agent at {}: {error}", socket.display())]
    AgentIo {
        /// The agent's socket path.
        socket: PathBuf,
        /// The failed read or write.
        error: std::io::Error,
    },
    /// A step of a request to the agent took too long.
    #[error("timed out after {} s waiting for the ZFS agent at {} to {step}", timeout.as_secs_f64(), socket.display())]
    AgentTimeout {
        /// The agent's socket path.
        socket: PathBuf,
        /// The step that timed out, as the message words it (`connect`, `reply`, …).
        step: &'static str,
        /// The limit of each step.
        timeout: Duration,
    },
}

impl From<ZfsError> for Error {
    fn from(e: ZfsError) -> Error {
        Error::Zfs(Box::new(e))
    }
}

/// Where ZFS datasets are created (spec `zfs.md` §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zfs {
    /// By running `zfs` here.
    Local(LocalZfs),
    /// By a ZFS agent.
    Agent(AgentClient),
}

/// The `(pool, dataset)` pairs ensured by this process.
static ENSURED: Mutex<BTreeSet<(String, String)>> = Mutex::new(BTreeSet::new());

impl Zfs {
    /// The agent at `LAKEHOUSE_ZFS_SOCKET` when set, else `zfs` from PATH chowning new mountpoints
    /// to `LAKEHOUSE_ZFS_OWNER` (the agent decides ownership itself). `LAKEHOUSE_ON_ZFS` plays
    /// no part: it decides whether datasets are ensured at all.
    pub fn from_settings(settings: &Settings) -> Zfs {
        match &settings.zfs_socket {
            Some(socket) => Zfs::Agent(AgentClient::new(socket)),
            None => Zfs::Local(LocalZfs::new(settings.zfs_owner.clone())),
        }
    }

    /// Creates the ZFS dataset `dataset` (a full path) with `props` in order; with `exist_ok` an
    /// existing one is a success and is left untouched.
    ///
    /// # Errors
    /// As [`LocalZfs::create`] or [`AgentClient::create`].
    pub async fn create(&self, dataset: &str, props: &Properties, exist_ok: bool) -> Result<(), ZfsError> {
        match self {
            Zfs::Local(local) => local.create(dataset, props, exist_ok).await.map(drop),
            Zfs::Agent(client) => {
                let request = CreateRequest { dataset: dataset.to_string(), props: props.clone(), exist_ok };
                client.create(&request).await
            }
        }
    }

    /// Creates the three ZFS datasets of `dataset` under `pool` ([`layout()`]) in order, existing
    /// ones left as they are, stopping at the first failure (spec `zfs.md` §3). Once it succeeds
    /// for a `(pool, dataset)`, later calls in this process do nothing; a failure is retried by
    /// the next call.
    ///
    /// # Errors
    /// [`ZfsError::InvalidPool`] (and no zfs calls) for a pool like `/tank` or `tank/`; the first
    /// create's error.
    pub async fn ensure(&self, pool: &str, dataset: &DatasetName) -> Result<(), ZfsError> {
        let key = (pool.to_string(), dataset.to_string());
        if ENSURED.lock().unwrap_or_else(PoisonError::into_inner).contains(&key) {
            return Ok(());
        }
        validate::check_pool(pool)?;
        for (name, props) in layout(pool, dataset) {
            self.create(&name, &props, true).await?;
        }
        ENSURED.lock().unwrap_or_else(PoisonError::into_inner).insert(key);
        Ok(())
    }
}
