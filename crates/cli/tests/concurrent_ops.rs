//! The same operation from several processes at once on one dataset (SQLite file journal): two,
//! then eight `make`s and `export`s, two `maintenance optimize`s, two flushes. Each ends with exit
//! 0 or a clear "busy" message, the exports are whole (equal to an export run alone afterwards),
//! nothing is lost, and no temp file stays behind.
//!
//! Tries: `FTM_LAKEHOUSE_RACE_TRIES` (default 10; the issue's figure is taken at 50).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

struct Lake {
    dir: tempfile::TempDir,
}

impl Lake {
    fn new() -> Lake {
        Lake { dir: tempfile::Builder::new().prefix("racekeep").disable_cleanup(true).tempdir().unwrap() }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"));
        let journal = format!("sqlite:///{}", self.dir.path().join("journal.db").display());
        command
            .arg("--uri")
            .arg(self.root())
            .args(["-d", "ds"])
            .args(args)
            .env_remove("LAKEHOUSE_URI")
            .env("LAKEHOUSE_JOURNAL_URI", journal)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).stdout(Stdio::piped()).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.root().join("ds").join(file)).unwrap()
    }

    /// Files named `*.tmp` anywhere in the lake.
    fn temp_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|x| x == "tmp") {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.root(), &mut found);
        found
    }

    fn live_statements(&self) -> BTreeSet<String> {
        self.run(&["statements", "iterate"]).lines().skip(1).map(|l| l.split(',').next().unwrap().to_string()).collect()
    }
}

/// Every process's outcome: exit 0, or a clear busy message (the export lock, the write fence).
fn wait_all(children: Vec<(String, Child)>) {
    for (what, child) in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let busy = stderr.contains("is running in another process") || stderr.contains("Write fence busy");
        assert!(out.status.success() || busy, "{what}: exit {:?}: {stderr}", out.status.code());
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}

/// One entity per try, so that every try has something new to flush and export.
fn entity(i: usize) -> String {
    format!(r#"{{"id": "race-{i}", "schema": "Person", "properties": {{"name": ["Racer {i}"]}}}}"#)
}

#[test]
fn operations_run_from_several_processes_at_once() {
    let tries: usize = std::env::var("FTM_LAKEHOUSE_RACE_TRIES").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let lake = Lake::new();
    let donations = testkit::fixtures().join("donations.ftm.json");
    lake.run(&["entities", "import", "-i", donations.to_str().unwrap()]);
    lake.run(&["make"]);
    let mixes: [&[&str]; 4] = [&["make"], &["make", "--force-exports"], &["export"], &["export", "--force"]];
    for i in 0..tries {
        let input = lake.dir.path().join(format!("race-{i}.ftm.json"));
        std::fs::write(&input, entity(i)).unwrap();
        lake.run(&["entities", "import", "-i", input.to_str().unwrap()]);
        // Two, then eight, exporting processes at once.
        let processes = if i % 2 == 0 { 2 } else { 8 };
        let children = (0..processes)
            .map(|k| {
                let args = mixes[(i + k) % mixes.len()];
                (format!("try {i}: {args:?}"), lake.command(args).spawn().unwrap())
            })
            .collect();
        wait_all(children);
        assert_eq!(lake.temp_files(), Vec::<PathBuf>::new(), "try {i}: temp files left");
        // Whole exports: what the racers published equals an export run alone now.
        let (statements, entities) = (lake.read("exports/statements.csv"), lake.read("entities.ftm.json"));
        assert!(entities.contains(&format!("\"race-{i}\"")), "try {i}: the last import is not exported");
        lake.run(&["export", "--force"]);
        assert_eq!(
            testkit::timeless_statement_rows(&statements),
            testkit::timeless_statement_rows(&lake.read("exports/statements.csv")),
            "try {i}: statements.csv"
        );
        let ids = |text: &str| -> Vec<String> {
            text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().into()).collect()
        };
        assert_eq!(ids(&entities), ids(&lake.read("entities.ftm.json")), "try {i}: entities.ftm.json");
    }
    // Two optimizes, then two flushes, at once: nothing lost, the journal drained once.
    let before = lake.live_statements();
    let mut added = Vec::new();
    for args in [&["maintenance", "optimize"][..], &["maintenance", "flush"][..]] {
        for _ in 0..tries.div_ceil(5) {
            let i = tries + added.len();
            let input = lake.dir.path().join(format!("race-{i}.ftm.json"));
            std::fs::write(&input, entity(i)).unwrap();
            lake.run(&["entities", "import", "-i", input.to_str().unwrap()]);
            let children = (0..2).map(|_| (format!("{args:?}"), lake.command(args).spawn().unwrap())).collect();
            wait_all(children);
            added.push(format!("race-{i}"));
        }
    }
    let after = lake.live_statements();
    assert!(after.is_superset(&before), "statements lost");
    let iterated = lake.run(&["entities", "iterate"]);
    for id in added {
        assert!(iterated.contains(&format!("\"{id}\"")), "{id} lost");
    }
    assert_eq!(lake.temp_files(), Vec::<PathBuf>::new());
}
