//! The dataset-wide write fence (seed 001 "ParquetStore"; spec `storage-format.md` §5.9).
//!
//! Three kinds of marker live at the dataset root:
//!
//! * `.LOCK` — held by maintenance (merge, compact, vacuum, destroy) and table creation;
//! * `.LOCK-MERGE` — also held by maintenance, so a reference (0.9.0) process merging the same
//!   lake and this one exclude each other;
//! * `.LOCK-APPENDS/<uuid>` — one per in-flight append, naming its holder (`{"host", "pidns",
//!   "pid", "since"}`). Maintenance waits until none is left, so it can never tombstone or
//!   vacuum the files of an append that has not committed yet. A marker whose holder is gone
//!   from this host (an appender killed with SIGKILL; same host and pid namespace) is removed by
//!   the maintenance that finds it: an append that never committed has nothing to protect, and
//!   its files are orphans `maintenance verify` lists. Markers without a holder (an older
//!   writer's) count as live. The reference (0.9.0) has no append markers, so their content is
//!   ours to choose;
//! * `.LOCK-READS/<uuid>` — one per reader of the statement table (a scan, an export, a SQL
//!   query), a [`ReadLease`] naming its holder (`{"host", "pidns", "pid", "since"}`). Nothing
//!   waits for it: a vacuum keeps every file removed since the oldest live lease began
//!   ([`Fence::oldest_read`]), so a reader reads the whole version it opened even when a merge
//!   and a vacuum run meanwhile. A lease whose holder is gone (on this host) or older than
//!   [`READ_LEASE_MAX_AGE`] is dropped.
//!
//! Every marker is created atomically (create-if-absent, never check-then-write). `.LOCK` and
//! `.LOCK-MERGE` hold the acquisition time as a JSON string (`"2026-11-21T04:21:56.202483+00:00"`),
//! as the reference writes them; having no holder, they are never broken here. Waiting retries `LAKEHOUSE_LOCK_MAX_RETRIES` times with a linear backoff (attempt
//! k sleeps k + U[0,1) backoff units, 1 s by default), then fails with [`Error::Locked`], which
//! names the marker and how to break it. Differences from the reference: its lock is
//! check-then-write (racy) and it has no append markers, so its vacuum can delete the files of
//! an append in flight.

use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::storage::locks::{create_holder_marker, holder_gone, read_json};
use crate::storage::object_io::{create, delete, exists};

/// The maintenance lock file.
pub const LOCK: &str = ".LOCK";
/// The reference's merge lock file, held together with [`LOCK`] by maintenance.
pub const LOCK_MERGE: &str = ".LOCK-MERGE";
/// The folder of in-flight append markers.
pub const LOCK_APPENDS: &str = ".LOCK-APPENDS";

/// The folder of read leases.
pub const LOCK_READS: &str = ".LOCK-READS";
/// How long a read lease from another host is honoured (its holder may have died unseen).
pub const READ_LEASE_MAX_AGE: chrono::Duration = chrono::Duration::hours(24);

/// The fence of one dataset, over the object store rooted at the dataset.
#[derive(Debug, Clone)]
pub struct Fence {
    store: Arc<dyn ObjectStore>,
    dataset: String,
    max_retries: u32,
    backoff: Duration,
}

/// Proof that maintenance holds the fence. Release it with [`MaintenanceGuard::release`].
#[must_use = "release the fence when done"]
pub struct MaintenanceGuard {
    fence: Fence,
}

/// Proof of an in-flight append marker. Release it with [`AppendGuard::release`].
#[must_use = "release the marker when done"]
pub struct AppendGuard {
    fence: Fence,
    marker: Path,
}

/// Proof of a read lease: the files of the table version its holder opened stay until it is
/// released ([`ReadLease::release`]; dropped, it is removed in the background).
#[derive(Debug)]
#[must_use = "release the lease when the read is done"]
pub struct ReadLease {
    store: Arc<dyn ObjectStore>,
    marker: Option<Path>,
}

fn now_json() -> PutPayload {
    let ts = ftm::time::isoformat(&chrono::Utc::now());
    PutPayload::from(serde_json::to_vec(&ts).expect("string serialises"))
}

impl Fence {
    /// A fence over `store` (rooted at the dataset) for the dataset called `dataset` (used in
    /// messages), retrying `max_retries` times.
    pub fn new(store: Arc<dyn ObjectStore>, dataset: &str, max_retries: u32) -> Fence {
        Fence { store, dataset: dataset.to_string(), max_retries, backoff: Duration::from_secs(1) }
    }

    /// Sets the backoff unit (1 s by default; tests use milliseconds).
    pub fn with_backoff(mut self, backoff: Duration) -> Fence {
        self.backoff = backoff;
        self
    }

    async fn sleep(&self, attempt: u32) {
        tracing::info!(dataset = %self.dataset, attempt, max_retries = self.max_retries, "waiting for the write fence");
        let jitter = f64::from(chrono::Utc::now().timestamp_subsec_micros() % 1000) / 1000.0;
        tokio::time::sleep(self.backoff.mul_f64(f64::from(attempt) + jitter)).await;
    }

    fn locked(&self, marker: &str, since: Option<String>) -> Error {
        Error::Locked {
            marker: marker.to_string(),
            dataset: self.dataset.clone(),
            since: since.unwrap_or_else(|| "unknown".into()),
        }
    }

    /// When a marker was taken: its JSON string, or the `since` of its holder object.
    async fn read_marker(&self, path: &Path) -> Option<String> {
        let bytes = self.store.get(path).await.ok()?.bytes().await.ok()?;
        match serde_json::from_slice::<Value>(&bytes).ok()? {
            Value::String(since) => Some(since),
            holder => holder["since"].as_str().map(str::to_string),
        }
    }

    async fn exists(&self, path: &Path) -> Result<bool> {
        exists(self.store.as_ref(), path).await
    }

    /// Creates `name` if absent; `false` if it exists.
    async fn try_create(&self, name: &str) -> Result<bool> {
        create(self.store.as_ref(), &Path::from(name), now_json()).await
    }

    /// Creates `name`, retrying while another holder has it.
    async fn acquire(&self, name: &str) -> Result<()> {
        for attempt in 1..=self.max_retries + 1 {
            if self.try_create(name).await? {
                return Ok(());
            }
            if attempt <= self.max_retries {
                self.sleep(attempt).await;
            }
        }
        Err(self.locked(name, self.read_marker(&Path::from(name)).await))
    }

    async fn append_markers(&self) -> Result<Vec<Path>> {
        let prefix = Path::from(LOCK_APPENDS);
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        Ok(metas.into_iter().map(|m| m.location).collect())
    }

    /// The append markers of live appenders: a marker whose holder is gone from this host is
    /// removed (see the module docs). Markers without a holder (another writer's) count as live.
    async fn live_append_markers(&self) -> Result<Vec<Path>> {
        let mut live = Vec::new();
        for marker in self.append_markers().await? {
            let Some(holder) = read_json(self.store.as_ref(), &marker).await? else { continue };
            if holder_gone(&holder) {
                tracing::info!(dataset = %self.dataset, %marker, "removed the append marker of a process that is gone");
                delete(self.store.as_ref(), &marker).await?;
            } else {
                live.push(marker);
            }
        }
        Ok(live)
    }

    /// Takes the maintenance fence: `.LOCK`, then `.LOCK-MERGE`, then waits until no append
    /// is in flight. Holds nothing if it fails.
    ///
    /// # Errors
    /// [`Error::Locked`] naming the marker that stayed held through every retry.
    pub async fn maintenance(&self) -> Result<MaintenanceGuard> {
        self.acquire(LOCK).await?;
        if let Err(e) = self.acquire(LOCK_MERGE).await {
            self.delete(LOCK).await?;
            return Err(e);
        }
        let guard = MaintenanceGuard { fence: self.clone() };
        match self.wait_for_appends().await {
            Ok(()) => Ok(guard),
            Err(e) => {
                guard.release().await?;
                Err(e)
            }
        }
    }

    /// Waits until no live append marker is left.
    ///
    /// # Errors
    /// [`Error::Locked`] naming a marker that stayed through every retry; storage errors.
    async fn wait_for_appends(&self) -> Result<()> {
        for attempt in 1..=self.max_retries + 1 {
            let Some(marker) = self.live_append_markers().await?.into_iter().next() else {
                return Ok(());
            };
            if attempt > self.max_retries {
                return Err(self.locked(marker.as_ref(), self.read_marker(&marker).await));
            }
            self.sleep(attempt).await;
        }
        unreachable!("the loop returns on its last attempt")
    }

    /// Registers an in-flight append: waits until `.LOCK` is absent, writes a marker, and
    /// checks `.LOCK` again (backing off if maintenance started in between).
    ///
    /// # Errors
    /// [`Error::Locked`] (`.LOCK`) when maintenance held the fence through every retry.
    pub async fn append(&self) -> Result<AppendGuard> {
        let marker = Path::from(format!("{LOCK_APPENDS}/{}", uuid::Uuid::new_v4().simple()));
        let lock = Path::from(LOCK);
        for attempt in 1..=self.max_retries + 1 {
            if !self.exists(&lock).await? {
                create_holder_marker(self.store.as_ref(), &marker).await?;
                if !self.exists(&lock).await? {
                    return Ok(AppendGuard { fence: self.clone(), marker });
                }
                self.store.delete(&marker).await?;
            }
            if attempt <= self.max_retries {
                self.sleep(attempt).await;
            }
        }
        Err(self.locked(LOCK, self.read_marker(&lock).await))
    }

    async fn delete(&self, name: &str) -> Result<bool> {
        delete(self.store.as_ref(), &Path::from(name)).await
    }

    /// Breaks the fence: deletes `.LOCK`, `.LOCK-MERGE`, every append marker and every read
    /// lease. Returns
    /// whether anything was held. Only for when no writer is alive: breaking a live holder's
    /// lock can corrupt its write.
    ///
    /// # Errors
    /// [`Error::Storage`] if the store fails.
    pub async fn unlock(&self) -> Result<bool> {
        let mut released = self.delete(LOCK).await?;
        released |= self.delete(LOCK_MERGE).await?;
        for marker in self.append_markers().await? {
            self.store.delete(&marker).await?;
            released = true;
        }
        let reads: Vec<_> = self.store.list(Some(&Path::from(LOCK_READS))).try_collect().await?;
        for lease in reads {
            released |= delete(self.store.as_ref(), &lease.location).await?;
        }
        Ok(released)
    }

    /// Takes a read lease. Take it before opening the table: files the version opened after it
    /// holds are removed after `since`.
    ///
    /// # Errors
    /// [`Error::Storage`] if the store fails.
    pub async fn read(&self) -> Result<ReadLease> {
        let marker = Path::from(format!("{LOCK_READS}/{}", uuid::Uuid::new_v4().simple()));
        create_holder_marker(self.store.as_ref(), &marker).await?;
        Ok(ReadLease { store: self.store.clone(), marker: Some(marker) })
    }

    /// When the oldest live read lease began, `None` without one. Leases whose holder is gone
    /// from this host, older than [`READ_LEASE_MAX_AGE`] or unreadable are removed.
    ///
    /// # Errors
    /// [`Error::Storage`] if the store fails.
    pub async fn oldest_read(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        let prefix = Path::from(LOCK_READS);
        let metas: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        let now = chrono::Utc::now();
        let mut oldest = None;
        for meta in metas {
            let Some(holder) = read_json(self.store.as_ref(), &meta.location).await? else { continue };
            let since = holder["since"].as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok());
            match since.map(|s| s.with_timezone(&chrono::Utc)) {
                Some(since) if !holder_gone(&holder) && now - since < READ_LEASE_MAX_AGE => {
                    oldest = Some(oldest.map_or(since, |o: chrono::DateTime<chrono::Utc>| o.min(since)));
                }
                _ => drop(delete(self.store.as_ref(), &meta.location).await?),
            }
        }
        Ok(oldest)
    }

    /// Whether maintenance (`.LOCK`) is held right now.
    ///
    /// # Errors
    /// [`Error::Storage`] if the store fails.
    pub async fn is_locked(&self) -> Result<bool> {
        self.exists(&Path::from(LOCK)).await
    }
}

impl MaintenanceGuard {
    /// Releases `.LOCK-MERGE` and `.LOCK`.
    ///
    /// # Errors
    /// [`Error::Storage`] if the store fails.
    pub async fn release(self) -> Result<()> {
        self.fence.delete(LOCK_MERGE).await?;
        self.fence.delete(LOCK).await?;
        Ok(())
    }
}

impl AppendGuard {
    /// Removes the append marker.
    ///
    /// # Errors
    /// [`Error::Storage`] if the store fails.
    pub async fn release(self) -> Result<()> {
        delete(self.fence.store.as_ref(), &self.marker).await.map(drop)
    }
}

impl ReadLease {
    /// Removes the lease.
    ///
    /// # Errors
    /// [`Error::Storage`] if the store fails.
    pub async fn release(mut self) -> Result<()> {
        match self.marker.take() {
            Some(marker) => delete(self.store.as_ref(), &marker).await.map(drop),
            None => Ok(()),
        }
    }
}

impl Drop for ReadLease {
    fn drop(&mut self) {
        // A reader dropped early (a query stopped half way): the lease goes in the background.
        // Should the process end first, the lease names a holder that is gone.
        if let (Some(marker), Ok(runtime)) = (self.marker.take(), tokio::runtime::Handle::try_current()) {
            let store = self.store.clone();
            runtime.spawn(async move { delete(store.as_ref(), &marker).await });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::locks::this_holder;
    use object_store::local::LocalFileSystem;

    fn fence(dir: &std::path::Path, retries: u32) -> Fence {
        let store = Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap());
        Fence::new(store, "ds", retries).with_backoff(Duration::from_millis(5))
    }

    #[tokio::test]
    async fn maintenance_is_exclusive_and_released() {
        let dir = tempfile::tempdir().unwrap();
        let f = fence(dir.path(), 1);
        let guard = f.maintenance().await.unwrap();
        let content = std::fs::read_to_string(dir.path().join(LOCK)).unwrap();
        assert!(content.starts_with('"') && content.ends_with("+00:00\""), "{content}");
        assert!(dir.path().join(LOCK_MERGE).exists());
        let err = f.maintenance().await.err().unwrap();
        assert!(err.to_string().contains("`.LOCK`") && err.to_string().contains("maintenance unlock"), "{err}");
        assert!(f.append().await.is_err());
        guard.release().await.unwrap();
        assert!(!dir.path().join(LOCK).exists());
        f.append().await.unwrap().release().await.unwrap();
    }

    #[tokio::test]
    async fn maintenance_waits_for_appends() {
        let dir = tempfile::tempdir().unwrap();
        let f = fence(dir.path(), 2);
        let append = f.append().await.unwrap();
        let err = f.maintenance().await.err().unwrap();
        assert!(err.to_string().contains(LOCK_APPENDS), "{err}");
        assert!(!dir.path().join(LOCK).exists(), "a failed maintenance holds nothing");
        let waiter = {
            let f = fence(dir.path(), 8);
            tokio::spawn(async move { f.maintenance().await.map(|_| ()) })
        };
        // Holding `.LOCK-MERGE`, the waiter is past both locks and at the append marker.
        crate::testing::wait_for_file(&dir.path().join(LOCK_MERGE)).await;
        assert!(!waiter.is_finished());
        append.release().await.unwrap();
        waiter.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn maintenance_removes_the_append_markers_of_dead_holders_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = fence(dir.path(), 0);
        let markers = dir.path().join(LOCK_APPENDS);
        std::fs::create_dir_all(&markers).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let mut holder = this_holder();
        holder["pid"] = dead.into();
        std::fs::write(markers.join("dead"), holder.to_string()).unwrap();
        // Held by a live process of this host, then by one of another host: both wait.
        let mut other = this_holder();
        other["host"] = "elsewhere".into();
        other["pid"] = dead.into();
        // And a marker of an older writer, a bare timestamp: no holder to judge, so live.
        let string = Value::String("2020-01-01T00:00:00+00:00".into());
        for (name, live) in [("live", this_holder()), ("other", other), ("string", string)] {
            std::fs::write(markers.join(name), live.to_string()).unwrap();
            let err = f.maintenance().await.err().unwrap();
            assert!(matches!(&err, Error::Locked { marker, .. } if marker.ends_with(name)), "{name}: {err}");
            assert!(!markers.join("dead").exists(), "the dead holder's marker is removed");
            std::fs::remove_file(markers.join(name)).unwrap();
        }
        f.maintenance().await.unwrap().release().await.unwrap();
        // An append names its holder, whose `since` the busy message gives.
        let append = f.append().await.unwrap();
        let err = f.maintenance().await.err().unwrap();
        assert!(matches!(&err, Error::Locked { since, .. } if since.ends_with("+00:00")), "{err}");
        append.release().await.unwrap();
    }

    #[tokio::test]
    async fn unlock_clears_stale_markers() {
        let dir = tempfile::tempdir().unwrap();
        let f = fence(dir.path(), 0);
        assert!(!f.unlock().await.unwrap());
        std::fs::write(dir.path().join(LOCK), "\"2020-01-01T00:00:00+00:00\"").unwrap();
        let err = f.append().await.err().unwrap();
        assert!(err.to_string().contains("2020-01-01T00:00:00+00:00"), "{err}");
        let _stale = f.clone();
        std::fs::create_dir_all(dir.path().join(LOCK_APPENDS)).unwrap();
        std::fs::write(dir.path().join(LOCK_APPENDS).join("dead"), "\"x\"").unwrap();
        assert!(f.unlock().await.unwrap());
        assert!(!f.is_locked().await.unwrap());
        f.maintenance().await.unwrap().release().await.unwrap();
    }
}
