//! The RQL grammar (spec `interfaces.md` §2.4), as pyrql 0.7 reads it and ftmq maps it.
//!
//! Calls `op(arg, …)` with arrays `(a,b)` and nested calls; FIQL shorthands `field=value` and
//! `field=op=value`; at the top level `&` and `,` join terms with AND, and `|` (OR) is allowed
//! only inside a parenthesised group. Values are percent-decoded and converted as pyrql does
//! (`true`/`false`/`null`, numbers, `string:`/`number:`/… prefixes), then compared as text.
//! RQL carries no sort and no slice.

use super::flat::{percent_decode, projection};
use super::{Aggregation, Field, Leaf, MAX_DEPTH, Node, Op, Query, Value, invalid};
use crate::error::{Error, Result};

/// A parsed RQL term before it is mapped to the query model.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    /// `name(args)`.
    Call(String, Vec<Term>),
    /// `(a,b,c)` as an argument.
    Array(Vec<Term>),
    /// A converted scalar: `None` for `null`.
    Scalar(Option<String>),
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    /// Calls and groups entered and not yet left.
    depth: usize,
}

fn syntax(pos: usize, expected: &str) -> Error {
    invalid(format!("RQL syntax error at {pos}: expected {expected}"))
}

impl Parser<'_> {
    /// Enters a call or group.
    fn descend(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(invalid(format!("RQL syntax error at {}: nesting deeper than {MAX_DEPTH}", self.pos)));
        }
        Ok(())
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.pos += c.len_utf8();
        }
        hit
    }

    /// Raw text up to the next delimiter.
    fn token(&mut self, stop: &[char]) -> &str {
        let start = self.pos;
        while let Some(c) = self.peek()
            && !stop.contains(&c)
        {
            self.pos += c.len_utf8();
        }
        &self.text[start..self.pos]
    }

    /// `term (('&'|',') term)*`, or with `|` between such runs inside a group.
    fn expression(&mut self, grouped: bool) -> Result<Term> {
        let mut alternatives = vec![self.conjunction()?];
        while grouped && self.eat('|') {
            alternatives.push(self.conjunction()?);
        }
        Ok(if alternatives.len() == 1 { alternatives.remove(0) } else { Term::Call("or".into(), alternatives) })
    }

    fn conjunction(&mut self) -> Result<Term> {
        let mut terms = vec![self.term()?];
        while self.eat('&') || self.eat(',') {
            terms.push(self.term()?);
        }
        Ok(if terms.len() == 1 { terms.remove(0) } else { Term::Call("and".into(), terms) })
    }

    fn term(&mut self) -> Result<Term> {
        if self.eat('(') {
            self.descend()?;
            let inner = self.expression(true)?;
            self.depth -= 1;
            return if self.eat(')') { Ok(inner) } else { Err(syntax(self.pos, "`)`")) };
        }
        let start = self.pos;
        let name = self.token(&['(', ')', ',', '&', '|', '=']).to_string();
        if name.is_empty() {
            return Err(syntax(start, "an operator or a field"));
        }
        if self.eat('(') {
            let args = self.arguments()?;
            return Ok(Term::Call(name, args));
        }
        if self.eat('=') {
            let first = self.token(&[')', ',', '&', '|', '=']).to_string();
            if !self.eat('=') {
                return Ok(Term::Call("eq".into(), vec![Term::Scalar(Some(name)), convert(&first)?]));
            }
            let value = if self.eat('(') {
                Term::Array(self.arguments()?)
            } else {
                convert(self.token(&[')', ',', '&', '|']))?
            };
            return Ok(Term::Call(first, vec![Term::Scalar(Some(name)), value]));
        }
        Err(syntax(self.pos, "`(` or `=`"))
    }

    /// Arguments after `(`, through the closing `)`.
    fn arguments(&mut self) -> Result<Vec<Term>> {
        self.descend()?;
        let mut args = Vec::new();
        if self.eat(')') {
            self.depth -= 1;
            return Ok(args);
        }
        loop {
            args.push(self.argument()?);
            if self.eat(')') {
                self.depth -= 1;
                return Ok(args);
            }
            if !self.eat(',') {
                return Err(syntax(self.pos, "`,` or `)`"));
            }
        }
    }

    fn argument(&mut self) -> Result<Term> {
        if self.eat('(') {
            return Ok(Term::Array(self.arguments()?));
        }
        let start = self.pos;
        let raw = self.token(&['(', ')', ',', '\'', '"']).to_string();
        if raw.is_empty() || matches!(self.peek(), Some('\'' | '"')) {
            // pyrql takes neither quotes nor empty values: `%27` spells a quote.
            return Err(syntax(if raw.is_empty() { start } else { self.pos }, "`)`"));
        }
        if self.eat('(') {
            let args = self.arguments()?;
            return Ok(Term::Call(raw, args));
        }
        convert(&raw)
    }
}

/// Python's `str()` of a float: `1000.0`, `1.5`, `1e+20`.
fn python_float(n: f64) -> String {
    if n.is_nan() {
        return "nan".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf" } else { "-inf" }.into();
    }
    let abs = n.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        let text = format!("{n:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        return format!("{mantissa}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs());
    }
    let text = n.to_string();
    if text.contains('.') { text } else { format!("{text}.0") }
}

/// A number as pyrql's auto-conversion reads it: an integer (`007` → `7`) or a float.
fn auto_number(text: &str) -> Option<String> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        let trimmed = digits.trim_start_matches('0');
        let sign = if text.starts_with('-') && !trimmed.is_empty() { "-" } else { "" };
        return Some(format!("{sign}{}", if trimmed.is_empty() { "0" } else { trimmed }));
    }
    let looks_numeric = text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && text.bytes().any(|b| b.is_ascii_digit());
    looks_numeric.then(|| text.parse::<f64>().ok().map(python_float)).flatten()
}

/// A value: percent-decoded, typed by a `type:` prefix or auto-converted.
fn convert(raw: &str) -> Result<Term> {
    let text = percent_decode(raw);
    if let Some((kind, rest)) = text.split_once(':') {
        let typed = match kind {
            "string" | "uuid" | "decimal" => Some(rest.to_string()),
            "number" => Some(
                auto_number(rest).ok_or_else(|| invalid(format!("RQL value `{text}`: `{rest}` is not a number")))?,
            ),
            "boolean" => Some(if rest.eq_ignore_ascii_case("true") { "True" } else { "False" }.to_string()),
            "date" => {
                chrono::NaiveDate::parse_from_str(rest, "%Y-%m-%d")
                    .map_err(|_| invalid(format!("RQL value `{text}`: `{rest}` is not a date")))?;
                Some(rest.to_string())
            }
            "datetime" | "epoch" => {
                let ts = if kind == "epoch" {
                    rest.parse::<f64>().ok().and_then(|s| chrono::DateTime::from_timestamp_micros((s * 1e6) as i64))
                } else {
                    ftm::time::parse_iso(rest)
                };
                let ts = ts.ok_or_else(|| invalid(format!("RQL value `{text}`: `{rest}` is not a {kind}")))?;
                Some(ts.naive_utc().format("%Y-%m-%d %H:%M:%S%.f").to_string())
            }
            _ => None,
        };
        if let Some(value) = typed {
            return Ok(Term::Scalar(Some(value)));
        }
    }
    Ok(Term::Scalar(match text.as_str() {
        "true" => Some("True".into()),
        "false" => Some("False".into()),
        "null" => None,
        _ => Some(auto_number(&text).unwrap_or(text)),
    }))
}

impl std::fmt::Display for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |f: &mut std::fmt::Formatter<'_>, items: &[Term]| -> std::fmt::Result {
            let texts: Vec<String> = items.iter().map(Term::to_string).collect();
            write!(f, "({})", texts.join(","))
        };
        match self {
            Term::Call(name, args) => {
                f.write_str(name)?;
                list(f, args)
            }
            Term::Array(items) => list(f, items),
            Term::Scalar(value) => f.write_str(value.as_deref().unwrap_or("null")),
        }
    }
}

/// The text of a scalar argument (a field name or a value).
fn scalar(term: &Term, op: &str) -> Result<Option<String>> {
    match term {
        Term::Scalar(value) => Ok(value.clone()),
        _ => Err(invalid(format!("RQL `{op}`: expected a value, got `{term}`"))),
    }
}

/// A field argument; `bare_is_property` reads a bare name as a property (comparisons do,
/// `select` and the aggregations do not).
fn field(term: &Term, op: &str, bare_is_property: bool) -> Result<Field> {
    let name = scalar(term, op)?.ok_or_else(|| invalid(format!("RQL `{op}`: the field is null")))?;
    Field::parse(&name, bare_is_property)
}

/// What RQL terms build besides the tree.
#[derive(Default)]
struct Extras {
    select: Vec<Field>,
    aggregations: Vec<Aggregation>,
}

fn comparison(op: &str) -> Option<Op> {
    Some(match op {
        "eq" => Op::Eq,
        "ne" => Op::Not,
        "lt" => Op::Lt,
        "le" => Op::Lte,
        "gt" => Op::Gt,
        "ge" => Op::Gte,
        "in" => Op::In,
        "out" => Op::NotIn,
        "like" | "contains" => Op::Like,
        "ilike" => Op::Ilike,
        _ => return None,
    })
}

/// Maps a term to a node (`None` for `select` and aggregations, which go to `extras`).
fn node(term: &Term, extras: &mut Extras) -> Result<Option<Node>> {
    let Term::Call(op, args) = term else {
        return Err(invalid(format!("RQL: expected an operator, got `{term}`")));
    };
    let op = op.as_str();
    let children = |extras: &mut Extras| -> Result<Vec<Node>> {
        let mut out = Vec::new();
        for arg in args {
            out.extend(node(arg, extras)?);
        }
        Ok(out)
    };
    Ok(match op {
        "and" => Node::all(children(extras)?),
        "or" => match children(extras)? {
            nodes if nodes.len() > 1 => Some(Node::Or(nodes)),
            mut nodes => nodes.pop(),
        },
        "not" => match children(extras)?.as_slice() {
            [] => None,
            [one] => Some(Node::Not(Box::new(one.clone()))),
            more => Some(Node::Not(Box::new(Node::And(more.to_vec())))),
        },
        "select" => {
            for arg in args {
                extras.select.push(projection(&field(arg, op, false)?.to_string())?);
            }
            None
        }
        "sum" | "min" | "max" | "mean" | "count" => {
            let func = if op == "mean" { "avg" } else { op };
            for arg in args {
                extras.aggregations.push(Aggregation::new(func, &field(arg, op, false)?.to_string(), Vec::new())?);
            }
            None
        }
        "aggregate" => {
            let mut by = Vec::new();
            let mut metrics = Vec::new();
            for arg in args {
                match arg {
                    Term::Call(func, inner) => metrics.push((func.clone(), inner.clone())),
                    other => by.push(field(other, op, false)?.to_string()),
                }
            }
            for (func, inner) in metrics {
                let func = if func == "mean" { "avg".to_string() } else { func };
                for arg in &inner {
                    extras.aggregations.push(Aggregation::new(&func, &field(arg, op, false)?.to_string(), by.clone())?);
                }
            }
            None
        }
        _ => {
            let Some(comparator) = comparison(op) else {
                return Err(invalid(format!("Unsupported RQL operator: `{op}`")));
            };
            let [subject, value] = args.as_slice() else {
                return Err(invalid(format!("RQL `{op}` takes a field and a value")));
            };
            let field = field(subject, op, true)?;
            let value = match value {
                Term::Array(items) => {
                    let texts: Result<Vec<Option<String>>> = items.iter().map(|t| scalar(t, op)).collect();
                    Value::List(texts?.into_iter().flatten().collect())
                }
                other => match scalar(other, op)? {
                    Some(text) if matches!(comparator, Op::Like | Op::Ilike) => Value::Text(text.replace('*', "")),
                    Some(text) => Value::Text(text),
                    None => Value::None,
                },
            };
            Some(Node::Leaf(Leaf::new(field, comparator, value)?))
        }
    })
}

impl Query {
    /// Parses an RQL string (`and(eq(schema,Person),ne(properties.country,de))`).
    ///
    /// # Errors
    /// [`Error::InvalidQuery`]: a syntax error with its position, an unsupported operator
    /// (`Unsupported RQL operator: `sort``), or an invalid field or value.
    pub fn from_rql(rql: &str) -> Result<Query> {
        let mut parser = Parser { text: rql, pos: 0, depth: 0 };
        if rql.trim().is_empty() {
            return Ok(Query::default());
        }
        let term = parser.expression(false)?;
        if parser.pos < rql.len() {
            return Err(syntax(parser.pos, "end of text"));
        }
        let mut extras = Extras::default();
        let node = node(&term, &mut extras)?;
        let mut select = extras.select;
        select.sort();
        select.dedup();
        Ok(Query { node, select, aggregations: extras.aggregations, ..Query::default() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(node: &Node, out: &mut Vec<(String, Op, Value)>) {
        match node {
            Node::Leaf(l) => out.push((l.field.to_string(), l.op, l.value.clone())),
            Node::Not(child) => collect(child, out),
            Node::And(children) | Node::Or(children) => children.iter().for_each(|c| collect(c, out)),
        }
    }

    fn leaves(rql: &str) -> Vec<(String, Op, Value)> {
        let mut out = Vec::new();
        if let Some(node) = Query::from_rql(rql).unwrap().node {
            collect(&node, &mut out);
        }
        out
    }

    fn text(v: &str) -> Value {
        Value::Text(v.into())
    }

    #[test]
    fn values_convert_as_pyrql() {
        assert_eq!(leaves("eq(name,007)")[0].2, text("7"));
        assert_eq!(leaves("eq(name,string:007)")[0].2, text("007"));
        assert_eq!(leaves("eq(name,1e3)")[0].2, text("1000.0"));
        assert_eq!(leaves("eq(name,true)")[0].2, text("True"));
        assert_eq!(leaves("eq(name,null)")[0].2, Value::None);
        assert_eq!(leaves("eq(name,2005-01-01)")[0].2, text("2005-01-01"));
        assert_eq!(leaves("eq(name,Jane%20Doe)")[0].2, text("Jane Doe"));
        assert_eq!(leaves("eq(name,Jane Doe)")[0].2, text("Jane Doe"));
        assert_eq!(leaves("like(name,*Quandt*)")[0], ("properties.name".into(), Op::Like, text("Quandt")));
        assert_eq!(python_float(1e20), "1e+20");
        assert_eq!(python_float(1.5), "1.5");
    }

    #[test]
    fn trees() {
        let q = Query::from_rql("and(eq(schema,Person),or(eq(group.countries,de),eq(group.countries,at)))").unwrap();
        assert!(matches!(&q.node, Some(Node::And(c)) if matches!(&c[1], Node::Or(o) if o.len() == 2)));
        let q = Query::from_rql("(eq(schema,Person)|eq(schema,Organization))").unwrap();
        assert!(matches!(q.node, Some(Node::Or(_))));
        assert_eq!(leaves("schema=ne=Payment")[0], ("schema".into(), Op::Not, text("Payment")));
        assert_eq!(leaves("out(schema,(Person,Company))")[0].1, Op::NotIn);
        let q = Query::from_rql("eq(schema,Person)&eq(properties.name,Johanna Quandt)").unwrap();
        assert!(matches!(q.node, Some(Node::And(c)) if c.len() == 2));
        let q = Query::from_rql("and(eq(schema,Person),select(properties.name))").unwrap();
        assert_eq!((q.select.len(), q.node.is_some()), (1, true));
        assert!(matches!(Query::from_rql("not(eq(schema,Payment))").unwrap().node, Some(Node::Not(_))));
    }

    #[test]
    fn errors() {
        let message = |rql: &str| Query::from_rql(rql).unwrap_err().to_string();
        assert!(message("eq(schema,Person)|eq(schema,Company)").contains("expected end of text"));
        assert!(message("sort(+properties.name)").contains("Unsupported RQL operator: `sort`"));
        assert!(message("eq(colour,red)").contains("Invalid prop: `colour`"));
        assert!(message("eq(schema,Foo)").contains("Invalid schema: `Foo`"));
        assert!(message("eq(schema,Person").contains("syntax"));
        assert!(
            message(&format!("{}eq(schema,Person){}", "(".repeat(100_000), ")".repeat(100_000))).contains("nesting")
        );
        assert!(message(&format!("{}eq(schema,Person){}", "not(".repeat(1000), ")".repeat(1000))).contains("nesting"));
        assert_eq!(message("eq(eq(a,b),c)"), "Invalid query: RQL `eq`: expected a value, got `eq(a,b)`");
    }
}
