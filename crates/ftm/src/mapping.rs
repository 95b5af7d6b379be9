//! FollowTheMoney's mapping language: turning the rows of a table into entities.
//!
//! A mapping is a list of queries; each query has optional row `filters`/`filters_not` and a
//! set of named `entities`, each with a `schema`, an id rule (`key`/`keys` with an optional
//! `key_literal`, or `id_column`) and `properties` filled from `column`/`columns` (with `join`
//! and `split`), `literal`/`literals`, a `template` (`{{column}}` placeholders) or another
//! entity of the same query (`entity`), optionally `required`, dates read with `format`.
//!
//! Results equal `ftm map-csv --no-sign` of followthemoney 4.11.2 (seed 002 "Mappings"): cell
//! values are stripped and empty cells absent; an id is the SHA-1 of the key prefix (the
//! dataset name), the `key_literal` and the non-empty key values in sorted order; an entity
//! without an id, or with a `required` property left empty, is skipped for that row; values
//! are cleaned by their property type ([`crate::clean`]) and dropped when the type rejects
//! them; a schema with `namesMentioned` gets the names of the entities it references.

use std::collections::HashMap;

use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::clean::{check_format, clean_text};
use crate::entity::Entity;
use crate::ids::python_strip;
use crate::model::Model;
use crate::schema::{Property, Schema};
use crate::types::PropertyType;

/// A mapping that cannot be used, with where it is wrong: `query 1, entity "company",
/// property "name": unknown column kind`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {problem}")]
pub struct MappingError {
    /// Where: the query (counted from 1), the entity and the property, as far as known.
    pub place: String,
    /// What is wrong.
    pub problem: String,
}

/// One row of the source table: a value per column name.
pub trait Record {
    /// The cell of `column`, as read (unstripped); `None` for a column the table lacks.
    fn cell(&self, column: &str) -> Option<&str>;
}

impl Record for HashMap<String, String> {
    fn cell(&self, column: &str) -> Option<&str> {
        self.get(column).map(String::as_str)
    }
}

/// A cell as the mapping sees it: stripped, `None` when empty or absent.
fn value<'r>(record: &'r dyn Record, column: &str) -> Option<&'r str> {
    record.cell(column).map(python_strip).filter(|v| !v.is_empty())
}

/// A parsed, checked mapping: its queries in order.
#[derive(Debug, Clone)]
pub struct Mapping {
    queries: Vec<QueryMapping>,
}

#[derive(Debug, Clone)]
struct QueryMapping {
    filters: Vec<(String, Vec<String>)>,
    filters_not: Vec<(String, Vec<String>)>,
    /// Entities in dependency order: each after every entity it references.
    entities: Vec<EntityMapping>,
}

#[derive(Debug, Clone)]
struct EntityMapping {
    name: String,
    schema: &'static Schema,
    id: IdRule,
    properties: Vec<PropertyMapping>,
}

#[derive(Debug, Clone)]
enum IdRule {
    Column(String),
    Keys { literal: String, columns: Vec<String> },
}

#[derive(Debug, Clone)]
struct PropertyMapping {
    property: &'static Property,
    columns: Vec<String>,
    join: Option<String>,
    split: Option<String>,
    literals: Vec<String>,
    template: Option<String>,
    entity: Option<String>,
    format: Option<String>,
    required: bool,
}

/// What one row gave: the entities and the values their types rejected.
#[derive(Debug, Default)]
pub struct Mapped {
    /// Entities query by query, each query's in dependency order (several may share an id).
    pub entities: Vec<Entity>,
    /// `(entity name, property, value)` for each value its type refused.
    pub discarded: Vec<(String, String, String)>,
}

impl Mapping {
    /// Reads a mapping from its parsed YAML or JSON: an object with `queries` (a list) or
    /// `query` (one), each query an object with `entities`.
    ///
    /// # Errors
    /// [`MappingError`] naming the query, entity and property: unknown schema or property,
    /// abstract schema, no id rule, a reference to an entity the query lacks or a cycle of
    /// references, a stub property, a bad `format`, a value of the wrong shape.
    pub fn from_value(model: &'static Model, value: &Value) -> Result<Mapping, MappingError> {
        let top = || MappingError { place: "mapping".into(), problem: String::new() };
        let object =
            value.as_object().ok_or_else(|| MappingError { problem: "not a mapping object".into(), ..top() })?;
        let queries: Vec<&Value> = match (object.get("queries"), object.get("query")) {
            (Some(Value::Array(list)), _) => list.iter().collect(),
            (Some(_), _) => return Err(MappingError { problem: "`queries` is not a list".into(), ..top() }),
            (None, Some(query)) => vec![query],
            (None, None) => return Err(MappingError { problem: "no `queries`".into(), ..top() }),
        };
        if queries.is_empty() {
            return Err(MappingError { problem: "`queries` is empty".into(), ..top() });
        }
        let queries = queries
            .iter()
            .enumerate()
            .map(|(index, query)| QueryMapping::parse(model, query, &format!("query {}", index + 1)))
            .collect::<Result<_, _>>()?;
        Ok(Mapping { queries })
    }

    /// Maps one row with every query; ids are keyed by `key_prefix` (the dataset name).
    pub fn map(&self, record: &dyn Record, key_prefix: &str) -> Mapped {
        let mut mapped = Mapped::default();
        for query in &self.queries {
            query.map(record, key_prefix, &mut mapped);
        }
        mapped
    }

    /// Every column the mapping names outside templates, sorted (to check a table's header
    /// before mapping; a `{{column}}` the table lacks renders empty, as in followthemoney).
    pub fn columns(&self) -> Vec<&str> {
        let mut columns: Vec<&str> = Vec::new();
        for query in &self.queries {
            columns.extend(query.filters.iter().chain(&query.filters_not).map(|(c, _)| c.as_str()));
            for entity in &query.entities {
                match &entity.id {
                    IdRule::Column(column) => columns.push(column),
                    IdRule::Keys { columns: keys, .. } => columns.extend(keys.iter().map(String::as_str)),
                }
                for property in &entity.properties {
                    columns.extend(property.columns.iter().map(String::as_str));
                }
            }
        }
        columns.sort_unstable();
        columns.dedup();
        columns
    }
}

fn error(place: &str, problem: impl Into<String>) -> MappingError {
    MappingError { place: place.to_string(), problem: problem.into() }
}

/// A YAML scalar as FtM reads it: strings as they are, numbers and booleans as text.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.to_string()),
        _ => None,
    }
}

/// A scalar or a list of scalars as a list (`key: id` and `keys: [a, b]` alike).
fn scalars(value: Option<&Value>, place: &str, key: &str) -> Result<Vec<String>, MappingError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| scalar(item).ok_or_else(|| error(place, format!("`{key}` holds a non-scalar value"))))
            .collect(),
        Some(other) => scalar(other).map(|s| vec![s]).ok_or_else(|| error(place, format!("`{key}` is not a value"))),
    }
}

fn filters(
    query: &serde_json::Map<String, Value>,
    key: &str,
    place: &str,
) -> Result<Vec<(String, Vec<String>)>, MappingError> {
    match query.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => {
            map.iter().map(|(column, values)| Ok((column.clone(), scalars(Some(values), place, key)?))).collect()
        }
        Some(_) => Err(error(place, format!("`{key}` is not a mapping of columns to values"))),
    }
}

impl QueryMapping {
    fn parse(model: &'static Model, value: &Value, place: &str) -> Result<QueryMapping, MappingError> {
        let query = value.as_object().ok_or_else(|| error(place, "not an object"))?;
        let entities = match query.get("entities") {
            Some(Value::Object(entities)) if !entities.is_empty() => entities,
            _ => return Err(error(place, "no `entities`")),
        };
        let mut parsed = Vec::new();
        for (name, spec) in entities {
            parsed.push(EntityMapping::parse(model, name, spec, &format!("{place}, entity {name:?}"))?);
        }
        let entities = dependency_order(parsed, place)?;
        Ok(QueryMapping {
            filters: filters(query, "filters", place)?,
            filters_not: filters(query, "filters_not", place)?,
            entities,
        })
    }

    fn map(&self, record: &dyn Record, key_prefix: &str, mapped: &mut Mapped) {
        let matches = |(column, values): &(String, Vec<String>)| {
            value(record, column).is_some_and(|cell| values.iter().any(|v| v == cell))
        };
        if !self.filters.iter().all(matches) || self.filters_not.iter().any(matches) {
            return;
        }
        // The entities of this row by mapping name, for references.
        let mut done: HashMap<&str, usize> = HashMap::new();
        for entity in &self.entities {
            let Some(id) = entity.id.compute(record, key_prefix) else { continue };
            let mut proxy = Entity::new(entity.schema, Some(id));
            let mut complete = true;
            for property in &entity.properties {
                let values = property.values(record, &done, &mapped.entities);
                for text in values {
                    let kind = property.property.type_;
                    match clean_text(kind, &text, property.format.as_deref()) {
                        Some(clean) => proxy.push(&property.property.name, clean),
                        None => mapped.discarded.push((entity.name.clone(), property.property.name.clone(), text)),
                    }
                }
                if property.required && proxy.get(&property.property.name).is_empty() {
                    complete = false;
                    break;
                }
                let mentions = entity.schema.property("namesMentioned").is_some();
                if let (Some(target), true) = (&property.entity, mentions)
                    && let Some(index) = done.get(target.as_str())
                {
                    for name in names_of(&mapped.entities[*index]) {
                        proxy.push("namesMentioned", name);
                    }
                }
            }
            if complete {
                done.insert(&entity.name, mapped.entities.len());
                mapped.entities.push(proxy);
            }
        }
    }
}

/// Every `name`-typed value of an entity (name, alias, previousName, …).
fn names_of(entity: &Entity) -> Vec<String> {
    entity
        .properties()
        .filter(|(prop, _)| entity.schema.property(prop).is_some_and(|p| p.type_ == PropertyType::Name))
        .flat_map(|(_, values)| values.iter().cloned())
        .collect()
}

/// Orders entities so that each comes after those it references; a cycle or a reference to
/// an entity the query lacks is an error.
fn dependency_order(mut pending: Vec<EntityMapping>, place: &str) -> Result<Vec<EntityMapping>, MappingError> {
    let names: Vec<String> = pending.iter().map(|e| e.name.clone()).collect();
    for entity in &pending {
        for target in entity.references() {
            if !names.iter().any(|n| n == target) {
                return Err(error(
                    &format!("{place}, entity {:?}", entity.name),
                    format!("no entity {target:?} in this query"),
                ));
            }
        }
    }
    let mut ordered: Vec<EntityMapping> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|e| e.references().all(|t| ordered.iter().any(|o| o.name == t)))
            .ok_or_else(|| {
                error(
                    place,
                    format!(
                        "entities reference each other in a cycle: {}",
                        pending.iter().map(|e| e.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
            })?;
        ordered.push(pending.remove(ready));
    }
    Ok(ordered)
}

impl EntityMapping {
    fn parse(model: &'static Model, name: &str, value: &Value, place: &str) -> Result<EntityMapping, MappingError> {
        let spec = value.as_object().ok_or_else(|| error(place, "not an object"))?;
        let schema_name = spec.get("schema").and_then(Value::as_str).ok_or_else(|| error(place, "no `schema`"))?;
        let schema = model.get(schema_name).ok_or_else(|| error(place, format!("unknown schema {schema_name:?}")))?;
        if schema.abstract_ {
            return Err(error(place, format!("schema {schema_name:?} is abstract")));
        }
        let mut keys = scalars(spec.get("key"), place, "key")?;
        keys.extend(scalars(spec.get("keys"), place, "keys")?);
        let literal = spec.get("key_literal").and_then(scalar).unwrap_or_default();
        let id = match spec.get("id_column").and_then(scalar) {
            Some(column) => IdRule::Column(column),
            None if keys.is_empty() => {
                return Err(error(place, "no `key`, `keys` or `id_column`: entities need an id"));
            }
            None => IdRule::Keys { literal, columns: keys },
        };
        let mut properties = Vec::new();
        if let Some(props) = spec.get("properties") {
            let props = props.as_object().ok_or_else(|| error(place, "`properties` is not an object"))?;
            for (prop, spec) in props {
                let place = format!("{place}, property {prop:?}");
                let property = schema
                    .property(prop)
                    .ok_or_else(|| error(&place, format!("{schema_name} has no property {prop:?}")))?;
                if property.stub {
                    return Err(error(&place, "a reverse property cannot be written"));
                }
                properties.push(PropertyMapping::parse(property, spec, &place)?);
            }
        }
        Ok(EntityMapping { name: name.to_string(), schema, id, properties })
    }

    fn references(&self) -> impl Iterator<Item = &str> {
        self.properties.iter().filter_map(|p| p.entity.as_deref())
    }
}

impl IdRule {
    /// The entity id for a row, `None` when the key columns are all empty.
    fn compute(&self, record: &dyn Record, key_prefix: &str) -> Option<String> {
        match self {
            IdRule::Column(column) => value(record, column).map(str::to_string),
            IdRule::Keys { literal, columns } => {
                let mut values: Vec<&str> = columns.iter().filter_map(|c| value(record, c)).collect();
                if values.is_empty() {
                    return None;
                }
                values.sort_unstable();
                let mut digest = Sha1::new();
                digest.update(key_prefix.as_bytes());
                digest.update(literal.as_bytes());
                for value in values {
                    digest.update(value.as_bytes());
                }
                Some(hex::encode(digest.finalize()))
            }
        }
    }
}

impl PropertyMapping {
    fn parse(property: &'static Property, value: &Value, place: &str) -> Result<PropertyMapping, MappingError> {
        let spec = value.as_object().ok_or_else(|| error(place, "not an object"))?;
        const KNOWN: [&str; 12] = [
            "column", "columns", "join", "split", "literal", "literals", "template", "entity", "format", "required",
            "fuzzy", "type",
        ];
        if let Some(unknown) = spec.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(error(place, format!("unknown key {unknown:?}")));
        }
        let text = |key: &str| spec.get(key).and_then(scalar);
        let mut columns = scalars(spec.get("column"), place, "column")?;
        columns.extend(scalars(spec.get("columns"), place, "columns")?);
        let mut literals = scalars(spec.get("literal"), place, "literal")?;
        literals.extend(scalars(spec.get("literals"), place, "literals")?);
        let format = text("format");
        if let Some(format) = &format
            && !check_format(format)
        {
            return Err(error(place, format!("bad date format {format:?}")));
        }
        let entity = text("entity");
        if entity.is_some() && property.type_ != PropertyType::Entity {
            return Err(error(place, format!("`entity` on a property of type {}", property.type_)));
        }
        let required = match spec.get("required") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(error(place, "`required` is not true or false")),
        };
        Ok(PropertyMapping {
            property,
            columns,
            join: text("join"),
            split: text("split"),
            literals,
            template: text("template"),
            entity,
            format,
            required,
        })
    }

    /// The raw values of this property for a row, before cleaning.
    fn values(&self, record: &dyn Record, done: &HashMap<&str, usize>, entities: &[Entity]) -> Vec<String> {
        let mut values: Vec<String> = self.literals.clone();
        let cells = self.columns.iter().filter_map(|c| value(record, c).map(str::to_string));
        match &self.join {
            Some(join) => {
                let cells: Vec<String> = cells.collect();
                if !cells.is_empty() {
                    values.push(cells.join(join));
                }
            }
            None => values.extend(cells),
        }
        if let Some(split) = self.split.as_deref().filter(|s| !s.is_empty()) {
            values = values.iter().flat_map(|v| v.split(split)).filter(|v| !v.is_empty()).map(str::to_string).collect();
        }
        if let Some(template) = &self.template {
            values.push(render_template(template, record));
        }
        if let Some(id) = self.entity.as_ref().and_then(|t| done.get(t.as_str())).and_then(|i| entities[*i].id.clone())
        {
            values.push(id);
        }
        values
    }
}

/// A template with each `{{column}}` replaced by the row's (stripped) cell, empty when absent.
fn render_template(template: &str, record: &dyn Record) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push_str(value(record, after[..end].trim()).unwrap_or_default());
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}
