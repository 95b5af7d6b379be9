//! New data files: the rows of one partition written as one parquet file, described by a Delta
//! `add` action (used by append and merge).
//!
//! Each column is encoded and compressed on a blocking task of its own, so one file keeps every
//! core busy (parquet-rs's `ArrowColumnWriter` scheme). A batch's columns encode while the caller
//! builds the next batch. Each finished row group is streamed to the object store through a
//! buffered upload. The `add` carries the row count and the file's smallest and largest
//! `entity_id` (rows are written sorted by entity id), so entity lookups skip files that cannot
//! hold the id; the footer says so too ([`SORTED_BY`]), so a merge need not read the ids to
//! find out.

use std::collections::HashMap;
use std::sync::Arc;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::compute::{max_string, min_string};
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::kernel::Add;
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use deltalake::parquet::errors::ParquetError;
use deltalake::parquet::file::metadata::KeyValue;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::file::writer::SerializedFileWriter;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

use super::PartitionKey;
use crate::error::{Error, Result};
use crate::storage::schema::file_schema;

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

/// A data file being written.
pub(super) struct DataFile {
    /// Path relative to the table root, as the log records it.
    name: String,
    path: Path,
    partition: PartitionKey,
    schema: SchemaRef,
    /// Encodes into memory; each closed row group is drained into `sink`.
    file: SerializedFileWriter<Vec<u8>>,
    factory: ArrowRowGroupWriterFactory,
    sink: BufWriter,
    /// The open row group's column writers, in schema order (empty between row groups and while
    /// `pending` holds them).
    columns: Vec<ArrowColumnWriter>,
    /// Column writers encoding the last batch, in schema order.
    pending: Vec<JoinHandle<std::result::Result<ArrowColumnWriter, ParquetError>>>,
    /// Rows in the open row group.
    group_rows: usize,
    rows: u64,
    entity_ids: Option<(String, String)>,
    /// Whether the rows so far are sorted by entity id (then the footer says so).
    sorted: bool,
}

impl DataFile {
    /// Starts `<folder>/<file_name>` in `store` (rooted at the table) for rows of `partition`.
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
        let schema = file_schema();
        // The Arrow writer embeds the Arrow schema in the footer, as every reader expects.
        let (file, factory) =
            ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties))?.into_serialized_writer()?;
        Ok(DataFile {
            name,
            sink: BufWriter::new(store.clone(), path.clone()),
            path,
            partition,
            schema,
            file,
            factory,
            columns: Vec::new(),
            pending: Vec::new(),
            group_rows: 0,
            rows: 0,
            entity_ids: None,
            sorted: true,
        })
    }

    /// Writes a batch of [`file_schema`] rows. Its columns are still encoding when this returns.
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

    /// Hands each column of `batch` to its writer's task, once the previous batch is encoded.
    async fn encode(&mut self, batch: &RecordBatch) -> Result<()> {
        self.settle().await?;
        if self.columns.is_empty() {
            self.columns = self.factory.create_column_writers(self.file.flushed_row_groups().len())?;
        }
        for ((mut writer, field), array) in self.columns.drain(..).zip(self.schema.fields()).zip(batch.columns()) {
            let leaves = compute_leaves(field, array)?;
            self.pending.push(tokio::task::spawn_blocking(move || {
                leaves.iter().try_for_each(|leaf| writer.write(leaf))?;
                Ok(writer)
            }));
        }
        self.group_rows += batch.num_rows();
        Ok(())
    }

    /// Waits for the pending column tasks and takes their writers back.
    async fn settle(&mut self) -> Result<()> {
        for task in std::mem::take(&mut self.pending) {
            self.columns.push(joined(task).await??);
        }
        Ok(())
    }

    /// Closes the open row group (each column on its own task) and uploads it.
    async fn close_row_group(&mut self) -> Result<()> {
        self.settle().await?;
        let closing: Vec<JoinHandle<std::result::Result<ArrowColumnChunk, ParquetError>>> =
            self.columns.drain(..).map(|writer| tokio::task::spawn_blocking(move || writer.close())).collect();
        let mut row_group = self.file.next_row_group()?;
        for task in closing {
            joined(task).await??.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        self.group_rows = 0;
        self.upload().await
    }

    /// Moves what the parquet writer has produced so far into the upload.
    async fn upload(&mut self) -> Result<()> {
        self.file.flush().map_err(ParquetError::from)?;
        let bytes = std::mem::take(self.file.inner_mut());
        self.sink.write_all(&bytes).await.map_err(|e| Error::Io(format!("uploading {}", self.path), e))?;
        Ok(())
    }

    /// Completes the file; its `add` action, or `None` (and no file) when no row was written.
    ///
    /// # Errors
    /// [`Error::Parquet`]; [`Error::Io`] for a failed upload; [`Error::Storage`].
    pub(super) async fn finish(mut self, data_change: bool) -> Result<Option<Add>> {
        let Some((low, high)) = self.entity_ids.take() else {
            self.settle().await?;
            self.sink.abort().await?;
            return Ok(None);
        };
        if self.group_rows > 0 {
            self.close_row_group().await?;
        }
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

/// The result of a column task; a panicked task is a [`Error::Corrupt`].
async fn joined<T>(task: JoinHandle<T>) -> Result<T> {
    task.await.map_err(|e| Error::Corrupt(format!("column encoding task failed: {e}")))
}
