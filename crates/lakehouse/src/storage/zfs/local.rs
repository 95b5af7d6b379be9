//! `zfs create` run by this process (spec `zfs.md` §4, §5).
//!
//! For one dataset, with `exist_ok`:
//!
//! ```text
//! zfs list -H -o name tank/lake/my_dataset                          # exit 0: exists, done
//! zfs create -p -o atime=off -o xattr=sa -o dnodesize=auto tank/lake/my_dataset
//! zfs list -H -o mountpoint tank/lake/my_dataset                    # only with an owner
//! chown 1000:1000 /tank/lake/my_dataset                             # only with an owner
//! ```
//!
//! Every argument is its own argv element: there is never a shell. `zfs` and `chown` are found
//! on PATH unless [`LocalZfs::with_programs`] names others (tests use fakes).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tokio::process::Command;

use super::ZfsError;
use super::layout::Properties;

/// Runs `zfs create` (and `chown`) here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalZfs {
    zfs: PathBuf,
    chown: PathBuf,
    owner: Option<String>,
}

impl LocalZfs {
    /// `zfs` and `chown` from PATH. `owner` (`uid:gid`, passed to `chown` verbatim) is what new
    /// mountpoints are chowned to; `None` or empty keeps root's ownership.
    pub fn new(owner: Option<String>) -> LocalZfs {
        LocalZfs { zfs: "zfs".into(), chown: "chown".into(), owner: owner.filter(|o| !o.is_empty()) }
    }

    /// The same, running the programs `zfs` and `chown` instead of those on PATH.
    pub fn with_programs(self, zfs: impl Into<PathBuf>, chown: impl Into<PathBuf>) -> LocalZfs {
        LocalZfs { zfs: zfs.into(), chown: chown.into(), ..self }
    }

    /// The `uid:gid` new mountpoints are chowned to, if any.
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }

    /// Creates the ZFS dataset `dataset` (e.g. `tank/lake/my_dataset/archive`) with `props`, in
    /// order, unless it exists. Returns whether it created it: an existing dataset is left as it
    /// is (no property change, no chown). A new one has its mountpoint chowned to the owner; a
    /// chown that fails is logged, not an error, since the dataset exists by then.
    ///
    /// # Errors
    /// [`ZfsError::AlreadyExists`] if it exists and not `exist_ok`; [`ZfsError::CreateFailed`]
    /// with zfs's trimmed stderr; [`ZfsError::CannotRun`] if `zfs` cannot be started.
    pub async fn create(&self, dataset: &str, props: &Properties, exist_ok: bool) -> Result<bool, ZfsError> {
        if self.zfs(["list", "-H", "-o", "name", dataset]).await?.status.success() {
            return if exist_ok { Ok(false) } else { Err(ZfsError::AlreadyExists(dataset.to_string())) };
        }
        let options = props.iter().map(|(name, value)| format!("{name}={value}"));
        let mut args = vec!["create".to_string(), "-p".to_string()];
        args.extend(options.flat_map(|option| ["-o".to_string(), option]));
        args.push(dataset.to_string());
        let output = self.zfs(&args).await?;
        if !output.status.success() {
            return Err(ZfsError::CreateFailed(String::from_utf8_lossy(&output.stderr).trim().to_string()));
        }
        tracing::info!(%dataset, "Created ZFS dataset");
        if let Some(owner) = &self.owner {
            self.chown_mountpoint(dataset, owner).await;
        }
        Ok(true)
    }

    /// Chowns the mountpoint of `dataset` to `owner`, not recursively; datasets without a path
    /// mountpoint (`none`, `legacy`, `-`) are skipped. Failures are logged only.
    async fn chown_mountpoint(&self, dataset: &str, owner: &str) {
        let mountpoint = match self.zfs(["list", "-H", "-o", "mountpoint", dataset]).await {
            Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout).trim().to_string(),
            Ok(output) => {
                let error = String::from_utf8_lossy(&output.stderr);
                return tracing::warn!(%dataset, error = error.trim(), "Cannot resolve mountpoint");
            }
            Err(error) => return tracing::warn!(%dataset, %error, "Cannot resolve mountpoint"),
        };
        if !mountpoint.starts_with('/') {
            return;
        }
        match run(&self.chown, [owner, mountpoint.as_str()]).await {
            Ok(output) if output.status.success() => {}
            Ok(output) => {
                let error = String::from_utf8_lossy(&output.stderr);
                tracing::warn!(%mountpoint, %owner, error = error.trim(), "chown failed");
            }
            Err(error) => tracing::warn!(%mountpoint, %owner, %error, "chown failed"),
        }
    }

    async fn zfs<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&self, args: I) -> Result<Output, ZfsError> {
        run(&self.zfs, args).await.map_err(ZfsError::CannotRun)
    }
}

/// Runs `program` with `args`, stdin closed, capturing stdout and stderr.
async fn run<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(program: &Path, args: I) -> std::io::Result<Output> {
    Command::new(program).args(args).stdin(Stdio::null()).output().await
}
