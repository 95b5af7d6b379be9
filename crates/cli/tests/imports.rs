//! `statements import` and the import options (`--origin`, `--override-origin`, `--role`,
//! `--last-seen`, `--unsafe`), and the catalog and journal commands no other test runs: `ls`,
//! `datasets`, `maintenance flush --all`, `make --no-flush/--no-optimize/--no-exports`.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{ok, run};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `statements iterate` of `dataset` as rows of named columns.
fn statements(lake: &Path, dataset: &str) -> Vec<std::collections::HashMap<String, String>> {
    let csv = ok(run(lake, &["-d", dataset, "statements", "iterate"]));
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().zip(r.unwrap().iter()).map(|(h, v)| (h.into(), v.into())).collect())
        .collect()
}

#[test]
fn a_statements_export_imports_back_to_the_same_exports() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let donations = testkit::fixtures().join("donations.ftm.json");
    ok(run(first.path(), &["-d", "donations", "entities", "import", "-i", donations.to_str().unwrap()]));
    ok(run(first.path(), &["-d", "donations", "make"]));
    let exported = first.path().join("donations/exports/statements.csv");
    let imported = run(second.path(), &["-d", "donations", "statements", "import", "-i", exported.to_str().unwrap()]);
    assert!(stderr(&imported).contains("2857 statements"), "{}", stderr(&imported));
    ok(run(second.path(), &["-d", "donations", "make"]));
    for artifact in ["entities.ftm.json", "exports/statements.csv", "exports/statistics.json"] {
        let read = |lake: &Path| std::fs::read_to_string(lake.join("donations").join(artifact)).unwrap();
        assert!(read(first.path()) == read(second.path()), "{artifact} differs");
    }
}

#[test]
fn bad_statement_csv_is_a_clear_error_and_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let header = "id,entity_id,prop,schema,value,dataset,origin,first_seen,last_seen";
    let row = |id: &str, schema: &str, seen: &str| format!("{id},p1,name,{schema},Alice,ds,bulk,{seen},{seen}");
    let good = format!("{header}\n{}\n", row("s1", "Person", "2024-01-01T00:00:00+00:00"));
    let input = dir.path().join("good.csv");
    std::fs::write(&input, good).unwrap();
    ok(run(lake, &["-d", "ds", "statements", "import", "-i", input.to_str().unwrap()]));
    assert_eq!(statements(lake, "ds").len(), 1, "the statement as it is");

    let cases = [
        (
            "no-entity-id.csv",
            "id,prop,schema,value\ns2,name,Person,Bob\n".to_string(),
            "line 1: the header has no `entity_id` column",
        ),
        (
            "bad-time.csv",
            format!("{header}\n{}\n", row("s2", "Person", "yesterday")),
            "line 2: bad `first_seen` \"yesterday\"",
        ),
        ("ragged.csv", format!("{header}\n{}\ns3,p3\n", row("s2", "Person", "2024-01-01")), "line 3"),
        ("schema.csv", format!("{header}\n{}\n", row("s2", "Persn", "2024-01-01")), "line 2: unknown schema `Persn`"),
    ];
    for (name, text, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = run(lake, &["-d", "ds", "statements", "import", "-i", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let said = stderr(&out);
        assert!(said.starts_with(&format!("error: {}", path.display())) && said.contains(expected), "{name}: {said}");
        assert_eq!(said.lines().count(), 1, "{name}: {said}");
    }
    let kept = statements(lake, "ds");
    assert_eq!(kept.iter().filter(|s| s["prop"] == "name").map(|s| &s["value"]).collect::<Vec<_>>(), ["Alice"]);
}

#[test]
fn import_options_set_origin_role_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let input = dir.path().join("people.ftm.json");
    std::fs::write(
        &input,
        "{\"id\": \"p1\", \"schema\": \"Person\", \"properties\": {\"name\": [\"Alice\"]}}\n\
         {\"id\": \"p2\", \"schema\": \"Person\", \"properties\": {\"name\": [\"Bob\"]}, \"origin\": \"carried\"}\n",
    )
    .unwrap();
    let input = input.to_str().unwrap();
    let import = |dataset: &str, options: &[&str]| {
        let mut args = vec!["-d", dataset, "entities", "import", "-i", input];
        args.extend_from_slice(options);
        ok(run(lake, &args));
        statements(lake, dataset)
    };
    let origin_of = |rows: &[std::collections::HashMap<String, String>], id: &str| {
        rows.iter().find(|s| s["entity_id"] == id).map(|s| s["origin"].clone()).unwrap()
    };

    // `--origin` for input without one; a carried origin stays; `--role`; `--last-seen` stamps both times.
    let rows = import("plain", &["--origin", "mine", "--role", "editor", "--last-seen", "2024-05-06"]);
    assert_eq!((origin_of(&rows, "p1").as_str(), origin_of(&rows, "p2").as_str()), ("mine", "carried"));
    assert!(rows.iter().all(|s| s["role"] == "editor"), "{rows:?}");
    assert!(rows.iter().all(|s| s["first_seen"] == "2024-05-06T00:00:00+00:00" && s["last_seen"] == s["first_seen"]));
    // `--override-origin` wins over the carried origin; a time with an offset is taken as UTC.
    let rows =
        import("overridden", &["--origin", "mine", "--override-origin", "--last-seen", "2024-05-06T10:00:00+02:00"]);
    assert!(rows.iter().all(|s| s["origin"] == "mine" && s["role"].is_empty()), "{rows:?}");
    assert!(rows.iter().all(|s| s["last_seen"] == "2024-05-06T08:00:00+00:00"), "{rows:?}");
    // `--unsafe` stores the same values from clean input.
    let values = |rows: &[std::collections::HashMap<String, String>]| {
        let mut v: Vec<_> =
            rows.iter().filter(|s| s["prop"] != "id").map(|s| (s["entity_id"].clone(), s["value"].clone())).collect();
        v.sort();
        v
    };
    assert_eq!(values(&import("fast", &["--unsafe"])), values(&import("safe", &[])));
    let bad = run(lake, &["-d", "bad", "entities", "import", "-i", input, "--last-seen", "last tuesday"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("last tuesday"), "{}", stderr(&bad));
}

#[test]
fn ls_datasets_flush_all_and_make_without_stages() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let journal = format!("sqlite:///{}", dir.path().join("journal.db").display());
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
            .arg("--uri")
            .arg(&lake)
            .args(args)
            .env_remove("LAKEHOUSE_URI")
            .env("LAKEHOUSE_JOURNAL_URI", &journal)
            .output()
            .unwrap()
    };
    let donations = testkit::fixtures().join("donations.ftm.json");
    for dataset in ["one", "two"] {
        let imported = cli(&["-d", dataset, "entities", "import", "-i", donations.to_str().unwrap()]);
        assert!(stderr(&imported).contains("into the journal"), "{}", stderr(&imported));
    }
    let mut names: Vec<String> = ok(cli(&["ls"])).lines().map(str::to_string).collect();
    names.sort();
    assert_eq!(names, ["one", "two"]);
    let models: Vec<serde_json::Value> =
        ok(cli(&["datasets"])).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(models.len(), 2);
    assert!(models.iter().all(|m| m["license"].is_null() && m["shards"] == 0 && m.as_object().unwrap().len() == 29));

    // `make --no-flush --no-exports` leaves the journal as it is.
    ok(cli(&["-d", "one", "make", "--no-flush", "--no-exports"]));
    let flushed = cli(&["maintenance", "flush", "--all"]);
    assert!(stderr(&flushed).contains("Flushed 5714 statements in total."), "{}", stderr(&flushed));
    // `--no-exports`: flush only; `--no-optimize`: exports without the optimize.
    let flush_only = cli(&["-d", "one", "make", "--no-exports"]);
    assert!(flush_only.status.success() && !lake.join("one/entities.ftm.json").exists());
    let unoptimized = stderr(&cli(&["-d", "one", "make", "--no-optimize"]));
    assert!(unoptimized.contains("Exported 2857 statements") && !unoptimized.contains("Optimized"), "{unoptimized}");
    let optimized = stderr(&cli(&["-d", "two", "make"]));
    assert!(optimized.contains("Optimized") && optimized.contains("Exported 2857 statements"), "{optimized}");
}
