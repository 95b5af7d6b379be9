//! Tags per tenant (seed 002 "Tenant usage"): each client's tags live in `tags/{tenant}/`,
//! invisible to other tenants; the lake's own tenant is read-only to clients, and its freshness
//! keeps working beside them.

mod common;

use std::path::Path;
use std::process::Output;

use common::{ok, run};

fn tags(lake: &Path, args: &[&str]) -> Output {
    let mut full = vec!["-d", "donations", "tags"];
    full.extend_from_slice(args);
    run(lake, &full)
}

fn failed(out: Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn tenants_see_only_their_own_tags_and_make_stays_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let sample = testkit::fixtures().join("donations.ftm.json");
    ok(run(lake, &["-d", "donations", "entities", "import", "-i", sample.to_str().unwrap()]));
    ok(run(lake, &["-d", "donations", "make"]));

    ok(tags(lake, &["set", "crawl/last_run", "2026-01-02T03:04:05+00:00", "--tenant", "memorious"]));
    ok(tags(lake, &["set", "index/done", "--tenant", "openaleph"]));
    let memorious = ok(tags(lake, &["ls", "--tenant", "memorious"]));
    assert_eq!(memorious, "crawl/last_run\t\"2026-01-02T03:04:05+00:00\"\n");
    assert_eq!(ok(tags(lake, &["get", "crawl/last_run", "--tenant", "memorious"])), "\"2026-01-02T03:04:05+00:00\"\n");
    assert!(failed(tags(lake, &["get", "crawl/last_run", "--tenant", "openaleph"])).contains("is not set"));
    let openaleph = ok(tags(lake, &["ls", "--tenant", "openaleph"]));
    assert!(openaleph.starts_with("index/done\t\"") && openaleph.lines().count() == 1, "{openaleph}");

    // The lake's own tags are listed under `lakehouse`, without the tenants'; clients cannot
    // write them.
    let own = ok(tags(lake, &["ls"]));
    assert!(own.contains("statements/last_updated\t") && own.contains("operations/make/last_run\t"), "{own}");
    assert!(!own.contains("crawl/last_run") && !own.contains("index/done"));
    assert_eq!(ok(tags(lake, &["ls", "--prefix", "operations/make"])).lines().count(), 1);
    let refused = failed(tags(lake, &["set", "statements/last_updated", "--tenant", "lakehouse"]));
    assert!(refused.contains("are the lake's own"), "{refused}");
    assert!(failed(tags(lake, &["set", "x", "--tenant", "../escape"])).contains("Invalid tenant"));
    assert!(failed(tags(lake, &["set", "x", "not a time", "--tenant", "t"])).contains("not an ISO 8601 time"));

    let again = run(lake, &["-d", "donations", "make"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("up to date"));
    ok(tags(lake, &["delete", "crawl/last_run", "--tenant", "memorious"]));
    assert_eq!(ok(tags(lake, &["ls", "--tenant", "memorious"])), "");
}
