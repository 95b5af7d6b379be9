//! `make` reads the merge of its optimize as it is written (no more dirty partitions than a
//! merge works on side by side) or reads the merged store back (more): both give the exports `optimize` then `export` give on a copy of the lake,
//! and a merge that fails publishes nothing and releases the fence.

use std::path::Path;

use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::operation::export::{ExportOptions, export};
use lakehouse::operation::import::{ImportOptions, import_entities};
use lakehouse::operation::make::{MakeOptions, make};
use lakehouse::operation::optimize::{OptimizeOptions, optimize};
use lakehouse::repository::{Catalog, EntityRepository, WriteOptions};
use lakehouse::storage::Location;

const PERSON: &str = "f9c295f21b233ac878fbac4d271bb6fd13d7952a";

/// The repository of the lake in `lake`, merging 4 partitions side by side.
async fn open(lake: &Path) -> EntityRepository {
    let settings = Settings { merge_partitions: 4, ..Settings::default() };
    let catalog = Catalog::new(Location::local(lake).unwrap(), settings);
    let dataset = catalog.dataset(DatasetName::new("donations").unwrap(), None).unwrap();
    EntityRepository::open(&dataset).await.unwrap()
}

/// A lake of the donations fixture with `shards` shards, imported twice from two origins (so
/// rows repeat and entities span partitions) and one entity deleted (a tombstone).
async fn lake(dir: &Path, shards: u32) -> EntityRepository {
    let dataset = open(dir).await.dataset().clone();
    dataset.ensure().await.unwrap();
    dataset.configure(serde_json::json!({ "shards": shards }).as_object().unwrap()).await.unwrap();
    let repo = open(dir).await;
    let text = std::fs::read_to_string(testkit::fixtures().join("donations.ftm.json")).unwrap();
    for origin in ["bulk", "bulk", "crawl"] {
        let options = ImportOptions::new(WriteOptions::origin(origin));
        import_entities(&repo, text.as_bytes(), "donations.ftm.json", &options, |_| {}).await.unwrap();
    }
    assert!(repo.delete_entity(PERSON, Some("crawl")).await.unwrap() > 0);
    repo.flush().await.unwrap();
    repo
}

fn exports(root: &Path) -> Vec<(String, Vec<u8>)> {
    ["exports/statements.csv", "entities.ftm.json", "exports/statistics.json", "exports/documents.csv"]
        .iter()
        .map(|name| (name.to_string(), std::fs::read(root.join(name)).unwrap()))
        .collect()
}

async fn dirty_partitions(repo: &EntityRepository) -> usize {
    repo.statements().partitions().await.unwrap().iter().filter(|p| !p.is_clean()).count()
}

/// Runs `make` on the lake in `made` and `optimize` then `export` on a copy of it; asserts the
/// same exports and returns `make`'s merge metrics.
async fn make_and_compare(made: &Path, apart: &Path) -> lakehouse::storage::statements::MergeMetrics {
    let _ = std::fs::remove_dir_all(apart);
    testkit::copy_dir(made, apart);
    let repo = open(made).await;
    let metrics = make(&repo, &MakeOptions::default()).await.unwrap();
    assert!(metrics.export.is_some_and(|e| !e.skipped && e.entities > 0));
    assert_eq!(dirty_partitions(&repo).await, 0);
    let other = open(apart).await;
    optimize(&other, &OptimizeOptions::default()).await.unwrap();
    export(&other, &ExportOptions { force: true, ..ExportOptions::default() }).await.unwrap();
    assert_eq!(exports(&made.join("donations")), exports(&apart.join("donations")));
    // The diff state records the version after the optimize, as an export after it does.
    let state = repo.dataset().tags().get_raw("diffs/entities.ftm.json-current").await.unwrap().unwrap();
    let version = repo.statements().version().await.unwrap().unwrap();
    assert_eq!(state.rsplit_once(':').unwrap().1, version.to_string());
    metrics.optimize.unwrap().merge
}

#[tokio::test]
async fn make_exports_what_optimize_then_export_gives() {
    for (shards, read_while_merging) in [(1, true), (8, false)] {
        let dir = tempfile::tempdir().unwrap();
        let (made, apart) = (dir.path().join("made"), dir.path().join("apart"));
        let repo = lake(&made, shards).await;
        let dirty = dirty_partitions(&repo).await;
        assert_eq!(dirty <= 4, read_while_merging, "{shards} shards: {dirty} dirty partitions");
        let merged = make_and_compare(&made, &apart).await;
        assert_eq!(merged.partitions, dirty);
        assert!(merged.rows_written < merged.rows_read, "duplicates collapsed");

        // One new partition: the others are clean and read from their files.
        let options = ImportOptions::new(WriteOptions::origin("late"));
        let line = format!(r#"{{"id": "{PERSON}", "schema": "Person", "properties": {{"name": ["Late Name"]}}}}"#);
        import_entities(&repo, line.as_bytes(), "late.json", &options, |_| {}).await.unwrap();
        assert_eq!(dirty_partitions(&repo).await, 1);
        assert_eq!(make_and_compare(&made, &apart).await.partitions, 1, "{shards} shards");
        let entities = String::from_utf8(std::fs::read(made.join("donations/entities.ftm.json")).unwrap()).unwrap();
        let person = entities.lines().find(|l| l.starts_with(&format!(r#"{{"id":"{PERSON}""#))).unwrap();
        assert!(person.contains("Late Name") && person.contains("\"late\""), "{person}");
    }
}

#[tokio::test]
async fn a_failed_merge_publishes_nothing_and_releases_the_fence() {
    let dir = tempfile::tempdir().unwrap();
    let repo = lake(dir.path(), 1).await;
    make(&repo, &MakeOptions::default()).await.unwrap();
    let root = dir.path().join("donations");
    let before = exports(&root);

    // New rows land in a fresh appended file, which then breaks.
    let options = ImportOptions::new(WriteOptions::origin("late"));
    let line = r#"{"id": "late-1", "schema": "Person", "properties": {"name": ["Late Comer"]}}"#;
    import_entities(&repo, line.as_bytes(), "late.json", &options, |_| {}).await.unwrap();
    let part = repo.statements().partitions().await.unwrap().into_iter().find(|p| p.origin == "late").unwrap();
    let file = root.join("statements").join(&part.files[0]);
    std::fs::write(&file, b"not parquet").unwrap();

    let err = make(&repo, &MakeOptions::default()).await.unwrap_err().to_string();
    assert!(err.contains("late") || err.to_lowercase().contains("parquet"), "{err}");
    assert_eq!(exports(&root), before, "the previous exports stay");
    let parts = repo.statements().partitions().await.unwrap();
    assert_eq!(dirty_partitions(&repo).await, 1, "nothing was committed: {parts:#?}");
    // The fence is free again: maintenance runs (and fails on the same file, not on a lock).
    let again = optimize(&repo, &OptimizeOptions::default()).await.unwrap_err().to_string();
    assert!(!again.to_lowercase().contains("lock"), "{again}");
}
