//! Full scans of a merged table without a sort: every partition is one `merged-*` file sorted by
//! entity id (spec `storage-format.md` §2.6), so the files are read in order and merged k-way
//! on the entity id, one entity at a time. Memory: one batch per partition plus one entity.
//!
//! Files are read from the local table folder with parquet's streaming reader; remote stores
//! will need an async reader here.

use std::collections::VecDeque;
use std::fs::File;
use std::path::Path as FsPath;

use deltalake::parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use ftm::Statement;

use super::Partition;
use crate::error::{Error, Result};
use crate::storage::schema::from_batch;

/// One partition's file, read in order.
struct PartitionReader {
    origin: String,
    stream: ParquetRecordBatchReader,
    rows: VecDeque<Statement>,
    done: bool,
}

impl PartitionReader {
    /// Makes sure a row is buffered unless the file is exhausted.
    fn fill(&mut self) -> Result<()> {
        while self.rows.is_empty() && !self.done {
            match self.stream.next() {
                Some(batch) => {
                    for mut s in from_batch(&batch?)? {
                        s.origin = Some(self.origin.clone());
                        self.rows.push_back(s);
                    }
                }
                None => self.done = true,
            }
        }
        Ok(())
    }

    /// Moves every row of entity `id` at the head of the file into `out`.
    fn take(&mut self, id: &str, out: &mut Vec<Statement>) -> Result<()> {
        loop {
            self.fill()?;
            match self.rows.front() {
                Some(row) if row.entity_id == id => out.push(self.rows.pop_front().expect("front exists")),
                _ => return Ok(()),
            }
        }
    }
}

/// The k-way merge over all partitions.
pub(super) struct PartitionMerge {
    readers: Vec<PartitionReader>,
}

impl PartitionMerge {
    /// Whether `partitions` can be read this way: every one holds a single merged file.
    pub(super) fn applies(partitions: &[Partition]) -> bool {
        partitions.iter().all(|p| p.files.len() == 1 && p.is_clean())
    }

    /// Opens every partition's file below the table folder `table`.
    pub(super) fn open(table: &FsPath, partitions: &[Partition]) -> Result<PartitionMerge> {
        let mut readers = Vec::with_capacity(partitions.len());
        for part in partitions {
            let path = table.join(&part.files[0]);
            let file = File::open(&path).map_err(|e| Error::Io(path.display().to_string(), e))?;
            let stream = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(8192).build()?;
            readers.push(PartitionReader { origin: part.origin.clone(), stream, rows: VecDeque::new(), done: false });
        }
        Ok(PartitionMerge { readers })
    }

    /// The raw rows of the next entity (smallest id at the head of any file), or `None`.
    pub(super) fn next(&mut self) -> Result<Option<Vec<Statement>>> {
        let mut smallest: Option<String> = None;
        for reader in &mut self.readers {
            reader.fill()?;
            if let Some(head) = reader.rows.front()
                && smallest.as_ref().is_none_or(|s| head.entity_id < *s)
            {
                smallest = Some(head.entity_id.clone());
            }
        }
        let Some(id) = smallest else {
            return Ok(None);
        };
        let mut rows = Vec::new();
        for reader in &mut self.readers {
            reader.take(&id, &mut rows)?;
        }
        Ok(Some(rows))
    }
}
