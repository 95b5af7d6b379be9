//! New data files: the rows of one partition written as one parquet file, described by a Delta
//! `add` action (used by append and merge).
//!
//! Each column has an encoder of its own ([`ColumnEncoder`], parquet-rs's `ArrowColumnWriter`
//! scheme), fed through a queue, so one file keeps every core busy and no column waits for
//! another: a slow column (the SHA-1 `id`s) falls a few batches behind while the others and the
//! caller go on. Columns meet only where a row group closes. The bloom filters of string
//! columns are built by the encoders from distinct values ([`ChunkBloom`]), not by parquet-rs.
//! Each finished row group is streamed to the object store through a buffered upload. The `add`
//! carries the row count and the file's smallest and largest `entity_id` (rows are written
//! sorted by entity id), so entity lookups skip files that cannot hold the id; the footer says
//! so too ([`SORTED_BY`]), so a merge need not read the ids to find out.

use std::collections::HashMap;
use std::sync::Arc;

use deltalake::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use deltalake::arrow::compute::{max_string, min_string};
use deltalake::arrow::datatypes::{DataType, FieldRef, SchemaRef};
use deltalake::kernel::Add;
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use deltalake::parquet::errors::ParquetError;
use deltalake::parquet::file::metadata::KeyValue;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::file::writer::SerializedFileWriter;
use deltalake::parquet::schema::types::ColumnPath;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::PartitionKey;
use super::bloom::{BloomSettings, ChunkBloom};
use crate::error::{Error, Result};
use crate::storage::table_schema::file_schema;

/// Characters escaped in partition folder names (Delta protocol, "How to URL encode keys and
/// string values"): controls, space and the reserved punctuation.
const PARTITION_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'!')
    .add(b'"')
    .add(b'#')
    .add(b'$')
    .add(b'%')
    .add(b'&')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b'*')
    .add(b'+')
    .add(b',')
    .add(b'/')
    .add(b':')
    .add(b';')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The folder of a partition below the table root: `shard=<s>/bucket=<b>/origin=<o>`, values
/// escaped as delta-rs escapes them (an origin `mapping:ab` lives in `origin=mapping%3Aab`).
pub(super) fn partition_folder((shard, bucket, origin): &PartitionKey) -> String {
    let escape = |value: &str| utf8_percent_encode(value, PARTITION_ESCAPES).to_string();
    format!("shard={}/bucket={}/origin={}", escape(shard), escape(bucket), escape(origin))
}

/// Key of the footer entry a data file written here carries, with the value `entity_id`, when
/// its rows are sorted by entity id (as appends and merges write them; checked as the rows go
/// by). Files without it, such as the reference's appends or delta-rs compactions, are checked
/// by reading their ids.
pub(super) const SORTED_BY: &str = "ftm_lakehouse.sorted_by";

/// Batches a column's queue holds beyond the one being encoded: how far one column may fall
/// behind the others within a row group.
const COLUMN_QUEUE: usize = 4;

/// What a [`ColumnEncoder`] is asked to do, in order.
enum Job {
    /// Begin a row group with this writer (boxed: it is large, and queued once per row group).
    Start(Box<ArrowColumnWriter>),
    /// Encode these values of the column into the open row group.
    Write(ArrayRef),
    /// Close the open row group's chunk and send it.
    Close(oneshot::Sender<ArrowColumnChunk>),
}

/// One column's encoder: an async task that takes [`Job`]s from a bounded queue and runs the
/// encoding and compression on blocking threads, one job at a time. A blocking thread is held
/// only while a job runs, so many files can be open at once.
struct ColumnEncoder {
    jobs: mpsc::Sender<Job>,
    task: Option<JoinHandle<std::result::Result<(), ParquetError>>>,
}

impl ColumnEncoder {
    /// The encoder of `field`, building its chunks' bloom filters with `bloom` if given.
    fn spawn(field: FieldRef, bloom: Option<BloomSettings>) -> ColumnEncoder {
        let (jobs, queue) = mpsc::channel(COLUMN_QUEUE);
        ColumnEncoder { jobs, task: Some(tokio::spawn(encode_column(field, bloom, queue))) }
    }

    /// Queues `job`, waiting while the queue is full.
    ///
    /// # Errors
    /// The encoder's failure, when it has stopped.
    async fn send(&mut self, job: Job) -> Result<()> {
        match self.jobs.send(job).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.failure().await),
        }
    }

    /// Why the encoder stopped (its error, or its task's panic).
    async fn failure(&mut self) -> Error {
        match self.task.take() {
            Some(task) => match joined(task).await {
                Ok(Err(e)) => e.into(),
                Ok(Ok(())) => Error::Corrupt("column encoder stopped early".into()),
                Err(e) => e,
            },
            None => Error::Corrupt("column encoder stopped early".into()),
        }
    }
}

/// The loop of a [`ColumnEncoder`]: runs each job on a blocking thread, the writer (and the
/// chunk's bloom filter, with `bloom`) moving there and back.
async fn encode_column(
    field: FieldRef,
    bloom: Option<BloomSettings>,
    mut queue: mpsc::Receiver<Job>,
) -> std::result::Result<(), ParquetError> {
    let blocking = |e: tokio::task::JoinError| ParquetError::General(format!("column encoding task failed: {e}"));
    let missing = || ParquetError::General("column job outside a row group".into());
    let mut open: Option<(ArrowColumnWriter, Option<ChunkBloom>)> = None;
    // The filter of the chunk to open next: one per column, emptied by each chunk's close.
    let mut next_filter = bloom.map(ChunkBloom::new).transpose()?;
    while let Some(job) = queue.recv().await {
        match job {
            Job::Start(writer) => open = Some((*writer, next_filter.take())),
            Job::Write(array) => {
                let ((mut writer, mut filter), field) = (open.take().ok_or_else(missing)?, field.clone());
                open = Some(
                    tokio::task::spawn_blocking(move || {
                        compute_leaves(&field, &array)?.iter().try_for_each(|leaf| writer.write(leaf))?;
                        if let (Some(filter), Some(values)) = (&mut filter, array.as_string_opt::<i32>()) {
                            filter.insert(values);
                        }
                        Ok::<_, ParquetError>((writer, filter))
                    })
                    .await
                    .map_err(blocking)??,
                );
            }
            Job::Close(reply) => {
                let (writer, mut filter) = open.take().ok_or_else(missing)?;
                let closing = tokio::task::spawn_blocking(move || {
                    let mut chunk = writer.close()?;
                    if let Some(filter) = &mut filter {
                        chunk.close_mut().bloom_filter = Some(filter.finish());
                    }
                    Ok::<_, ParquetError>((chunk, filter))
                });
                let (chunk, filter) = closing.await.map_err(blocking)??;
                next_filter = filter;
                // Nobody is waiting when the file was dropped unfinished: nothing to report.
                let _ = reply.send(chunk);
            }
        }
    }
    Ok(())
}

/// Takes the bloom filters of the string columns of `schema` away from `properties`: the
/// settings of each column's filter (`None` for columns without one), and the properties
/// without them.
fn own_blooms(schema: &SchemaRef, properties: WriterProperties) -> (Vec<Option<BloomSettings>>, WriterProperties) {
    let mut builder = None;
    let mut settings = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let path = ColumnPath::from(field.name().as_str());
        let bloom = match (field.data_type(), properties.bloom_filter_properties(&path)) {
            (DataType::Utf8, Some(bloom)) => Some(BloomSettings { ndv: bloom.ndv(), fpp: bloom.fpp() }),
            _ => None,
        };
        if bloom.is_some() {
            let unset = builder.take().unwrap_or_else(|| properties.clone().into_builder());
            builder = Some(unset.set_column_bloom_filter_enabled(path, false));
        }
        settings.push(bloom);
    }
    (settings, builder.map_or(properties, |b| b.build()))
}

/// A data file being written.
pub(super) struct DataFile {
    /// Path relative to the table root, as the log records it.
    name: String,
    path: Path,
    partition: PartitionKey,
    /// Encodes into memory; each closed row group is drained into `sink`.
    file: SerializedFileWriter<Vec<u8>>,
    factory: ArrowRowGroupWriterFactory,
    sink: BufWriter,
    /// One encoder per column, in schema order.
    columns: Vec<ColumnEncoder>,
    /// Whether the columns hold an open row group.
    open: bool,
    /// The chunks of the last closed row group, in schema order, still to go into the file.
    closed: Vec<oneshot::Receiver<ArrowColumnChunk>>,
    /// Row groups begun so far.
    row_groups: usize,
    /// Rows in the open row group.
    group_rows: usize,
    rows: u64,
    entity_ids: Option<(String, String)>,
    /// Whether the rows so far are sorted by entity id (then the footer says so).
    sorted: bool,
}

impl DataFile {
    /// Starts `<folder>/<file_name>` in `store` (rooted at the table) for rows of `partition`.
    /// Must be called within a Tokio runtime (the column encoders are tasks).
    ///
    /// # Errors
    /// [`Error::Corrupt`] for a path the store cannot hold; [`Error::Parquet`].
    pub(super) fn create(
        store: &Arc<dyn ObjectStore>,
        folder: &str,
        file_name: &str,
        partition: PartitionKey,
        properties: WriterProperties,
    ) -> Result<DataFile> {
        let name = format!("{folder}/{file_name}");
        let path = Path::parse(&name).map_err(|e| Error::Corrupt(format!("bad file path {name:?}: {e}")))?;
        let schema: SchemaRef = file_schema();
        let (blooms, properties) = own_blooms(&schema, properties);
        // The Arrow writer embeds the Arrow schema in the footer, as every reader expects.
        let (file, factory) =
            ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties))?.into_serialized_writer()?;
        Ok(DataFile {
            name,
            sink: BufWriter::new(store.clone(), path.clone()),
            path,
            partition,
            file,
            factory,
            columns: schema
                .fields()
                .iter()
                .zip(blooms)
                .map(|(field, bloom)| ColumnEncoder::spawn(field.clone(), bloom))
                .collect(),
            open: false,
            closed: Vec::new(),
            row_groups: 0,
            group_rows: 0,
            rows: 0,
            entity_ids: None,
            sorted: true,
        })
    }

    /// Writes a batch of [`file_schema`] rows. Its columns are queued for encoding when this
    /// returns; it waits only while a column's queue is full.
    ///
    /// # Errors
    /// [`Error::Parquet`]; [`Error::Io`] for a failed upload; [`Error::Corrupt`] for a batch
    /// without a string `entity_id`.
    pub(super) async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let ids = batch
            .column_by_name("entity_id")
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| Error::Corrupt("data batch without an entity_id string column".into()))?;
        if !ids.is_empty() {
            let (first, last) = (ids.value(0), ids.value(ids.len() - 1));
            self.sorted &= self.entity_ids.as_ref().is_none_or(|(_, high)| first >= high.as_str())
                && (1..ids.len()).all(|i| ids.value(i - 1) <= ids.value(i));
            let (min, max) = match self.sorted {
                true => (first, last),
                false => (min_string(ids).unwrap_or_default(), max_string(ids).unwrap_or_default()),
            };
            let (low, high) = self.entity_ids.get_or_insert_with(|| (min.to_string(), max.to_string()));
            if min < low.as_str() {
                *low = min.to_string();
            }
            if max > high.as_str() {
                *high = max.to_string();
            }
        }
        let max_group_rows = self.file.properties().max_row_group_row_count().unwrap_or(usize::MAX);
        let mut offset = 0;
        while offset < batch.num_rows() {
            let take = (batch.num_rows() - offset).min(max_group_rows - self.group_rows);
            self.encode(&batch.slice(offset, take)).await?;
            offset += take;
            if self.group_rows == max_group_rows {
                self.close_row_group().await?;
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Queues each column of `batch` on its encoder, beginning a row group if none is open.
    async fn encode(&mut self, batch: &RecordBatch) -> Result<()> {
        if !self.open {
            let writers = self.factory.create_column_writers(self.row_groups)?;
            for (encoder, writer) in self.columns.iter_mut().zip(writers) {
                encoder.send(Job::Start(Box::new(writer))).await?;
            }
            self.open = true;
            self.row_groups += 1;
        }
        for (encoder, array) in self.columns.iter_mut().zip(batch.columns()) {
            encoder.send(Job::Write(array.clone())).await?;
        }
        self.group_rows += batch.num_rows();
        Ok(())
    }

    /// Asks every column to close the open row group, then puts the previous one into the file:
    /// the columns close this one meanwhile.
    async fn close_row_group(&mut self) -> Result<()> {
        let mut closing = Vec::with_capacity(self.columns.len());
        for encoder in &mut self.columns {
            let (reply, chunk) = oneshot::channel();
            encoder.send(Job::Close(reply)).await?;
            closing.push(chunk);
        }
        self.open = false;
        self.group_rows = 0;
        self.append_closed().await?;
        self.closed = closing;
        Ok(())
    }

    /// Writes the chunks of the last closed row group into the file and uploads them.
    async fn append_closed(&mut self) -> Result<()> {
        if self.closed.is_empty() {
            return Ok(());
        }
        let mut row_group = self.file.next_row_group()?;
        for (chunk, encoder) in std::mem::take(&mut self.closed).into_iter().zip(&mut self.columns) {
            match chunk.await {
                Ok(chunk) => chunk.append_to_row_group(&mut row_group)?,
                Err(_) => return Err(encoder.failure().await),
            }
        }
        row_group.close()?;
        self.upload().await
    }

    /// Moves what the parquet writer has produced so far into the upload. The writer's buffer
    /// keeps its capacity: the next row group is written without growing it again.
    async fn upload(&mut self) -> Result<()> {
        self.file.flush().map_err(ParquetError::from)?;
        let bytes = self.file.inner_mut();
        self.sink.write_all(bytes).await.map_err(|e| Error::Io(format!("uploading {}", self.path), e))?;
        bytes.clear();
        Ok(())
    }

    /// Completes the file; its `add` action, or `None` (and no file) when no row was written.
    ///
    /// # Errors
    /// [`Error::Parquet`]; [`Error::Io`] for a failed upload; [`Error::Storage`].
    pub(super) async fn finish(mut self, data_change: bool) -> Result<Option<Add>> {
        let Some((low, high)) = self.entity_ids.take() else {
            self.sink.abort().await?;
            return Ok(None);
        };
        if self.open {
            self.close_row_group().await?;
        }
        self.append_closed().await?;
        if self.sorted {
            self.file.append_key_value_metadata(KeyValue::new(SORTED_BY.to_string(), "entity_id".to_string()));
        }
        self.file.finish()?;
        self.upload().await?;
        self.sink.shutdown().await.map_err(|e| Error::Io(format!("uploading {}", self.path), e))?;
        let size = self.file.bytes_written();
        let (shard, bucket, origin) = self.partition;
        let partition_values: HashMap<String, Option<String>> =
            [("shard", shard), ("bucket", bucket), ("origin", origin)].map(|(k, v)| (k.to_string(), Some(v))).into();
        let stats = json!({
            "numRecords": self.rows,
            "minValues": {"entity_id": low},
            "maxValues": {"entity_id": high},
            "nullCount": {"entity_id": 0},
        });
        Ok(Some(Add {
            path: self.name,
            partition_values,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            modification_time: chrono::Utc::now().timestamp_millis(),
            data_change,
            stats: Some(stats.to_string()),
            ..Default::default()
        }))
    }
}

/// The result of an encoder task; a panicked or cancelled task is an [`Error::Task`].
async fn joined<T>(task: JoinHandle<T>) -> Result<T> {
    task.await.map_err(Error::task("column encoding"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::to_file_batch;
    use deltalake::arrow::array::Int64Array;
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use ftm::Statement;
    use object_store::local::LocalFileSystem;

    fn rows(n: usize) -> RecordBatch {
        let seen = ftm::time::parse_iso("2024-01-01");
        let statements: Vec<Statement> = (0..n)
            .map(|i| {
                let mut s = Statement::new("ds", &format!("e{i:03}"), "Person", "name", "name", &format!("Name {i}"));
                (s.first_seen, s.last_seen) = (seen, seen);
                s
            })
            .collect();
        to_file_batch(&statements).unwrap()
    }

    /// A data file `x/f.parquet` in a local store rooted at `dir`, closing row groups at
    /// `rows_per_group` rows.
    fn start(dir: &std::path::Path, rows_per_group: usize) -> DataFile {
        let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap());
        let key = ("0".to_string(), "thing".to_string(), "default".to_string());
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(rows_per_group)).build();
        DataFile::create(&store, "x", "f.parquet", key, props).unwrap()
    }

    /// Writes `batch` in slices of `slice` rows; the file's row groups' sizes and its values.
    async fn write_read(batch: &RecordBatch, slice: usize, rows_per_group: usize) -> (Add, Vec<i64>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let mut file = start(dir.path(), rows_per_group);
        for offset in (0..batch.num_rows()).step_by(slice) {
            file.write(&batch.slice(offset, slice.min(batch.num_rows() - offset))).await.unwrap();
        }
        let add = file.finish(true).await.unwrap().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(dir.path().join(&add.path)).unwrap());
        let reader = reader.unwrap();
        let groups = reader.metadata().row_groups().iter().map(|g| g.num_rows()).collect();
        let mut values = Vec::new();
        for read in reader.build().unwrap() {
            let read = read.unwrap();
            let column = read.column_by_name("value").unwrap().as_string::<i32>();
            values.extend(column.iter().map(|v| v.unwrap().to_string()));
        }
        (add, groups, values)
    }

    #[tokio::test]
    async fn row_groups_close_where_the_profile_says_across_batches() {
        let batch = rows(25);
        let want: Vec<String> = (0..25).map(|i| format!("Name {i}")).collect();
        let (add, groups, values) = write_read(&batch, 7, 10).await;
        assert_eq!(groups, [10, 10, 5]);
        assert_eq!(values, want);
        let stats: serde_json::Value = serde_json::from_str(add.stats.as_deref().unwrap()).unwrap();
        assert_eq!(stats["numRecords"], 25);
        assert_eq!(
            (stats["minValues"]["entity_id"].as_str(), stats["maxValues"]["entity_id"].as_str()),
            (Some("e000"), Some("e024"))
        );
        // A file that fills its last row group exactly has no empty one after it.
        let (_, groups, values) = write_read(&rows(20), 4, 10).await;
        assert_eq!((groups, values.len()), (vec![10, 10], 20));
    }

    /// The bloom filters of a file as `(row group, column, serialized filter)`.
    fn blooms(path: &std::path::Path) -> Vec<(usize, usize, Vec<u8>)> {
        use deltalake::parquet::file::properties::ReaderProperties;
        use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};
        use deltalake::parquet::file::serialized_reader::ReadOptionsBuilder;
        let properties = ReaderProperties::builder().set_read_bloom_filter(true).build();
        let options = ReadOptionsBuilder::new().with_reader_properties(properties).build();
        let reader = SerializedFileReader::new_with_options(std::fs::File::open(path).unwrap(), options).unwrap();
        let mut out = Vec::new();
        for group in 0..reader.num_row_groups() {
            let row_group = reader.get_row_group(group).unwrap();
            for column in 0..row_group.num_columns() {
                if let Some(filter) = row_group.get_column_bloom_filter(column) {
                    let mut bytes = Vec::new();
                    filter.write(&mut bytes).unwrap();
                    out.push((group, column, bytes));
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn bloom_filters_are_those_parquet_writes() {
        let seen = ftm::time::parse_iso("2024-01-01");
        let statements: Vec<Statement> = (0..5000)
            .map(|i| {
                let prop = ["alias", "name", "weakAlias"][i % 3];
                let mut s =
                    Statement::new("ds", &format!("e{i:04}"), "Person", prop, "name", &format!("N{}", i % 1500));
                (s.first_seen, s.last_seen) = (seen, seen);
                s.fragment = if i % 5 == 0 { format!("f{}", i % 7) } else { String::new() };
                s
            })
            .collect();
        let batch = to_file_batch(&statements).unwrap();
        let mut builder = WriterProperties::builder().set_max_row_group_row_count(Some(2000));
        for name in ["prop", "fragment", "value"] {
            builder = builder
                .set_column_bloom_filter_enabled(ColumnPath::from(name), true)
                .set_column_bloom_filter_fpp(ColumnPath::from(name), 0.01)
                .set_column_bloom_filter_max_ndv(ColumnPath::from(name), 2000);
        }
        let props = builder.build();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let key = ("0".to_string(), "thing".to_string(), "default".to_string());
        let mut file = DataFile::create(&store, "x", "f.parquet", key, props.clone()).unwrap();
        for offset in (0..5000).step_by(777) {
            file.write(&batch.slice(offset, 777.min(5000 - offset))).await.unwrap();
        }
        let add = file.finish(true).await.unwrap().unwrap();
        let ours = blooms(&dir.path().join(&add.path));
        let theirs_path = dir.path().join("theirs.parquet");
        let writer = ArrowWriter::try_new(std::fs::File::create(&theirs_path).unwrap(), file_schema(), Some(props));
        let mut writer = writer.unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let theirs = blooms(&theirs_path);
        let columns: Vec<(usize, usize)> = theirs.iter().map(|(group, column, _)| (*group, *column)).collect();
        assert_eq!(columns.len(), 9, "three row groups, three columns: {columns:?}");
        assert_eq!(ours, theirs);
    }

    #[tokio::test]
    async fn a_column_that_cannot_be_encoded_fails_the_file() {
        let batch = rows(30);
        let schema = batch.schema();
        let index = schema.index_of("value").unwrap();
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[index] = Field::new("value", DataType::Int64, false);
        let mut columns = batch.columns().to_vec();
        columns[index] = Arc::new(Int64Array::from_iter_values(0..30));
        let bad = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut file = start(dir.path(), 10);
        let mut result = Ok(());
        for offset in (0..30).step_by(5) {
            result = result.and(file.write(&bad.slice(offset, 5)).await);
        }
        let finished = match result {
            Ok(()) => file.finish(true).await.map(|_| ()),
            Err(e) => Err(e),
        };
        let message = finished.expect_err("a Utf8 column given Int64 values must fail the file").to_string();
        assert!(message.contains("Field 'value' has type Utf8"), "{message}");
        assert!(!dir.path().join("x/f.parquet").exists());
    }
}
