//! The query commands on the donations sample: `entities iterate` with `-q` and `--rql`,
//! `statements iterate` with slices and projections, `entities get`, `statements sql` and
//! `entities delete-origin`, run as a user runs them.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use common::{ok, run};

/// The one error line of a failed command, checked for exit code 1.
fn fails(out: Output) -> String {
    assert_eq!(out.status.code(), Some(1), "stdout: {}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    lines[0].to_string()
}

fn donations(lake: &Path) {
    let sample = testkit::fixtures().join("donations.ftm.json");
    ok(run(lake, &["-d", "donations", "entities", "import", "-i", sample.to_str().unwrap()]));
}

fn entities(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn ids(text: &str) -> Vec<String> {
    entities(text).iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
}

fn iterate(lake: &Path, flag: &str, query: &str) -> Vec<String> {
    ids(&ok(run(lake, &["-d", "donations", "entities", "iterate", flag, query])))
}

#[test]
fn iterate_queries() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    donations(lake);
    assert_eq!(iterate(lake, "-q", "filter:schema=Person").len(), 22);
    assert_eq!(iterate(lake, "--query", "exclude:schema=Payment").len(), 184);
    assert_eq!(iterate(lake, "--rql", "out(schema,(Person,Organization,Payment))").len(), 145);
    // The numbers of `amountEur` compare as numbers: the reference's text comparison finds 106.
    assert_eq!(
        iterate(lake, "--rql", "and(ge(properties.amountEur,100000),lt(properties.amountEur,200000))").len(),
        104
    );
    let sorted = ok(run(
        lake,
        &[
            "-d",
            "donations",
            "entities",
            "iterate",
            "-q",
            "filter:schema=Payment&sort=properties.amountEur:desc&limit=3",
        ],
    ));
    let amounts: Vec<String> =
        entities(&sorted).iter().map(|e| e["properties"]["amountEur"][0].as_str().unwrap().to_string()).collect();
    assert_eq!(amounts, ["2334526", "1215000", "1030898"]);
    // A slice without a sort is in entity id order.
    let all = iterate(lake, "-q", "filter:schema=Person");
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(iterate(lake, "-q", "filter:schema=Person&limit=3&offset=2"), all[2..5]);
    let projected = entities(&ok(run(
        lake,
        &["-d", "donations", "entities", "iterate", "--rql", "and(eq(schema,Person),select(properties.name))"],
    )));
    assert_eq!(projected.len(), 22);
    assert!(projected.iter().all(|e| e["properties"].as_object().unwrap().keys().eq(["name"])));
    // Errors: one line, exit 1; both flags: a usage error.
    assert_eq!(
        fails(run(lake, &["-d", "donations", "entities", "iterate", "-q", "filter:schema=Foo"])),
        "error: Invalid query: Invalid schema: `Foo`"
    );
    assert!(
        fails(run(lake, &["-d", "donations", "entities", "iterate", "--rql", "sort(name)"]))
            .contains("Unsupported RQL operator: `sort`")
    );
    let both = run(lake, &["-d", "donations", "entities", "iterate", "-q", "limit=1", "--rql", "eq(schema,Person)"]);
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn statements_iterate_slices_and_projects() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    donations(lake);
    let text = ok(run(
        lake,
        &[
            "-d",
            "donations",
            "statements",
            "iterate",
            "-q",
            "filter:schema=Person&sort=properties.name&limit=2&offset=1&select=properties.name",
        ],
    ));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let entity_ids: BTreeSet<&str> = rows.iter().map(|r| &r[col("entity_id")]).collect();
    assert_eq!(entity_ids.len(), 2);
    let props: BTreeSet<&str> = rows.iter().map(|r| &r[col("prop")]).collect();
    assert_eq!(props, BTreeSet::from(["id", "name"]));
    let names: Vec<&str> = rows.iter().filter(|r| &r[col("prop")] == "name").map(|r| &r[col("value")]).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    let all = ok(run(lake, &["-d", "donations", "statements", "iterate", "--rql", "eq(schema,Person)"]));
    assert!(all.lines().count() > rows.len() + 1);
}

/// `statements sql` with `--format`.
fn sql(lake: &Path, format: &str, query: &str) -> String {
    ok(run(lake, &["-d", "donations", "statements", "sql", "--format", format, query]))
}

#[test]
fn get_and_sql() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    donations(lake);
    let id = &iterate(lake, "-q", "filter:properties.name=MLPD")[0];
    let entity = entities(&ok(run(lake, &["-d", "donations", "entities", "get", id])));
    assert_eq!((entity.len(), entity[0]["caption"].as_str()), (1, Some("MLPD")));
    assert!(fails(run(lake, &["-d", "donations", "entities", "get", "nobody"])).contains("nobody"));
    assert!(fails(run(lake, &["-d", "donations", "entities", "get", id, "--origin", "crawl"])).contains("crawl"));
    ok(run(lake, &["-d", "donations", "entities", "get", id, "--origin", "bulk"]));

    let table = ok(run(
        lake,
        &[
            "-d",
            "donations",
            "statements",
            "sql",
            "SELECT schema, count(*) AS n FROM statement GROUP BY 1 ORDER BY 2 DESC",
        ],
    ));
    assert!(table.contains("| Payment      | 2030 |"), "{table}");
    assert!(table.ends_with("5 rows\n"), "{table}");
    let csv = sql(
        lake,
        "csv",
        "SELECT count(DISTINCT a.entity_id) AS payers FROM statement a JOIN statement b ON a.value = b.entity_id WHERE a.prop = 'payer'",
    );
    assert_eq!(csv.lines().next(), Some("payers"));
    assert!(csv.lines().nth(1).unwrap().parse::<u32>().unwrap() > 10);
    assert_eq!(sql(lake, "json", "SELECT count(*) AS n FROM statement_raw").trim(), r#"{"n":2857}"#);
    let json = sql(lake, "json", "SELECT count(*) AS n FROM statement WHERE canonical_id = entity_id");
    assert_eq!(json.trim(), r#"{"n":2857}"#);
    assert!(fails(run(lake, &["-d", "donations", "statements", "sql", "SELEC 1"])).contains("SELEC"));
    assert!(
        fails(run(lake, &["-d", "donations", "statements", "sql", "COPY (SELECT 1) TO '/tmp/out.csv'"]))
            .contains("COPY")
    );
}

#[test]
fn delete_origin_keeps_other_origins() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    donations(lake);
    let id = iterate(lake, "-q", "filter:properties.name=MLPD")[0].clone();
    let extra = format!(
        r#"{{"id": "{id}", "schema": "Organization", "properties": {{"country": ["de"], "name": ["MLPD e.V."]}}}}"#
    );
    let extra_file = dir.path().join("extra.json");
    std::fs::write(&extra_file, extra).unwrap();
    ok(run(lake, &["-d", "donations", "entities", "import", "--origin", "review", "-i", extra_file.to_str().unwrap()]));
    let names = |lake: &Path| {
        let e = entities(&ok(run(lake, &["-d", "donations", "entities", "get", &id])));
        e[0]["properties"]["name"].as_array().unwrap().len()
    };
    assert_eq!(names(lake), 2);
    assert!(fails(run(lake, &["-d", "donations", "entities", "delete-origin", "bad'quote"])).contains("origin"));
    ok(run(lake, &["-d", "donations", "entities", "delete-origin", "bulk"]));
    let left = iterate(lake, "-q", "");
    assert_eq!(left, std::slice::from_ref(&id));
    let entity = entities(&ok(run(lake, &["-d", "donations", "entities", "get", &id])));
    assert_eq!(entity[0]["properties"]["name"], serde_json::json!(["MLPD e.V."]));
    ok(run(lake, &["-d", "donations", "make"]));
    let exported = ok(run(lake, &["-d", "donations", "entities", "stream"]));
    assert_eq!(ids(&exported), [id]);
    let statements = ok(run(lake, &["-d", "donations", "statements", "stream"]));
    assert!(statements.lines().skip(1).all(|l| l.contains("\"review\"")), "{statements}");
}
