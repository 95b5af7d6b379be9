//! Mappings as a user runs them (seed 002 "Mappings"): a CSV file archived by a crawl, its
//! mapping put and processed, then `make`; re-processing after a change; a retired mapping;
//! bad mappings and bad CSV files refused with nothing in the lake touched.

mod common;

use std::path::Path;
use std::process::Output;

use sha2::{Digest, Sha256};

use common::{ok, run};

const DATASET: &str = "test_dataset";

/// `ftm map-csv --no-sign` (followthemoney 4.11.2) of the shared `companies.csv` with the shared
/// `mapping.yml`, dataset `test_dataset`: id and name of each entity.
const COMPANIES: [(&str, &str); 3] = [
    ("e40aae1f2591f0e7e63c37ce234b6fca0d355e87", "Acme Corporation"),
    ("501b4df067b6291618bc15107d276b32db191bad", "Global Industries Ltd"),
    ("c302ba084545f84f6ff7faa34f0623f25c7f2519", "TechStart Inc"),
];

fn cli(lake: &Path, args: &[&str]) -> Output {
    let mut full = vec!["-d", DATASET];
    full.extend_from_slice(args);
    run(lake, &full)
}

/// Crawls `files` (name, bytes) from a fresh source folder; returns their SHA-256 checksums.
fn crawl(lake: &Path, source: &Path, files: &[(&str, &[u8])]) -> Vec<String> {
    std::fs::create_dir_all(source).unwrap();
    for (name, bytes) in files {
        std::fs::write(source.join(name), bytes).unwrap();
    }
    ok(cli(lake, &["crawl", source.to_str().unwrap()]));
    files.iter().map(|(_, bytes)| format!("{:x}", Sha256::digest(bytes))).collect()
}

fn put(lake: &Path, yaml: &str, hash: &str) -> Output {
    let file = lake.join(format!("mapping-{}.yml", uuid::Uuid::new_v4()));
    std::fs::write(&file, yaml).unwrap();
    cli(lake, &["mappings", "put", "-i", file.to_str().unwrap(), "--content-hash", hash])
}

/// `(id, names)` of the Company entities in the exported `entities.ftm.json`, sorted.
fn exported_companies(lake: &Path) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(lake.join(DATASET).join("entities.ftm.json")).unwrap();
    let mut out: Vec<(String, Vec<String>)> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["schema"] == "Company")
        .map(|e| {
            let names = e["properties"]["name"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string());
            (e["id"].as_str().unwrap().to_string(), names.collect())
        })
        .collect();
    out.sort();
    out
}

fn expected(rows: &[(&str, &str)]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<_> = rows.iter().map(|(id, name)| (id.to_string(), vec![name.to_string()])).collect();
    out.sort();
    out
}

/// The one `error:` line of a command that must have failed with exit code 1.
fn fails(out: Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout: {}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8(out.stderr).unwrap();
    stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("{stderr}")).to_string()
}

#[test]
fn companies_map_as_ftm_map_csv_does_and_reprocessing_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let csv = std::fs::read(testkit::fixtures().join("companies.csv")).unwrap();
    let hash = crawl(lake, &dir.path().join("src"), &[("companies.csv", &csv)]).remove(0);
    let mapping = std::fs::read_to_string(testkit::fixtures().join("mapping.yml")).unwrap();
    ok(put(lake, &mapping, &hash));
    assert_eq!(ok(cli(lake, &["mappings", "ls"])), format!("{hash}\n"));
    let stored = ok(cli(lake, &["mappings", "get", &hash]));
    assert!(stored.contains(&format!("content_hash: {hash}")), "{stored}");
    ok(cli(lake, &["mappings", "process", &hash]));
    ok(cli(lake, &["make"]));
    assert_eq!(exported_companies(lake), expected(&COMPANIES));

    // Unchanged since: skipped. A changed mapping (one row filtered out) replaces the output.
    let skipped = cli(lake, &["mappings", "process", "--all"]);
    assert!(String::from_utf8_lossy(&skipped.stderr).contains("up to date"));
    let filtered = mapping.replace("queries:\n", "queries:\n  - filters_not:\n      id: GLOB002\n").replacen(
        "  - entities:",
        "    entities:",
        1,
    );
    ok(put(lake, &filtered, &hash));
    ok(cli(lake, &["mappings", "process", &hash]));
    ok(cli(lake, &["make"]));
    assert_eq!(exported_companies(lake), expected(&[COMPANIES[0], COMPANIES[2]]));

    // A newer CSV without Acme gets its own mapping; retiring the old one drops Acme.
    let newer = String::from_utf8(csv.clone())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("ACME"))
        .collect::<Vec<_>>()
        .join("\n");
    let new_hash = crawl(lake, &dir.path().join("src2"), &[("companies.csv", newer.as_bytes())]).remove(0);
    ok(put(lake, &mapping, &new_hash));
    ok(cli(lake, &["mappings", "process", "--all"]));
    ok(cli(lake, &["mappings", "delete", &hash]));
    ok(cli(lake, &["make"]));
    assert_eq!(exported_companies(lake), expected(&COMPANIES[1..]));
    assert_eq!(ok(cli(lake, &["mappings", "ls"])), format!("{new_hash}\n"));
    assert!(fails(cli(lake, &["mappings", "delete", &hash])).contains("Not found: mapping"));
}

#[test]
fn bad_mappings_and_files_are_refused_and_nothing_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let csv = std::fs::read(testkit::fixtures().join("companies.csv")).unwrap();
    let pdf = std::fs::read(testkit::fixtures().join("files/example.pdf")).unwrap();
    let ragged = b"id,name\nA1,Alpha\nB2,Beta,extra\n".to_vec();
    let hashes = crawl(lake, &dir.path().join("src"), &[("c.csv", &csv), ("x.pdf", &pdf), ("r.csv", &ragged)]);
    let mapping = std::fs::read_to_string(testkit::fixtures().join("mapping.yml")).unwrap();
    ok(put(lake, &mapping, &hashes[0]));
    ok(cli(lake, &["mappings", "process", &hashes[0]]));
    let before = ok(cli(lake, &["statements", "iterate"]));

    assert!(fails(put(lake, "queries: [unclosed", &hashes[0])).contains("not YAML"));
    let unknown = fails(put(lake, &mapping.replace("schema: Company", "schema: Firm"), &hashes[0]));
    assert!(unknown.contains("query 1, entity \"company\": unknown schema \"Firm\""), "{unknown}");
    let absent = fails(put(lake, &mapping, &"0".repeat(64)));
    assert!(absent.contains("no file with checksum 0000"), "{absent}");

    // Not CSV: the header lacks the mapping's columns. Ragged: the row is named.
    ok(put(lake, &mapping, &hashes[1]));
    let not_csv = fails(cli(lake, &["mappings", "process", &hashes[1]]));
    assert!(not_csv.contains("the CSV file has no column \"id\""), "{not_csv}");
    let ragged_mapping = mapping.replace("key: id", "key: id\n        id_column: id");
    ok(put(lake, &ragged_mapping, &hashes[2]));
    let ragged_error = fails(cli(lake, &["mappings", "process", &hashes[2]]));
    assert!(ragged_error.contains(&format!("archive file {} (CSV) line 3", hashes[2])), "{ragged_error}");

    assert_eq!(ok(cli(lake, &["statements", "iterate"])), before);
    assert!(ok(cli(lake, &["mappings", "get", &hashes[0]])).contains("schema: Company"));
}

#[test]
fn signed_mappings_store_the_ids_ftm_map_csv_signs() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let csv = std::fs::read(testkit::fixtures().join("companies.csv")).unwrap();
    let hash = crawl(lake, &dir.path().join("src"), &[("companies.csv", &csv)]).remove(0);
    let mapping = std::fs::read_to_string(testkit::fixtures().join("mapping.yml")).unwrap();
    ok(put(lake, &format!("{mapping}\nsign: true\n"), &hash));
    ok(cli(lake, &["mappings", "process", &hash]));
    ok(cli(lake, &["make"]));
    // `ftm map-csv -d test_dataset` of the same file and mapping.
    let signed = [
        ("e40aae1f2591f0e7e63c37ce234b6fca0d355e87.b921f605a7c72735d6258f179942ef91c3fcd761", "Acme Corporation"),
        ("501b4df067b6291618bc15107d276b32db191bad.9b412665b2206124fb63e36364fc0065cff384bd", "Global Industries Ltd"),
        ("c302ba084545f84f6ff7faa34f0623f25c7f2519.2d2e0de29f2559eb52944e4d7a82c300d67e3151", "TechStart Inc"),
    ];
    assert_eq!(exported_companies(lake), expected(&signed));
    assert!(fails(put(lake, &format!("{mapping}\nsign: maybe\n"), &hash)).contains("`sign` is not true or false"));
}
