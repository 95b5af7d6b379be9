//! `append`: write a batch of statements as new rows (seed 001 "append"; spec
//! `storage-format.md` §3.4–§3.5, §5.1).
//!
//! Rows are packed first ([`pack`](crate::storage::schema::pack)). Each row gets its shard
//! (entity id, dataset shard count) and bucket (schema). The batch is sorted by
//! `(bucket, shard, origin, entity_id, id, last_seen desc)` (rows of one entity split over
//! non-adjacent runs stay sorted by id within each run) and written as one
//! `part-00000-<uuid4>-c000.zstd.parquet` file per partition, with one Delta commit per bucket
//! in that bucket's parquet profile. Duplicates land as rows; [`merge`](super::StatementStore::merge)
//! collapses them.
//!
//! The append holds an in-flight marker of the write fence from before its first file is written
//! until its last commit, so maintenance cannot tombstone or vacuum its files meanwhile.

use std::collections::BTreeMap;
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::kernel::Action;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::protocol::{DeltaOperation, SaveMode};
use ftm::Statement;
use object_store::ObjectStore;

use super::StatementStore;
use super::datafile::{DataFile, partition_folder};
use crate::error::{Error, Result};
use crate::model::{Bucket, shard};
use crate::storage::schema::{PARTITION_COLUMNS, pack, to_file_batch, writer_properties};

/// Rows converted to Arrow at a time while writing a file.
const WRITE_BATCH_ROWS: usize = 65_536;

/// What an append wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendMetrics {
    /// Rows written.
    pub rows: usize,
    /// Delta commits made (one per bucket in the batch).
    pub commits: usize,
    /// Table version after the append (`None` if nothing was written and no table exists).
    pub version: Option<u64>,
}

/// A partition key: bucket, shard, origin.
type Key = (Bucket, String, String);

/// A row bound for the table: the rank of its partition key and the statement.
type Row<'a> = (usize, &'a Statement);

impl StatementStore {
    /// Appends `statements` (see the module docs), owned or borrowed (a writer reusing its
    /// buffer); they are packed in place. An empty batch writes nothing.
    ///
    /// # Errors
    /// [`Error::InvalidOrigin`](crate::Error::InvalidOrigin); [`Error::Ftm`](crate::Error::Ftm)
    /// for an unknown schema; [`Error::Locked`](crate::Error::Locked) when maintenance holds the
    /// fence through every retry; [`Error::Parquet`](crate::Error::Parquet) or
    /// [`Error::Delta`](crate::Error::Delta) if writing or a commit fails (earlier buckets'
    /// commits stay; files of an uncommitted bucket are orphans for vacuum).
    pub async fn append(&self, mut statements: impl AsMut<[Statement]>) -> Result<AppendMetrics> {
        let statements = statements.as_mut();
        if statements.is_empty() {
            return Ok(AppendMetrics { version: self.version().await?, ..Default::default() });
        }
        pack(statements, chrono::Utc::now())?;
        let (keys, rows) = self.order(statements)?;
        let table = self.ensure_table().await?;
        let guard = self.fence.append().await?;
        let written = write_buckets(table, self.table_store()?, &keys, &rows).await;
        guard.release().await?;
        written
    }

    /// The rows in write order, `(bucket, shard, origin, entity_id, id, last_seen desc)`, and
    /// the partition keys by rank. Consecutive rows of one entity (how writers emit them) form a
    /// run: runs are sorted, then the rows within each, so the large sort compares entities,
    /// not statements, and shards and buckets are computed once per run.
    fn order<'a>(&self, statements: &'a [Statement]) -> Result<(Vec<Key>, Vec<Row<'a>>)> {
        let model = ftm::model();
        let mut ranks: BTreeMap<Key, usize> = BTreeMap::new();
        // (key, entity id, first row, end) of each run.
        let mut runs: Vec<(Key, &str, usize, usize)> = Vec::new();
        for (i, s) in statements.iter().enumerate() {
            if let Some(run) = runs.last_mut()
                && run.1 == s.entity_id
                && run.0.2 == s.origin.as_deref().unwrap_or_default()
                && statements[run.2].schema == s.schema
            {
                run.3 = i + 1;
                continue;
            }
            let bucket = Bucket::of(model.schema(&s.schema)?);
            let key = (bucket, shard(&s.entity_id, self.shards), s.origin.clone().unwrap_or_default());
            ranks.entry(key.clone()).or_insert(0);
            runs.push((key, &s.entity_id, i, i + 1));
        }
        for (rank, slot) in ranks.values_mut().enumerate() {
            *slot = rank;
        }
        let mut ranked: Vec<(usize, &str, usize, usize)> =
            runs.into_iter().map(|(key, entity, start, end)| (ranks[&key], entity, start, end)).collect();
        ranked.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut rows: Vec<Row> = Vec::with_capacity(statements.len());
        for (rank, _, start, end) in ranked {
            let from = rows.len();
            rows.extend(statements[start..end].iter().map(|s| (rank, s)));
            rows[from..].sort_unstable_by(|(_, a), (_, b)| a.id.cmp(&b.id).then_with(|| b.last_seen.cmp(&a.last_seen)));
        }
        Ok((ranks.into_keys().collect(), rows))
    }
}

/// Writes rows sorted by partition: one file per partition, one Delta commit per bucket. Rows
/// become Arrow batches here; each file is encoded on a task of its own, side by side.
async fn write_buckets(
    mut table: DeltaTable,
    store: Arc<dyn ObjectStore>,
    keys: &[Key],
    rows: &[Row<'_>],
) -> Result<AppendMetrics> {
    let mut files = Vec::new();
    for part in rows.chunk_by(|a, b| a.0 == b.0) {
        let (bucket, shard, origin) = &keys[part[0].0];
        let key = (shard.clone(), bucket.as_str().to_string(), origin.clone());
        let statements: Vec<&Statement> = part.iter().map(|row| row.1).collect();
        let batches = statements.chunks(WRITE_BATCH_ROWS).map(to_file_batch).collect::<Result<Vec<_>>>()?;
        let (store, properties) = (store.clone(), writer_properties(bucket.is_large()));
        let file_name = format!("part-00000-{}-c000.zstd.parquet", uuid::Uuid::new_v4());
        let task = tokio::spawn(async move {
            let mut file = DataFile::create(&store, &partition_folder(&key), &file_name, key, properties)?;
            for batch in &batches {
                file.write(batch).await?;
            }
            file.finish(true).await
        });
        files.push((*bucket, part.len(), task));
    }
    // Partition keys sort bucket first, so each bucket's files are adjacent.
    let mut metrics = AppendMetrics::default();
    for group in files.chunk_by_mut(|a, b| a.0 == b.0) {
        let mut actions = Vec::new();
        for (_, rows, task) in group {
            let add = task.await.map_err(|e| Error::Corrupt(format!("append task failed: {e}")))??;
            actions.extend(add.map(Action::Add));
            metrics.rows += *rows;
        }
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(PARTITION_COLUMNS.map(String::from).to_vec()),
            predicate: None,
        };
        CommitBuilder::from(CommitProperties::default())
            .with_actions(actions)
            .build(Some(table.snapshot()?), table.log_store(), operation)
            .await?;
        table.update_state().await?;
        metrics.commits += 1;
    }
    metrics.version = table.version();
    Ok(metrics)
}
