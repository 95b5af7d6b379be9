//! A lake in an object store, in process: the donations sample imported from three origins (one
//! escaped in its partition folder), one entity deleted, then `make`, in a `memory://` store and
//! in a local folder. The merge reads the appended files with ranged requests there and in place
//! here; the exports, read back through `open_artifact`, are the same.

use std::io::Read;

use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::operation::artifacts::{DOCUMENTS, ENTITIES, PARENTS, STATEMENTS, STATISTICS, open_artifact};
use lakehouse::operation::import::{ImportOptions, import_entities};
use lakehouse::operation::make::{MakeOptions, make};
use lakehouse::repository::{Catalog, EntityRepository, WriteOptions};
use lakehouse::storage::Location;

const PERSON: &str = "f9c295f21b233ac878fbac4d271bb6fd13d7952a";

/// Imports, deletes and makes in the lake at `root`; returns the exports, timestamps cut out.
async fn made(root: Location) -> Vec<(String, Vec<String>)> {
    let catalog = Catalog::new(root, Settings { merge_partitions: 2, ..Settings::default() });
    let dataset = catalog.dataset(DatasetName::new("donations").unwrap(), None).unwrap();
    dataset.configure(serde_json::json!({ "shards": 4 }).as_object().unwrap()).await.unwrap();
    let repo = EntityRepository::open(&dataset).await.unwrap();
    let text = std::fs::read_to_string(testkit::fixtures().join("donations.ftm.json")).unwrap();
    // An origin whose partition folder is escaped (`origin=mapping%3Aab%20c`).
    for origin in ["bulk", "crawl", "mapping:ab c"] {
        let options = ImportOptions::new(WriteOptions::origin(origin));
        import_entities(&repo, text.as_bytes(), "donations.ftm.json", &options, |_| {}).await.unwrap();
    }
    assert!(repo.delete_entity(PERSON, Some("crawl")).await.unwrap() > 0);
    let metrics = make(&repo, &MakeOptions::default()).await.unwrap();
    assert!(metrics.optimize.is_some_and(|o| o.merge.partitions > 0), "the merge ran");
    let mut out = Vec::new();
    for name in [STATEMENTS, ENTITIES, STATISTICS, DOCUMENTS, PARENTS] {
        let reader = open_artifact(&dataset, repo.config(), name).await.unwrap();
        let body = tokio::task::spawn_blocking(move || {
            let mut body = String::new();
            { reader }.read_to_string(&mut body).unwrap();
            body
        })
        .await
        .unwrap();
        // Times differ from run to run: each line without its timestamps.
        let lines = body
            .lines()
            .map(|line| {
                line.split(['"', ','])
                    .filter(|field| !(field.len() >= 20 && field.as_bytes()[4] == b'-' && field.contains('T')))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        out.push((name.to_string(), lines));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lake_in_memory_equals_one_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let on_disk = made(Location::local(dir.path()).unwrap()).await;
    let bucket = format!("memory://memory-lake-{}/lake", uuid::Uuid::new_v4().simple());
    let in_memory = made(Location::parse(&bucket).unwrap()).await;
    assert_eq!(in_memory.len(), on_disk.len());
    for ((name, remote), (_, local)) in in_memory.iter().zip(&on_disk) {
        assert!(!local.is_empty() || name != STATEMENTS, "{name} has rows");
        assert_eq!(remote, local, "{name}");
    }
    assert!(!std::path::Path::new("memory:").exists(), "the memory lake made no local folder");
}
