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

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::error::Result;
use crate::model::Model;
use crate::schema::Schema;
use crate::statement::{BASE_ID, StatementFields};
use crate::time::{Timestamp, isoformat, push_isoformat};

/// An aggregated entity as the lakehouse exports it.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRecord {
    pub id: String,
    pub caption: String,
    pub schema: &'static Schema,
    /// Property name → distinct values, both sorted by code point.
    pub properties: BTreeMap<String, BTreeSet<String>>,
    /// Entity ids of statements that differ from `id` (empty when grouped by entity id).
    pub referents: BTreeSet<String>,
    pub datasets: BTreeSet<String>,
    pub origin: BTreeSet<String>,
    pub role: BTreeSet<String>,
    /// Min `first_seen` of the property statements.
    pub first_seen: Option<Timestamp>,
    /// Max `last_seen` of the property statements.
    pub last_seen: Option<Timestamp>,
    /// Max `first_seen` of the checksum statements.
    pub last_change: Option<Timestamp>,
    /// Min and max `first_seen` over all statements, checksum ones included (used by diffs).
    pub min_first_seen: Option<Timestamp>,
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

/// Aggregates the statements of one entity. `Ok(None)` for no statements.
///
/// # Errors
/// [`FtmError::UnknownSchema`](crate::FtmError::UnknownSchema) for a schema the model lacks;
/// [`FtmError::SchemaConflict`](crate::FtmError::SchemaConflict) when the schemata share no
/// ancestor (the reference skips such an entity; callers decide).
pub fn aggregate<S: StatementFields>(
    model: &'static Model,
    statements: impl IntoIterator<Item = S>,
) -> Result<Option<EntityRecord>> {
    /// Inserts `value` into `set` unless it is there, allocating only then.
    fn insert(set: &mut BTreeSet<String>, value: &str) {
        if !set.contains(value) {
            set.insert(value.to_string());
        }
    }
    let mut id: Option<String> = None;
    let mut schemata: BTreeSet<String> = BTreeSet::new();
    let mut entity_ids: BTreeSet<String> = BTreeSet::new();
    let mut properties: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let (mut datasets, mut origin, mut role) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    let (mut first_seen, mut last_seen, mut last_change) = (None, None, None);
    let (mut min_first_seen, mut max_first_seen) = (None, None);
    for stmt in statements {
        let canonical = stmt.canonical_id();
        if !canonical.is_empty() && id.as_deref() != Some(canonical) {
            id = Some(canonical.to_string());
        }
        insert(&mut entity_ids, stmt.entity_id());
        insert(&mut schemata, stmt.schema());
        insert(&mut datasets, stmt.dataset());
        if let Some(o) = stmt.origin().filter(|o| !o.is_empty()) {
            insert(&mut origin, o);
        }
        if let Some(r) = stmt.role().filter(|r| !r.is_empty()) {
            insert(&mut role, r);
        }
        if stmt.prop() == BASE_ID {
            fold_max(&mut last_change, stmt.first_seen());
        } else {
            match properties.get_mut(stmt.prop()) {
                Some(values) => insert(values, stmt.value()),
                None => {
                    properties.insert(stmt.prop().to_string(), BTreeSet::from([stmt.value().to_string()]));
                }
            }
            fold_min(&mut first_seen, stmt.first_seen());
            fold_max(&mut last_seen, stmt.last_seen());
        }
        fold_min(&mut min_first_seen, stmt.first_seen());
        fold_max(&mut max_first_seen, stmt.first_seen());
    }
    let Some(id) = id else {
        return Ok(None);
    };
    let mut names = schemata.iter();
    let mut schema = model.schema(names.next().expect("one statement seen"))?;
    for name in names {
        schema = model.merge_schema(schema, model.schema(name)?)?;
    }
    let caption = schema
        .caption
        .iter()
        .find_map(|p| properties.get(p).and_then(|values| values.first()))
        .unwrap_or(&schema.label)
        .clone();
    entity_ids.remove(&id);
    let time = |micros: Option<i64>| micros.and_then(Timestamp::from_timestamp_micros);
    Ok(Some(EntityRecord {
        id,
        referents: entity_ids,
        caption,
        schema,
        properties,
        datasets,
        origin,
        role,
        first_seen: time(first_seen),
        last_seen: time(last_seen),
        last_change: time(last_change),
        min_first_seen: time(min_first_seen),
        max_first_seen: time(max_first_seen),
    }))
}

fn list(set: &BTreeSet<String>) -> Value {
    Value::Array(set.iter().cloned().map(Value::String).collect())
}

impl EntityRecord {
    /// The export JSON object, keys in the reference's order: `id`, `caption`, `schema`,
    /// `properties`, `referents`, `datasets`, then `origin`, `role` (when non-empty) and
    /// `first_seen`, `last_seen`, `last_change` (when known) as Python ISO strings.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), Value::String(self.id.clone()));
        out.insert("caption".into(), Value::String(self.caption.clone()));
        out.insert("schema".into(), Value::String(self.schema.name.clone()));
        let props = self.properties.iter().map(|(k, v)| (k.clone(), list(v))).collect();
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
    /// that object, without building it (the export writes one per entity).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        fn string(out: &mut Vec<u8>, value: &str) {
            serde_json::to_writer(&mut *out, value).expect("writing to memory");
        }
        fn list(out: &mut Vec<u8>, set: &BTreeSet<String>) {
            out.push(b'[');
            for (i, value) in set.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(out, value);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"{\"id\":");
        string(out, &self.id);
        out.extend_from_slice(b",\"caption\":");
        string(out, &self.caption);
        out.extend_from_slice(b",\"schema\":");
        string(out, &self.schema.name);
        out.extend_from_slice(b",\"properties\":{");
        for (i, (prop, values)) in self.properties.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, prop);
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
        let times = [
            (&b",\"first_seen\":\""[..], self.first_seen),
            (b",\"last_seen\":\"", self.last_seen),
            (b",\"last_change\":\"", self.last_change),
        ];
        // The three are often the same time (one import): spell it once.
        let mut last: Option<(Timestamp, std::ops::Range<usize>)> = None;
        for (key, ts) in times {
            if let Some(ts) = ts {
                out.extend_from_slice(key);
                match &last {
                    Some((seen, spelled)) if *seen == ts => out.extend_from_within(spelled.clone()),
                    _ => {
                        let start = out.len();
                        push_isoformat(out, &ts);
                        last = Some((ts, start..out.len()));
                    }
                }
                out.push(b'"');
            }
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(!rec.properties.contains_key("id"));
        assert_eq!(isoformat(&rec.last_change.unwrap()), "2024-01-03T00:00:00+00:00");
        let json = serde_json::to_string(&rec.to_json()).unwrap();
        assert_eq!(
            json,
            r#"{"id":"e1","caption":"Anna, Comma","schema":"LegalEntity","properties":{"name":["Anna, Comma","Zed \"Quote\" Person"]},"referents":[],"datasets":["ds"],"origin":["bulk"],"first_seen":"2024-01-01T00:00:00+00:00","last_seen":"2024-01-02T00:00:00+00:00","last_change":"2024-01-03T00:00:00+00:00"}"#
        );
    }

    #[test]
    fn label_caption_and_conflicts() {
        let rec = aggregate(model(), &[stmt("p", "Payment", "amountEur", "5", "2024-01-01")]).unwrap().unwrap();
        assert_eq!(rec.caption, "Payment");
        let conflict =
            [stmt("x", "Thing", "name", "a", "2024-01-01"), stmt("x", "Payment", "amountEur", "1", "2024-01-01")];
        assert!(aggregate(model(), &conflict).is_err());
        assert_eq!(aggregate(model(), &[] as &[Statement]).unwrap(), None);
    }
}
