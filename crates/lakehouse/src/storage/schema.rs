//! The statement table's Arrow schema, row conversion and parquet writer profiles (spec
//! `storage-format.md` §2.1, §2.2, §2.7).
//!
//! The Delta table has 19 columns; data files hold the 16 non-partition ones. Strings are
//! `Utf8`, `external` is `Boolean`, timestamps are `Timestamp(Microsecond, "UTC")`.

use std::sync::{Arc, LazyLock};

use deltalake::arrow::array::{Array, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{
    DataType, Field, Schema as ArrowSchema, SchemaRef, TimeUnit, TimestampMicrosecondType,
};
use deltalake::parquet::basic::{Compression, Encoding, ZstdLevel};
use deltalake::parquet::file::properties::WriterVersion;
use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::parquet::schema::types::ColumnPath;
use ftm::Statement;
use ftm::time::Timestamp;

use crate::error::{Error, Result};
use crate::model::{origin::DEFAULT_ORIGIN, validate_origin};

/// Partition columns, in nesting order.
pub const PARTITION_COLUMNS: [&str; 3] = ["shard", "bucket", "origin"];

#[derive(Clone, Copy)]
enum Kind {
    Utf8,
    Bool,
    Time,
}

/// `(name, kind, nullable)` of every table column, in table order.
const COLUMNS: [(&str, Kind, bool); 19] = [
    ("shard", Kind::Utf8, false),
    ("id", Kind::Utf8, false),
    ("entity_id", Kind::Utf8, false),
    ("dataset", Kind::Utf8, false),
    ("bucket", Kind::Utf8, false),
    ("origin", Kind::Utf8, false),
    ("source", Kind::Utf8, true),
    ("schema", Kind::Utf8, false),
    ("prop", Kind::Utf8, false),
    ("prop_type", Kind::Utf8, true),
    ("value", Kind::Utf8, false),
    ("original_value", Kind::Utf8, true),
    ("lang", Kind::Utf8, true),
    ("external", Kind::Bool, false),
    ("first_seen", Kind::Time, false),
    ("last_seen", Kind::Time, false),
    ("fragment", Kind::Utf8, false),
    ("role", Kind::Utf8, true),
    ("deleted_at", Kind::Time, true),
];

fn field((name, kind, nullable): (&str, Kind, bool)) -> Field {
    let data_type = match kind {
        Kind::Utf8 => DataType::Utf8,
        Kind::Bool => DataType::Boolean,
        Kind::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    };
    Field::new(name, data_type, nullable)
}

/// The 19-column table schema, partition columns included.
pub fn table_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> =
        LazyLock::new(|| Arc::new(ArrowSchema::new(COLUMNS.into_iter().map(field).collect::<Vec<_>>())));
    SCHEMA.clone()
}

/// The 16-column schema of data files: the table schema without the partition columns.
pub fn file_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let table = table_schema();
        let fields: Vec<Field> = table
            .fields()
            .iter()
            .filter(|f| !PARTITION_COLUMNS.contains(&f.name().as_str()))
            .map(|f| f.as_ref().clone())
            .collect();
        Arc::new(ArrowSchema::new(fields))
    });
    SCHEMA.clone()
}

fn string_column(batch: &RecordBatch, name: &str) -> Result<Option<StringArray>> {
    let Some(col) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let utf8 = if col.data_type() == &DataType::Utf8 { col.clone() } else { cast(col, &DataType::Utf8)? };
    utf8.as_string_opt::<i32>()
        .cloned()
        .map(Some)
        .ok_or_else(|| Error::Corrupt(format!("column `{name}` is {} instead of a string", col.data_type())))
}

/// A timestamp column as UTC microseconds, cast from other units or zones.
fn time_column(batch: &RecordBatch, name: &str) -> Result<Option<TimestampMicrosecondArray>> {
    let Some(col) = batch.column_by_name(name) else {
        return Ok(None);
    };
    let target = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let micros = if col.data_type() == &target { col.clone() } else { cast(col, &target)? };
    micros
        .as_primitive_opt::<TimestampMicrosecondType>()
        .cloned()
        .map(Some)
        .ok_or_else(|| Error::Corrupt(format!("column `{name}` is {} instead of a timestamp", col.data_type())))
}

fn get_str(col: Option<&StringArray>, i: usize) -> Option<String> {
    col.filter(|c| c.is_valid(i)).map(|c| c.value(i).to_string())
}

fn get_time(col: Option<&TimestampMicrosecondArray>, i: usize) -> Option<Timestamp> {
    col.filter(|c| c.is_valid(i)).and_then(|c| Timestamp::from_timestamp_micros(c.value(i)))
}

/// Reads statements from a batch of table or file columns, by name. A missing column reads as
/// null (files written before it existed), a null `fragment` as `""`; `canonical_id` is the
/// entity id. Partition columns other than `origin` are ignored.
///
/// # Errors
/// [`Error::Corrupt`] if a column has an unexpected type or a required one is missing.
pub fn from_batch(batch: &RecordBatch) -> Result<Vec<Statement>> {
    let required =
        |name: &str| string_column(batch, name)?.ok_or_else(|| Error::Corrupt(format!("column `{name}` is missing")));
    let (id, entity_id, prop, value) = (required("id")?, required("entity_id")?, required("prop")?, required("value")?);
    let (dataset, schema) = (string_column(batch, "dataset")?, required("schema")?);
    let optional = |name: &str| string_column(batch, name);
    let (origin, source, prop_type) = (optional("origin")?, optional("source")?, optional("prop_type")?);
    let (original_value, lang) = (optional("original_value")?, optional("lang")?);
    let (fragment, role) = (optional("fragment")?, optional("role")?);
    let external = batch.column_by_name("external").and_then(|c| c.as_boolean_opt().cloned());
    let time = |name: &str| time_column(batch, name);
    let (first_seen, last_seen, deleted_at) = (time("first_seen")?, time("last_seen")?, time("deleted_at")?);
    let (dataset, origin, source, prop_type) = (dataset.as_ref(), origin.as_ref(), source.as_ref(), prop_type.as_ref());
    let (original_value, lang, fragment, role) =
        (original_value.as_ref(), lang.as_ref(), fragment.as_ref(), role.as_ref());
    let (first_seen, last_seen, deleted_at) = (first_seen.as_ref(), last_seen.as_ref(), deleted_at.as_ref());
    let mut out = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let entity = entity_id.value(i).to_string();
        out.push(Statement {
            id: id.value(i).to_string(),
            canonical_id: entity.clone(),
            entity_id: entity,
            prop: prop.value(i).to_string(),
            prop_type: get_str(prop_type, i).unwrap_or_default(),
            schema: schema.value(i).to_string(),
            value: value.value(i).to_string(),
            dataset: get_str(dataset, i).unwrap_or_default(),
            lang: get_str(lang, i),
            original_value: get_str(original_value, i),
            external: external.as_ref().is_some_and(|c| c.is_valid(i) && c.value(i)),
            first_seen: get_time(first_seen, i),
            last_seen: get_time(last_seen, i),
            origin: get_str(origin, i),
            fragment: get_str(fragment, i).unwrap_or_default(),
            role: get_str(role, i),
            deleted_at: get_time(deleted_at, i),
            source: get_str(source, i),
        });
    }
    Ok(out)
}

/// Fills the columns the table and the journal require, as the reference packs rows (spec
/// `storage-format.md` §3.4 steps 3–5): a missing origin becomes `default`, missing
/// `first_seen`/`last_seen` become `now`, a tombstone's `last_seen` is raised to its
/// `deleted_at`, `first_seen` is clamped to `last_seen`, an empty role becomes none.
///
/// # Errors
/// [`Error::InvalidOrigin`](crate::Error::InvalidOrigin) for an origin that cannot be a partition value.
pub fn pack(statements: &mut [Statement], now: Timestamp) -> Result<()> {
    let micros = |t: Option<Timestamp>| t.map(|t| t.timestamp_micros());
    let time = |micros: i64| Timestamp::from_timestamp_micros(micros).expect("a time read from a timestamp");
    for s in statements {
        let origin = s.origin.get_or_insert_with(|| DEFAULT_ORIGIN.to_string());
        validate_origin(origin)?;
        let (first, last) =
            packed_times(micros(s.first_seen), micros(s.last_seen), micros(s.deleted_at), now.timestamp_micros());
        (s.first_seen, s.last_seen) = (Some(time(first)), Some(time(last)));
        if s.role.as_deref() == Some("") {
            s.role = None;
        }
    }
    Ok(())
}

/// The packing rule for a row's times, in UTC microseconds: `(first_seen, last_seen)` given the
/// row's `first_seen`, `last_seen` and `deleted_at` (see [`pack`]).
pub fn packed_times(first: Option<i64>, last: Option<i64>, deleted: Option<i64>, now: i64) -> (i64, i64) {
    let last = last.unwrap_or(now);
    let last = deleted.map_or(last, |d| d.max(last));
    (first.unwrap_or(now).min(last), last)
}

/// Columns written without a dictionary. Those whose values are (nearly) all distinct (`id`,
/// `entity_id`, `value`, `original_value`): a dictionary would only fill up and fall back to
/// plain encoding after costing a hash insert per value (DuckDB, the reference's merge writer,
/// likewise picks dictionaries per column). And those that hold a handful of values nobody
/// filters on (`dataset`, `source`, `prop_type`, `lang`, `fragment`, `role`): zstd packs their
/// repeats as well, and the dictionary's hash insert per value cost a tenth of a merge (1M
/// entities: 4.2 s → 3.9 s, files 1.3% larger). The same holds for the timestamps
/// (`first_seen`, `last_seen`, `deleted_at`): 1% fewer instructions for a 100k-entity `make`,
/// files 0.6% larger. `schema` and `prop`, which reads filter on, keep theirs.
const PLAIN_COLUMNS: [&str; 13] = [
    "id",
    "entity_id",
    "value",
    "original_value",
    "dataset",
    "source",
    "prop_type",
    "lang",
    "fragment",
    "role",
    "first_seen",
    "last_seen",
    "deleted_at",
];

/// Data page size of appended files outside the full-text buckets, bytes (the reference: 2 MiB).
/// A merge reads all of a partition's appended files side by side, holding one decompressed
/// page of each column of each file: with 25 files (an import of 1M entities), pages of 2 MiB
/// held 680 MiB at the top of a `make`, pages of 64 KiB 513 MiB, and each page is decoded while
/// it is still in the core's cache. The files grow by 4%, and live only until the merge.
const APPENDED_PAGE_BYTES: usize = 64 << 10;

/// Parquet writer settings for appends to a bucket: row groups of 1,000,000 rows for `thing`,
/// `interval` and `mention`, 10,000 for the full-text buckets `document` and `page` (the
/// reference's SMALL and LARGE profiles, spec §2.7).
///
/// Appended files live only until the next merge, so they carry no bloom filters; see
/// [`merge_writer_properties`] for what else differs from the reference's profiles.
pub fn writer_properties(large: bool) -> WriterProperties {
    profile(large, if large { 10_000 } else { 1_000_000 }, false)
}

/// Parquet writer settings for merged files, which stay: the bucket's profile with
/// the row groups the reference's merge writes (100,000 rows; 10,000 for `document` and `page`)
/// and bloom filters (fpp 0.01) on `prop`, `fragment` and, outside the full-text buckets, `value`.
///
/// Five choices differ from the reference's profiles (spec §2.7), all invisible to readers
/// (measured on 6.1M statements, see the README):
/// - data pages of format 2 (`DataPageV2`, file format 2.6), with the encodings of format 1
///   (`PLAIN` where no dictionary is kept): parquet-rs compresses a version 2 page's values
///   straight from the encoder's buffer, where a version 1 page is first copied whole, and
///   its compression buffer grown once more (100k-entity `make`: 6.09G → 5.96G instructions;
///   files within 0.01% of the size). DuckDB (the reference's reader), delta-rs and pyarrow
///   read them;
/// - zstd level 1 instead of 3: files within 1% of the size, a sixth less encoding time;
/// - no dictionary for [`PLAIN_COLUMNS`]: less time, about the same size;
/// - `id` in `DELTA_LENGTH_BYTE_ARRAY` encoding (lengths first, then the values' bytes) instead
///   of `PLAIN`: 9% fewer instructions for a 100k-entity `make`, files 4% smaller;
/// - statistics only where rows are clustered, so that they can prune: page-level on
///   `entity_id` (the sort key; a column index for point lookups), chunk-level on `first_seen`
///   and `last_seen`. Min/max on the other columns, whose values mix in every row group, cost a
///   seventh of the encoding time and skip nothing.
pub fn merge_writer_properties(large: bool) -> WriterProperties {
    profile(large, if large { 10_000 } else { 100_000 }, true)
}

fn profile(large: bool, row_group_rows: usize, bloom: bool) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_encoding(Encoding::PLAIN)
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("zstd level 1")))
        .set_data_page_size_limit(match (large, bloom) {
            (true, _) => 16 << 20,
            (false, true) => 2 << 20,
            (false, false) => APPENDED_PAGE_BYTES,
        })
        .set_dictionary_page_size_limit(1 << 20)
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from("entity_id"), EnabledStatistics::Page);
    for name in ["first_seen", "last_seen"] {
        builder = builder.set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::Chunk);
    }
    for name in PLAIN_COLUMNS {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(name), false);
    }
    // The lengths of `id`'s values apart from its bytes: zstd then sees SHA-1 hex alone, which
    // it packs a third faster and a little smaller than with a length before every id.
    builder = builder.set_column_encoding(ColumnPath::from("id"), Encoding::DELTA_LENGTH_BYTE_ARRAY);
    let bloom_columns: &[&str] = match (bloom, large) {
        (false, _) => &[],
        (true, false) => &["prop", "fragment", "value"],
        (true, true) => &["prop", "fragment"],
    };
    for &name in bloom_columns {
        // Sized for a row group's rows, not parquet-rs's default of 2^20 distinct values: a
        // filter being filled takes 128 KiB instead of 2 MiB, and is folded down to the same
        // false-positive rate, and the same size, when its row group closes.
        builder = builder
            .set_column_bloom_filter_enabled(ColumnPath::from(name), true)
            .set_column_bloom_filter_fpp(ColumnPath::from(name), 0.01)
            .set_column_bloom_filter_max_ndv(ColumnPath::from(name), row_group_rows as u64);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::to_file_batch;
    use ftm::time::parse_iso;

    #[test]
    fn packing_rules() {
        let now = parse_iso("2024-06-01").unwrap();
        let mut fresh = Statement::new("ds", "e1", "Person", "name", "name", "A");
        fresh.role = Some(String::new());
        let mut tomb = fresh.clone();
        tomb.origin = Some("bulk".into());
        tomb.first_seen = parse_iso("2024-07-01");
        tomb.last_seen = parse_iso("2024-01-01");
        tomb.deleted_at = parse_iso("2024-03-01");
        let mut rows = vec![fresh, tomb];
        pack(&mut rows, now).unwrap();
        assert_eq!(rows[0].origin.as_deref(), Some("default"));
        assert_eq!((rows[0].first_seen, rows[0].last_seen), (Some(now), Some(now)));
        assert_eq!(rows[0].role, None);
        assert_eq!(rows[1].last_seen, parse_iso("2024-03-01"));
        assert_eq!(rows[1].first_seen, parse_iso("2024-03-01"), "clamped to last_seen");
        let mut bad = vec![Statement::new("ds", "e1", "Person", "name", "name", "A")];
        bad[0].origin = Some("../x".into());
        assert!(pack(&mut bad, now).is_err());
    }

    #[test]
    fn round_trip() {
        let mut s = Statement::new("ds", "e1", "Person", "name", "name", "Alice");
        s.origin = Some("bulk".into());
        s.first_seen = parse_iso("2024-01-01T00:00:00.000001Z");
        s.last_seen = parse_iso("2024-01-02");
        s.role = Some("analyst".into());
        let batch = to_file_batch(&[&s]).unwrap();
        assert_eq!(batch.schema().fields().len(), 16);
        let mut read = from_batch(&batch).unwrap();
        assert_eq!(read[0].origin, None, "the origin is a partition value, not a file column");
        read[0].origin.clone_from(&s.origin);
        assert_eq!(read, vec![s.clone()]);
        let mut unseen = s;
        unseen.first_seen = None;
        assert!(to_file_batch(&[unseen]).is_err());
    }

    #[test]
    fn missing_optional_columns_read_as_null() {
        let batch = to_file_batch::<Statement>(&[]).unwrap();
        let projected = batch.project(&[0, 1, 4, 5, 7]).unwrap();
        assert!(from_batch(&projected).unwrap().is_empty());
        let no_prop = batch.project(&[0, 1, 4]).unwrap();
        assert!(matches!(from_batch(&no_prop), Err(Error::Corrupt(_))));
    }

    #[test]
    fn writer_profiles() {
        let column = |name: &str| ColumnPath::from(name);
        let merged = merge_writer_properties(false);
        assert_eq!(merged.max_row_group_row_count(), Some(100_000));
        assert_eq!(merged.compression(&column("id")), Compression::ZSTD(ZstdLevel::try_new(1).unwrap()));
        assert!(!merged.dictionary_enabled(&column("id")) && !merged.dictionary_enabled(&column("value")));
        assert_eq!(merged.encoding(&column("id")), Some(Encoding::DELTA_LENGTH_BYTE_ARRAY));
        assert_eq!(merged.writer_version(), WriterVersion::PARQUET_2_0);
        assert_eq!(merged.encoding(&column("value")), Some(Encoding::PLAIN), "not the 2.0 default");
        assert_eq!(merged.encoding(&column("last_seen")), Some(Encoding::PLAIN));
        assert!(!merged.dictionary_enabled(&column("dataset")) && !merged.dictionary_enabled(&column("fragment")));
        assert!(merged.dictionary_enabled(&column("prop")) && merged.dictionary_enabled(&column("schema")));
        let bloom = merged.bloom_filter_properties(&column("value")).expect("bloom filter on value");
        assert_eq!((bloom.fpp(), bloom.ndv()), (0.01, 100_000), "sized for a row group");
        assert_eq!(merged.statistics_enabled(&column("entity_id")), EnabledStatistics::Page);
        assert_eq!(merged.statistics_enabled(&column("last_seen")), EnabledStatistics::Chunk);
        assert_eq!(merged.statistics_enabled(&column("value")), EnabledStatistics::None);
        let merged_text = merge_writer_properties(true);
        assert_eq!(merged_text.max_row_group_row_count(), Some(10_000));
        assert!(merged_text.bloom_filter_properties(&column("prop")).is_some());
        assert!(merged_text.bloom_filter_properties(&column("value")).is_none());
        let appended = writer_properties(false);
        assert_eq!(appended.max_row_group_row_count(), Some(1_000_000));
        assert!(appended.bloom_filter_properties(&column("prop")).is_none());
        assert_eq!(appended.data_page_size_limit(), APPENDED_PAGE_BYTES);
        assert_eq!(merge_writer_properties(false).data_page_size_limit(), 2 << 20, "the reference's SMALL pages");
        assert_eq!(writer_properties(true).data_page_size_limit(), 16 << 20, "the reference's LARGE pages");
        assert!(!appended.dictionary_enabled(&column("entity_id")));
    }
}
