//! Test support shared by the workspace's test suites.

mod served;
pub mod zfs;

pub use served::Served;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The compatibility fixtures folder: `$FTM_LAKEHOUSE_FIXTURES`, else `shared/fixtures` beside
/// the checkout (where CI puts it).
///
/// The checkout is found at run time from `CARGO_MANIFEST_DIR`, which cargo sets for every test
/// process to the tested package (`crates/<name>`): a path compiled into this crate would go
/// stale when a shared target folder serves several clones.
///
/// # Panics
/// If the folder does not hold `donations.ftm.json`: the tests cannot run without it.
pub fn fixtures() -> PathBuf {
    let package = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default();
    let dir = std::env::var_os("FTM_LAKEHOUSE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| package.join("../../../shared/fixtures"));
    assert!(
        dir.join("donations.ftm.json").exists(),
        "fixtures not found at {}; set FTM_LAKEHOUSE_FIXTURES",
        dir.display()
    );
    dir
}

/// The reference's lake for the donations sample.
pub fn reference_dataset() -> PathBuf {
    fixtures().join("reference/lake/donations")
}

/// Copies the folder `src` to `dst` recursively, making the copies writable.
///
/// # Panics
/// On any I/O error.
pub fn copy_dir(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).unwrap();
    for entry in fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let target = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
            let mut perms = fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            fs::set_permissions(&target, perms).unwrap();
        }
    }
}

/// The rows of a `statements.csv` export without its timestamp columns (`first_seen`,
/// `last_seen`), as a set: two runs of the same input compare equal.
///
/// # Panics
/// On CSV that does not parse.
pub fn timeless_statement_rows(text: &str) -> BTreeSet<Vec<String>> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers.iter().zip(r.iter()).filter(|(h, _)| !h.ends_with("_seen")).map(|(_, v)| v.to_string()).collect()
        })
        .collect()
}

/// JSON lines (entities) without their timestamps (`first_seen`, `last_seen`, `last_change`), in
/// order.
///
/// # Panics
/// On a line that is not a JSON object.
pub fn timeless_entities(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            for key in ["first_seen", "last_seen", "last_change"] {
                v.as_object_mut().unwrap().remove(key);
            }
            v
        })
        .collect()
}

/// A new, empty database on the test PostgreSQL server (`LAKEHOUSE_TEST_POSTGRES_URI`, which
/// `eval "$(bash .ci/postgres.sh)"` sets), created with `psql`; returns its URI. A test that
/// writes a journal there sees no table a former run or another test left on the server.
///
/// # Panics
/// Without the server or `psql`.
pub fn postgres_database() -> String {
    let server = std::env::var("LAKEHOUSE_TEST_POSTGRES_URI")
        .expect("LAKEHOUSE_TEST_POSTGRES_URI must name a PostgreSQL server: run `eval \"$(bash .ci/postgres.sh)\"`");
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let name = format!("test_{}_{nanos}", std::process::id());
    let out = std::process::Command::new("psql")
        .args([server.as_str(), "-q", "-c", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "CREATE DATABASE {name}: {}", String::from_utf8_lossy(&out.stderr));
    let (base, _) = server.rsplit_once('/').expect("the URI names a database");
    format!("{base}/{name}")
}

/// `copies` of the donations sample (`donations.ftm.json`) as one FtM JSON lines text, copy `n`
/// with every entity id prefixed `c{n}-`: a bigger workload of the same shape.
///
/// # Panics
/// If the fixture does not read.
pub fn donation_copies(copies: usize) -> String {
    let sample = fs::read_to_string(fixtures().join("donations.ftm.json")).unwrap();
    let mut text = String::with_capacity(sample.len() * copies);
    for copy in 0..copies {
        for line in sample.lines() {
            text.push_str(&line.replacen("\"id\":\"", &format!("\"id\":\"c{copy}-"), 1));
            text.push('\n');
        }
    }
    text
}

/// Whether a test that needs root goes on: `true` as root (CI runs as root); `false` when not
/// and `FTM_LAKEHOUSE_SKIP_ROOT_TESTS` is set, a skip chosen out loud.
///
/// # Panics
/// When not root and not told to skip, naming `why` root is needed: never a silent pass.
pub fn root_or_skip(why: &str) -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().nth(1));
    if effective == Some("0") {
        return true;
    }
    assert!(
        std::env::var_os("FTM_LAKEHOUSE_SKIP_ROOT_TESTS").is_some(),
        "needs root {why} (FTM_LAKEHOUSE_SKIP_ROOT_TESTS=1 skips it)"
    );
    false
}
