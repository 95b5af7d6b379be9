//! The query model of ftmq (spec `interfaces.md` §2.1): a boolean tree of leaves, each a
//! `(family, field, comparator, value)`, plus sort, slice, projection and aggregation keys.
//!
//! Three spellings build the same [`Query`]: the flat `-q` string ([`Query::from_flat`], §2.3),
//! RQL ([`Query::from_rql`], §2.4) and the JSON form of the REST API ([`Query::from_json`] and
//! [`Query::to_json`], §2.5). Every leaf is validated against the FtM model when it is built,
//! with the reference's messages ([`Error::InvalidQuery`]). [`Node::matches`] evaluates a tree on
//! one entity's live statements with the semantics of §2.2.

mod eval;
mod flat;
mod json;
mod rql;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::LazyLock;

use ftm::PropertyType;

pub use eval::{Column, QueryRow, SortKey};

use crate::error::{Error, Result};

/// Which part of a statement a leaf looks at (the `t` of the JSON form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// `M`: entity metadata: `id`, `entity_id`, `canonical_id`, `dataset`, `schema`, `schemata`.
    Meta,
    /// `P`: an FtM property, by name (`properties.<name>`).
    Property,
    /// `G`: a property type group (`group.<name>`, e.g. `group.countries`).
    Group,
    /// `C`: a column of the stored statement row (`context.<name>`).
    Column,
}

impl Family {
    /// The JSON form's letter.
    pub fn letter(self) -> &'static str {
        match self {
            Family::Meta => "M",
            Family::Property => "P",
            Family::Group => "G",
            Family::Column => "C",
        }
    }

    fn from_letter(letter: &str) -> Option<Family> {
        Some(match letter {
            "M" => Family::Meta,
            "P" => Family::Property,
            "G" => Family::Group,
            "C" => Family::Column,
            _ => return None,
        })
    }
}

/// A comparator (the `op` of the JSON form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// Equal.
    Eq,
    /// Different: row level (an entity needs one value that differs), except for `schema` and
    /// `schemata`, where it excludes the entity.
    Not,
    /// One of a list.
    In,
    /// None of a list; row level like [`Op::Not`].
    NotIn,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Contains the value (case-sensitive substring; `%` and `_` are literal).
    Like,
    /// Contains the value, ignoring case.
    Ilike,
    /// Does not contain the value (JSON form only).
    NotLike,
    /// Does not contain the value, ignoring case (JSON form only).
    NotIlike,
    /// Starts with the value.
    StartsWith,
    /// Ends with the value.
    EndsWith,
    /// `true`: the entity has no value there; `false`: it has one.
    Null,
}

impl Op {
    /// Every comparator with its wire name.
    const NAMES: [(Op, &'static str); 15] = [
        (Op::Eq, "eq"),
        (Op::Not, "not"),
        (Op::In, "in"),
        (Op::NotIn, "not_in"),
        (Op::Gt, "gt"),
        (Op::Gte, "gte"),
        (Op::Lt, "lt"),
        (Op::Lte, "lte"),
        (Op::Like, "like"),
        (Op::Ilike, "ilike"),
        (Op::NotLike, "notlike"),
        (Op::NotIlike, "notilike"),
        (Op::StartsWith, "startswith"),
        (Op::EndsWith, "endswith"),
        (Op::Null, "null"),
    ];

    /// The wire name (`eq`, `not_in`, …).
    pub fn name(self) -> &'static str {
        Op::NAMES.iter().find(|(op, _)| *op == self).map_or("eq", |(_, name)| name)
    }

    /// The comparator of a wire name.
    pub fn parse(name: &str) -> Option<Op> {
        Op::NAMES.iter().find(|(_, n)| *n == name).map(|(op, _)| *op)
    }

    /// `gt`, `gte`, `lt` or `lte`: several on one field must hold for one value.
    pub fn is_bound(self) -> bool {
        matches!(self, Op::Gt | Op::Gte | Op::Lt | Op::Lte)
    }
}

/// A leaf's value (the `v` of the JSON form).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// JSON `null`: matches no stored value.
    None,
    /// The flag of [`Op::Null`].
    Flag(bool),
    /// A single value, compared as text (numbers as numbers for number-typed properties).
    Text(String),
    /// The values of [`Op::In`] and [`Op::NotIn`], sorted and unique.
    List(Vec<String>),
}

impl Value {
    /// A list value: sorted, duplicates removed (the reference's canonical form).
    pub fn list(values: impl IntoIterator<Item = String>) -> Value {
        let mut values: Vec<String> = values.into_iter().collect();
        values.sort();
        values.dedup();
        Value::List(values)
    }

    /// The single values this value compares with: one, the list's, or none.
    pub fn texts(&self) -> &[String] {
        match self {
            Value::Text(text) => std::slice::from_ref(text),
            Value::List(values) => values,
            Value::None | Value::Flag(_) => &[],
        }
    }
}

/// How deep a query tree may nest (RQL calls and groups, JSON nodes): deeper input is refused
/// rather than recursed into.
pub const MAX_DEPTH: usize = 64;

/// The meta fields and the aliases `-q` and RQL accept for them (spec §2.3).
const META_ALIASES: [(&str, &str); 10] = [
    ("id", "id"),
    ("_id", "id"),
    ("entity_id", "entity_id"),
    ("canonical_id", "canonical_id"),
    ("dataset", "dataset"),
    ("datasets", "dataset"),
    ("collection_id", "dataset"),
    ("collections", "dataset"),
    ("schema", "schema"),
    ("schemata", "schemata"),
];

/// A field a leaf, a sort or a projection names, spelled as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Field {
    /// Its family.
    pub family: Family,
    /// Its name within the family: `schema`, `amountEur`, `countries`, `origin`.
    pub name: String,
}

impl Field {
    /// Parses a wire field: `properties.<prop>`, `group.<group>`, `context.<column>` or a meta
    /// name or alias. `bare_is_property` reads any other bare name as a property (RQL does).
    ///
    /// # Errors
    /// [`Error::InvalidQuery`]: an unknown property, group or column, or an unknown bare name.
    pub fn parse(text: &str, bare_is_property: bool) -> Result<Field> {
        let field = if let Some(prop) = text.strip_prefix("properties.") {
            Field { family: Family::Property, name: prop.to_string() }
        } else if let Some(group) = text.strip_prefix("group.") {
            Field { family: Family::Group, name: group.to_string() }
        } else if let Some(column) = text.strip_prefix("context.") {
            Field { family: Family::Column, name: column.to_string() }
        } else if let Some((_, meta)) = META_ALIASES.iter().find(|(alias, _)| *alias == text) {
            Field { family: Family::Meta, name: meta.to_string() }
        } else if bare_is_property {
            Field { family: Family::Property, name: text.to_string() }
        } else {
            return Err(invalid(format!(
                "Unknown field: `{text}` - expected `properties.<name>`, `group.<name>`, `context.<name>`, a meta field (id, entity_id, canonical_id, dataset, schema) or `year`"
            )));
        };
        field.validate()?;
        Ok(field)
    }

    fn validate(&self) -> Result<()> {
        match self.family {
            Family::Property if property_type(&self.name).is_none() => {
                Err(invalid(format!("Invalid prop: `{}`", self.name)))
            }
            Family::Group if group_type(&self.name).is_none() => {
                Err(invalid(format!("Invalid property group: `{}`", self.name)))
            }
            Family::Column if Column::parse(&self.name).is_none() => {
                Err(invalid(format!("Unknown context column: `{}`", self.name)))
            }
            Family::Meta if !META_ALIASES.iter().any(|(_, meta)| *meta == self.name) => {
                Err(invalid(format!("Unknown meta field: `{}`", self.name)))
            }
            _ => Ok(()),
        }
    }

    /// Whether a projection of this field keeps a statement of `prop` (of type `prop_type`):
    /// the property itself, or any property of the group's type.
    pub fn selects(&self, prop: &str, prop_type: &str) -> bool {
        match self.family {
            Family::Property => self.name == prop,
            Family::Group => group_type(&self.name).is_some_and(|t| t.name() == prop_type),
            Family::Meta | Family::Column => false,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.family {
            Family::Meta => f.write_str(&self.name),
            Family::Property => write!(f, "properties.{}", self.name),
            Family::Group => write!(f, "group.{}", self.name),
            Family::Column => write!(f, "context.{}", self.name),
        }
    }
}

/// The type of a property name across the whole model, if some schema has it.
pub(crate) fn property_type(prop: &str) -> Option<PropertyType> {
    ftm::model().qnames().values().find(|p| p.name == prop).map(|p| p.type_)
}

/// Whether every property of that name is number-typed: its bound comparisons and sort keys
/// compare numbers.
pub(crate) fn is_numeric(prop: &str) -> bool {
    static NUMERIC: LazyLock<BTreeSet<String>> = LazyLock::new(|| {
        let props = ftm::model().qnames().values();
        let numbers: BTreeSet<&str> =
            props.clone().filter(|p| p.type_ == PropertyType::Number).map(|p| p.name.as_str()).collect();
        let others: BTreeSet<&str> =
            props.filter(|p| p.type_ != PropertyType::Number).map(|p| p.name.as_str()).collect();
        numbers.difference(&others).map(|name| name.to_string()).collect()
    });
    NUMERIC.contains(prop)
}

/// The property type whose group is `group` (`countries` → `country`).
pub(crate) fn group_type(group: &str) -> Option<PropertyType> {
    PropertyType::ALL.into_iter().find(|t| t.group() == Some(group))
}

fn invalid(message: String) -> Error {
    Error::InvalidQuery(message)
}

/// One condition: a field, a comparator and a value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Leaf {
    /// What the leaf looks at.
    pub field: Field,
    /// How it compares.
    pub op: Op,
    /// With what.
    pub value: Value,
}

impl Leaf {
    /// A validated leaf: schema names must exist (for `schema` with `eq`/`in`/`not`/`not_in`,
    /// and always for `schemata`, which also takes only those comparators); `in`/`not_in` take a
    /// list, `null` a flag, the others one value.
    ///
    /// # Errors
    /// [`Error::InvalidQuery`] with the reference's message.
    pub fn new(field: Field, op: Op, value: Value) -> Result<Leaf> {
        field.validate()?;
        let value = match (op, value) {
            (Op::In | Op::NotIn, Value::Text(text)) => Value::list([text]),
            (Op::In | Op::NotIn, Value::List(values)) => Value::list(values),
            (Op::Null, Value::Flag(flag)) => Value::Flag(flag),
            (Op::Null, Value::Text(text)) => Value::Flag(!matches!(text.to_lowercase().as_str(), "false" | "0" | "")),
            (Op::Null, Value::None) => Value::Flag(true),
            (Op::Null, Value::List(_)) => return Err(invalid("Invalid value for `null`: a list".to_string())),
            (_, Value::List(values)) if values.len() == 1 => Value::Text(values[0].clone()),
            (op, Value::List(values)) => {
                let items: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
                return Err(invalid(format!("Invalid value for `{}`: ({})", op.name(), items.join(", "))));
            }
            (_, value) => value,
        };
        if let (Family::Column, Some(column)) = (field.family, Column::parse(&field.name)) {
            let compares_times = op.is_bound() || matches!(op, Op::Eq | Op::Not);
            let compares_flags = matches!(op, Op::Eq | Op::Not | Op::In | Op::NotIn);
            for text in value.texts() {
                if column.is_time() && compares_times && ftm::time::parse_iso(text).is_none() {
                    return Err(invalid(format!("Invalid timestamp for `{field}`: `{text}`")));
                }
                if column == Column::External && compares_flags && eval::boolean(text).is_none() {
                    return Err(invalid(format!("Invalid boolean for `{field}`: `{text}`")));
                }
            }
        }
        if field.family == Family::Meta && matches!(field.name.as_str(), "schema" | "schemata") {
            let equality = matches!(op, Op::Eq | Op::In | Op::Not | Op::NotIn);
            if equality || field.name == "schemata" {
                for name in value.texts() {
                    if ftm::model().get(name).is_none() {
                        return Err(invalid(format!("Invalid schema: `{name}`")));
                    }
                }
            }
            if field.name == "schemata" && !equality {
                return Err(invalid(format!("Invalid comparator for `schemata`: `{}`", op.name())));
            }
        }
        Ok(Leaf { field, op, value })
    }
}

/// A node of the boolean tree.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Node {
    /// Every child holds.
    And(Vec<Node>),
    /// Some child holds.
    Or(Vec<Node>),
    /// The child does not hold (entity level: entities lacking the field pass).
    Not(Box<Node>),
    /// One condition.
    Leaf(Leaf),
}

impl Node {
    /// The ids of a leaf `id eq|in …` (or `entity_id`, `canonical_id`) with at least one value;
    /// `None` for any other node.
    pub fn id_leaf(&self) -> Option<&[String]> {
        let Node::Leaf(leaf) = self else { return None };
        let ids = leaf.field.family == Family::Meta
            && matches!(leaf.field.name.as_str(), "id" | "entity_id" | "canonical_id")
            && matches!(leaf.op, Op::Eq | Op::In);
        Some(leaf.value.texts()).filter(|values| ids && !values.is_empty())
    }

    /// The ids the first id leaf at the top of this tree (the node itself, or a child of the
    /// top `and`) limits the selection to: every entity the tree selects has one of them.
    pub fn bound_ids(&self) -> Option<&[String]> {
        match self {
            Node::And(children) => children.iter().find_map(Node::id_leaf),
            node => node.id_leaf(),
        }
    }

    /// The conjunction of `nodes`: `None` for none, the node itself for one.
    pub fn all(mut nodes: Vec<Node>) -> Option<Node> {
        match nodes.len() {
            0 => None,
            1 => nodes.pop(),
            _ => Some(Node::And(nodes)),
        }
    }
}

/// The order of the results: by a property's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    /// The property (sorting takes only properties).
    pub prop: String,
    /// Largest first (the entity's key is then its largest value).
    pub descending: bool,
}

impl Sort {
    /// Parses `properties.<prop>[:asc|:desc]` (`-q`) or `[-]properties.<prop>` (JSON).
    ///
    /// # Errors
    /// [`Error::InvalidQuery`] for an unknown field or one that is not a property.
    pub fn parse(text: &str) -> Result<Sort> {
        let (text, mut descending) = match text.strip_prefix('-') {
            Some(rest) => (rest, true),
            None => (text, false),
        };
        let field = match text.rsplit_once(':') {
            Some((field, direction)) => {
                descending = direction == "desc";
                field
            }
            None => text,
        };
        match Field::parse(field, false)? {
            Field { family: Family::Property, name } => Ok(Sort { prop: name, descending }),
            _ => Err(invalid(format!(
                "Invalid sort field: `{field}` - only a property is sortable, e.g. `properties.date`"
            ))),
        }
    }
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}properties.{}", if self.descending { "-" } else { "" }, self.prop)
    }
}

/// An aggregation the query asks for (validated, then ignored by the reads, as by the
/// reference: spec §2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregation {
    /// `min`, `max`, `sum`, `avg` or `count`.
    pub func: String,
    /// The field aggregated, as on the wire.
    pub field: String,
    /// Fields to group by, as on the wire.
    pub by: Vec<String>,
}

/// The aggregation functions.
const AGGREGATION_FUNCS: [&str; 5] = ["avg", "count", "max", "min", "sum"];

impl Aggregation {
    /// Checks an aggregation function's name.
    ///
    /// # Errors
    /// [`Error::InvalidQuery`] naming the functions there are.
    pub fn check_func(func: &str) -> Result<()> {
        if AGGREGATION_FUNCS.contains(&func) {
            Ok(())
        } else {
            Err(invalid(format!("Invalid aggregation function: `{func}` - one of ({})", AGGREGATION_FUNCS.join(", "))))
        }
    }

    /// A validated aggregation.
    ///
    /// # Errors
    /// [`Error::InvalidQuery`] for an unknown function or field.
    pub fn new(func: &str, field: &str, by: Vec<String>) -> Result<Aggregation> {
        Aggregation::check_func(func)?;
        for f in std::iter::once(field).chain(by.iter().map(String::as_str)) {
            Field::parse(f, false)?;
        }
        Ok(Aggregation { func: func.to_string(), field: field.to_string(), by })
    }
}

/// A whole query: which entities, in which order, which slice, which properties.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The condition; `None` selects every entity.
    pub node: Option<Node>,
    /// The order; `None`: entity id order.
    pub sort: Option<Sort>,
    /// At most this many entities.
    pub limit: Option<usize>,
    /// Skip this many entities first.
    pub offset: usize,
    /// Only these properties (`properties.*` / `group.*`) in the results; empty: all.
    pub select: Vec<Field>,
    /// Aggregations asked for (not computed).
    pub aggregations: Vec<Aggregation>,
    /// `func:field[:asc]` ordering of facets (not computed).
    pub facet_sort: Option<String>,
    /// Facet sizes per field (not computed).
    pub facet_size: BTreeMap<String, usize>,
}

impl Query {
    /// Whether a statement row of `prop` (of type `prop_type`) survives the projection; the
    /// checksum row (`prop` = `id`) always does.
    pub fn keeps(&self, prop: &str, prop_type: &str) -> bool {
        self.select.is_empty()
            || prop == ftm::statement::BASE_ID
            || self.select.iter().any(|f| f.selects(prop, prop_type))
    }
}
