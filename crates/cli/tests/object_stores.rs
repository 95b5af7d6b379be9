//! The lake in a bucket: the main job (crawl, import, `make`, a second import and `make` with
//! diffs, archive get and download) on S3 and Azure servers gives what the same run gives on
//! local disk; crawls of bucket and HTTP sources; two writers on one S3 lake; a stale fence in
//! a bucket; bad URIs.
//!
//! The servers run on 127.0.0.1 (`eval "$(bash .ci/object-stores.sh)"` starts them and sets the
//! clients' environment); every test works under a fresh prefix of the bucket `FTM_TEST_BUCKET`.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

use lakehouse::storage::object_io::{ObjectReader, ObjectWriter};
use serde_json::Value;

fn bucket() -> String {
    std::env::var("FTM_TEST_BUCKET")
        .expect("FTM_TEST_BUCKET must name a bucket on the test servers: run `eval \"$(bash .ci/object-stores.sh)\"`")
}

/// A lake URI under a fresh prefix of the test bucket on `store` (`s3`, `azure`).
fn remote_lake(store: &str) -> String {
    let scheme = match store {
        "s3" => "s3",
        "azure" => "az",
        other => panic!("unknown test store {other}"),
    };
    format!("{scheme}://{}/{}", bucket(), uuid::Uuid::new_v4().simple())
}

fn run_env(lake: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"));
    command.arg("--uri").arg(lake).args(args).env_remove("LAKEHOUSE_URI");
    command.env("LAKEHOUSE_JOURNAL_URI", "sqlite:///:memory:");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn run(lake: &str, args: &[&str]) -> Output {
    run_env(lake, args, &[])
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "command failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn failed(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "expected a failure, got: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The bytes of `key` in the lake at `lake` (a local path or a URI), `None` when absent.
fn fetch(lake: &str, key: &str) -> Option<Vec<u8>> {
    if !lake.contains("://") {
        return std::fs::read(Path::new(lake).join(key)).ok();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let uri = format!("{lake}/{key}");
    runtime.block_on(async move {
        tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            ObjectReader::open_url(&uri).ok()?.read_to_end(&mut bytes).ok()?;
            Some(bytes)
        })
        .await
        .unwrap()
    })
}

fn text(lake: &str, key: &str) -> String {
    String::from_utf8(fetch(lake, key).unwrap_or_else(|| panic!("{lake}/{key} is missing"))).unwrap()
}

/// CSV rows of `key` without the columns named in `skip`, sorted.
fn csv_rows(lake: &str, key: &str, skip: &[&str]) -> Vec<Vec<String>> {
    let body = text(lake, key);
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let mut rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            headers.iter().zip(r.iter()).filter(|(h, _)| !skip.contains(h)).map(|(_, v)| v.to_string()).collect()
        })
        .collect();
    rows.sort();
    rows
}

/// JSON lines without their run-dependent timestamps.
fn json_lines(body: &str) -> Vec<Value> {
    body.lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let entity = if v.get("entity").is_some() { &mut v["entity"] } else { &mut v };
            if let Some(fields) = entity.as_object_mut() {
                for key in ["first_seen", "last_seen", "last_change"] {
                    fields.remove(key);
                }
            }
            v
        })
        .collect()
}

/// The files under a local folder, by relative path.
fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in walk(root) {
        let key = entry.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        out.insert(key, std::fs::read(&entry).unwrap());
    }
    out
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

/// The main job on `lake`: crawl the sample files, import donations, make; then one changed
/// entity, make again (diffs). Returns the diff entries of the second make.
fn main_job(lake: &str, work: &Path) -> Vec<Value> {
    let files = testkit::fixtures().join("files");
    let sample = testkit::fixtures().join("donations.ftm.json");
    let config = work.join("public.yml");
    std::fs::write(&config, "public_url_prefix: https://data.example.org/donations\n").unwrap();
    ok(run(lake, &["-d", "donations", "configure", "-c", config.to_str().unwrap()]));
    ok(run(lake, &["-d", "donations", "crawl", files.to_str().unwrap()]));
    ok(run(lake, &["-d", "donations", "entities", "import", "-i", sample.to_str().unwrap()]));
    ok(run(lake, &["-d", "donations", "make"]));
    let changed = work.join("changed.json");
    std::fs::write(&changed, "{\"id\": \"zz-new\", \"schema\": \"Person\", \"properties\": {\"name\": [\"New\"]}}\n")
        .unwrap();
    ok(run(lake, &["-d", "donations", "entities", "import", "-i", changed.to_str().unwrap()]));
    ok(run(lake, &["-d", "donations", "make"]));
    let index: Value = serde_json::from_slice(&fetch(lake, "donations/index.json").unwrap()).unwrap();
    assert_eq!(index["entity_count"], 479, "474 imported, 3 crawled documents and their folder, 1 new");
    let state = text(lake, "donations/tags/lakehouse/diffs/entities.ftm.json-current");
    let ts = state.trim_matches('"').rsplit_once(':').unwrap().0.to_string();
    json_lines(&text(lake, &format!("donations/diffs/entities.ftm.json/{ts}.delta.json")))
}

fn same_as_local(store: &str) {
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("lake").to_string_lossy().into_owned();
    let remote = remote_lake(store);
    let local_diff = main_job(&local, work.path());
    let remote_diff = main_job(&remote, work.path());
    assert_eq!(remote_diff, local_diff, "{store}: the second make's diff");
    assert!(remote_diff.iter().any(|e| e["entity"]["id"] == "zz-new"));

    let ds = |lake: &str| format!("{lake}/donations");
    let (l, r) = (ds(&local), ds(&remote));
    let timestamps = ["first_seen", "last_seen"];
    assert_eq!(
        csv_rows(&r, "exports/statements.csv", &timestamps),
        csv_rows(&l, "exports/statements.csv", &timestamps)
    );
    assert_eq!(json_lines(&text(&r, "entities.ftm.json")), json_lines(&text(&l, "entities.ftm.json")));
    for key in ["exports/documents.csv", "exports/documents.crawl.csv"] {
        assert_eq!(csv_rows(&r, key, &["updated_at"]), csv_rows(&l, key, &["updated_at"]), "{store}: {key}");
    }
    assert_eq!(text(&r, "exports/parents.csv"), text(&l, "exports/parents.csv"));
    assert_eq!(text(&r, "exports/statistics.json"), text(&l, "exports/statistics.json"));
    let index: Value = serde_json::from_str(&text(&r, "index.json")).unwrap();
    assert_eq!(index["uri"], format!("{remote}/donations"));
    // The index lists every artifact with the checksum and size of the stored bytes.
    for lake in [&l, &r] {
        let index: Value = serde_json::from_str(&text(lake, "index.json")).unwrap();
        let resources = index["resources"].as_array().unwrap();
        assert_eq!(resources.len(), 6, "{store}: {resources:?}");
        for resource in resources {
            let key = resource["url"].as_str().unwrap().strip_prefix("https://data.example.org/donations/").unwrap();
            let bytes = fetch(lake, key).unwrap();
            assert_eq!(resource["size"], bytes.len(), "{lake}/{key}");
            let checksum = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&bytes));
            assert_eq!(resource["checksum"], checksum, "{lake}/{key}");
        }
    }

    // Archive: get and download give the files back.
    let documents = csv_rows(&r, "exports/documents.csv", &[]);
    let utf = documents.iter().find(|row| row[2] == "utf.txt").expect("utf.txt was crawled");
    let got = run(&remote, &["-d", "donations", "archive", "get", &utf[1]]);
    assert_eq!(got.stdout, std::fs::read(testkit::fixtures().join("files/utf.txt")).unwrap());
    let (into_local, into_remote) = (work.path().join("from-local"), work.path().join("from-remote"));
    for (lake, target) in [(&local, &into_local), (&remote, &into_remote)] {
        ok(run(lake, &["-d", "donations", "archive", "download", "-o", target.to_str().unwrap()]));
    }
    assert_eq!(files_under(&into_remote), files_under(&into_local));
    assert_eq!(files_under(&into_remote), files_under(&testkit::fixtures().join("files")));
    // Into a bucket too.
    let target = format!("{remote}-download");
    ok(run(&remote, &["-d", "donations", "archive", "download", "-o", &target]));
    for (key, bytes) in files_under(&into_local) {
        assert_eq!(fetch(&target, &key).as_deref(), Some(bytes.as_slice()), "{store}: downloaded {key}");
    }
    // The read commands read the bucket.
    let streamed = ok(run(&remote, &["-d", "donations", "entities", "stream"]));
    assert_eq!(json_lines(&streamed), json_lines(&text(&l, "entities.ftm.json")));
    let listed = ok(run(&remote, &["ls"]));
    assert_eq!(listed.trim(), "donations");
}

#[test]
fn main_job_on_s3_equals_local_disk() {
    same_as_local("s3");
}

#[test]
fn main_job_on_azure_equals_local_disk() {
    same_as_local("azure");
}

/// Writes `bytes` to the object `uri`.
fn put(uri: &str, bytes: &[u8]) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (uri, bytes) = (uri.to_string(), bytes.to_vec());
    runtime.block_on(async move {
        tokio::task::spawn_blocking(move || {
            let mut writer = ObjectWriter::create(&uri).unwrap();
            std::io::Write::write_all(&mut writer, &bytes).unwrap();
            writer.finish().unwrap();
        })
        .await
        .unwrap()
    });
}

#[test]
fn crawls_of_bucket_and_http_sources() {
    let work = tempfile::tempdir().unwrap();
    let files = testkit::fixtures().join("files");
    let source = format!("{}-src", remote_lake("s3"));
    for (key, bytes) in files_under(&files) {
        put(&format!("{source}/{key}"), &bytes);
    }
    let lake = |name: &str| work.path().join(name).to_string_lossy().into_owned();
    ok(run(&lake("from-folder"), &["-d", "ds", "crawl", files.to_str().unwrap()]));
    ok(run(&lake("from-bucket"), &["-d", "ds", "crawl", &source]));
    for name in ["from-folder", "from-bucket"] {
        ok(run(&lake(name), &["-d", "ds", "export"]));
    }
    let documents = |name: &str| csv_rows(&format!("{}/ds", lake(name)), "exports/documents.csv", &["updated_at"]);
    assert_eq!(documents("from-bucket"), documents("from-folder"));
    assert_eq!(documents("from-bucket").len(), 3);

    // One object, its name with a space and a non-ASCII letter, given as the URI.
    let odd = format!("{}-odd", remote_lake("s3"));
    put(&format!("{odd}/Ü b.txt"), b"odd name\n");
    ok(run(&lake("from-object"), &["-d", "ds", "crawl", &format!("{odd}/Ü b.txt")]));
    ok(run(&lake("from-object"), &["-d", "ds", "export"]));
    let object = documents("from-object");
    assert_eq!((object.len(), object[0][2].as_str()), (1, "Ü b.txt"));

    // One file over HTTP, from Python's file server.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
        .arg(&files)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 serves the files over HTTP");
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let crawled = run(&lake("from-http"), &["-d", "ds", "crawl", &format!("{base}/testdir/test.txt")]);
    let missing = run(&lake("from-http"), &["-d", "ds", "crawl", &format!("{base}/nope.txt")]);
    server.kill().ok();
    server.wait().ok();
    ok(crawled);
    ok(run(&lake("from-http"), &["-d", "ds", "export"]));
    let http = documents("from-http");
    assert_eq!(http.len(), 1);
    assert_eq!(
        http[0][1..4],
        ["b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9", "test.txt", "text/plain"]
    );
    assert!(failed(&missing).contains("nope.txt"));
}

#[test]
fn two_writers_on_one_s3_lake() {
    let work = tempfile::tempdir().unwrap();
    let lake = remote_lake("s3");
    let inputs: Vec<_> = (0..2)
        .map(|n| {
            let path = work.path().join(format!("part{n}.json"));
            let lines: Vec<String> = (0..3000)
                .map(|i| {
                    format!(
                        "{{\"id\": \"p{n}-{i}\", \"schema\": \"Person\", \"properties\": {{\"name\": [\"N {i}\"]}}}}"
                    )
                })
                .collect();
            std::fs::write(&path, lines.join("\n")).unwrap();
            path
        })
        .collect();
    // Both start before either ends: the table is created by one, and each commit lands.
    let children: Vec<_> = inputs
        .iter()
        .map(|input| {
            Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
                .args(["--uri", &lake, "-d", "ds", "entities", "import", "--bulk-size", "2000"])
                .args(["-i", input.to_str().unwrap()])
                .env("LAKEHOUSE_JOURNAL_URI", "sqlite:///:memory:")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        ok(child.wait_with_output().unwrap());
    }
    let out = ok(run(&lake, &["-d", "ds", "entities", "iterate"]));
    assert_eq!(out.lines().count(), 6000, "both imports landed");
    let first = text(&lake, "ds/statements/_delta_log/00000000000000000000.json");
    assert_eq!(first.matches("\"metaData\"").count(), 1, "the table was created once");

    // A merge waits for an append's marker, and gives up naming it.
    let marker = format!("{lake}/ds/.LOCK-APPENDS/in-flight");
    put(&marker, b"\"2026-01-01T00:00:00+00:00\"");
    let fast = [("LAKEHOUSE_LOCK_MAX_RETRIES", "1")];
    let busy = run_env(&lake, &["-d", "ds", "maintenance", "optimize"], &fast);
    assert!(failed(&busy).contains(".LOCK-APPENDS/in-flight"));
    // A stale lock: appends refuse with the way out, unlock clears it.
    put(&format!("{lake}/ds/.LOCK"), b"\"2026-01-01T00:00:00+00:00\"");
    let blocked = run_env(&lake, &["-d", "ds", "entities", "import", "-i", inputs[0].to_str().unwrap()], &fast);
    let message = failed(&blocked);
    assert!(message.contains("`.LOCK`") && message.contains("maintenance unlock"), "{message}");
    assert!(fetch(&lake, "ds/.LOCK").is_some() && fetch(&lake, "ds/.LOCK-APPENDS/in-flight").is_some());
    ok(run(&lake, &["-d", "ds", "maintenance", "unlock"]));
    assert!(fetch(&lake, "ds/.LOCK").is_none(), "unlock removes the lock");
    assert!(fetch(&lake, "ds/.LOCK-APPENDS/in-flight").is_none(), "unlock removes stale append markers");
    ok(run(&lake, &["-d", "ds", "make"]));
    assert_eq!(text(&lake, "ds/entities.ftm.json").lines().count(), 6000);
}

#[test]
fn bad_lake_uris_are_named() {
    let out = run("ftp://host/lake", &["ls"]);
    let message = failed(&out);
    assert!(message.contains("ftp://host/lake") && message.contains("unknown scheme"), "{message}");
    let missing = format!("s3://no-such-bucket-{}/lake", uuid::Uuid::new_v4().simple());
    let out = run(&missing, &["-d", "ds", "entities", "import", "-i", "/dev/null"]);
    let message = failed(&out);
    assert!(message.contains("no-such-bucket"), "{message}");
    let out = run_env(&remote_lake("s3"), &["ls"], &[("AWS_ENDPOINT_URL", "http://127.0.0.1:9")]);
    let message = failed(&out);
    assert!(message.contains("127.0.0.1:9"), "{message}");
    let out = run_env(
        &remote_lake("azure"),
        &["ls"],
        &[
            ("AZURE_STORAGE_ACCOUNT_KEY", "d3Jvbmcga2V5IGZvciB0aGUgdGVzdA=="),
            ("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1"),
        ],
    );
    let message = failed(&out);
    assert!(message.to_lowercase().contains("auth") || message.contains("403"), "{message}");
}

#[test]
fn inputs_and_outputs_in_a_bucket() {
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("lake").to_string_lossy().into_owned();
    let bucket = remote_lake("s3");
    let sample = std::fs::read(testkit::fixtures().join("donations.ftm.json")).unwrap();
    put(&format!("{bucket}/in/donations.ftm.json"), &sample);
    put(&format!("{bucket}/in/config.yml"), b"title: Donations from a bucket\n");
    ok(run(&local, &["-d", "ds", "configure", "-c", &format!("{bucket}/in/config.yml")]));
    ok(run(&local, &["-d", "ds", "entities", "import", "-i", &format!("{bucket}/in/donations.ftm.json")]));
    ok(run(&local, &["-d", "ds", "make"]));
    let out = format!("{bucket}/out/entities.json");
    ok(run(&local, &["-d", "ds", "entities", "iterate", "-o", &out]));
    let written = text(&bucket, "out/entities.json");
    assert_eq!(written.lines().count(), 474);
    let config = text(&format!("{local}/ds"), "config.yml");
    assert!(config.contains("Donations from a bucket"), "{config}");
    let missing = run(&local, &["-d", "ds", "entities", "import", "-i", &format!("{bucket}/in/nope.json")]);
    assert!(failed(&missing).contains("nope.json"));
}
