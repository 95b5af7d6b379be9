//! api mode: the CLI on a lake served over HTTP (`LAKEHOUSE_URI=http://…`, spec
//! `interfaces.md` §3.8) writes, makes, queries and archives as it does on the lake itself,
//! with the server's key and secret, and refuses what cannot run remotely.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use common::{ok, run};

/// `ftm-lakehouse api` serving `lake` (see [`testkit::Served`]).
fn serve(lake: &Path, env: &[(&str, &str)]) -> testkit::Served {
    testkit::Served::start(Path::new(env!("CARGO_BIN_EXE_ftm-lakehouse")), lake, env)
}

/// The CLI in api mode: `LAKEHOUSE_URI=url`, `env` on top.
fn client(url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
        .args(args)
        .env("LAKEHOUSE_URI", url)
        .env_remove("LAKEHOUSE_API_KEY")
        .env_remove("LAKEHOUSE_API_SECRET")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The stderr of a command that must have failed.
fn failed(out: Output) -> String {
    assert!(!out.status.success(), "command succeeded: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn import_make_and_query_through_a_server() {
    let (served_lake, local) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let served = serve(served_lake.path(), &[]);
    let url = served.url();
    let sample = testkit::fixtures().join("donations.ftm.json");
    let sample = sample.to_str().unwrap();

    let imported = client(&url, &["-d", "donations", "entities", "import", "-i", sample], &[]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let said = String::from_utf8_lossy(&imported.stderr);
    assert!(said.contains("into the journal") && said.contains(&format!("Flushed 2857 statements on {url}")), "{said}");
    ok(client(&url, &["-d", "donations", "make"], &[]));
    ok(run(local.path(), &["-d", "donations", "entities", "import", "-i", sample]));
    ok(run(local.path(), &["-d", "donations", "make"]));

    // The server's lake holds the exports the same run gives on a local lake.
    let (theirs, ours) = (served_lake.path().join("donations"), local.path().join("donations"));
    let entities =
        |dir: &Path| testkit::timeless_entities(&std::fs::read_to_string(dir.join("entities.ftm.json")).unwrap());
    assert_eq!(entities(&theirs).len(), 474);
    assert_eq!(entities(&theirs), entities(&ours));
    let csv = |dir: &Path| {
        testkit::timeless_statement_rows(&std::fs::read_to_string(dir.join("exports/statements.csv")).unwrap())
    };
    assert_eq!(csv(&theirs), csv(&ours));

    // Queries, one entity, the catalog.
    let query = ["-d", "donations", "entities", "iterate", "-q", "filter:schema=Person&sort=-properties.name"];
    let remote = testkit::timeless_entities(&ok(client(&url, &query, &[])));
    assert!(remote.len() > 10, "{}", remote.len());
    assert_eq!(remote, testkit::timeless_entities(&ok(run(local.path(), &query))));
    let id = remote[0]["id"].as_str().unwrap();
    let get = ["-d", "donations", "entities", "get", id];
    assert_eq!(
        testkit::timeless_entities(&ok(client(&url, &get, &[]))),
        testkit::timeless_entities(&ok(run(local.path(), &get)))
    );
    assert!(ok(client(&url, &["ls"], &[])).lines().any(|l| l.trim() == "donations"));

    // What cannot run remotely says so.
    for args in
        [&["-d", "donations", "statements", "sql", "SELECT 1"][..], &["-d", "donations", "maintenance", "unlock"]]
    {
        let err = failed(client(&url, args, &[]));
        assert!(err.contains("not available in api mode"), "{err}");
    }
}

#[test]
fn keys_secrets_and_server_errors() {
    let lake = tempfile::tempdir().unwrap();
    let served = serve(lake.path(), &[("LAKEHOUSE_API_KEY", "key"), ("LAKEHOUSE_API_SECRET", "secret")]);
    let url = served.url();
    let iterate = ["-d", "don", "entities", "iterate"];
    let err = failed(client(&url, &iterate, &[]));
    assert!(err.contains("401"), "{err}");
    let wrong = [("LAKEHOUSE_API_KEY", "key"), ("LAKEHOUSE_API_SECRET", "guess")];
    assert!(failed(client(&url, &iterate, &wrong)).contains("401"));
    let right = [("LAKEHOUSE_API_KEY", "key"), ("LAKEHOUSE_API_SECRET", "secret")];
    assert_eq!(ok(client(&url, &iterate, &right)), "");
    assert!(lake.path().join("don/config.yml").exists(), "the client ensured the dataset");
    // The server's detail reaches the user: a bad origin.
    let err = failed(client(&url, &["-d", "don", "entities", "delete-origin", "bad'quote"], &right));
    assert!(err.contains("quote"), "{err}");
}

#[test]
fn crawl_and_archive_through_a_server() {
    let lake = tempfile::tempdir().unwrap();
    let served = serve(lake.path(), &[]);
    let url = served.url();
    let files = testkit::fixtures().join("files");
    let crawled = client(&url, &["-d", "docs", "crawl", files.to_str().unwrap()], &[]);
    assert!(crawled.status.success(), "{}", String::from_utf8_lossy(&crawled.stderr));
    let records = ok(client(&url, &["-d", "docs", "archive", "ls"], &[]));
    let record = records.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|r| r["key"] == "utf.txt");
    let checksum = record.expect("utf.txt archived")["checksum"].as_str().unwrap().to_string();
    assert!(lake.path().join("docs/archive").is_dir(), "the blobs are on the server's lake");
    let out = client(&url, &["-d", "docs", "archive", "get", &checksum], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, std::fs::read(files.join("utf.txt")).unwrap());
}
