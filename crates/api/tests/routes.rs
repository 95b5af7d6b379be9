//! The API server driven over HTTP on 127.0.0.1: every lakehouse route, the errors of spec
//! `interfaces.md` §3.7, credentials, the body limit, the docs.

mod common;

use common::{Running, body, donations, post_bulk, post_json};
use lakehouse_api::ApiSettings;
use serde_json::Value;

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_flush_query_delete_and_operate() {
    let dir = tempfile::tempdir().unwrap();
    let server = Running::start(dir.path(), ApiSettings::default()).await;
    let rows = donations("don", 50);
    let post = |path: &str| server.client.post(server.at(path)).send();

    let ensured = post("/don/_api/ensure").await.unwrap();
    assert_eq!((ensured.status().as_u16(), ensured.text().await.unwrap()), (200, "ok".to_string()));
    assert!(dir.path().join("don/config.yml").exists(), "ensure writes the config");
    let version = server.client.get(server.at("/don/_api/entities/statements/version")).send().await.unwrap();
    assert_eq!(version.text().await.unwrap(), "", "no table yet");

    assert_eq!(post_bulk(&server, "don", &rows).await, rows.len() as u64);
    let empty = server.client.post(server.at("/don/_api/journal/bulk")).send().await.unwrap();
    assert_eq!(empty.text().await.unwrap(), "0");
    // Queries read the store: the journal's rows show after a flush (here: flush_first).
    let (status, text) = post_json(&server, "/don/_api/entities/query", "{}").await;
    assert_eq!((status, text.as_str()), (200, ""));
    let (status, text) =
        post_json(&server, "/don/_api/entities/query", r#"{"flush_first": true, "query": null}"#).await;
    assert_eq!(status, 200);
    let entities = lines(&text);
    assert_eq!(entities.len(), 50);
    let keys: Vec<&str> = entities[0]["statements"][0].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "canonical_id",
            "entity_id",
            "prop",
            "schema",
            "value",
            "dataset",
            "lang",
            "original_value",
            "first_seen",
            "last_seen",
            "external",
            "origin",
            "id"
        ]
    );
    assert!(entities.iter().all(|e| e["statements"].as_array().unwrap().iter().all(|s| s["prop"] != "id")));
    let version = server.client.get(server.at("/don/_api/entities/statements/version")).send().await.unwrap();
    assert!(version.text().await.unwrap().parse::<u64>().is_ok(), "a table now");

    // Statement rows: every column, the checksum rows too.
    let (_, text) = post_json(&server, "/don/_api/entities/statements/query", "{}").await;
    let statements = lines(&text);
    assert_eq!(statements.len(), rows.len());
    assert_eq!(statements[0].as_object().unwrap().keys().next().unwrap(), "shard");
    assert!(statements.iter().any(|s| s["prop"] == "id") && statements.iter().all(|s| s["deleted_at"].is_null()));

    // A query in the JSON form, sliced.
    let person = r#"{"query": {"q": {"and": [{"leaf": {"t": "M", "f": "schema", "op": "eq", "v": "Person"}}]}, "limit": 2, "offset": 0}}"#;
    let (_, text) = post_json(&server, "/don/_api/entities/query", person).await;
    let people = lines(&text);
    assert!(!people.is_empty() && people.len() <= 2 && people.iter().all(|e| e["schema"] == "Person"), "{text}");

    let stats: Value =
        server.client.get(server.at("/don/_api/entities/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["entity_count"], 50);
    let keys: Vec<&str> = stats.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["things", "intervals", "entity_count", "start", "end", "countries"]);

    // Delete one entity: tombstones, visible after the next flush.
    let id = entities[0]["id"].as_str().unwrap();
    let deleted = server.client.delete(server.at(&format!("/don/_api/entities/{id}"))).send().await.unwrap();
    assert!(deleted.text().await.unwrap().parse::<u64>().unwrap() > 0);
    let unknown = server.client.delete(server.at("/don/_api/entities/nothing?origin=bulk")).send().await.unwrap();
    assert_eq!(unknown.text().await.unwrap(), "0");
    assert!(post("/don/_api/entities/flush").await.unwrap().text().await.unwrap().parse::<u64>().unwrap() > 0);
    let (_, text) = post_json(&server, "/don/_api/entities/query", "{}").await;
    assert_eq!(lines(&text).len(), 49);

    // Operations: each job's final record; a second optimize is skipped; force runs it again.
    let operate = |body: &'static str, query: &'static str| {
        let request = server.client.post(server.at(&format!("/don/_api/operations{query}")));
        async move {
            let response = request.body(body).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };
    let (status, text) = operate(r#"{"name": "OptimizeJob", "dataset": "ignored"}"#, "").await;
    let job: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((status, job["done"].as_u64(), job["dataset"].as_str()), (200, Some(2), Some("don")), "{text}");
    assert_eq!(job.as_object().unwrap().keys().next_back().unwrap(), "name");
    let (_, text) = operate(r#"{"name": "OptimizeJob"}"#, "").await;
    let skipped: Value = serde_json::from_str(&text).unwrap();
    assert!(skipped["started"].is_null() && skipped["done"] == 0, "{text}");
    let (_, text) = operate(r#"{"name": "OptimizeJob"}"#, "?force=true").await;
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["done"], 2);
    let (_, text) = operate(r#"{"name": "ExportJob"}"#, "").await;
    let export: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(export["result"]["entities"], 49, "{text}");
    assert!(dir.path().join("don/exports/statements.csv").exists());
    let (_, text) = operate(r#"{"name": "MakeJob"}"#, "?force=1").await;
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["name"], "MakeJob");
    // A client's run id names the run (and its record); the make's own export mints its own.
    let (_, text) = operate(r#"{"name": "MakeJob", "run_id": "client-run-1"}"#, "?force=1").await;
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["run_id"], "client-run-1", "{text}");
    let runs = dir.path().join("don/jobs/runs");
    assert!(runs.join("MakeJob/client-run-1.json").exists());
    assert!(!runs.join("ExportJob/client-run-1.json").exists());
    let (status, text) = operate(r#"{"name": "OptimizeJob", "run_id": "../../escape"}"#, "").await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("run_id\\n  a run id is one path segment"), "{text}");
    assert!(!dir.path().join("escape.json").exists() && !dir.path().join("don/jobs/escape.json").exists());
    assert_eq!(operate(r#"{"name": "FooJob"}"#, "").await, (400, r#"{"detail":"Unknown operation: `FooJob`"}"#.into()));
    assert_eq!(operate(r#"{"dataset": "don"}"#, "").await, (400, r#"{"detail":"Unknown operation: `None`"}"#.into()));
    assert_eq!(operate("[1]", "").await.0, 400);
    assert_eq!(operate("nope", "").await.0, 400);
    let (status, text) = operate(r#"{"name": "CrawlJob"}"#, "").await;
    assert_eq!(status, 400);
    assert!(text.contains("1 validation error for CrawlJob\\nuri\\n  Field required"), "{text}");
    let (status, text) = operate(r#"{"name": "ShardJob", "shards": 4}"#, "").await;
    let job: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((status, job["shards"].as_u64(), job["done"].as_u64()), (200, Some(4), Some(1)), "{text}");
    assert!(std::fs::read_to_string(dir.path().join("don/config.yml")).unwrap().contains("shards: 4"));
    let (_, text) = operate(r#"{"name": "ShardJob", "shards": 4}"#, "").await;
    assert!(serde_json::from_str::<Value>(&text).unwrap()["started"].is_null(), "fresh: {text}");
    let (status, text) = operate(r#"{"name": "ShardJob"}"#, "").await;
    assert_eq!(status, 400);
    assert!(text.contains("1 validation error for ShardJob\\nshards\\n  Field required"), "{text}");
    let (status, text) = operate(r#"{"name": "MigrateJob"}"#, "").await;
    let job: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((status, job["name"].as_str(), job["done"].as_u64()), (200, Some("MigrateJob"), Some(4)), "{text}");
    assert!(
        serde_json::from_str::<Value>(&operate(r#"{"name": "MigrateJob"}"#, "").await.1).unwrap()["started"].is_null()
    );
    let (status, text) = operate(r#"{"name": "MakeJob"}"#, "?force=maybe").await;
    assert_eq!(status, 422);
    assert!(text.contains("bool_parsing"), "{text}");

    // Dropping the origin empties the store.
    let dropped = server.client.delete(server.at("/don/_api/entities/origins/bulk")).send().await.unwrap();
    assert_eq!(dropped.text().await.unwrap(), "ok");
    let (_, text) = post_json(&server, "/don/_api/entities/query", "{}").await;
    assert_eq!(text, "");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_spec_status_and_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let settings = ApiSettings { query_max_filter_keys: 2, query_max_in_values: 3, ..ApiSettings::default() };
    let server = Running::start(dir.path(), settings).await;
    let detail = |text: &str| serde_json::from_str::<Value>(text).unwrap()["detail"].clone();

    let (status, text) = post_json(&server, "/Bad-Name/_api/entities/flush", "").await;
    assert_eq!(status, 400);
    assert!(detail(&text).as_str().unwrap().starts_with("Invalid dataset name: 'Bad-Name'"), "{text}");
    let (status, text) = post_json(&server, "/default/_api/entities/flush", "").await;
    assert_eq!((status, detail(&text).as_str().unwrap()), (400, "Invalid dataset name: 'default' (reserved)"));
    let bad_origin = server.client.delete(server.at("/don/_api/entities/origins/bad'quote")).send().await.unwrap();
    assert_eq!(bad_origin.status(), 400);
    // Unknown datasets read as empty and are not created.
    let (status, text) = post_json(&server, "/ghost/_api/entities/query", "{}").await;
    assert_eq!((status, text.as_str()), (200, ""));
    let stats: Value =
        server.client.get(server.at("/ghost/_api/entities/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!((stats["entity_count"].as_u64(), stats["start"].is_null()), (Some(0), true));
    assert!(!dir.path().join("ghost").exists());

    // Journal bodies: not Arrow, a column missing, rows of another dataset, a bad origin.
    let post_body = |path: &str, bytes: Vec<u8>| server.client.post(server.at(path)).body(bytes).send();
    let response = post_body("/don/_api/journal/bulk", b"garbage".to_vec()).await.unwrap();
    assert_eq!(response.status(), 400);
    let mut rows = donations("don", 1);
    let arrow = body(&rows);
    let response = post_body("/don/_api/journal/bulk", arrow[..arrow.len() / 2].to_vec()).await.unwrap();
    assert_eq!(response.status(), 400, "a truncated stream");
    let response = post_body("/other/_api/journal/bulk", arrow.clone()).await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("dataset `don` is not `other`"));
    rows[0].origin = Some("bad/origin".into());
    let response = post_body("/don/_api/journal/bulk", body(&rows)).await.unwrap();
    assert_eq!(response.status(), 400);
    let count = post_json(&server, "/don/_api/entities/flush", "").await.1;
    assert_eq!(count, "0", "nothing of a refused bulk was kept");

    // Query bodies: the validation list.
    for (body, kind) in [
        ("{bad", "json_invalid"),
        ("[]", "model_attributes_type"),
        (r#"{"query": {}, "x": 1}"#, "extra_forbidden"),
        (r#"{"query": {"foo": 1}}"#, "value_error"),
        (r#"{"query": {"q": {"and": [{"leaf": {"t": "M", "f": "schema", "op": "eq", "v": "Foo"}}]}}}"#, "value_error"),
        (
            r#"{"query": {"q": {"and": [{"leaf": {"t": "M", "f": "id", "op": "in", "v": ["a", "b", "c", "d"]}}]}}}"#,
            "value_error",
        ),
    ] {
        let (status, text) = post_json(&server, "/don/_api/entities/query", body).await;
        assert_eq!(status, 422, "{body}: {text}");
        assert_eq!(detail(&text)[0]["type"], kind, "{body}: {text}");
    }
    let three = r#"{"query": {"q": {"and": [{"leaf": {"t": "M", "f": "schema", "op": "eq", "v": "Person"}},
        {"leaf": {"t": "P", "f": "name", "op": "eq", "v": "a"}}, {"leaf": {"t": "P", "f": "country", "op": "eq", "v": "de"}}]}}}"#;
    let (_, text) = post_json(&server, "/don/_api/entities/statements/query", three).await;
    assert_eq!(detail(&text)[0]["msg"], "Value error, query has 3 filter conditions; maximum is 2");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_body_limit_and_docs() {
    let dir = tempfile::tempdir().unwrap();
    let settings = ApiSettings {
        credentials: Some(("key".into(), "secret".into())),
        max_body_bytes: 64 << 10,
        title: "Test lake".into(),
        ..ApiSettings::default()
    };
    let server = Running::start(dir.path(), settings).await;
    let flush = |key: Option<&str>, secret: Option<&str>| {
        let mut request = server.client.post(server.at("/don/_api/entities/flush"));
        if let Some(key) = key {
            request = request.header("X-Api-Key", key);
        }
        if let Some(secret) = secret {
            request = request.header("X-Api-Secret", secret);
        }
        request.send()
    };
    assert_eq!(flush(None, None).await.unwrap().status(), 401);
    assert_eq!(flush(Some("key"), None).await.unwrap().status(), 401);
    assert_eq!(flush(Some("key"), Some("wrong")).await.unwrap().status(), 401);
    assert_eq!(flush(Some("kex"), Some("secret")).await.unwrap().status(), 401);
    assert_eq!(flush(Some("key"), Some("secret")).await.unwrap().status(), 200);
    let blob = server.client.get(server.at("/don/config.yml")).send().await.unwrap();
    assert_eq!(blob.status(), 401, "blob requests are checked too");

    let authed = |request: reqwest::RequestBuilder| request.header("X-Api-Key", "key").header("X-Api-Secret", "secret");
    let big = vec![b'x'; 100 << 10];
    let response = authed(server.client.put(server.at("/don/big.bin"))).body(big.clone()).send().await.unwrap();
    assert_eq!(response.status(), 413, "a blob over the limit");
    assert!(!dir.path().join("don/big.bin").exists());
    let response = authed(server.client.post(server.at("/don/_api/journal/bulk"))).body(big).send().await.unwrap();
    assert_eq!(response.status(), 413, "a bulk over the limit");
    // A streamed body (no content length) over the limit.
    let chunks = futures::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 8 << 10])));
    let response =
        authed(server.client.put(server.at("/don/streamed.bin"))).body(reqwest::Body::wrap_stream(chunks)).send().await;
    // The server answers 413 as soon as the limit is passed and closes the connection; a client
    // still sending may see the close before the answer.
    assert!(response.as_ref().map_or(true, |r| r.status() == 413), "{response:?}");
    assert!(!dir.path().join("don/streamed.bin").exists());

    // The closed connection may still sit in the client's pool: ask on a fresh client.
    let client = reqwest::Client::new();
    let doc: Value = authed(client.get(server.at("/openapi.json"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["info"]["title"], "Test lake");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/{dataset}/_api/ensure",
        "/{dataset}/_api/journal/bulk",
        "/{dataset}/_api/entities/flush",
        "/{dataset}/_api/entities/query",
        "/{dataset}/_api/entities/statements/query",
        "/{dataset}/_api/entities/stats",
        "/{dataset}/_api/entities/statements/version",
        "/{dataset}/_api/entities/origins/{origin}",
        "/{dataset}/_api/entities/{entity_id}",
        "/{dataset}/_api/operations",
        "/{key}",
    ] {
        assert!(paths.contains_key(path), "{path} missing from {:?}", paths.keys());
    }
    let page = authed(client.get(server.at("/"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Test lake") && page.contains("/{dataset}/_api/journal/bulk"), "{page}");
    assert!(!page.contains("<script"), "the page works offline");
    server.stop().await;
}
