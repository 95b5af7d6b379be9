//! `POST /{dataset}/_api/operations?force=<bool>` (spec `interfaces.md` §3.6): a job by its
//! class name, run to the end with the code of its CLI command; the final job record.
//!
//! The body is the job as JSON: `name` selects it, `dataset` is ignored (the path wins), the
//! job's fields are read (unknown ones ignored), and a `run_id` names the run (else one is
//! minted). A job skipped as fresh returns its skipped record (`started` null, nothing done).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use lakehouse::operation::crawl::{CrawlOptions, crawl};
use lakehouse::operation::download::download_archive;
use lakehouse::operation::export::{ExportOptions, export};
use lakehouse::operation::jobs::{check_run_id, with_run_id};
use lakehouse::operation::make::{MakeOptions, make};
use lakehouse::operation::migrate::migrate;
use lakehouse::operation::optimize::{OptimizeOptions, optimize};
use lakehouse::operation::shard::shard;
use lakehouse::repository::EntityRepository;
use lakehouse::storage::Location;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::state;

/// FastAPI's boolean words for `force`; anything else is a 422.
fn force_param(query: Option<&str>) -> ApiResult<bool> {
    let mut force = false;
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "force" {
            continue;
        }
        force = match value.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => true,
            "false" | "0" | "no" | "off" | "f" | "n" => false,
            _ => {
                let msg = "Input should be a valid boolean, unable to interpret input";
                return Err(ApiError::validation("bool_parsing", json!(["query", "force"]), msg, value.into()));
            }
        };
    }
    Ok(force)
}

/// The job's fields, read as the reference's job models read them.
struct Fields<'a> {
    name: &'a str,
    body: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn invalid(&self, field: &str, what: &str) -> ApiError {
        ApiError::BadRequest(format!("1 validation error for {}\n{field}\n  {what}", self.name))
    }

    fn required_text(&self, field: &str) -> ApiResult<String> {
        match self.body.get(field) {
            Some(Value::String(text)) => Ok(text.clone()),
            None | Some(Value::Null) => Err(self.invalid(field, "Field required")),
            Some(_) => Err(self.invalid(field, "Input should be a valid string")),
        }
    }

    fn text(&self, field: &str) -> ApiResult<Option<String>> {
        match self.body.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.required_text(field).map(Some),
        }
    }

    fn flag(&self, field: &str, default: bool) -> ApiResult<bool> {
        match self.body.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(flag)) => Ok(*flag),
            Some(_) => Err(self.invalid(field, "Input should be a valid boolean")),
        }
    }

    fn count(&self, field: &str, default: u64) -> ApiResult<u64> {
        match self.body.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(value) => value.as_u64().ok_or_else(|| self.invalid(field, "Input should be a valid integer")),
        }
    }
}

/// Runs the job the body names (see the module docs).
#[utoipa::path(
    post, path = "/{dataset}/_api/operations", tag = "operations",
    params(
        ("dataset" = String, Path, description = "Dataset name"),
        ("force" = Option<bool>, Query, description = "Run even when fresh"),
    ),
    request_body(content = Object, content_type = "application/json",
        description = "The job: `name` (CrawlJob, DownloadArchiveJob, ExportJob, MakeJob, MigrateJob, OptimizeJob, ShardJob) and its fields"),
    responses(
        (status = 200, description = "The final job record", body = Object),
        (status = 400, description = "Unknown operation, invalid job fields, body not a JSON object"),
    )
)]
pub async fn run(
    State(state): State<state::State>,
    Path(dataset): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let force = force_param(query.as_deref())?;
    let body: Value = serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let Value::Object(body) = body else {
        return Err(ApiError::BadRequest("The job must be a JSON object".into()));
    };
    let name = match body.get("name") {
        Some(Value::String(name)) => name.as_str(),
        Some(other) => return Err(ApiError::BadRequest(format!("Unknown operation: `{other}`"))),
        None => return Err(ApiError::BadRequest("Unknown operation: `None`".into())),
    };
    let fields = Fields { name, body: &body };
    // Refuse what cannot run before the dataset is opened.
    match name {
        "CrawlJob" | "DownloadArchiveJob" | "ExportJob" | "MakeJob" | "OptimizeJob" | "ShardJob" | "MigrateJob" => {}
        _ => return Err(ApiError::BadRequest(format!("Unknown operation: `{name}`"))),
    }
    let run_id = fields.text("run_id")?;
    if let Some(id) = &run_id {
        check_run_id(id).map_err(|e| fields.invalid("run_id", &e))?;
    }
    let repo = state.repo(&dataset).await?;
    let record = with_run_id(name, run_id, run_job(&repo, &fields, force)).await?;
    Ok(Json(record))
}

/// Runs the job `fields` describe on `repo` (the name is one of the jobs above); its record.
async fn run_job(repo: &EntityRepository, fields: &Fields<'_>, force: bool) -> ApiResult<Value> {
    let (name, body) = (fields.name, fields.body);
    let record = match name {
        "CrawlJob" => {
            let existing = match fields.text("existing")? {
                Some(mode) => Some(mode.parse().map_err(|e: String| fields.invalid("existing", &e))?),
                None if body.contains_key("existing") => None,
                None => CrawlOptions::default().existing,
            };
            let options = CrawlOptions {
                uri: fields.required_text("uri")?,
                prefix: fields.text("prefix")?,
                exclude_prefix: fields.text("exclude_prefix")?,
                glob: fields.text("glob")?,
                exclude_glob: fields.text("exclude_glob")?,
                make_entities: fields.flag("make_entities", false)?,
                store_metadata: fields.flag("store_metadata", true)?,
                existing,
            };
            crawl(repo, &options, |_| {}).await?.job
        }
        "DownloadArchiveJob" => {
            let target = Location::parse(&fields.required_text("target")?)?;
            download_archive(repo, &target, |_| {}).await?.job
        }
        "ExportJob" => {
            let options = ExportOptions { force, skip_diff: !fields.flag("make_diff", true)?, target: None };
            export(repo, &options).await?.job
        }
        "MakeJob" => {
            let options = MakeOptions { optimize: false, force_exports: force, ..MakeOptions::default() };
            make(repo, &options).await?.job
        }
        "MigrateJob" => migrate(repo, force).await?.job,
        "ShardJob" => {
            if matches!(body.get("shards"), None | Some(Value::Null)) {
                return Err(fields.invalid("shards", "Field required"));
            }
            let shards = fields.count("shards", 0)?;
            let shards = u32::try_from(shards).map_err(|_| fields.invalid("shards", "Too large"))?;
            shard(repo, shards, force).await?.job
        }
        _ => {
            let retention_hours = fields.count("retention_hours", 0)?;
            let retention_hours =
                u32::try_from(retention_hours).map_err(|_| fields.invalid("retention_hours", "Too large"))?;
            optimize(repo, &OptimizeOptions { retention_hours, force, grace_period_days: None }).await?.job
        }
    };
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn force_words() {
        assert!(!force_param(None).unwrap());
        assert!(force_param(Some("force=Yes")).unwrap());
        assert!(!force_param(Some("x=1&force=off")).unwrap());
        assert!(matches!(force_param(Some("force=maybe")), Err(ApiError::Validation(_))));
    }
}
