//! Reads of files sorted by entity id without a sort: the files are read in order and merged
//! k-way on the entity id, one entity at a time. Memory: one batch per file plus one entity.
//!
//! Two uses: full scans of a merged table (every partition one `merged-*` file, sorted by
//! construction, spec `storage-format.md` §2.6), and the merge of a partition whose appended
//! files are each sorted (this implementation's appends sort; the reference's do not, which
//! [`is_sorted`] finds out before the merge relies on it).
//!
//! Files are read from the local table folder with parquet's streaming reader; remote stores
//! will need an async reader here.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::path::Path as FsPath;

use deltalake::arrow::array::{Array, AsArray};
use deltalake::parquet::arrow::ProjectionMask;
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

fn open_file(table: &FsPath, file: &str) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let path = table.join(file);
    let handle = File::open(&path).map_err(|e| Error::Io(path.display().to_string(), e))?;
    Ok(ParquetRecordBatchReaderBuilder::try_new(handle)?)
}

/// Whether every file of `part` below the table folder `table` is sorted by entity id. Reads
/// only the `entity_id` column.
///
/// # Errors
/// [`Error::Io`], [`Error::Parquet`] reading a file; [`Error::Corrupt`] without `entity_id`.
pub(super) fn is_sorted(table: &FsPath, part: &Partition) -> Result<bool> {
    for file in &part.files {
        let builder = open_file(table, file)?;
        let column =
            builder.schema().index_of("entity_id").map_err(|_| Error::Corrupt(format!("{file}: no entity_id")))?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), [column]);
        let mut last: Option<String> = None;
        for batch in builder.with_projection(mask).with_batch_size(65_536).build()? {
            let batch = batch?;
            let ids =
                batch.column(0).as_string_opt::<i32>().ok_or_else(|| Error::Corrupt(format!("{file}: entity_id")))?;
            let first = (!ids.is_empty()).then(|| ids.value(0));
            if first.zip(last.as_deref()).is_some_and(|(first, last)| first < last)
                || ids.iter().zip(ids.iter().skip(1)).any(|(a, b)| a > b)
            {
                return Ok(false);
            }
            if !ids.is_empty() {
                last = Some(ids.value(ids.len() - 1).to_string());
            }
        }
    }
    Ok(true)
}

/// The k-way merge over sorted files: a heap of the readers by the entity id at their head.
pub(super) struct PartitionMerge {
    readers: Vec<PartitionReader>,
    heads: BinaryHeap<Reverse<(String, usize)>>,
    started: bool,
}

impl PartitionMerge {
    /// Whether `partitions` can be scanned this way: every one holds a single merged file.
    pub(super) fn applies(partitions: &[Partition]) -> bool {
        partitions.iter().all(|p| p.files.len() == 1 && p.is_clean())
    }

    /// Opens every file of `partitions` below the table folder `table`; each must be sorted by
    /// entity id.
    pub(super) fn open(table: &FsPath, partitions: &[Partition]) -> Result<PartitionMerge> {
        let mut readers = Vec::new();
        for part in partitions {
            for file in &part.files {
                let stream = open_file(table, file)?.with_batch_size(2048).build()?;
                readers.push(PartitionReader {
                    origin: part.origin.clone(),
                    stream,
                    rows: VecDeque::new(),
                    done: false,
                });
            }
        }
        Ok(PartitionMerge { readers, heads: BinaryHeap::new(), started: false })
    }

    /// The raw rows of the next entity (smallest id at the head of any file), or `None`.
    pub(super) fn next(&mut self) -> Result<Option<Vec<Statement>>> {
        if !self.started {
            self.started = true;
            for i in 0..self.readers.len() {
                self.push_head(i)?;
            }
        }
        let Some(Reverse((id, first))) = self.heads.pop() else {
            return Ok(None);
        };
        let mut rows = Vec::new();
        self.readers[first].take(&id, &mut rows)?;
        self.push_head(first)?;
        while self.heads.peek().is_some_and(|Reverse((head, _))| *head == id) {
            let Reverse((_, i)) = self.heads.pop().expect("peeked");
            self.readers[i].take(&id, &mut rows)?;
            self.push_head(i)?;
        }
        Ok(Some(rows))
    }

    /// Queues reader `i` under the entity id at its head, unless its file is exhausted.
    fn push_head(&mut self, i: usize) -> Result<()> {
        let reader = &mut self.readers[i];
        reader.fill()?;
        if let Some(head) = reader.rows.front() {
            self.heads.push(Reverse((head.entity_id.clone(), i)));
        }
        Ok(())
    }
}
