//! Everything at once on one lake, as separate processes (issue "Reliability and security,
//! measured"): three importers writing the journal, a flusher, `make`, a crawl and two readers,
//! with the SQLite file journal and with PostgreSQL. Afterwards every acknowledged statement is
//! live, once; and no reader saw a torn state: every read shows each imported entity whole
//! (all its statements or none), no statement twice, never fewer imported statements than the
//! reader saw before (a reader sees a whole Delta version or a later one), and never fewer than
//! the imports acknowledged before the read began (a read flushes the journal first).
//!
//! Runs per journal: `FTM_LAKEHOUSE_MIXED_RUNS` (default 1; the issue's figure is taken at 50).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const DATASET: &str = "ds";
/// Importers, and the slices each imports in turn (one process per slice).
const IMPORTERS: usize = 3;
const SLICES: usize = 3;
const ENTITIES_PER_SLICE: usize = 400;
/// Statements per imported entity: name, birthDate, nationality and the entity's `id` statement.
const STATEMENTS_PER_ENTITY: usize = 4;
const DOCUMENTS: usize = 30;

struct Lake {
    dir: PathBuf,
    journal: String,
}

impl Lake {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
            .arg("--uri")
            .arg(self.dir.join("lake"))
            .args(["-d", DATASET])
            .args(args)
            .env_remove("LAKEHOUSE_URI")
            .env("LAKEHOUSE_JOURNAL_URI", &self.journal)
            // Small flush commits: many versions for the readers to land between.
            .env("LAKEHOUSE_JOURNAL_DRAIN_ROWS", "600")
            .output()
            .unwrap()
    }

    /// Runs `args`, which must end with exit 0 or, when `may_be_busy`, a clear busy message.
    fn expect(&self, args: &[&str], may_be_busy: bool) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let busy = stderr.contains("Write fence busy") || stderr.contains("is running in another process");
        assert!(out.status.success() || (may_be_busy && busy), "{args:?}: exit {:?}: {stderr}", out.status.code());
        String::from_utf8(out.stdout).unwrap()
    }

    /// One number per column of the one row a query returns.
    fn numbers(&self, sql: &str) -> Vec<u64> {
        let text = self.expect(&["statements", "sql", sql, "--format", "csv"], false);
        let row = text.lines().nth(1).unwrap_or_else(|| panic!("{sql}: no row in {text:?}"));
        row.split(',').map(|n| if n.is_empty() { 0 } else { n.parse().unwrap() }).collect()
    }
}

/// Slice `slice` of importer `importer`: Person entities with three statements each.
fn write_slice(dir: &Path, importer: usize, slice: usize) -> PathBuf {
    let mut text = String::new();
    for n in 0..ENTITIES_PER_SLICE {
        writeln!(
            text,
            r#"{{"id": "i{importer}-{slice}-{n}", "schema": "Person", "properties": {{"name": ["Person {importer} {slice} {n}"], "birthDate": ["19{:02}-01-01"], "nationality": ["de"]}}}}"#,
            n % 100
        )
        .unwrap();
    }
    let path = dir.join(format!("slice-{importer}-{slice}.json"));
    std::fs::write(&path, text).unwrap();
    path
}

/// What one reader saw: the count of imported statements at each read. `acknowledged` counts
/// the statements of the imports that have exited 0.
fn read_until(lake: &Lake, done: &AtomicBool, acknowledged: &AtomicU64) -> Vec<u64> {
    let counts = "SELECT count(*), count(DISTINCT concat(origin, ' ', id)), \
                  sum(CASE WHEN origin LIKE 'imp%' THEN 1 ELSE 0 END) FROM statement";
    let torn = format!(
        "SELECT count(*) FROM (SELECT entity_id FROM statement WHERE origin LIKE 'imp%' \
         GROUP BY entity_id HAVING count(*) <> {STATEMENTS_PER_ENTITY}) AS partial"
    );
    let mut seen = Vec::new();
    while !done.load(Ordering::SeqCst) {
        let floor = acknowledged.load(Ordering::SeqCst);
        let [rows, distinct, imported] = lake.numbers(counts)[..] else { panic!("three columns") };
        assert_eq!(rows, distinct, "a reader saw a statement twice");
        assert!(imported >= floor, "a read saw {imported} imported statements, {floor} were acknowledged before it");
        if let Some(&before) = seen.last() {
            assert!(imported >= before, "a reader saw {imported} imported statements after {before}");
        }
        seen.push(imported);
        assert_eq!(lake.numbers(&torn), [0], "a reader saw an entity in part");
    }
    seen
}

fn one_run(journal: String, run: usize) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake { dir: dir.path().to_path_buf(), journal };
    let slices: Vec<Vec<PathBuf>> =
        (0..IMPORTERS).map(|i| (0..SLICES).map(|s| write_slice(dir.path(), i, s)).collect()).collect();
    let documents = dir.path().join("documents");
    std::fs::create_dir_all(&documents).unwrap();
    for n in 0..DOCUMENTS {
        std::fs::write(documents.join(format!("doc{n}.txt")), format!("document {n}\n").repeat(200 + n)).unwrap();
    }
    // The lake exists before the crowd arrives.
    lake.expect(&["entities", "import", "-i", slices[0][0].to_str().unwrap(), "--origin", "seed"], false);
    lake.expect(&["maintenance", "flush"], false);

    let writers_done = AtomicBool::new(false);
    let importers_done = AtomicBool::new(false);
    let acknowledged = AtomicU64::new(0);
    let reads = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2).map(|_| scope.spawn(|| read_until(&lake, &writers_done, &acknowledged))).collect();
        let importers: Vec<_> = slices
            .iter()
            .enumerate()
            .map(|(i, files)| {
                let (lake, acknowledged) = (&lake, &acknowledged);
                scope.spawn(move || {
                    for file in files {
                        let origin = format!("imp{i}");
                        lake.expect(&["entities", "import", "-i", file.to_str().unwrap(), "--origin", &origin], false);
                        acknowledged.fetch_add((ENTITIES_PER_SLICE * STATEMENTS_PER_ENTITY) as u64, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        let flusher = scope.spawn(|| {
            while !importers_done.load(Ordering::SeqCst) {
                lake.expect(&["maintenance", "flush"], true);
            }
        });
        let maker = scope.spawn(|| {
            for _ in 0..2 {
                lake.expect(&["make"], true);
            }
        });
        let crawler = scope.spawn(|| lake.expect(&["crawl", documents.to_str().unwrap()], true));
        for importer in importers {
            importer.join().unwrap();
        }
        importers_done.store(true, Ordering::SeqCst);
        for writer in [flusher, maker] {
            writer.join().unwrap();
        }
        crawler.join().unwrap();
        writers_done.store(true, Ordering::SeqCst);
        readers.into_iter().map(|r| r.join().unwrap()).collect::<Vec<_>>()
    });

    // Nothing acknowledged is missing: every slice's statements, each once, and every document.
    lake.expect(&["make"], false);
    let imported = lake
        .numbers("SELECT count(*), count(DISTINCT concat(origin, ' ', id)) FROM statement WHERE origin LIKE 'imp%'");
    let expected = (IMPORTERS * SLICES * ENTITIES_PER_SLICE * STATEMENTS_PER_ENTITY) as u64;
    assert_eq!(imported, [expected, expected], "run {run}: imported statements (rows, distinct)");
    let archived = lake.expect(&["archive", "ls", "--keys"], false);
    assert_eq!(archived.lines().filter(|k| k.starts_with("doc")).count(), DOCUMENTS, "run {run}: {archived}");
    lake.expect(&["maintenance", "verify", "--archive"], false);
    for seen in &reads {
        assert!(!seen.is_empty(), "run {run}: a reader never read");
        assert!(*seen.last().unwrap() <= expected);
    }
    eprintln!("run {run}: reads {:?}", reads.iter().map(Vec::len).collect::<Vec<_>>());
}

fn runs() -> usize {
    std::env::var("FTM_LAKEHOUSE_MIXED_RUNS").map(|v| v.parse().expect("a number of runs")).unwrap_or(1)
}

#[test]
fn importers_flusher_make_crawl_and_readers_at_once_on_a_sqlite_journal() {
    for run in 0..runs() {
        let dir = tempfile::tempdir().unwrap();
        one_run(format!("sqlite:///{}/journal.db", dir.path().display()), run);
    }
}

#[test]
fn importers_flusher_make_crawl_and_readers_at_once_on_a_postgres_journal() {
    for run in 0..runs() {
        one_run(testkit::postgres_database(), run);
    }
}
