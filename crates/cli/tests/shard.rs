//! `maintenance shard --shards N` (spec `storage-format.md` §5.5): re-sharding 1 → 8 → 3 keeps
//! every statement and every export; lookups by id find every entity under the new count; a
//! re-shard killed half way leaves a readable lake and the next run completes it. And
//! `maintenance migrate` on today's lake: nothing changes, then it is fresh.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use common::{ok, run};

fn read(lake: &Path, file: &str) -> String {
    std::fs::read_to_string(lake.join("ds").join(file)).unwrap()
}

/// The shard values of the table's partition folders.
fn shard_dirs(lake: &Path) -> BTreeSet<String> {
    let text = ok(run(
        lake,
        &["-d", "ds", "statements", "sql", "SELECT DISTINCT shard FROM statement_raw", "--format", "csv"],
    ));
    text.lines().skip(1).map(str::to_string).collect()
}

/// The exports, without timestamps: statements.csv rows and entities.ftm.json records.
fn exports(lake: &Path) -> (BTreeSet<Vec<String>>, Vec<Value>) {
    let statements = testkit::timeless_statement_rows(&read(lake, "exports/statements.csv"));
    let entities = testkit::timeless_entities(&read(lake, "entities.ftm.json"));
    (statements, entities)
}

#[test]
fn resharding_keeps_every_statement_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let donations = testkit::fixtures().join("donations.ftm.json");
    ok(run(lake, &["-d", "ds", "entities", "import", "-i", donations.to_str().unwrap()]));
    ok(run(lake, &["-d", "ds", "make"]));
    let (statements, entities) = exports(lake);
    let ids: Vec<String> = entities.iter().map(|e| e["id"].as_str().unwrap().into()).collect();
    assert_eq!(shard_dirs(lake), BTreeSet::from(["0".to_string()]));
    for (shards, expected) in [(8u32, 8usize), (3, 3)] {
        let job = ok(run(lake, &["-d", "ds", "maintenance", "shard", "--shards", &shards.to_string()]));
        let job: Value = serde_json::from_str(job.trim()).unwrap();
        assert_eq!((job["name"].as_str(), job["shards"].as_u64()), (Some("ShardJob"), Some(u64::from(shards))));
        assert!(read(lake, "config.yml").contains(&format!("shards: {shards}")));
        assert_eq!(shard_dirs(lake).len(), expected, "{shards} shards");
        // Every entity is found by id: reads prune to the shard the new count gives.
        for id in ids.iter().step_by(7) {
            let got = ok(run(lake, &["-d", "ds", "entities", "get", id]));
            assert!(got.contains(id.as_str()), "{id} not found after re-sharding to {shards}");
        }
        ok(run(lake, &["-d", "ds", "maintenance", "optimize"]));
        ok(run(lake, &["-d", "ds", "make", "--force-exports"]));
        let (now_statements, now_entities) = exports(lake);
        assert_eq!(now_entities, entities, "entities.ftm.json after re-sharding to {shards}");
        assert_eq!(now_statements, statements, "statements.csv after re-sharding to {shards}");
    }
    // Fresh at that count; forced, it runs and keeps everything.
    let fresh = run(lake, &["-d", "ds", "maintenance", "shard", "--shards", "3"]);
    assert!(String::from_utf8_lossy(&fresh.stderr).contains("has 3 shards already"));
    ok(run(lake, &["-d", "ds", "maintenance", "shard", "--shards", "3", "--force"]));
    assert_eq!(ok(run(lake, &["-d", "ds", "entities", "iterate"])).lines().count(), entities.len());
    // Today's lake: the migrations find nothing to change, and are then fresh.
    let job: Value = serde_json::from_str(ok(run(lake, &["-d", "ds", "maintenance", "migrate"])).trim()).unwrap();
    assert_eq!((job["name"].as_str(), job["done"].as_u64()), (Some("MigrateJob"), Some(4)));
    let fresh = run(lake, &["-d", "ds", "maintenance", "migrate"]);
    assert!(String::from_utf8_lossy(&fresh.stderr).contains("every migration is done"));
    assert_eq!(ok(run(lake, &["-d", "ds", "entities", "iterate"])).lines().count(), entities.len());
    // A bad count is a usage error.
    assert_eq!(run(lake, &["-d", "ds", "maintenance", "shard", "--shards", "-2"]).status.code(), Some(2));
}

#[test]
fn a_reshard_killed_half_way_leaves_a_readable_lake_and_the_next_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    // Enough rows that the rewrite takes a while: every donations entity under 40 id prefixes.
    let file = dir.path().join("many.ftm.json");
    std::fs::write(&file, testkit::donation_copies(40)).unwrap();
    ok(run(&lake, &["-d", "ds", "entities", "import", "-i", file.to_str().unwrap()]));
    let count = |lake: &Path| ok(run(lake, &["-d", "ds", "statements", "iterate"])).lines().count();
    let rows = count(&lake);
    // Kill points are fractions of an uninterrupted re-shard's time, whatever the machine.
    let started = Instant::now();
    ok(run(&lake, &["-d", "ds", "maintenance", "shard", "--shards", "3"]));
    let took = started.elapsed();
    let mut kills = 0;
    for (fraction, target) in [(0.2, 5u32), (0.4, 2), (0.6, 7), (0.8, 4), (0.5, 6)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
            .arg("--uri")
            .arg(&lake)
            .args(["-d", "ds", "maintenance", "shard", "--shards", &target.to_string()])
            .env_remove("LAKEHOUSE_URI")
            .env("LAKEHOUSE_JOURNAL_URI", "sqlite:///:memory:")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(took.mul_f64(fraction));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        // Readable whatever the kill interrupted: a stale fence is the only thing to clear.
        ok(run(&lake, &["-d", "ds", "maintenance", "unlock"]));
        assert_eq!(count(&lake), rows, "after a kill re-sharding to {target}");
        ok(run(&lake, &["-d", "ds", "maintenance", "shard", "--shards", &target.to_string()]));
        assert!(read(&lake, "config.yml").contains(&format!("shards: {target}")));
        assert_eq!(count(&lake), rows);
        assert_eq!(shard_dirs(&lake).len(), target as usize);
        let got = ok(run(&lake, &["-d", "ds", "entities", "get", "c17-006dd13b055a6b66947f991ced6c854defe0e626"]));
        assert!(got.contains("c17-006dd"), "lookup after re-sharding to {target}");
    }
    assert!(kills >= 2, "only {kills} runs were killed before they finished");
}
