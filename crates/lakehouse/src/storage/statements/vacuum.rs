//! `vacuum`: delete data files the Delta log no longer references (seed 001 "vacuum"; spec
//! `storage-format.md` §5.4).
//!
//! Files replaced by merge or compact, and orphans of failed writes, are deleted once older than
//! `retention_hours` (default 0, as the reference's CLI). Full mode: files the log never
//! referenced are deleted too. Safe with a zero retention because it runs under the maintenance
//! fence, which waits for in-flight appends (the reference's vacuum can delete the files of an
//! append that has not committed yet).

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
}

impl StatementStore {
    /// Vacuums the table (see the module docs).
    ///
    /// # Errors
    /// [`Error::Locked`](crate::error::Error::Locked) if the fence stays busy; [`Error::Delta`](crate::error::Error::Delta).
    pub async fn vacuum(&self, retention_hours: u32) -> Result<VacuumMetrics> {
        self.writable()?;
        let Some(table) = self.table().await? else {
            return Ok(VacuumMetrics::default());
        };
        let guard = self.fence.maintenance().await?;
        let result = table
            .vacuum()
            .with_retention_period(chrono::Duration::hours(i64::from(retention_hours)))
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .await;
        guard.release().await?;
        let (table, metrics) = result?;
        Ok(VacuumMetrics { files_deleted: metrics.files_deleted, version: table.version() })
    }
}
