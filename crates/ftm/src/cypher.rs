//! Entities as a Cypher script, as followthemoney 4.11.2's `ftm export-cypher` writes it with
//! its default edge types (entity references only). Seed 002 names the artifact
//! `exports/graph.cypher`.
//!
//! Per entity, nodes first, then relationships, one statement per line:
//!
//! * an entity of an edge schema (`Ownership`, `Payment`, …) becomes one relationship per
//!   (source, target) pair of values, typed with the schema name in capitals, carrying the
//!   entity's shown values and the id `entity:S<ID>entity:T`;
//! * any other entity becomes a node (`MERGE`, its shown values joined with `; `, `id`
//!   `entity:ID`, `caption`, one label per schema it is), and each entity-typed value a
//!   relationship typed with the property name in capitals, id `entity:S<>entity:T`;
//! * an end not yet written as a node gets a placeholder node first (caption: its id; labels:
//!   the property's range), once per entity that needs it.
//!
//! Shown values are those of properties that are neither entity-typed nor hidden. Strings are
//! JSON with non-ASCII escaped, as Python's `json.dumps` spells them. Labels come in name order
//! (followthemoney writes them in its set order, which changes from run to run).

use std::collections::HashSet;

use crate::aggregate::EntityRecord;
use crate::model::model;
use crate::schema::Schema;
use crate::types::PropertyType;

/// Writes entities as Cypher, remembering which have been written as nodes.
#[derive(Debug, Default)]
pub struct CypherWriter {
    nodes: HashSet<String>,
}

/// `text` as a JSON string with every non-ASCII character escaped (`"Zo\u00eb"`).
fn push_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            ' '..='~' => out.push(c as u8),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.extend_from_slice(format!("\\u{unit:04x}").as_bytes());
                }
            }
        }
    }
    out.push(b'"');
}

/// `{ key: "value", … }` of the shown values, then `extra` pairs.
fn push_map(out: &mut Vec<u8>, entity: &EntityRecord<'_>, extra: &[(&str, &str)]) {
    out.extend_from_slice(b"{ ");
    let mut first = true;
    let mut key = |out: &mut Vec<u8>, name: &str| {
        if !std::mem::take(&mut first) {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
    };
    for (prop, values) in entity.properties() {
        let shown = entity.schema.property(prop).is_some_and(|p| p.type_ != PropertyType::Entity && !p.hidden);
        if shown && !values.is_empty() {
            key(out, prop);
            push_string(out, &values.iter().map(|v| v.as_ref()).collect::<Vec<_>>().join("; "));
        }
    }
    for (name, value) in extra {
        key(out, name);
        push_string(out, value);
    }
    out.extend_from_slice(b" }");
}

fn push_labels(out: &mut Vec<u8>, schema: &Schema) {
    out.extend_from_slice(b" SET p ");
    for name in schema.schemata() {
        out.push(b':');
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(b";\n");
}

fn push_placeholder(out: &mut Vec<u8>, id: &str, range: Option<&str>) {
    let node = format!("entity:{id}");
    out.extend_from_slice(b"MERGE (p { id: ");
    push_string(out, &node);
    out.extend_from_slice(b" }) SET p += { id: ");
    push_string(out, &node);
    out.extend_from_slice(b", caption: ");
    push_string(out, id);
    out.extend_from_slice(b" }");
    match range.and_then(|r| model().get(r)) {
        Some(schema) => push_labels(out, schema),
        None => out.extend_from_slice(b";\n"),
    }
}

/// One relationship from `source` to `target` typed `kind`, carrying `props` (the edge
/// entity's shown values, or none) and the id `entity:S<via>entity:T`.
fn push_relationship(
    out: &mut Vec<u8>,
    source: &str,
    target: &str,
    kind: &str,
    via: &str,
    edge: Option<&EntityRecord<'_>>,
) {
    let (s, t) = (format!("entity:{source}"), format!("entity:{target}"));
    out.extend_from_slice(b"MATCH (s { id: ");
    push_string(out, &s);
    out.extend_from_slice(b" }), (t { id: ");
    push_string(out, &t);
    out.extend_from_slice(b" }) MERGE (s)-[:");
    out.extend_from_slice(kind.to_uppercase().as_bytes());
    out.push(b' ');
    let id = format!("{s}<{via}>{t}");
    let extra = [("id", id.as_str()), ("weight", "1.0")];
    match edge {
        Some(entity) => push_map(out, entity, &extra),
        None => {
            out.extend_from_slice(b"{ id: ");
            push_string(out, &id);
            out.extend_from_slice(b", weight: \"1.0\" }");
        }
    }
    out.extend_from_slice(b"]->(t);\n");
}

impl CypherWriter {
    /// A writer that has written no node yet.
    pub fn new() -> CypherWriter {
        CypherWriter::default()
    }

    /// Appends the statements of `entity` to `out`.
    pub fn write(&mut self, entity: &EntityRecord<'_>, out: &mut Vec<u8>) {
        let schema = entity.schema;
        // (source, target, relationship type, via) of every relationship, and the ends that
        // need a placeholder (id, range), in order of first need.
        let mut relationships: Vec<(String, String, String, String)> = Vec::new();
        let mut placeholders: Vec<(String, Option<String>)> = Vec::new();
        let mut need = |id: &str, range: Option<&String>, nodes: &HashSet<String>| {
            if !nodes.contains(id) && !placeholders.iter().any(|(p, _)| p == id) {
                placeholders.push((id.to_string(), range.cloned()));
            }
        };
        if let Some(edge) = &schema.edge {
            let (source, target) = (schema.property(&edge.source), schema.property(&edge.target));
            let (sources, targets) = (entity.values(&edge.source), entity.values(&edge.target));
            for s in sources {
                need(s, source.and_then(|p| p.range.as_ref()), &self.nodes);
            }
            for t in targets {
                need(t, target.and_then(|p| p.range.as_ref()), &self.nodes);
            }
            for s in sources {
                for t in targets {
                    relationships.push((s.to_string(), t.to_string(), schema.name.clone(), entity.id.to_string()));
                }
            }
            for (id, range) in &placeholders {
                push_placeholder(out, id, range.as_deref());
            }
            for (s, t, kind, via) in &relationships {
                push_relationship(out, s, t, kind, via, Some(entity));
            }
            return;
        }
        let node = format!("entity:{}", entity.id);
        out.extend_from_slice(b"MERGE (p { id: ");
        push_string(out, &node);
        out.extend_from_slice(b" }) SET p += ");
        push_map(out, entity, &[("id", &node), ("caption", &entity.caption)]);
        push_labels(out, schema);
        self.nodes.insert(entity.id.to_string());
        for (prop, values) in entity.properties() {
            let Some(property) = schema.property(prop).filter(|p| p.type_ == PropertyType::Entity) else { continue };
            for value in values {
                need(value, property.range.as_ref(), &self.nodes);
                relationships.push((entity.id.to_string(), value.to_string(), prop.to_string(), String::new()));
            }
        }
        for (id, range) in &placeholders {
            push_placeholder(out, id, range.as_deref());
        }
        for (s, t, kind, via) in &relationships {
            push_relationship(out, s, t, kind, via, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_python_json() {
        let mut out = Vec::new();
        push_string(&mut out, "Zoë ☃ \"q\" \\ \n 😀");
        assert_eq!(String::from_utf8(out).unwrap(), r#""Zo\u00eb \u2603 \"q\" \\ \n \ud83d\ude00""#);
    }
}
