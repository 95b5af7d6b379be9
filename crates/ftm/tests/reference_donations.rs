//! The donations sample against what the reference (ftm-lakehouse 0.9.0) wrote for it:
//! `../shared/fixtures/reference/lake/donations/{exports/statements.csv, entities.ftm.json}`.
//!

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use ftm::time::parse_iso;
use ftm::{Entity, Statement, aggregate, explode, model};
use serde_json::Value;

fn reference() -> PathBuf {
    testkit::reference_dataset()
}

fn input_statements() -> Vec<Statement> {
    let text = fs::read_to_string(testkit::fixtures().join("donations.ftm.json")).unwrap();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let entity = Entity::from_json_str(model(), line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        out.extend(explode(&entity, "donations").unwrap_or_else(|e| panic!("line {}: {e}", n + 1)));
    }
    out
}

/// The reference's statements.csv rows as statements (timestamps and origin included).
fn reference_statements() -> Vec<Statement> {
    let mut reader = csv::Reader::from_path(reference().join("exports/statements.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (id, entity_id, prop, prop_type, schema, value) =
        (col("id"), col("entity_id"), col("prop"), col("prop_type"), col("schema"), col("value"));
    let (dataset, origin, first_seen, last_seen) = (col("dataset"), col("origin"), col("first_seen"), col("last_seen"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let mut s = Statement::new(&r[dataset], &r[entity_id], &r[schema], &r[prop], &r[prop_type], &r[value]);
            assert_eq!(s.id, &r[id], "reference id differs from make_key");
            s.origin = Some(r[origin].to_string());
            s.first_seen = parse_iso(&r[first_seen]);
            s.last_seen = parse_iso(&r[last_seen]);
            s
        })
        .collect()
}

type Row = (String, String, String, String, String, String);

fn row(s: &Statement) -> Row {
    (s.id.clone(), s.entity_id.clone(), s.prop.clone(), s.prop_type.clone(), s.schema.clone(), s.value.clone())
}

#[test]
fn explode_gives_the_reference_statements() {
    let mut ours: Vec<Row> = input_statements().iter().map(row).collect();
    let mut theirs: Vec<Row> = reference_statements().iter().map(row).collect();
    assert_eq!(ours.len(), 2857);
    assert_eq!(theirs.len(), 2857);
    ours.sort();
    theirs.sort();
    for (n, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "row {n}");
    }
    assert_eq!(ours.iter().filter(|r| r.2 == "id").count(), 474);
}

fn group(statements: &[Statement]) -> BTreeMap<&str, Vec<&Statement>> {
    let mut groups: BTreeMap<&str, Vec<&Statement>> = BTreeMap::new();
    for s in statements {
        groups.entry(&s.entity_id).or_default().push(s);
    }
    groups
}

fn reference_entities() -> Vec<Value> {
    fs::read_to_string(reference().join("entities.ftm.json"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn aggregate_gives_the_reference_entities() {
    let statements = input_statements();
    let groups = group(&statements);
    let expected = reference_entities();
    assert_eq!(groups.len(), expected.len());
    for want in &expected {
        let id = want["id"].as_str().unwrap();
        let got = aggregate(model(), groups[id].iter().copied()).unwrap().unwrap().to_json();
        for key in ["id", "schema", "caption", "properties", "referents", "datasets"] {
            assert_eq!(got[key], want[key], "{id}: {key}");
        }
    }
}

#[test]
fn aggregate_of_reference_rows_is_byte_identical() {
    let statements = reference_statements();
    let groups = group(&statements);
    let text = fs::read_to_string(reference().join("entities.ftm.json")).unwrap();
    for line in text.lines() {
        let want: Value = serde_json::from_str(line).unwrap();
        let id = want["id"].as_str().unwrap();
        let got = aggregate(model(), groups[id].iter().copied()).unwrap().unwrap();
        assert_eq!(serde_json::to_string(&got.to_json()).unwrap(), line);
        let mut written = Vec::new();
        got.write_json(&mut written, &mut Default::default());
        assert_eq!(String::from_utf8(written).unwrap(), line, "write_json");
    }
}
