//! `append`: write a batch of statements as new rows (seed 001 "append"; spec
//! `storage-format.md` §3.4–§3.5, §5.1).
//!
//! Rows are packed first (reference §3.4 steps 3–5): a missing origin becomes `default`, missing
//! `first_seen`/`last_seen` become now, a tombstone's `last_seen` is raised to its `deleted_at`,
//! `first_seen` is clamped to `last_seen`, an empty role becomes none. Each row gets its shard
//! (entity id, dataset shard count) and bucket (schema). The batch is sorted by
//! `(bucket, origin, entity_id, id, last_seen desc)` and written with one Delta commit per bucket,
//! each with that bucket's parquet profile, one `part-*` file per partition. Duplicates land as
//! rows; [`merge`](super::StatementStore::merge) collapses them.
//!
//! The append holds an in-flight marker of the write fence from before its first file is written
//! until its last commit, so maintenance cannot tombstone or vacuum its files meanwhile.

use deltalake::DeltaTable;
use ftm::Statement;
use ftm::time::Timestamp;

use super::StatementStore;
use crate::error::Result;
use crate::model::{Bucket, origin::DEFAULT_ORIGIN, shard, validate_origin};
use crate::storage::schema::{Row, to_batch, writer_properties};

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

/// Fills the columns the table requires, as the reference packs rows (spec §3.4 steps 3–5).
///
/// # Errors
/// [`Error::InvalidOrigin`](crate::Error::InvalidOrigin) for an origin that cannot be a partition value.
pub fn pack(statements: &mut [Statement], now: Timestamp) -> Result<()> {
    for s in statements {
        let origin = s.origin.get_or_insert_with(|| DEFAULT_ORIGIN.to_string());
        validate_origin(origin)?;
        let last_seen = s.last_seen.unwrap_or(now);
        let last_seen = s.deleted_at.map_or(last_seen, |d| d.max(last_seen));
        s.last_seen = Some(last_seen);
        s.first_seen = Some(s.first_seen.unwrap_or(now).min(last_seen));
        if s.role.as_deref() == Some("") {
            s.role = None;
        }
    }
    Ok(())
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
            return Ok(AppendMetrics {
                version: self.version().await?,
                ..Default::default()
            });
        }
        pack(&mut statements, chrono::Utc::now())?;
        let model = ftm::model();
        let mut rows: Vec<(Bucket, String, &Statement)> = Vec::with_capacity(statements.len());
        for s in &statements {
            let bucket = Bucket::of(model.schema(&s.schema)?);
            rows.push((bucket, shard(&s.entity_id, self.shards), s));
        }
        rows.sort_by(|(ba, _, a), (bb, _, b)| {
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
        let batch_rows: Vec<Row> = chunk
            .iter()
            .map(|(b, shard, s)| Row {
                shard,
                bucket: b.as_str(),
                statement: s,
            })
            .collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use ftm::time::parse_iso;

    #[test]
    fn packing_rules() {
        let now = parse_iso("2024-06-01").unwrap();
        let mut fresh = Statement::new("ds", "e1", "Person", "name", "name", "A");
        fresh.role = Some(String::new());
        let mut tomb = fresh.clone();
        tomb.origin = Some("bulk".into());
        tomb.first_seen = parse_iso("2024-07-01");
        tomb.last_seen = parse_iso("2024-01-01");
        tomb.deleted_at = parse_iso("2024-03-01");
        let mut rows = vec![fresh, tomb];
        pack(&mut rows, now).unwrap();
        assert_eq!(rows[0].origin.as_deref(), Some("default"));
        assert_eq!((rows[0].first_seen, rows[0].last_seen), (Some(now), Some(now)));
        assert_eq!(rows[0].role, None);
        assert_eq!(rows[1].last_seen, parse_iso("2024-03-01"));
        assert_eq!(rows[1].first_seen, parse_iso("2024-03-01"), "clamped to last_seen");
        let mut bad = vec![Statement::new("ds", "e1", "Person", "name", "name", "A")];
        bad[0].origin = Some("../x".into());
        assert!(pack(&mut bad, now).is_err());
    }
}
