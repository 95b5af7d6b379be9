//! `make` end to end on the donations sample: the exports match the reference lake's content,
//! a second `make` skips, new data re-exports, compressed exports read back the same, and
//! documents with SHA-1 content hashes export.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use common::{ok, run};

fn import_and_make(lake: &Path, dataset: &str) {
    let sample = testkit::fixtures().join("donations.ftm.json");
    ok(run(lake, &["-d", dataset, "entities", "import", "-i", sample.to_str().unwrap()]));
    ok(run(lake, &["-d", dataset, "make"]));
}

fn sorted_countries(mut v: Value) -> Value {
    if let Some(c) = v.get_mut("countries").and_then(Value::as_array_mut) {
        c.sort_by_key(|x| x.as_str().unwrap_or_default().to_string());
    }
    v
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn make_matches_the_reference_exports() {
    let dir = tempfile::tempdir().unwrap();
    import_and_make(dir.path(), "donations");
    let ours = dir.path().join("donations");
    let theirs = testkit::reference_dataset();
    let file = |root: &Path, key: &str| read(&root.join(key));
    assert_eq!(
        testkit::timeless_statement_rows(&file(&ours, "exports/statements.csv")),
        testkit::timeless_statement_rows(&file(&theirs, "exports/statements.csv"))
    );
    let entities = testkit::timeless_entities(&file(&ours, "entities.ftm.json"));
    let ids: Vec<&str> = entities.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "entities.ftm.json is sorted by id");
    let mut reference = testkit::timeless_entities(&file(&theirs, "entities.ftm.json"));
    reference.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    assert_eq!(entities, reference);
    for key in ["exports/documents.csv", "exports/documents.crawl.csv", "exports/parents.csv"] {
        assert_eq!(file(&ours, key), file(&theirs, key), "{key}");
    }
    let stats = |root: &Path| sorted_countries(serde_json::from_str(&file(root, "exports/statistics.json")).unwrap());
    assert_eq!(stats(&ours), stats(&theirs));
    let index = |root: &Path| {
        let mut v: Value = serde_json::from_str(&file(root, "index.json")).unwrap();
        v.as_object_mut().unwrap().remove("uri");
        v["stats"] = sorted_countries(v["stats"].take());
        v
    };
    assert_eq!(index(&ours), index(&theirs));
    let jobs = |class: &str| std::fs::read_dir(ours.join("jobs/runs").join(class)).unwrap().count();
    assert_eq!((jobs("OptimizeJob"), jobs("MakeJob"), jobs("ExportJob")), (1, 1, 1));
}

#[test]
fn second_make_skips_and_new_data_reexports() {
    let dir = tempfile::tempdir().unwrap();
    import_and_make(dir.path(), "donations");
    let root = dir.path().join("donations");
    let jobs = || std::fs::read_dir(root.join("jobs/runs/ExportJob")).unwrap().count();
    let stamp = std::fs::metadata(root.join("entities.ftm.json")).unwrap().modified().unwrap();
    let again = run(dir.path(), &["-d", "donations", "make"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("up to date"));
    assert_eq!(jobs(), 1, "no new export job");
    assert_eq!(std::fs::metadata(root.join("entities.ftm.json")).unwrap().modified().unwrap(), stamp);

    let extra = dir.path().join("extra.json");
    std::fs::write(
        &extra,
        "{\"id\": \"zz-new\", \"schema\": \"Person\", \"properties\": {\"name\": [\"New Person\"]}}\n",
    )
    .unwrap();
    ok(run(dir.path(), &["-d", "donations", "entities", "import", "-i", extra.to_str().unwrap()]));
    ok(run(dir.path(), &["-d", "donations", "make"]));
    assert_eq!(jobs(), 2);
    assert_eq!(read(&root.join("entities.ftm.json")).lines().count(), 475);
    assert!(read(&root.join("entities.ftm.json")).lines().last().unwrap().contains("zz-new"));
}

#[test]
fn compressed_exports_read_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    import_and_make(dir.path(), "plain");
    let plain = ok(run(dir.path(), &["-d", "plain", "entities", "stream"]));
    let plain_statements = ok(run(dir.path(), &["-d", "plain", "statements", "stream"]));
    // (config spelling, file suffix, the format's magic bytes)
    let codecs: [(&str, &str, &[u8]); 5] = [
        ("gz", "gz", b"\x1f\x8b"),
        ("zstd", "zst", b"\x28\xb5\x2f\xfd"),
        ("bzip2", "bz2", b"BZh"),
        ("lzma", "xz", b"\xfd7zXZ\x00"),
        ("lz4", "lz4", b"\x04\x22\x4d\x18"),
    ];
    for (codec, suffix, magic) in codecs {
        let dataset = format!("packed_{suffix}");
        let config = dir.path().join(format!("{codec}.yml"));
        std::fs::write(&config, format!("compression: {codec}\n")).unwrap();
        ok(run(dir.path(), &["-d", &dataset, "configure", "-c", config.to_str().unwrap()]));
        import_and_make(dir.path(), &dataset);
        let stored = dir.path().join(&dataset).join(format!("entities.ftm.json.{suffix}"));
        assert!(std::fs::read(&stored).unwrap().starts_with(magic), "{}", stored.display());
        assert!(!dir.path().join(&dataset).join("entities.ftm.json").exists());
        let streamed = ok(run(dir.path(), &["-d", &dataset, "entities", "stream"]));
        let mut a = testkit::timeless_entities(&streamed);
        let mut b = testkit::timeless_entities(&plain);
        for v in a.iter_mut().chain(b.iter_mut()) {
            v["datasets"] = Value::Null;
        }
        assert_eq!(a, b, "{codec}");
        let statements = ok(run(dir.path(), &["-d", &dataset, "statements", "stream"]));
        assert_eq!(
            testkit::timeless_statement_rows(&statements).len(),
            testkit::timeless_statement_rows(&plain_statements).len(),
            "{codec}"
        );
    }
    let missing = run(dir.path(), &["-d", "nothing", "entities", "stream"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("run `make` or `export` first"));
}

#[test]
fn documents_with_sha1_hashes_export() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("docs.json");
    let sha1 = "a9993e364706816aba3e25717850c26c9cd0d89d";
    let lines = [
        r#"{"id": "f-root", "schema": "Folder", "properties": {"fileName": ["root"]}}"#.to_string(),
        r#"{"id": "f-sub", "schema": "Folder", "properties": {"fileName": ["sub"], "parent": ["f-root"]}}"#.to_string(),
        format!(
            r#"{{"id": "d1", "schema": "Pages", "origin": "crawl", "properties": {{"contentHash": ["{sha1}"], "fileName": ["report.pdf"], "fileSize": ["12"], "parent": ["f-sub"]}}}}"#
        ),
    ];
    std::fs::write(&input, lines.join("\n")).unwrap();
    ok(run(dir.path(), &["-d", "docs", "entities", "import", "-i", input.to_str().unwrap()]));
    ok(run(dir.path(), &["-d", "docs", "make"]));
    let root = dir.path().join("docs/exports");
    let documents = read(&root.join("documents.csv"));
    let rows: Vec<&str> = documents.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows[0], "id,checksum,name,mimetype,path,size,updated_at,public_url");
    assert_eq!(rows.len(), 2, "{documents}");
    assert!(rows[1].starts_with(&format!("d1,{sha1},report.pdf,application/pdf,root/sub,12,")), "{}", rows[1]);
    assert_eq!(read(&root.join("documents.crawl.csv")), documents, "d1 has origin crawl");
    assert_eq!(read(&root.join("parents.csv")), "id,name,path\r\nf-root,root,root\r\nf-sub,sub,root/sub\r\n");
}

#[test]
fn exporting_the_reference_lake_reproduces_its_exports() {
    let dir = tempfile::tempdir().unwrap();
    testkit::copy_dir(&testkit::reference_dataset(), &dir.path().join("donations"));
    ok(run(dir.path(), &["-d", "donations", "export", "--force"]));
    let ours = dir.path().join("donations");
    let theirs = testkit::reference_dataset();
    let lines =
        |root: &Path, key: &str| -> BTreeSet<String> { read(&root.join(key)).lines().map(String::from).collect() };
    // Same rows, timestamps included: both read the same stored statements.
    assert_eq!(lines(&ours, "exports/statements.csv"), lines(&theirs, "exports/statements.csv"));
    assert_eq!(lines(&ours, "entities.ftm.json"), lines(&theirs, "entities.ftm.json"));
    for key in ["exports/documents.csv", "exports/documents.crawl.csv", "exports/parents.csv"] {
        assert_eq!(read(&ours.join(key)), read(&theirs.join(key)), "{key}");
    }
    let stats =
        |root: &Path| sorted_countries(serde_json::from_str(&read(&root.join("exports/statistics.json"))).unwrap());
    assert_eq!(stats(&ours), stats(&theirs));
}
