//! The statement store: one Delta Lake table per dataset at `<dataset>/statements`, partitioned
//! by `(shard, bucket, origin)` (seed 001 "ParquetStore"; spec `storage-format.md` §2–§6).
//!
//! Writes are append-only ([`StatementStore::append`]): duplicates and tombstones land as rows.
//! Three maintenance operations, all under the dataset's write [`Fence`], keep the table tidy:
//! [`merge`](StatementStore::merge) collapses duplicates, folds `first_seen`, supersedes fragment
//! emissions and reaps tombstones past the grace period, one partition at a time;
//! [`compact`](StatementStore::compact) bin-packs small files; [`vacuum`](StatementStore::vacuum)
//! deletes files the log no longer references; [`reshard`](StatementStore::reshard) rewrites the
//! table for another shard count. Reads ([`scan`](StatementStore::scan) and the
//! lookups built on it) see live rows only: the merge's dedupe rules (spec `storage-format.md`
//! §5.2) applied to every partition, tombstones hidden.
//!
//! The table is the one the reference (ftm-lakehouse 0.9.0) writes: same schema and partition
//! columns, same `part-*` / `merged-*` file naming, same table properties, so either
//! implementation reads the other's lake.

mod append;
mod batch;
mod bloom;
mod check;
mod columns;
mod compact;
mod csv;
mod datafile;
mod dedupe;
mod delete;
mod filter;
mod gather;
mod history;
mod merge;
mod migrate;
mod profiles;
mod read_ahead;
mod reshard;
mod scan;
mod sorted_merge;
mod sql;
mod stats;
mod vacuum;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, LogicalFileView};
use deltalake::protocol::{DeltaOperation, SaveMode};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

pub use append::AppendMetrics;
pub use batch::{EntityBatch, EntityRows};
pub use check::TableCheck;
pub use compact::CompactMetrics;
pub use csv::{CsvRows, TableCsv};
pub use filter::Filter;
pub use history::{AsOf, Commit};
pub use merge::{MergeMetrics, MergeOptions, MergeScan, MergeTask};
pub use migrate::RETENTION_PROPERTIES;
pub use read_ahead::ReadAhead;
pub use reshard::{PENDING_SHARDS, ReshardMetrics, same_layout};
pub use scan::{EntityStream, entity_of};
pub use sql::{LIVE_VIEW, RAW_VIEW};
pub use stats::{CountryCount, DatasetStats, SchemaCount, StatsBuilder, StatsGroup};
pub use vacuum::VacuumMetrics;

use sorted_merge::TableFiles;

use crate::error::{Error, Result};
use crate::model::DatasetName;
use crate::settings::Settings;
use crate::storage::fence::Fence;
use crate::storage::location::Location;

/// Folder of the statement table below the dataset root.
pub const STATEMENTS_DIR: &str = "statements";

/// Prefix of files written by merge: a partition whose files all carry it is deduped and sorted.
pub const MERGED_PREFIX: &str = "merged-";

/// Commits `actions` on `table` as `operation` and brings `table` to the new version.
///
/// Every `remove` is stamped with the time of the commit: a vacuum keeps the files removed
/// since the oldest read lease began, and a remove stamped when a long merge started would look
/// older than a reader that opened the table version before the commit.
///
/// # Errors
/// [`Error::Delta`], a conflicting commit among them.
async fn commit(table: &mut DeltaTable, mut actions: Vec<Action>, operation: DeltaOperation) -> Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    for action in &mut actions {
        if let Action::Remove(remove) = action {
            remove.deletion_timestamp = Some(now);
        }
    }
    CommitBuilder::from(CommitProperties::default())
        .with_actions(actions)
        .build(Some(table.snapshot()?), table.log_store(), operation)
        .await?;
    table.update_state().await?;
    Ok(())
}

/// A `WRITE` commit of the statement table in `mode` (spec `storage-format.md` §2.8).
fn write_operation(mode: SaveMode) -> DeltaOperation {
    DeltaOperation::Write {
        mode,
        partition_by: Some(crate::storage::table_schema::PARTITION_COLUMNS.map(String::from).to_vec()),
        predicate: None,
    }
}

/// `(shard, bucket, origin)` of a partition.
type PartitionKey = (String, String, String);

/// The partition key of a file, from the log's partition values (not from directory names).
fn partition_key(file: &LogicalFileView) -> PartitionKey {
    let values = file.partition_values_map();
    let value = |k: &str| values.get(k).cloned().flatten().unwrap_or_default();
    (value("shard"), value("bucket"), value("origin"))
}

/// One `(shard, bucket, origin)` partition of the current snapshot.
#[derive(Debug, Clone)]
pub struct Partition {
    /// The shard, lowercase hex (spec `storage-format.md` §2.3).
    pub shard: String,
    /// The bucket name (`thing`, `interval`, …; spec §2.4).
    pub bucket: String,
    /// The origin label (spec §2.5).
    pub origin: String,
    /// Data files, as paths relative to the table root (partition folders escaped as on disk).
    pub files: Vec<String>,
    /// Total size of the files, bytes.
    pub size: u64,
    /// Rows in the files (duplicates and tombstones included), from the log's stats.
    pub rows: u64,
}

impl Partition {
    /// Whether every file was written by merge (deduped and sorted, spec `storage-format.md` §2.6).
    pub fn is_clean(&self) -> bool {
        self.files.iter().all(|f| f.rsplit('/').next().is_some_and(|name| name.starts_with(MERGED_PREFIX)))
    }
}

/// The statement store of one dataset.
#[derive(Debug, Clone)]
pub struct StatementStore {
    root: Location,
    dataset: DatasetName,
    shards: u32,
    fence: Fence,
    grace_period_days: u32,
    /// Partitions merged side by side (the `merge_partitions` setting).
    merge_partitions: usize,
    /// DataFusion memory budget for sorts and joins, bytes (the `query_memory_limit` setting);
    /// beyond it they spill to disk. It bounds what a large `make` holds.
    memory_limit: usize,
    /// Reads see the table as of this state (`--as-of`); writes are refused.
    as_of: Option<AsOf>,
}

impl StatementStore {
    /// The store of `dataset` whose folder is `root`, with `shards` shards (the dataset's
    /// `config.yml` value). Opens nothing yet.
    ///
    /// # Errors
    /// [`Error::Storage`] if the dataset folder cannot be created.
    pub fn new(root: Location, dataset: DatasetName, shards: u32, settings: &Settings) -> Result<StatementStore> {
        let fence = Fence::new(root.object_store()?, dataset.as_str(), settings.lock_max_retries);
        Ok(StatementStore {
            root,
            dataset,
            shards,
            fence,
            grace_period_days: settings.grace_period_days,
            merge_partitions: settings.merge_partitions.max(1),
            memory_limit: settings.query_memory_limit,
            as_of: None,
        })
    }

    /// Replaces the write fence (tests shorten its backoff).
    pub fn with_fence(mut self, fence: Fence) -> StatementStore {
        self.fence = fence;
        self
    }

    /// The dataset name.
    pub fn dataset(&self) -> &DatasetName {
        &self.dataset
    }

    /// Partitions a merge works on side by side; a [`merge_scan`](StatementStore::merge_scan)
    /// applies to no more dirty partitions than this.
    pub fn merge_partitions(&self) -> usize {
        self.merge_partitions
    }

    /// The configured shard count.
    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// The dataset's write fence.
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    fn table_location(&self) -> Location {
        self.root.child(STATEMENTS_DIR)
    }

    /// Whether the Delta table exists (its log has at least one entry).
    ///
    /// # Errors
    /// [`Error::Storage`] if the store fails.
    pub async fn exists(&self) -> Result<bool> {
        let store = self.root.object_store()?;
        let log = Path::from(format!("{STATEMENTS_DIR}/_delta_log"));
        let first = store.list(Some(&log)).next().await;
        match first {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) => Err(e.into()),
        }
    }

    /// The table at its latest version (or as of the state [`at`](StatementStore::at) set), or
    /// `None` if there is none.
    ///
    /// # Errors
    /// [`Error::Delta`] if the log cannot be read, or has no such version or no commit that
    /// early; [`Error::InvalidInput`] for a past version whose files were vacuumed.
    pub async fn table(&self) -> Result<Option<DeltaTable>> {
        if !self.exists().await? {
            return Ok(None);
        }
        let url = self.table_location().url().clone();
        let table = match self.as_of {
            None => deltalake::open_table(url).await?,
            Some(AsOf::Version(version)) => match deltalake::open_table_with_version(url.clone(), version).await {
                Ok(table) => table,
                Err(e) => {
                    let latest = deltalake::open_table(url).await?.version().unwrap_or_default();
                    if version > latest {
                        return Err(Error::InvalidInput(format!(
                            "--as-of {version}: the statement table's versions are 0 to {latest}"
                        )));
                    }
                    return Err(e.into());
                }
            },
            Some(AsOf::Time(time)) => deltalake::open_table_with_ds(url, time.to_rfc3339()).await?,
        };
        if let Some(as_of) = self.as_of {
            self.check_readable(&table, as_of).await?;
        }
        Ok(Some(table))
    }

    /// The current table version, `None` without a table.
    ///
    /// # Errors
    /// [`Error::Delta`] if the log cannot be read.
    pub async fn version(&self) -> Result<Option<u64>> {
        Ok(self.table().await?.and_then(|t| t.version()))
    }

    /// The partitions of `table`'s snapshot, sorted by `(shard, bucket, origin)`.
    ///
    /// # Errors
    /// [`Error::Delta`] if the snapshot is not loaded.
    pub fn partitions_of(table: &DeltaTable) -> Result<Vec<Partition>> {
        let mut parts: BTreeMap<PartitionKey, Partition> = BTreeMap::new();
        for file in table.snapshot()?.log_data().iter() {
            let key = partition_key(&file);
            let part = parts.entry(key.clone()).or_insert_with(|| Partition {
                shard: key.0,
                bucket: key.1,
                origin: key.2,
                files: Vec::new(),
                size: 0,
                rows: 0,
            });
            part.files.push(file.path().into_owned());
            part.size += u64::try_from(file.size()).unwrap_or(0);
            part.rows += file.num_records().unwrap_or(0) as u64;
        }
        Ok(parts.into_values().collect())
    }

    /// The partitions of the current snapshot (empty without a table).
    ///
    /// # Errors
    /// [`Error::Delta`] if the log cannot be read.
    pub async fn partitions(&self) -> Result<Vec<Partition>> {
        match self.table().await? {
            Some(table) => StatementStore::partitions_of(&table),
            None => Ok(Vec::new()),
        }
    }

    /// The files of the snapshot grouped by partition key, as log views (for removes).
    fn files_by_partition(table: &DeltaTable) -> Result<HashMap<PartitionKey, Vec<LogicalFileView>>> {
        let mut out: HashMap<PartitionKey, Vec<LogicalFileView>> = HashMap::new();
        for file in table.snapshot()?.log_data().iter() {
            out.entry(partition_key(&file)).or_default().push(file);
        }
        Ok(out)
    }

    /// Creates the empty table (version 0) under the maintenance fence if it does not exist,
    /// with the reference's schema, partition columns and retention properties.
    async fn ensure_table(&self) -> Result<DeltaTable> {
        if let Some(table) = self.table().await? {
            return Ok(table);
        }
        let guard = self.fence.maintenance().await?;
        let created = self.create_table().await;
        guard.release().await?;
        created
    }

    async fn create_table(&self) -> Result<DeltaTable> {
        use deltalake::kernel::StructType;
        use deltalake::kernel::engine::arrow_conversion::TryFromArrow;
        use deltalake::protocol::SaveMode;
        use deltalake::{DeltaTableError, TableProperty};

        if let Some(table) = self.table().await? {
            return Ok(table);
        }
        let location = self.table_location();
        if let Some(folder) = location.local_path() {
            std::fs::create_dir_all(folder).map_err(|e| Error::Io(location.to_string(), e))?;
        }
        let schema = StructType::try_from_arrow(crate::storage::table_schema::table_schema().as_ref())
            .map_err(|e| DeltaTableError::Generic(e.to_string()))?;
        let table = DeltaTable::try_from_url(location.url().clone())
            .await?
            .create()
            .with_columns(schema.fields().cloned())
            .with_partition_columns(crate::storage::table_schema::PARTITION_COLUMNS)
            .with_configuration_property(TableProperty::LogRetentionDuration, Some("interval 1 days"))
            .with_configuration_property(TableProperty::DeletedFileRetentionDuration, Some("interval 1 hours"))
            .with_save_mode(SaveMode::Ignore)
            .await?;
        Ok(table)
    }

    /// Forcibly releases the write fence (`.LOCK`, `.LOCK-MERGE`, append markers). Returns
    /// whether anything was held. Only when no writer is alive.
    ///
    /// # Errors
    /// [`Error::Storage`] if the store fails.
    pub async fn unlock(&self) -> Result<bool> {
        self.fence.unlock().await
    }

    /// Soft-deletes the table by removing its `_delta_log` (seed 001 `destroy`): the data files
    /// stay until removed by hand; the table no longer exists for readers. Returns whether
    /// there was a table. Held under the maintenance fence.
    ///
    /// # Errors
    /// [`Error::Locked`] if the fence stays busy; [`Error::Storage`].
    pub async fn destroy(&self) -> Result<bool> {
        self.writable()?;
        if !self.exists().await? {
            return Ok(false);
        }
        let guard = self.fence.maintenance().await?;
        let store = self.root.object_store()?;
        let log = Path::from(format!("{STATEMENTS_DIR}/_delta_log"));
        let result: Result<()> = async {
            let keys: Vec<Path> = store.list(Some(&log)).map_ok(|m| m.location).try_collect().await?;
            for key in keys {
                store.delete(&key).await?;
            }
            Ok(())
        }
        .await;
        guard.release().await?;
        result.map(|()| true)
    }

    /// An object store rooted at the table folder.
    fn table_store(&self) -> Result<Arc<dyn ObjectStore>> {
        self.table_location().object_store()
    }

    /// The table's data files, for reading.
    fn table_files(&self) -> Result<TableFiles> {
        let location = self.table_location();
        Ok(TableFiles::new(location.object_store()?, location.local_path().map(|p| p.to_path_buf())))
    }
}

#[cfg(test)]
mod tests;
