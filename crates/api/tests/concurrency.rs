//! Many clients at once: eight posting journal bulks while a ninth queries; afterwards every
//! acknowledged statement is in the export. A query streams while writes and flushes go on.

mod common;

use std::collections::HashSet;

use common::{Running, donations, post_bulk, post_json};
use lakehouse_api::ApiSettings;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_writers_and_a_reader_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = std::sync::Arc::new(Running::start(dir.path(), ApiSettings::default()).await);
    let rows = donations("don", 474);
    let mut acknowledged = HashSet::new();
    let mut writers = Vec::new();
    for client in 0..8 {
        // Each writer posts its own share of the entities, in bulks of a few entities each.
        let mine: Vec<_> = rows.iter().filter(|s| s.entity_id.as_bytes()[0] as usize % 8 == client).cloned().collect();
        acknowledged.extend(mine.iter().map(|s| s.id.clone()));
        let server = server.clone();
        writers.push(tokio::spawn(async move {
            let mut posted = 0;
            for chunk in mine.chunks(40) {
                posted += post_bulk(&server, "don", chunk).await;
            }
            posted
        }));
    }
    let reader = {
        let server = server.clone();
        tokio::spawn(async move {
            let mut reads = 0;
            for _ in 0..20 {
                let (status, _) =
                    post_json(&server, "/don/_api/entities/query", r#"{"flush_first": true, "query": null}"#).await;
                assert_eq!(status, 200);
                reads += 1;
            }
            reads
        })
    };
    let mut posted = 0;
    for writer in writers {
        posted += writer.await.unwrap();
    }
    assert_eq!(reader.await.unwrap(), 20);
    assert_eq!(posted as usize, rows.len());

    let (status, text) = post_json(&server, "/don/_api/operations?force=true", r#"{"name": "MakeJob"}"#).await;
    assert_eq!(status, 200, "{text}");
    let csv = server.client.get(server.at("/don/exports/statements.csv")).send().await.unwrap().text().await.unwrap();
    let exported: HashSet<String> =
        csv.lines().skip(1).map(|l| l.split(',').next().unwrap().trim_matches('"').to_string()).collect();
    let missing: Vec<_> = acknowledged.difference(&exported).collect();
    assert!(missing.is_empty(), "{} acknowledged statements missing from the export", missing.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_query_streams_while_writes_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = std::sync::Arc::new(Running::start(dir.path(), ApiSettings::default()).await);
    let rows = donations("don", 474);
    let (first, rest) = rows.split_at(rows.len() / 2);
    post_bulk(&server, "don", first).await;
    let (status, _) = post_json(&server, "/don/_api/entities/flush", "").await;
    assert_eq!(status, 200);
    let (_, text) = post_json(&server, "/don/_api/entities/statements/query", "{}").await;
    let before = text.lines().count();

    // Read the response a chunk at a time while another client writes and flushes.
    let mut response =
        server.client.post(server.at("/don/_api/entities/statements/query")).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let first_chunk = response.chunk().await.unwrap().unwrap();
    let writer = {
        let (server, rest) = (server.clone(), rest.to_vec());
        tokio::spawn(async move {
            for chunk in rest.chunks(100) {
                post_bulk(&server, "don", chunk).await;
                post_json(&server, "/don/_api/entities/flush", "").await;
            }
        })
    };
    let mut body = first_chunk.to_vec();
    while let Some(chunk) = response.chunk().await.unwrap() {
        body.extend_from_slice(&chunk);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    writer.await.unwrap();
    let text = String::from_utf8(body).unwrap();
    let streamed: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(streamed.len(), before, "the query reads the table version it started on");
    let (_, text) = post_json(&server, "/don/_api/entities/statements/query", "{}").await;
    assert_eq!(text.lines().count(), rows.len(), "and the writes all landed");
}
