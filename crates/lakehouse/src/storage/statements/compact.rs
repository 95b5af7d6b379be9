//! `compact`: bin-pack small files within each partition (seed 001 "compact").
//!
//! Delta OPTIMIZE (compact) per bucket, with that bucket's writer profile and a 500 MB target
//! file size. Cheap maintenance: it neither collapses duplicates nor drops tombstones (that is
//! [`merge`](super::StatementStore::merge)); its output files are `part-*`, so a compacted
//! partition reads as dirty until the next merge. Held under the maintenance fence.

use std::num::NonZeroU64;

use deltalake::operations::optimize::OptimizeType;
use deltalake::{FilterOp, FilterValue};

use super::StatementStore;
use super::profiles::writer_properties;
use crate::error::Result;
use crate::model::Bucket;

/// Target size of compacted files, bytes.
pub const COMPACT_TARGET_SIZE: u64 = 500_000_000;

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactMetrics {
    /// Files written by the bin-packing.
    pub files_added: u64,
    /// Small files it packed, removed from the table (vacuum deletes them later).
    pub files_removed: u64,
    /// Partitions that had files to pack.
    pub partitions: u64,
    /// Table version after the compaction.
    pub version: Option<u64>,
}

impl StatementStore {
    /// Compacts the table (see the module docs).
    ///
    /// # Errors
    /// [`Error::Locked`](crate::error::Error::Locked) if the fence stays busy; [`Error::Delta`](crate::error::Error::Delta).
    pub async fn compact(&self) -> Result<CompactMetrics> {
        self.writable()?;
        if !self.exists().await? {
            return Ok(CompactMetrics::default());
        }
        let guard = self.fence.maintenance().await?;
        let result = self.compact_locked().await;
        guard.release().await?;
        result
    }

    async fn compact_locked(&self) -> Result<CompactMetrics> {
        let mut table = self.table().await?.expect("checked before locking");
        let mut buckets: Vec<String> = StatementStore::partitions_of(&table)?.into_iter().map(|p| p.bucket).collect();
        buckets.sort();
        buckets.dedup();
        let mut metrics = CompactMetrics::default();
        for bucket in &buckets {
            let large = Bucket::parse(bucket).is_some_and(Bucket::is_large);
            let filters = [("bucket", FilterOp::Eq, FilterValue::Scalar(bucket.as_str()))];
            let (next, m) = table
                .optimize()
                .with_type(OptimizeType::Compact)
                .with_filters(&filters)
                .with_target_size(NonZeroU64::new(COMPACT_TARGET_SIZE).expect("non-zero"))
                .with_writer_properties(writer_properties(large))
                .await?;
            table = next;
            metrics.files_added += m.num_files_added;
            metrics.files_removed += m.num_files_removed;
            metrics.partitions += m.partitions_optimized;
        }
        metrics.version = table.version();
        Ok(metrics)
    }
}
