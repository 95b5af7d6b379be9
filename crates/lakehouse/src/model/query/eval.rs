//! A query tree on one entity's live statements (spec `interfaces.md` §2.2).
//!
//! * A leaf holds for an entity when one of its live rows satisfies it; `null` holds when no row
//!   has a value there; `not`/`not_in` on `schema` or `schemata` exclude the entity, elsewhere
//!   they are row level (one value differs).
//! * In an AND, the bound leaves (`gt`/`gte`/`lt`/`lte`) on one property or group must hold for
//!   one and the same row, and so must the `context.*` and `dataset` leaves together.
//! * `not(…)` negates at entity level.
//! * Values compare as text, except that bound comparisons on a number-typed property compare
//!   numbers (the reference compares text, so `"50000" >= "100000"`: a difference the README
//!   lists), timestamp columns compare as timestamps and `context.external` as a boolean.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::{Family, Field, Leaf, Node, Op, Query, Value, group_type, is_numeric};

/// A column of the stored statement row (`context.<name>`, spec §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// `id`: the statement id.
    Id,
    /// `entity_id`.
    EntityId,
    /// `dataset`.
    Dataset,
    /// `bucket` (partition column).
    Bucket,
    /// `origin` (partition column).
    Origin,
    /// `source`.
    Source,
    /// `schema`.
    Schema,
    /// `prop`.
    Prop,
    /// `prop_type`.
    PropType,
    /// `value`.
    Value,
    /// `original_value`.
    OriginalValue,
    /// `lang`.
    Lang,
    /// `external` (boolean).
    External,
    /// `first_seen` (timestamp).
    FirstSeen,
    /// `last_seen` (timestamp).
    LastSeen,
    /// `fragment`.
    Fragment,
    /// `role`.
    Role,
    /// `deleted_at` (timestamp).
    DeletedAt,
    /// `shard` (partition column).
    Shard,
}

impl Column {
    /// Every column with its name, in the stored order.
    pub const ALL: [(Column, &'static str); 19] = [
        (Column::Id, "id"),
        (Column::EntityId, "entity_id"),
        (Column::Dataset, "dataset"),
        (Column::Bucket, "bucket"),
        (Column::Origin, "origin"),
        (Column::Source, "source"),
        (Column::Schema, "schema"),
        (Column::Prop, "prop"),
        (Column::PropType, "prop_type"),
        (Column::Value, "value"),
        (Column::OriginalValue, "original_value"),
        (Column::Lang, "lang"),
        (Column::External, "external"),
        (Column::FirstSeen, "first_seen"),
        (Column::LastSeen, "last_seen"),
        (Column::Fragment, "fragment"),
        (Column::Role, "role"),
        (Column::DeletedAt, "deleted_at"),
        (Column::Shard, "shard"),
    ];

    /// The column of a name.
    pub fn parse(name: &str) -> Option<Column> {
        Column::ALL.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }

    /// The column's name in the table.
    pub fn name(self) -> &'static str {
        Column::ALL.iter().find(|(c, _)| *c == self).map_or("id", |(_, n)| n)
    }

    /// Whether the column holds UTC timestamps.
    pub fn is_time(self) -> bool {
        matches!(self, Column::FirstSeen | Column::LastSeen | Column::DeletedAt)
    }
}

/// One live statement row, as the evaluation reads it. The storage layer implements it for its
/// column batches.
pub trait QueryRow {
    /// A text column's value (`None` for null); [`Column::External`] reads as `true`/`false`,
    /// timestamp columns as ISO 8601.
    fn text(&self, column: Column) -> Option<Cow<'_, str>>;
    /// A timestamp column's value, UTC microseconds.
    fn time(&self, column: Column) -> Option<i64>;
    /// The `external` flag.
    fn external(&self) -> bool;
}

/// Parses a number as the comparisons read one (surrounding blanks ignored).
fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A boolean as `context.external` compares it (`true`, `True`, `1`, `t`, `yes`, and their
/// negatives); `None` for any other text.
pub(super) fn boolean(text: &str) -> Option<bool> {
    match text.to_lowercase().as_str() {
        "true" | "1" | "t" | "yes" | "y" | "on" => Some(true),
        "false" | "0" | "f" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

impl Leaf {
    /// What this leaf reads of a row: the value of its property or group (`None` when the row is
    /// of another property), or the meta or context column.
    fn subject<'r, R: QueryRow>(&self, row: &'r R) -> Option<Cow<'r, str>> {
        match self.field.family {
            Family::Property => (row.text(Column::Prop).as_deref() == Some(self.field.name.as_str()))
                .then(|| row.text(Column::Value))?,
            Family::Group => {
                let wanted = group_type(&self.field.name)?;
                (row.text(Column::PropType).as_deref() == Some(wanted.name())).then(|| row.text(Column::Value))?
            }
            Family::Column => row.text(Column::parse(&self.field.name)?),
            Family::Meta => row.text(match self.field.name.as_str() {
                "dataset" => Column::Dataset,
                "schema" | "schemata" => Column::Schema,
                _ => Column::EntityId,
            }),
        }
    }

    /// Whether `row` satisfies the comparison (row level; `null` and schema exclusions are
    /// decided per entity).
    pub(super) fn row_matches<R: QueryRow>(&self, row: &R) -> bool {
        if self.field.family == Family::Column
            && let Some(column) = Column::parse(&self.field.name)
        {
            if column.is_time() && self.op.is_bound() || column.is_time() && matches!(self.op, Op::Eq | Op::Not) {
                return self.compare_time(row.time(column));
            }
            if column == Column::External && matches!(self.op, Op::Eq | Op::Not | Op::In | Op::NotIn) {
                let flag = row.external();
                let hit = self.value.texts().iter().any(|v| boolean(v) == Some(flag));
                return if matches!(self.op, Op::Eq | Op::In) { hit } else { !hit };
            }
        }
        let Some(subject) = self.subject(row) else {
            return false;
        };
        if self.field.family == Family::Meta && self.field.name == "schemata" {
            let hit = self.schema_hit(&subject);
            return if matches!(self.op, Op::Not | Op::NotIn) { !hit } else { hit };
        }
        let numeric = self.op.is_bound() && self.field.family == Family::Property && is_numeric(&self.field.name);
        compare(&subject, self.op, &self.value, numeric)
    }

    fn compare_time(&self, time: Option<i64>) -> bool {
        let (Some(time), Value::Text(text)) = (time, &self.value) else {
            return false;
        };
        let Some(wanted) = ftm::time::parse_iso(text).map(|t| t.timestamp_micros()) else {
            return false;
        };
        match self.op {
            Op::Eq => time == wanted,
            Op::Not => time != wanted,
            Op::Gt => time > wanted,
            Op::Gte => time >= wanted,
            Op::Lt => time < wanted,
            _ => time <= wanted,
        }
    }

    /// Whether a row's schema is one of the leaf's (`schema`) or descends from one (`schemata`).
    fn schema_hit(&self, schema: &str) -> bool {
        if self.field.name == "schemata" {
            ftm::model().get(schema).is_some_and(|s| self.value.texts().iter().any(|v| s.is_a(v)))
        } else {
            self.value.texts().iter().any(|v| v == schema)
        }
    }

    /// Whether the leaf is an entity-level exclusion: `not`/`not_in` on `schema`/`schemata`.
    fn excludes(&self) -> bool {
        self.field.family == Family::Meta
            && matches!(self.field.name.as_str(), "schema" | "schemata")
            && matches!(self.op, Op::Not | Op::NotIn)
    }

    /// Whether a row has a value where this leaf looks (for `null`); an empty text is a value
    /// (the `fragment` of an entity import is `""`, not null).
    fn present<R: QueryRow>(&self, row: &R) -> bool {
        self.subject(row).is_some()
    }

    /// The leaf on one entity.
    fn matches<R: QueryRow>(&self, rows: &[R]) -> bool {
        match (&self.op, &self.value) {
            (Op::Null, Value::Flag(empty)) => rows.iter().any(|r| self.present(r)) != *empty,
            _ if self.excludes() => !rows.iter().any(|r| r.text(Column::Schema).is_some_and(|s| self.schema_hit(&s))),
            _ => rows.iter().any(|r| self.row_matches(r)),
        }
    }
}

/// One text comparison; `numeric` compares numbers (a value that is no number never matches).
fn compare(subject: &str, op: Op, value: &Value, numeric: bool) -> bool {
    let texts = value.texts();
    let Some(first) = texts.first() else {
        return false;
    };
    let order = || -> Option<Ordering> {
        if numeric { number(subject)?.partial_cmp(&number(first)?) } else { Some(subject.cmp(first.as_str())) }
    };
    match op {
        Op::Eq => subject == first,
        Op::Not => subject != first,
        Op::In => texts.iter().any(|v| v == subject),
        Op::NotIn => !texts.iter().any(|v| v == subject),
        Op::Gt => order() == Some(Ordering::Greater),
        Op::Gte => matches!(order(), Some(Ordering::Greater | Ordering::Equal)),
        Op::Lt => order() == Some(Ordering::Less),
        Op::Lte => matches!(order(), Some(Ordering::Less | Ordering::Equal)),
        Op::Like => subject.contains(first.as_str()),
        Op::NotLike => !subject.contains(first.as_str()),
        Op::Ilike => subject.to_lowercase().contains(&first.to_lowercase()),
        Op::NotIlike => !subject.to_lowercase().contains(&first.to_lowercase()),
        Op::StartsWith => subject.starts_with(first.as_str()),
        Op::EndsWith => subject.ends_with(first.as_str()),
        Op::Null => false,
    }
}

/// Leaves of an AND that must hold on one and the same row.
#[derive(PartialEq, Eq)]
enum Joint<'a> {
    /// `context.*` and `dataset` leaves.
    Row,
    /// Bound leaves on one property or group.
    Value(&'a Field),
}

fn joint(leaf: &Leaf) -> Option<Joint<'_>> {
    match leaf.field.family {
        _ if leaf.op == Op::Null => None,
        Family::Column => Some(Joint::Row),
        Family::Meta if leaf.field.name == "dataset" => Some(Joint::Row),
        Family::Property | Family::Group if leaf.op.is_bound() => Some(Joint::Value(&leaf.field)),
        _ => None,
    }
}

impl Node {
    /// Whether the entity whose live rows are `rows` satisfies the tree.
    pub fn matches<R: QueryRow>(&self, rows: &[R]) -> bool {
        match self {
            Node::Leaf(leaf) => leaf.matches(rows),
            Node::Not(child) => !child.matches(rows),
            Node::Or(children) => children.iter().any(|c| c.matches(rows)),
            Node::And(children) => {
                let mut groups: Vec<(Joint, Vec<&Leaf>)> = Vec::new();
                for child in children {
                    match child {
                        Node::Leaf(leaf) if let Some(key) = joint(leaf) => {
                            match groups.iter_mut().find(|(k, _)| *k == key) {
                                Some((_, leaves)) => leaves.push(leaf),
                                None => groups.push((key, vec![leaf])),
                            }
                        }
                        other => {
                            if !other.matches(rows) {
                                return false;
                            }
                        }
                    }
                }
                groups.iter().all(|(_, leaves)| rows.iter().any(|r| leaves.iter().all(|l| l.row_matches(r))))
            }
        }
    }
}

/// An entity's sort key: its smallest (ascending) or largest (descending) value of the sort
/// property, as a number for number-typed properties; entities without one sort last.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    /// A number-typed property's value.
    Number(f64),
    /// Any other property's value.
    Text(String),
    /// No value (or none that reads as a number).
    Missing,
}

impl SortKey {
    /// The key of the entity whose rows are `rows` (each `(prop, value)`) for `query`'s sort;
    /// `Missing` when the query has no sort.
    pub fn of<'a>(query: &Query, rows: impl IntoIterator<Item = (&'a str, &'a str)>) -> SortKey {
        let Some(sort) = &query.sort else {
            return SortKey::Missing;
        };
        let values = rows.into_iter().filter(|(prop, _)| *prop == sort.prop).map(|(_, value)| value);
        let pick = |a: SortKey, b: SortKey| {
            let b_first = a.compare(&b) == Ordering::Greater;
            if b_first != sort.descending { b } else { a }
        };
        let keys: Box<dyn Iterator<Item = SortKey>> = if is_numeric(&sort.prop) {
            Box::new(values.filter_map(number).map(SortKey::Number))
        } else {
            Box::new(values.map(|v| SortKey::Text(v.to_string())))
        };
        keys.reduce(pick).unwrap_or(SortKey::Missing)
    }

    /// Ascending order of two present keys (`Missing` last).
    fn compare(&self, other: &SortKey) -> Ordering {
        match (self, other) {
            (SortKey::Number(a), SortKey::Number(b)) => a.total_cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            (SortKey::Missing, SortKey::Missing) => Ordering::Equal,
            (SortKey::Missing, _) => Ordering::Greater,
            (_, SortKey::Missing) => Ordering::Less,
            (SortKey::Number(_), SortKey::Text(_)) => Ordering::Less,
            (SortKey::Text(_), SortKey::Number(_)) => Ordering::Greater,
        }
    }

    /// The result order of two entities `(key, entity id)`: by key in the sort's direction,
    /// missing keys last, ties by entity id.
    pub fn order(query: &Query, a: (&SortKey, &str), b: (&SortKey, &str)) -> Ordering {
        let descending = query.sort.as_ref().is_some_and(|s| s.descending);
        let by_key = match (a.0, b.0) {
            (SortKey::Missing, _) | (_, SortKey::Missing) => a.0.compare(b.0),
            _ if descending => b.0.compare(a.0),
            _ => a.0.compare(b.0),
        };
        by_key.then_with(|| a.1.cmp(b.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftm::Statement;

    impl QueryRow for Statement {
        fn text(&self, column: Column) -> Option<Cow<'_, str>> {
            let text = |s: &str| Some(Cow::Owned(s.to_string()));
            match column {
                Column::EntityId => text(&self.entity_id),
                Column::Dataset => text(&self.dataset),
                Column::Schema => text(&self.schema),
                Column::Prop => text(&self.prop),
                Column::PropType => text(&self.prop_type),
                Column::Value => text(&self.value),
                Column::Origin => self.origin.as_deref().and_then(text),
                Column::Lang => self.lang.as_deref().and_then(text),
                _ => None,
            }
        }

        fn time(&self, column: Column) -> Option<i64> {
            (column == Column::FirstSeen).then(|| self.first_seen.map(|t| t.timestamp_micros()))?
        }

        fn external(&self) -> bool {
            self.external
        }
    }

    fn entity() -> Vec<Statement> {
        let mut rows = vec![
            Statement::new("ds", "e1", "Payment", "amountEur", "number", "50000"),
            Statement::new("ds", "e1", "Payment", "amountEur", "number", "150000"),
            Statement::new("ds", "e1", "Payment", "purpose", "text", "Spende"),
            Statement::new("ds", "e1", "Payment", "country", "country", "de"),
        ];
        rows[0].origin = Some("bulk".into());
        rows[1].origin = Some("crawl".into());
        rows
    }

    fn leaf(field: &str, op: Op, value: &str) -> Node {
        let value = if matches!(op, Op::In | Op::NotIn) {
            Value::list(value.split(',').map(String::from))
        } else {
            Value::Text(value.into())
        };
        Node::Leaf(Leaf::new(Field::parse(field, false).unwrap(), op, value).unwrap())
    }

    #[test]
    fn numbers_compare_as_numbers_on_one_value() {
        let rows = entity();
        assert!(leaf("properties.amountEur", Op::Gte, "100000").matches(&rows));
        assert!(!leaf("properties.amountEur", Op::Gt, "150000").matches(&rows));
        let between = |lo: &str, hi: &str| {
            Node::And(vec![leaf("properties.amountEur", Op::Gt, lo), leaf("properties.amountEur", Op::Lt, hi)])
        };
        assert!(between("40000", "60000").matches(&rows));
        // 50000 > 60000 fails and 150000 < 100000 fails: no one value satisfies both.
        assert!(!between("60000", "100000").matches(&rows));
    }

    #[test]
    fn negation_levels() {
        let rows = entity();
        // Row level: one country differs from `fr`; entity level: the entity has `de`.
        assert!(leaf("properties.country", Op::Not, "fr").matches(&rows));
        assert!(!leaf("properties.country", Op::Not, "de").matches(&rows));
        assert!(!Node::Not(Box::new(leaf("properties.country", Op::Eq, "de"))).matches(&rows));
        // Entities lacking the property: row-level `not` fails, entity-level negation passes.
        assert!(!leaf("properties.name", Op::Not, "x").matches(&rows));
        assert!(Node::Not(Box::new(leaf("properties.name", Op::Eq, "x"))).matches(&rows));
        assert!(!leaf("schema", Op::Not, "Payment").matches(&rows));
        assert!(leaf("schema", Op::NotIn, "Person,Company").matches(&rows));
        assert!(leaf("schemata", Op::Eq, "Interval").matches(&rows));
    }

    #[test]
    fn context_leaves_hold_on_one_row() {
        let rows = entity();
        let both = |origin: &str, value: &str| {
            Node::And(vec![leaf("context.origin", Op::Eq, origin), leaf("context.value", Op::Eq, value)])
        };
        assert!(both("crawl", "150000").matches(&rows));
        assert!(!both("crawl", "50000").matches(&rows));
        assert!(leaf("group.countries", Op::Eq, "de").matches(&rows));
        assert!(leaf("properties.purpose", Op::Ilike, "SPEND").matches(&rows));
        assert!(!leaf("properties.purpose", Op::Like, "SPEND").matches(&rows));
        let empty = |field: &str| {
            Node::Leaf(Leaf::new(Field::parse(field, false).unwrap(), Op::Null, Value::Flag(true)).unwrap())
        };
        assert!(empty("properties.name").matches(&rows));
        assert!(!empty("group.countries").matches(&rows));
        assert!(empty("context.lang").matches(&rows));
    }

    #[test]
    fn sort_keys() {
        let rows = entity();
        let pairs = || rows.iter().map(|s| (s.prop.as_str(), s.value.as_str()));
        let mut query =
            Query { sort: Some(super::super::Sort::parse("properties.amountEur").unwrap()), ..Query::default() };
        assert_eq!(SortKey::of(&query, pairs()), SortKey::Number(50000.0));
        query.sort = Some(super::super::Sort::parse("properties.amountEur:desc").unwrap());
        assert_eq!(SortKey::of(&query, pairs()), SortKey::Number(150000.0));
        let missing = SortKey::Missing;
        let key = SortKey::Number(1.0);
        assert_eq!(SortKey::order(&query, (&missing, "a"), (&key, "b")), Ordering::Greater);
        assert_eq!(SortKey::order(&query, (&key, "b"), (&SortKey::Number(2.0), "a")), Ordering::Greater);
    }
}
