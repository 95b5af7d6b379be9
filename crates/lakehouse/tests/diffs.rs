//! Diff exports (spec `exports-and-operations.md` §8): the first export is the baseline, an
//! export without a new Delta commit writes nothing, and a change, an addition and a deletion
//! give one `MOD`, one `ADD` and one `DEL`, in the entities and the documents series.

use std::path::{Path, PathBuf};

use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::operation::crawl::{CrawlOptions, Existing, crawl};
use lakehouse::operation::export::{ExportOptions, export};
use lakehouse::operation::import::{ImportOptions, import_entities};
use lakehouse::repository::{Catalog, EntityRepository, WriteOptions};
use lakehouse::storage::Location;
use serde_json::Value;

async fn repo(dir: &Path, compression: Option<&str>) -> EntityRepository {
    let settings = Settings { journal_uri: format!("sqlite:///{}/journal.db", dir.display()), ..Settings::default() };
    let catalog = Catalog::new(Location::local(dir.join("lake")).unwrap(), settings);
    let dataset = catalog.dataset(DatasetName::new("donations").unwrap(), None).unwrap();
    if let Some(codec) = compression {
        dataset.ensure().await.unwrap();
        let update = serde_json::json!({ "compression": codec });
        dataset.configure(update.as_object().unwrap()).await.unwrap();
    }
    EntityRepository::open(&dataset).await.unwrap()
}

async fn import(repo: &EntityRepository, text: &str) {
    let options = ImportOptions::new(WriteOptions::origin("bulk"));
    import_entities(repo, text.as_bytes(), "input", &options, |_| {}).await.unwrap();
}

fn diff_files(root: &Path, series: &str) -> Vec<PathBuf> {
    let dir = root.join("diffs").join(series);
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

fn read(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "zst") {
        String::from_utf8(zstd::decode_all(bytes.as_slice()).unwrap()).unwrap()
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

const PERSON: &str = "f9c295f21b233ac878fbac4d271bb6fd13d7952a";
const ORGANIZATION: &str = "6d03aec76fdeec8f9697d8b19954ab6fc2568bc8";

#[tokio::test]
async fn entities_delta_reports_mod_add_del() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path(), Some("zst")).await;
    let root = dir.path().join("lake/donations");
    import(&repo, &std::fs::read_to_string(testkit::fixtures().join("donations.ftm.json")).unwrap()).await;
    let forced = ExportOptions { force: true, ..ExportOptions::default() };

    let first = export(&repo, &forced).await.unwrap();
    assert_eq!(first.diffs, [(0, 0, 0); 3]);
    assert!(diff_files(&root, "entities.ftm.json").is_empty(), "the first export is the baseline");
    let state = repo.dataset().tags().get_raw("diffs/entities.ftm.json-current").await.unwrap().unwrap();
    let (ts, version) = state.split_once(':').unwrap();
    assert_eq!((ts.len(), ts.ends_with('Z')), (22, true), "{state}");
    assert_eq!(version.parse::<u64>().unwrap(), repo.statements().version().await.unwrap().unwrap());
    for series in ["exports/documents.csv", "exports/documents.crawl.csv"] {
        assert_eq!(repo.dataset().tags().get_raw(&format!("diffs/{series}-current")).await.unwrap().unwrap(), state);
    }

    let again = export(&repo, &forced).await.unwrap();
    assert_eq!(again.diffs[0], (0, 0, 0), "no new Delta commit: no window");
    assert!(diff_files(&root, "entities.ftm.json").is_empty());

    // One entity gains a property, one is new, one is deleted.
    import(
        &repo,
        &format!(
            "{{\"id\":\"{ORGANIZATION}\",\"schema\":\"Organization\",\"properties\":{{\"name\":[\"MLPD\"],\"country\":[\"de\"]}}}}\n\
             {{\"id\":\"new-person\",\"schema\":\"Person\",\"properties\":{{\"name\":[\"Neue Person\"]}}}}\n"
        ),
    )
    .await;
    repo.delete_entity(PERSON, None).await.unwrap();
    let changed = export(&repo, &forced).await.unwrap();
    assert_eq!(changed.diffs[0], (1, 1, 1));
    let files = diff_files(&root, "entities.ftm.json");
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_str().unwrap();
    assert!(name.ends_with(".delta.json.zst"), "{name}");
    let lines: Vec<Value> = read(&files[0]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ops: Vec<(&str, &str)> =
        lines.iter().map(|l| (l["op"].as_str().unwrap(), l["entity"]["id"].as_str().unwrap())).collect();
    assert_eq!(ops.len(), 3, "{ops:?}");
    assert!(ops.contains(&("MOD", ORGANIZATION)) && ops.contains(&("ADD", "new-person")), "{ops:?}");
    assert_eq!(ops[2], ("DEL", PERSON), "deletions come last");
    assert_eq!(lines[2]["entity"], serde_json::json!({"id": PERSON}));
    let keys: Vec<_> = lines[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["op", "entity"]);
    // The entity object is the entities.ftm.json line.
    let modified = lines.iter().find(|l| l["op"] == "MOD").unwrap();
    assert_eq!(modified["entity"]["properties"]["country"], serde_json::json!(["de"]));
    let export_lines = String::from_utf8(
        zstd::decode_all(std::fs::read(root.join("entities.ftm.json.zst")).unwrap().as_slice()).unwrap(),
    )
    .unwrap();
    let exported = export_lines.lines().find(|l| l.contains(&format!("\"id\":\"{ORGANIZATION}\""))).unwrap();
    assert_eq!(modified["entity"], serde_json::from_str::<Value>(exported).unwrap());
    assert!(diff_files(&root, "exports/documents.csv").is_empty(), "no documents changed: no file");
}

#[tokio::test]
async fn documents_diffs_follow_a_recrawl() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    testkit::copy_dir(&testkit::fixtures().join("files"), &src);
    let repo = repo(dir.path(), None).await;
    let root = dir.path().join("lake/donations");
    let options = CrawlOptions {
        uri: src.display().to_string(),
        make_entities: true,
        existing: Some(Existing::SkipPath),
        ..CrawlOptions::default()
    };
    crawl(&repo, &options, |_| {}).await.unwrap();
    export(&repo, &ExportOptions::default()).await.unwrap();

    // One new file; one document deleted.
    std::fs::write(src.join("testdir/new.txt"), "new file").unwrap();
    crawl(&repo, &options, |_| {}).await.unwrap();
    let utf = "file-14a83a92bc5396b664440887acac28ad945b1e6e7f41df98d0e65e48f864d36f";
    repo.delete_entity(utf, None).await.unwrap();
    let metrics = export(&repo, &ExportOptions::default()).await.unwrap();
    assert_eq!(metrics.diffs, [(1, 0, 1), (1, 0, 1), (1, 0, 1)]);
    for series in ["exports/documents.csv", "exports/documents.crawl.csv"] {
        let files = diff_files(&root, series);
        assert_eq!(files.len(), 1, "{series}: {files:?}");
        let text = read(&files[0]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "op,id,checksum,name,mimetype,path,size,updated_at,public_url");
        assert!(lines[1].starts_with("ADD,file-") && lines[1].contains(",new.txt,text/plain,testdir,8,"), "{text}");
        assert_eq!(lines[2], format!("DEL,{utf},,,,,,,"));
        assert_eq!(lines.len(), 3);
    }
    let job = metrics.to_json();
    assert_eq!(job["documents_add"], 1);
    assert_eq!(job["crawl_documents_del"], 1);
}
