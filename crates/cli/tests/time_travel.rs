//! Reading the past (`--as-of`, `maintenance history`): the statement table as of a version
//! or a time, for `entities get/iterate` and `statements iterate/sql`.

mod common;

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use common::{ok, run};

fn cli(lake: &Path, args: &[&str]) -> Output {
    let mut full = vec!["-d", "donations"];
    full.extend_from_slice(args);
    run(lake, &full)
}

fn history(lake: &Path) -> Vec<Value> {
    ok(cli(lake, &["maintenance", "history"])).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn as_of_a_version_before_a_delete_reads_the_deleted_entities() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let sample = testkit::fixtures().join("donations.ftm.json");
    ok(cli(lake, &["entities", "import", "-i", sample.to_str().unwrap()]));
    let before = history(lake);
    let imported = before.last().unwrap()["version"].as_u64().unwrap().to_string();
    assert_eq!(before[0]["operation"], "CREATE TABLE");
    assert!(before[1..].iter().all(|c| c["operation"] == "WRITE"), "{before:?}");
    let id = "6d03aec76fdeec8f9697d8b19954ab6fc2568bc8";
    // A time between the import's last commit and the delete (commits are dated by their log
    // files, so a little room on both sides).
    std::thread::sleep(std::time::Duration::from_millis(100));
    let between = chrono::Utc::now().to_rfc3339();
    std::thread::sleep(std::time::Duration::from_millis(100));
    ok(cli(lake, &["export"]));
    let exported = |root: &Path| {
        ["entities.ftm.json", "exports/statements.csv", "exports/statistics.json"]
            .map(|name| std::fs::read_to_string(root.join(name)).unwrap())
    };
    let lake_exports = exported(&lake.join("donations"));

    ok(cli(lake, &["entities", "delete-origin", "bulk"]));
    let after = history(lake);
    assert_eq!(after.last().unwrap()["operation"], "DELETE");
    assert_eq!(cli(lake, &["entities", "get", id]).status.code(), Some(1));

    let found: Value = serde_json::from_str(&ok(cli(lake, &["entities", "get", id, "--as-of", &imported]))).unwrap();
    assert_eq!(found["properties"]["name"][0], "MLPD");
    assert_eq!(ok(cli(lake, &["entities", "iterate", "--as-of", &imported])).lines().count(), 474);
    assert_eq!(ok(cli(lake, &["entities", "iterate"])).lines().count(), 0);
    let csv = ok(cli(lake, &["statements", "iterate", "--as-of", &imported, "-q", "filter:schema=Person"]));
    assert!(csv.lines().count() > 22, "{}", csv.lines().count());
    let sql = ok(cli(
        lake,
        &["statements", "sql", "SELECT count(*) AS n FROM statement", "--format", "csv", "--as-of", &imported],
    ));
    assert_eq!(sql, "n\n2857\n");
    assert_eq!(ok(cli(lake, &["entities", "iterate", "--as-of", &between])).lines().count(), 474);
    let now = chrono::Utc::now().to_rfc3339();
    assert_eq!(ok(cli(lake, &["entities", "iterate", "--as-of", &now])).lines().count(), 0);

    let beyond = cli(lake, &["entities", "iterate", "--as-of", "99"]);
    assert_eq!(beyond.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&beyond.stderr).contains("versions are 0 to"),
        "{}",
        String::from_utf8_lossy(&beyond.stderr)
    );
    // An export of the past into a folder: what the lake's export of that version wrote, and
    // the lake's own exports stay as they were.
    let past = tempfile::tempdir().unwrap();
    ok(cli(lake, &["export", "-o", past.path().to_str().unwrap(), "--as-of", &imported]));
    assert_eq!(exported(past.path()), lake_exports);
    assert_eq!(exported(&lake.join("donations")), lake_exports);
    assert!(!past.path().join("index.json").exists() && !past.path().join("diffs").exists());
    assert_eq!(cli(lake, &["export", "--as-of", &imported]).status.code(), Some(2), "--as-of needs -o");

    // A vacuum names the versions it makes unreadable; reading them then fails.
    let optimized = cli(lake, &["maintenance", "optimize", "--force"]);
    let said = String::from_utf8_lossy(&optimized.stderr);
    assert!(said.contains(&format!("Versions 1-{imported} can no longer be read")), "{said}");
    let gone = cli(lake, &["entities", "iterate", "--as-of", &imported]);
    let said = String::from_utf8_lossy(&gone.stderr);
    assert_eq!(gone.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("version {imported} can no longer be read, a vacuum deleted")), "{said}");

    let bad = cli(lake, &["entities", "get", id, "--as-of", "yesterday"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a table version (a number) nor an ISO 8601 time"));
}
