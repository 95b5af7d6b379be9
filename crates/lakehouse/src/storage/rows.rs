//! Statements in data-file column form, built row by row (spec `storage-format.md` §2.1).
//!
//! [`StatementRows`] is the buffer a bulk import explodes entities into and an append writes
//! from: each field is appended to its Arrow column as the row arrives, so a batch of rows costs
//! a few growing buffers instead of a dozen heap strings per statement, and sorting a batch
//! moves indices, not statements. The packing rules of [`pack`](super::schema::pack) apply: a
//! missing origin is `default`, an empty role none, and missing times are filled when the batch
//! is finished.

use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, BooleanBuilder, RecordBatch, StringBuilder, TimestampMicrosecondArray};
use ftm::Statement;
use ftm::time::Timestamp;

use super::schema::{file_schema, packed_times};
use crate::error::Result;
use crate::model::{origin::DEFAULT_ORIGIN, validate_origin};

/// One statement's fields, borrowed. `origin` `None` is the default origin.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowRef<'a> {
    pub id: &'a str,
    pub entity_id: &'a str,
    pub dataset: &'a str,
    pub schema: &'a str,
    pub prop: &'a str,
    pub prop_type: &'a str,
    pub value: &'a str,
    pub original_value: Option<&'a str>,
    pub lang: Option<&'a str>,
    pub external: bool,
    /// UTC microseconds, as the table stores times.
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub origin: Option<&'a str>,
    pub fragment: &'a str,
    pub role: Option<&'a str>,
    pub deleted_at: Option<i64>,
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
    pub batch: RecordBatch,
    /// The distinct origins; `origin[i]` indexes them for row `i`.
    pub origins: Vec<String>,
    pub origin: Vec<u32>,
}

impl StatementRows {
    /// Rows buffered.
    pub fn len(&self) -> usize {
        self.origin.len()
    }

    pub fn is_empty(&self) -> bool {
        self.origin.is_empty()
    }

    /// Appends one row.
    ///
    /// # Errors
    /// [`Error::InvalidOrigin`](crate::Error::InvalidOrigin) for an origin that cannot be a
    /// partition value; nothing is appended then.
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
    /// [`Error::Arrow`](crate::Error::Arrow) for a missing time without `now`.
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

/// Builds a data-file batch (the 16 columns of [`file_schema`]; the partition values live in
/// the file's folder and log entry), for tests that write files by hand. Every statement must
/// have both timestamps.
///
/// # Errors
/// [`Error::Arrow`](crate::Error::Arrow) if a statement lacks `first_seen` or `last_seen`;
/// [`Error::InvalidOrigin`](crate::Error::InvalidOrigin).
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
    use crate::storage::schema::from_batch;
    use deltalake::arrow::array::{Array, AsArray};
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
        assert!(rows.push_statement(&s).is_err());
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
}
