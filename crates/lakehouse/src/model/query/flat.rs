//! The flat `-q` grammar (spec `interfaces.md` §2.3): `key=value` pairs joined by `&`.
//!
//! Values are percent-decoded (`+` stays `+`), keys are not; repeated keys collect values.
//! `filter:<field>` is equality (repeated: any of the values), `filter:<op>:<field>` another
//! comparator (first value only), `exclude:` negates, `empty:` asks for no value; `sort`,
//! `limit`, `offset`, `select` and the aggregation keys shape the result; other keys are ignored.

use super::{Aggregation, Field, Leaf, Node, Op, Query, Sort, Value, invalid};
use crate::error::Result;

/// Comparators `filter:<op>:` and `exclude:<op>:` take.
const KEY_OPS: [Op; 8] = [Op::Gt, Op::Gte, Op::Lt, Op::Lte, Op::Like, Op::Ilike, Op::StartsWith, Op::EndsWith];

/// Decodes `%XX` escapes (`+` stays `+`; a `%` not followed by two hex digits stays).
pub(super) fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The single value of a key that takes one.
fn single<'a>(key: &str, values: &'a [String]) -> Result<&'a str> {
    match values {
        [value] => Ok(value),
        _ => {
            let items: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
            Err(invalid(format!("`{key}` takes a single value: `[{}]`", items.join(", "))))
        }
    }
}

fn integer(key: &str, values: &[String]) -> Result<usize> {
    let value = single(key, values)?;
    value.trim().parse().map_err(|_| invalid(format!("`{key}` must be an integer, got {value:?}")))
}

/// Splits `<op>:<field>` (a comparator `-q` keys take) from a bare `<field>`.
fn op_and_field(rest: &str) -> (Option<Op>, &str) {
    match rest.split_once(':') {
        Some((op, field)) if let Some(op) = Op::parse(op).filter(|op| KEY_OPS.contains(op)) => (Some(op), field),
        _ => (None, rest),
    }
}

/// The leaf of `filter:`/`exclude:` with these values.
fn leaf(rest: &str, values: &[String]) -> Result<Node> {
    let (op, field) = op_and_field(rest);
    let field = Field::parse(field, false)?;
    let (op, value) = match (op, values) {
        (Some(op), _) => (op, Value::Text(values[0].clone())),
        (None, [one]) => (Op::Eq, Value::Text(one.clone())),
        (None, _) => (Op::In, Value::list(values.iter().cloned())),
    };
    Ok(Node::Leaf(Leaf::new(field, op, value)?))
}

impl Query {
    /// Parses a `-q` string; `""` (or no known key) is the query for everything.
    ///
    /// # Errors
    /// [`Error::InvalidQuery`](crate::error::Error::InvalidQuery): an unknown field, schema,
    /// property, group or column; a repeated or non-integer `limit`/`offset`; a sort by anything
    /// but a property; an unknown aggregation function.
    pub fn from_flat(q: &str) -> Result<Query> {
        let mut keys: Vec<(&str, Vec<String>)> = Vec::new();
        for part in q.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            let value = percent_decode(value);
            match keys.iter_mut().find(|(k, _)| *k == key) {
                Some((_, values)) => values.push(value),
                None => keys.push((key, vec![value])),
            }
        }
        let mut query = Query::default();
        let mut nodes = Vec::new();
        let (mut metrics, mut facets) = (Vec::new(), Vec::new());
        for (key, values) in &keys {
            if let Some(rest) = key.strip_prefix("filter:") {
                nodes.push(leaf(rest, values)?);
            } else if let Some(rest) = key.strip_prefix("exclude:") {
                nodes.push(Node::Not(Box::new(leaf(rest, values)?)));
            } else if let Some(field) = key.strip_prefix("empty:") {
                nodes.push(Node::Leaf(Leaf::new(Field::parse(field, false)?, Op::Null, Value::Flag(true))?));
            } else if let Some(func) = key.strip_prefix("metric:") {
                metrics.extend(values.iter().map(|field| (func, field.as_str())));
            } else if let Some(field) = key.strip_prefix("facet_size:") {
                let size = single(key, values)?;
                let size =
                    size.trim().parse().map_err(|_| invalid(format!("Invalid facet size for `{key}`: `{size}`")))?;
                query.facet_size.insert(field.to_string(), size);
            } else {
                match *key {
                    "sort" => query.sort = Some(Sort::parse(single(key, values)?)?),
                    "limit" => query.limit = Some(integer(key, values)?),
                    "offset" => query.offset = integer(key, values)?,
                    "select" => {
                        for value in values {
                            query.select.push(projection(value)?);
                        }
                    }
                    "facet" => {
                        for field in values {
                            Field::parse(field, false)?;
                            facets.push(field.clone());
                        }
                    }
                    "facet_sort" => {
                        let value = single(key, values)?;
                        let mut parts = value.splitn(3, ':');
                        let func = parts.next().unwrap_or_default();
                        Field::parse(parts.next().unwrap_or_default(), false)?;
                        Aggregation::check_func(func)?;
                        query.facet_sort = Some(value.to_string());
                    }
                    _ => {}
                }
            }
        }
        if let Some(field) = query.facet_size.keys().find(|f| !facets.contains(f)) {
            return Err(invalid(format!("Invalid facet size: `{field}` - not a facet of the query")));
        }
        for (func, field) in metrics {
            query.aggregations.push(Aggregation::new(func, field, facets.clone())?);
        }
        query.select.sort();
        query.select.dedup();
        query.node = Node::all(nodes);
        Ok(query)
    }
}

/// A projection field: `properties.<prop>` or `group.<group>`.
pub(super) fn projection(text: &str) -> Result<Field> {
    let field = Field::parse(text, false)?;
    match field.family {
        super::Family::Property | super::Family::Group => Ok(field),
        _ => Err(invalid(format!("Invalid select field: `{text}` - expected `properties.<name>` or `group.<name>`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::query::Family;

    #[test]
    fn keys() {
        let q = Query::from_flat(
            "filter:schema=Person&filter:schema=Organization&exclude:gt:properties.amountEur=5&empty:group.countries&filter:properties.name=Frau%20Lina+X&sort=properties.name:desc&limit=2&offset=1&select=properties.name&other=x",
        )
        .unwrap();
        let Some(Node::And(children)) = &q.node else { panic!("{q:?}") };
        assert_eq!(children.len(), 4);
        assert_eq!(
            children[0],
            Node::Leaf(Leaf {
                field: Field { family: Family::Meta, name: "schema".into() },
                op: Op::In,
                value: Value::List(vec!["Organization".into(), "Person".into()])
            })
        );
        assert!(matches!(&children[1], Node::Not(inner) if matches!(&**inner, Node::Leaf(l) if l.op == Op::Gt)));
        assert!(matches!(&children[2], Node::Leaf(l) if l.op == Op::Null && l.value == Value::Flag(true)));
        assert!(matches!(&children[3], Node::Leaf(l) if l.value == Value::Text("Frau Lina+X".into())));
        assert_eq!((q.limit, q.offset, q.sort.unwrap().descending), (Some(2), 1, true));
        assert_eq!(q.select.len(), 1);
        assert_eq!(Query::from_flat("").unwrap(), Query::default());
        assert_eq!(Query::from_flat("foo=bar&&").unwrap(), Query::default());
    }

    #[test]
    fn errors() {
        let message = |q: &str| Query::from_flat(q).unwrap_err().to_string();
        assert_eq!(message("filter:schema=Foo"), "Invalid query: Invalid schema: `Foo`");
        assert_eq!(message("filter:properties.colour=red"), "Invalid query: Invalid prop: `colour`");
        assert_eq!(message("filter:group.colours=red"), "Invalid query: Invalid property group: `colours`");
        assert_eq!(message("filter:context.colour=red"), "Invalid query: Unknown context column: `colour`");
        assert!(message("filter:name=x").starts_with("Invalid query: Unknown field: `name`"));
        assert!(message("filter:origin=x").contains("Unknown field: `origin`"));
        assert!(message("limit=x").contains("integer"));
        assert!(message("limit=1&limit=2").contains("`limit` takes a single value"));
        assert!(message("sort=schema").contains("sort"));
        assert!(message("metric:median=properties.amountEur").contains("median"));
        assert!(message("filter:context.first_seen=2024-13-01").contains("Invalid timestamp for `context.first_seen`"));
        assert!(message("filter:gt:context.last_seen=yesterday").contains("`yesterday`"));
        assert!(message("filter:context.external=maybe").contains("Invalid boolean"));
        assert!(Query::from_flat("filter:startswith:context.first_seen=2024").is_ok());
        let huge = format!("filter:schema=Person&limit={}&offset=1&sort=properties.name", usize::MAX);
        assert_eq!(Query::from_flat(&huge).unwrap().limit, Some(usize::MAX));
    }
}
