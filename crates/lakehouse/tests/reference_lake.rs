//! Reading the lake the reference (ftm-lakehouse 0.9.0) wrote for the donations sample: its
//! Delta table (merged files, a checkpoint, vacuum commits) gives the 2857 live statements of
//! its `statements.csv` and, aggregated, exactly the lines of its `entities.ftm.json`.

use std::collections::BTreeSet;

use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::storage::statements::Filter;
use lakehouse::storage::{Location, StatementStore};

fn reference_store() -> (tempfile::TempDir, StatementStore) {
    let dir = tempfile::tempdir().unwrap();
    testkit::copy_dir(&testkit::reference_dataset(), &dir.path().join("donations"));
    let root = Location::local(dir.path().join("donations")).unwrap();
    let store = StatementStore::new(root, DatasetName::new("donations").unwrap(), 0, &Settings::default()).unwrap();
    (dir, store)
}

#[tokio::test]
async fn reads_the_reference_statements_and_entities() {
    let (_dir, store) = reference_store();
    assert!(store.exists().await.unwrap());
    let parts = store.partitions().await.unwrap();
    assert!(parts.iter().all(|p| p.is_clean()), "the reference merged every partition");

    let mut csv = Vec::new();
    let rows = store.export_csv(&Filter::default(), &mut csv).await.unwrap();
    assert_eq!(rows, 2857);
    let ours: BTreeSet<String> = String::from_utf8(csv).unwrap().lines().map(str::to_string).collect();
    let reference = std::fs::read_to_string(testkit::reference_dataset().join("exports/statements.csv")).unwrap();
    let theirs: BTreeSet<String> = reference.lines().map(str::to_string).collect();
    assert_eq!(ours, theirs, "same statements.csv rows, byte for byte");

    let mut stream = store.scan(&Filter::default()).await.unwrap();
    let mut lines = BTreeSet::new();
    while let Some(entity) = stream.next_entity().await.unwrap() {
        lines.insert(serde_json::to_string(&entity.to_json()).unwrap());
    }
    let expected = std::fs::read_to_string(testkit::reference_dataset().join("entities.ftm.json")).unwrap();
    let expected: BTreeSet<String> = expected.lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 474);
    assert_eq!(lines, expected);
}

#[tokio::test]
async fn entity_lookup_on_the_reference_lake() {
    let (_dir, store) = reference_store();
    let person = store.get("f9c295f21b233ac878fbac4d271bb6fd13d7952a").await.unwrap().unwrap();
    assert_eq!(person.schema.name, "Person");
    assert_eq!(person.caption, "Frau Lina Dachner");
    let statements = store.get_statements("f9c295f21b233ac878fbac4d271bb6fd13d7952a").await.unwrap();
    assert_eq!(statements.len(), 4, "three properties and the checksum statement");
    let stats = store.stats().await.unwrap();
    let reference = std::fs::read_to_string(testkit::reference_dataset().join("exports/statistics.json")).unwrap();
    let mut theirs: serde_json::Value = serde_json::from_str(&reference).unwrap();
    let mut ours = serde_json::to_value(&stats).unwrap();
    for v in [&mut ours, &mut theirs] {
        let countries = v["countries"].as_array_mut().unwrap();
        countries.sort_by_key(|c| c.as_str().unwrap().to_string());
    }
    assert_eq!(ours, theirs);
}
