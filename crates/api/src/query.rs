//! The query routes (spec `interfaces.md` §3.4): a JSON body `{"flush_first", "query"}` with the
//! query in its JSON form (§2.5), answered with NDJSON streamed as the entities are read.
//!
//! The response is produced by a task of its own that hands chunks of lines to the body through
//! a bounded channel, so a slow client holds at most a few chunks in memory, not the result.
//! Queries that read more than a few named entities run, with the reads they start, on a
//! runtime of their own (`lakehouse-query` threads): their long decoding steps then share the cores with
//! the server's other requests through the operating system's scheduler, instead of holding
//! the server's workers while a one-entity query waits for one. An
//! error after the first byte cannot change the status any more; it aborts the response, so
//! the client sees a broken transfer instead of a short result that looks whole (the
//! reference ends such a response as if it were complete).

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use ftm::Statement;
use ftm::time::isoformat;
use lakehouse::model::Bucket;
use lakehouse::model::partition::shard;
use lakehouse::model::query::{Leaf, Node, Query, Value as QueryValue};
use lakehouse::storage::statements::entity_of;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::settings::ApiSettings;
use crate::state;

/// Bytes gathered before a chunk goes to the client.
const CHUNK_BYTES: usize = 64 << 10;
/// Chunks the producing task may run ahead of the client.
const CHUNKS_AHEAD: usize = 8;
/// Most ids a query may name at its top and still run on the server's own workers.
const NAMED_MAX: usize = 100;

/// The body of a query route.
#[derive(Debug, utoipa::ToSchema)]
pub struct QueryBody {
    /// Flush the journal before reading (a failing flush fails the request).
    pub flush_first: bool,
    /// The query's JSON form (`interfaces.md` §2.5); null, absent or `{}` select everything.
    #[schema(value_type = Option<Object>)]
    pub query: Query,
}

/// Every leaf of `node`.
fn leaves<'a>(node: &'a Node, out: &mut Vec<&'a Leaf>) {
    match node {
        Node::And(nodes) | Node::Or(nodes) => nodes.iter().for_each(|n| leaves(n, out)),
        Node::Not(node) => leaves(node, out),
        Node::Leaf(leaf) => out.push(leaf),
    }
}

/// Reads a query body; errors are the reference's validation list (422).
fn parse_body(body: &[u8], settings: &ApiSettings) -> ApiResult<QueryBody> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        if body.iter().all(u8::is_ascii_whitespace) {
            return ApiError::validation("missing", json!(["body"]), "Field required", Value::Null);
        }
        let ctx = json!({"error": e.to_string()});
        let mut error = ApiError::validation(
            "json_invalid",
            json!(["body", e.column().saturating_sub(1)]),
            "JSON decode error",
            json!({}),
        );
        if let ApiError::Validation(Value::Array(list)) = &mut error {
            list[0]["ctx"] = ctx;
        }
        error
    })?;
    let Value::Object(object) = value else {
        let msg = "Input should be a valid dictionary or object to extract fields from";
        return Err(ApiError::validation("model_attributes_type", json!(["body"]), msg, value));
    };
    let mut flush_first = false;
    let mut query = Query::default();
    for (key, item) in &object {
        match (key.as_str(), item) {
            ("flush_first", Value::Bool(flag)) => flush_first = *flag,
            ("flush_first", other) => {
                let msg = "Input should be a valid boolean";
                return Err(ApiError::validation("bool_type", json!(["body", "flush_first"]), msg, other.clone()));
            }
            ("query", Value::Null) => {}
            ("query", Value::Object(fields)) if fields.is_empty() => {}
            ("query", value @ Value::Object(_)) => query = parse_query(value, settings)?,
            ("query", other) => {
                let msg = "Input should be a valid dictionary";
                return Err(ApiError::validation("dict_type", json!(["body", "query"]), msg, other.clone()));
            }
            (key, other) => {
                let msg = "Extra inputs are not permitted";
                return Err(ApiError::validation("extra_forbidden", json!(["body", key]), msg, other.clone()));
            }
        }
    }
    Ok(QueryBody { flush_first, query })
}

/// A non-empty JSON query: parsed, then held to the caps.
fn parse_query(value: &Value, settings: &ApiSettings) -> ApiResult<Query> {
    let refuse = |message: String| {
        let mut error = ApiError::validation(
            "value_error",
            json!(["body", "query"]),
            format!("Value error, {message}"),
            value.clone(),
        );
        if let ApiError::Validation(Value::Array(list)) = &mut error {
            list[0]["ctx"] = json!({"error": {}});
        }
        error
    };
    let query = Query::from_json(value).map_err(|e| refuse(format!("Invalid query json: `{e}`")))?;
    if query == Query::default() {
        return Err(refuse(format!("Invalid query json: `Could not parse `{value}``")));
    }
    let mut all = Vec::new();
    if let Some(node) = &query.node {
        leaves(node, &mut all);
    }
    if all.len() > settings.query_max_filter_keys {
        let max = settings.query_max_filter_keys;
        return Err(refuse(format!("query has {} filter conditions; maximum is {max}", all.len())));
    }
    for leaf in all {
        if let QueryValue::List(values) = &leaf.value
            && values.len() > settings.query_max_in_values
        {
            let (name, op, max) = (&leaf.field.name, leaf.op.name(), settings.query_max_in_values);
            return Err(refuse(format!("`{name}__{op}` has {} values; maximum is {max}", values.len())));
        }
    }
    Ok(query)
}

/// The runtime that large queries run on (see the module docs): as many workers as cores, for
/// the process's life. On Linux its threads run at a lower scheduling priority (nice 10), so
/// that when the cores are busy with large reads, a small request's thread gets the next
/// slice. Only a query's own reads run there: opening a dataset starts tasks that outlive the
/// query (a PostgreSQL journal's connection), and a flush writes, so both run on the server's
/// runtime.
fn scan_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("lakehouse-query")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Sets the calling thread's nice value to 10. On Linux the nice value belongs to the thread
/// (`setpriority(2)`, "Bugs"), and `who` 0 names the caller; elsewhere it belongs to the
/// process, so nothing is done. A failure leaves the thread as it was.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
}

/// A JSON string or null.
fn text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |v| Value::String(v.to_string()))
}

fn time(value: Option<&ftm::time::Timestamp>) -> Value {
    value.map_or(Value::Null, |t| Value::String(isoformat(t)))
}

/// One entity's line: `id`, `caption` (FtM's statement-entity caption, see
/// [`ftm::statement_caption`]), `schema` and its statements (the checksum row left out) with the
/// keys of the reference's statement-entity form.
fn entity_line(rows: &[Statement], _shards: u32, out: &mut Vec<u8>) -> lakehouse::Result<()> {
    let Some(entity) = entity_of(rows)? else {
        return Ok(());
    };
    let statements: Vec<Value> = rows
        .iter()
        .filter(|s| s.prop != ftm::statement::BASE_ID)
        .map(|s| {
            let mut m = Map::new();
            m.insert("canonical_id".into(), s.canonical_id.clone().into());
            m.insert("entity_id".into(), s.entity_id.clone().into());
            m.insert("prop".into(), s.prop.clone().into());
            m.insert("schema".into(), s.schema.clone().into());
            m.insert("value".into(), s.value.clone().into());
            m.insert("dataset".into(), s.dataset.clone().into());
            m.insert("lang".into(), text(s.lang.as_deref()));
            m.insert("original_value".into(), text(s.original_value.as_deref()));
            m.insert("first_seen".into(), time(s.first_seen.as_ref()));
            m.insert("last_seen".into(), time(s.last_seen.as_ref()));
            m.insert("external".into(), s.external.into());
            m.insert("origin".into(), text(s.origin.as_deref()));
            m.insert("id".into(), s.id.clone().into());
            Value::Object(m)
        })
        .collect();
    let caption = ftm::statement_caption(entity.schema, rows);
    let line = json!({"id": entity.id, "caption": caption, "schema": entity.schema.name, "statements": statements});
    serde_json::to_writer(&mut *out, &line).expect("JSON to memory");
    out.push(b'\n');
    Ok(())
}

/// One line per live statement row, every column of `statements iterate`.
fn statement_lines(rows: &[Statement], shards: u32, out: &mut Vec<u8>) -> lakehouse::Result<()> {
    let model = ftm::model();
    for s in rows {
        let bucket = Bucket::of(model.schema(&s.schema)?);
        let mut m = Map::new();
        m.insert("shard".into(), shard(&s.entity_id, shards).into());
        m.insert("id".into(), s.id.clone().into());
        m.insert("entity_id".into(), s.entity_id.clone().into());
        m.insert("dataset".into(), s.dataset.clone().into());
        m.insert("bucket".into(), bucket.as_str().into());
        m.insert("origin".into(), text(s.origin.as_deref()));
        m.insert("source".into(), text(s.source.as_deref()));
        m.insert("schema".into(), s.schema.clone().into());
        m.insert("prop".into(), s.prop.clone().into());
        m.insert("prop_type".into(), s.prop_type.clone().into());
        m.insert("value".into(), s.value.clone().into());
        m.insert("original_value".into(), text(s.original_value.as_deref()));
        m.insert("lang".into(), text(s.lang.as_deref()));
        m.insert("external".into(), s.external.into());
        m.insert("first_seen".into(), time(s.first_seen.as_ref()));
        m.insert("last_seen".into(), time(s.last_seen.as_ref()));
        m.insert("fragment".into(), s.fragment.clone().into());
        m.insert("role".into(), text(s.role.as_deref()));
        m.insert("deleted_at".into(), Value::Null);
        serde_json::to_writer(&mut *out, &Value::Object(m)).expect("JSON to memory");
        out.push(b'\n');
    }
    Ok(())
}

/// Writes one entity's rows as lines, given the dataset's shard count.
type WriteLines = fn(&[Statement], u32, &mut Vec<u8>) -> lakehouse::Result<()>;

/// Answers the query of `body` on `dataset` with the lines `write` makes of each entity's rows,
/// as NDJSON (see the module docs). Errors before the first line are the response.
async fn respond(state: state::State, dataset: String, body: &[u8], write: WriteLines) -> ApiResult<Response> {
    let body = parse_body(body, &state.settings)?;
    let named = body.query.node.as_ref().and_then(Node::bound_ids).is_some_and(|ids| ids.len() <= NAMED_MAX);
    let Some(repo) = state.existing(&dataset).await? else {
        return Ok(ndjson_response(Body::empty())); // No such dataset: nothing matches.
    };
    if body.flush_first {
        repo.flush().await?;
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_AHEAD);
    let (opened_tx, opened) = tokio::sync::oneshot::channel::<ApiResult<()>>();
    let work = async move {
        let (mut results, shards) = match repo.query(&body.query, false).await {
            Ok(results) => (results, repo.config().shards()),
            Err(e) => return drop(opened_tx.send(Err(e.into()))),
        };
        if opened_tx.send(Ok(())).is_err() {
            return; // The client went away.
        }
        let mut buffer = Vec::with_capacity(CHUNK_BYTES * 2);
        loop {
            let written = match results.next_statements().await {
                Ok(Some(rows)) => write(&rows, shards, &mut buffer),
                Ok(None) => break,
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                tracing::error!(error = %e, "query stream failed");
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                return;
            }
            if buffer.len() >= CHUNK_BYTES {
                let chunk = Bytes::from(std::mem::replace(&mut buffer, Vec::with_capacity(CHUNK_BYTES * 2)));
                if tx.send(Ok(chunk)).await.is_err() {
                    return; // The client went away.
                }
            }
        }
        if !buffer.is_empty() {
            let _ = tx.send(Ok(Bytes::from(buffer))).await;
        }
    };
    if named {
        tokio::spawn(work);
    } else {
        scan_runtime().spawn(work);
    }
    opened.await.map_err(|_| ApiError::Internal("the query task stopped".into()))??;
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok(ndjson_response(Body::from_stream(stream)))
}

fn ndjson_response(body: Body) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/x-ndjson"));
    response
}

/// `POST /{dataset}/_api/entities/query`: the selected entities, one JSON object per line.
#[utoipa::path(
    post, path = "/{dataset}/_api/entities/query", tag = "entities",
    params(("dataset" = String, Path, description = "Dataset name")),
    request_body(content = QueryBody, content_type = "application/json"),
    responses(
        (status = 200, description = "One entity per line: id, caption, schema, statements", content_type = "application/x-ndjson"),
        (status = 422, description = "Invalid body or query, or over a cap"),
    )
)]
pub async fn entities(
    State(state): State<state::State>,
    Path(dataset): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    respond(state, dataset, &body, entity_line).await
}

/// `POST /{dataset}/_api/entities/statements/query`: the live statement rows of the selected
/// entities, one JSON object per line.
#[utoipa::path(
    post, path = "/{dataset}/_api/entities/statements/query", tag = "entities",
    params(("dataset" = String, Path, description = "Dataset name")),
    request_body(content = QueryBody, content_type = "application/json"),
    responses(
        (status = 200, description = "One statement row per line", content_type = "application/x-ndjson"),
        (status = 422, description = "Invalid body or query, or over a cap"),
    )
)]
pub async fn statements(
    State(state): State<state::State>,
    Path(dataset): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    respond(state, dataset, &body, statement_lines).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_and_caps() {
        let settings = ApiSettings { query_max_filter_keys: 1, query_max_in_values: 2, ..ApiSettings::default() };
        assert_eq!(parse_body(b"{}", &settings).unwrap().query, Query::default());
        let status = |body: &[u8]| match parse_body(body, &settings) {
            Err(ApiError::Validation(list)) => list[0]["type"].as_str().unwrap().to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(status(b""), "missing");
        assert_eq!(status(b"{bad"), "json_invalid");
        assert_eq!(status(b"[]"), "model_attributes_type");
        assert_eq!(status(br#"{"x": 1}"#), "extra_forbidden");
        assert_eq!(status(br#"{"query": {"foo": 1}}"#), "value_error");
        let two = br#"{"query": {"q": {"and": [{"leaf": {"t": "M", "f": "schema", "op": "eq", "v": "Person"}},
            {"leaf": {"t": "P", "f": "name", "op": "eq", "v": "A"}}]}}}"#;
        match parse_body(two, &settings) {
            Err(ApiError::Validation(list)) => {
                assert_eq!(list[0]["msg"], "Value error, query has 2 filter conditions; maximum is 1")
            }
            other => panic!("{other:?}"),
        }
        let many = br#"{"query": {"q": {"and": [{"leaf": {"t": "M", "f": "id", "op": "in", "v": ["a", "b", "c"]}}]}}}"#;
        match parse_body(many, &settings) {
            Err(ApiError::Validation(list)) => {
                assert_eq!(list[0]["msg"], "Value error, `id__in` has 3 values; maximum is 2")
            }
            other => panic!("{other:?}"),
        }
    }
}
