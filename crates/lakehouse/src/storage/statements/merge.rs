//! `merge`: collapse duplicates and reap expired tombstones, partition by partition (seed 001
//! "merge"; spec `storage-format.md` §5.2).
//!
//! Each selected partition — every dirty one (holding any file not named `merged-*`), or all
//! with `force` — is read sorted by entity id, put through the dedupe rules with tombstones kept
//! for the grace period (`LAKEHOUSE_GRACE_PERIOD_DAYS`, default 30) and dropped after it, and
//! written to one `merged-<uuid7>.zstd.parquet` file in the partition's folder, in merged order;
//! `LAKEHOUSE_MERGE_PARTITIONS` partitions at a time (default: the cores).
//! The new file replaces the old ones in one Delta commit (`add` + `remove`s, `dataChange =
//! false`), 64 partitions per commit; a partition left empty gets no file. Memory stays bounded:
//! files that are each sorted (up to 64) are merged k-way with a share of a read budget each,
//! anything else is read through a spilling sort; rows stay Arrow columns from the read to the
//! write ([`sorted_merge`](super::sorted_merge)) and go out a batch of whole entities at a time.
//! A checkpoint is written when anything was merged. Held under the maintenance fence.

use deltalake::DeltaTable;
use deltalake::arrow::array::RecordBatch;
use deltalake::datafusion::prelude::{SessionContext, col, lit};
use deltalake::kernel::{Action, Add};
use deltalake::protocol::DeltaOperation;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use std::sync::Arc;

use super::columns::file_columns;
use super::datafile::DataFile;
use super::dedupe::Tombstones;
use super::profiles::merge_writer_properties;
use super::read_ahead::ReadAhead;
use super::sorted_merge::{SortedMerge, TableFiles, is_sorted};
use super::{EntityStream, MERGED_PREFIX, Partition, StatementStore, commit};
use crate::error::{Error, Result};
use crate::model::Bucket;

/// Partitions per Delta commit.
const PARTITIONS_PER_COMMIT: usize = 64;
/// Most files of one partition merged k-way (each holds a read buffer meanwhile); more go
/// through DataFusion's spilling sort.
const MAX_MERGED_FILES: usize = 64;

/// Where a partition's merged batches go besides its file: the scan of a merge-scan.
type Tee = tokio::sync::mpsc::Sender<Result<RecordBatch>>;

/// A running [`StatementStore::merge_scan`]: the live statements, read from the merge's output,
/// and the merge task.
pub struct MergeScan {
    /// The live statements of every partition, as a full scan gives them.
    pub stream: EntityStream,
    /// The merge itself: wait for it to know that it committed.
    pub merge: MergeTask,
}

/// The task of a [`StatementStore::merge_scan`]. It runs to its commit (and releases the fence)
/// whether or not its output is read: wait for it before the process ends.
pub struct MergeTask(tokio::task::JoinHandle<Result<MergeMetrics>>);

impl MergeTask {
    /// Waits for the merge to commit.
    ///
    /// # Errors
    /// As [`StatementStore::merge`].
    pub async fn wait(self) -> Result<MergeMetrics> {
        self.0.await.map_err(Error::task("merge"))?
    }
}

/// The partitions a merge selects (the dirty ones, or all with `force`), and the others.
fn selected_partitions(table: &DeltaTable, options: &MergeOptions) -> Result<(Vec<Partition>, Vec<Partition>)> {
    Ok(StatementStore::partitions_of(table)?.into_iter().partition(|p| options.force || !p.is_clean()))
}

/// Options of a merge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOptions {
    /// Grace period for tombstones, days; `None` uses the store's setting.
    pub grace_period_days: Option<u32>,
    /// Merge clean partitions too (reaps their expired tombstones).
    pub force: bool,
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeMetrics {
    /// Partitions merged.
    pub partitions: usize,
    /// Physical rows read.
    pub rows_read: u64,
    /// Rows written (live rows plus tombstones within grace).
    pub rows_written: u64,
    /// Files the merged ones replaced, removed from the table (vacuum deletes them later).
    pub files_removed: usize,
    /// `merged-*` files written, at most one per partition.
    pub files_added: usize,
    /// Table version after the merge.
    pub version: Option<u64>,
}

impl StatementStore {
    /// Merges the table (see the module docs).
    ///
    /// # Errors
    /// [`Error::Locked`] if the fence stays busy; [`Error::Query`], [`Error::Parquet`],
    /// [`Error::Delta`] if reading, writing or committing fails (commits already made stay; an
    /// uncommitted merged file is an orphan for vacuum).
    pub async fn merge(&self, options: &MergeOptions) -> Result<MergeMetrics> {
        self.writable()?;
        if !self.exists().await? {
            return Ok(MergeMetrics::default());
        }
        let guard = self.fence.maintenance().await?;
        let result = async {
            let table = self.table().await?.ok_or_else(|| Error::Corrupt("statement table vanished".into()))?;
            let (selected, _) = selected_partitions(&table, options)?;
            let tees = vec![None; selected.len()];
            self.merge_locked(table, selected, tees, options, self.merge_partitions).await
        }
        .await;
        guard.release().await?;
        result
    }

    /// Merges the table as [`StatementStore::merge`] does while the live statements are read
    /// from the merge's output as it is written, so that an export after a merge does not read
    /// the new files back: the scan takes each merged partition's batches from its merge task,
    /// and the clean partitions from their files. Every selected partition is merged at once
    /// (the scan needs all of them), so this applies to no more selected partitions than a
    /// merge works on side by side ([`StatementStore::merge_partitions`], which bounds the
    /// memory); `None` when more (or none) are selected, and then nothing ran.
    ///
    /// # Errors
    /// [`Error::Locked`] if the fence stays busy; [`Error::Delta`], [`Error::Parquet`] opening
    /// the table or the clean partitions' files. Errors of the merge itself reach the scan as
    /// an error and [`MergeTask::wait`] as the cause.
    pub async fn merge_scan(&self, options: &MergeOptions) -> Result<Option<MergeScan>> {
        self.writable()?;
        if !self.exists().await? {
            return Ok(None);
        }
        let guard = self.fence.maintenance().await?;
        // The clean partitions are read from their files after the merge commits and releases
        // the fence: a lease keeps them from another process's vacuum meanwhile.
        let lease = match self.fence.read().await {
            Ok(lease) => lease,
            Err(e) => {
                guard.release().await?;
                return Err(e);
            }
        };
        let prepared = async {
            let table = self.table().await?.ok_or_else(|| Error::Corrupt("statement table vanished".into()))?;
            let (selected, clean) = selected_partitions(&table, options)?;
            if selected.is_empty() || selected.len() > self.merge_partitions {
                return Ok(None);
            }
            let mut scan = SortedMerge::files(&self.table_files()?, &clean, Tombstones::Drop).await?;
            if clean.iter().all(|p| p.files.len() == 1) {
                scan = scan.deduped();
            }
            let mut tees = Vec::new();
            for _ in &selected {
                // Eight batches of slack between the merge and the export reading it (see
                // `read_ahead::DEPTH`).
                let (tee, batches) = tokio::sync::mpsc::channel(8);
                tees.push(Some(tee));
                scan.add_channel(batches);
            }
            Ok(Some((table, selected, tees, scan)))
        }
        .await;
        let (table, selected, tees, scan) = match prepared {
            Ok(Some(prepared)) => prepared,
            other => {
                guard.release().await?;
                return other.map(|_| None);
            }
        };
        let (store, options, version) = (self.clone(), options.clone(), table.version());
        let merge = tokio::spawn(async move {
            let concurrency = selected.len();
            let result = store.merge_locked(table, selected, tees, &options, concurrency).await;
            guard.release().await?;
            result
        });
        let merge = MergeTask(merge);
        // The merge's commits only rearrange data: the stream holds the statements of the
        // version it read.
        let stream = EntityStream::unfiltered(scan).with_lease(Some(lease)).with_version(version);
        Ok(Some(MergeScan { stream, merge }))
    }

    /// Merges `selected` partitions of `table`, `concurrency` at a time, each partition's output
    /// also sent to its tee if it has one (see the module docs).
    async fn merge_locked(
        &self,
        mut table: DeltaTable,
        selected: Vec<Partition>,
        tees: Vec<Option<Tee>>,
        options: &MergeOptions,
        concurrency: usize,
    ) -> Result<MergeMetrics> {
        let days = options.grace_period_days.unwrap_or(self.grace_period_days);
        let cutoff = (chrono::Utc::now() - chrono::Duration::days(i64::from(days))).timestamp_micros();
        let mut files = StatementStore::files_by_partition(&table)?;
        let ctx = self.session(&table).await?;
        let store = self.table_store()?;
        let mut metrics = MergeMetrics::default();
        let root = self.table_files()?;
        let mut tees = tees.into_iter();
        for chunk in selected.chunks(PARTITIONS_PER_COMMIT) {
            let mut actions = Vec::new();
            for part in chunk {
                let key = (part.shard.clone(), part.bucket.clone(), part.origin.clone());
                for file in files.remove(&key).unwrap_or_default() {
                    actions.push(Action::Remove(file.remove_action(false)));
                    metrics.files_removed += 1;
                }
            }
            // Partitions are merged side by side, one task each.
            let merged: Vec<(Option<Add>, u64)> = futures::stream::iter(chunk.iter().cloned().zip(tees.by_ref()))
                .map(|(part, tee)| {
                    let (ctx, store, root) = (ctx.clone(), store.clone(), root.clone());
                    tokio::spawn(async move {
                        let result = async {
                            let merge = merge_partition(&ctx, &root, &part, cutoff).await?;
                            write_merged(&store, &part, merge, tee.clone()).await
                        }
                        .await;
                        if let (Err(e), Some(tee)) = (&result, tee) {
                            let _ = tee
                                .send(Err(Error::Corrupt(format!(
                                    "merge of partition {}/{}/{}: {e}",
                                    part.shard, part.bucket, part.origin
                                ))))
                                .await;
                        }
                        result
                    })
                })
                .buffered(concurrency)
                .map(|joined| joined.map_err(Error::task("merge"))?)
                .try_collect()
                .await?;
            for (part, (add, written)) in chunk.iter().zip(merged) {
                metrics.rows_read += part.rows;
                metrics.rows_written += written;
                metrics.partitions += 1;
                if let Some(add) = add {
                    actions.push(Action::Add(add));
                    metrics.files_added += 1;
                }
            }
            let operation = DeltaOperation::Optimize { predicate: None, target_size: 0 };
            commit(&mut table, actions, operation).await?;
        }
        if metrics.partitions > 0 {
            deltalake::checkpoints::create_checkpoint(&table, None).await?;
        }
        metrics.version = table.version();
        Ok(metrics)
    }
}

/// Reads `part` sorted by entity id and writes its deduped rows (tombstones deleted after
/// `cutoff`, UTC microseconds, kept) to a new merged file. Files that are each sorted already
/// (this implementation's appends and merges) are merged k-way, up to [`MAX_MERGED_FILES`] of
/// them; otherwise DataFusion sorts them.
async fn merge_partition(
    ctx: &SessionContext,
    table: &TableFiles,
    part: &Partition,
    cutoff: i64,
) -> Result<SortedMerge> {
    let tombstones = Tombstones::KeepAfter(cutoff);
    if part.files.len() <= MAX_MERGED_FILES && is_sorted(table, part).await? {
        return SortedMerge::files(table, std::slice::from_ref(part), tombstones).await;
    }
    let df = ctx
        .table("statements")
        .await?
        .filter(
            col("shard")
                .eq(lit(part.shard.clone()))
                .and(col("bucket").eq(lit(part.bucket.clone())))
                .and(col("origin").eq(lit(part.origin.clone()))),
        )?
        .sort(vec![col("entity_id").sort(true, false)])?;
    Ok(SortedMerge::query(df.execute_stream().await?, tombstones))
}

/// Writes the deduped rows of `part` to a new merged file, each batch also sent to `tee` while
/// its receiver listens; `None` when no row survives. Reading and deduping run on a task of
/// their own, a couple of batches ahead of the encoding.
async fn write_merged(
    store: &Arc<dyn ObjectStore>,
    part: &Partition,
    merge: SortedMerge,
    mut tee: Option<Tee>,
) -> Result<(Option<Add>, u64)> {
    let mut batches = ReadAhead::spawn(merge);
    let folder = part.files.first().and_then(|f| f.rsplit_once('/')).map(|(dir, _)| dir.to_string());
    let folder = folder.ok_or_else(|| Error::Corrupt(format!("partition {part:?} has no files")))?;
    let file_name = format!("{MERGED_PREFIX}{}.zstd.parquet", uuid::Uuid::now_v7());
    let large = Bucket::parse(&part.bucket).is_some_and(Bucket::is_large);
    let key = (part.shard.clone(), part.bucket.clone(), part.origin.clone());
    let mut file = DataFile::create(store, &folder, &file_name, key, merge_writer_properties(large))?;
    let mut written = 0u64;
    while let Some(batch) = batches.next().await? {
        if let Some(sender) = &tee
            && sender.send(Ok(batch.clone())).await.is_err()
        {
            tee = None; // The reader is gone; the merge goes on.
        }
        let batch = file_columns(&batch)?;
        written += batch.num_rows() as u64;
        file.write(&batch).await?;
    }
    Ok((file.finish(false).await?, written))
}
