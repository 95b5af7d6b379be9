//! A tenant's queue of mutations (seed 001 "QueueStore"): items at `queue/{tenant}/{uuid7}.json`,
//! read in UUID7 order (the time they were queued), and the consumer lock
//! `locks/{tenant}/queue` (seed 002 `locks/{tenant}/`) that lets one consumer run a queue at a
//! time.
//!
//! The lock is an [`OperationLock`]: taken over from a consumer that died on this host, never
//! broken from another host.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};

use crate::error::Result;
use crate::storage::locks::OperationLock;
use crate::storage::object_io;
use crate::storage::tags::read;

/// The queue of one tenant of one dataset.
#[derive(Debug, Clone)]
pub struct QueueStore {
    store: Arc<dyn ObjectStore>,
    tenant: String,
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
    /// [`Error::Storage`](crate::error::Error::Storage).
    pub async fn put(&self, item: Bytes) -> Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        self.store.put_opts(&self.item(&id), PutPayload::from(item), options).await?;
        Ok(id)
    }

    /// The ids of the first `limit` items, oldest first.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::error::Error::Storage).
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
    /// [`Error::Storage`](crate::error::Error::Storage).
    pub async fn read(&self, id: &str) -> Result<Option<Bytes>> {
        read(self.store.as_ref(), &self.item(id)).await
    }

    /// Removes item `id` (done); nothing happens when it is gone.
    ///
    /// # Errors
    /// [`Error::Storage`](crate::error::Error::Storage).
    pub async fn remove(&self, id: &str) -> Result<()> {
        object_io::delete(self.store.as_ref(), &self.item(id)).await.map(drop)
    }

    /// Takes the consumer lock `locks/{tenant}/queue`, breaking it when its holder died on this
    /// host ([`OperationLock`]).
    ///
    /// # Errors
    /// [`Error::Busy`](crate::error::Error::Busy) naming the holder; [`Error::Storage`](crate::error::Error::Storage).
    pub async fn lock(&self) -> Result<OperationLock> {
        OperationLock::try_acquire(self.store.clone(), &self.tenant, "queue").await
    }
}
