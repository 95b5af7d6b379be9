//! Which entities and statements a read returns, and what of that the scan can push down.
//!
//! A [`Filter`] selects rows (`entity_ids`, `origins`: only those rows are read, and their
//! shards and partitions alone) and whole entities (`node`, a query tree: an entity is returned
//! with all its live rows when they satisfy it, spec `interfaces.md` §2.2).
//!
//! Before the entities are read, each leaf the tree cannot hold without gives a row predicate
//! ([`Filter::entity_predicates`]): a matching entity has at least one stored row satisfying
//! it, so the ids of the rows that do are a superset of the result, found by a scan that reads
//! a few columns and prunes partitions (bucket from the schema, shard from the id, origin) and
//! row groups. The tree is then evaluated exactly on the live rows of those entities.

use std::borrow::Cow;
use std::collections::BTreeSet;

use deltalake::arrow::array::{Array, StringArray};
use deltalake::datafusion::logical_expr::expr::Like;
use deltalake::datafusion::prelude::{Expr, col, lit};
use deltalake::datafusion::scalar::ScalarValue;

use super::columns::ColumnRow;
use crate::model::query::{Column, Family, Leaf, Node, Op, QueryRow, Value, group_type, is_numeric};
use crate::model::{Bucket, shard};

/// A read filter; the default selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    /// Only rows of these entity ids.
    pub entity_ids: Vec<String>,
    /// Only rows of these origins.
    pub origins: Vec<String>,
    /// Only entities whose live rows satisfy this tree.
    pub node: Option<Node>,
}

/// Most values a pushed-down list or OR may hold: DataFusion and delta-rs recurse over such
/// predicates as deep as they are long, so longer ones are left to the evaluation.
const MAX_LIST: usize = 1_000;

fn in_list(column: &str, values: impl IntoIterator<Item = String>) -> Expr {
    col(column).in_list(values.into_iter().map(lit).collect(), false)
}

/// `%` and `_` escaped for a LIKE pattern with `\` as the escape character.
fn escape_like(value: &str) -> String {
    value.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

fn like(expr: Expr, pattern: String, negated: bool) -> Expr {
    Expr::Like(Like::new(negated, Box::new(expr), Box::new(lit(pattern)), Some('\\'), false))
}

/// `expr <op> value` for a text column, when DataFusion's comparison is exactly the evaluation's
/// (byte order, literal substrings); `None` otherwise (case-insensitive matches).
fn text_predicate(expr: Expr, op: Op, value: &Value) -> Option<Expr> {
    let texts = value.texts();
    let first = texts.first()?.clone();
    if texts.len() > MAX_LIST {
        return None;
    }
    Some(match op {
        Op::Eq => expr.eq(lit(first)),
        Op::Not => expr.not_eq(lit(first)),
        Op::In => expr.in_list(texts.iter().cloned().map(lit).collect(), false),
        Op::NotIn => expr.in_list(texts.iter().cloned().map(lit).collect(), true),
        Op::Gt => expr.gt(lit(first)),
        Op::Gte => expr.gt_eq(lit(first)),
        Op::Lt => expr.lt(lit(first)),
        Op::Lte => expr.lt_eq(lit(first)),
        Op::Like => like(expr, format!("%{}%", escape_like(&first)), false),
        Op::NotLike => like(expr, format!("%{}%", escape_like(&first)), true),
        Op::StartsWith => like(expr, format!("{}%", escape_like(&first)), false),
        Op::EndsWith => like(expr, format!("%{}", escape_like(&first)), false),
        Op::Ilike | Op::NotIlike | Op::Null => return None,
    })
}

/// `column <op> time` for a timestamp column.
fn time_predicate(column: Column, op: Op, value: &Value) -> Option<Expr> {
    let Value::Text(text) = value else { return None };
    let micros = ftm::time::parse_iso(text)?.timestamp_micros();
    let time = lit(ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into())));
    let c = col(column.name());
    Some(match op {
        Op::Eq => c.eq(time),
        Op::Not => c.not_eq(time),
        Op::Gt => c.gt(time),
        Op::Gte => c.gt_eq(time),
        Op::Lt => c.lt(time),
        Op::Lte => c.lt_eq(time),
        _ => return None,
    })
}

/// The schema names a `schema`/`schemata` leaf accepts, and the buckets their rows lie in.
fn schema_names(leaf: &Leaf) -> (BTreeSet<String>, BTreeSet<String>) {
    let model = ftm::model();
    let mut names = BTreeSet::new();
    for name in leaf.value.texts() {
        let Some(schema) = model.get(name) else { continue };
        names.insert(schema.name.clone());
        if leaf.field.name == "schemata" {
            names.extend(schema.descendants().iter().cloned());
        }
    }
    let buckets = names.iter().filter_map(|n| model.get(n)).map(|s| Bucket::of(s).as_str().to_string()).collect();
    (names, buckets)
}

/// A row predicate every entity the leaf selects has a stored row satisfying, or `None`.
fn leaf_predicate(leaf: &Leaf, shards: u32) -> Option<Expr> {
    if leaf.op == Op::Null {
        return None;
    }
    let name = leaf.field.name.as_str();
    match leaf.field.family {
        Family::Property => {
            let prop = col("prop").eq(lit(name.to_string()));
            let numeric = leaf.op.is_bound() && is_numeric(name);
            let value = if numeric { None } else { text_predicate(col("value"), leaf.op, &leaf.value) };
            Some(value.map_or(prop.clone(), |v| prop.and(v)))
        }
        Family::Group => {
            let prop_type = col("prop_type").eq(lit(group_type(name)?.name()));
            Some(text_predicate(col("value"), leaf.op, &leaf.value).map_or(prop_type.clone(), |v| prop_type.and(v)))
        }
        Family::Column => {
            let column = Column::parse(name)?;
            match column {
                Column::External => None,
                c if c.is_time() => time_predicate(c, leaf.op, &leaf.value),
                c => text_predicate(col(c.name()), leaf.op, &leaf.value),
            }
        }
        Family::Meta => match name {
            "schema" | "schemata" if matches!(leaf.op, Op::Eq | Op::In) => {
                let (names, buckets) = schema_names(leaf);
                Some(in_list("bucket", buckets).and(in_list("schema", names)))
            }
            "schema" | "schemata" => None,
            "dataset" => text_predicate(col("dataset"), leaf.op, &leaf.value),
            _ => {
                let ids = text_predicate(col("entity_id"), leaf.op, &leaf.value)?;
                if matches!(leaf.op, Op::Eq | Op::In) {
                    let shard_set: BTreeSet<String> = leaf.value.texts().iter().map(|id| shard(id, shards)).collect();
                    Some(in_list("shard", shard_set).and(ids))
                } else {
                    Some(ids)
                }
            }
        },
    }
}

/// Row predicates that every entity `node` selects satisfies on some stored row (each on its
/// own row); empty when none can be told.
fn necessary(node: &Node, shards: u32) -> Vec<Expr> {
    match node {
        Node::Leaf(leaf) => leaf_predicate(leaf, shards).into_iter().collect(),
        Node::Not(_) => Vec::new(),
        Node::And(children) => children.iter().flat_map(|c| necessary(c, shards)).collect(),
        Node::Or(children) if children.len() > MAX_LIST => Vec::new(),
        Node::Or(children) => {
            let firsts: Option<Vec<Expr>> = children.iter().map(|c| necessary(c, shards).into_iter().next()).collect();
            firsts.and_then(|f| f.into_iter().reduce(Expr::or)).into_iter().collect()
        }
    }
}

/// One cell of a text column; `None` for null.
fn cell(array: &StringArray, row: usize) -> Option<Cow<'_, str>> {
    array.is_valid(row).then(|| Cow::Borrowed(array.value(row)))
}

/// A stored row as the query evaluation reads it; `shards` gives its `shard` column.
struct Row<'a> {
    row: &'a ColumnRow<'a>,
    shards: u32,
}

impl QueryRow for Row<'_> {
    fn text(&self, column: Column) -> Option<Cow<'_, str>> {
        let c = self.row.columns;
        let i = self.row.row;
        let text = |array| cell(array, i);
        match column {
            Column::Id => text(&c.id),
            Column::EntityId => text(&c.entity_id),
            Column::Dataset => text(&c.dataset),
            Column::Bucket => text(&c.bucket),
            Column::Origin => text(&c.origin),
            Column::Source => text(&c.source),
            Column::Schema => text(&c.schema),
            Column::Prop => text(&c.prop),
            Column::PropType => text(&c.prop_type),
            Column::Value => text(&c.value),
            Column::OriginalValue => text(&c.original_value),
            Column::Lang => text(&c.lang),
            Column::Fragment => text(&c.fragment),
            Column::Role => text(&c.role),
            Column::External => Some(Cow::Borrowed(if self.external() { "true" } else { "false" })),
            Column::Shard => Some(Cow::Owned(shard(c.entity_id.value(i), self.shards))),
            time => self
                .time(time)
                .and_then(chrono::DateTime::from_timestamp_micros)
                .map(|t| Cow::Owned(ftm::time::isoformat(&t))),
        }
    }

    fn time(&self, column: Column) -> Option<i64> {
        let c = self.row.columns;
        let array = match column {
            Column::FirstSeen => &c.first_seen,
            Column::LastSeen => &c.last_seen,
            Column::DeletedAt => &c.deleted_at,
            _ => return None,
        };
        array.is_valid(self.row.row).then(|| array.value(self.row.row))
    }

    fn external(&self) -> bool {
        self.row.columns.external.value(self.row.row)
    }
}

impl Filter {
    /// A filter for one entity id.
    pub fn entity(id: &str) -> Filter {
        Filter { entity_ids: vec![id.to_string()], ..Filter::default() }
    }

    /// A filter for the entities `node` selects. A leaf `id eq|in …` of at most 1,000
    /// ids at its top (alone, or a child of the top `and`) becomes the filter's entity ids, so
    /// that the ids' rows are read straight away instead of first being looked for.
    pub fn query(node: Option<Node>) -> Filter {
        let bound = node.as_ref().and_then(Node::bound_ids).filter(|ids| ids.len() <= MAX_LIST);
        let entity_ids = bound.map(<[String]>::to_vec).unwrap_or_default();
        Filter { node, entity_ids, ..Filter::default() }
    }

    /// The row predicate: entity ids (with their shards, for partition pruning) and origins.
    pub(crate) fn row_predicate(&self, shards: u32) -> Option<Expr> {
        let mut parts = Vec::new();
        if !self.entity_ids.is_empty() {
            let shard_set: BTreeSet<String> = self.entity_ids.iter().map(|id| shard(id, shards)).collect();
            parts.push(in_list("shard", shard_set));
            parts.push(in_list("entity_id", self.entity_ids.iter().cloned()));
        }
        if !self.origins.is_empty() {
            parts.push(in_list("origin", self.origins.iter().cloned()));
        }
        parts.into_iter().reduce(Expr::and)
    }

    /// Row predicates whose rows' entity ids include every entity the tree selects (each one
    /// such set; the result lies in their intersection).
    /// With entity ids, a top id leaf adds nothing: the ids are read anyway.
    pub(crate) fn entity_predicates(&self, shards: u32) -> Vec<Expr> {
        match &self.node {
            None => Vec::new(),
            Some(Node::And(children)) if !self.entity_ids.is_empty() => {
                children.iter().filter(|c| c.id_leaf().is_none()).flat_map(|c| necessary(c, shards)).collect()
            }
            Some(node) if !self.entity_ids.is_empty() && node.id_leaf().is_some() => Vec::new(),
            Some(node) => necessary(node, shards),
        }
    }

    /// Whether the filter keeps every entity it reads (no query tree).
    pub fn selects_all(&self) -> bool {
        self.node.is_none()
    }

    /// Whether an entity's live rows satisfy the tree.
    pub(crate) fn matches(&self, rows: &[ColumnRow], shards: u32) -> bool {
        let Some(node) = &self.node else { return true };
        let rows: Vec<Row> = rows.iter().map(|row| Row { row, shards }).collect();
        node.matches(&rows)
    }
}
