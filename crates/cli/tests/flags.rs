//! Every command-line spelling of the reference (spec `interfaces.md` §1.4–§1.5) is accepted,
//! both forms of every `--x/--no-x` pair among them; the later of a pair wins; bad values exit 2
//! with the usage line.

mod common;

use std::process::{Command, Output};

use common::{ok, run};

/// `ftm-lakehouse ARGS… --help`: clap reads every argument before the help, so an unknown
/// flag fails (exit 2) where a known one prints the help (exit 0), and nothing runs.
fn parses(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
        .args(args)
        .arg("--help")
        .env_remove("LAKEHOUSE_URI")
        .output()
        .unwrap()
}

/// The reference's spellings, command by command, as the spec's tables give them.
const SPELLINGS: &[&[&str]] = &[
    &["--version"],
    &["--no-version"],
    &["ls", "-o", "out.txt"],
    &["datasets", "-o", "out.json"],
    &["-d", "ds", "configure", "-c", "c.yml"],
    &["-d", "ds", "crawl", "dir", "-o", "-", "--include", "*.pdf", "--exclude", "x/*"],
    &["-d", "ds", "crawl", "dir", "--make-entities", "--no-make-entities"],
    &["-d", "ds", "crawl", "dir", "--existing", "overwrite"],
    &["-d", "ds", "crawl", "dir", "--existing", "skip-path"],
    &["-d", "ds", "crawl", "dir", "--existing", "skip-checksum"],
    &["-d", "ds", "make", "-c", "c.yml", "--flush", "--no-flush", "--exports", "--no-exports"],
    &["-d", "ds", "make", "--optimize", "--no-optimize", "--force-optimize", "--no-force-optimize"],
    &["-d", "ds", "make", "--force-exports", "--no-force-exports"],
    &["-d", "ds", "export", "--force", "--no-force"],
    &["-d", "ds", "archive", "get", "abc", "-o", "x"],
    &["-d", "ds", "archive", "head", "abc", "-o", "x"],
    &["-d", "ds", "archive", "ls", "-o", "x", "--keys", "--no-keys", "--checksums", "--no-checksums"],
    &["-d", "ds", "archive", "download", "-o", "target"],
    &["-d", "ds", "entities", "iterate", "-o", "x", "-q", "limit=1"],
    &["-d", "ds", "entities", "iterate", "--query", "limit=1"],
    &["-d", "ds", "entities", "iterate", "--rql", "limit(1)"],
    &["-d", "ds", "entities", "stream", "-o", "x"],
    &["-d", "ds", "entities", "import", "-i", "x", "--origin", "o", "--override-origin", "--no-override-origin"],
    &["-d", "ds", "entities", "import", "--role", "r", "--bulk-size", "10", "--last-seen", "2024-01-01", "--unsafe"],
    &["-d", "ds", "statements", "iterate", "-o", "x"],
    &["-d", "ds", "statements", "stream", "-o", "x"],
    &["-d", "ds", "statements", "import", "-i", "x", "--origin", "o", "--override-origin", "--no-override-origin"],
    &["-d", "ds", "statements", "import", "--role", "r", "--bulk-size", "10", "--last-seen", "2024-01-01", "--unsafe"],
    &["-d", "ds", "statements", "sql", "SELECT 1"],
    &["maintenance", "flush", "--all"],
    &["-d", "ds", "maintenance", "optimize", "--retention-hours", "2", "--force", "--no-force"],
    &["-d", "ds", "maintenance", "shard", "--shards", "4", "--force", "--no-force"],
    &["maintenance", "migrate", "--all", "--force", "--no-force"],
    &["-d", "ds", "maintenance", "unlock"],
    &["zfs", "init", "ds", "--pool", "tank/lake"],
    &["zfs", "init", "ds", "-p", "tank/lake"],
];

#[test]
fn every_reference_spelling_parses() {
    for args in SPELLINGS {
        let out = parses(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn bad_values_exit_2_with_the_usage_line() {
    for args in [
        &["-d", "ds", "crawl", "dir", "--existing", "sometimes"][..],
        &["-d", "ds", "maintenance", "shard", "--shards", "many"],
        &["-d", "ds", "maintenance", "shard"],
        &["-d", "ds", "maintenance", "optimize", "--retention-hours", "-1"],
        &["-d", "ds", "entities", "import", "--bulk-size", "lots"],
        &["-d", "ds", "make", "--flsh"],
    ] {
        let out =
            Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse")).args(args).env_remove("LAKEHOUSE_URI").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains("Usage: ftm-lakehouse"), "{args:?}: {stderr}");
    }
}

#[test]
fn the_later_of_a_pair_wins() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let donations = testkit::fixtures().join("donations.ftm.json");
    ok(run(lake, &["-d", "ds", "entities", "import", "-i", donations.to_str().unwrap()]));
    // `--exports` after `--no-exports`: the exports run.
    ok(run(lake, &["-d", "ds", "make", "--no-exports", "--exports", "--no-force-exports"]));
    assert!(lake.join("ds/entities.ftm.json").exists());
    // `--no-force` after `--force`: fresh, so skipped; the other way round it runs.
    let skipped = run(lake, &["-d", "ds", "export", "--force", "--no-force"]);
    assert!(
        String::from_utf8_lossy(&skipped.stderr).contains("up to date"),
        "{}",
        String::from_utf8_lossy(&skipped.stderr)
    );
    let forced = run(lake, &["-d", "ds", "export", "--no-force", "--force"]);
    assert!(
        String::from_utf8_lossy(&forced.stderr).contains("Exported"),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    // `--no-keys --checksums`: checksums; `--no-checksums --checksums --no-keys --keys`: keys.
    let source = tempfile::tempdir().unwrap();
    let files = source.path();
    std::fs::write(files.join("a.txt"), "a").unwrap();
    ok(run(lake, &["-d", "ds", "crawl", files.to_str().unwrap()]));
    let checksums = ok(run(lake, &["-d", "ds", "archive", "ls", "--keys", "--no-keys", "--checksums"]));
    assert_eq!(checksums, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb\n");
    let keys = ok(run(lake, &["-d", "ds", "archive", "ls", "--no-checksums", "--checksums", "--no-keys", "--keys"]));
    assert_eq!(keys, "a.txt\n");
}
