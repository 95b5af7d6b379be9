//! Entity → statements, the way the lakehouse imports entities (spec `ftm-model.md` §4.5,
//! `storage-format.md` §3.1–§3.4).
//!
//! 1. The empty namespace is applied: the entity id and every value of an entity-typed property
//!    lose their last `.segment`; an id that fails the entity id rule is an error, a reference
//!    that fails it is dropped, a reference to the entity itself is an error.
//! 2. Stub properties are refused (they are all entity-typed, so the reference raises too).
//! 3. One statement per distinct (property, value), keyed under the **target dataset**; empty
//!    strings are skipped; values are otherwise stored verbatim (cleaned mode: no type cleaning).
//! 4. One checksum statement (`prop = "id"`, `prop_type = "id"`) whose value is
//!    [`entity_checksum`] over the property statement ids.
//!
//! A payload's `last_change` becomes `first_seen` and `last_seen` of every row; rows of an
//! entity without one get no timestamps here (the writer fills them at pack time).

use std::borrow::Cow;
use std::collections::HashSet;

use crate::entity::Entity;
use crate::error::{FtmError, Result};
use crate::ids::{clean_entity_id, sanitize_text, strip_namespace};
use crate::statement::{BASE_ID, Statement, entity_checksum, key_digest};
use crate::time::Timestamp;
use crate::types::PropertyType;

/// One statement of an [`Exploded`] entity, its text borrowed from the entity where it can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row<'a> {
    /// [`make_key`](crate::make_key) of the row, 40 lowercase hex bytes.
    id: [u8; 40],
    /// Property name, or [`BASE_ID`] for the checksum statement.
    pub prop: &'a str,
    /// FtM type name of the property, `id` for the checksum statement.
    pub prop_type: &'static str,
    /// The value as given (a reference namespace-stripped), or the checksum.
    pub value: Cow<'a, str>,
}

impl Row<'_> {
    /// The statement id (40 lowercase hex chars).
    pub fn id(&self) -> &str {
        std::str::from_utf8(&self.id).expect("hex is ASCII")
    }
}

/// An entity's statements under one dataset, before they become [`Statement`]s: the bulk
/// import writes these straight into columns without a heap string per field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exploded<'a> {
    /// The namespace-stripped entity id.
    pub entity_id: &'a str,
    /// The entity's schema name.
    pub schema: &'static str,
    /// Property statements in property order, then the checksum statement.
    pub rows: Vec<Row<'a>>,
    /// The payload's `last_change`: `first_seen` and `last_seen` of every row.
    pub last_change: Option<Timestamp>,
}

impl Exploded<'_> {
    /// The rows as statements keyed under `dataset` (the dataset the rows were keyed under).
    pub fn statements(&self, dataset: &str) -> Vec<Statement> {
        self.rows
            .iter()
            .map(|row| {
                let id = row.id().to_string();
                let mut s =
                    Statement::with_id(id, dataset, self.entity_id, self.schema, row.prop, row.prop_type, &row.value);
                debug_assert_eq!(s.id, crate::make_key(dataset, self.entity_id, row.prop, &row.value, false, None));
                s.first_seen = self.last_change;
                s.last_seen = self.last_change;
                s
            })
            .collect()
    }
}

/// The statements of `entity` under `dataset`: property statements in property order, then
/// the checksum statement last.
///
/// # Errors
/// [`FtmError::MissingId`] when the id is missing or fails the entity id rule;
/// [`FtmError::StubProperty`] when the entity sets a reverse stub property;
/// [`FtmError::SelfReference`] when an entity-typed value is the entity's own id.
pub fn explode(entity: &Entity, dataset: &str) -> Result<Vec<Statement>> {
    explode_rows(entity, dataset, true).map(|e| e.expect("strict explode never skips").statements(dataset))
}

/// The lenient (`--unsafe` import) variant of [`explode`] (spec `ftm-model.md` §4.5): stub
/// properties are skipped and self-references kept; `None` for an entity without a valid id.
pub fn explode_lenient(entity: &Entity, dataset: &str) -> Option<Vec<Statement>> {
    explode_rows(entity, dataset, false).ok().flatten().map(|e| e.statements(dataset))
}

/// What happens to the namespace suffix of ids (`id.signature`, spec `ftm-model.md` §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// Drop it, as the lakehouse does with every imported entity (the empty namespace).
    Strip,
    /// Keep ids and references as given (cleaned and checked): signed mapping output.
    Keep,
}

impl Namespace {
    fn apply(self, id: &str) -> Option<&str> {
        match self {
            Namespace::Strip => strip_namespace(id),
            Namespace::Keep => clean_entity_id(id),
        }
    }
}

/// [`explode`] (`strict`) or [`explode_lenient`], as rows borrowed from `entity`; `Ok(None)`
/// only when lenient.
///
/// # Errors
/// As [`explode`], when `strict`.
pub fn explode_rows<'a>(entity: &'a Entity, dataset: &str, strict: bool) -> Result<Option<Exploded<'a>>> {
    explode_rows_in(entity, dataset, strict, Namespace::Strip)
}

/// [`explode_rows`] with ids and references treated as `namespace` says.
///
/// # Errors
/// As [`explode`], when `strict`.
pub fn explode_rows_in<'a>(
    entity: &'a Entity,
    dataset: &str,
    strict: bool,
    namespace: Namespace,
) -> Result<Option<Exploded<'a>>> {
    let raw_id = entity.id.as_deref().unwrap_or_default();
    let Some(id) = namespace.apply(raw_id) else {
        return if strict { Err(FtmError::MissingId(format!("{raw_id:?}"))) } else { Ok(None) };
    };
    let schema = entity.schema.name.as_str();
    let mut rows = Vec::new();
    let key = |prop: &str, value: &str| {
        let mut hex = [0u8; 40];
        hex::encode_to_slice(key_digest(dataset, id, prop, value, false, None), &mut hex).expect("40 hex bytes");
        hex
    };
    for (name, values) in entity.properties() {
        let prop = entity.schema.property(name).expect("entities only hold schema properties");
        if prop.stub {
            if !strict {
                continue;
            }
            return Err(FtmError::StubProperty {
                schema: schema.to_string(),
                prop: name.to_string(),
                reverse: format!("{}:{}", prop.range.as_deref().unwrap_or("?"), prop.reverse.as_deref().unwrap_or("?")),
            });
        }
        for value in values {
            let value = if prop.type_ == PropertyType::Entity {
                // A stripped reference passed the entity id rule: ASCII letters, digits, `.`
                // and `-`, which `sanitize_text` leaves as they are.
                let Some(target) = namespace.apply(value) else {
                    continue;
                };
                debug_assert_eq!(sanitize_text(target).as_deref(), Some(target));
                if strict && target == id {
                    return Err(FtmError::SelfReference { id: id.to_string(), prop: name.to_string() });
                }
                Cow::Borrowed(target)
            } else if value.is_empty() {
                continue;
            } else {
                Cow::Borrowed(value.as_str())
            };
            rows.push(Row { id: key(name, &value), prop: name, prop_type: prop.type_.name(), value });
        }
    }
    // A value given twice makes one statement (the first).
    let mut seen = HashSet::with_capacity(rows.len());
    let repeated: Vec<bool> = rows.iter().map(|r| !seen.insert(r.id)).collect();
    if repeated.contains(&true) {
        let mut repeated = repeated.into_iter();
        rows.retain(|_| !repeated.next().unwrap_or(false));
    }
    let checksum = entity_checksum(schema, rows.iter().map(Row::id));
    rows.push(Row { id: key(BASE_ID, &checksum), prop: BASE_ID, prop_type: BASE_ID, value: Cow::Owned(checksum) });
    Ok(Some(Exploded { entity_id: id, schema, rows, last_change: entity.last_change }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::model;

    fn entity(json: &str) -> Entity {
        Entity::from_json_str(model(), json).unwrap()
    }

    #[test]
    fn person_vector() {
        let e = entity(r#"{"id": "p1", "schema": "Person", "properties": {"name": ["Alice"], "nationality": ["de"]}}"#);
        let stmts = explode(&e, "jtest").unwrap();
        assert_eq!(stmts.len(), 3);
        assert_eq!(stmts[0].id, "11b4d110c8555610bb98d6b0c055be19d99631c4");
        assert_eq!(stmts[1].id, "9ca237e4a4aa491b5fa658560ee36140c9e7038c");
        assert_eq!(stmts[1].prop_type, "country");
        let base = &stmts[2];
        assert_eq!((base.prop.as_str(), base.prop_type.as_str()), ("id", "id"));
        assert_eq!(base.value, "2677cee572e5ca1b407ad25c138de71b75d033ee");
        assert_eq!(base.id, "61a4ba497aa3526b566109bdd2e40f0895c8c056");
    }

    #[test]
    fn namespaces_are_stripped() {
        let e = entity(
            r#"{"id": "o1.sig", "schema": "Ownership", "properties": {"owner": [" p1.sig "], "asset": ["a_b", "c1"]}}"#,
        );
        let stmts = explode(&e, "ds").unwrap();
        let values: Vec<_> = stmts.iter().map(|s| (s.entity_id.as_str(), s.prop.as_str(), s.value.as_str())).collect();
        assert_eq!(values[..2], [("o1", "owner", "p1"), ("o1", "asset", "c1")]);
        assert_eq!(stmts.len(), 3);
    }

    #[test]
    fn refusals() {
        let no_id = entity(r#"{"id": "a_b", "schema": "Person", "properties": {"name": ["x"]}}"#);
        assert_eq!(explode(&no_id, "ds").unwrap_err(), FtmError::MissingId("\"a_b\"".into()));
        let stub = entity(r#"{"id": "p1", "schema": "Person", "properties": {"ownershipOwner": ["o1"]}}"#);
        let err = explode(&stub, "ds").unwrap_err();
        assert!(matches!(err, FtmError::StubProperty { ref prop, .. } if prop == "ownershipOwner"), "{err}");
        assert!(err.to_string().contains("Ownership:owner"), "{err}");
        let selfref = entity(r#"{"id": "c1", "schema": "Company", "properties": {"parent": ["c1.x"]}}"#);
        assert!(matches!(explode(&selfref, "ds"), Err(FtmError::SelfReference { .. })));
        // The lenient path skips stubs, keeps self-references and skips id-less entities.
        assert_eq!(explode_lenient(&stub, "ds").unwrap().len(), 1);
        assert_eq!(explode_lenient(&selfref, "ds").unwrap().len(), 2);
        assert!(explode_lenient(&no_id, "ds").is_none());
    }

    #[test]
    fn rows_borrow_from_the_entity() {
        let e =
            entity(r#"{"id": "o1.sig", "schema": "Ownership", "properties": {"owner": ["p1.sig"], "role": ["x"]}}"#);
        let exploded = explode_rows(&e, "ds", true).unwrap().unwrap();
        assert_eq!((exploded.entity_id, exploded.schema), ("o1", "Ownership"));
        let statements = explode(&e, "ds").unwrap();
        assert_eq!(exploded.rows.len(), statements.len());
        for (row, s) in exploded.rows.iter().zip(&statements) {
            assert_eq!(
                (row.id(), row.prop, row.prop_type, row.value.as_ref()),
                (s.id.as_str(), &*s.prop, &*s.prop_type, &*s.value)
            );
        }
        assert!(exploded.rows[..2].iter().all(|r| matches!(r.value, Cow::Borrowed(_))), "values are not copied");
        assert_eq!(exploded.rows[2].prop, BASE_ID, "the checksum row comes last");
    }

    #[test]
    fn empty_values_and_duplicates() {
        let e = entity(r#"{"id": "p1", "schema": "Person", "properties": {"name": ["", " ", "x", "x"]}}"#);
        let stmts = explode(&e, "ds").unwrap();
        let values: Vec<_> = stmts.iter().map(|s| s.value.as_str()).collect();
        assert_eq!(values[..2], [" ", "x"]);
        assert_eq!(stmts.len(), 3);
    }
}
