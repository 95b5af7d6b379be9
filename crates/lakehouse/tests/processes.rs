//! Two separate processes appending to one dataset at the same time (neither having created the
//! table yet): both land, and the table is created once. The test re-runs its own binary as the
//! two children.

use std::process::{Command, Stdio};
use std::time::Duration;

use ftm::Statement;
use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::storage::statements::Filter;
use lakehouse::storage::{Fence, Location, StatementStore};

const CHILD_DIR: &str = "LAKEHOUSE_TEST_CHILD_DIR";
const CHILD_N: &str = "LAKEHOUSE_TEST_CHILD_N";
const ROWS: usize = 200;

fn store(dir: &str) -> StatementStore {
    let root = Location::local(dir).unwrap();
    let fence = Fence::new(root.object_store().unwrap(), "ds", 20).with_backoff(Duration::from_millis(50));
    StatementStore::new(root, DatasetName::new("ds").unwrap(), 4, &Settings::default()).unwrap().with_fence(fence)
}

async fn child(dir: &str, n: &str) {
    let rows: Vec<Statement> = (0..ROWS)
        .map(|i| {
            let mut s = Statement::new("ds", &format!("p{n}x{i}"), "Person", "name", "name", "X");
            s.origin = Some(format!("writer{n}"));
            s
        })
        .collect();
    store(dir).append(rows).await.unwrap();
}

#[tokio::test]
async fn two_processes_append_at_once() {
    if let (Ok(dir), Ok(n)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_N)) {
        return child(&dir, &n).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap();
    let children: Vec<_> = (0..2)
        .map(|n| {
            Command::new(std::env::current_exe().unwrap())
                .args(["two_processes_append_at_once", "--exact", "--nocapture"])
                .env(CHILD_DIR, path)
                .env(CHILD_N, n.to_string())
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a child append failed");
    }
    let s = store(path);
    let mut stream = s.scan(&Filter::default()).await.unwrap();
    let mut count = 0;
    while let Some(rows) = stream.next().await.unwrap() {
        count += rows.len();
    }
    assert_eq!(count, 2 * ROWS);
    let origins: std::collections::BTreeSet<String> =
        s.partitions().await.unwrap().into_iter().map(|p| p.origin).collect();
    assert_eq!(origins.len(), 2);
    let log = std::fs::read_dir(dir.path().join("statements/_delta_log")).unwrap().count();
    assert_eq!(log, 3, "one create and one append commit per writer");
}
