//! Consuming a tenant's queue (seed 001 "QueueStore", seed 002 "Queue"): items are taken in
//! UUID7 order, a batch at a time, and their actions run through the journal and the archive;
//! an item is removed only after its action is durable (in a durable journal, or flushed to
//! the statement store when the journal is in memory: one commit per batch). A consumer killed at any point leaves
//! the items it held in the queue, and the next consumer runs them again: every action is
//! idempotent (an upsert writes the same statements, a delete of what is gone does nothing),
//! so nothing is lost and the lake ends as if each had run once. One consumer runs a queue
//! at a time ([`QueueStore::lock`]).

use std::path::Path as FsPath;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::model::queue::QueueAction;
use crate::repository::archive::StoreOptions;
use crate::repository::{ArchiveRepository, BulkWriter, EntityRepository, WriteOptions};
use crate::storage::queue::QueueStore;

/// How a consumer runs.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    /// Items taken, run and removed together.
    pub batch: usize,
    /// Wait for new items when the queue is empty, until stopped, instead of returning.
    pub follow: bool,
    /// How long to wait between looks at an empty queue when following.
    pub poll: Duration,
}

impl Default for ConsumeOptions {
    fn default() -> ConsumeOptions {
        ConsumeOptions { batch: 1000, follow: false, poll: Duration::from_secs(1) }
    }
}

/// What a consumer did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumeMetrics {
    /// Items run and removed.
    pub items: u64,
    /// Entities written.
    pub upserted: u64,
    /// Statements tombstoned by entity deletes.
    pub tombstoned: u64,
    /// Files archived.
    pub archived: u64,
    /// Archive records removed.
    pub removed_files: u64,
}

/// The origin of a tenant's queued entities that carry none: `queue:{tenant}`.
pub fn queue_origin(tenant: &str) -> String {
    format!("queue:{tenant}")
}

/// One batch being run: the journal writer of its entity upserts, and whether the batch
/// wrote to an in-memory journal that must be flushed before its items may be removed (a
/// durable journal keeps the rows itself until the next flush).
struct Batch<'a> {
    repo: &'a EntityRepository,
    archive: ArchiveRepository,
    tenant: String,
    writer: Option<BulkWriter<'a>>,
    flush: bool,
}

impl<'a> Batch<'a> {
    async fn run(&mut self, action: QueueAction, metrics: &mut ConsumeMetrics) -> Result<()> {
        if let QueueAction::UpsertEntity(value) = action {
            let entity = ftm::Entity::from_json(ftm::model(), &value)?;
            if self.writer.is_none() {
                self.writer = Some(self.repo.writer(WriteOptions::origin(&queue_origin(&self.tenant)))?);
                self.flush |= self.repo.journal().is_memory();
            }
            let writer = self.writer.as_mut().expect("writer opened above");
            if writer.add_entity(&entity).await? > 0 {
                metrics.upserted += 1;
            }
            return Ok(());
        }
        // Anything else sees the upserts queued before it.
        self.close_writer().await?;
        match action {
            QueueAction::UpsertEntity(_) => unreachable!("handled above"),
            QueueAction::DeleteEntity { id, origin } => {
                metrics.tombstoned += self.repo.delete_entity(&id, origin.as_deref()).await? as u64;
                self.flush |= self.repo.journal().is_memory();
            }
            QueueAction::UpsertFile { path, key } => {
                let options = StoreOptions { key, origin: Some(queue_origin(&self.tenant)), ..StoreOptions::default() };
                self.archive.store_path(FsPath::new(&path), options).await?;
                metrics.archived += 1;
            }
            QueueAction::DeleteFile { checksum, file_id } => {
                let files = match file_id {
                    Some(id) => vec![self.archive.get_file(&checksum, Some(&id)).await?],
                    None => self.archive.files(&checksum).await?,
                };
                for file in &files {
                    self.archive.delete(file).await?;
                }
                metrics.removed_files += files.len() as u64;
            }
        }
        Ok(())
    }

    /// Puts the upserts written so far into the journal.
    async fn close_writer(&mut self) -> Result<()> {
        if let Some(writer) = self.writer.take() {
            writer.close().await?;
        }
        Ok(())
    }

    /// Makes everything run so far durable.
    async fn finish(&mut self) -> Result<()> {
        self.close_writer().await?;
        if std::mem::take(&mut self.flush) {
            self.repo.flush().await?;
        }
        Ok(())
    }
}

/// Consumes the queue of `tenant` until it is empty (or, with `follow`, until the future is
/// dropped). A malformed item, or one whose action fails (a file that is gone, an entity
/// that cannot be written), stops the consumer with an error naming it; the items before it
/// are done and removed, it and the ones after stay queued. `progress` gets the items done.
///
/// # Errors
/// [`Error::Busy`] when another consumer runs the queue; [`Error::InvalidInput`] naming a
/// malformed item or one whose action failed; storage and journal errors.
pub async fn consume(
    repo: &EntityRepository,
    tenant: &str,
    options: &ConsumeOptions,
    mut progress: impl FnMut(u64),
) -> Result<ConsumeMetrics> {
    let queue = QueueStore::new(repo.dataset().object_store(), tenant);
    let lock = queue.lock().await?;
    let result = run(repo, &queue, tenant, options, &mut progress).await;
    lock.release().await?;
    result
}

async fn run(
    repo: &EntityRepository,
    queue: &QueueStore,
    tenant: &str,
    options: &ConsumeOptions,
    progress: &mut impl FnMut(u64),
) -> Result<ConsumeMetrics> {
    let mut metrics = ConsumeMetrics::default();
    let archive = ArchiveRepository::new(repo.dataset());
    loop {
        let ids = queue.list(options.batch.max(1)).await?;
        if ids.is_empty() {
            if !options.follow {
                return Ok(metrics);
            }
            tokio::time::sleep(options.poll).await;
            continue;
        }
        let mut batch =
            Batch { repo, archive: archive.clone(), tenant: tenant.to_string(), writer: None, flush: false };
        let mut done = Vec::with_capacity(ids.len());
        let mut failure = None;
        for id in ids {
            let Some(bytes) = queue.read(&id).await? else { continue };
            let name = format!("queue/{tenant}/{id}.json");
            let outcome = match QueueAction::from_json(&name, &bytes) {
                Ok(action) => batch.run(action, &mut metrics).await.map_err(|e| match e {
                    e @ (Error::Storage(_) | Error::Journal(_)) => e,
                    e => Error::InvalidInput(format!("queue item {name}: {e}")),
                }),
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => done.push(id),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        batch.finish().await?;
        for id in &done {
            queue.remove(id).await?;
        }
        metrics.items += done.len() as u64;
        progress(metrics.items);
        if let Some(e) = failure {
            return Err(e);
        }
    }
}
