//! Every query of `tests/fixtures/reference_queries.json` on the donations sample gives the
//! entities (or the error) the reference ftm-lakehouse 0.9.0 gave, recorded by
//! `tools/reference-queries.py`; where the reference compared numbers as text, the fixture's
//! `numeric` ids (computed from the sample with numbers compared as numbers) are expected
//! instead. A query's JSON form reads back to the same results.

use std::collections::BTreeSet;

use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::model::query::Query;
use lakehouse::operation::import::{ImportOptions, import_entities};
use lakehouse::operation::make::{MakeOptions, make};
use lakehouse::operation::optimize::{OptimizeOptions, optimize};
use lakehouse::repository::{Catalog, EntityRepository, WriteOptions};
use lakehouse::storage::Location;
use serde_json::Value;

async fn donations(dir: &std::path::Path) -> EntityRepository {
    let catalog = Catalog::new(Location::local(dir.join("lake")).unwrap(), Settings::default());
    let dataset = catalog.dataset(DatasetName::new("donations").unwrap(), None).unwrap();
    let repo = EntityRepository::open(&dataset).await.unwrap();
    let input = std::fs::read(testkit::fixtures().join("donations.ftm.json")).unwrap();
    import(&repo, &input, "bulk").await;
    repo
}

/// Imports entity JSON lines under `origin`.
async fn import(repo: &EntityRepository, lines: &[u8], origin: &str) {
    let options = ImportOptions::new(WriteOptions::origin(origin));
    import_entities(repo, lines, "entities.ftm.json", &options, |_| {}).await.unwrap();
}

/// The query's lines as the table gives them (aggregated entities), and as
/// [`EntityRepository::query_lines`] gives them, with whether the entity index answered.
async fn lines_both_ways(repo: &EntityRepository, query: &Query) -> (Vec<u8>, Vec<u8>, bool) {
    let mut table = Vec::new();
    let mut results = repo.query(query, true).await.unwrap();
    while let Some(entity) = results.next_entity().await.unwrap() {
        serde_json::to_writer(&mut table, &entity.to_json()).unwrap();
        table.push(b'\n');
    }
    let mut lines = repo.query_lines(query, true).await.unwrap();
    let mut out = Vec::new();
    while lines.next(&mut out).await.unwrap() {}
    (table, out, lines.indexed())
}

/// The ids the query returns and the union of the returned entities' property names.
async fn run(repo: &EntityRepository, query: &Query) -> (Vec<String>, BTreeSet<String>) {
    let mut results = repo.query(query, true).await.unwrap();
    let (mut ids, mut props) = (Vec::new(), BTreeSet::new());
    while let Some(entity) = results.next_entity().await.unwrap() {
        ids.push(entity.id.to_string());
        props.extend(entity.to_json()["properties"].as_object().unwrap().keys().cloned());
    }
    (ids, props)
}

/// Queries whose results differ from the reference's on purpose, with this implementation's
/// count: the reference decodes percent-escapes of multi-byte UTF-8 in RQL values wrongly.
const DIFFERENCES: [(&str, usize); 1] = [("eq(name,GR%C3%9CNE)", 1)];

fn strings(value: &Value) -> Vec<String> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn queries_give_the_reference_results() {
    let fixture: Vec<Value> =
        serde_json::from_str(include_str!("fixtures/reference_queries.json")).expect("the fixture parses");
    let dir = tempfile::tempdir().unwrap();
    let repo = donations(dir.path()).await;
    let mut failures = Vec::new();
    for case in &fixture {
        let (kind, text) = (case["kind"].as_str().unwrap(), case["query"].as_str().unwrap());
        let parsed = match kind {
            "rql" => Query::from_rql(text),
            _ => Query::from_flat(text),
        };
        let expected = case.get("numeric").filter(|v| !v.is_null()).or(case.get("ids")).filter(|v| !v.is_null());
        let Some(expected) = expected else {
            let class = case["error_class"].as_str().unwrap_or_default();
            let theirs = case["error"].as_str().unwrap_or_default();
            match parsed {
                // The reference fails at run time where this implementation works on purpose
                // (`canonical_id` leaves); every other reference error is a parse error here.
                Ok(_) if text.contains("canonical_id") => {}
                Ok(query) => failures.push(format!("{kind} {text}: expected the error {class}, got {query:?}")),
                // The `-q` errors say what the reference's say (its RQL names some fields
                // differently: `Invalid prop: `group.foo``).
                Err(ours) if kind == "q" && class == "QueryError" => {
                    let what = |message: &str| message.split(':').next().unwrap_or_default().to_string();
                    let ours = ours.to_string().trim_start_matches("Invalid query: ").to_string();
                    if what(&ours) != what(theirs) {
                        failures.push(format!("{kind} {text}: the error {ours:?}, expected {theirs:?}"));
                    }
                }
                Err(_) => {}
            }
            continue;
        };
        let query = match parsed {
            Ok(query) => query,
            Err(e) => {
                failures.push(format!("{kind} {text}: {e}"));
                continue;
            }
        };
        let mut expected = strings(expected);
        if let Some((_, ours)) = DIFFERENCES.iter().find(|(query, _)| *query == text) {
            let (got, _) = run(&repo, &query).await;
            if got.len() != *ours {
                failures.push(format!("{kind} {text}: {} ids, expected {ours} (a deliberate difference)", got.len()));
            }
            continue;
        }
        let (mut got, props) = run(&repo, &query).await;
        if !case["ordered"].as_bool().unwrap_or(false) {
            expected.sort();
            got.sort();
        }
        if got != expected {
            failures.push(format!("{kind} {text}: {} ids, expected {}", got.len(), expected.len()));
            continue;
        }
        if let Some(wanted) = case.get("props").filter(|p| !p.is_null()) {
            let wanted: BTreeSet<String> = strings(wanted).into_iter().collect();
            if props != wanted {
                failures.push(format!("{kind} {text}: properties {props:?}, expected {wanted:?}"));
            }
        }
        let round_trip = Query::from_json(&query.to_json()).unwrap();
        let (mut again, _) = run(&repo, &round_trip).await;
        if !case["ordered"].as_bool().unwrap_or(false) {
            again.sort();
        }
        if again != got {
            failures.push(format!("{kind} {text}: its JSON form {} selects other entities", query.to_json()));
        }
    }
    assert!(failures.is_empty(), "{} of {} queries differ:\n{}", failures.len(), fixture.len(), failures.join("\n"));
}

/// The parsed queries of the fixture (those that parse).
fn fixture_queries() -> Vec<(String, Query)> {
    let fixture: Vec<Value> = serde_json::from_str(include_str!("fixtures/reference_queries.json")).unwrap();
    fixture
        .iter()
        .filter_map(|case| {
            let text = case["query"].as_str().unwrap();
            let parsed = if case["kind"] == "rql" { Query::from_rql(text) } else { Query::from_flat(text) };
            parsed.ok().map(|query| (text.to_string(), query))
        })
        .collect()
}

/// After `make`, every fixture query gives the same lines through
/// [`EntityRepository::query_lines`] as the aggregated entities of the table, and the entity
/// index answers the equality queries among them, with their slices.
#[tokio::test]
async fn the_entity_index_gives_the_table_lines() {
    let dir = tempfile::tempdir().unwrap();
    let repo = donations(dir.path()).await;
    make(&repo, &MakeOptions::default()).await.unwrap();
    assert!(dir.path().join("lake/donations/entity-index/postings.parquet").is_file());
    let mut queries = fixture_queries();
    for extra in [
        "filter:schema=Person&filter:properties.country=de",
        "filter:schemata=LegalEntity&limit=3&offset=2",
        "filter:properties.country=de&filter:properties.country=gb&offset=1",
        "filter:schema=Payment&limit=0",
    ] {
        queries.push((extra.to_string(), Query::from_flat(extra).unwrap()));
    }
    let (mut indexed, mut failures) = (0, Vec::new());
    for (text, query) in &queries {
        let (table, lines, by_index) = lines_both_ways(&repo, query).await;
        indexed += usize::from(by_index);
        if lines != table {
            failures.push(format!("{text}: {} bytes, the table gives {}", lines.len(), table.len()));
        }
    }
    assert!(failures.is_empty(), "{} of {} queries differ:\n{}", failures.len(), queries.len(), failures.join("\n"));
    assert!(indexed >= 20, "the index answered {indexed} of {} queries", queries.len());
}

/// The entity index serves only versions with its live statements: after a maintenance run
/// (commits that rearrange data) it still answers, after a write or an origin's deletion the
/// table does, and the results stay right.
#[tokio::test]
async fn the_entity_index_serves_only_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let repo = donations(dir.path()).await;
    make(&repo, &MakeOptions::default()).await.unwrap();
    let query = Query::from_flat("filter:schema=Person&filter:properties.country=de").unwrap();
    let (before, lines, by_index) = lines_both_ways(&repo, &query).await;
    assert!(by_index && lines == before && !before.is_empty());

    optimize(&repo, &OptimizeOptions { force: true, ..Default::default() }).await.unwrap();
    let (table, lines, by_index) = lines_both_ways(&repo, &query).await;
    assert!(by_index, "an optimize changes no live statement");
    assert_eq!((&lines, &table), (&before, &before));

    let person = br#"{"id":"index-new","schema":"Person","properties":{"name":["Neu"],"country":["de"]}}"#;
    import(&repo, person, "late").await;
    let (table, lines, by_index) = lines_both_ways(&repo, &query).await;
    assert!(!by_index, "a write after the export");
    assert_eq!(lines, table);
    assert!(String::from_utf8(lines).unwrap().contains("index-new"));

    make(&repo, &MakeOptions::default()).await.unwrap();
    assert!(lines_both_ways(&repo, &query).await.2, "the next make indexes again");
    repo.delete_origin("late").await.unwrap();
    let (table, lines, by_index) = lines_both_ways(&repo, &query).await;
    assert!(!by_index, "an origin deleted after the export");
    assert_eq!((&lines, &table), (&before, &before));
}

/// An entity index file that is not Parquet is skipped: the table answers, with a warning.
#[tokio::test]
async fn an_unreadable_entity_index_falls_back_to_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let repo = donations(dir.path()).await;
    make(&repo, &MakeOptions::default()).await.unwrap();
    std::fs::write(dir.path().join("lake/donations/entity-index/lines.parquet"), b"not parquet").unwrap();
    let query = Query::from_flat("filter:schema=Person").unwrap();
    let (table, lines, by_index) = lines_both_ways(&repo, &query).await;
    assert!(!by_index);
    assert!(!table.is_empty());
    assert_eq!(lines, table);
}
