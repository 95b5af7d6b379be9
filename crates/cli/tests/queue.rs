//! The queue as its users run it (seed 001 "QueueStore", seed 002 "Queue"): thousands of mixed
//! items consumed leave the lake the same actions leave when run directly; a consumer killed
//! with SIGKILL at random points and restarted loses nothing; one consumer at a time; a
//! malformed item is refused with its name.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use common::{ok, run};

/// An entity's live content: its schema and each property's values.
type Content = (String, BTreeMap<String, BTreeSet<String>>);

fn donations() -> Vec<Value> {
    let text = std::fs::read_to_string(testkit::fixtures().join("donations.ftm.json")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn content(entity: &Value) -> Content {
    let props = entity["properties"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(p, v)| (p.clone(), v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect()))
        .collect();
    (entity["schema"].as_str().unwrap().to_string(), props)
}

/// The live entities of a dataset, by id.
fn live(lake: &Path, dataset: &str) -> BTreeMap<String, Content> {
    let text = ok(run(lake, &["-d", dataset, "entities", "iterate"]));
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|e| (e["id"].as_str().unwrap().to_string(), content(&e)))
        .collect()
}

fn checksums(lake: &Path, dataset: &str) -> BTreeSet<String> {
    ok(run(lake, &["-d", dataset, "archive", "ls", "--checksums"])).lines().map(str::to_string).collect()
}

/// `count` items over the donations entities and two files, and what running them leaves:
/// the entities that stay (each the union of its upserts since its last delete) and the
/// archived checksums.
fn items(count: usize) -> (String, Vec<Value>, BTreeSet<String>) {
    let entities = donations();
    let files = ["utf.txt", "example.pdf"].map(|f| testkit::fixtures().join("files").join(f));
    let sums = files.clone().map(|f| format!("{:x}", Sha256::digest(std::fs::read(f).unwrap())));
    let mut state: BTreeMap<String, Value> = BTreeMap::new();
    let mut archived = BTreeSet::new();
    let mut lines = Vec::with_capacity(count);
    for i in 0..count {
        let item = if i % 25 == 7 {
            let id = entities[(i * 7) % entities.len()]["id"].as_str().unwrap().to_string();
            state.remove(&id);
            json!({"action": "DELETE", "resource": "entity", "payload": {"id": id}})
        } else if i % 40 == 3 {
            let which = (i / 40) % 2;
            archived.insert(sums[which].clone());
            json!({"action": "UPSERT", "resource": "file", "payload": {"path": files[which]}})
        } else if i % 111 == 50 {
            archived.remove(&sums[0]);
            json!({"action": "DELETE", "resource": "file", "payload": {"checksum": sums[0]}})
        } else {
            let entity = &entities[(i * 13) % entities.len()];
            // Every other upsert carries only the entity's first property: upserts add up.
            let mut payload = entity.clone();
            if i % 2 == 0 {
                let props = payload["properties"].as_object_mut().unwrap();
                let first = props.keys().next().cloned();
                props.retain(|k, _| Some(k) == first.as_ref());
            }
            let id = entity["id"].as_str().unwrap().to_string();
            let merged = state
                .entry(id)
                .or_insert_with(|| json!({"id": entity["id"], "schema": entity["schema"], "properties": {}}));
            for (prop, values) in payload["properties"].as_object().unwrap() {
                let list = merged["properties"][prop].as_array().cloned().unwrap_or_default();
                let mut all: Vec<Value> = list;
                for v in values.as_array().unwrap() {
                    if !all.contains(v) {
                        all.push(v.clone());
                    }
                }
                merged["properties"][prop] = Value::Array(all);
            }
            json!({"action": "UPSERT", "resource": "entity", "payload": payload})
        };
        lines.push(item.to_string());
    }
    (lines.join("\n") + "\n", state.into_values().collect(), archived)
}

/// Imports `entities` into a fresh `direct` dataset: what running the actions directly leaves.
fn direct(lake: &Path, entities: &[Value]) -> BTreeMap<String, Content> {
    let file = lake.join("direct.json");
    std::fs::write(&file, entities.iter().map(|e| e.to_string() + "\n").collect::<String>()).unwrap();
    ok(run(lake, &["-d", "direct", "entities", "import", "-i", file.to_str().unwrap()]));
    live(lake, "direct")
}

fn put(lake: &Path, items: &str) -> Output {
    let file = lake.join(format!("items-{}.jsonl", uuid::Uuid::new_v4()));
    std::fs::write(&file, items).unwrap();
    run(lake, &["-d", "queued", "queue", "put", "--tenant", "crawler", "-i", file.to_str().unwrap()])
}

fn queued(lake: &Path) -> usize {
    ok(run(lake, &["-d", "queued", "queue", "ls", "--tenant", "crawler", "--limit", "100000"])).lines().count()
}

#[test]
fn ten_thousand_mixed_items_leave_the_lake_the_direct_actions_leave() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let (lines, expected, archived) = items(10_000);
    ok(put(lake, &lines));
    assert_eq!(queued(lake), 10_000);
    let out = run(lake, &["-d", "queued", "queue", "consume", "--tenant", "crawler"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Consumed 10000 items"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(queued(lake), 0);
    let ours = live(lake, "queued");
    assert!(ours.len() > 300, "{}", ours.len());
    assert_eq!(ours, direct(lake, &expected));
    assert_eq!(checksums(lake, "queued"), archived);
}

#[test]
fn a_consumer_killed_at_random_points_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let (lines, expected, archived) = items(1_500);
    ok(put(lake, &lines));
    let mut seed: u64 = 20261203;
    let mut kills = 0;
    for _ in 0..80 {
        if queued(lake) == 0 {
            break;
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
            .args([
                "--uri",
                lake.to_str().unwrap(),
                "-d",
                "queued",
                "queue",
                "consume",
                "--tenant",
                "crawler",
                "--batch",
                "40",
            ])
            .env_remove("LAKEHOUSE_URI")
            .env("LAKEHOUSE_JOURNAL_URI", "sqlite:///:memory:")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis(20 + (seed >> 33) % 400));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 3, "only {kills} consumers were killed while running");
    ok(run(lake, &["-d", "queued", "queue", "consume", "--tenant", "crawler"]));
    assert_eq!(queued(lake), 0);
    assert_eq!(live(lake, "queued"), direct(lake, &expected));
    assert_eq!(checksums(lake, "queued"), archived);
}

#[test]
fn one_consumer_at_a_time_and_malformed_items_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let bad = put(lake, "{\"action\": \"UPSERT\", \"resource\": \"entity\", \"payload\": {\"schema\": \"Nope\"}}\n");
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("line 1: unknown schema"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert_eq!(queued(lake), 0, "nothing is queued when one item is bad");

    // A lock held by a live process (this test) is respected.
    let lock = lake.join("queued/locks/crawler/queue");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    std::fs::write(&lock, json!({"host": host, "pid": std::process::id()}).to_string()).unwrap();
    let busy = run(lake, &["-d", "queued", "queue", "consume", "--tenant", "crawler"]);
    assert_eq!(busy.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&busy.stderr).contains("is running in another process"));
    // One held by a process that is gone is taken over.
    std::fs::write(&lock, json!({"host": host, "pid": u32::MAX}).to_string()).unwrap();
    ok(run(lake, &["-d", "queued", "queue", "consume", "--tenant", "crawler"]));
    assert!(!lock.exists());

    // An item written by someone else that does not read stops the consumer, named; the item
    // before it is done, the one after it stays.
    let (lines, _, _) = items(3);
    let lines: Vec<&str> = lines.lines().collect();
    ok(put(lake, &format!("{}\n", lines[0])));
    let folder = lake.join("queued/queue/crawler");
    let broken = format!("{}.json", uuid::Uuid::now_v7());
    std::fs::write(folder.join(&broken), "{not json").unwrap();
    ok(put(lake, &format!("{}\n", lines[1])));
    let stopped = run(lake, &["-d", "queued", "queue", "consume", "--tenant", "crawler"]);
    assert_eq!(stopped.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&stopped.stderr).contains(&format!("queue item queue/crawler/{broken}: not JSON")));
    let left = ok(run(lake, &["-d", "queued", "queue", "ls", "--tenant", "crawler"]));
    let left: Vec<Value> = left.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(left.len(), 2, "the broken item and the one after it stay");
    assert_eq!(left[0]["unreadable"], "{not json");
    assert_eq!(left[1]["action"], "UPSERT");
}
