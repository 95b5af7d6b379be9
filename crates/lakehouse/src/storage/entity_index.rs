//! The entity index of an export: which entities hold a schema or a property value, and where
//! each entity's line lies in `entities.ftm.json`. The export writes it next to that file, under
//! `<dataset>/entity-index/` (this implementation's own: the reference neither writes nor
//! reads it), so that a query of equality leaves (`filter:schema=Person&
//! filter:properties.country=de`, issue #21) reads a few row groups of postings and the
//! matching lines instead of the statement table, where such entities lie in every row group.
//!
//! * `postings.parquet`: `key` (Int64: the XXH3 64-bit hash of a [`Key`], read as signed) and `entity`
//!   (UInt32: the entity's ordinal, its place in the export from 0), one row per distinct key
//!   of an entity's live rows, sorted by both; row groups of [`POSTING_GROUP_ROWS`] with min/max
//!   statistics, so that a lookup reads only the row groups its key falls in.
//! * `lines.parquet`: `end` (UInt64) per ordinal, the byte offset in the export just past the
//!   entity's line and its newline. An entity without a line (its schemata conflict, and the
//!   export skips it) ends where the one before it ended: it keeps its ordinal, as it keeps its
//!   place in a query's slice.
//!
//! Both footers carry the same [`Stamp`]: the Delta version the export read, the export's key
//! and size, and a build id. [`EntityIndex::open`] finds an index only while the export has
//! that size; the reader then uses it only for a version with the same live statements as the
//! stamp's (the commits between them only rearrange data: a merge, a vacuum). At any other (a
//! later write, an export with a codec, which gets no index) the read falls back to the table.
//!
//! Keys are 64-bit hashes, so two keys with one hash would share their postings: with ten
//! million distinct keys in an index, the chance that a looked-up key meets another's hash is
//! below one in a trillion.

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use deltalake::arrow::array::{AsArray, Int64Array, RecordBatch, UInt32Array, UInt64Array};
use deltalake::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, UInt32Type, UInt64Type};
use deltalake::parquet::arrow::ArrowWriter;
use deltalake::parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use deltalake::parquet::basic::{Compression, Encoding};
use deltalake::parquet::file::metadata::{KeyValue, ParquetMetaData};
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use deltalake::parquet::file::statistics::Statistics;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use twox_hash::XxHash3_64;

use super::object_reader::ObjectFile;
use crate::error::{Error, Result};

/// The index's folder, relative to the dataset root.
pub const FOLDER: &str = "entity-index";

/// The postings, relative to the dataset root.
pub const POSTINGS: &str = "entity-index/postings.parquet";

/// The line ends, relative to the dataset root.
pub const LINES: &str = "entity-index/lines.parquet";

/// The footer key of the [`Stamp`].
const STAMP_KEY: &str = "ftm_lakehouse.entity_index";

/// The layout this module writes and reads.
pub const FORMAT: u32 = 1;

/// Rows per row group of the postings.
pub const POSTING_GROUP_ROWS: usize = 65_536;

/// Lines fetched from the export per request.
const LINES_PER_READ: usize = 1_024;

/// What the postings map from: a schema of a live row, or a property's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// Some live row has this `schema`.
    Schema(&'a str),
    /// Some live row has this `prop` and `value`.
    Property(&'a str, &'a str),
}

impl Key<'_> {
    /// The key's hash as stored: XXH3 64-bit (seed 0) of `s\0<schema>` or
    /// `p\0<prop>\0<value>`, read as signed. `text` is scratch space.
    pub fn hash(&self, text: &mut Vec<u8>) -> i64 {
        text.clear();
        match self {
            Key::Schema(schema) => {
                text.extend_from_slice(b"s\0");
                text.extend_from_slice(schema.as_bytes());
            }
            Key::Property(prop, value) => {
                text.extend_from_slice(b"p\0");
                text.extend_from_slice(prop.as_bytes());
                text.push(0);
                text.extend_from_slice(value.as_bytes());
            }
        }
        XxHash3_64::oneshot(text) as i64
    }
}

/// What an index was built from, in both its footers (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// [`FORMAT`].
    pub format: u32,
    /// The Delta version of the statements the export read.
    pub version: u64,
    /// The export's key under the dataset root (`entities.ftm.json`).
    pub export: String,
    /// The export's size in bytes.
    pub export_size: u64,
    /// Unique to one build: the two files belong together.
    pub build: String,
}

/// The two files of an index, encoded.
#[derive(Debug)]
pub struct IndexFiles {
    /// `postings.parquet`.
    pub postings: Vec<u8>,
    /// `lines.parquet`.
    pub lines: Vec<u8>,
}

/// Bits of the sort key that choose a posting's run: runs small enough to sort in cache.
const RUN_BITS: u32 = 12;

/// An index being built from an export's entities, in the export's order. Postings are held
/// as 12 bytes each until [`IndexBuilder::finish`], in 4,096 runs by the top bits of their key.
pub struct IndexBuilder {
    /// Per top [`RUN_BITS`] of the unsigned sort key: `[key high, key low, ordinal]`.
    runs: Vec<Vec<[u32; 3]>>,
    ends: Vec<u64>,
    /// One entity's keys.
    keys: Vec<u64>,
    /// A key's text.
    text: Vec<u8>,
}

impl Default for IndexBuilder {
    fn default() -> Self {
        IndexBuilder { runs: vec![Vec::new(); 1 << RUN_BITS], ends: Vec::new(), keys: Vec::new(), text: Vec::new() }
    }
}

/// The unsigned sort key of a stored (signed) key: flipping the sign bit keeps the order.
fn sort_key(hash: i64) -> u64 {
    (hash as u64) ^ (1 << 63)
}

fn postings_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Int64, false),
        Field::new("entity", DataType::UInt32, false),
    ]))
}

fn lines_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("end", DataType::UInt64, false)]))
}

/// Plain integers, delta-encoded (sorted keys and ordinals pack well), no compression: a
/// lookup decodes little and fast.
fn writer_properties(stamp: &Stamp, group_rows: usize) -> WriterProperties {
    let stamp = serde_json::to_string(stamp).expect("a stamp serialises");
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_dictionary_enabled(false)
        .set_encoding(Encoding::DELTA_BINARY_PACKED)
        .set_compression(Compression::UNCOMPRESSED)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(group_rows))
        .set_key_value_metadata(Some(vec![KeyValue::new(STAMP_KEY.to_string(), stamp)]))
        .build()
}

impl IndexBuilder {
    /// Adds the next entity of the export: its live rows as `(schema, prop, value)` (the
    /// checksum row gives its schema only) and the export's size after its line (unchanged
    /// when it got none).
    pub fn add<'a>(&mut self, rows: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>, end: u64) {
        let ordinal = self.ends.len() as u32;
        self.ends.push(end);
        self.keys.clear();
        let mut last_schema = "";
        for (schema, prop, value) in rows {
            if schema != last_schema {
                self.keys.push(sort_key(Key::Schema(schema).hash(&mut self.text)));
                last_schema = schema;
            }
            if prop != ftm::statement::BASE_ID {
                self.keys.push(sort_key(Key::Property(prop, value).hash(&mut self.text)));
            }
        }
        self.keys.sort_unstable();
        self.keys.dedup();
        for &key in &self.keys {
            self.runs[(key >> (64 - RUN_BITS)) as usize].push([(key >> 32) as u32, key as u32, ordinal]);
        }
    }

    /// Entities added so far.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no entity was added.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Encodes the index of the export `export` the entities were added from, which read the
    /// statements at `version`; `None` when it holds more entities than ordinals can count
    /// (2^32). CPU-bound: run it on a blocking thread.
    ///
    /// # Errors
    /// [`Error::Parquet`], [`Error::Arrow`] encoding.
    pub fn finish(self, version: u64, export: &str) -> Result<Option<IndexFiles>> {
        if self.ends.len() > u32::MAX as usize {
            return Ok(None);
        }
        let stamp = Stamp {
            format: FORMAT,
            version,
            export: export.to_string(),
            export_size: self.ends.last().copied().unwrap_or(0),
            build: uuid::Uuid::now_v7().simple().to_string(),
        };
        let schema = postings_schema();
        let mut writer =
            ArrowWriter::try_new(Vec::new(), schema.clone(), Some(writer_properties(&stamp, POSTING_GROUP_ROWS)))?;
        let (mut keys, mut entities) = (Vec::with_capacity(POSTING_GROUP_ROWS), Vec::with_capacity(POSTING_GROUP_ROWS));
        let mut flush = |keys: &mut Vec<i64>, entities: &mut Vec<u32>| -> Result<()> {
            let columns: Vec<Arc<dyn deltalake::arrow::array::Array>> = vec![
                Arc::new(Int64Array::from(std::mem::take(keys))),
                Arc::new(UInt32Array::from(std::mem::take(entities))),
            ];
            writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
            Ok(())
        };
        for mut run in self.runs {
            run.sort_unstable();
            for [high, low, ordinal] in run {
                keys.push(((u64::from(high) << 32 | u64::from(low)) ^ (1 << 63)) as i64);
                entities.push(ordinal);
            }
            if keys.len() >= POSTING_GROUP_ROWS {
                flush(&mut keys, &mut entities)?;
            }
        }
        if !keys.is_empty() {
            flush(&mut keys, &mut entities)?;
        }
        let postings = writer.into_inner()?;
        let schema = lines_schema();
        let mut writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(writer_properties(&stamp, 1 << 20)))?;
        let ends = UInt64Array::from(self.ends);
        writer.write(&RecordBatch::try_new(schema, vec![Arc::new(ends)])?)?;
        Ok(Some(IndexFiles { postings, lines: writer.into_inner()? }))
    }
}

/// An index that serves the version a read is at.
pub struct EntityIndex {
    store: Arc<dyn ObjectStore>,
    stamp: Stamp,
}

/// The stamp of an index file; `None` when the file is missing or has none.
async fn stamp_of(store: &Arc<dyn ObjectStore>, key: &str) -> Result<Option<(Stamp, Arc<ParquetMetaData>)>> {
    let path = Path::from(key);
    match store.head(&path).await {
        Ok(_) => {}
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let builder = ParquetRecordBatchStreamBuilder::new(ObjectFile::new(store.clone(), path)).await?;
    let metadata = builder.metadata().clone();
    let stamp = metadata
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|e| e.key == STAMP_KEY))
        .and_then(|e| e.value.as_deref())
        .and_then(|text| serde_json::from_str::<Stamp>(text).ok());
    Ok(stamp.map(|stamp| (stamp, metadata)))
}

impl EntityIndex {
    /// The index in the dataset whose root store is `store`, when both its files are there,
    /// were built together in this [`FORMAT`], and the export they point into has the size
    /// they recorded; `None` otherwise. Whether it serves a read depends on the version read
    /// ([`Stamp::version`]).
    ///
    /// # Errors
    /// [`Error::Storage`] reading; [`Error::Parquet`] for a file that is no Parquet.
    pub async fn open(store: Arc<dyn ObjectStore>) -> Result<Option<EntityIndex>> {
        let Some((stamp, _)) = stamp_of(&store, LINES).await? else { return Ok(None) };
        if stamp.format != FORMAT {
            return Ok(None);
        }
        let Some((postings, _)) = stamp_of(&store, POSTINGS).await? else { return Ok(None) };
        if postings != stamp {
            return Ok(None);
        }
        let size = match store.head(&Path::from(stamp.export.as_str())).await {
            Ok(meta) => meta.size,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok((size == stamp.export_size).then_some(EntityIndex { store, stamp }))
    }

    /// The stamp the index was built with.
    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }

    /// The ordinals of the entities each of `keys` maps to, sorted, in the order of `keys`.
    /// Reads the row groups whose key statistics hold one of them.
    ///
    /// # Errors
    /// [`Error::Storage`], [`Error::Parquet`] reading; [`Error::Corrupt`] for a file of
    /// another layout.
    pub async fn postings(&self, keys: &[Key<'_>]) -> Result<Vec<Vec<u32>>> {
        let mut text = Vec::new();
        let hashes: Vec<i64> = keys.iter().map(|key| key.hash(&mut text)).collect();
        let mut found = vec![Vec::new(); keys.len()];
        let file = ObjectFile::new(self.store.clone(), Path::from(POSTINGS));
        let builder = ParquetRecordBatchStreamBuilder::new(file).await?;
        let groups: Vec<usize> = builder
            .metadata()
            .row_groups()
            .iter()
            .enumerate()
            .filter(|(_, group)| match group.column(0).statistics() {
                Some(Statistics::Int64(s)) => match (s.min_opt(), s.max_opt()) {
                    (Some(min), Some(max)) => hashes.iter().any(|h| min <= h && h <= max),
                    _ => true,
                },
                _ => true,
            })
            .map(|(i, _)| i)
            .collect();
        if groups.is_empty() {
            return Ok(found);
        }
        let corrupt = || Error::Corrupt(format!("{POSTINGS}: not (key Int64, entity UInt32)"));
        let mut batches = builder.with_row_groups(groups).with_batch_size(POSTING_GROUP_ROWS).build()?;
        while let Some(batch) = batches.try_next().await? {
            let (Some(stored), Some(entities)) = (
                batch.column(0).as_primitive_opt::<Int64Type>(),
                batch.columns().get(1).and_then(|c| c.as_primitive_opt::<UInt32Type>()),
            ) else {
                return Err(corrupt());
            };
            let stored = stored.values();
            for (hash, out) in hashes.iter().zip(found.iter_mut()) {
                let start = stored.partition_point(|k| k < hash);
                let end = start + stored[start..].partition_point(|k| k == hash);
                out.extend_from_slice(&entities.values()[start..end]);
            }
        }
        for list in &mut found {
            list.sort_unstable();
            list.dedup();
        }
        Ok(found)
    }

    /// The lines of the entities `ordinals` (sorted) in the export, in that order; entities
    /// without a line are left out.
    ///
    /// # Errors
    /// As [`EntityIndex::postings`]; [`Error::Corrupt`] for an ordinal past the index.
    pub async fn lines(&self, ordinals: &[u32]) -> Result<ExportLines> {
        let file = ObjectFile::new(self.store.clone(), Path::from(LINES));
        let mut batches = ParquetRecordBatchStreamBuilder::new(file).await?.with_batch_size(1 << 20).build()?;
        let mut ends: Vec<u64> = Vec::new();
        while let Some(batch) = batches.try_next().await? {
            let column = batch
                .column(0)
                .as_primitive_opt::<UInt64Type>()
                .ok_or_else(|| Error::Corrupt(format!("{LINES}: not (end UInt64)")))?;
            ends.extend_from_slice(column.values());
        }
        let mut ranges = VecDeque::with_capacity(ordinals.len());
        for &ordinal in ordinals {
            let i = ordinal as usize;
            let end = *ends.get(i).ok_or_else(|| Error::Corrupt(format!("{POSTINGS}: entity {i} past {LINES}")))?;
            let start = if i == 0 { 0 } else { ends[i - 1] };
            if start < end {
                ranges.push_back(start..end);
            }
        }
        Ok(ExportLines { store: self.store.clone(), path: Path::from(self.stamp.export.as_str()), ranges })
    }
}

/// Lines of an export, fetched 1,024 at a time with ranged reads.
pub struct ExportLines {
    store: Arc<dyn ObjectStore>,
    path: Path,
    ranges: VecDeque<Range<u64>>,
}

impl ExportLines {
    /// Lines left to fetch.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether every line was fetched.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Appends the next lines (each a JSON object and its newline) to `out`; `false` after the
    /// last.
    ///
    /// # Errors
    /// [`Error::Storage`] reading; [`Error::Corrupt`] when a range is not one line (the export
    /// changed under the index).
    pub async fn next(&mut self, out: &mut Vec<u8>) -> Result<bool> {
        if self.ranges.is_empty() {
            return Ok(false);
        }
        let take = self.ranges.len().min(LINES_PER_READ);
        let wanted: Vec<Range<u64>> = self.ranges.drain(..take).collect();
        // Neighbouring lines are one read.
        let mut reads: Vec<Range<u64>> = Vec::with_capacity(wanted.len());
        for range in &wanted {
            match reads.last_mut() {
                Some(last) if last.end == range.start => last.end = range.end,
                _ => reads.push(range.clone()),
            }
        }
        for bytes in self.store.get_ranges(&self.path, &reads).await? {
            let whole = bytes.first() == Some(&b'{') && bytes.last() == Some(&b'\n');
            if !whole {
                return Err(Error::Corrupt(format!("{}: changed under its entity index", self.path)));
            }
            out.extend_from_slice(&bytes);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;
    use object_store::{ObjectStoreExt, PutPayload};

    use super::*;

    /// An index over three entities (the second without a line) and its export, in memory.
    async fn three() -> Arc<dyn ObjectStore> {
        let lines = ["{\"id\":\"a\"}\n", "{\"id\":\"c\"}\n"];
        let mut builder = IndexBuilder::default();
        let a = [("Person", "id", "x"), ("Person", "country", "de"), ("Person", "country", "de")];
        builder.add(a, lines[0].len() as u64);
        builder.add([("Person", "country", "de"), ("Company", "country", "fr")], lines[0].len() as u64);
        builder.add([("Company", "country", "fr"), ("Company", "name", "C")], (lines[0].len() + lines[1].len()) as u64);
        let files = builder.finish(7, "entities.ftm.json").unwrap().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        store.put(&Path::from(POSTINGS), PutPayload::from(files.postings)).await.unwrap();
        store.put(&Path::from(LINES), PutPayload::from(files.lines)).await.unwrap();
        store.put(&Path::from("entities.ftm.json"), PutPayload::from(lines.concat().into_bytes())).await.unwrap();
        store
    }

    #[tokio::test]
    async fn postings_and_lines_of_keys() {
        let store = three().await;
        let index = EntityIndex::open(store.clone()).await.unwrap().expect("an index");
        assert_eq!(index.stamp().version, 7);
        let keys = [
            Key::Schema("Person"),
            Key::Property("country", "de"),
            Key::Property("country", "fr"),
            Key::Schema("Company"),
            Key::Property("id", "x"),
            Key::Property("country", "uk"),
        ];
        let found = index.postings(&keys).await.unwrap();
        assert_eq!(found, vec![vec![0, 1], vec![0, 1], vec![1, 2], vec![1, 2], vec![], vec![]]);
        let mut lines = index.lines(&[0, 1, 2]).await.unwrap();
        assert_eq!(lines.len(), 2, "the second entity has no line");
        let mut out = Vec::new();
        while lines.next(&mut out).await.unwrap() {}
        assert_eq!(out, b"{\"id\":\"a\"}\n{\"id\":\"c\"}\n");
    }

    #[tokio::test]
    async fn an_index_without_its_export_is_not_served() {
        let store = three().await;
        store.put(&Path::from("entities.ftm.json"), PutPayload::from_static(b"{}\n")).await.unwrap();
        assert!(EntityIndex::open(store.clone()).await.unwrap().is_none(), "a rewritten export");
        store.delete(&Path::from("entities.ftm.json")).await.unwrap();
        assert!(EntityIndex::open(store.clone()).await.unwrap().is_none(), "no export");
        let empty: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        assert!(EntityIndex::open(empty).await.unwrap().is_none(), "no index");
    }

    #[tokio::test]
    async fn a_misaligned_export_is_an_error() {
        let store = three().await;
        let index = EntityIndex::open(store.clone()).await.unwrap().unwrap();
        // Same size, other content: the ranges no longer cut whole lines.
        store
            .put(&Path::from("entities.ftm.json"), PutPayload::from_static(b"x{\"id\":\"a\"\n{\"id\":\"c\"}\n"))
            .await
            .unwrap();
        let mut lines = index.lines(&[0, 2]).await.unwrap();
        let error = lines.next(&mut Vec::new()).await.unwrap_err();
        assert!(error.to_string().contains("changed under its entity index"), "{error}");
    }

    #[test]
    fn many_postings_span_row_groups_in_key_order() {
        let mut builder = IndexBuilder::default();
        let values: Vec<String> = (0..40_000).map(|i| format!("v{i}")).collect();
        for (i, value) in values.iter().enumerate() {
            builder.add([("Thing", "name", value.as_str())], i as u64 + 1);
        }
        let files = builder.finish(1, "entities.ftm.json").unwrap().unwrap();
        let reader = deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            bytes::Bytes::from(files.postings),
        )
        .unwrap()
        .build()
        .unwrap();
        let mut keys = Vec::new();
        for batch in reader {
            keys.extend_from_slice(batch.unwrap().column(0).as_primitive::<Int64Type>().values());
        }
        assert_eq!(keys.len(), 80_000, "a schema and a name key per entity");
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "sorted by the signed key");
    }
}
