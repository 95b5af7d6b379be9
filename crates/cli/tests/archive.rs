//! `crawl` and `archive get / head / ls / download` through the binary (spec
//! `archive-and-crawl.md` §2–§4).

use std::path::Path;
use std::process::{Command, Output};

fn run(lake: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
        .args(["--uri", &lake.display().to_string(), "-d", "files"])
        .args(args)
        .env("LAKEHOUSE_JOURNAL_URI", format!("sqlite:///{}/journal.db", lake.display()))
        .output()
        .expect("run ftm-lakehouse")
}

fn ok(out: Output) -> Output {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

const PDF: &str = "32ca2800160763fbbcf42c0a4617e666c156583da1eb00b91b09afb3c654f055";

#[test]
fn crawl_then_read_the_archive_back() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let files = testkit::fixtures().join("files");
    let job_file = dir.path().join("job.json");
    ok(run(&lake, &["crawl", &files.display().to_string(), "-o", &job_file.display().to_string()]));
    let job: serde_json::Value = serde_json::from_slice(&std::fs::read(&job_file).unwrap()).unwrap();
    assert_eq!((job["name"].as_str(), job["done"].as_u64()), (Some("CrawlJob"), Some(3)));
    assert!(job.get("prefix").is_none(), "null fields are left out: {job}");

    let keys = ok(run(&lake, &["archive", "ls", "--keys"])).stdout;
    assert_eq!(String::from_utf8(keys).unwrap(), "example.pdf\ntestdir/test.txt\nutf.txt\n");
    let checksums = String::from_utf8(ok(run(&lake, &["archive", "ls", "--checksums"])).stdout).unwrap();
    assert_eq!(checksums.lines().count(), 3);
    let head = String::from_utf8(ok(run(&lake, &["archive", "head", PDF])).stdout).unwrap();
    let record: serde_json::Value = serde_json::from_str(head.trim()).unwrap();
    assert_eq!(record["key"], "example.pdf");
    let blob = ok(run(&lake, &["archive", "get", PDF])).stdout;
    assert_eq!(blob, std::fs::read(files.join("example.pdf")).unwrap());

    ok(run(&lake, &["make"]));
    let target = dir.path().join("out");
    ok(run(&lake, &["archive", "download", "-o", &target.display().to_string()]));
    assert_eq!(
        std::fs::read(target.join("testdir/test.txt")).unwrap(),
        std::fs::read(files.join("testdir/test.txt")).unwrap()
    );

    // An unknown checksum has no records; a bad one is one error line, exit 1.
    let unknown = "0".repeat(64);
    assert!(ok(run(&lake, &["archive", "head", &unknown])).stdout.is_empty());
    let out = run(&lake, &["archive", "get", &unknown]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&unknown));
    let out = run(&lake, &["archive", "get", "../../etc/passwd"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: Invalid checksum: '../../etc/passwd'"), "{err}");
    let out = run(&lake, &["crawl", &files.display().to_string(), "--existing", "sometimes"]);
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--existing"));
}
