//! `vacuum`: delete data files the Delta log no longer references (seed 001 "vacuum"; spec
//! `storage-format.md` §5.4).
//!
//! Files replaced by merge or compact, and orphans of failed writes, are deleted once older than
//! `retention_hours` (default 0, as the reference's CLI). Full mode: files the log never
//! referenced are deleted too. Safe with a zero retention because it runs under the maintenance
//! fence, which waits for in-flight appends (the reference's vacuum can delete the files of an
//! append that has not committed yet), and keeps every file removed since the oldest live read
//! lease began ([`Fence::oldest_read`](crate::storage::fence::Fence::oldest_read)), so a reader
//! of the previous version reads it whole (the reference's vacuum pulls files from under its
//! readers).

use std::ops::RangeInclusive;

use deltalake::operations::vacuum::VacuumMode;

use super::StatementStore;
use crate::error::Result;

/// What a vacuum did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VacuumMetrics {
    /// Paths of the deleted files, relative to the table.
    pub files_deleted: Vec<String>,
    /// Table version after the vacuum.
    pub version: Option<u64>,
    /// The versions that can no longer be read (`--as-of`) because files they reference were
    /// deleted: inclusive ranges, oldest first
    /// ([`unreadable_versions`](StatementStore::unreadable_versions)).
    pub unreadable_versions: Vec<RangeInclusive<u64>>,
}

impl StatementStore {
    /// Vacuums the table (see the module docs).
    ///
    /// # Errors
    /// [`Error::Locked`](crate::error::Error::Locked) if the fence stays busy; [`Error::Delta`](crate::error::Error::Delta).
    pub async fn vacuum(&self, retention_hours: u32) -> Result<VacuumMetrics> {
        self.writable()?;
        if !self.exists().await? {
            return Ok(VacuumMetrics::default());
        }
        let guard = self.fence.maintenance().await?;
        // The version as of now, under the fence: a snapshot loaded before it would take the
        // files of an append that committed meanwhile for files no version references.
        let table = match self.table().await {
            Ok(Some(table)) => table,
            other => {
                guard.release().await?;
                return other.map(|_| VacuumMetrics::default());
            }
        };
        let mut retention = chrono::Duration::hours(i64::from(retention_hours));
        match self.fence.oldest_read().await {
            // A second of margin for the clocks of the lease and of the removing commit.
            Ok(Some(since)) => retention = retention.max(chrono::Utc::now() - since + chrono::Duration::seconds(1)),
            Ok(None) => {}
            Err(e) => {
                guard.release().await?;
                return Err(e);
            }
        }
        let result = table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .await;
        guard.release().await?;
        let (table, metrics) = result?;
        let unreadable_versions = self.unreadable_versions(&metrics.files_deleted).await?;
        Ok(VacuumMetrics { files_deleted: metrics.files_deleted, version: table.version(), unreadable_versions })
    }
}
