//! Live statements as CSV, in two dialects:
//!
//! * [`CsvRows`]: `statements.csv`, the export (spec `exports-and-operations.md` §4, CSV dialect
//!   A of §2.4), also written by [`StatementStore::export_csv`];
//! * [`TableCsv`]: what `statements iterate` prints (spec `interfaces.md` §1.5).
//!
//! `statements.csv`: header `"id","entity_id","canonical_id","prop","prop_type","schema","value","original_value",
//! "dataset","origin","lang","external","first_seen","last_seen","fragment","role"`; strings
//! double-quoted with `""` escaping, nulls empty and unquoted, `external` as `true`/`false`,
//! timestamps in Python ISO form, `\n` line ends. Rows sorted by entity id, then statement id:
//! the same bytes on every run. No live rows: an empty file (no header), as the reference.

use std::io::Write;

use deltalake::arrow::array::StringArray;
use ftm::Statement;
use ftm::time::{IsoSpeller, Timestamp, isoformat};

use super::columns::{ColumnRow, Columns};
use super::{EntityBatch, Filter, StatementStore};
use crate::error::{Error, Result};
use crate::model::{Bucket, shard};
use crate::storage::rows::RowRef;
use crate::storage::table_schema::table_schema;

/// The statements.csv header.
pub const CSV_COLUMNS: [&str; 16] = [
    "id",
    "entity_id",
    "canonical_id",
    "prop",
    "prop_type",
    "schema",
    "value",
    "original_value",
    "dataset",
    "origin",
    "lang",
    "external",
    "first_seen",
    "last_seen",
    "fragment",
    "role",
];

/// Appends `value` with each `"` in it doubled; `plain` when it is known to hold none.
fn escaped(out: &mut Vec<u8>, value: &str, plain: bool) {
    if plain || memchr::memchr(b'"', value.as_bytes()).is_none() {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    for (i, part) in value.as_bytes().split(|b| *b == b'"').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part);
    }
}

/// Appends `value` double-quoted and escaped, nothing for `None`.
fn optional(out: &mut Vec<u8>, value: Option<&str>, plain: bool) {
    if let Some(v) = value {
        out.push(b'"');
        escaped(out, v, plain);
        out.push(b'"');
    }
}

/// The first 8 bytes of `id` as a big-endian number, zero-padded: ids in this order are in
/// byte order up to ties, and the ids of one entity (SHA-1 hex) nearly never tie, so sorting
/// them mostly compares numbers instead of strings.
fn id_prefix(id: &str) -> u64 {
    let mut prefix = [0u8; 8];
    let n = id.len().min(8);
    prefix[..n].copy_from_slice(&id.as_bytes()[..n]);
    u64::from_be_bytes(prefix)
}

/// Which text columns of a batch hold no `"` in any row: their fields are copied without a
/// look for one (one scan of each column's bytes instead of one per field). The default
/// knows nothing: every field is looked at.
#[derive(Debug, Clone, Copy, Default)]
struct Plain {
    id: bool,
    entity_id: bool,
    prop: bool,
    prop_type: bool,
    schema: bool,
    value: bool,
    original_value: bool,
    dataset: bool,
    origin: bool,
    lang: bool,
    fragment: bool,
    role: bool,
}

impl Plain {
    /// The columns of `c` without a `"`.
    fn of(c: &Columns) -> Plain {
        let plain = |column: &StringArray| memchr::memchr(b'"', column.value_data()).is_none();
        Plain {
            id: plain(&c.id),
            entity_id: plain(&c.entity_id),
            prop: plain(&c.prop),
            prop_type: plain(&c.prop_type),
            schema: plain(&c.schema),
            value: plain(&c.value),
            original_value: plain(&c.original_value),
            dataset: plain(&c.dataset),
            origin: plain(&c.origin),
            lang: plain(&c.lang),
            fragment: plain(&c.fragment),
            role: plain(&c.role),
        }
    }
}

/// Writes statements.csv rows. Remembers the spelling of each time of each timestamp column
/// ([`IsoSpeller`]): the rows written in one batch share their times, and spelling every row's
/// anew would be a large share of the export's work.
#[derive(Debug, Default)]
pub struct CsvRows {
    times: [IsoSpeller; 2],
    /// The header went out (before the first row: an export without rows has none).
    header: bool,
}

impl CsvRows {
    /// Appends the lines of every entity of `batch` to `out`, each entity's rows sorted by
    /// statement id, the header first if these are the first rows.
    pub fn write_batch(&mut self, out: &mut Vec<u8>, batch: &EntityBatch) {
        let mut order: Vec<(u64, usize)> = Vec::new();
        let plain: Vec<Plain> = batch.parts.iter().map(|(_, columns)| Plain::of(columns)).collect();
        for (part, range) in &batch.entities {
            if !self.header {
                self.write_header(out);
                self.header = true;
            }
            let columns = &batch.parts[*part].1;
            let ids = &columns.id;
            order.clear();
            order.extend(range.clone().map(|row| (id_prefix(ids.value(row)), row)));
            order.sort_unstable_by(|(a, i), (b, j)| a.cmp(b).then_with(|| ids.value(*i).cmp(ids.value(*j))));
            for &(_, row) in &order {
                self.write_row(out, &ColumnRow { columns, slot: 0, row }.fields(), &plain[*part]);
            }
        }
    }

    /// Appends the header line to `out`.
    fn write_header(&self, out: &mut Vec<u8>) {
        let header: Vec<String> = CSV_COLUMNS.iter().map(|c| format!("\"{c}\"")).collect();
        out.extend_from_slice(header.join(",").as_bytes());
        out.push(b'\n');
    }

    /// Appends a time given in UTC microseconds, quoted.
    fn timestamp(&mut self, out: &mut Vec<u8>, column: usize, value: Option<i64>) {
        if let Some(micros) = value {
            out.push(b'"');
            self.times[column].push(out, micros);
            out.push(b'"');
        }
    }

    /// Appends one line for `s` to `out`, given which of its columns are [`Plain`]. The
    /// canonical id is the entity id. The quotes and commas between two fields go out as one
    /// piece, not one append per mark.
    fn write_row(&mut self, out: &mut Vec<u8>, s: &RowRef, plain: &Plain) {
        let leading = [
            (s.id, plain.id),
            (s.entity_id, plain.entity_id),
            (s.entity_id, plain.entity_id),
            (s.prop, plain.prop),
            (s.prop_type, plain.prop_type),
            (s.schema, plain.schema),
            (s.value, plain.value),
        ];
        out.push(b'"');
        for (i, (field, plain)) in leading.into_iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\",\"");
            }
            escaped(out, field, plain);
        }
        out.extend_from_slice(b"\",");
        optional(out, s.original_value, plain.original_value);
        out.extend_from_slice(b",\"");
        escaped(out, s.dataset, plain.dataset);
        out.extend_from_slice(b"\",");
        optional(out, s.origin, plain.origin);
        out.push(b',');
        optional(out, s.lang, plain.lang);
        out.extend_from_slice(if s.external { b",true," } else { b",false," });
        self.timestamp(out, 0, s.first_seen);
        out.push(b',');
        self.timestamp(out, 1, s.last_seen);
        out.extend_from_slice(b",\"");
        escaped(out, s.fragment, plain.fragment);
        out.extend_from_slice(b"\",");
        optional(out, s.role, plain.role);
        out.push(b'\n');
    }
}

impl StatementStore {
    /// Writes the live statements `filter` selects as statements.csv to `out`; returns the row
    /// count. Streams one entity at a time.
    ///
    /// # Errors
    /// As [`StatementStore::scan`]; [`Error::Io`] if writing fails.
    pub async fn export_csv(&self, filter: &Filter, out: &mut impl Write) -> Result<u64> {
        let io = |e| Error::Io("statements.csv".into(), e);
        let mut stream = self.scan(filter).await?;
        let mut rows = 0u64;
        let mut buffer = Vec::with_capacity(1 << 16);
        let mut csv = CsvRows::default();
        while let Some(batch) = stream.next_batch().await? {
            csv.write_batch(&mut buffer, &batch);
            rows += batch.entities().map(|e| e.len() as u64).sum::<u64>();
            out.write_all(&buffer).map_err(io)?;
            buffer.clear();
        }
        Ok(rows)
    }
}

/// Writes statements as `statements iterate` prints them (spec `interfaces.md` §1.5): the 19
/// table columns in table order, the partition values (`shard`, `bucket`, `origin`) included, a
/// header line before the first row, minimal quoting, `external` as `True`/`False`, times in
/// Python ISO form, `\n` line ends. No row: no header.
pub struct TableCsv<W: Write> {
    writer: csv::Writer<W>,
    /// The dataset's shard count, for the `shard` column.
    shards: u32,
    header: bool,
}

impl<W: Write> TableCsv<W> {
    /// A writer to `out` for a dataset of `shards` shards.
    pub fn new(out: W, shards: u32) -> TableCsv<W> {
        let writer = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(out);
        TableCsv { writer, shards, header: false }
    }

    /// Writes `rows` (the header first if these are the first).
    ///
    /// # Errors
    /// [`Error::Io`] if writing fails.
    pub fn write(&mut self, rows: &[Statement]) -> Result<()> {
        if !self.header && !rows.is_empty() {
            self.record(table_schema().fields().iter().map(|f| f.name().as_str()))?;
            self.header = true;
        }
        let time = |t: Option<Timestamp>| t.map(|t| isoformat(&t)).unwrap_or_default();
        for s in rows {
            let bucket = ftm::model().get(&s.schema).map(Bucket::of).map_or("", Bucket::as_str);
            self.record([
                shard(&s.entity_id, self.shards).as_str(),
                &s.id,
                &s.entity_id,
                &s.dataset,
                bucket,
                s.origin.as_deref().unwrap_or_default(),
                s.source.as_deref().unwrap_or_default(),
                &s.schema,
                &s.prop,
                &s.prop_type,
                &s.value,
                s.original_value.as_deref().unwrap_or_default(),
                s.lang.as_deref().unwrap_or_default(),
                if s.external { "True" } else { "False" },
                &time(s.first_seen),
                &time(s.last_seen),
                &s.fragment,
                s.role.as_deref().unwrap_or_default(),
                &time(s.deleted_at),
            ])?;
        }
        Ok(())
    }

    fn record<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) -> Result<()> {
        self.writer.write_record(fields).map_err(Error::csv_write("statements"))
    }

    /// Flushes what is buffered and hands back the output.
    ///
    /// # Errors
    /// [`Error::Io`] if writing fails.
    pub fn finish(self) -> Result<W> {
        self.writer.into_inner().map_err(|e| Error::Io("statements".into(), e.into_error()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftm::Statement;
    use ftm::time::parse_iso;

    #[test]
    fn id_prefixes_keep_byte_order() {
        let ids = ["", "a", "ab", "abcdefgh", "abcdefgh0", "abcdefgh1", "abcdefgi", "b", "ffffffffffffffff"];
        for a in ids {
            for b in ids {
                if id_prefix(a) < id_prefix(b) {
                    assert!(a < b, "{a} {b}");
                }
            }
        }
        assert_eq!(id_prefix("abcdefgh0"), id_prefix("abcdefgh1"), "a tie, settled by the whole ids");
    }

    #[test]
    fn dialect_a_rows() {
        let mut s = Statement::new("donations", "e1", "Person", "name", "name", "Zed \"Quote\"\nPerson");
        s.origin = Some("bulk".into());
        s.first_seen = parse_iso("2026-11-21T04:33:28.062356+00:00");
        s.last_seen = parse_iso("2026-11-21T04:33:28Z");
        let mut out = Vec::new();
        CsvRows::default().write_row(&mut out, &RowRef::from(&s), &Plain::default());
        let line = String::from_utf8(out).unwrap();
        assert_eq!(
            line,
            format!(
                "\"{}\",\"e1\",\"e1\",\"name\",\"name\",\"Person\",\"Zed \"\"Quote\"\"\nPerson\",,\"donations\",\"bulk\",,false,\"2026-11-21T04:33:28.062356+00:00\",\"2026-11-21T04:33:28+00:00\",\"\",\n",
                s.id
            )
        );
    }
}
