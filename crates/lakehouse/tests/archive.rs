//! The archive, crawl and download on real folders and a real lake (spec `archive-and-crawl.md`).
//!
//! The expected ids, schemata and properties are what the reference 0.9.0 wrote for the same
//! files (`../shared/fixtures/files` plus `a/x.txt` and `b/x.txt` with the same content), except
//! where this project hashes the File key instead of the base name (spec §1.5, README).

use std::collections::BTreeMap;
use std::path::Path;

use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::model::query::Query;
use lakehouse::operation::crawl::{CrawlOptions, Existing, crawl};
use lakehouse::operation::download::download_archive;
use lakehouse::operation::export::{ExportOptions, export};
use lakehouse::repository::{ArchiveRepository, Catalog, EntityRepository};
use lakehouse::storage::Location;
use lakehouse::storage::archive::ArchiveStore;
use serde_json::Value;

const PDF: &str = "32ca2800160763fbbcf42c0a4617e666c156583da1eb00b91b09afb3c654f055";
const UTF: &str = "bbb1f047ff1f0c333560e09cff0c4a052eb87a2998d6d16775a276645877c5b7";
const TEST: &str = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
const SAME: &str = "a6328afc76e9db71da297ebff4b0d3e7a7eb3b01d917c05a6573fef121b6ecb6";

async fn repo(dir: &Path) -> EntityRepository {
    let settings = Settings { journal_uri: format!("sqlite:///{}/journal.db", dir.display()), ..Settings::default() };
    let catalog = Catalog::new(Location::local(dir.join("lake")).unwrap(), settings);
    let dataset = catalog.dataset(DatasetName::new("test").unwrap(), None).unwrap();
    EntityRepository::open(&dataset).await.unwrap()
}

/// The fixture files plus two identical files under two folders.
fn source(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("src");
    testkit::copy_dir(&testkit::fixtures().join("files"), &src);
    for folder in ["a", "b"] {
        std::fs::create_dir_all(src.join(folder)).unwrap();
        std::fs::write(src.join(folder).join("x.txt"), "same\n").unwrap();
    }
    src
}

fn cli_options(src: &Path) -> CrawlOptions {
    CrawlOptions {
        uri: src.display().to_string(),
        make_entities: true,
        existing: Some(Existing::Overwrite),
        ..CrawlOptions::default()
    }
}

fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir(root)
        .into_iter()
        .map(|p| (p.strip_prefix(root).unwrap().display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

fn walkdir(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(walkdir(&path)) } else { out.push(path) }
    }
    out
}

#[tokio::test]
async fn crawl_stores_blobs_once_with_records_and_entities() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let repo = repo(dir.path()).await;
    let metrics = crawl(&repo, &cli_options(&src), |_| {}).await.unwrap();
    assert_eq!((metrics.done, metrics.skipped), (5, 0));
    assert_eq!(metrics.job["name"], "CrawlJob");
    assert_eq!(metrics.job["done"], 5);
    assert_eq!(metrics.job["exc"], "None");
    assert_eq!(metrics.job["existing"], "overwrite");

    // One blob per checksum, byte-identical.
    let archive_root = dir.path().join("lake/test/archive");
    let blobs: Vec<_> = walkdir(&archive_root).into_iter().filter(|p| p.ends_with("blob")).collect();
    assert_eq!(blobs.len(), 4, "{blobs:?}");
    let pdf_blob = archive_root.join(format!("32/ca/28/{PDF}/blob"));
    assert_eq!(std::fs::read(pdf_blob).unwrap(), std::fs::read(src.join("example.pdf")).unwrap());

    // Records: the reference's fields and key order; identical files keep one record per path.
    let archive = ArchiveRepository::new(repo.dataset());
    let same = archive.files(SAME).await.unwrap();
    let keys: Vec<_> = same.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(keys.len(), 2);
    assert!(keys.contains(&"a/x.txt") && keys.contains(&"b/x.txt"), "{keys:?}");
    let pdf = archive.get_file(PDF, None).await.unwrap();
    let json = pdf.to_json();
    let order: Vec<_> = json.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        order,
        [
            "name",
            "created_at",
            "updated_at",
            "size",
            "store",
            "key",
            "mimetype",
            "id",
            "dataset",
            "checksum",
            "extra",
            "origin",
            "path",
            "parent"
        ]
    );
    // Top-level files get the reference's ids.
    assert_eq!(json["id"], "file-55c756f966ef82d81d888d6867fe0cbf7ecbc2bafb370ff86ccd5501c48bfe6a");
    assert_eq!((json["size"].as_u64(), json["mimetype"].as_str()), (Some(146_568), Some("application/pdf")));
    assert_eq!((json["store"].as_str(), json["origin"].as_str()), (Some("lakehouse://"), Some("crawl")));
    assert_eq!(json["parent"], Value::Null);
    let on_disk = std::fs::read(archive_root.join(format!("32/ca/28/{PDF}/{}.json", pdf.id))).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&on_disk).unwrap(), json);
    let test = archive.get_file(TEST, None).await.unwrap();
    assert_eq!(test.key, "testdir/test.txt");
    assert_eq!(test.parent().unwrap(), "folder-b9bfea4d65332432714c910f1726e90c3b602668dfa63be826c4b2862cb1d1ec");

    // Entities: 5 documents and 3 folders, origin crawl, bucket document.
    let mut stream = repo.query(&Query::default(), true).await.unwrap();
    let mut entities = BTreeMap::new();
    while let Some(e) = stream.next_entity().await.unwrap() {
        assert_eq!(e.origin.iter().collect::<Vec<_>>(), ["crawl"]);
        entities.insert(e.id.clone(), e);
    }
    assert_eq!(entities.len(), 8, "{:?}", entities.keys());
    let utf = &entities["file-14a83a92bc5396b664440887acac28ad945b1e6e7f41df98d0e65e48f864d36f"];
    assert_eq!(utf.schema.name, "PlainText");
    let props: BTreeMap<_, _> =
        utf.properties().map(|(k, v)| (k, v.iter().map(|v| v.to_string()).collect::<Vec<_>>())).collect();
    assert_eq!(
        props,
        BTreeMap::from([
            ("contentHash", vec![UTF.to_string()]),
            ("fileName", vec!["utf.txt".to_string()]),
            ("fileSize", vec!["19".to_string()]),
            ("mimeType", vec!["text/plain".to_string()]),
        ])
    );
    let pages = &entities["file-55c756f966ef82d81d888d6867fe0cbf7ecbc2bafb370ff86ccd5501c48bfe6a"];
    assert_eq!(pages.schema.name, "Pages");
    let folder = &entities["folder-b9bfea4d65332432714c910f1726e90c3b602668dfa63be826c4b2862cb1d1ec"];
    assert_eq!((folder.schema.name.as_str(), folder.caption.as_ref()), ("Folder", "testdir"));
    let parts = repo.statements().partitions().await.unwrap();
    assert!(parts.iter().all(|p| p.bucket == "document" && p.origin == "crawl"), "{parts:?}");

    // Tags and the job record on disk.
    let tags = repo.dataset().tags();
    assert!(tags.get("archive/last_updated").await.unwrap().is_some());
    assert!(tags.get("operations/crawl/last_run").await.unwrap().is_some());
    let runs = walkdir(&dir.path().join("lake/test/jobs/runs/CrawlJob"));
    assert_eq!(runs.len(), 1);
}

#[tokio::test]
async fn recrawl_with_skip_checksum_does_no_work() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let repo = repo(dir.path()).await;
    crawl(&repo, &cli_options(&src), |_| {}).await.unwrap();
    let before = files_under(&dir.path().join("lake/test/archive"));
    let statements = repo.statements().partitions().await.unwrap().iter().map(|p| p.rows).sum::<u64>();

    let again = CrawlOptions { existing: Some(Existing::SkipChecksum), ..cli_options(&src) };
    let metrics = crawl(&repo, &again, |_| {}).await.unwrap();
    assert_eq!((metrics.done, metrics.skipped, metrics.entities, metrics.flushed), (0, 5, 0, 0));
    assert_eq!(files_under(&dir.path().join("lake/test/archive")), before);
    assert_eq!(repo.statements().partitions().await.unwrap().iter().map(|p| p.rows).sum::<u64>(), statements);

    // skip-path also skips both identical files: each path has its own record.
    let by_path = CrawlOptions { existing: Some(Existing::SkipPath), ..cli_options(&src) };
    assert_eq!(crawl(&repo, &by_path, |_| {}).await.unwrap().skipped, 5);
    // A new file under a known folder is the only work.
    std::fs::write(src.join("testdir/new.txt"), "new").unwrap();
    let metrics = crawl(&repo, &by_path, |_| {}).await.unwrap();
    assert_eq!((metrics.done, metrics.skipped), (1, 5));
}

#[tokio::test]
async fn include_and_exclude_follow_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let repo = repo(dir.path()).await;
    let run = |glob: Option<&str>, exclude: Option<&str>, prefix: Option<&str>| CrawlOptions {
        glob: glob.map(str::to_string),
        exclude_glob: exclude.map(str::to_string),
        prefix: prefix.map(str::to_string),
        make_entities: false,
        existing: Some(Existing::Overwrite),
        ..cli_options(&src)
    };
    let done = |options: CrawlOptions| {
        let repo = &repo;
        async move { crawl(repo, &options, |_| {}).await.unwrap().done }
    };
    assert_eq!(done(run(Some("*.txt"), None, None)).await, 1, "utf.txt only: `*` stays in the top folder");
    assert_eq!(done(run(Some("**/*.txt"), None, None)).await, 4);
    assert_eq!(done(run(Some("*/*.txt"), None, None)).await, 3);
    assert_eq!(done(run(None, Some("*.txt"), None)).await, 1, "`*` of --exclude crosses folders");
    assert_eq!(done(run(Some("*.txt"), None, Some("a"))).await, 1, "globs are relative to the prefix");
    let err = crawl(&repo, &run(Some("a**.txt"), None, None), |_| {}).await.unwrap_err().to_string();
    assert!(err.contains("Invalid pattern") && err.contains("a**.txt"), "{err}");
    let err = crawl(&repo, &run(None, None, Some("../..")), |_| {}).await.unwrap_err().to_string();
    assert!(err.contains("Invalid crawl prefix"), "{err}");
}

#[tokio::test]
async fn download_reproduces_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let repo = repo(dir.path()).await;
    crawl(&repo, &cli_options(&src), |_| {}).await.unwrap();
    let err = download_archive(&repo, &Location::local(dir.path().join("early")).unwrap(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("documents.csv") && err.contains("make"), "{err}");
    export(&repo, &ExportOptions::default()).await.unwrap();
    let target = dir.path().join("out");
    let metrics = download_archive(&repo, &Location::local(&target).unwrap(), |_| {}).await.unwrap();
    assert_eq!((metrics.done, metrics.skipped), (5, 0));
    assert_eq!(files_under(&target), files_under(&src));
    let again = download_archive(&repo, &Location::local(&target).unwrap(), |_| {}).await.unwrap();
    assert_eq!((again.done, again.skipped), (0, 5));
}

#[tokio::test]
async fn download_refuses_paths_outside_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path());
    let repo = repo(dir.path()).await;
    crawl(&repo, &cli_options(&src), |_| {}).await.unwrap();
    // An imported document naming an archived blob with a file name that climbs out.
    let line = format!(
        r#"{{"id":"evil","schema":"PlainText","properties":{{"contentHash":["{UTF}"],"fileName":["../../evil.txt"]}}}}"#
    );
    let options = lakehouse::operation::import::ImportOptions::new(lakehouse::repository::WriteOptions::origin("bulk"));
    lakehouse::operation::import::import_entities(&repo, line.as_bytes(), "evil.json", &options, |_| {}).await.unwrap();
    export(&repo, &ExportOptions::default()).await.unwrap();
    let target = dir.path().join("out");
    let err = download_archive(&repo, &Location::local(&target).unwrap(), |_| {}).await.unwrap_err().to_string();
    assert!(err.contains("../../evil.txt") && err.contains("document evil"), "{err}");
    assert!(!dir.path().join("evil.txt").exists());
}

#[tokio::test]
async fn bad_names_are_refused_and_seed_layout_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    let archive = ArchiveRepository::new(repo.dataset());
    for bad in ["../../../etc/passwd", "ABC", &UTF.to_uppercase()] {
        let err = archive.get_file(bad, None).await.unwrap_err().to_string();
        assert!(err.starts_with("Invalid checksum"), "{err}");
    }
    let err = archive.get_file(UTF, Some("../x")).await.unwrap_err().to_string();
    assert!(err.contains("Invalid file id"), "{err}");
    let err = archive.get_file(UTF, None).await.unwrap_err().to_string();
    assert!(err.contains("Not found") && err.contains(UTF), "{err}");
    let err = archive.store().put_txt(UTF, "o'brien", "text").await.unwrap_err().to_string();
    assert!(err.contains("Invalid text origin"), "{err}");

    // The seed's layout: a SHA-1 checksum folder whose blob is named `data`.
    let sha1 = "3c4e3e6ee7f4d4c9a0f6a2d1a1f0c1b3f4e5d6c7";
    let folder = dir.path().join(format!("lake/test/archive/3c/4e/3e/{sha1}"));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("data"), "seed bytes").unwrap();
    let store = ArchiveStore::new(repo.dataset().object_store());
    assert!(store.exists(sha1).await.unwrap());
    let mut stream = store.stream(sha1).await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(bytes, b"seed bytes");
}

#[tokio::test]
async fn store_delete_and_texts() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repo(dir.path()).await;
    let archive = ArchiveRepository::new(repo.dataset());
    let src = testkit::fixtures().join("files/utf.txt");
    let file = archive.store_path(&src, Default::default()).await.unwrap();
    assert_eq!((file.checksum.as_str(), file.origin.as_deref(), file.key.as_str()), (UTF, Some("archive"), "utf.txt"));
    assert!(repo.dataset().tags().get("archive/last_updated").await.unwrap().is_some());
    archive.store().put_txt(UTF, "ocr", "text ü").await.unwrap();
    assert_eq!(archive.store().get_txt(UTF, "ocr").await.unwrap().as_deref(), Some("text ü"));
    assert_eq!(archive.store().get_txt(UTF, "other").await.unwrap(), None);
    archive.delete(&file).await.unwrap();
    assert!(archive.files(UTF).await.unwrap().is_empty());
    assert!(archive.exists(UTF).await.unwrap(), "the blob stays");
    let err = archive.delete(&file).await.unwrap_err().to_string();
    assert!(err.contains("Not found"), "{err}");
}

#[tokio::test]
async fn a_dangling_link_stops_the_crawl_and_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.txt"), "a").unwrap();
    std::os::unix::fs::symlink(dir.path().join("missing"), src.join("b.txt")).unwrap();
    let repo = repo(dir.path()).await;
    let err = crawl(&repo, &cli_options(&src), |_| {}).await.unwrap_err().to_string();
    assert!(err.contains("b.txt"), "{err}");
    let archive = ArchiveRepository::new(repo.dataset());
    assert_eq!(archive.iterate_files().await.unwrap().len(), 1, "a.txt stays archived");
    assert!(repo.get(&archive.iterate_files().await.unwrap()[0].id, None).await.unwrap().is_some(), "with its entity");
    let run = walkdir(&dir.path().join("lake/test/jobs/runs/CrawlJob")).pop().unwrap();
    let record: Value = serde_json::from_slice(&std::fs::read(run).unwrap()).unwrap();
    assert!(record["exc"].as_str().unwrap().contains("b.txt"), "{record}");
    assert_eq!(record["running"], false);
    assert!(repo.dataset().tags().get("operations/crawl/last_run").await.unwrap().is_none());
    let missing = CrawlOptions { uri: dir.path().join("nope").display().to_string(), ..cli_options(&src) };
    let err = crawl(&repo, &missing, |_| {}).await.unwrap_err().to_string();
    assert!(err.contains("crawl source") && err.contains("nope"), "{err}");
}
