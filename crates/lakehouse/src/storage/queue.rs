//! A tenant's queue of mutations (seed 001 "QueueStore"): items at `queue/{tenant}/{uuid7}.json`,
//! read in UUID7 order (the time they were queued), and the consumer lock
//! `locks/{tenant}/queue` (seed 002 `locks/{tenant}/`) that lets one consumer run a queue at a
//! time.
//!
//! The lock is created atomically and names its holder (`{"host", "pid", "since"}`). A holder
//! that died without releasing it (a consumer killed with SIGKILL) is detected on the same host
//! by its process being gone, and the lock is taken over through a second atomic marker
//! (`locks/{tenant}/queue.takeover`), so two consumers restarting at once cannot both take it.
//! A lock held from another host is never broken here.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::storage::tags::read;

/// The queue of one tenant of one dataset.
#[derive(Debug, Clone)]
pub struct QueueStore {
    store: Arc<dyn ObjectStore>,
    tenant: String,
}

/// Proof that this process consumes the queue. Release it with [`ConsumerLock::release`].
#[must_use = "release the lock when done"]
pub struct ConsumerLock {
    store: Arc<dyn ObjectStore>,
    path: Path,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// Whether process `pid` runs on this host (a zombie counts as gone).
fn alive(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Whether a lock's holder is a process of this host that is gone.
fn holder_gone(holder: &Value) -> bool {
    let here = hostname();
    !here.is_empty()
        && holder["host"].as_str() == Some(here.as_str())
        && holder["pid"].as_u64().is_some_and(|pid| !alive(pid))
}

async fn create(store: &dyn ObjectStore, path: &Path, body: &Value) -> Result<bool> {
    let payload = PutPayload::from(serde_json::to_vec(body).expect("JSON serialises"));
    match store.put_opts(path, payload, PutOptions { mode: PutMode::Create, ..PutOptions::default() }).await {
        Ok(_) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn delete(store: &dyn ObjectStore, path: &Path) -> Result<()> {
    match store.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn read_json(store: &dyn ObjectStore, path: &Path) -> Result<Option<Value>> {
    Ok(read(store, path).await?.map(|b| serde_json::from_slice(&b).unwrap_or(Value::Null)))
}

impl QueueStore {
    /// The queue of `tenant` (a checked path segment) in the dataset whose root `store` is.
    pub fn new(store: Arc<dyn ObjectStore>, tenant: &str) -> QueueStore {
        QueueStore { store, tenant: tenant.to_string() }
    }

    fn folder(&self) -> Path {
        Path::from(format!("queue/{}", self.tenant))
    }

    fn item(&self, id: &str) -> Path {
        Path::from(format!("queue/{}/{id}.json", self.tenant))
    }

    /// Stores an item (already checked) under a new UUID7; returns the id.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn put(&self, item: Bytes) -> Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        self.store.put_opts(&self.item(&id), PutPayload::from(item), options).await?;
        Ok(id)
    }

    /// The ids of the first `limit` items, oldest first.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn list(&self, limit: usize) -> Result<Vec<String>> {
        let objects: Vec<_> = self.store.list(Some(&self.folder())).try_collect().await?;
        let mut ids: Vec<String> = objects
            .iter()
            .filter_map(|o| o.location.filename()?.strip_suffix(".json").map(str::to_string))
            .filter(|id| uuid::Uuid::parse_str(id).is_ok())
            .collect();
        ids.sort_unstable();
        ids.truncate(limit);
        Ok(ids)
    }

    /// The bytes of item `id`, `None` when it is gone.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn read(&self, id: &str) -> Result<Option<Bytes>> {
        read(self.store.as_ref(), &self.item(id)).await
    }

    /// Removes item `id` (done); nothing happens when it is gone.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn remove(&self, id: &str) -> Result<()> {
        delete(self.store.as_ref(), &self.item(id)).await
    }

    /// Takes the consumer lock, breaking it when its holder died on this host.
    ///
    /// # Errors
    /// [`Error::QueueBusy`] naming the holder; [`Error::Storage`].
    pub async fn lock(&self) -> Result<ConsumerLock> {
        let store = self.store.as_ref();
        let path = Path::from(format!("locks/{}/queue", self.tenant));
        let takeover = Path::from(format!("locks/{}/queue.takeover", self.tenant));
        let me =
            json!({"host": hostname(), "pid": std::process::id(), "since": ftm::time::isoformat(&chrono::Utc::now())});
        for _ in 0..3 {
            if create(store, &path, &me).await? {
                return Ok(ConsumerLock { store: self.store.clone(), path });
            }
            let holder = read_json(store, &path).await?.unwrap_or(Value::Null);
            if !holder_gone(&holder) {
                return Err(Error::QueueBusy {
                    tenant: self.tenant.clone(),
                    holder: holder.to_string(),
                    lock: path.to_string(),
                });
            }
            // A dead holder: one taker wins the takeover marker, checks the lock is still the
            // dead one, and removes it. A marker left by a taker that died is removed too.
            if !create(store, &takeover, &me).await? {
                if read_json(store, &takeover).await?.is_some_and(|taker| holder_gone(&taker)) {
                    delete(store, &takeover).await?;
                    continue;
                }
                return Err(Error::QueueBusy {
                    tenant: self.tenant.clone(),
                    holder: holder.to_string(),
                    lock: path.to_string(),
                });
            }
            if read_json(store, &path).await? == Some(holder) {
                delete(store, &path).await?;
            }
            delete(store, &takeover).await?;
        }
        let holder = read_json(store, &path).await?.unwrap_or(Value::Null);
        Err(Error::QueueBusy { tenant: self.tenant.clone(), holder: holder.to_string(), lock: path.to_string() })
    }
}

impl ConsumerLock {
    /// Releases the lock.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn release(self) -> Result<()> {
        delete(self.store.as_ref(), &self.path).await
    }
}
