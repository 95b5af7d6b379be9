//! `append`: write a batch of statements as new rows (seed 001 "append"; spec
//! `storage-format.md` §3.4–§3.5, §5.1).
//!
//! Rows arrive as [`StatementRows`] and are packed first. Each row gets its shard
//! (entity id, dataset shard count) and bucket (schema). The batch is sorted by
//! `(bucket, shard, origin, entity_id)`, each entity's rows in merged order (rows of one entity
//! split over non-adjacent runs stay sorted within each run), and written as one
//! `part-00000-<uuid4>-c000.zstd.parquet` file per partition, with one Delta commit per bucket
//! in that bucket's parquet profile. Duplicates land as rows; [`merge`](super::StatementStore::merge)
//! collapses them.
//!
//! The append holds an in-flight marker of the write fence from before its first file is written
//! until its last commit, so maintenance cannot tombstone or vacuum its files meanwhile.

use std::collections::BTreeMap;
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::array::{AsArray, RecordBatch, UInt32Array};
use deltalake::arrow::compute::take_record_batch;
use deltalake::kernel::Action;
use deltalake::protocol::SaveMode;
use ftm::Statement;
use object_store::ObjectStore;

use super::columns::{ColumnRow, Columns, normalize};
use super::datafile::{DataFile, partition_folder};
use super::dedupe::entity_order;
use super::profiles::writer_properties;
use super::{StatementStore, commit, write_operation};
use crate::error::{Error, Result};
use crate::model::{Bucket, shard};
use crate::storage::rows::{FileRows, StatementRows};

/// Rows taken into one Arrow batch at a time while writing a file.
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

impl StatementStore {
    /// Appends `statements` (see the module docs). An empty batch writes nothing.
    ///
    /// # Errors
    /// As [`StatementStore::append_rows`].
    pub async fn append(&self, statements: impl AsRef<[Statement]>) -> Result<AppendMetrics> {
        self.writable()?;
        let mut rows = StatementRows::default();
        for s in statements.as_ref() {
            rows.push_statement(s)?;
        }
        self.append_rows(rows).await
    }

    /// Appends a batch of rows (see the module docs), packed with the append's start time. An
    /// empty batch writes nothing.
    ///
    /// # Errors
    /// [`Error::InvalidOrigin`]; [`Error::Ftm`] for an unknown schema; [`Error::Locked`] when
    /// maintenance holds the fence through every retry; [`Error::Parquet`] or [`Error::Delta`] if
    /// writing or a commit fails (the buckets committed before stay; files of an uncommitted
    /// bucket are orphans for vacuum).
    pub async fn append_rows(&self, rows: StatementRows) -> Result<AppendMetrics> {
        self.writable()?;
        if rows.is_empty() {
            return Ok(AppendMetrics { version: self.version().await?, ..Default::default() });
        }
        let rows = rows.finish(Some(chrono::Utc::now()))?;
        self.ensure_table().await?;
        let guard = self.fence.append().await?;
        let written = self.append_marked(rows).await;
        guard.release().await?;
        written
    }

    /// Writes `rows` holding an append marker: the table is read again under it, so that its
    /// shard count ([`StatementStore::shards_of`]) cannot change before the rows are committed.
    async fn append_marked(&self, rows: FileRows) -> Result<AppendMetrics> {
        let table = self.table().await?.ok_or_else(|| Error::Corrupt("statement table vanished".into()))?;
        let (keys, parts) = self.order(&rows, self.shards_of(&table).await?)?;
        write_buckets(table, self.table_store()?, &keys, rows.batch, parts).await
    }

    /// The partition keys in order, and each partition's rows (indices into `rows`) in write
    /// order: by entity id, then in merged order ([`entity_order`]), so that a merge finds most
    /// entities' rows in order already. Consecutive rows of one entity (how writers emit them)
    /// form a run: runs are sorted, then the rows within each, so the large sort compares
    /// entities, not statements, and shards and buckets are computed once per run.
    fn order(&self, rows: &FileRows, shards: u32) -> Result<(Vec<Key>, Vec<Vec<u32>>)> {
        let model = ftm::model();
        let column = |name: &str| rows.batch.column_by_name(name).expect("a data-file column").as_string::<i32>();
        let (entities, schemata) = (column("entity_id"), column("schema"));
        // Within one entity of one partition, bucket and origin do not order rows.
        let columns = Columns::new(&normalize(&rows.batch, Some(("", "")))?);
        let row = |row: usize| ColumnRow { columns: &columns, slot: 0, row };
        let mut ranks: BTreeMap<Key, usize> = BTreeMap::new();
        // (key, first row, end) of each run.
        let mut runs: Vec<(Key, usize, usize)> = Vec::new();
        for i in 0..rows.batch.num_rows() {
            if let Some(run) = runs.last_mut()
                && entities.value(run.1) == entities.value(i)
                && rows.origin[run.1] == rows.origin[i]
                && schemata.value(run.1) == schemata.value(i)
            {
                run.2 = i + 1;
                continue;
            }
            let bucket = Bucket::of(model.schema(schemata.value(i))?);
            let origin = rows.origins[rows.origin[i] as usize].clone();
            let key = (bucket, shard(entities.value(i), shards), origin);
            ranks.entry(key.clone()).or_insert(0);
            runs.push((key, i, i + 1));
        }
        for (rank, slot) in ranks.values_mut().enumerate() {
            *slot = rank;
        }
        let mut ranked: Vec<(usize, usize, usize)> =
            runs.into_iter().map(|(key, start, end)| (ranks[&key], start, end)).collect();
        ranked.sort_by(|a, b| (a.0, entities.value(a.1)).cmp(&(b.0, entities.value(b.1))));
        let mut parts: Vec<Vec<u32>> = vec![Vec::new(); ranks.len()];
        let index = |i: usize| u32::try_from(i).expect("fewer than 2^32 rows in a batch");
        for (rank, start, end) in ranked {
            let part = &mut parts[rank];
            let from = part.len();
            part.extend((start..end).map(index));
            part[from..].sort_unstable_by(|&a, &b| entity_order(&row(a as usize), &row(b as usize)));
        }
        Ok((ranks.into_keys().collect(), parts))
    }
}

/// Writes one file per partition (`parts[rank]` lists the rows of `keys[rank]`), one Delta commit
/// per bucket. Each file takes its rows out of `batch` and is encoded on a task of its own, side
/// by side.
async fn write_buckets(
    mut table: DeltaTable,
    store: Arc<dyn ObjectStore>,
    keys: &[Key],
    batch: RecordBatch,
    parts: Vec<Vec<u32>>,
) -> Result<AppendMetrics> {
    let mut files = Vec::new();
    for ((bucket, shard, origin), part) in keys.iter().zip(parts) {
        let key = (shard.clone(), bucket.as_str().to_string(), origin.clone());
        let (store, batch, properties) = (store.clone(), batch.clone(), writer_properties(bucket.is_large()));
        let file_name = format!("part-00000-{}-c000.zstd.parquet", uuid::Uuid::new_v4());
        let rows = part.len();
        let task = tokio::spawn(async move {
            let mut file = DataFile::create(&store, &partition_folder(&key), &file_name, key, properties)?;
            for chunk in part.chunks(WRITE_BATCH_ROWS) {
                let taken = take_record_batch(&batch, &UInt32Array::from_iter_values(chunk.iter().copied()))?;
                file.write(&taken).await?;
            }
            file.finish(true).await
        });
        files.push((*bucket, rows, task));
    }
    // Partition keys sort bucket first, so each bucket's files are adjacent.
    let mut metrics = AppendMetrics::default();
    for group in files.chunk_by_mut(|a, b| a.0 == b.0) {
        let mut actions = Vec::new();
        for (_, rows, task) in group {
            let add = task.await.map_err(Error::task("append"))??;
            actions.extend(add.map(Action::Add));
            metrics.rows += *rows;
        }
        commit(&mut table, actions, write_operation(SaveMode::Append)).await?;
        metrics.commits += 1;
    }
    metrics.version = table.version();
    Ok(metrics)
}
