//! New data files: the rows of one partition written as one parquet file, described by a Delta
//! `add` action (used by append and merge).
//!
//! Files are streamed to the object store through a buffered upload. The `add` carries the row
//! count and the file's smallest and largest `entity_id` (rows are written sorted by entity id),
//! so entity lookups skip files that cannot hold the id.

use std::collections::HashMap;
use std::sync::Arc;

use deltalake::arrow::array::{AsArray, RecordBatch};
use deltalake::arrow::compute::{max_string, min_string};
use deltalake::kernel::Add;
use deltalake::parquet::arrow::async_writer::AsyncArrowWriter;
use deltalake::parquet::file::properties::WriterProperties;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use serde_json::json;

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

/// A data file being written.
pub(super) struct DataFile {
    /// Path relative to the table root, as the log records it.
    name: String,
    path: Path,
    partition: PartitionKey,
    writer: AsyncArrowWriter<BufWriter>,
    rows: u64,
    entity_ids: Option<(String, String)>,
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
        let sink = BufWriter::new(store.clone(), path.clone());
        let writer = AsyncArrowWriter::try_new(sink, file_schema(), Some(properties))?;
        Ok(DataFile { name, path, partition, writer, rows: 0, entity_ids: None })
    }

    /// Writes a batch of [`file_schema`] rows.
    ///
    /// # Errors
    /// [`Error::Parquet`]; [`Error::Corrupt`] for a batch without a string `entity_id`.
    pub(super) async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let ids = batch
            .column_by_name("entity_id")
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| Error::Corrupt("data batch without an entity_id string column".into()))?;
        if let (Some(min), Some(max)) = (min_string(ids), max_string(ids)) {
            let (low, high) = self.entity_ids.get_or_insert_with(|| (min.to_string(), max.to_string()));
            if min < low.as_str() {
                *low = min.to_string();
            }
            if max > high.as_str() {
                *high = max.to_string();
            }
        }
        self.writer.write(batch).await?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Completes the file; its `add` action, or `None` (and no file) when no row was written.
    ///
    /// # Errors
    /// [`Error::Parquet`]; [`Error::Storage`].
    pub(super) async fn finish(self, store: &Arc<dyn ObjectStore>, data_change: bool) -> Result<Option<Add>> {
        self.writer.close().await?;
        let Some((low, high)) = self.entity_ids else {
            store.delete(&self.path).await?;
            return Ok(None);
        };
        let size = store.head(&self.path).await?.size;
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
