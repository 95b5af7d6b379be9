//! The dataset routes that are not queries (spec `interfaces.md` §3.2, §3.3): ensure, journal
//! bulk, flush, stats, table version, delete an entity, drop an origin.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use lakehouse::storage::journal::wire;
use lakehouse::storage::statements::{DatasetStats, StatsGroup};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::state;

/// `POST /{dataset}/_api/ensure`: opens (and so ensures) the dataset; `ok`. The reference
/// validates nothing here; an invalid name is refused as on every other route.
#[utoipa::path(
    post, path = "/{dataset}/_api/ensure", tag = "datasets",
    params(("dataset" = String, Path, description = "Dataset name")),
    responses((status = 200, description = "`ok`", body = String, content_type = "text/plain"))
)]
pub async fn ensure(State(state): State<state::State>, Path(dataset): Path<String>) -> ApiResult<&'static str> {
    state.repo(&dataset).await?;
    Ok("ok")
}

/// `POST /{dataset}/_api/journal/bulk`: statement rows as an Arrow IPC stream into the journal;
/// the row count (`0` for an empty body).
#[utoipa::path(
    post, path = "/{dataset}/_api/journal/bulk", tag = "journal",
    params(("dataset" = String, Path, description = "Dataset name")),
    request_body(content = Vec<u8>, content_type = "application/vnd.apache.arrow.stream",
        description = "One Arrow IPC stream of journal rows; zstd-compressed buffers are accepted"),
    responses(
        (status = 200, description = "Rows inserted", body = String, content_type = "text/plain"),
        (status = 400, description = "Not an Arrow IPC stream, a column missing, a bad row"),
        (status = 413, description = "Body larger than LAKEHOUSE_API_MAX_BODY_SIZE"),
    )
)]
pub async fn journal_bulk(
    State(state): State<state::State>,
    Path(dataset): Path<String>,
    body: Bytes,
) -> ApiResult<String> {
    let repo = state.repo(&dataset).await?;
    let rows = tokio::task::spawn_blocking(move || wire::decode(&body))
        .await
        .map_err(lakehouse::Error::task("journal bulk decoding"))??;
    Ok(repo.put_rows(rows).await?.to_string())
}

/// `POST /{dataset}/_api/entities/flush`: the journal into the store; the statements moved
/// (`0` when another flush, waited for, moved them).
#[utoipa::path(
    post, path = "/{dataset}/_api/entities/flush", tag = "entities",
    params(("dataset" = String, Path, description = "Dataset name")),
    responses((status = 200, description = "Statements moved", body = String, content_type = "text/plain"))
)]
pub async fn flush(State(state): State<state::State>, Path(dataset): Path<String>) -> ApiResult<String> {
    let Some(repo) = state.existing(&dataset).await? else {
        return Ok("0".into());
    };
    Ok(repo.flush().await?.statements.to_string())
}

/// `GET /{dataset}/_api/entities/stats`: counts per schema and country and the date range over
/// the live entities, as the reference's live statistics are shaped: facets by count, largest
/// first (ties by name; the exported `statistics.json` sorts them by name), `start` and `end`
/// null when there are no dates (zeros for an empty dataset).
#[utoipa::path(
    get, path = "/{dataset}/_api/entities/stats", tag = "entities",
    params(("dataset" = String, Path, description = "Dataset name")),
    responses((status = 200, description = "Dataset statistics", body = Object, content_type = "application/json"))
)]
pub async fn stats(State(state): State<state::State>, Path(dataset): Path<String>) -> ApiResult<axum::Json<Value>> {
    let mut stats = match state.existing(&dataset).await? {
        Some(repo) => repo.statements().stats().await?,
        None => DatasetStats::default(),
    };
    for group in [&mut stats.things, &mut stats.intervals] {
        group.countries.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
        group.schemata.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    }
    let json = |v: &StatsGroup| serde_json::to_value(v).map_err(|e| ApiError::Internal(e.to_string()));
    Ok(axum::Json(serde_json::json!({
        "things": json(&stats.things)?, "intervals": json(&stats.intervals)?, "entity_count": stats.entity_count,
        "start": stats.start, "end": stats.end, "countries": stats.countries,
    })))
}

/// `GET /{dataset}/_api/entities/statements/version`: the Delta table version, an empty body
/// when there is no table.
#[utoipa::path(
    get, path = "/{dataset}/_api/entities/statements/version", tag = "entities",
    params(("dataset" = String, Path, description = "Dataset name")),
    responses((status = 200, description = "Version, or empty", body = String, content_type = "text/plain"))
)]
pub async fn version(State(state): State<state::State>, Path(dataset): Path<String>) -> ApiResult<String> {
    let Some(repo) = state.existing(&dataset).await? else {
        return Ok(String::new());
    };
    Ok(repo.statements().version().await?.map(|v| v.to_string()).unwrap_or_default())
}

/// The optional origin of an entity delete.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DeleteParams {
    /// Tombstone only the statements of this origin.
    origin: Option<String>,
}

/// `DELETE /{dataset}/_api/entities/{entity_id}`: tombstones for the entity's live statements
/// (of one origin when given); how many (`0` for an unknown id). Visible after a flush.
#[utoipa::path(
    delete, path = "/{dataset}/_api/entities/{entity_id}", tag = "entities",
    params(("dataset" = String, Path, description = "Dataset name"), ("entity_id" = String, Path), DeleteParams),
    responses((status = 200, description = "Tombstones written", body = String, content_type = "text/plain"))
)]
pub async fn delete_entity(
    State(state): State<state::State>,
    Path((dataset, entity_id)): Path<(String, String)>,
    Query(params): Query<DeleteParams>,
) -> ApiResult<String> {
    let Some(repo) = state.existing(&dataset).await? else {
        return Ok("0".into());
    };
    Ok(repo.delete_entity(&entity_id, params.origin.as_deref()).await?.to_string())
}

/// `DELETE /{dataset}/_api/entities/origins/{origin}`: drops every statement of the origin
/// from the store; `ok`.
#[utoipa::path(
    delete, path = "/{dataset}/_api/entities/origins/{origin}", tag = "entities",
    params(("dataset" = String, Path, description = "Dataset name"), ("origin" = String, Path)),
    responses(
        (status = 200, description = "`ok`", body = String, content_type = "text/plain"),
        (status = 400, description = "Invalid origin"),
    )
)]
pub async fn delete_origin(
    State(state): State<state::State>,
    Path((dataset, origin)): Path<(String, String)>,
) -> ApiResult<&'static str> {
    lakehouse::model::validate_origin(&origin)?;
    if let Some(repo) = state.existing(&dataset).await? {
        repo.delete_origin(&origin).await?;
    }
    Ok("ok")
}
