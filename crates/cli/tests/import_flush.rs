//! `entities import` then `maintenance flush` on every journal backend (SQLite file, SQLite
//! memory, PostgreSQL), bad input, and a flush killed with SIGKILL half way.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"));
    cmd.env_remove("LAKEHOUSE_URI").env_remove("LAKEHOUSE_JOURNAL_URI");
    cmd
}

fn run(lake: &Path, journal: &str, args: &[&str]) -> Output {
    bin().arg("--uri").arg(lake).args(args).env("LAKEHOUSE_JOURNAL_URI", journal).output().unwrap()
}

fn ok(out: Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "command failed: {err}");
    String::from_utf8(out.stdout).unwrap()
}

fn donations() -> String {
    testkit::fixtures().join("donations.ftm.json").display().to_string()
}

/// `(id, entity_id, prop, schema, value)` of statements CSV rows (any of our column orders).
fn rows(csv_text: &str) -> BTreeSet<(String, String, String, String, String)> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
    let (id, entity, prop, schema, value) = (col("id"), col("entity_id"), col("prop"), col("schema"), col("value"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[id].into(), r[entity].into(), r[prop].into(), r[schema].into(), r[value].into())
        })
        .collect()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &uuid_like())
}

fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

#[test]
fn import_then_flush_gives_the_reference_statements_on_every_journal() {
    let dir = tempfile::tempdir().unwrap();
    let reference = std::fs::read_to_string(testkit::reference_dataset().join("exports/statements.csv")).unwrap();
    let expected = rows(&reference);
    let journals = [
        format!("sqlite:///{}/journal.db", dir.path().display()),
        "sqlite:///:memory:".into(),
        testkit::postgres_database(),
    ];
    for (n, journal) in journals.iter().enumerate() {
        let lake = dir.path().join(format!("lake{n}"));
        let dataset = "donations";
        let imported = run(&lake, journal, &["-d", dataset, "entities", "import", "-i", &donations()]);
        let message = String::from_utf8_lossy(&imported.stderr).to_string();
        ok(imported);
        let target = if journal.contains(":memory:") { "into the statement store." } else { "into the journal." };
        assert!(message.contains(&format!("Imported 474 records (2857 statements, 0 skipped) {target}")), "{message}");
        let flushed = run(&lake, journal, &["-d", dataset, "maintenance", "flush"]);
        let message = String::from_utf8_lossy(&flushed.stderr).to_string();
        ok(flushed);
        let expect_flushed =
            if journal.contains(":memory:") { "Flushed 0 statements." } else { "Flushed 2857 statements." };
        assert!(message.contains(expect_flushed), "{journal}: {message}");
        let ours = ok(run(&lake, journal, &["-d", dataset, "statements", "iterate"]));
        let got = rows(&ours);
        assert_eq!(got.len(), 2857, "{journal}");
        assert_eq!(got, expected, "{journal}: the reference's statements");
        // A second flush has nothing left to move.
        let again = run(&lake, journal, &["-d", dataset, "maintenance", "flush"]);
        assert!(String::from_utf8_lossy(&again.stderr).contains("Flushed 0 statements."), "{journal}");
    }
}

#[test]
fn bad_input_is_one_clear_error_and_keeps_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let journal = format!("sqlite:///{}/journal.db", dir.path().display());
    let lake = dir.path().join("lake");
    let good = r#"{"id": "p1", "schema": "Person", "properties": {"name": ["Alice"]}}"#;
    let cases = [
        ("{\"id\": \"p2\", \"schema\": ", "line 2: invalid entity: malformed JSON"),
        (r#"{"id": "p2", "schema": "Persn", "properties": {}}"#, "line 2: unknown schema `Persn`"),
        (
            r#"{"id": "p2", "schema": "Person", "properties": {"ownershipOwner": ["o1"]}}"#,
            "line 2: property `ownershipOwner` of schema `Person` is a reverse stub",
        ),
        (
            r#"{"id": "p2", "schema": "Person", "properties": {"name": [1]}}"#,
            "line 2: property `name` has a value that is not a string: 1",
        ),
        (r#"{"id": "p2", "schema": "Person", "origin": "a/b", "properties": {}}"#, "line 2: Invalid origin \"a/b\""),
    ];
    for (n, (bad, message)) in cases.iter().enumerate() {
        let dataset = format!("bad{n}");
        let file = dir.path().join(format!("in{n}.json"));
        std::fs::write(&file, format!("{good}\n{bad}\n{good}\n")).unwrap();
        let out = run(&lake, &journal, &["-d", &dataset, "entities", "import", "-i", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
        assert!(line.contains(&format!("in{n}.json")) && line.contains(message), "{bad}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        ok(run(&lake, &journal, &["-d", &dataset, "maintenance", "flush"]));
        let kept = ok(run(&lake, &journal, &["-d", &dataset, "entities", "iterate"]));
        assert_eq!(kept.lines().count(), 1, "{bad}: the entity before the bad line is kept");
    }
    let out = run(&lake, &journal, &["-d", "Bad-Name", "entities", "import", "-i", &donations()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Invalid dataset name: 'Bad-Name'"));
    let out = run(&lake, &journal, &["-d", "ok", "entities", "import", "--origin", "x/y", "-i", &donations()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Invalid origin \"x/y\""));
}

/// Input is parsed in chunks of 2048 lines on several tasks: line numbers, blank lines and the
/// rows kept before a bad line hold across chunks, writing straight to the store.
#[test]
fn a_bad_line_deep_in_the_input_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let input = dir.path().join("deep.json");
    let mut text = String::new();
    for n in 1..=6000 {
        match n {
            100 | 2048 | 2049 => text.push('\n'),
            4500 => text.push_str("{\"id\": \"bad\", \"schema\": \"Nope\"}\n"),
            _ => text.push_str(&format!(
                "{{\"id\": \"p{n}\", \"schema\": \"Person\", \"properties\": {{\"name\": [\"N{n}\"]}}}}\n"
            )),
        }
    }
    std::fs::write(&input, text).unwrap();
    let out = run(&lake, "sqlite:///:memory:", &["-d", "deep", "entities", "import", "-i", input.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deep.json") && err.contains("line 4500: unknown schema `Nope`"), "{err}");
    let kept = ok(run(&lake, "sqlite:///:memory:", &["-d", "deep", "entities", "iterate"]));
    assert_eq!(kept.lines().count(), 4499 - 3, "every entity before the bad line, blank lines skipped");
    assert!(kept.contains("\"p4499\"") && !kept.contains("\"p4501\""));
}

#[test]
fn a_flush_killed_half_way_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let journal = format!("sqlite:///{}/journal.db", dir.path().display());
    let lake = dir.path().join("lake");
    let input = dir.path().join("many.json");
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!(
            "{{\"id\": \"e{i}\", \"schema\": \"Person\", \"properties\": {{\"name\": [\"N {i}\"], \"birthDate\": [\"1970-01-01\"]}}}}\n"
        ));
    }
    std::fs::write(&input, text).unwrap();
    let dataset = unique("k");
    ok(run(&lake, &journal, &["-d", &dataset, "entities", "import", "-i", input.to_str().unwrap()]));
    let mut child = bin()
        .arg("--uri")
        .arg(&lake)
        .args(["-d", &dataset, "maintenance", "flush"])
        .env("LAKEHOUSE_JOURNAL_URI", &journal)
        .env("LAKEHOUSE_JOURNAL_DRAIN_ROWS", "2000")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log = lake.join(&dataset).join("statements/_delta_log");
    let started = Instant::now();
    loop {
        let commits = std::fs::read_dir(&log).map(|d| d.count()).unwrap_or(0);
        if commits >= 4 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the flush was killed before it finished (test too slow to interrupt it?)");
    ok(run(&lake, &journal, &["-d", &dataset, "maintenance", "flush"]));
    let ids: BTreeSet<String> =
        rows(&ok(run(&lake, &journal, &["-d", &dataset, "statements", "iterate"]))).into_iter().map(|r| r.0).collect();
    assert_eq!(ids.len(), 60_000, "every statement landed exactly once in the live view");
}
