//! `maintenance verify [--archive] [--repair]`: finds a removed data file, a flipped byte in a
//! blob, a stray staging file and an orphaned data file; `--repair` removes only the stray and
//! the orphan.

mod common;

use std::path::{Path, PathBuf};

use common::{ok, run};

fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && e.file_name().to_string_lossy().ends_with(suffix))
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn verify_finds_what_is_broken_and_repair_removes_only_strays() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let sample = testkit::fixtures().join("donations.ftm.json");
    ok(run(lake, &["-d", "donations", "entities", "import", "-i", sample.to_str().unwrap()]));
    ok(run(lake, &["-d", "donations", "crawl", testkit::fixtures().join("files").to_str().unwrap()]));
    ok(run(lake, &["-d", "donations", "make"]));
    let clean = run(lake, &["-d", "donations", "maintenance", "verify", "--archive"]);
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
    assert!(String::from_utf8_lossy(&clean.stderr).contains("No problem found."));

    let root = lake.join("donations");
    let data = files_under(&root.join("statements"), ".parquet");
    let removed = data[0].clone();
    std::fs::remove_file(&removed).unwrap();
    let blob = files_under(&root.join("archive"), "blob")[0].clone();
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[0] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let stray = root.join("exports/statements.csv.tmp");
    std::fs::write(&stray, "half an export").unwrap();
    let orphan = data[1].with_file_name("part-00000-never-committed-c000.snappy.parquet");
    std::fs::copy(&data[1], &orphan).unwrap();

    let broken = run(lake, &["-d", "donations", "maintenance", "verify", "--archive"]);
    assert_eq!(broken.status.code(), Some(1));
    let report = String::from_utf8_lossy(&broken.stderr).to_string();
    let name = removed.file_name().unwrap().to_string_lossy().to_string();
    assert!(report.lines().any(|l| l.starts_with("missing data file: statements/") && l.ends_with(&name)), "{report}");
    let checksum = blob.parent().unwrap().file_name().unwrap().to_string_lossy().to_string();
    assert!(report.contains(&format!("bad blob {checksum}: its bytes hash to")), "{report}");
    assert!(report.contains("staging leftover: exports/statements.csv.tmp\n"), "{report}");
    let orphaned = orphan.strip_prefix(&root).unwrap().to_string_lossy().to_string();
    assert!(report.contains(&format!("orphaned data file: {orphaned}\n")), "{report}");
    assert!(report.contains("error: 4 problems found in dataset `donations`"), "{report}");
    // Without --archive the blob is not hashed.
    let quick = String::from_utf8_lossy(&run(lake, &["-d", "donations", "maintenance", "verify"]).stderr).to_string();
    assert!(quick.contains("error: 3 problems found"), "{quick}");

    let repaired = run(lake, &["-d", "donations", "maintenance", "verify", "--archive", "--repair"]);
    assert_eq!(repaired.status.code(), Some(1), "the missing file and the bad blob remain");
    assert!(
        String::from_utf8_lossy(&repaired.stderr).contains("staging leftover: exports/statements.csv.tmp (removed)")
    );
    assert!(String::from_utf8_lossy(&repaired.stderr).contains(&format!("orphaned data file: {orphaned} (removed)")));
    assert!(!stray.exists() && !orphan.exists());
    assert!(blob.exists(), "a bad blob is reported, never removed");
    assert_eq!(files_under(&root.join("statements"), ".parquet").len(), data.len() - 1);
}
