//! `exports/graph.cypher` (seed 002 storage layout): with `cypher: true` in the config, `make`
//! writes the dataset as the Cypher script followthemoney's `ftm export-cypher` writes for the
//! same entities (`tests/fixtures/donations.graph.cypher`, from `tools/gen-cypher-fixture.sh`),
//! line for line; labels and map keys are compared as sets (followthemoney's order changes
//! from run to run).

mod common;

use std::path::Path;

use common::{ok, run};

/// A line with its label list sorted and each `{ key: "value", … }` map's pairs sorted.
fn normal(line: &str) -> String {
    let (body, labels) = match line.rsplit_once(" SET p :") {
        Some((body, labels)) => {
            let mut names: Vec<&str> = labels.trim_end_matches(';').split(':').collect();
            names.sort_unstable();
            (body, format!(" SET p :{};", names.join(":")))
        }
        None => (line, String::new()),
    };
    let mut out = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("{ ") {
        out.push_str(&rest[..start]);
        let mut inner = &rest[start + 2..];
        let mut pairs: Vec<(String, String)> = Vec::new();
        while let Some((key, after)) = inner.split_once(": ") {
            let mut values = serde_json::Deserializer::from_str(after).into_iter::<String>();
            let value = values.next().unwrap().unwrap();
            pairs.push((key.to_string(), value));
            inner = &after[values.byte_offset()..];
            match inner.strip_prefix(", ") {
                Some(next) => inner = next,
                None => break,
            }
        }
        pairs.sort();
        out.push_str(&format!("{pairs:?}"));
        rest = inner.strip_prefix(" }").unwrap_or(inner);
    }
    out.push_str(rest);
    out + &labels
}

#[test]
fn make_writes_the_graph_ftm_export_cypher_writes() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let config = lake.join("cypher.yml");
    std::fs::write(&config, "cypher: true\n").unwrap();
    ok(run(lake, &["-d", "donations", "configure", "-c", config.to_str().unwrap()]));
    let sample = testkit::fixtures().join("donations.ftm.json");
    ok(run(lake, &["-d", "donations", "entities", "import", "-i", sample.to_str().unwrap()]));
    ok(run(lake, &["-d", "donations", "make"]));
    let ours = std::fs::read_to_string(lake.join("donations/exports/graph.cypher")).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/donations.graph.cypher");
    let theirs = std::fs::read_to_string(fixture).unwrap();
    assert!(theirs.lines().count() > 700, "{}", theirs.lines().count());
    let (ours, theirs): (Vec<String>, Vec<String>) =
        (ours.lines().map(normal).collect(), theirs.lines().map(normal).collect());
    for (n, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "line {}", n + 1);
    }
    assert_eq!(ours.len(), theirs.len());
    let tags = ok(run(lake, &["-d", "donations", "tags", "get", "exports/graph.cypher"]));
    assert!(tags.starts_with("\"20"), "{tags}");
}

#[test]
fn no_graph_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let sample = testkit::fixtures().join("donations.ftm.json");
    ok(run(lake, &["-d", "donations", "entities", "import", "-i", sample.to_str().unwrap()]));
    ok(run(lake, &["-d", "donations", "make"]));
    assert!(!lake.join("donations/exports/graph.cypher").exists());
}
