//! Checking that the statement table's current files exist and read (`maintenance verify`).

use super::StatementStore;
use crate::error::{Error, Result};

/// What a check of the table's current files found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableCheck {
    /// Data files the current version references.
    pub files: usize,
    /// Referenced files that are gone.
    pub missing: Vec<String>,
    /// Referenced files that are there but do not read as Parquet, with the error.
    pub unreadable: Vec<(String, String)>,
}

impl StatementStore {
    /// Opens every data file the current version references and reads its Parquet footer.
    /// An empty check without a table.
    ///
    /// # Errors
    /// [`Error::Delta`] if the log cannot be read.
    pub async fn check_files(&self) -> Result<TableCheck> {
        let Some(table) = self.table().await? else {
            return Ok(TableCheck::default());
        };
        let files = self.table_files()?;
        let mut check = TableCheck::default();
        for partition in StatementStore::partitions_of(&table)? {
            for file in partition.files {
                check.files += 1;
                match files.open(&file).await {
                    Ok(_) => {}
                    Err(e) if is_missing(&e) => check.missing.push(file),
                    Err(e) => check.unreadable.push((file, e.to_string())),
                }
            }
        }
        Ok(check)
    }
}

fn is_missing(error: &Error) -> bool {
    match error {
        Error::Io(_, e) => e.kind() == std::io::ErrorKind::NotFound,
        Error::Storage(object_store::Error::NotFound { .. }) => true,
        Error::Parquet(e) => e.to_string().contains("not found") || e.to_string().contains("NotFound"),
        _ => false,
    }
}
