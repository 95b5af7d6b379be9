//! Storage migrations of the statement table (spec `storage-format.md` §2.8, §5.8; seed 002
//! "Storage layout"): the reference's two — missing columns added to the table schema, the
//! retention properties set — and the seed layout's table (`entities/statements`, partitioned
//! by origin only, with its `entities/translog`) read into today's table.

use std::collections::HashMap;

use deltalake::kernel::engine::arrow_conversion::TryFromArrow;
use deltalake::kernel::{Action, MetadataExt, StructField, StructType};
use deltalake::protocol::DeltaOperation;
use ftm::time::Timestamp;
use futures::StreamExt;

use super::reshard::metadata_error;
use super::scan::TABLE;
use super::{StatementStore, commit};
use crate::error::{Error, Result};
use crate::storage::location::Location;
use crate::storage::rows::{from_batch, get_time, string_column, time_column};
use crate::storage::table_schema::table_schema;

/// The retention properties every statement table carries (spec `storage-format.md` §2.8).
pub const RETENTION_PROPERTIES: [(&str, &str); 2] =
    [("delta.logRetentionDuration", "interval 1 days"), ("delta.deletedFileRetentionDuration", "interval 1 hours")];

/// Statements appended at a time when a table is read into this one.
const IMPORT_BATCH: usize = 100_000;

/// A translog row: the times a statement was first and last seen and deleted.
type Times = (Option<Timestamp>, Option<Timestamp>, Option<Timestamp>);

impl StatementStore {
    /// Adds the columns of today's schema the table lacks (as nullable; a metadata-only commit
    /// under the maintenance fence, the reference's `migrate_parquet_add_role`). Files written
    /// before read them as nulls. Returns the columns added.
    ///
    /// # Errors
    /// [`Error::Locked`] if the fence stays busy; [`Error::Delta`].
    pub async fn add_missing_columns(&self) -> Result<Vec<String>> {
        self.writable()?;
        if self.table().await?.is_none() {
            return Ok(Vec::new());
        }
        let guard = self.fence.maintenance().await?;
        let result = async {
            let mut table = self.table().await?.ok_or_else(|| Error::Corrupt("statement table vanished".into()))?;
            let metadata = table.snapshot()?.metadata().clone();
            let current = metadata.parse_schema().map_err(metadata_error)?;
            let wanted = StructType::try_from_arrow(table_schema().as_ref()).map_err(metadata_error)?;
            let missing: Vec<StructField> = wanted
                .fields()
                .filter(|f| current.field(f.name()).is_none())
                .map(|f| StructField::nullable(f.name(), f.data_type().clone()))
                .collect();
            if missing.is_empty() {
                return Ok(Vec::new());
            }
            let schema = StructType::try_new(current.fields().cloned().chain(missing.iter().cloned()))
                .map_err(metadata_error)?;
            let metadata = metadata.with_schema(&schema).map_err(metadata_error)?;
            let operation = DeltaOperation::AddColumn { fields: missing.clone() };
            commit(&mut table, vec![Action::Metadata(metadata)], operation).await?;
            Ok(missing.iter().map(|f| f.name().clone()).collect())
        }
        .await;
        guard.release().await?;
        result
    }

    /// Sets [`RETENTION_PROPERTIES`] where they differ, then checkpoints and removes expired log
    /// files (the reference's `migrate_parquet_table_properties`), under the maintenance fence.
    /// Returns whether anything changed.
    ///
    /// # Errors
    /// [`Error::Locked`] if the fence stays busy; [`Error::Delta`].
    pub async fn ensure_table_properties(&self) -> Result<bool> {
        self.writable()?;
        if self.table().await?.is_none() {
            return Ok(false);
        }
        let guard = self.fence.maintenance().await?;
        let result = async {
            let mut table = self.table().await?.ok_or_else(|| Error::Corrupt("statement table vanished".into()))?;
            let mut metadata = table.snapshot()?.metadata().clone();
            let mut changed = HashMap::new();
            for (key, value) in RETENTION_PROPERTIES {
                if metadata.configuration().get(key).map(String::as_str) != Some(value) {
                    metadata = metadata.add_config_key(key.into(), value.into()).map_err(metadata_error)?;
                    changed.insert(key.to_string(), value.to_string());
                }
            }
            if changed.is_empty() {
                return Ok(false);
            }
            let operation = DeltaOperation::SetTableProperties { properties: changed };
            commit(&mut table, vec![Action::Metadata(metadata)], operation).await?;
            deltalake::checkpoints::create_checkpoint(&table, None).await?;
            deltalake::checkpoints::cleanup_metadata(&table, None).await?;
            Ok(true)
        }
        .await;
        guard.release().await?;
        result
    }

    /// Appends every row of the Delta table at `statements` (any partitioning: the seed's
    /// `entities/statements` is partitioned by origin only) to this table, shards and buckets
    /// computed as for any append. With `translog` (the seed's `entities/translog`: `id`,
    /// `first_seen`, `last_seen`, `deleted_at` per statement), its times replace the rows', and
    /// a statement it marks deleted is appended as a tombstone. Returns the rows appended.
    ///
    /// # Errors
    /// [`Error::Delta`] reading either table; [`Error::Corrupt`] for rows without the statement
    /// columns; the append's errors.
    pub async fn import_table(&self, statements: &Location, translog: Option<&Location>) -> Result<u64> {
        self.writable()?;
        let times = match translog {
            Some(location) => self.translog(location).await?,
            None => HashMap::new(),
        };
        let old = deltalake::open_table(statements.url().clone()).await?;
        let ctx = self.session(&old).await?;
        let mut batches = ctx.table(TABLE).await?.execute_stream().await?;
        let (mut pending, mut total) = (Vec::new(), 0u64);
        while let Some(batch) = batches.next().await.transpose()? {
            for mut statement in from_batch(&batch)? {
                if let Some((first_seen, last_seen, deleted_at)) = times.get(&statement.id) {
                    statement.first_seen = first_seen.or(statement.first_seen);
                    statement.last_seen = last_seen.or(statement.last_seen);
                    statement.deleted_at = deleted_at.or(statement.deleted_at);
                }
                pending.push(statement);
            }
            if pending.len() >= IMPORT_BATCH {
                total += pending.len() as u64;
                self.append(std::mem::take(&mut pending)).await?;
            }
        }
        if !pending.is_empty() {
            total += pending.len() as u64;
            self.append(pending).await?;
        }
        Ok(total)
    }

    /// The seed translog at `location`, by statement id.
    async fn translog(&self, location: &Location) -> Result<HashMap<String, Times>> {
        let table = deltalake::open_table(location.url().clone()).await?;
        let ctx = self.session(&table).await?;
        let mut batches = ctx.table(TABLE).await?.execute_stream().await?;
        let mut out = HashMap::new();
        while let Some(batch) = batches.next().await.transpose()? {
            let ids = string_column(&batch, "id")?.ok_or_else(|| Error::Corrupt(format!("{location}: no `id`")))?;
            let (first, last, deleted) = (
                time_column(&batch, "first_seen")?,
                time_column(&batch, "last_seen")?,
                time_column(&batch, "deleted_at")?,
            );
            for i in 0..batch.num_rows() {
                let at = |column: &Option<_>| get_time(column.as_ref(), i);
                out.insert(ids.value(i).to_string(), (at(&first), at(&last), at(&deleted)));
            }
        }
        Ok(out)
    }
}
