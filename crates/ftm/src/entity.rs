//! Entities as FtM JSON, read in cleaned mode.
//!
//! Reading follows followthemoney's cleaned `ValueEntity` (spec `ftm-model.md` §2.2, §3.1): values
//! are kept exactly as given and de-duplicated in first-seen order, properties the schema does
//! not define are dropped, stub properties are kept (writing them is refused later, by
//! [`explode`](crate::explode())), `caption`, `referents`, `datasets`, `first_seen`, `last_seen`
//! and `last_change` become fields, and every other top-level key is kept as context.
//!
//! Two deliberate differences from the reference, both on malformed input:
//! * a bare string where a list is expected (`"name": "John"`) is one value; the reference's
//!   safe path splits it into characters (spec §6 pitfall 2);
//! * a non-string value is a clear [`FtmError::NonStringValue`] instead of a Python `TypeError`.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::error::{FtmError, Result};
use crate::model::Model;
use crate::schema::Schema;
use crate::time::{Timestamp, isoformat, parse_iso};

/// An FtM entity: id, schema, property values and the keys that travel with it.
#[derive(Debug, Clone)]
pub struct Entity {
    /// The id as given (not stripped or validated); `None` when absent or empty.
    pub id: Option<String>,
    /// The schema named by the `schema` key.
    pub schema: &'static Schema,
    properties: IndexMap<String, Vec<String>>,
    /// The `caption` key of the input, if any (never authoritative for the lakehouse).
    pub caption: Option<String>,
    /// The `referents` key: other ids the entity was merged from, as given.
    pub referents: Vec<String>,
    /// The `datasets` key: datasets the entity was seen in, as given.
    pub datasets: Vec<String>,
    /// The `first_seen` key, parsed as ISO 8601 and taken to UTC.
    pub first_seen: Option<Timestamp>,
    /// The `last_seen` key, parsed as ISO 8601 and taken to UTC.
    pub last_seen: Option<Timestamp>,
    /// The `last_change` key, parsed as ISO 8601 and taken to UTC; an import stamps it on
    /// every statement of the entity as `first_seen` and `last_seen`.
    pub last_change: Option<Timestamp>,
    /// Every other top-level key (e.g. `origin`, `fragment`), in input order.
    pub context: Map<String, Value>,
}

/// Keys that are fields of [`Entity`] rather than context.
const FIELDS: [&str; 9] =
    ["id", "schema", "properties", "caption", "referents", "datasets", "first_seen", "last_seen", "last_change"];

fn string_list(value: &Value, key: &str) -> Result<Vec<String>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(FtmError::NonStringValue { prop: key.to_string(), value: other.to_string() }),
            })
            .collect(),
        other => Err(FtmError::NonStringValue { prop: key.to_string(), value: other.to_string() }),
    }
}

/// The string values of a property, skipping anything else (the lenient path).
fn lenient_strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        Value::String(s) => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn timestamp(value: Option<&Value>, field: &str) -> Result<Option<Timestamp>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => parse_iso(s)
            .map(Some)
            .ok_or_else(|| FtmError::InvalidTimestamp { field: field.to_string(), value: s.clone() }),
        Some(other) => Err(FtmError::InvalidTimestamp { field: field.to_string(), value: other.to_string() }),
    }
}

impl Entity {
    /// A new entity of `schema` with no values.
    pub fn new(schema: &'static Schema, id: Option<String>) -> Entity {
        Entity {
            id,
            schema,
            properties: IndexMap::new(),
            caption: None,
            referents: Vec::new(),
            datasets: Vec::new(),
            first_seen: None,
            last_seen: None,
            last_change: None,
            context: Map::new(),
        }
    }

    /// Reads one entity from parsed JSON.
    ///
    /// # Errors
    /// [`FtmError::InvalidEntity`] if `value` is not an object or has no `schema` string or a
    /// non-object `properties`; [`FtmError::UnknownSchema`]; [`FtmError::NonStringValue`];
    /// [`FtmError::InvalidTimestamp`] for an unparseable `first_seen`/`last_seen`/`last_change`.
    pub fn from_json(model: &'static Model, value: &Value) -> Result<Entity> {
        Entity::parse(model, value, false)
    }

    /// Reads one entity leniently (the `--unsafe` import): property values that are not strings
    /// are skipped instead of refused.
    ///
    /// # Errors
    /// As [`Entity::from_json`], except [`FtmError::NonStringValue`].
    pub fn from_json_lenient(model: &'static Model, value: &Value) -> Result<Entity> {
        Entity::parse(model, value, true)
    }

    fn parse(model: &'static Model, value: &Value, lenient: bool) -> Result<Entity> {
        let Value::Object(data) = value else {
            return Err(FtmError::InvalidEntity(format!("expected a JSON object, got {value}")));
        };
        let schema = match data.get("schema") {
            Some(Value::String(name)) => model.schema(name)?,
            Some(other) => return Err(FtmError::InvalidEntity(format!("`schema` is not a string: {other}"))),
            None => return Err(FtmError::InvalidEntity("no `schema` key".into())),
        };
        let id = match data.get("id") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(other) => return Err(FtmError::InvalidEntity(format!("`id` is not a string: {other}"))),
        };
        let mut entity = Entity::new(schema, id);
        match data.get("properties") {
            None | Some(Value::Null) => {}
            Some(Value::Object(props)) => {
                for (name, values) in props {
                    if schema.property(name).is_none() {
                        continue;
                    }
                    let values = match (string_list(values, name), lenient) {
                        (Ok(values), _) => values,
                        (Err(_), true) => lenient_strings(values),
                        (Err(e), false) => return Err(e),
                    };
                    for v in values {
                        entity.push(name, v);
                    }
                }
            }
            Some(other) => {
                return Err(FtmError::InvalidEntity(format!("`properties` is not an object: {other}")));
            }
        }
        entity.caption = data.get("caption").and_then(Value::as_str).map(str::to_string);
        entity.referents = data.get("referents").map(|v| string_list(v, "referents")).transpose()?.unwrap_or_default();
        entity.datasets = data.get("datasets").map(|v| string_list(v, "datasets")).transpose()?.unwrap_or_default();
        entity.first_seen = timestamp(data.get("first_seen"), "first_seen")?;
        entity.last_seen = timestamp(data.get("last_seen"), "last_seen")?;
        entity.last_change = timestamp(data.get("last_change"), "last_change")?;
        entity.context =
            data.iter().filter(|(k, _)| !FIELDS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
        Ok(entity)
    }

    /// Parses one JSON line (see [`Entity::from_json`]).
    ///
    /// # Errors
    /// [`FtmError::InvalidEntity`] with the JSON parser's message for malformed JSON.
    pub fn from_json_str(model: &'static Model, line: &str) -> Result<Entity> {
        let value: Value =
            serde_json::from_str(line).map_err(|e| FtmError::InvalidEntity(format!("malformed JSON: {e}")))?;
        Entity::from_json(model, &value)
    }

    /// The values of `prop`, in first-seen order (empty if none).
    pub fn get(&self, prop: &str) -> &[String] {
        self.properties.get(prop).map_or(&[], Vec::as_slice)
    }

    /// Every property with values, in the order first set.
    pub fn properties(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.properties.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Adds a value verbatim (cleaned mode) unless already present.
    ///
    /// # Errors
    /// [`FtmError::UnknownProperty`] if the schema does not define `prop`.
    pub fn add(&mut self, prop: &str, value: impl Into<String>) -> Result<()> {
        if self.schema.property(prop).is_none() {
            return Err(FtmError::UnknownProperty { schema: self.schema.name.clone(), prop: prop.to_string() });
        }
        self.push(prop, value.into());
        Ok(())
    }

    /// Adds a value of a property the schema is known to define, unless already present.
    pub(crate) fn push(&mut self, prop: &str, value: String) {
        let values = self.properties.entry(prop.to_string()).or_default();
        if !values.contains(&value) {
            values.push(value);
        }
    }

    /// Signs the id and every entity reference in the namespace `name` ([`crate::ids::sign`]),
    /// as followthemoney's `Namespace.apply` does.
    pub fn sign(&mut self, name: &str) {
        self.id = self.id.as_deref().map(|id| crate::ids::sign(name, id));
        let schema = self.schema;
        for (prop, values) in self.properties.iter_mut() {
            if schema.property(prop).is_some_and(|p| p.type_ == crate::types::PropertyType::Entity) {
                values.iter_mut().for_each(|value| *value = crate::ids::sign(name, value));
            }
        }
    }

    /// Removes and returns the values of `prop`.
    pub fn take(&mut self, prop: &str) -> Vec<String> {
        self.properties.shift_remove(prop).unwrap_or_default()
    }

    /// The entity as FtM JSON: `id`, `schema`, `properties`, `referents`, `datasets`, then
    /// `caption`, `first_seen`, `last_seen`, `last_change` when set, then the context keys in
    /// input order. The keys are those of `ValueEntity.to_dict`; `id` comes first as the `ftm`
    /// CLI writes it, so files sort by id.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), self.id.clone().map_or(Value::Null, Value::String));
        out.insert("schema".into(), Value::String(self.schema.name.clone()));
        let props: Map<String, Value> =
            self.properties.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
        out.insert("properties".into(), Value::Object(props));
        out.insert("referents".into(), Value::from(self.referents.clone()));
        out.insert("datasets".into(), Value::from(self.datasets.clone()));
        if let Some(caption) = &self.caption {
            out.insert("caption".into(), Value::String(caption.clone()));
        }
        let times = [("first_seen", self.first_seen), ("last_seen", self.last_seen), ("last_change", self.last_change)];
        for (key, ts) in times {
            if let Some(ts) = ts {
                out.insert(key.into(), Value::String(isoformat(&ts)));
            }
        }
        for (k, v) in &self.context {
            out.insert(k.clone(), v.clone());
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::model;
    use serde_json::json;

    #[test]
    fn reads_cleaned_values() {
        let data = json!({
            "id": "p1", "schema": "Person", "origin": "src",
            "properties": {"name": [" B ", "Alice", " B "], "country": ["Germany"], "colour": ["red"]},
            "last_change": "2024-01-01T00:00:00"
        });
        let e = Entity::from_json(model(), &data).unwrap();
        assert_eq!(e.id.as_deref(), Some("p1"));
        assert_eq!(e.get("name"), [" B ", "Alice"]);
        assert_eq!(e.get("country"), ["Germany"]);
        assert!(e.get("colour").is_empty());
        assert_eq!(e.context.get("origin"), Some(&json!("src")));
        assert_eq!(isoformat(&e.last_change.unwrap()), "2024-01-01T00:00:00+00:00");
        let out = e.to_json();
        assert_eq!(out["properties"]["name"], json!([" B ", "Alice"]));
        assert_eq!(out["origin"], json!("src"));
    }

    #[test]
    fn bad_input_is_named() {
        let err = Entity::from_json_str(model(), r#"{"id": "x", "schema": "Persn"}"#).unwrap_err();
        assert_eq!(err, FtmError::UnknownSchema("Persn".into()));
        let err = Entity::from_json_str(model(), r#"{"id": "x", "schema": "Person", "properties": {"name": [1]}}"#)
            .unwrap_err();
        assert_eq!(err.to_string(), "property `name` has a value that is not a string: 1");
        let err = Entity::from_json_str(model(), "{\"id\": ").unwrap_err();
        assert!(err.to_string().starts_with("invalid entity: malformed JSON"), "{err}");
        let err = Entity::from_json_str(model(), "[1]").unwrap_err();
        assert_eq!(err, FtmError::InvalidEntity("expected a JSON object, got [1]".into()));
        let err = Entity::from_json_str(model(), r#"{"id": "x"}"#).unwrap_err();
        assert_eq!(err, FtmError::InvalidEntity("no `schema` key".into()));
        let err = Entity::from_json_str(model(), r#"{"schema": "Person", "last_change": "soon"}"#).unwrap_err();
        assert!(matches!(err, FtmError::InvalidTimestamp { .. }));
    }

    #[test]
    fn lenient_reading_skips_non_strings() {
        let data =
            serde_json::json!({"id": "x", "schema": "Person", "properties": {"name": ["A", 1, null], "alias": 5}});
        let e = Entity::from_json_lenient(model(), &data).unwrap();
        assert_eq!(e.get("name"), ["A"]);
        assert!(e.get("alias").is_empty());
        let err = Entity::from_json(model(), &data).unwrap_err();
        assert_eq!(err, FtmError::NonStringValue { prop: "name".into(), value: "1".into() });
    }

    #[test]
    fn bare_string_is_one_value() {
        let e = Entity::from_json_str(model(), r#"{"id": "x", "schema": "Person", "properties": {"name": "John"}}"#)
            .unwrap();
        assert_eq!(e.get("name"), ["John"]);
    }

    #[test]
    fn stubs_are_kept_when_reading() {
        let e = Entity::from_json_str(
            model(),
            r#"{"id": "x", "schema": "Person", "properties": {"ownershipOwner": ["o1"]}}"#,
        )
        .unwrap();
        assert_eq!(e.get("ownershipOwner"), ["o1"]);
    }
}
