//! `export_csv`: the live statements as `statements.csv` (spec `exports-and-operations.md` §4,
//! CSV dialect A of §2.4).
//!
//! Header `"id","entity_id","canonical_id","prop","prop_type","schema","value","original_value",
//! "dataset","origin","lang","external","first_seen","last_seen","fragment","role"`; strings
//! double-quoted with `""` escaping, nulls empty and unquoted, `external` as `true`/`false`,
//! timestamps in Python ISO form, `\n` line ends. Rows sorted by entity id, then statement id:
//! the same bytes on every run. No live rows: an empty file (no header), as the reference.

use std::io::Write;

use ftm::time::{Timestamp, push_isoformat};

use super::{EntityBatch, Filter, StatementStore};
use crate::error::{Error, Result};
use crate::storage::columns::ColumnRow;
use crate::storage::rows::RowRef;

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

fn quoted(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    if !value.as_bytes().contains(&b'"') {
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
        return;
    }
    for (i, part) in value.as_bytes().split(|b| *b == b'"').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part);
    }
    out.push(b'"');
}

fn optional(out: &mut Vec<u8>, value: Option<&str>) {
    if let Some(v) = value {
        quoted(out, v);
    }
}

/// Writes statements.csv rows. Remembers the last spelling of each timestamp column: the rows
/// of one import share their times, and spelling them is a fifth of the export's work.
#[derive(Debug, Default)]
pub struct CsvRows {
    times: [Option<(i64, Vec<u8>)>; 2],
    /// The header went out (before the first row: an export without rows has none).
    header: bool,
}

impl CsvRows {
    /// Appends the lines of every entity of `batch` to `out`, each entity's rows sorted by
    /// statement id, the header first if these are the first rows.
    pub fn write_batch(&mut self, out: &mut Vec<u8>, batch: &EntityBatch) {
        let mut order: Vec<usize> = Vec::new();
        for entity in batch.entities() {
            if !self.header {
                self.write_header(out);
                self.header = true;
            }
            let (columns, ids) = (entity.columns, &entity.columns.id);
            order.clear();
            order.extend(entity.range);
            order.sort_unstable_by(|a, b| ids.value(*a).cmp(ids.value(*b)));
            for &row in &order {
                self.write_row(out, &ColumnRow { columns, slot: 0, row }.fields());
            }
        }
    }

    /// Appends the header line to `out`.
    fn write_header(&self, out: &mut Vec<u8>) {
        let header: Vec<String> = CSV_COLUMNS.iter().map(|c| format!("\"{c}\"")).collect();
        out.extend_from_slice(header.join(",").as_bytes());
        out.push(b'\n');
    }

    /// Appends a time given in UTC microseconds.
    fn timestamp(&mut self, out: &mut Vec<u8>, column: usize, value: Option<i64>) {
        let Some(micros) = value else { return };
        let cached = &mut self.times[column];
        if cached.as_ref().is_none_or(|(last, _)| *last != micros) {
            let mut text = Vec::with_capacity(34);
            text.push(b'"');
            if let Some(t) = Timestamp::from_timestamp_micros(micros) {
                push_isoformat(&mut text, &t);
            }
            text.push(b'"');
            *cached = Some((micros, text));
        }
        out.extend_from_slice(&cached.as_ref().expect("just set").1);
    }

    /// Appends one line for `s` to `out`. The canonical id is the entity id.
    pub fn write_row(&mut self, out: &mut Vec<u8>, s: &RowRef) {
        for (i, field) in
            [s.id, s.entity_id, s.entity_id, s.prop, s.prop_type, s.schema, s.value].into_iter().enumerate()
        {
            if i > 0 {
                out.push(b',');
            }
            quoted(out, field);
        }
        out.push(b',');
        optional(out, s.original_value);
        out.push(b',');
        quoted(out, s.dataset);
        out.push(b',');
        optional(out, s.origin);
        out.push(b',');
        optional(out, s.lang);
        out.extend_from_slice(if s.external { b",true," } else { b",false," });
        self.timestamp(out, 0, s.first_seen);
        out.push(b',');
        self.timestamp(out, 1, s.last_seen);
        out.push(b',');
        quoted(out, s.fragment);
        out.push(b',');
        optional(out, s.role);
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

#[cfg(test)]
mod tests {
    use super::*;
    use ftm::Statement;
    use ftm::time::parse_iso;

    #[test]
    fn dialect_a_rows() {
        let mut s = Statement::new("donations", "e1", "Person", "name", "name", "Zed \"Quote\"\nPerson");
        s.origin = Some("bulk".into());
        s.first_seen = parse_iso("2026-11-21T04:33:28.062356+00:00");
        s.last_seen = parse_iso("2026-11-21T04:33:28Z");
        let mut out = Vec::new();
        CsvRows::default().write_row(&mut out, &RowRef::from(&s));
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
