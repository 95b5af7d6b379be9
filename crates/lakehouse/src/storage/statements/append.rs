//! `append`: write a batch of statements as new rows (seed 001 "append"; spec
//! `storage-format.md` §3.4–§3.5, §5.1).
//!
//! Rows are packed first ([`pack`](crate::storage::schema::pack)). Each row gets its shard
//! (entity id, dataset shard count) and bucket (schema). The batch is sorted by
//! `(bucket, origin, entity_id, id, last_seen desc)` and written with one Delta commit per bucket,
//! each with that bucket's parquet profile, one `part-*` file per partition. Duplicates land as
//! rows; [`merge`](super::StatementStore::merge) collapses them.
//!
//! The append holds an in-flight marker of the write fence from before its first file is written
//! until its last commit, so maintenance cannot tombstone or vacuum its files meanwhile.

use deltalake::DeltaTable;
use ftm::Statement;

use super::StatementStore;
use crate::error::Result;
use crate::model::{Bucket, shard};
use crate::storage::schema::{Row, pack, to_batch, writer_properties};

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

impl StatementStore {
    /// Appends `statements` (see the module docs). An empty batch writes nothing.
    ///
    /// # Errors
    /// [`Error::InvalidOrigin`](crate::Error::InvalidOrigin); [`Error::Ftm`](crate::Error::Ftm)
    /// for an unknown schema; [`Error::Locked`](crate::Error::Locked) when maintenance holds the
    /// fence through every retry; [`Error::Delta`](crate::Error::Delta) if a commit fails (earlier
    /// buckets' commits stay).
    pub async fn append(&self, mut statements: Vec<Statement>) -> Result<AppendMetrics> {
        if statements.is_empty() {
            return Ok(AppendMetrics { version: self.version().await?, ..Default::default() });
        }
        pack(&mut statements, chrono::Utc::now())?;
        let model = ftm::model();
        let mut rows: Vec<(Bucket, String, &Statement)> = Vec::with_capacity(statements.len());
        for s in &statements {
            let bucket = Bucket::of(model.schema(&s.schema)?);
            rows.push((bucket, shard(&s.entity_id, self.shards), s));
        }
        rows.sort_unstable_by(|(ba, _, a), (bb, _, b)| {
            (ba, &a.origin, &a.entity_id, &a.id)
                .cmp(&(bb, &b.origin, &b.entity_id, &b.id))
                .then_with(|| b.last_seen.cmp(&a.last_seen))
        });
        let table = self.ensure_table().await?;
        let guard = self.fence.append().await?;
        let written = write_buckets(table, &rows).await;
        guard.release().await?;
        written
    }
}

/// Writes rows sorted by bucket: one Delta commit per bucket, with that bucket's profile.
async fn write_buckets(mut table: DeltaTable, rows: &[(Bucket, String, &Statement)]) -> Result<AppendMetrics> {
    let mut metrics = AppendMetrics::default();
    for chunk in rows.chunk_by(|a, b| a.0 == b.0) {
        let bucket = chunk[0].0;
        let batch_rows: Vec<Row> =
            chunk.iter().map(|(b, shard, s)| Row { shard, bucket: b.as_str(), statement: s }).collect();
        table = table
            .write(vec![to_batch(&batch_rows)?])
            .with_writer_properties(writer_properties(bucket.is_large()))
            .await?;
        metrics.rows += chunk.len();
        metrics.commits += 1;
    }
    metrics.version = table.version();
    Ok(metrics)
}
