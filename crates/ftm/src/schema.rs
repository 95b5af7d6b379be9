//! Resolved schemata and properties: what a loaded [`Model`](crate::Model) hands out.
//!
//! The shapes follow spec `ftm-model.md` §1.2–§1.5: a [`Schema`] knows its own flags and lists
//! plus every property after inheritance (own first, then each parent's in `extends` order, then
//! reverse stubs); a [`Property`] is shared by every schema that inherits it and keeps the name of
//! the schema that defines it (`qname` = `Thing:name` even on `Person`).

use std::collections::BTreeSet;
use std::sync::Arc;

use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;

use crate::types::PropertyType;

/// One property of a schema, e.g. `Thing:name` (type `name`) or `Ownership:owner` (type `entity`).
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// Property name, e.g. `name`.
    pub name: String,
    /// Qualified name `<defining schema>:<name>`.
    pub qname: String,
    /// The schema that defines this property (not every schema that inherits it).
    pub schema: String,
    /// English label; defaults to the name.
    pub label: String,
    /// The YAML `description`, if any.
    pub description: Option<String>,
    /// The value type; `string` when the YAML gives none.
    pub type_: PropertyType,
    /// For entity properties: the schema the referenced entity must be (`is_a`).
    pub range: Option<String>,
    /// For entity properties: the name of the inverse property on `range` (often a stub).
    pub reverse: Option<String>,
    /// Whether values are used for matching; defaults to the type's `matchable`.
    pub matchable: bool,
    /// Hidden from user interfaces (the YAML `hidden`, default false).
    pub hidden: bool,
    /// Kept for old data, not to be used for new (the YAML `deprecated`, default false).
    pub deprecated: bool,
    /// A generated reverse property (spec §1.5): can be read, never written.
    pub stub: bool,
    /// Nominal maximum value length (the property's `maxLength`, else the type's). Not enforced.
    pub max_length: usize,
    /// Identifier format (`iban`, `lei`, …), metadata only in cleaned mode.
    pub format: Option<String>,
}

/// The `edge` block of a relationship schema such as `Ownership` or `Payment`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The property naming the entity the edge starts from (`owner` for `Ownership`).
    pub source: String,
    /// The property naming the entity the edge points at (`asset` for `Ownership`).
    pub target: String,
    /// The edge's label (`owns`), if any.
    pub label: Option<String>,
    /// Whether the edge has a direction (default true).
    pub directed: bool,
    /// Properties giving the edge's caption, in order.
    pub caption: Vec<String>,
}

/// Properties by name, in order, hashed with Fx: names are short, and lookups are per statement.
pub(crate) type PropertyMap = IndexMap<String, Arc<Property>, FxBuildHasher>;

/// The `temporalExtent` block: properties giving the start and end of an entity in time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemporalExtent {
    /// Date properties giving the start (`startDate`, `date` for `Interval`), in YAML order.
    pub start: Vec<String>,
    /// Date properties giving the end (`endDate` for `Interval`), in YAML order.
    pub end: Vec<String>,
}

/// A resolved schema such as `Person`.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Schema name, e.g. `Person`.
    pub name: String,
    /// English label; defaults to the name (only `Thing` has none).
    pub label: String,
    /// Plural label; defaults to the label.
    pub plural: String,
    /// The YAML `description`, if any.
    pub description: Option<String>,
    /// Direct parents, in declaration order (the first listed parent wins name clashes).
    pub extends: Vec<String>,
    /// The YAML `abstract`: no entity is ever of this schema (`Thing`, `Interval`, …).
    pub abstract_: bool,
    /// The YAML `matchable` (default true): entities of this schema take part in matching.
    pub matchable: bool,
    /// The YAML `generated`: entities of this schema come from ingestion. Informational.
    pub generated: bool,
    /// Hidden from user interfaces; only effective on non-abstract schemata.
    pub hidden: bool,
    /// The YAML `deprecated` (default false).
    pub deprecated: bool,
    /// Own `featured` list (not inherited).
    pub featured: Vec<String>,
    /// Own `required` list (not inherited, never enforced on bulk data).
    pub required: Vec<String>,
    /// Own caption property list (not inherited); empty means "use the label".
    pub caption: Vec<String>,
    /// Own edge definition (not inherited).
    pub edge: Option<Edge>,
    /// Temporal extent, inherited from the first parent that has one.
    pub temporal_extent: Option<TemporalExtent>,
    pub(crate) properties: PropertyMap,
    pub(crate) schemata: BTreeSet<String>,
    pub(crate) descendants: BTreeSet<String>,
}

impl Schema {
    /// The property `name` as this schema sees it (own, inherited or stub).
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.get(name).map(|p| p.as_ref())
    }

    /// Every property of the schema after inheritance, own properties first.
    pub fn properties(&self) -> impl Iterator<Item = &Property> {
        self.properties.values().map(|p| p.as_ref())
    }

    /// Names of this schema and all its ancestors, sorted.
    pub fn schemata(&self) -> &BTreeSet<String> {
        &self.schemata
    }

    /// Names of every schema that extends this one, directly or not, sorted (self excluded).
    pub fn descendants(&self) -> &BTreeSet<String> {
        &self.descendants
    }

    /// `true` if this schema is `other` or extends it.
    pub fn is_a(&self, other: &str) -> bool {
        self.schemata.contains(other)
    }

    /// Whether this is an edge (relationship) schema.
    pub fn is_edge(&self) -> bool {
        self.edge.is_some()
    }
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
