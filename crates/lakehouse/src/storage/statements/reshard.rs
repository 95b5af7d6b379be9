//! `reshard`: rewrite the statement table for another shard count (spec `storage-format.md`
//! §2.3, §5.5; `maintenance shard --shards N`).
//!
//! Under the maintenance fence every data file is read whole (tombstones and duplicates
//! included), each row's shard computed for the new count, and the rows written to new `part-*`
//! files, one per new partition of each `(bucket, origin)`, a group at a time; then one Delta
//! commit removes every old file and adds every new one. A reader sees the old table or the new
//! one, never a mix (the reference commits each `(bucket, origin)` group on its own).
//!
//! The shard count lives in `config.yml`, written after the commit, and read again whenever the
//! table is opened for a read or an append. So that nothing reads or
//! appends by the old count in between, the commit also sets the table property
//! [`PENDING_SHARDS`], which [`StatementStore::shards_of`] prefers over the configured count;
//! once the config says the same, [`StatementStore::finish_reshard`] removes it. A crash before
//! the commit leaves the old table whole (the new files are orphans a vacuum removes); a crash
//! after it leaves the property, and the next run finds the rewrite done and finishes.

use std::collections::BTreeMap;

use deltalake::DeltaTable;
use deltalake::arrow::array::{AsArray, UInt32Array};
use deltalake::arrow::compute::take_record_batch;
use deltalake::kernel::{Action, MetadataExt};
use deltalake::protocol::{DeltaOperation, SaveMode};
use object_store::path::Path;

use super::columns::file_columns;
use super::datafile::{DataFile, partition_folder};
use super::profiles::writer_properties;
use super::{StatementStore, commit, write_operation};
use crate::error::{Error, Result};
use crate::model::{Bucket, shard};
use crate::storage::tags::read;

/// The dataset's configuration file below its root, whose `shards` key is the shard count.
const CONFIG_FILE: &str = "config.yml";

/// The table property naming the shard count of a re-shard whose `config.yml` update is
/// outstanding.
pub const PENDING_SHARDS: &str = "ftm_lakehouse.pending_shards";

/// Rows read from a file at a time.
const READ_BATCH_ROWS: usize = 65_536;

/// What a re-shard did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReshardMetrics {
    /// Rows rewritten (tombstones and duplicates included).
    pub rows: u64,
    /// Files removed from the table.
    pub files_removed: u64,
    /// Files written.
    pub files_added: u64,
    /// Table version after the commit; `None` when nothing was rewritten (no table, or the
    /// table was at that count already).
    pub version: Option<u64>,
}

/// An error changing the table's metadata action.
pub(super) fn metadata_error(e: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("statement table metadata: {e}"))
}

/// Whether shard counts `a` and `b` partition alike (0 and 1 both mean one shard).
pub fn same_layout(a: u32, b: u32) -> bool {
    a.max(1) == b.max(1)
}

impl StatementStore {
    /// The shard count the rows of `table` are partitioned by: that of a re-shard whose config
    /// update is outstanding ([`PENDING_SHARDS`]), else `shards` of the dataset's `config.yml`
    /// as it is now (a long-lived process, an API server, sees a re-shard run by another),
    /// else the count this store was opened with.
    ///
    /// # Errors
    /// [`Error::Delta`] without a snapshot; [`Error::Corrupt`] for a property that is no count;
    /// [`Error::Storage`] reading `config.yml`.
    pub async fn shards_of(&self, table: &DeltaTable) -> Result<u32> {
        match table.snapshot()?.metadata().configuration().get(PENDING_SHARDS) {
            None => {
                let config = read(self.root.object_store()?.as_ref(), &Path::from(CONFIG_FILE)).await?;
                let configured = config
                    .and_then(|text| serde_norway::from_slice::<serde_json::Value>(&text).ok())
                    .and_then(|config| config.get("shards")?.as_u64())
                    .and_then(|shards| u32::try_from(shards).ok());
                Ok(configured.unwrap_or(self.shards))
            }
            Some(value) => value.parse().map_err(|_| {
                Error::Corrupt(format!("table property {PENDING_SHARDS} is {value:?}, not a shard count"))
            }),
        }
    }

    /// Rewrites the table for `shards` shards (see the module docs). Nothing is rewritten when
    /// the table is partitioned by that count already ([`shards_of`](Self::shards_of)).
    ///
    /// # Errors
    /// [`Error::Locked`] if the fence stays busy; [`Error::Parquet`], [`Error::Delta`],
    /// [`Error::Storage`] reading or writing files (the table then stays as it was).
    pub async fn reshard(&self, shards: u32) -> Result<ReshardMetrics> {
        self.writable()?;
        if self.table().await?.is_none() {
            return Ok(ReshardMetrics::default());
        }
        let guard = self.fence.maintenance().await?;
        let result = self.reshard_locked(shards).await;
        guard.release().await?;
        result
    }

    async fn reshard_locked(&self, shards: u32) -> Result<ReshardMetrics> {
        let mut table = self.table().await?.ok_or_else(|| Error::Corrupt("statement table vanished".into()))?;
        if same_layout(self.shards_of(&table).await?, shards) {
            return Ok(ReshardMetrics::default());
        }
        let mut metrics = ReshardMetrics::default();
        let mut actions = Vec::new();
        let mut groups: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for part in StatementStore::partitions_of(&table)? {
            groups.entry((part.bucket, part.origin)).or_default().extend(part.files);
        }
        let (files, store) = (self.table_files()?, self.table_store()?);
        for ((bucket, origin), paths) in groups {
            let large = Bucket::parse(&bucket).is_some_and(Bucket::is_large);
            let mut writers: BTreeMap<String, DataFile> = BTreeMap::new();
            for path in &paths {
                let mut input = files.input(path, READ_BATCH_ROWS, &bucket, &origin).await?;
                while let Some(batch) = input.next().await? {
                    metrics.rows += batch.num_rows() as u64;
                    let ids = batch.column_by_name("entity_id").expect("a row-schema column").as_string::<i32>();
                    let mut rows: BTreeMap<String, Vec<u32>> = BTreeMap::new();
                    for i in 0..batch.num_rows() {
                        rows.entry(shard(ids.value(i), shards)).or_default().push(i as u32);
                    }
                    for (new_shard, indices) in rows {
                        let taken = file_columns(&take_record_batch(&batch, &UInt32Array::from(indices))?)?;
                        let writer = match writers.entry(new_shard) {
                            std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                            std::collections::btree_map::Entry::Vacant(entry) => {
                                let key = (entry.key().clone(), bucket.clone(), origin.clone());
                                let name = format!("part-00000-{}-c000.zstd.parquet", uuid::Uuid::new_v4());
                                let file = DataFile::create(
                                    &store,
                                    &partition_folder(&key),
                                    &name,
                                    key,
                                    writer_properties(large),
                                )?;
                                entry.insert(file)
                            }
                        };
                        writer.write(&taken).await?;
                    }
                }
            }
            for writer in writers.into_values() {
                if let Some(add) = writer.finish(true).await? {
                    actions.push(Action::Add(add));
                    metrics.files_added += 1;
                }
            }
        }
        for file in table.snapshot()?.log_data().iter() {
            actions.push(Action::Remove(file.remove_action(true)));
            metrics.files_removed += 1;
        }
        let metadata = table
            .snapshot()?
            .metadata()
            .clone()
            .add_config_key(PENDING_SHARDS.into(), shards.to_string())
            .map_err(metadata_error)?;
        actions.push(Action::Metadata(metadata));
        commit(&mut table, actions, write_operation(SaveMode::Overwrite)).await?;
        metrics.version = table.version();
        Ok(metrics)
    }

    /// Removes [`PENDING_SHARDS`] once `config.yml` holds the count (a metadata-only commit under
    /// the maintenance fence); nothing happens without it. Returns whether it was there.
    ///
    /// # Errors
    /// [`Error::Locked`] if the fence stays busy; [`Error::Delta`].
    pub async fn finish_reshard(&self) -> Result<bool> {
        self.writable()?;
        let Some(table) = self.table().await? else { return Ok(false) };
        if !table.snapshot()?.metadata().configuration().contains_key(PENDING_SHARDS) {
            return Ok(false);
        }
        let guard = self.fence.maintenance().await?;
        let result = async {
            let mut table = self.table().await?.ok_or_else(|| Error::Corrupt("statement table vanished".into()))?;
            let metadata =
                table.snapshot()?.metadata().clone().remove_config_key(PENDING_SHARDS).map_err(metadata_error)?;
            let operation = DeltaOperation::SetTableProperties { properties: Default::default() };
            commit(&mut table, vec![Action::Metadata(metadata)], operation).await?;
            Ok(true)
        }
        .await;
        guard.release().await?;
        result
    }
}
