//! `delete_origin`: drop every statement of one origin (spec `storage-format.md` §5.6; the
//! reference API's `DELETE /{dataset}/_api/entities/origins/{origin}`).
//!
//! `origin` is a partition column, so the Delta DELETE with the predicate `origin = '<o>'`
//! removes whole files and rewrites none; it writes no tombstones, and the files stay on disk
//! until a vacuum. It runs under the maintenance fence, so no append or merge of the table is
//! in flight. Statements of the same entities under other origins stay.

use deltalake::datafusion::prelude::{col, lit};

use super::StatementStore;
use crate::error::Result;

impl StatementStore {
    /// Removes the rows of `origin` (already validated by the caller); returns how many rows
    /// the removed files held (0 when the origin has none).
    ///
    /// # Errors
    /// [`Error::Locked`](crate::error::Error::Locked) if the fence stays busy;
    /// [`Error::Delta`](crate::error::Error::Delta).
    pub async fn delete_origin(&self, origin: &str) -> Result<u64> {
        self.writable()?;
        let Some(table) = self.table().await? else {
            return Ok(0);
        };
        let rows: u64 = Self::partitions_of(&table)?.iter().filter(|p| p.origin == origin).map(|p| p.rows).sum();
        if rows == 0 {
            return Ok(0);
        }
        let guard = self.fence.maintenance().await?;
        let result = match self.table().await {
            Ok(Some(table)) => {
                table.delete().with_predicate(col("origin").eq(lit(origin.to_string()))).await.map(|_| ())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                guard.release().await?;
                return Err(e);
            }
        };
        guard.release().await?;
        result?;
        Ok(rows)
    }
}
