//! Checking that the statement table's current files exist and read, and finding the data
//! files no commit references (`maintenance verify`).

use std::collections::HashSet;

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use super::history::{AsOf, decode};
use super::{STATEMENTS_DIR, StatementStore};
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

impl StatementStore {
    /// The data files under the table that no commit still in the log adds and the current
    /// version does not reference: what a write that never committed left (files removed by a
    /// commit are not orphans, [`vacuum`](StatementStore::vacuum) deletes them once older than
    /// the retention). Paths relative to the table, sorted. With `remove`, they are deleted.
    /// Runs under the maintenance fence, which waits for in-flight appends, so the files of an
    /// append about to commit are neither listed nor removed.
    ///
    /// # Errors
    /// [`Error::Locked`] if the fence stays busy; [`Error::Storage`]; [`Error::Delta`].
    pub async fn orphans(&self, remove: bool) -> Result<Vec<String>> {
        if remove {
            self.writable()?;
        }
        if !self.exists().await? {
            return Ok(Vec::new());
        }
        // The table is read inside the fence, after the appends in flight have committed.
        let guard = self.fence.maintenance().await?;
        let found = self.orphans_fenced(remove).await;
        guard.release().await?;
        found
    }

    async fn orphans_fenced(&self, remove: bool) -> Result<Vec<String>> {
        let mut referenced: HashSet<String> = HashSet::new();
        if let Some(table) = self.table().await? {
            for partition in StatementStore::partitions_of(&table)? {
                referenced.extend(partition.files.iter().map(|f| decode(f)));
            }
        }
        for (_, actions) in self.log_entries().await? {
            let added = actions.iter().filter_map(|a| a.get("add").and_then(|add| add["path"].as_str()));
            referenced.extend(added.map(decode));
        }
        let store = self.root.object_store()?;
        let mut orphans = Vec::new();
        for (path, location) in self.data_objects().await? {
            if !referenced.contains(&path) {
                if remove {
                    store.delete(&location).await?;
                }
                orphans.push(path);
            }
        }
        orphans.sort();
        Ok(orphans)
    }
}

impl StatementStore {
    /// Every data file stored under the table: its path relative to the table (decoded) and its
    /// object; the log and other metadata folders (`_…`) are left out.
    async fn data_objects(&self) -> Result<Vec<(String, Path)>> {
        let store = self.root.object_store()?;
        let table = Path::from(STATEMENTS_DIR);
        let listed: Vec<_> = store.list(Some(&table)).try_collect().await?;
        let mut objects = Vec::new();
        for object in listed {
            let Some(relative) = object.location.prefix_match(&table) else { continue };
            let parts: Vec<String> = relative.map(|part| decode(part.as_ref())).collect();
            let path = parts.join("/");
            if !parts.first().is_some_and(|first| first.starts_with('_')) && path.ends_with(".parquet") {
                objects.push((path, object.location));
            }
        }
        Ok(objects)
    }

    /// Refuses a past version (`--as-of`) whose data files a vacuum deleted, with a message
    /// that says so, before a read fails half way on the first missing file.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the version and a deleted file; [`Error::Storage`].
    pub(super) async fn check_readable(&self, table: &deltalake::DeltaTable, as_of: AsOf) -> Result<()> {
        let stored: HashSet<String> = self.data_objects().await?.into_iter().map(|(path, _)| path).collect();
        let mut gone = Vec::new();
        for partition in StatementStore::partitions_of(table)? {
            gone.extend(partition.files.iter().map(|f| decode(f)).filter(|f| !stored.contains(f)));
        }
        match gone.first() {
            None => Ok(()),
            Some(file) => Err(Error::InvalidInput(format!(
                "--as-of {as_of}: version {} can no longer be read, a vacuum deleted {} of its data files \
                 (first: {STATEMENTS_DIR}/{file})",
                table.version().unwrap_or_default(),
                gone.len()
            ))),
        }
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
