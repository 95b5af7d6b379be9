//! Fault injection (issue "Reliability and security, measured"): every writing operation runs in
//! a child process on a copy of a prepared lake and is killed with SIGKILL at a random point of
//! its run. Then, as a user would:
//!
//! 1. the lake must read at once (the live view, every statement once);
//! 2. the operation runs again, after `maintenance unlock` when the kill left a fence;
//! 3. `make` (the operation itself for `make` and `export`), then `maintenance verify --archive
//!    --repair` finds no missing or unreadable file and no bad blob (the orphans and staging
//!    leftovers a kill leaves are garbage it removes);
//! 4. the live view holds every statement once, and the exports and the archive equal those of
//!    an uninterrupted run on the same prepared lake: a statement only there is lost, one only
//!    here is resurrected (the prepared lake holds the tombstones of a deleted origin).
//!
//! It prints a table (operation, runs, kills, unlocks, recovered, lost, resurrected,
//! unreadable) and fails on any loss, resurrection, unreadable lake or failed recovery.
//!
//! Knobs: `FTM_LAKEHOUSE_FAULT_KILLS` (kills per operation, default 3),
//! `FTM_LAKEHOUSE_FAULT_SEED` (default 1: the kill points are drawn from it, so a run is
//! repeatable up to the machine's timing), `FTM_LAKEHOUSE_FAULT_JOBS` (lakes killed at once,
//! default 2), `FTM_LAKEHOUSE_FAULT_COPIES` (copies of the donations sample per origin, default
//! 10), `FTM_LAKEHOUSE_FAULT_ONLY` (operation names, comma-separated), `FTM_LAKEHOUSE_BIN` (the
//! binary to run, default the one cargo built). `tools/faults.sh` runs the large size.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

/// The dataset of every lake here.
const DATASET: &str = "ds";

/// An operation to kill: its name and its arguments after `-d ds`.
struct Operation {
    name: &'static str,
    args: fn(&Workload) -> Vec<String>,
}

/// Whether `make` follows the operation's recovery (it is the operation for `make` and `export`).
fn then_make(op: &Operation) -> bool {
    !matches!(op.name, "make" | "export")
}

const OPERATIONS: &[Operation] = &[
    Operation {
        name: "import",
        args: |w| strings(&["entities", "import", "--origin", "d", "-i", &w.path("many.json")]),
    },
    Operation { name: "flush", args: |_| strings(&["maintenance", "flush"]) },
    Operation { name: "delete-origin", args: |_| strings(&["entities", "delete-origin", "b"]) },
    Operation { name: "optimize", args: |_| strings(&["maintenance", "optimize"]) },
    Operation { name: "compact", args: |_| strings(&["maintenance", "compact"]) },
    Operation { name: "re-shard", args: |_| strings(&["maintenance", "shard", "--shards", "4"]) },
    Operation { name: "make", args: |_| strings(&["make"]) },
    Operation { name: "export", args: |_| strings(&["export"]) },
    Operation { name: "crawl", args: |w| strings(&["crawl", &w.path("documents")]) },
    Operation { name: "mappings", args: |_| strings(&["mappings", "process", "--all"]) },
];

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name}={v}: not a number")))
        .unwrap_or(default)
}

/// The inputs shared by every lake: a folder outside the lakes.
struct Workload {
    dir: PathBuf,
}

impl Workload {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// `copies` of the donations sample under distinct ids, 80 documents of 16–80 kB to crawl,
    /// and a 20,000-row CSV file with its mapping.
    fn write(dir: &Path, copies: usize) -> Workload {
        std::fs::write(dir.join("many.json"), testkit::donation_copies(copies)).unwrap();
        for n in 0..80 {
            let folder = dir.join("documents").join(format!("box{}", n % 4));
            std::fs::create_dir_all(&folder).unwrap();
            let line = format!("Document {n}: the quick brown fox jumps over the lazy dog.\n");
            std::fs::write(folder.join(format!("doc{n}.txt")), line.repeat(300 + 20 * n)).unwrap();
        }
        let mut csv = String::from("id,name,jurisdiction\n");
        for n in 0..20_000 {
            writeln!(csv, "C{n:05},Company number {n},{}", ["us", "gb", "de", "fr"][n % 4]).unwrap();
        }
        std::fs::create_dir_all(dir.join("tables")).unwrap();
        std::fs::write(dir.join("tables/companies.csv"), &csv).unwrap();
        let mapping = format!(
            "dataset: {DATASET}\ncontent_hash: {:x}\nqueries:\n  - entities:\n      company:\n        schema: Company\n        \
             key: id\n        properties:\n          name:\n            column: name\n          jurisdiction:\n            \
             column: jurisdiction\n",
            Sha256::digest(csv.as_bytes())
        );
        std::fs::write(dir.join("mapping.yml"), mapping).unwrap();
        Workload { dir: dir.to_path_buf() }
    }
}

/// A lake with its SQLite file journal inside its folder, so a copy of the folder is a copy of
/// both.
struct Lake {
    dir: PathBuf,
}

impl Lake {
    fn command(&self, args: &[String]) -> Command {
        let bin = std::env::var_os("FTM_LAKEHOUSE_BIN").unwrap_or(env!("CARGO_BIN_EXE_ftm-lakehouse").into());
        let mut command = Command::new(bin);
        command
            .arg("--uri")
            .arg(self.dir.join("lake"))
            .args(["-d", DATASET])
            .args(args)
            .env_remove("LAKEHOUSE_URI")
            .env("LAKEHOUSE_JOURNAL_URI", format!("sqlite:///{}", self.dir.join("journal.db").display()))
            // A flush commits in several steps; a fence left by a kill fails at once.
            .env("LAKEHOUSE_JOURNAL_DRAIN_ROWS", "5000")
            .env("LAKEHOUSE_LOCK_MAX_RETRIES", "0");
        command
    }

    fn run(&self, args: &[String]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs `args`; when that fails on a fence a kill left, `maintenance unlock` and again.
    /// Returns the stderr of a failure, and counts the unlocks.
    fn run_unlocking(&self, args: &[String], unlocks: &mut usize) -> Result<(), String> {
        let mut out = self.run(args);
        if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("maintenance unlock") {
            self.ok(&["maintenance", "unlock"]);
            *unlocks += 1;
            out = self.run(args);
        }
        match out.status.success() {
            true => Ok(()),
            false => Err(format!("{}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())),
        }
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(&strings(args));
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.dir.join("lake").join(DATASET).join(file)).unwrap_or_default()
    }

    /// `(rows, distinct statements)` of the live view (a statement is an id in an origin), or
    /// the error of a lake that does not read. The read leaves the journal alone (it would flush
    /// it first, which waits for a fence a kill left): it reads what the table holds.
    fn live_counts(&self) -> Result<(u64, u64), String> {
        let sql = "SELECT count(*) AS n, count(DISTINCT concat(origin, ' ', id)) AS d FROM statement";
        let mut command = self.command(&strings(&["statements", "sql", sql, "--format", "csv"]));
        let out = command.env("LAKEHOUSE_JOURNAL_URI", "sqlite:///:memory:").output().unwrap();
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let row = text.lines().nth(1).ok_or("no result row")?;
        let (n, d) = row.split_once(',').ok_or("not two columns")?;
        Ok((n.parse().map_err(|_| row.to_string())?, d.parse().map_err(|_| row.to_string())?))
    }

    /// What an uninterrupted run is compared on: statements.csv rows and entities without
    /// timestamps, and the archive's keys with their checksums.
    fn state(&self) -> State {
        State {
            statements: testkit::timeless_statement_rows(&self.read("exports/statements.csv")),
            entities: testkit::timeless_entities(&self.read("entities.ftm.json")),
            archive: self.ok(&["archive", "ls"]).lines().map(str::to_string).collect(),
        }
    }
}

#[derive(PartialEq)]
struct State {
    statements: BTreeSet<Vec<String>>,
    entities: Vec<Value>,
    archive: BTreeSet<String>,
}

/// The prepared lake every kill starts from: origins `a` and `b` flushed in 5,000-row commits,
/// `a` then deleted (tombstones not merged yet), origin `c` in the journal only, a CSV file
/// archived with its mapping stored.
fn prepare(workload: &Workload, dir: PathBuf) -> Lake {
    let lake = Lake { dir };
    let many = workload.path("many.json");
    for origin in ["a", "b"] {
        lake.ok(&["entities", "import", "--origin", origin, "-i", &many]);
        lake.ok(&["maintenance", "flush"]);
    }
    lake.ok(&["entities", "delete-origin", "a"]);
    lake.ok(&["crawl", &workload.path("tables")]);
    let hash = lake.ok(&["archive", "ls", "--checksums"]);
    lake.ok(&["mappings", "put", "-i", &workload.path("mapping.yml"), "--content-hash", hash.trim()]);
    lake.ok(&["entities", "import", "--origin", "c", "-i", &many]);
    lake
}

/// A fresh copy of the prepared lake.
fn copy(base: &Lake, dir: PathBuf) -> Lake {
    testkit::copy_dir(&base.dir, &dir);
    Lake { dir }
}

/// The uninterrupted run of an operation: its final state and how long the operation took.
struct Golden {
    state: State,
    took: Duration,
}

/// `make` when the operation is not itself the end, then `maintenance verify`, unlocking as a
/// user would.
fn finish(lake: &Lake, op: &Operation, unlocks: &mut usize) -> Result<(), String> {
    if then_make(op) {
        lake.run_unlocking(&strings(&["make"]), unlocks)?;
    }
    lake.run_unlocking(&strings(&["maintenance", "verify", "--archive", "--repair"]), unlocks)
}

/// The uninterrupted run: the operation, then [`finish`].
fn golden(workload: &Workload, base: &Lake, op: &Operation, dir: PathBuf) -> Golden {
    let lake = copy(base, dir);
    let started = Instant::now();
    let out = lake.run(&(op.args)(workload));
    let took = started.elapsed();
    assert!(out.status.success(), "{}: {}", op.name, String::from_utf8_lossy(&out.stderr));
    let mut unlocks = 0;
    finish(&lake, op, &mut unlocks).unwrap_or_else(|e| panic!("{}: {e}", op.name));
    assert_eq!(unlocks, 0, "{}: an uninterrupted run left a fence", op.name);
    let state = lake.state();
    std::fs::remove_dir_all(&lake.dir).unwrap();
    Golden { state, took }
}

/// One operation's row of the table.
#[derive(Default)]
struct Tally {
    runs: usize,
    kills: usize,
    unlocks: usize,
    recovered: usize,
    lost: usize,
    resurrected: usize,
    unreadable: usize,
    failures: Vec<String>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.runs += other.runs;
        self.kills += other.kills;
        self.unlocks += other.unlocks;
        self.recovered += other.recovered;
        self.lost += other.lost;
        self.resurrected += other.resurrected;
        self.unreadable += other.unreadable;
        self.failures.extend(other.failures);
    }

    /// The table's line for `name`.
    fn row(&self, name: &str) -> String {
        format!(
            "{name:<14}{:>6}{:>7}{:>9}{:>11}{:>6}{:>13}{:>12}\n",
            self.runs, self.kills, self.unlocks, self.recovered, self.lost, self.resurrected, self.unreadable
        )
    }
}

/// A number in [0, 1) drawn from the seed, the operation and the run.
fn draw(seed: u64, op: &str, run: usize) -> f64 {
    let hash = Sha256::digest(format!("{seed}/{op}/{run}"));
    let bits = u64::from_le_bytes(hash[..8].try_into().unwrap());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs `op` on a copy of `base` and kills it at `delay`; returns whether it was killed.
fn kill_after(lake: &Lake, args: &[String], delay: Duration) -> bool {
    let mut child = lake.command(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + delay;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1).min(deadline.saturating_duration_since(Instant::now())));
    }
    let killed = child.try_wait().unwrap().is_none();
    if killed {
        child.kill().unwrap();
    }
    child.wait().unwrap();
    killed
}

/// One kill and its recovery, tallied.
fn one_run(workload: &Workload, base: &Lake, op: &Operation, golden: &Golden, delay: Duration, dir: PathBuf) -> Tally {
    let mut tally = Tally { runs: 1, ..Tally::default() };
    let lake = copy(base, dir);
    let args = (op.args)(workload);
    if !kill_after(&lake, &args, delay) {
        std::fs::remove_dir_all(&lake.dir).unwrap();
        return tally;
    }
    tally.kills = 1;
    let at = format!("{} killed at {} ms", op.name, delay.as_millis());
    // 1. It reads at once, every statement once.
    match lake.live_counts() {
        Ok((rows, ids)) if rows != ids => {
            tally.failures.push(format!("{at}: the live view has {rows} rows for {ids} statements"));
        }
        Ok(_) => {}
        Err(e) => {
            tally.unreadable = 1;
            tally.failures.push(format!("{at}: the lake does not read: {e}"));
        }
    }
    // 2. The operation again, after an unlock when a fence stayed.
    if let Err(e) = lake.run_unlocking(&args, &mut tally.unlocks) {
        tally.failures.push(format!("{at}: the next run failed: {e}"));
        return tally;
    }
    // 3. make, verify; 4. compare.
    if let Err(e) = finish(&lake, op, &mut tally.unlocks) {
        tally.unreadable = 1;
        tally.failures.push(format!("{at}: {e}"));
        return tally;
    }
    tally.recovered = 1;
    match lake.live_counts() {
        Ok((rows, ids)) if rows != ids => {
            tally.failures.push(format!("{at}: after recovery the live view has {rows} rows for {ids} statements"));
        }
        Ok(_) => {}
        Err(e) => tally.failures.push(format!("{at}: after recovery: {e}")),
    }
    let state = lake.state();
    tally.lost = golden.state.statements.difference(&state.statements).count();
    tally.resurrected = state.statements.difference(&golden.state.statements).count();
    if state != golden.state {
        tally.failures.push(format!(
            "{at}: differs from an uninterrupted run: {} statements lost, {} resurrected, entities {}, archive {}",
            tally.lost,
            tally.resurrected,
            if state.entities == golden.state.entities { "equal" } else { "differ" },
            if state.archive == golden.state.archive { "equal" } else { "differs" },
        ));
    } else {
        std::fs::remove_dir_all(&lake.dir).unwrap();
    }
    tally
}

#[test]
fn operations_killed_at_random_points_lose_nothing() {
    let kills = knob("FTM_LAKEHOUSE_FAULT_KILLS", 3);
    let seed = knob("FTM_LAKEHOUSE_FAULT_SEED", 1) as u64;
    let jobs = knob("FTM_LAKEHOUSE_FAULT_JOBS", 2).max(1);
    let copies = knob("FTM_LAKEHOUSE_FAULT_COPIES", 10);
    let only = std::env::var("FTM_LAKEHOUSE_FAULT_ONLY").unwrap_or_default();
    let operations: Vec<&Operation> =
        OPERATIONS.iter().filter(|op| only.is_empty() || only.split(',').any(|n| n.trim() == op.name)).collect();
    assert!(!operations.is_empty(), "FTM_LAKEHOUSE_FAULT_ONLY={only} names no operation");

    // Kept when a run fails, for a look at the lake it left.
    let dir = tempfile::Builder::new().prefix("faults").disable_cleanup(true).tempdir().unwrap();
    let workload = Workload::write(dir.path(), copies);
    let base = prepare(&workload, dir.path().join("base"));
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<(&str, Tally)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                while let Some(op) = operations.get(next.fetch_add(1, Ordering::SeqCst)).copied() {
                    let golden = golden(&workload, &base, op, dir.path().join(format!("{}-golden", op.name)));
                    let mut total = Tally::default();
                    // Runs that end before their kill point (drawn within 90% of the
                    // uninterrupted run's time, which load changes) do not count; give up
                    // after 8× the kills.
                    let mut run = 0;
                    while total.kills < kills && run < 8 * kills.max(1) {
                        let delay = golden.took.mul_f64(0.9 * draw(seed, op.name, run));
                        let path = dir.path().join(format!("{}-{run}", op.name));
                        let mut tally = one_run(&workload, &base, op, &golden, delay, path);
                        tally.failures.iter_mut().for_each(|f| f.push_str(&format!(" (run {run})")));
                        total.add(tally);
                        run += 1;
                    }
                    rows.lock().unwrap().push((op.name, total));
                }
            });
        }
    });

    let mut rows = rows.into_inner().unwrap();
    rows.sort_by_key(|(name, _)| OPERATIONS.iter().position(|op| op.name == *name));
    let mut table = format!(
        "seed {seed}, {copies} copies per origin\n{:<14}{:>6}{:>7}{:>9}{:>11}{:>6}{:>13}{:>12}\n",
        "operation", "runs", "kills", "unlocks", "recovered", "lost", "resurrected", "unreadable"
    );
    let mut sum = Tally::default();
    let mut short = Vec::new();
    for (name, t) in rows {
        table.push_str(&t.row(name));
        if t.kills < kills {
            short.push(format!("{name}: only {} of {} runs were killed before they ended", t.kills, t.runs));
        }
        sum.add(t);
    }
    table.push_str(&sum.row("total"));
    let failures: Vec<String> = sum.failures.into_iter().chain(short).collect();
    eprintln!("{table}");
    assert!(failures.is_empty(), "{}\nlakes kept in {}", failures.join("\n"), dir.path().display());
    std::fs::remove_dir_all(dir.path()).unwrap();
}
