//! The sorted merge: rows of sources that are each sorted by entity id, merged k-way one
//! entity at a time, deduped, and handed on as batches of whole entities in merged order.
//!
//! A source is a data file read in order (every file of a merged partition, and this
//! implementation's appended files, which are sorted; the reference's appends are not, which
//! [`is_sorted`] finds out first), a query sorted by entity id, or the output batches of a
//! partition merge being written (a [`merge_scan`](super::StatementStore::merge_scan)). Rows
//! stay in Arrow columns throughout: each entity's rows are compared through [`Columns`],
//! deduped ([`dedupe_entity`]), and the survivors gathered in runs ([`gather_column`]), with
//! their folded `first_seen`. Memory: the current batch of each source plus the output batch
//! being gathered.
//!
//! Files in a local table folder are read in place with parquet's reader, which decodes a page
//! at a time; files in an object store with its async reader, which fetches a row group's
//! column chunks with ranged reads.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::future::Future;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampMicrosecondArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::parquet::arrow::ProjectionMask;
use deltalake::parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use deltalake::parquet::arrow::async_reader::{ParquetRecordBatchStream, ParquetRecordBatchStreamBuilder};
use deltalake::parquet::file::metadata::ParquetMetaData;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;
use tokio::sync::mpsc;

use super::Partition;
use super::batch::EntityBatch;
use super::columns::{ColumnRow, Columns, normalize, row_schema};
use super::datafile::SORTED_BY;
use super::dedupe::{Survivor, Tombstones, dedupe_entity};
use super::gather::{Runs, gather_column};
use super::read_ahead::Batches;
use crate::error::{Error, Result};
use crate::storage::object_reader::ObjectFile;

/// Rows read ahead from all the files of one merge together: each file reads batches of its
/// share, between [`MIN_READ_BATCH_ROWS`] and [`MAX_READ_BATCH_ROWS`]. Memory goes with the rows
/// buffered, so a shared budget keeps a merge of local files within it however many files it
/// reads (up to the 64 merged k-way, at the smallest batches); smaller batches cost no time that
/// shows. A file in an object store also holds the compressed column chunks of its current row
/// group, fetched whole by the async reader.
const READ_BUDGET_ROWS: usize = 65_536;
const MIN_READ_BATCH_ROWS: usize = 1024;
const MAX_READ_BATCH_ROWS: usize = 8192;
/// Rows an output batch reaches before it is handed on (it ends with a whole entity).
const OUTPUT_BATCH_ROWS: usize = 8192;

/// Where a source's batches come from.
pub(super) enum Input {
    /// A local data file of the partition `(bucket, origin)`.
    File { reader: ParquetRecordBatchReader, bucket: String, origin: String },
    /// A data file in an object store, of the partition `(bucket, origin)`.
    Object { reader: ParquetRecordBatchStream<ObjectFile>, bucket: String, origin: String },
    /// A query over the table, partition columns included.
    Query(SendableRecordBatchStream),
    /// Batches of the row schema handed over by another task (a merge being written).
    Channel(mpsc::Receiver<Result<RecordBatch>>),
}

impl Input {
    /// The next batch, normalized to the row schema; `None` at the end.
    pub(super) async fn next(&mut self) -> Result<Option<RecordBatch>> {
        let batch = match self {
            Input::File { reader, bucket, origin } => match reader.next() {
                Some(batch) => normalize(&batch?, Some((bucket, origin)))?,
                None => return Ok(None),
            },
            Input::Object { reader, bucket, origin } => match reader.next().await {
                Some(batch) => normalize(&batch?, Some((bucket, origin)))?,
                None => return Ok(None),
            },
            Input::Query(stream) => match stream.next().await {
                Some(batch) => normalize(&batch?, None)?,
                None => return Ok(None),
            },
            Input::Channel(batches) => match batches.recv().await {
                Some(batch) => batch?,
                None => return Ok(None),
            },
        };
        Ok(Some(batch))
    }
}

/// One source: its batches and the position in the current one.
struct Source {
    input: Input,
    /// Slot of the current batch in [`SortedMerge::batches`]; `None` once exhausted.
    slot: Option<usize>,
    row: usize,
}

/// The data files of a statement table: in a local folder, read in place, or in an object
/// store. File names are relative to the table root, as the log spells them.
#[derive(Debug, Clone)]
pub(super) struct TableFiles {
    store: Arc<dyn ObjectStore>,
    local: Option<PathBuf>,
}

/// A data file opened for reading, before its reader is built.
pub(super) enum Opened {
    File(ParquetRecordBatchReaderBuilder<File>),
    Object(ParquetRecordBatchStreamBuilder<ObjectFile>),
}

impl Opened {
    fn metadata(&self) -> &Arc<ParquetMetaData> {
        match self {
            Opened::File(builder) => builder.metadata(),
            Opened::Object(builder) => builder.metadata(),
        }
    }
}

impl TableFiles {
    /// The files of the table whose root `store` is; `local` is its folder when it has one.
    pub(super) fn new(store: Arc<dyn ObjectStore>, local: Option<PathBuf>) -> TableFiles {
        TableFiles { store, local }
    }

    /// Opens `file` (a path from the log) and reads its Parquet footer.
    pub(super) async fn open(&self, file: &str) -> Result<Opened> {
        if let Some(table) = &self.local {
            let path = table.join(file);
            let handle = File::open(&path).map_err(|e| Error::Io(path.display().to_string(), e))?;
            return Ok(Opened::File(ParquetRecordBatchReaderBuilder::try_new(handle)?));
        }
        let path = Path::parse(file).map_err(|e| Error::Corrupt(format!("data file path {file:?}: {e}")))?;
        let reader = ObjectFile::new(self.store.clone(), path);
        Ok(Opened::Object(ParquetRecordBatchStreamBuilder::new(reader).await?))
    }

    /// `file` as a merge source of rows of the partition `(bucket, origin)`, read in batches of
    /// `rows`.
    pub(super) async fn input(&self, file: &str, rows: usize, bucket: &str, origin: &str) -> Result<Input> {
        let (bucket, origin) = (bucket.to_string(), origin.to_string());
        Ok(match self.open(file).await? {
            Opened::File(builder) => Input::File { reader: builder.with_batch_size(rows).build()?, bucket, origin },
            Opened::Object(builder) => Input::Object { reader: builder.with_batch_size(rows).build()?, bucket, origin },
        })
    }

    /// The `entity_id` column of `file`, batch by batch.
    async fn entity_ids(&self, file: &str) -> Result<Vec<RecordBatch>> {
        let opened = self.open(file).await?;
        let index = |schema: &deltalake::arrow::datatypes::Schema| {
            schema.index_of("entity_id").map_err(|_| Error::Corrupt(format!("{file}: no entity_id")))
        };
        Ok(match opened {
            Opened::File(builder) => {
                let mask = ProjectionMask::roots(builder.parquet_schema(), [index(builder.schema())?]);
                builder.with_projection(mask).with_batch_size(65_536).build()?.collect::<Result<_, _>>()?
            }
            Opened::Object(builder) => {
                let mask = ProjectionMask::roots(builder.parquet_schema(), [index(builder.schema())?]);
                builder.with_projection(mask).with_batch_size(65_536).build()?.try_collect().await?
            }
        })
    }
}

/// Whether every file of `part` is sorted by entity id: our own files say so in their footer
/// ([`SORTED_BY`]); of the others only the `entity_id` column is read.
///
/// # Errors
/// [`Error::Io`], [`Error::Parquet`] reading a file; [`Error::Corrupt`] without `entity_id`.
pub(super) async fn is_sorted(table: &TableFiles, part: &Partition) -> Result<bool> {
    for file in &part.files {
        let opened = table.open(file).await?;
        let footer = opened.metadata().file_metadata().key_value_metadata();
        if footer.is_some_and(|kv| kv.iter().any(|e| e.key == SORTED_BY && e.value.as_deref() == Some("entity_id"))) {
            continue;
        }
        drop(opened);
        let mut last: Option<String> = None;
        for batch in table.entity_ids(file).await? {
            // Other writers (Delta's OPTIMIZE among them) may store it as a string view.
            let ids = cast(batch.column(0), &DataType::Utf8)
                .map_err(|e| Error::Corrupt(format!("{file}: entity_id is not text: {e}")))?;
            let ids = ids.as_string::<i32>();
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

/// The k-way merge: a heap of the sources by the entity id at their head, and the output batch
/// being gathered as runs of rows of the batches it draws from.
pub(super) struct SortedMerge {
    sources: Vec<Source>,
    /// Batches the output being gathered draws from, and their column views.
    batches: Vec<RecordBatch>,
    columns: Vec<Columns>,
    heads: BinaryHeap<Reverse<(String, usize)>>,
    tombstones: Tombstones,
    /// Whether every source's rows are deduped already (merged files, merges being written):
    /// an entity whose rows are one run of one batch, without tombstones, is then handed on
    /// where it lies.
    deduped: bool,
    /// The entities so far, in order.
    runs: Vec<Run>,
    /// Rows in `runs`.
    rows: usize,
    /// The rows to gather and the folded `first_seen` of each.
    gathered: Runs,
    first_seen: Vec<i64>,
    started: bool,
}

/// Where an output entity's rows are.
enum Run {
    /// Rows of the batch in a slot, as they lie.
    Slot(usize, Range<usize>),
    /// Rows of the gathered batch.
    Gathered(Range<usize>),
}

impl Batches for SortedMerge {
    type Item = RecordBatch;

    fn next_item(&mut self) -> impl Future<Output = Result<Option<RecordBatch>>> + Send {
        self.next_batch()
    }
}

impl SortedMerge {
    fn new(inputs: Vec<Input>, tombstones: Tombstones) -> SortedMerge {
        SortedMerge {
            sources: inputs.into_iter().map(|input| Source { input, slot: None, row: 0 }).collect(),
            batches: Vec::new(),
            columns: Vec::new(),
            heads: BinaryHeap::new(),
            tombstones,
            deduped: false,
            runs: Vec::new(),
            rows: 0,
            gathered: Runs::default(),
            first_seen: Vec::new(),
            started: false,
        }
    }

    /// Whether `partitions` can be scanned by merging their files: every one holds a single
    /// merged file.
    pub(super) fn applies(partitions: &[Partition]) -> bool {
        partitions.iter().all(|p| p.files.len() == 1 && p.is_clean())
    }

    /// Merges every file of `partitions` of `table`; each file must be sorted by entity id.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::Parquet`] opening a file.
    pub(super) async fn files(
        table: &TableFiles,
        partitions: &[Partition],
        tombstones: Tombstones,
    ) -> Result<SortedMerge> {
        let mut sources = Vec::new();
        let files: usize = partitions.iter().map(|p| p.files.len()).sum();
        let rows = (READ_BUDGET_ROWS / files.max(1)).clamp(MIN_READ_BATCH_ROWS, MAX_READ_BATCH_ROWS);
        for part in partitions {
            for file in &part.files {
                sources.push(table.input(file, rows, &part.bucket, &part.origin).await?);
            }
        }
        Ok(SortedMerge::new(sources, tombstones))
    }

    /// Dedupes the rows of a query sorted by entity id (partition columns included).
    pub(super) fn query(stream: SendableRecordBatchStream, tombstones: Tombstones) -> SortedMerge {
        SortedMerge::new(vec![Input::Query(stream)], tombstones)
    }

    /// Marks every source as deduped already: each a partition's only merged file or the output
    /// of its merge. Entities then pass through without a copy unless they need one.
    pub(super) fn deduped(mut self) -> SortedMerge {
        self.deduped = true;
        self
    }

    /// Adds a source whose batches another task sends, already of the row schema and sorted by
    /// entity id; its sender ends the source by closing.
    pub(super) fn add_channel(&mut self, batches: mpsc::Receiver<Result<RecordBatch>>) {
        self.sources.push(Source { input: Input::Channel(batches), slot: None, row: 0 });
    }

    /// The next batch of deduped rows ([`row_schema`]): whole entities in merged order, about
    /// [`OUTPUT_BATCH_ROWS`] rows; `None` at the end. For merges: the sources are not
    /// [`deduped`](SortedMerge::deduped).
    ///
    /// # Errors
    /// [`Error::Query`], [`Error::Parquet`] reading a source; [`Error::Corrupt`] for rows
    /// [`normalize`] refuses.
    pub(super) async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        debug_assert!(!self.deduped, "a merge gathers every row");
        if !self.fill().await? {
            return Ok(None);
        }
        self.runs.clear();
        self.rows = 0;
        let batch = self.gather()?;
        self.keep_current();
        Ok(Some(batch))
    }

    /// The next entities, about [`OUTPUT_BATCH_ROWS`] rows of them; `None` at the end.
    ///
    /// # Errors
    /// As [`SortedMerge::next_batch`].
    pub(super) async fn next_entities(&mut self) -> Result<Option<EntityBatch>> {
        if !self.fill().await? {
            return Ok(None);
        }
        let mut parts: Vec<(RecordBatch, Columns)> = Vec::new();
        let mut part_of: Vec<Option<usize>> = vec![None; self.batches.len()];
        let gathered = if self.gathered.is_empty() {
            None
        } else {
            let batch = self.gather()?;
            let columns = Columns::new(&batch);
            parts.push((batch, columns));
            Some(0)
        };
        let mut entities = Vec::with_capacity(self.runs.len());
        for run in std::mem::take(&mut self.runs) {
            entities.push(match run {
                Run::Gathered(range) => (gathered.expect("gathered rows"), range),
                Run::Slot(slot, range) => {
                    let part = *part_of[slot].get_or_insert_with(|| {
                        parts.push((self.batches[slot].clone(), self.columns[slot].clone()));
                        parts.len() - 1
                    });
                    (part, range)
                }
            });
        }
        self.rows = 0;
        self.keep_current();
        Ok(Some(EntityBatch { parts, entities }))
    }

    /// Takes entities from the sources until the output holds [`OUTPUT_BATCH_ROWS`] rows;
    /// whether it holds any.
    async fn fill(&mut self) -> Result<bool> {
        if !self.started {
            self.started = true;
            for i in 0..self.sources.len() {
                self.advance(i).await?;
                self.push_head(i);
            }
        }
        let mut entity = Vec::new();
        while self.rows < OUTPUT_BATCH_ROWS {
            let Some(Reverse((id, first))) = self.heads.pop() else {
                break;
            };
            entity.clear();
            self.take(first, &id, &mut entity).await?;
            while self.heads.peek().is_some_and(|Reverse((head, _))| *head == id) {
                let Reverse((_, i)) = self.heads.pop().expect("peeked");
                self.take(i, &id, &mut entity).await?;
            }
            self.dedupe(&entity);
        }
        Ok(!self.runs.is_empty())
    }

    /// Moves source `i` to its next non-empty batch (`slot` `None` at the end).
    async fn advance(&mut self, i: usize) -> Result<()> {
        let source = &mut self.sources[i];
        source.slot = None;
        source.row = 0;
        while let Some(batch) = source.input.next().await? {
            if batch.num_rows() > 0 {
                self.columns.push(Columns::new(&batch));
                self.batches.push(batch);
                source.slot = Some(self.batches.len() - 1);
                break;
            }
        }
        Ok(())
    }

    /// Queues source `i` under the entity id at its head, unless it is exhausted.
    fn push_head(&mut self, i: usize) {
        let source = &self.sources[i];
        if let Some(slot) = source.slot {
            self.heads.push(Reverse((self.columns[slot].entity_id.value(source.row).to_string(), i)));
        }
    }

    /// Appends the `(slot, row)` of every row of entity `id` at the head of source `i` to
    /// `entity` and queues the source under its next head.
    async fn take(&mut self, i: usize, id: &str, entity: &mut Vec<(usize, usize)>) -> Result<()> {
        while let Some(slot) = self.sources[i].slot {
            let ids = &self.columns[slot].entity_id;
            let mut row = self.sources[i].row;
            while row < ids.len() && ids.value(row) == id {
                entity.push((slot, row));
                row += 1;
            }
            self.sources[i].row = row;
            if row < ids.len() {
                break;
            }
            // The entity may go on in the next batch.
            self.advance(i).await?;
        }
        self.push_head(i);
        Ok(())
    }

    /// Dedupes one entity's rows and appends the survivors to the output.
    fn dedupe(&mut self, entity: &[(usize, usize)]) {
        if self.deduped
            && let (Some(&(slot, start)), Some(&(last_slot, end))) = (entity.first(), entity.last())
            && slot == last_slot
            && end + 1 - start == entity.len()
            && self.columns[slot].deleted_at.slice(start, entity.len()).null_count() == entity.len()
        {
            // One run of one deduped batch, no tombstone: nothing to collapse or drop.
            self.runs.push(Run::Slot(slot, start..end + 1));
            self.rows += entity.len();
            return;
        }
        let rows = entity.iter().map(|&(slot, row)| ColumnRow { columns: &self.columns[slot], slot, row }).collect();
        let mut survivors: Vec<Survivor> = Vec::with_capacity(entity.len());
        dedupe_entity(rows, self.tombstones, &mut survivors);
        if survivors.is_empty() {
            return;
        }
        let start = self.gathered.len();
        for s in survivors {
            self.gathered.push(s.row.slot, s.row.row);
            self.first_seen.push(s.first_seen);
        }
        self.runs.push(Run::Gathered(start..self.gathered.len()));
        self.rows += self.gathered.len() - start;
    }

    /// Gathers the rows to gather into a batch with their folded `first_seen`.
    fn gather(&mut self) -> Result<RecordBatch> {
        let schema = row_schema();
        let first_seen = schema.index_of("first_seen")?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for i in 0..schema.fields().len() {
            columns.push(if i == first_seen {
                let folded = TimestampMicrosecondArray::from(std::mem::take(&mut self.first_seen));
                Arc::new(folded.with_timezone("UTC"))
            } else {
                let sources: Vec<&dyn Array> = self.batches.iter().map(|b| b.column(i).as_ref()).collect();
                gather_column(&sources, &self.gathered)?
            });
        }
        self.gathered.clear();
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// Keeps only the batches the sources are still reading, once the output is handed on.
    fn keep_current(&mut self) {
        // Each source holds a slot of its own; the other batches are done with.
        let (batches, views) = (std::mem::take(&mut self.batches), std::mem::take(&mut self.columns));
        for source in &mut self.sources {
            if let Some(slot) = source.slot {
                self.batches.push(batches[slot].clone());
                self.columns.push(views[slot].clone());
                source.slot = Some(self.batches.len() - 1);
            }
        }
    }
}
