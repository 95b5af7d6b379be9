//! The statement: one value of one property of one entity, with its provenance.
//!
//! Columns follow the lakehouse statement table (spec `storage-format.md` §2.1) plus FtM's
//! `canonical_id` (spec `ftm-model.md` §4.1). Identity is [`make_key`] (§4.2): the id hashes
//! dataset, entity id, property, value, `lang` and `external`, nothing else.

use sha1::{Digest, Sha1};

use crate::time::Timestamp;

/// The property name of the per-entity checksum statement (`BASE_ID`).
pub const BASE_ID: &str = "id";

/// One statement row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// 40 lowercase hex chars: [`make_key`] of the row.
    pub id: String,
    /// The entity's id, namespace stripped (spec `storage-format.md` §3.2).
    pub entity_id: String,
    /// The id the entity is known under after deduplication; the lakehouse stores none and
    /// reads it as `entity_id`.
    pub canonical_id: String,
    /// Property name, or [`BASE_ID`] for the checksum statement.
    pub prop: String,
    /// FtM type name of the property on the schema, `id` for the checksum statement.
    pub prop_type: String,
    /// Schema of the emitting entity.
    pub schema: String,
    /// The value, stored verbatim (cleaned mode); for the checksum statement, the
    /// [`entity_checksum`].
    pub value: String,
    /// The lakehouse dataset name the id is keyed under.
    pub dataset: String,
    /// Language of the value, if any; part of the id. Only types that
    /// [keep one](crate::PropertyType::keeps_lang) carry it.
    pub lang: Option<String>,
    /// The value before cleaning; `None` when equal to `value`.
    pub original_value: Option<String>,
    /// FtM's `external` flag; part of the id. Entity imports write `false`.
    pub external: bool,
    /// When the statement was first seen; the writer fills a missing one (spec
    /// `storage-format.md` §3.4).
    pub first_seen: Option<Timestamp>,
    /// When the statement was last seen: the row a merge keeps among duplicates is the one with
    /// the latest (spec `storage-format.md` §5.2).
    pub last_seen: Option<Timestamp>,
    /// Provenance label (`bulk`, `crawl`, …); validated by the lakehouse before storage.
    pub origin: Option<String>,
    /// `""` for none. Rows of one fragment supersede each other (spec `storage-format.md` §5.2).
    pub fragment: String,
    /// Free-text role of the writer; `None` for none (an empty role is stored as `None`).
    pub role: Option<String>,
    /// Set on tombstones: the time the statement was deleted.
    pub deleted_at: Option<Timestamp>,
    /// Always `None` in the reference 0.9.0.
    pub source: Option<String>,
}

/// Lowercase hex SHA-1 of the UTF-8 bytes of `text`.
pub fn sha1_hex(text: impl AsRef<[u8]>) -> String {
    hex::encode(Sha1::digest(text.as_ref()))
}

/// FtM's `Statement.make_key`: sha1 of `"{dataset}.{entity_id}.{prop}.{value}"`, then
/// `"@{lang}"` when a lang is set, then `".ext"` when external. No escaping (spec §4.2).
///
/// `make_key("donations", "f9c295f21b233ac878fbac4d271bb6fd13d7952a", "name", "Frau Lina Dachner",
/// false, None)` is `7ade7c2ff14092d15253a3a36871da26b5070216`.
pub fn make_key(dataset: &str, entity_id: &str, prop: &str, value: &str, external: bool, lang: Option<&str>) -> String {
    hex::encode(key_digest(dataset, entity_id, prop, value, external, lang))
}

/// The SHA-1 digest [`make_key`] spells in hex.
pub fn key_digest(
    dataset: &str,
    entity_id: &str,
    prop: &str,
    value: &str,
    external: bool,
    lang: Option<&str>,
) -> [u8; 20] {
    let mut hasher = Sha1::new();
    for part in [dataset, ".", entity_id, ".", prop, ".", value] {
        hasher.update(part.as_bytes());
    }
    if let Some(lang) = lang {
        hasher.update(b"@");
        hasher.update(lang.as_bytes());
    }
    if external {
        hasher.update(b".ext");
    }
    hasher.finalize().into()
}

/// The value of an entity's checksum statement: sha1 of the schema name followed by the
/// sorted, distinct statement ids, concatenated without separators (spec §4.4, §6 pitfall 7).
pub fn entity_checksum<'a>(schema: &str, ids: impl IntoIterator<Item = &'a str>) -> String {
    let mut ids: Vec<&str> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut hasher = Sha1::new();
    hasher.update(schema.as_bytes());
    for id in ids {
        hasher.update(id.as_bytes());
    }
    hex::encode(hasher.finalize())
}

impl Statement {
    /// A statement with its id computed by [`make_key`]: no `lang`, not external,
    /// `canonical_id` = `entity_id`, no timestamps, origin, fragment or role. Set `lang` or
    /// `external` afterwards with [`Statement::rekey`].
    pub fn new(dataset: &str, entity_id: &str, schema: &str, prop: &str, prop_type: &str, value: &str) -> Statement {
        let id = make_key(dataset, entity_id, prop, value, false, None);
        Statement::with_id(id, dataset, entity_id, schema, prop, prop_type, value)
    }

    /// [`Statement::new`] with its id already computed (it must be [`make_key`] of the fields).
    pub fn with_id(
        id: String,
        dataset: &str,
        entity_id: &str,
        schema: &str,
        prop: &str,
        prop_type: &str,
        value: &str,
    ) -> Statement {
        Statement {
            id,
            entity_id: entity_id.to_string(),
            canonical_id: entity_id.to_string(),
            prop: prop.to_string(),
            prop_type: prop_type.to_string(),
            schema: schema.to_string(),
            value: value.to_string(),
            dataset: dataset.to_string(),
            lang: None,
            original_value: None,
            external: false,
            first_seen: None,
            last_seen: None,
            origin: None,
            fragment: String::new(),
            role: None,
            deleted_at: None,
            source: None,
        }
    }

    /// Recomputes `id` from `dataset`, `entity_id`, `prop`, `value`, `external` and `lang`, as the
    /// lakehouse does on every write (a carried-over id is never trusted).
    pub fn rekey(&mut self) {
        self.id =
            make_key(&self.dataset, &self.entity_id, &self.prop, &self.value, self.external, self.lang.as_deref());
    }
}

/// The fields of a statement that [`aggregate`](crate::aggregate()) folds, borrowed for `'a`
/// from wherever the statement lives: a [`Statement`] (through `&'a Statement`), or a row of the
/// lakehouse's column batches, which need not become a `Statement` to be aggregated. The
/// aggregated record borrows its strings for the same `'a`.
pub trait StatementFields<'a> {
    /// The entity id the statement is stored under.
    fn entity_id(&self) -> &'a str;
    /// The deduplicated id; `""` for none.
    fn canonical_id(&self) -> &'a str;
    /// The schema name of the emitting entity.
    fn schema(&self) -> &'a str;
    /// The property name, or [`BASE_ID`] for the checksum statement.
    fn prop(&self) -> &'a str;
    /// The value.
    fn value(&self) -> &'a str;
    /// The dataset the statement is keyed under.
    fn dataset(&self) -> &'a str;
    /// The provenance label; `None` or `""` for none.
    fn origin(&self) -> Option<&'a str>;
    /// The role; `None` or `""` for none.
    fn role(&self) -> Option<&'a str>;
    /// UTC microseconds.
    fn first_seen(&self) -> Option<i64>;
    /// UTC microseconds.
    fn last_seen(&self) -> Option<i64>;
}

impl<'a> StatementFields<'a> for &'a Statement {
    fn entity_id(&self) -> &'a str {
        &self.entity_id
    }

    fn canonical_id(&self) -> &'a str {
        &self.canonical_id
    }

    fn schema(&self) -> &'a str {
        &self.schema
    }

    fn prop(&self) -> &'a str {
        &self.prop
    }

    fn value(&self) -> &'a str {
        &self.value
    }

    fn dataset(&self) -> &'a str {
        &self.dataset
    }

    fn origin(&self) -> Option<&'a str> {
        self.origin.as_deref()
    }

    fn role(&self) -> Option<&'a str> {
        self.role.as_deref()
    }

    fn first_seen(&self) -> Option<i64> {
        self.first_seen.map(|t| t.timestamp_micros())
    }

    fn last_seen(&self) -> Option<i64> {
        self.last_seen.map(|t| t.timestamp_micros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_vectors() {
        assert_eq!(sha1_hex("jtest.p1.name.Alice"), "11b4d110c8555610bb98d6b0c055be19d99631c4");
        assert_eq!(make_key("jtest", "p1", "name", "Alice", false, None), "11b4d110c8555610bb98d6b0c055be19d99631c4");
        assert_eq!(
            make_key("jtest", "p1", "nationality", "de", false, None),
            "9ca237e4a4aa491b5fa658560ee36140c9e7038c"
        );
        assert_eq!(
            make_key("donations", "f9c295f21b233ac878fbac4d271bb6fd13d7952a", "name", "Frau Lina Dachner", false, None),
            "7ade7c2ff14092d15253a3a36871da26b5070216"
        );
        assert_eq!(make_key("ds", "e1", "name", "Foo", false, Some("eng")), sha1_hex("ds.e1.name.Foo@eng"));
        assert!(make_key("ds", "e1", "name", "Foo", false, Some("eng")).starts_with("0fc1a509"));
        assert!(make_key("ds", "e1", "name", "Foo", true, Some("eng")).starts_with("4ad4c9b7"));
        assert_eq!(make_key("ds", "e1", "name", "Foo", true, None), sha1_hex("ds.e1.name.Foo.ext"));
    }

    #[test]
    fn checksum_vector() {
        // Dataset `jtest`, Person `p1` with name=Alice, nationality=de (storage-format.md §3.3).
        let ids = ["9ca237e4a4aa491b5fa658560ee36140c9e7038c", "11b4d110c8555610bb98d6b0c055be19d99631c4"];
        let value = entity_checksum("Person", ids.iter().copied().chain(ids.iter().copied()));
        assert_eq!(value, "2677cee572e5ca1b407ad25c138de71b75d033ee");
        assert_eq!(make_key("jtest", "p1", "id", &value, false, None), "61a4ba497aa3526b566109bdd2e40f0895c8c056");
    }
}
