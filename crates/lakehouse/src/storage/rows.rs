//! Statement rows in the table's column form (spec `storage-format.md` §2.1, §3.4).
//!
//! * [`StatementRows`] is the buffer a bulk import explodes entities into and an append writes
//!   from: each field is appended to its Arrow column as the row arrives, so a batch of rows
//!   costs a few growing buffers instead of a dozen heap strings per statement, and sorting a
//!   batch moves indices, not statements;
//! * [`pack`] holds the packing rules every stored row follows: a missing origin is `default`,
//!   an empty role none, missing times are filled, a tombstone's `last_seen` is its
//!   `deleted_at`;
//! * [`from_batch`] reads rows of table or file columns back as [`Statement`]s.

use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use deltalake::arrow::compute::{cast, concat_batches};
use deltalake::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use ftm::Statement;
use ftm::time::Timestamp;

use super::table_schema::file_schema;
use crate::error::{Error, Result};
use crate::model::{origin::DEFAULT_ORIGIN, validate_origin};

/// One statement's fields, borrowed. `origin` `None` is the default origin.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowRef<'a> {
    /// The statement id, 40 lowercase hex chars ([`ftm::make_key`]).
    pub id: &'a str,
    /// The entity id, namespace stripped.
    pub entity_id: &'a str,
    /// The lakehouse dataset the id is keyed under.
    pub dataset: &'a str,
    /// FtM schema name of the entity.
    pub schema: &'a str,
    /// Property name, or `id` for the checksum statement.
    pub prop: &'a str,
    /// FtM type name of the property, `id` for the checksum statement.
    pub prop_type: &'a str,
    /// The value, verbatim.
    pub value: &'a str,
    /// The value before cleaning; `None` when equal to `value`.
    pub original_value: Option<&'a str>,
    /// Language of the value, if any.
    pub lang: Option<&'a str>,
    /// FtM's `external` flag.
    pub external: bool,
    /// UTC microseconds, as the table stores times; `None` until packed (see [`pack`]).
    pub first_seen: Option<i64>,
    /// UTC microseconds; `None` until packed.
    pub last_seen: Option<i64>,
    /// Provenance label, the third partition value (spec `storage-format.md` §2.5).
    pub origin: Option<&'a str>,
    /// `""` for none; rows of one fragment supersede each other in a merge.
    pub fragment: &'a str,
    /// Role of the writer; `None` or `""` for none (stored as null).
    pub role: Option<&'a str>,
    /// UTC microseconds; set on tombstones.
    pub deleted_at: Option<i64>,
    /// Always `None` from the reference 0.9.0.
    pub source: Option<&'a str>,
}

impl<'a> From<&'a Statement> for RowRef<'a> {
    fn from(s: &'a Statement) -> RowRef<'a> {
        RowRef {
            id: &s.id,
            entity_id: &s.entity_id,
            dataset: &s.dataset,
            schema: &s.schema,
            prop: &s.prop,
            prop_type: &s.prop_type,
            value: &s.value,
            original_value: s.original_value.as_deref(),
            lang: s.lang.as_deref(),
            external: s.external,
            first_seen: s.first_seen.map(|t| t.timestamp_micros()),
            last_seen: s.last_seen.map(|t| t.timestamp_micros()),
            origin: s.origin.as_deref(),
            fragment: &s.fragment,
            role: s.role.as_deref(),
            deleted_at: s.deleted_at.map(|t| t.timestamp_micros()),
            source: s.source.as_deref(),
        }
    }
}

impl RowRef<'_> {
    /// The row as an owned statement; `canonical_id` is the entity id.
    pub fn to_statement(&self) -> Statement {
        let text = |t: Option<&str>| t.map(str::to_string);
        let time = |micros: Option<i64>| micros.and_then(Timestamp::from_timestamp_micros);
        Statement {
            id: self.id.to_string(),
            entity_id: self.entity_id.to_string(),
            canonical_id: self.entity_id.to_string(),
            prop: self.prop.to_string(),
            prop_type: self.prop_type.to_string(),
            schema: self.schema.to_string(),
            value: self.value.to_string(),
            dataset: self.dataset.to_string(),
            lang: text(self.lang),
            original_value: text(self.original_value),
            external: self.external,
            first_seen: time(self.first_seen),
            last_seen: time(self.last_seen),
            origin: text(self.origin),
            fragment: self.fragment.to_string(),
            role: text(self.role),
            deleted_at: time(self.deleted_at),
            source: text(self.source),
        }
    }
}

/// The string columns of a data file that [`StatementRows`] builds, in file order minus the
/// boolean and time columns.
#[derive(Debug, Default)]
struct Strings {
    id: StringBuilder,
    entity_id: StringBuilder,
    dataset: StringBuilder,
    source: StringBuilder,
    schema: StringBuilder,
    prop: StringBuilder,
    prop_type: StringBuilder,
    value: StringBuilder,
    original_value: StringBuilder,
    lang: StringBuilder,
    fragment: StringBuilder,
    role: StringBuilder,
}

/// A growing batch of statements in data-file columns, with each row's origin (a partition
/// value, not a file column) kept beside them.
#[derive(Debug, Default)]
pub struct StatementRows {
    strings: Strings,
    external: BooleanBuilder,
    /// UTC microseconds; `None` until [`StatementRows::finish`] fills it.
    first_seen: Vec<Option<i64>>,
    last_seen: Vec<Option<i64>>,
    deleted_at: Vec<Option<i64>>,
    /// The distinct origins, in first-seen order, and each row's index into them.
    origins: Vec<String>,
    origin: Vec<u32>,
}

/// A finished [`StatementRows`]: the 16 data-file columns and each row's origin.
#[derive(Debug, Clone)]
pub struct FileRows {
    /// The rows in the data-file columns of [`file_schema`], in push order.
    pub batch: RecordBatch,
    /// The distinct origins; `origin[i]` indexes them for row `i`.
    pub origins: Vec<String>,
    /// Each row's index into `origins`.
    pub origin: Vec<u32>,
}

impl FileRows {
    /// Rows held.
    pub fn len(&self) -> usize {
        self.origin.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.origin.is_empty()
    }

    /// The rows of `self` followed by those of `other`, in buffers of their exact size.
    ///
    /// # Errors
    /// [`Error::Arrow`] if the two batches' schemas differ.
    pub fn concat(&self, other: &FileRows) -> Result<FileRows> {
        let batch = concat_batches(&self.batch.schema(), [&self.batch, &other.batch])?;
        let mut origins = self.origins.clone();
        let remap: Vec<u32> = other
            .origins
            .iter()
            .map(|o| {
                let index = origins.iter().position(|known| known == o).unwrap_or_else(|| {
                    origins.push(o.clone());
                    origins.len() - 1
                });
                u32::try_from(index).expect("fewer than 2^32 origins")
            })
            .collect();
        let mut origin = self.origin.clone();
        origin.extend(other.origin.iter().map(|&i| remap[i as usize]));
        Ok(FileRows { batch, origins, origin })
    }

    /// Row `i` (below [`FileRows::len`]), borrowed, with its origin.
    pub fn row(&self, i: usize) -> RowRef<'_> {
        // Columns by position, in the order `StatementRows::finish` builds them.
        let text = |at: usize| {
            let column = self.batch.column(at).as_string::<i32>();
            column.is_valid(i).then(|| column.value(i))
        };
        let time = |at: usize| {
            let column = self.batch.column(at).as_primitive::<TimestampMicrosecondType>();
            column.is_valid(i).then(|| column.value(i))
        };
        RowRef {
            id: text(0).unwrap_or_default(),
            entity_id: text(1).unwrap_or_default(),
            dataset: text(2).unwrap_or_default(),
            source: text(3),
            schema: text(4).unwrap_or_default(),
            prop: text(5).unwrap_or_default(),
            prop_type: text(6).unwrap_or_default(),
            value: text(7).unwrap_or_default(),
            original_value: text(8),
            lang: text(9),
            external: self.batch.column(10).as_boolean().value(i),
            first_seen: time(11),
            last_seen: time(12),
            fragment: text(13).unwrap_or_default(),
            role: text(14),
            deleted_at: time(15),
            origin: Some(&self.origins[self.origin[i] as usize]),
        }
    }
}

impl StatementRows {
    /// An empty batch with room for `rows` rows; string bytes grow as they come. (`default()`
    /// reserves for 1,024 rows per column, which a batch keeps when finished.)
    pub fn with_capacity(rows: usize) -> StatementRows {
        let string = || StringBuilder::with_capacity(rows, 0);
        StatementRows {
            strings: Strings {
                id: string(),
                entity_id: string(),
                dataset: string(),
                source: string(),
                schema: string(),
                prop: string(),
                prop_type: string(),
                value: string(),
                original_value: string(),
                lang: string(),
                fragment: string(),
                role: string(),
            },
            external: BooleanBuilder::with_capacity(rows),
            first_seen: Vec::with_capacity(rows),
            last_seen: Vec::with_capacity(rows),
            deleted_at: Vec::with_capacity(rows),
            origins: Vec::new(),
            origin: Vec::with_capacity(rows),
        }
    }

    /// Rows buffered.
    pub fn len(&self) -> usize {
        self.origin.len()
    }

    /// Whether no row is buffered.
    pub fn is_empty(&self) -> bool {
        self.origin.is_empty()
    }

    /// Appends one row.
    ///
    /// # Errors
    /// [`Error::InvalidOrigin`] for an origin that cannot be a partition value; nothing is
    /// appended then.
    pub fn push(&mut self, row: RowRef<'_>) -> Result<()> {
        let origin = row.origin.unwrap_or(DEFAULT_ORIGIN);
        let index = match self.origins.iter().position(|o| o == origin) {
            Some(i) => i,
            None => {
                validate_origin(origin)?;
                self.origins.push(origin.to_string());
                self.origins.len() - 1
            }
        };
        self.origin.push(u32::try_from(index).expect("fewer than 2^32 origins"));
        let s = &mut self.strings;
        s.id.append_value(row.id);
        s.entity_id.append_value(row.entity_id);
        s.dataset.append_value(row.dataset);
        s.source.append_option(row.source);
        s.schema.append_value(row.schema);
        s.prop.append_value(row.prop);
        s.prop_type.append_value(row.prop_type);
        s.value.append_value(row.value);
        s.original_value.append_option(row.original_value);
        s.lang.append_option(row.lang);
        s.fragment.append_value(row.fragment);
        s.role.append_option(row.role.filter(|r| !r.is_empty()));
        self.external.append_value(row.external);
        self.first_seen.push(row.first_seen);
        self.last_seen.push(row.last_seen);
        self.deleted_at.push(row.deleted_at);
        Ok(())
    }

    /// Appends a statement.
    ///
    /// # Errors
    /// As [`StatementRows::push`].
    pub fn push_statement(&mut self, s: &Statement) -> Result<()> {
        self.push(RowRef::from(s))
    }

    /// The finished batch. Missing times become `now` under the packing rules; without `now`,
    /// a row missing `first_seen` or `last_seen` is an error.
    ///
    /// # Errors
    /// [`Error::Arrow`] for a missing time without `now`.
    pub fn finish(mut self, now: Option<Timestamp>) -> Result<FileRows> {
        let (mut first, mut last) = (Vec::with_capacity(self.len()), Vec::with_capacity(self.len()));
        for ((f, l), d) in self.first_seen.iter().zip(&self.last_seen).zip(&self.deleted_at) {
            let (f, l) = match now {
                Some(now) => {
                    let (f, l) = packed_times(*f, *l, *d, now.timestamp_micros());
                    (Some(f), Some(l))
                }
                None => (*f, *l),
            };
            first.push(f);
            last.push(l);
        }
        let time = |values: Vec<Option<i64>>| -> ArrayRef {
            Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
        };
        let s = &mut self.strings;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(s.id.finish()),
            Arc::new(s.entity_id.finish()),
            Arc::new(s.dataset.finish()),
            Arc::new(s.source.finish()),
            Arc::new(s.schema.finish()),
            Arc::new(s.prop.finish()),
            Arc::new(s.prop_type.finish()),
            Arc::new(s.value.finish()),
            Arc::new(s.original_value.finish()),
            Arc::new(s.lang.finish()),
            Arc::new(self.external.finish()),
            time(first),
            time(last),
            Arc::new(s.fragment.finish()),
            Arc::new(s.role.finish()),
            time(std::mem::take(&mut self.deleted_at)),
        ];
        let batch = RecordBatch::try_new(file_schema(), columns)?;
        Ok(FileRows { batch, origins: self.origins, origin: self.origin })
    }
}

/// A string column by name, cast from other string encodings; `None` when absent.
pub(crate) fn string_column(batch: &RecordBatch, name: &str) -> Result<Option<StringArray>> {
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
pub(crate) fn time_column(batch: &RecordBatch, name: &str) -> Result<Option<TimestampMicrosecondArray>> {
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

/// The timestamp at row `i` of `col`, `None` when null or absent.
pub(crate) fn get_time(col: Option<&TimestampMicrosecondArray>, i: usize) -> Option<Timestamp> {
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
/// [`Error::InvalidOrigin`] for an origin that cannot be a partition value.
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

/// Builds a data-file batch (the 16 columns of [`file_schema`]; the partition values live in
/// the file's folder and log entry), for tests that write files by hand. Every statement must
/// have both timestamps.
///
/// # Errors
/// [`Error::Arrow`](crate::error::Error::Arrow) if a statement lacks `first_seen` or `last_seen`;
/// [`Error::InvalidOrigin`](crate::error::Error::InvalidOrigin).
#[cfg(test)]
pub(crate) fn to_file_batch<S: std::borrow::Borrow<Statement>>(rows: &[S]) -> Result<RecordBatch> {
    let mut out = StatementRows::default();
    for s in rows {
        out.push_statement(s.borrow())?;
    }
    Ok(out.finish(None)?.batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftm::time::parse_iso;

    #[test]
    fn rows_pack_and_keep_their_origins() {
        let now = parse_iso("2024-06-01").unwrap();
        let mut rows = StatementRows::default();
        let mut s = Statement::new("ds", "e1", "Person", "name", "name", "A");
        s.role = Some(String::new());
        rows.push_statement(&s).unwrap();
        s.origin = Some("crawl".into());
        s.last_seen = parse_iso("2024-01-01");
        s.first_seen = parse_iso("2024-02-01");
        rows.push_statement(&s).unwrap();
        s.origin = Some("../x".into());
        let result = rows.push_statement(&s);
        assert!(matches!(&result, Err(Error::InvalidOrigin { origin, .. }) if origin == "../x"), "{result:?}");
        assert_eq!(rows.len(), 2, "a refused row is not kept");
        let done = rows.finish(Some(now)).unwrap();
        assert_eq!(done.origins, ["default", "crawl"]);
        assert_eq!(done.origin, [0, 1]);
        let read = from_batch(&done.batch).unwrap();
        assert_eq!((read[0].first_seen, read[0].last_seen, read[0].role.as_deref()), (Some(now), Some(now), None));
        assert_eq!(read[1].first_seen, parse_iso("2024-01-01"), "first_seen clamped to last_seen");
        assert_eq!(done.batch.column(3).null_count(), 2, "no source");
        assert_eq!(done.batch.column(0).as_string::<i32>().value(0), s.id);
    }

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
        let result = pack(&mut bad, now);
        assert!(matches!(&result, Err(Error::InvalidOrigin { origin, .. }) if origin == "../x"), "{result:?}");
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
        let err = to_file_batch(&[unseen]).unwrap_err();
        assert!(matches!(&err, Error::Arrow(e) if e.to_string().contains("first_seen")), "{err:?}");
    }

    #[test]
    fn missing_optional_columns_read_as_null() {
        let batch = to_file_batch::<Statement>(&[]).unwrap();
        let projected = batch.project(&[0, 1, 4, 5, 7]).unwrap();
        assert!(from_batch(&projected).unwrap().is_empty());
        let no_prop = batch.project(&[0, 1, 4]).unwrap();
        assert!(matches!(from_batch(&no_prop), Err(Error::Corrupt(_))));
    }
}
