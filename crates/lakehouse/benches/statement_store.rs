//! Statement store benchmark: append, merge, point lookups and a full scan on real data.
//!
//! ```sh
//! python3 ../shared/bench/gen_ftm.py --entities 150000 --seed 1 -o /tmp/bench.ftm.json
//! cargo bench -p lakehouse --bench statement_store -- --input /tmp/bench.ftm.json --statements 1000000
//! ```
//!
//! Options: `--input FILE` (FtM entities, one JSON object per line; required), `--statements N`
//! (stop reading once N statements are exploded; default all), `--batch N` (statements per
//! append, default 1,000,000 like the reference's `--bulk-size`), `--shards N` (default 0),
//! `--lookups N` (default 1,000), `--lake DIR` (keep the lake there; default a temp folder that
//! is removed), `--phases import,merge,get,scan` (a subset re-runs phases on a kept `--lake`; the
//! input is still read for the entity ids). Prints one line per phase: wall time, throughput and
//! peak RSS of that phase.

use std::io::BufRead;
use std::time::Instant;

use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::storage::statements::{Filter, MergeOptions};
use lakehouse::storage::{Location, StatementStore};

struct Args {
    input: String,
    statements: usize,
    batch: usize,
    shards: u32,
    lookups: usize,
    lake: Option<String>,
    phases: Vec<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        input: String::new(),
        statements: usize::MAX,
        batch: 1_000_000,
        shards: 0,
        lookups: 1000,
        lake: None,
        phases: ["import", "merge", "get", "scan"].map(String::from).to_vec(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--input" => args.input = value(),
            "--statements" => args.statements = value().parse().expect("--statements N"),
            "--batch" => args.batch = value().parse().expect("--batch N"),
            "--shards" => args.shards = value().parse().expect("--shards N"),
            "--lookups" => args.lookups = value().parse().expect("--lookups N"),
            "--lake" => args.lake = Some(value()),
            "--phases" => args.phases = value().split(',').map(String::from).collect(),
            "--bench" => {}
            other => panic!("unknown option {other}"),
        }
    }
    assert!(!args.input.is_empty(), "--input FILE is required");
    args
}

/// Peak resident set size since the last reset, MiB (Linux `VmHWM`).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Resets the peak RSS counter so the next phase reports its own peak.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn report(phase: &str, started: Instant, items: usize, unit: &str) {
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{phase:<10} {secs:>9.3} s  {items:>10} {unit:<10} {:>12.0} {unit}/s  peak RSS {:>8.1} MiB",
        items as f64 / secs,
        peak_rss_mib()
    );
    reset_peak();
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let temp = tempfile::tempdir().unwrap();
    let root = args.lake.clone().unwrap_or_else(|| temp.path().to_string_lossy().into_owned());
    let store = StatementStore::new(
        Location::parse(&root).unwrap(),
        DatasetName::new("bench").unwrap(),
        args.shards,
        &Settings::default(),
    )
    .unwrap();
    let phase = |name: &str| args.phases.iter().any(|p| p == name);

    let ids = import(&store, &args, phase("import")).await;
    if phase("merge") {
        let started = Instant::now();
        let merged = store.merge(&MergeOptions::default()).await.unwrap();
        report("merge", started, merged.rows_read as usize, "rows");
    }
    if phase("get") {
        let started = Instant::now();
        let step = (ids.len() / args.lookups.max(1)).max(1);
        let mut found = 0;
        for id in ids.iter().step_by(step).take(args.lookups) {
            found += usize::from(store.get(id).await.unwrap().is_some());
        }
        report("get", started, found, "entities");
    }
    if phase("scan") {
        let started = Instant::now();
        let mut stream = store.scan(&Filter::default()).await.unwrap();
        let mut rows = 0;
        while let Some(entity) = stream.next().await.unwrap() {
            rows += entity.len();
        }
        report("scan", started, rows, "statements");
    }
}

/// Reads the input (entity ids for lookups) and, with `append`, writes it to the store in
/// batches; returns the entity ids.
async fn import(store: &StatementStore, args: &Args, append: bool) -> Vec<String> {
    reset_peak();
    let started = Instant::now();
    let file = std::io::BufReader::new(std::fs::File::open(&args.input).expect("open --input"));
    let mut batch = Vec::with_capacity(args.batch.min(1 << 22));
    let (mut total, mut ids, mut append_secs) = (0usize, Vec::new(), 0.0);
    for line in file.lines() {
        let entity = ftm::Entity::from_json_str(ftm::model(), &line.unwrap()).expect("valid entity");
        let mut statements = ftm::explode(&entity, "bench").expect("explodable entity");
        ids.push(statements[0].entity_id.clone());
        total += statements.len();
        if append {
            for s in &mut statements {
                s.origin = Some("bulk".into());
            }
            batch.extend(statements);
        }
        if batch.len() >= args.batch || (total >= args.statements && !batch.is_empty()) {
            let t = Instant::now();
            store.append(std::mem::take(&mut batch)).await.unwrap();
            append_secs += t.elapsed().as_secs_f64();
        }
        if total >= args.statements {
            break;
        }
    }
    if !batch.is_empty() {
        let t = Instant::now();
        store.append(batch).await.unwrap();
        append_secs += t.elapsed().as_secs_f64();
    }
    println!("input      {total} statements of {} entities from {}", ids.len(), args.input);
    if append {
        println!("append     {append_secs:>9.3} s (store only)  {:>12.0} statements/s", total as f64 / append_secs);
        report("import", started, total, "statements");
    }
    reset_peak();
    ids
}
