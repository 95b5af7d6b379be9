//! The JSON form of a query (spec `interfaces.md` §2.5), both ways: what the REST API takes and
//! api mode sends.
//!
//! ```text
//! {"q": {"and": [{"leaf": {"t": "M", "f": "schema", "op": "eq", "v": "Person"}}, …], "not": true?},
//!  "order_by": "-properties.name", "limit": 10, "offset": 5, "select": ["properties.name"],
//!  "aggregations": [{"func": "sum", "field": "properties.amountEur", "by": […]}],
//!  "facet_sort": "sum:properties.amountEur", "facet_size": {"properties.payer": 5}}
//! ```
//!
//! A leaf in an AND stands as `{"leaf": …}`; in an OR it is wrapped as `{"and": [{"leaf": …}]}`;
//! a negation is the flag `"not": true` on an AND or OR. Children are written sorted by their own
//! JSON text, so one query always serialises the same way (the reference sorts by a hash:
//! the order differs, the meaning does not).

use serde_json::{Map, Value as Json, json};

use super::{Aggregation, Family, Field, Leaf, MAX_DEPTH, Node, Op, Query, Sort, Value, invalid};
use crate::error::Result;

fn leaf_json(leaf: &Leaf) -> Json {
    let v = match &leaf.value {
        Value::None => Json::Null,
        Value::Flag(flag) => Json::Bool(*flag),
        Value::Text(text) => Json::String(text.clone()),
        Value::List(values) => json!(values),
    };
    json!({"leaf": {"t": leaf.field.family.letter(), "f": leaf.field.name, "op": leaf.op.name(), "v": v}})
}

/// A node as an and/or object; `negated` sets the `not` flag.
fn group_json(node: &Node, negated: bool) -> Json {
    let (key, children): (&str, Vec<Json>) = match node {
        Node::And(children) => ("and", children.iter().map(|c| child_json(c, false)).collect()),
        Node::Or(children) => ("or", children.iter().map(|c| child_json(c, true)).collect()),
        Node::Not(inner) if !negated => return group_json(inner, true),
        Node::Not(_) | Node::Leaf(_) => ("and", vec![child_json(node, false)]),
    };
    let mut children = children;
    children.sort_by_cached_key(Json::to_string);
    let mut object = Map::new();
    object.insert(key.to_string(), Json::Array(children));
    if negated {
        object.insert("not".to_string(), Json::Bool(true));
    }
    Json::Object(object)
}

/// A child of an and/or: a bare leaf in an AND, otherwise a group.
fn child_json(node: &Node, in_or: bool) -> Json {
    match node {
        Node::Leaf(leaf) if !in_or => leaf_json(leaf),
        other => group_json(other, false),
    }
}

fn parse_leaf(leaf: &Json) -> Result<Node> {
    let text = |key: &str| {
        leaf.get(key).and_then(Json::as_str).ok_or_else(|| invalid(format!("leaf without `{key}`: {leaf}")))
    };
    let family = Family::from_letter(text("t")?).ok_or_else(|| invalid(format!("unknown leaf type in {leaf}")))?;
    let op = Op::parse(text("op")?).ok_or_else(|| invalid(format!("unknown comparator in {leaf}")))?;
    let value = match leaf.get("v").unwrap_or(&Json::Null) {
        Json::Null => Value::None,
        Json::Bool(flag) if op == Op::Null => Value::Flag(*flag),
        Json::Array(items) => {
            Value::list(items.iter().map(|item| scalar_text(item, leaf)).collect::<Result<Vec<_>>>()?)
        }
        other => Value::Text(scalar_text(other, leaf)?),
    };
    let field = Field { family, name: text("f")?.to_string() };
    Ok(Node::Leaf(Leaf::new(field, op, value)?))
}

/// A JSON scalar as the text the comparisons use (`true` → `True`, as Python's `str`).
///
/// # Errors
/// [`Error::InvalidQuery`](crate::error::Error::InvalidQuery) for a null, an array or an object.
fn scalar_text(value: &Json, leaf: &Json) -> Result<String> {
    match value {
        Json::String(text) => Ok(text.clone()),
        Json::Bool(true) => Ok("True".into()),
        Json::Bool(false) => Ok("False".into()),
        Json::Number(n) => Ok(n.to_string()),
        other => Err(invalid(format!("leaf value {other} is not a string, number or boolean: {leaf}"))),
    }
}

fn parse_node(node: &Json, depth: usize) -> Result<Node> {
    if depth > MAX_DEPTH {
        return Err(invalid(format!("query nodes nest deeper than {MAX_DEPTH}")));
    }
    let negated = match node.get("not") {
        None | Some(Json::Bool(false)) => false,
        Some(Json::Bool(true)) => true,
        Some(other) => return Err(invalid(format!("`not` must be true or false, got {other}"))),
    };
    if let Some(leaf) = node.get("leaf") {
        if negated {
            return Err(invalid(format!("a leaf cannot be negated, wrap it in an `and`: {node}")));
        }
        return parse_leaf(leaf);
    }
    let (children, or) = match (node.get("and"), node.get("or")) {
        (Some(Json::Array(children)), None) => (children, false),
        (None, Some(Json::Array(children))) => (children, true),
        _ => return Err(invalid(format!("a query node needs one `and` or `or` list: {node}"))),
    };
    let mut nodes: Vec<Node> = children.iter().map(|c| parse_node(c, depth + 1)).collect::<Result<_>>()?;
    let inner = match (or, nodes.len()) {
        (_, 1) => nodes.remove(0),
        (true, _) => Node::Or(nodes),
        (false, _) => Node::And(nodes),
    };
    Ok(if negated { Node::Not(Box::new(inner)) } else { inner })
}

impl Query {
    /// The JSON form (`{}` for the query for everything).
    pub fn to_json(&self) -> Json {
        let mut object = Map::new();
        if let Some(node) = &self.node {
            object.insert("q".into(), group_json(node, false));
        }
        if let Some(sort) = &self.sort {
            object.insert("order_by".into(), json!(sort.to_string()));
        }
        if self.limit.is_some() || self.offset > 0 {
            object.insert("limit".into(), json!(self.limit));
            object.insert("offset".into(), json!(self.offset));
        }
        if !self.select.is_empty() {
            object.insert("select".into(), json!(self.select.iter().map(Field::to_string).collect::<Vec<_>>()));
        }
        if !self.aggregations.is_empty() {
            let aggregations: Vec<Json> = self
                .aggregations
                .iter()
                .map(|a| {
                    let mut agg = json!({"func": a.func, "field": a.field});
                    if !a.by.is_empty() {
                        agg["by"] = json!(a.by);
                    }
                    agg
                })
                .collect();
            object.insert("aggregations".into(), Json::Array(aggregations));
        }
        if let Some(facet_sort) = &self.facet_sort {
            object.insert("facet_sort".into(), json!(facet_sort));
        }
        if !self.facet_size.is_empty() {
            object.insert("facet_size".into(), json!(self.facet_size));
        }
        Json::Object(object)
    }

    /// Reads the JSON form; unknown keys are ignored.
    ///
    /// # Errors
    /// [`Error::InvalidQuery`](crate::error::Error::InvalidQuery): a malformed node or leaf, an
    /// invalid field, schema or comparator, a sort by a non-property, a negative slice.
    pub fn from_json(value: &Json) -> Result<Query> {
        let mut query = Query::default();
        if let Some(node) = value.get("q").filter(|q| !q.is_null()) {
            query.node = Some(parse_node(node, 0)?);
        }
        let text = |key: &str| -> Result<Option<&str>> {
            match value.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::String(text)) => Ok(Some(text)),
                Some(other) => Err(invalid(format!("`{key}` must be a string, got {other}"))),
            }
        };
        if let Some(order_by) = text("order_by")? {
            query.sort = Some(Sort::parse(order_by)?);
        }
        let count = |key: &str| -> Result<Option<usize>> {
            match value.get(key) {
                None | Some(Json::Null) => Ok(None),
                Some(n) => n
                    .as_u64()
                    .map(|n| Some(n as usize))
                    .ok_or_else(|| invalid(format!("`{key}` must be a non-negative integer"))),
            }
        };
        query.limit = count("limit")?;
        query.offset = count("offset")?.unwrap_or(0);
        let list = |key: &str| -> Result<&[Json]> {
            match value.get(key) {
                None | Some(Json::Null) => Ok(&[]),
                Some(Json::Array(items)) => Ok(items),
                Some(other) => Err(invalid(format!("`{key}` must be a list, got {other}"))),
            }
        };
        for field in list("select")? {
            let text = field.as_str().ok_or_else(|| invalid(format!("`select` takes field names, got {field}")))?;
            query.select.push(super::flat::projection(text)?);
        }
        query.select.sort();
        query.select.dedup();
        for agg in list("aggregations")? {
            let text = |key: &str| agg.get(key).and_then(Json::as_str).unwrap_or_default();
            let mut by = Vec::new();
            for field in agg.get("by").and_then(Json::as_array).into_iter().flatten() {
                by.push(
                    field.as_str().ok_or_else(|| invalid(format!("`by` takes field names, got {field}")))?.to_string(),
                );
            }
            query.aggregations.push(Aggregation::new(text("func"), text("field"), by)?);
        }
        if let Some(facet_sort) = text("facet_sort")? {
            let mut parts = facet_sort.splitn(3, ':');
            Aggregation::check_func(parts.next().unwrap_or_default())?;
            Field::parse(parts.next().unwrap_or_default(), false)?;
            query.facet_sort = Some(facet_sort.to_string());
        }
        for (field, size) in value.get("facet_size").and_then(Json::as_object).into_iter().flatten() {
            let size = size.as_u64().ok_or_else(|| invalid(format!("facet size of `{field}` must be an integer")))?;
            query.facet_size.insert(field.clone(), size as usize);
        }
        Ok(query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn the_spec_example() {
        let q = Query::from_flat(
            "filter:schema=Person&filter:gte:properties.amountEur=100&sort=properties.name:desc&limit=10&offset=5",
        )
        .unwrap();
        let expected = json!({"q":{"and":[{"leaf":{"t":"M","f":"schema","op":"eq","v":"Person"}},{"leaf":{"t":"P","f":"amountEur","op":"gte","v":"100"}}]},"order_by":"-properties.name","limit":10,"offset":5});
        let written = q.to_json();
        let sorted = |v: &Json| {
            let mut leaves: Vec<String> = v["q"]["and"].as_array().unwrap().iter().map(Json::to_string).collect();
            leaves.sort();
            leaves
        };
        assert_eq!(sorted(&written), sorted(&expected));
        assert_eq!(
            (&written["order_by"], &written["limit"], &written["offset"]),
            (&json!("-properties.name"), &json!(10), &json!(5))
        );
        assert_eq!(Query::from_json(&expected).unwrap().to_json(), written);
        assert_eq!(Query::default().to_json(), json!({}));
    }

    #[test]
    fn round_trips() {
        for q in [
            "exclude:schema=Payment",
            "empty:properties.country&limit=0",
            "filter:schema=Person&filter:schema=Organization&select=properties.name&select=group.names",
            "metric:sum=properties.amountEur&facet=properties.payer&facet_sort=sum:properties.amountEur&facet_size:properties.payer=5",
        ] {
            let query = Query::from_flat(q).unwrap();
            assert_eq!(Query::from_json(&query.to_json()).unwrap(), query, "{q}");
        }
        let rql =
            Query::from_rql("and(eq(schema,Person),or(eq(group.countries,de),not(eq(group.countries,at))))").unwrap();
        let back = Query::from_json(&rql.to_json()).unwrap();
        assert_eq!(back.to_json(), rql.to_json());
        assert_eq!(
            Query::from_flat("exclude:schema=Payment").unwrap().to_json(),
            json!({"q": {"and": [{"leaf": {"t": "M", "f": "schema", "op": "eq", "v": "Payment"}}], "not": true}})
        );
        for (bad, want) in [
            (json!({"q": {"and": [{"leaf": {"t": "X", "f": "a", "op": "eq", "v": "b"}}]}}), "unknown leaf type"),
            (
                json!({"q": {"leaf": {"t": "M", "f": "schema", "op": "eq", "v": "Person"}, "not": true}}),
                "a leaf cannot be negated",
            ),
            (
                json!({"q": {"and": [{"leaf": {"t": "M", "f": "schema", "op": "eq", "v": "Person"}}], "not": "true"}}),
                "`not` must be true or false, got \"true\"",
            ),
            (
                json!({"q": {"and": [{"leaf": {"t": "P", "f": "name", "op": "eq", "v": {"a": 1}}}]}}),
                "leaf value {\"a\":1} is not a string",
            ),
            (
                json!({"q": {"and": [{"leaf": {"t": "P", "f": "name", "op": "in", "v": ["a", null]}}]}}),
                "leaf value null is not a string",
            ),
            (
                json!({"q": {"and": [{"leaf": {"t": "P", "f": "country", "op": "null", "v": ["true"]}}]}}),
                "Invalid value for `null`: a list",
            ),
            (json!({"order_by": 5}), "`order_by` must be a string, got 5"),
            (json!({"select": "properties.name"}), "`select` must be a list"),
            (json!({"facet_sort": "median:properties.amountEur"}), "Invalid aggregation function: `median`"),
        ] {
            let result = Query::from_json(&bad);
            assert!(matches!(&result, Err(Error::InvalidQuery(m)) if m.contains(want)), "{bad}: {result:?}");
        }
        let mut deep = json!({"leaf": {"t": "M", "f": "schema", "op": "eq", "v": "Person"}});
        for _ in 0..100 {
            deep = json!({"and": [deep]});
        }
        assert!(Query::from_json(&json!({"q": deep})).unwrap_err().to_string().contains("deeper"));
    }
}
