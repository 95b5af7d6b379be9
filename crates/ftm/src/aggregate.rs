//! Statements → entity, the way the lakehouse exports `entities.ftm.json` (spec
//! `exports-and-operations.md` §5.2–§5.5).
//!
//! The fold over one entity's statements: schemata are merged leniently
//! ([`Model::merge_schema`]), each property's values become a sorted set, the checksum
//! statements give `last_change` (max `first_seen`) and are not values, other statements give
//! `first_seen` (min) and `last_seen` (max). The caption is the lexicographic minimum value of
//! the first caption property (schema order) that has values, else the schema label — this
//! intentionally differs from FtM's own caption picking (spec `ftm-model.md` §3.4).
//!
//! Deliberate difference: the reference folds schemata in Python set order; we fold them in
//! name order, so a three-way conflict resolves the same way on every run.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::model::Model;
use crate::schema::Schema;
use crate::statement::{BASE_ID, Statement, StatementFields};
use crate::time::{IsoSpeller, Timestamp, isoformat};
use crate::types::PropertyType;

/// An aggregated entity as the lakehouse exports it. Its strings are borrowed from the
/// statements it was folded from where those allow it (rows of a column batch, a slice of
/// [`Statement`]s); [`EntityRecord::into_owned`] detaches it.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRecord<'a> {
    /// The entity id: the last non-empty `canonical_id` of the statements (in the lakehouse,
    /// the entity id they are stored under).
    pub id: Cow<'a, str>,
    /// The smallest value of the schema's first caption property that has values, else the
    /// schema label (spec `ftm-model.md` §3.4).
    pub caption: Cow<'a, str>,
    /// The statements' schemata merged into one, folded in name order.
    pub schema: &'static Schema,
    /// Property names, sorted by code point, each with the range of its values in `values`.
    props: Vec<(Cow<'a, str>, Range<usize>)>,
    /// Each property's distinct values, sorted by code point.
    values: Vec<Cow<'a, str>>,
    /// Entity ids of statements that differ from `id` (empty when grouped by entity id); this
    /// and the three lists below are distinct and sorted by code point.
    pub referents: Vec<Cow<'a, str>>,
    /// Datasets the statements are keyed under.
    pub datasets: Vec<Cow<'a, str>>,
    /// Provenance labels of the statements (`bulk`, `crawl`, …), empty ones left out.
    pub origin: Vec<Cow<'a, str>>,
    /// Roles of the statements, empty ones left out.
    pub role: Vec<Cow<'a, str>>,
    /// Min `first_seen` of the property statements.
    pub first_seen: Option<Timestamp>,
    /// Max `last_seen` of the property statements.
    pub last_seen: Option<Timestamp>,
    /// Max `first_seen` of the checksum statements.
    pub last_change: Option<Timestamp>,
    /// Min `first_seen` over all statements, checksum ones included (used by diffs).
    pub min_first_seen: Option<Timestamp>,
    /// Max `first_seen` over all statements, checksum ones included (used by diffs).
    pub max_first_seen: Option<Timestamp>,
}

fn fold_min(acc: &mut Option<i64>, ts: Option<i64>) {
    if let Some(ts) = ts {
        *acc = Some(acc.map_or(ts, |a| a.min(ts)));
    }
}

fn fold_max(acc: &mut Option<i64>, ts: Option<i64>) {
    if let Some(ts) = ts {
        *acc = Some(acc.map_or(ts, |a| a.max(ts)));
    }
}

/// Adds `value` to `list` unless it is there (lists hold a value or two: a scan beats a set).
fn add<'a>(list: &mut Vec<Cow<'a, str>>, value: &'a str) {
    if !list.iter().any(|v| v == value) {
        list.push(Cow::Borrowed(value));
    }
}

/// Distinct strings, the first kept apart: an entity's rows nearly always share their entity
/// id and schema, so the list of others stays empty and unallocated.
#[derive(Default)]
struct Distinct<'a> {
    first: Option<&'a str>,
    others: Vec<Cow<'a, str>>,
}

impl<'a> Distinct<'a> {
    fn add(&mut self, value: &'a str) {
        match self.first {
            None => self.first = Some(value),
            Some(first) if first == value => {}
            Some(_) => add(&mut self.others, value),
        }
    }

    /// Every value, the first one first.
    fn into_vec(self) -> Vec<Cow<'a, str>> {
        let mut all = self.others;
        all.splice(0..0, self.first.map(Cow::Borrowed));
        all
    }
}

/// Aggregates the statements of one entity. `Ok(None)` for no statements.
///
/// # Errors
/// [`FtmError::UnknownSchema`](crate::FtmError::UnknownSchema) for a schema the model lacks;
/// [`FtmError::SchemaConflict`](crate::FtmError::SchemaConflict) when the schemata share no
/// ancestor (the reference skips such an entity; callers decide).
pub fn aggregate<'a, S: StatementFields<'a>>(
    model: &'static Model,
    statements: impl IntoIterator<Item = S>,
) -> Result<Option<EntityRecord<'a>>> {
    let statements = statements.into_iter();
    let mut id: Option<&'a str> = None;
    let mut schemata = Distinct::default();
    let mut entity_ids = Distinct::default();
    let mut pairs: Vec<(&'a str, &'a str)> = Vec::with_capacity(statements.size_hint().0);
    let (mut datasets, mut origin, mut role) = (Vec::new(), Vec::new(), Vec::new());
    let (mut first_seen, mut last_seen, mut last_change) = (None, None, None);
    let (mut min_first_seen, mut max_first_seen) = (None, None);
    for stmt in statements {
        let canonical = stmt.canonical_id();
        if !canonical.is_empty() {
            id = Some(canonical);
        }
        entity_ids.add(stmt.entity_id());
        schemata.add(stmt.schema());
        add(&mut datasets, stmt.dataset());
        if let Some(o) = stmt.origin().filter(|o| !o.is_empty()) {
            add(&mut origin, o);
        }
        if let Some(r) = stmt.role().filter(|r| !r.is_empty()) {
            add(&mut role, r);
        }
        let prop = stmt.prop();
        if prop == BASE_ID {
            fold_max(&mut last_change, stmt.first_seen());
        } else {
            pairs.push((prop, stmt.value()));
            fold_min(&mut first_seen, stmt.first_seen());
            fold_max(&mut last_seen, stmt.last_seen());
        }
        fold_min(&mut min_first_seen, stmt.first_seen());
        fold_max(&mut max_first_seen, stmt.first_seen());
    }
    let Some(id) = id else {
        return Ok(None);
    };
    let mut schema = model.schema(schemata.first.expect("one statement seen"))?;
    if !schemata.others.is_empty() {
        let mut names = schemata.into_vec();
        names.sort_unstable();
        schema = model.schema(&names[0])?;
        for name in &names[1..] {
            schema = model.merge_schema(schema, model.schema(name)?)?;
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    let mut props: Vec<(Cow<'a, str>, Range<usize>)> = Vec::with_capacity(pairs.len());
    let mut values = Vec::with_capacity(pairs.len());
    for (i, (prop, value)) in pairs.into_iter().enumerate() {
        match props.last_mut() {
            Some((last, range)) if *last == prop => range.end = i + 1,
            _ => props.push((Cow::Borrowed(prop), i..i + 1)),
        }
        values.push(Cow::Borrowed(value));
    }
    let mut referents = if entity_ids.first == Some(id) { entity_ids.others } else { entity_ids.into_vec() };
    referents.retain(|e| e != id);
    for list in [&mut referents, &mut datasets, &mut origin, &mut role] {
        list.sort_unstable();
    }
    let time = |micros: Option<i64>| micros.and_then(Timestamp::from_timestamp_micros);
    let mut record = EntityRecord {
        id: Cow::Borrowed(id),
        caption: Cow::Borrowed(schema.label.as_str()),
        schema,
        props,
        values,
        referents,
        datasets,
        origin,
        role,
        first_seen: time(first_seen),
        last_seen: time(last_seen),
        last_change: time(last_change),
        min_first_seen: time(min_first_seen),
        max_first_seen: time(max_first_seen),
    };
    if let Some(caption) = schema.caption.iter().find_map(|p| record.values(p).first()) {
        record.caption = caption.clone();
    }
    Ok(Some(record))
}

fn list(set: &[Cow<'_, str>]) -> Value {
    Value::Array(set.iter().map(|v| Value::String(v.to_string())).collect())
}

/// The caption FtM's `StatementEntity` gives the entity of `rows` (spec `ftm-model.md` §3.4),
/// which the reference's query responses carry: for the first of the schema's caption
/// properties that has statements, the value of its statement with the lowest statement id;
/// for a `name` property with several statements, the one in English, else one without a
/// language, else the lowest id (an approximation of FtM's `pick_lang_name`, whose final
/// choice among several names is a heuristic of the `rigour` library). The schema's label
/// when no caption property has a value.
pub fn statement_caption<'r>(schema: &'r Schema, rows: &'r [Statement]) -> &'r str {
    for prop in &schema.caption {
        let mut of_prop = rows.iter().filter(|s| s.prop == *prop);
        let Some(first) = of_prop.next() else { continue };
        let is_name = schema.property(prop).is_some_and(|p| p.type_ == PropertyType::Name);
        let rank = |s: &Statement| -> u8 {
            match s.lang.as_deref() {
                _ if !is_name => 0,
                Some("eng") => 0,
                None | Some("mul") => 1,
                Some(_) => 2,
            }
        };
        let best = of_prop.fold(first, |best, s| if (rank(s), &s.id) < (rank(best), &best.id) { s } else { best });
        return &best.value;
    }
    &schema.label
}

impl<'a> EntityRecord<'a> {
    /// The properties that have values, sorted by name, each with its distinct values sorted.
    pub fn properties(&self) -> impl Iterator<Item = (&str, &[Cow<'a, str>])> {
        self.props.iter().map(|(prop, range)| (prop.as_ref(), &self.values[range.clone()]))
    }

    /// The distinct values of `prop`, sorted; empty when it has none.
    pub fn values(&self, prop: &str) -> &[Cow<'a, str>] {
        match self.props.binary_search_by(|(name, _)| name.as_ref().cmp(prop)) {
            Ok(i) => &self.values[self.props[i].1.clone()],
            Err(_) => &[],
        }
    }

    /// The first (smallest) value of `prop`.
    pub fn first(&self, prop: &str) -> Option<&str> {
        self.values(prop).first().map(AsRef::as_ref)
    }

    /// The record with every string owned, free of the statements it was folded from.
    pub fn into_owned(self) -> EntityRecord<'static> {
        let own = |list: Vec<Cow<'_, str>>| list.into_iter().map(|v| Cow::Owned(v.into_owned())).collect();
        EntityRecord {
            id: Cow::Owned(self.id.into_owned()),
            caption: Cow::Owned(self.caption.into_owned()),
            schema: self.schema,
            props: self.props.into_iter().map(|(p, range)| (Cow::Owned(p.into_owned()), range)).collect(),
            values: own(self.values),
            referents: own(self.referents),
            datasets: own(self.datasets),
            origin: own(self.origin),
            role: own(self.role),
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            last_change: self.last_change,
            min_first_seen: self.min_first_seen,
            max_first_seen: self.max_first_seen,
        }
    }

    /// The export JSON object, keys in the reference's order: `id`, `caption`, `schema`,
    /// `properties`, `referents`, `datasets`, then `origin`, `role` (when non-empty) and
    /// `first_seen`, `last_seen`, `last_change` (when known) as Python ISO strings.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), Value::String(self.id.to_string()));
        out.insert("caption".into(), Value::String(self.caption.to_string()));
        out.insert("schema".into(), Value::String(self.schema.name.clone()));
        let props = self.properties().map(|(k, v)| (k.to_string(), list(v))).collect();
        out.insert("properties".into(), Value::Object(props));
        out.insert("referents".into(), list(&self.referents));
        out.insert("datasets".into(), list(&self.datasets));
        for (key, set) in [("origin", &self.origin), ("role", &self.role)] {
            if !set.is_empty() {
                out.insert(key.into(), list(set));
            }
        }
        for (key, ts) in
            [("first_seen", self.first_seen), ("last_seen", self.last_seen), ("last_change", self.last_change)]
        {
            if let Some(ts) = ts {
                out.insert(key.into(), Value::String(isoformat(&ts)));
            }
        }
        Value::Object(out)
    }

    /// [`EntityRecord::to_json`] written compactly to `out`: the bytes `serde_json` writes for
    /// that object, without building it (the export writes one per entity). `times` spell
    /// `first_seen`, `last_seen` and `last_change`, one each, kept from entity to entity.
    pub fn write_json(&self, out: &mut Vec<u8>, times: &mut [IsoSpeller; 3]) {
        fn list(out: &mut Vec<u8>, set: &[Cow<'_, str>]) {
            out.push(b'[');
            for (i, value) in set.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_string(out, value);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"{\"id\":");
        json_string(out, &self.id);
        out.extend_from_slice(b",\"caption\":");
        json_string(out, &self.caption);
        out.extend_from_slice(b",\"schema\":");
        json_string(out, &self.schema.name);
        out.extend_from_slice(b",\"properties\":{");
        for (i, (prop, values)) in self.properties().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_string(out, prop);
            out.push(b':');
            list(out, values);
        }
        out.extend_from_slice(b"},\"referents\":");
        list(out, &self.referents);
        out.extend_from_slice(b",\"datasets\":");
        list(out, &self.datasets);
        for (key, set) in [(&b",\"origin\":"[..], &self.origin), (b",\"role\":", &self.role)] {
            if !set.is_empty() {
                out.extend_from_slice(key);
                list(out, set);
            }
        }
        let keys = [&b",\"first_seen\":\""[..], b",\"last_seen\":\"", b",\"last_change\":\""];
        for ((key, ts), speller) in keys.into_iter().zip([self.first_seen, self.last_seen, self.last_change]).zip(times)
        {
            if let Some(ts) = ts {
                out.extend_from_slice(key);
                speller.push(out, ts.timestamp_micros());
                out.push(b'"');
            }
        }
        out.push(b'}');
    }
}

/// Appends `value` as a JSON string, as `serde_json` writes it: only `"`, `\\` and control
/// characters are escaped. Most strings have none of them, which is checked a word at a time.
fn json_string(out: &mut Vec<u8>, value: &str) {
    if needs_escape(value.as_bytes()) {
        serde_json::to_writer(&mut *out, value).expect("writing to memory");
    } else {
        out.push(b'"');
        out.extend_from_slice(value.as_bytes());
        out.push(b'"');
    }
}

/// Whether `bytes` hold a `"`, a `\\` or a byte below 0x20: the bit tricks of "Bit Twiddling
/// Hacks" (`haszero`, `hasless`) over 8 bytes at a time, exact as to whether any byte matches.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGHS;
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        if below(word, 0x20) | below(word ^ (ONES * u64::from(b'"')), 1) | below(word ^ (ONES * u64::from(b'\\')), 1)
            != 0
        {
            return true;
        }
    }
    words.remainder().iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FtmError;
    use crate::model::model;
    use crate::statement::Statement;
    use crate::time::parse_iso;

    fn stmt(entity: &str, schema: &str, prop: &str, value: &str, seen: &str) -> Statement {
        let mut s = Statement::new("ds", entity, schema, prop, "string", value);
        s.first_seen = parse_iso(seen);
        s.last_seen = parse_iso(seen);
        s.origin = Some("bulk".into());
        s
    }

    #[test]
    fn folds_schema_caption_and_times() {
        let stmts = [
            stmt("e1", "Person", "name", "Zed \"Quote\" Person", "2024-01-02"),
            stmt("e1", "Company", "name", "Anna, Comma", "2024-01-01"),
            stmt("e1", "Person", "id", "abc", "2024-01-03"),
        ];
        let rec = aggregate(model(), &stmts).unwrap().unwrap();
        assert_eq!(rec.schema.name, "LegalEntity");
        assert_eq!(rec.caption, "Anna, Comma");
        assert!(rec.values("id").is_empty());
        assert_eq!(rec.first("name"), Some("Anna, Comma"));
        assert_eq!(isoformat(&rec.last_change.unwrap()), "2024-01-03T00:00:00+00:00");
        let json = serde_json::to_string(&rec.to_json()).unwrap();
        assert_eq!(
            json,
            r#"{"id":"e1","caption":"Anna, Comma","schema":"LegalEntity","properties":{"name":["Anna, Comma","Zed \"Quote\" Person"]},"referents":[],"datasets":["ds"],"origin":["bulk"],"first_seen":"2024-01-01T00:00:00+00:00","last_seen":"2024-01-02T00:00:00+00:00","last_change":"2024-01-03T00:00:00+00:00"}"#
        );
    }

    #[test]
    fn escapes_what_serde_json_escapes() {
        for text in [
            "plain text, longer than a word",
            "Zed \"Quote\"",
            "back\\slash in a long string",
            "tab\there",
            "\u{1f}",
            "ünïcödé \u{7f}",
            "",
        ] {
            let mut out = Vec::new();
            json_string(&mut out, text);
            assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(text).unwrap(), "{text:?}");
        }
        for (i, byte) in (0..=255u8).enumerate() {
            let mut bytes = vec![b'a'; 19];
            bytes[i % 19] = byte;
            assert_eq!(needs_escape(&bytes), byte < 0x20 || byte == b'"' || byte == b'\\', "{byte}");
        }
    }

    #[test]
    fn label_caption_and_conflicts() {
        let payment = [stmt("p", "Payment", "amountEur", "5", "2024-01-01")];
        let rec = aggregate(model(), &payment).unwrap().unwrap();
        assert_eq!(rec.caption, "Payment");
        let conflict =
            [stmt("x", "Thing", "name", "a", "2024-01-01"), stmt("x", "Payment", "amountEur", "1", "2024-01-01")];
        let err = aggregate(model(), &conflict).unwrap_err();
        assert_eq!(err, FtmError::SchemaConflict("Payment".into(), "Thing".into()));
        assert_eq!(aggregate(model(), &[] as &[Statement]).unwrap(), None);
    }
}
