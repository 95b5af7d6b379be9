//! The mapping language against followthemoney's `ftm map-csv --no-sign` on the same files
//! (`tests/fixtures/mapping/`, expected output written by `tools/gen-mapping-fixtures.sh`).

use std::collections::HashMap;
use std::path::Path;

use ftm::mapping::Mapping;
use ftm::model;
use serde_json::{Value, json};

/// An entity as comparable JSON: id, schema and every property's values sorted.
fn normal(id: &str, schema: &str, properties: impl Iterator<Item = (String, Vec<String>)>) -> String {
    let mut props: Vec<(String, Vec<String>)> = properties.filter(|(_, v)| !v.is_empty()).collect();
    props.iter_mut().for_each(|(_, values)| values.sort());
    props.sort();
    json!({"id": id, "schema": schema, "properties": props}).to_string()
}

fn load(name: &str) -> (Mapping, String, Vec<HashMap<String, String>>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mapping");
    let yaml: Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.join(format!("{name}.yml"))).unwrap()).unwrap();
    let mapping = Mapping::from_value(model(), &yaml).unwrap();
    let dataset = yaml["dataset"].as_str().unwrap().to_string();
    let mut reader = csv::Reader::from_path(dir.join(format!("{name}.csv"))).unwrap();
    let headers = reader.headers().unwrap().clone();
    let rows = reader
        .records()
        .map(|r| headers.iter().zip(r.unwrap().iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect())
        .collect();
    (mapping, dataset, rows)
}

/// Compares our output with `NAME.ftm.json` (or, `signed`, with `NAME.signed.ftm.json`).
fn check(name: &str, signed: bool) {
    let (mapping, dataset, rows) = load(name);
    let mut ours: Vec<String> = Vec::new();
    for row in &rows {
        for mut entity in mapping.map(row, &dataset).entities {
            if signed {
                entity.sign(&dataset);
            }
            let props = entity.properties().map(|(p, v)| (p.to_string(), v.to_vec())).collect::<Vec<_>>();
            ours.push(normal(entity.id.as_deref().unwrap(), &entity.schema.name, props.into_iter()));
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mapping");
    let expected = if signed { format!("{name}.signed.ftm.json") } else { format!("{name}.ftm.json") };
    let mut theirs: Vec<String> = std::fs::read_to_string(dir.join(expected))
        .unwrap()
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            let props = v["properties"].as_object().unwrap().iter().map(|(p, values)| {
                (p.clone(), values.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect())
            });
            normal(v["id"].as_str().unwrap(), v["schema"].as_str().unwrap(), props)
        })
        .collect();
    ours.sort();
    theirs.sort();
    assert!(!theirs.is_empty());
    assert_eq!(ours, theirs, "{name}");
}

#[test]
fn people_equal_ftm_map_csv() {
    check("people", false);
}

#[test]
fn families_equal_ftm_map_csv() {
    check("families", false);
}

#[test]
fn signed_families_equal_ftm_map_csv_with_a_dataset() {
    check("families", true);
}

#[test]
fn bad_mappings_name_the_place() {
    let cases = [
        (
            json!({"queries": [{"entities": {"c": {"schema": "Nope", "key": "id"}}}]}),
            "query 1, entity \"c\": unknown schema \"Nope\"",
        ),
        (
            json!({"queries": [{"entities": {"c": {"schema": "Company", "key": "id", "properties": {"nope": {"column": "x"}}}}}]}),
            "query 1, entity \"c\", property \"nope\": Company has no property \"nope\"",
        ),
        (
            json!({"queries": [{"entities": {"c": {"schema": "Company"}}}]}),
            "query 1, entity \"c\": no `key`, `keys` or `id_column`: entities need an id",
        ),
        (
            json!({"queries": [{"entities": {"o": {"schema": "Ownership", "key": "id", "properties": {"owner": {"entity": "p"}}}}}]}),
            "query 1, entity \"o\": no entity \"p\" in this query",
        ),
        (
            json!({"queries": [{"entities": {"c": {"schema": "Company", "key": "id", "properties": {"incorporationDate": {"column": "d", "format": "%Q"}}}}}]}),
            "query 1, entity \"c\", property \"incorporationDate\": bad date format \"%Q\"",
        ),
        (json!({"dataset": "x"}), "mapping: no `queries`"),
    ];
    for (value, message) in cases {
        let err = Mapping::from_value(model(), &value).unwrap_err();
        assert_eq!(err.to_string(), message);
    }
}
