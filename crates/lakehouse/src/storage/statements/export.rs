//! `export_csv`: the live statements as `statements.csv` (spec `exports-and-operations.md` §4,
//! CSV dialect A of §2.4).
//!
//! Header `"id","entity_id","canonical_id","prop","prop_type","schema","value","original_value",
//! "dataset","origin","lang","external","first_seen","last_seen","fragment","role"`; strings
//! double-quoted with `""` escaping, nulls empty and unquoted, `external` as `true`/`false`,
//! timestamps in Python ISO form, `\n` line ends. Rows sorted by entity id, then statement id:
//! the same bytes on every run. No live rows: an empty file (no header), as the reference.

use std::io::Write;

use ftm::Statement;
use ftm::time::{Timestamp, push_isoformat};

use super::{Filter, StatementStore};
use crate::error::{Error, Result};

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
    times: [Option<(Timestamp, Vec<u8>)>; 2],
    /// The header went out (before the first row: an export without rows has none).
    header: bool,
}

impl CsvRows {
    /// Appends the lines of one entity's rows to `out`, the header first if this is the first
    /// entity. The rows should be sorted by statement id.
    pub fn write_entity(&mut self, out: &mut Vec<u8>, rows: &[Statement]) {
        if !self.header {
            self.write_header(out);
            self.header = true;
        }
        for s in rows {
            self.write_row(out, s);
        }
    }

    /// Appends the header line to `out`.
    fn write_header(&self, out: &mut Vec<u8>) {
        let header: Vec<String> = CSV_COLUMNS.iter().map(|c| format!("\"{c}\"")).collect();
        out.extend_from_slice(header.join(",").as_bytes());
        out.push(b'\n');
    }

    fn timestamp(&mut self, out: &mut Vec<u8>, column: usize, value: Option<Timestamp>) {
        let Some(t) = value else { return };
        let cached = &mut self.times[column];
        if cached.as_ref().is_none_or(|(last, _)| *last != t) {
            let mut text = Vec::with_capacity(34);
            text.push(b'"');
            push_isoformat(&mut text, &t);
            text.push(b'"');
            *cached = Some((t, text));
        }
        out.extend_from_slice(&cached.as_ref().expect("just set").1);
    }

    /// Appends one line for `s` to `out`.
    pub fn write_row(&mut self, out: &mut Vec<u8>, s: &Statement) {
        for (i, field) in
            [&s.id, &s.entity_id, &s.canonical_id, &s.prop, &s.prop_type, &s.schema, &s.value].into_iter().enumerate()
        {
            if i > 0 {
                out.push(b',');
            }
            quoted(out, field);
        }
        out.push(b',');
        optional(out, s.original_value.as_deref());
        out.push(b',');
        quoted(out, &s.dataset);
        out.push(b',');
        optional(out, s.origin.as_deref());
        out.push(b',');
        optional(out, s.lang.as_deref());
        out.extend_from_slice(if s.external { b",true," } else { b",false," });
        self.timestamp(out, 0, s.first_seen);
        out.push(b',');
        self.timestamp(out, 1, s.last_seen);
        out.push(b',');
        quoted(out, &s.fragment);
        out.push(b',');
        optional(out, s.role.as_deref());
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
        while let Some(mut entity) = stream.next().await? {
            entity.sort_by(|a, b| a.id.cmp(&b.id));
            csv.write_entity(&mut buffer, &entity);
            rows += entity.len() as u64;
            if buffer.len() >= 1 << 16 {
                out.write_all(&buffer).map_err(io)?;
                buffer.clear();
            }
        }
        out.write_all(&buffer).map_err(io)?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftm::time::parse_iso;

    #[test]
    fn dialect_a_rows() {
        let mut s = Statement::new("donations", "e1", "Person", "name", "name", "Zed \"Quote\"\nPerson");
        s.origin = Some("bulk".into());
        s.first_seen = parse_iso("2026-11-21T04:33:28.062356+00:00");
        s.last_seen = parse_iso("2026-11-21T04:33:28Z");
        let mut out = Vec::new();
        CsvRows::default().write_row(&mut out, &s);
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
