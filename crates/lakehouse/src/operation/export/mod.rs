//! `export`: publish a dataset's artifacts in one sweep over its live statements (seed 002
//! "Export …"; spec `exports-and-operations.md` §1–§9).
//!
//! One scan, entity by entity in id order, feeds every artifact (`sweep.rs`):
//!
//! * `exports/statements.csv` — the live rows, sorted by entity id then statement id;
//! * `entities.ftm.json` — one aggregated entity per line, sorted by id (one record per entity
//!   even when its statements span buckets: the reference writes one per bucket);
//! * `exports/documents.csv`, `exports/documents.crawl.csv` and `exports/parents.csv`
//!   (`documents.rs`);
//! * the diffs since the previous export under `diffs/` (`diff.rs`: [`Series`], [`Op`],
//!   [`DiffCounts`]);
//! * `exports/graph.cypher` when the config sets `cypher: true` ([`ftm::cypher`]);
//! * `exports/statistics.json` (versioned), then `index.json` (versioned, `index.rs`).
//!
//! The scan is of the store, or, in [`make`](super::make), of the merge its optimize is
//! writing. Files are compressed with the dataset's codec (`gz`, `zst`, `bz2`, `xz`, `lz4`;
//! statistics and index never) and appear only when the whole sweep succeeded: assembled at
//! `<file>.<run>.tmp` and renamed in a local folder, uploaded in parts and completed in a
//! bucket.
//!
//! One export runs at a time: the export lock `locks/lakehouse/export` (seed 002
//! `locks/{tenant}/`, an [`OperationLock`]) is taken after the flush, before the freshness
//! check, so a second export waits for the first and then finds its result fresh (or, forced,
//! runs after it). Holding it, the export removes the `.tmp` files a failed or killed one left.
//! The export flushes the journal first and is skipped when `operations/export/last_run` is
//! newer than `statements/last_updated` and `journal/last_updated`, unless forced. Artifact
//! tags get the export's start time; an `ExportJob` record is written.

mod diff;
mod documents;
mod index;
mod sweep;

use serde_json::{Map, Value};

pub use diff::{DiffCounts, Op, Series};

use super::artifacts;
use super::jobs::Job;
use super::optimize::OptimizeScan;
use crate::error::{Error, Result};
use crate::repository::EntityRepository;
use crate::storage::location::Location;
use crate::storage::locks::OperationLock;
use crate::storage::statements::EntityStream;
use crate::storage::tags::LAKEHOUSE_TENANT;
use crate::storage::tags::keys::{CONTENT_CLOCKS, EXPORT_LAST_RUN};

/// Options of an export.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportOptions {
    /// Export even when the artifacts are fresh.
    pub force: bool,
    /// Write no diffs and keep the diff state (the reference's `make_diff=False`).
    pub skip_diff: bool,
    /// Write the artifacts under this folder or prefix instead of the dataset's (`export -o
    /// DIR`, issue: time travel), as of the version the repository reads: statements.csv,
    /// entities.ftm.json, the documents tables, the graph and a plain `exports/statistics.json`.
    /// Such an export leaves the lake as it was: no flush of a repository read as of a past
    /// version, no freshness check, diffs, tags, job record or `index.json`, no export lock.
    pub target: Option<Location>,
}

/// What an export wrote (the `result` of the `ExportJob`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportMetrics {
    /// Fresh: nothing was written.
    pub skipped: bool,
    /// Rows of `exports/statements.csv`.
    pub statements: u64,
    /// Entities read (one per entity id), schema conflicts included.
    pub entities: u64,
    /// Folders, the rows of `exports/parents.csv`.
    pub parents: u64,
    /// Documents in `exports/documents.csv` (one may have several rows, one per parent).
    pub documents: u64,
    /// Documents with statements of origin `crawl`, in `exports/documents.crawl.csv`.
    pub crawl_documents: u64,
    /// Entities counted by `exports/statistics.json` (its `entity_count`): those aggregated
    /// into `entities.ftm.json`.
    pub statistics: u64,
    /// Diff entries (add, mod, del) of the entities, documents and crawl documents series.
    pub diffs: [DiffCounts; 3],
    /// The final `ExportJob` record (the skipped record when the artifacts were fresh).
    pub job: Value,
}

impl ExportMetrics {
    /// The metrics an `ExportJob` record reports in its `result` (a server's, in api mode):
    /// the counts it holds; `skipped` when the job was fresh.
    pub fn of_record(record: Value) -> ExportMetrics {
        let result = record.get("result").cloned().unwrap_or_default();
        let count = |key: &str| result.get(key).and_then(Value::as_u64).unwrap_or_default();
        ExportMetrics {
            skipped: Job::was_skipped(&record),
            statements: count("statements"),
            entities: count("entities"),
            parents: count("parents"),
            documents: count("documents"),
            crawl_documents: count("crawl_documents"),
            statistics: count("statistics"),
            job: record,
            ..Default::default()
        }
    }

    /// The job `result` object (keys present only when counted, `parents` always).
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        let diff = |name: &str, series: Series| {
            let (add, modified, del) = self.diffs[series as usize];
            [(format!("{name}_add"), add), (format!("{name}_mod"), modified), (format!("{name}_del"), del)]
        };
        let mut entries = vec![("statements".to_string(), self.statements), ("entities".to_string(), self.entities)];
        entries.extend(diff("entities", Series::Entities));
        entries.push(("parents".to_string(), self.parents));
        entries.push(("documents".to_string(), self.documents));
        entries.extend(diff("documents", Series::Documents));
        entries.push(("crawl_documents".to_string(), self.crawl_documents));
        entries.extend(diff("crawl_documents", Series::CrawlDocuments));
        entries.push(("statistics".to_string(), self.statistics));
        for (key, n) in entries {
            if n > 0 || key == "parents" {
                out.insert(key, n.into());
            }
        }
        Value::Object(out)
    }
}

/// The public URL prefix: the config's, else `LAKEHOUSE_PUBLIC_URL_PREFIX` with `${dataset}`.
pub(super) fn public_prefix(repo: &EntityRepository) -> Option<String> {
    let name = repo.dataset().name().as_str();
    repo.config()
        .public_url_prefix()
        .map(str::to_string)
        .or_else(|| repo.dataset().settings().public_url_prefix.as_ref().map(|p| p.replace("${dataset}", name)))
        .map(|p| p.trim_end_matches('/').to_string())
}

/// The `ExportJob` of a run with `options`, not begun.
fn export_job(repo: &EntityRepository, options: &ExportOptions) -> Job {
    let mut job = Job::start("ExportJob", repo.dataset());
    job.fields.insert("make_diff".into(), (!options.skip_diff).into());
    job.fields.insert("result".into(), Value::Null);
    job
}

/// Exports the dataset (see the module docs); in api mode, runs an `ExportJob` on the server.
///
/// # Errors
/// Flush and scan errors; [`Error::Io`] writing files (the previous
/// artifacts then stay); [`Error::InvalidConfig`] for an
/// unsupported codec.
pub async fn export(repo: &EntityRepository, options: &ExportOptions) -> Result<ExportMetrics> {
    if let Some(api) = repo.api() {
        if let Some(target) = &options.target {
            let message = format!("export to {target}: not available in api mode (the server exports into the lake)");
            return Err(Error::InvalidInput(message));
        }
        let record = export_job(repo, options).run_served(api, options.force).await?;
        return Ok(ExportMetrics::of_record(record));
    }
    if let (Some(as_of), None) = (repo.statements().as_of(), &options.target) {
        let message =
            format!("export as of {as_of}: give a target folder, the lake's own exports are of the latest version");
        return Err(Error::InvalidInput(message));
    }
    export_from(repo, options, None).await
}

/// Exports as [`export`] does, from `merging` when given: the live statements of a merge
/// being written (`make`'s optimize, see [`optimize_scan`](super::optimize::optimize_scan)),
/// instead of a scan of the store. The journal is not flushed then (`make` flushed before the
/// merge), and nothing is published before the optimize has finished.
///
/// # Errors
/// As [`export`]; the merge's error if it failed.
pub(crate) async fn export_from(
    repo: &EntityRepository,
    options: &ExportOptions,
    merging: Option<(EntityStream, &mut OptimizeScan)>,
) -> Result<ExportMetrics> {
    if merging.is_none() && repo.statements().as_of().is_none() {
        repo.flush().await?;
    }
    if let Some(target) = &options.target {
        let started = chrono::Utc::now();
        let result = sweep::sweep(repo, started, false, merging, Some(target)).await;
        return Ok(result?.map(|(metrics, _)| metrics).unwrap_or_default());
    }
    let dataset = repo.dataset();
    let patience = dataset.settings().lock_patience();
    let lock = OperationLock::acquire(dataset.object_store(), LAKEHOUSE_TENANT, "export", patience).await?;
    let exported = export_locked(repo, options, merging).await;
    let released = lock.release().await;
    let exported = exported?;
    released?;
    Ok(exported)
}

/// [`export_from`] holding the export lock.
async fn export_locked(
    repo: &EntityRepository,
    options: &ExportOptions,
    merging: Option<(EntityStream, &mut OptimizeScan)>,
) -> Result<ExportMetrics> {
    let dataset = repo.dataset();
    let mut job = export_job(repo, options);
    if !options.force && dataset.tags().is_fresh(EXPORT_LAST_RUN, &CONTENT_CLOCKS).await? {
        return Ok(ExportMetrics { skipped: true, job: job.skipped(), ..Default::default() });
    }
    artifacts::remove_leftovers(dataset.location())?;
    job.begin(dataset).await?;
    let result = sweep::sweep(repo, job.started(), !options.skip_diff, merging, None).await;
    let result = match result {
        Ok(Some((metrics, published))) => index::write_index(repo, &published).await.map(|()| Some(metrics)),
        Ok(None) => index::write_index(repo, &[]).await.map(|()| None),
        Err(e) => Err(e),
    };
    job.done = 1;
    match result {
        Ok(metrics) => {
            job.fields.insert("result".into(), metrics.as_ref().map_or(Value::Null, ExportMetrics::to_json));
            let record = job.finish(dataset, None).await?;
            dataset.tags().set(EXPORT_LAST_RUN, job.started()).await?;
            let metrics = metrics.unwrap_or_default();
            tracing::info!(
                dataset = %dataset.name(),
                statements = metrics.statements,
                entities = metrics.entities,
                documents = metrics.documents,
                "exported"
            );
            Ok(ExportMetrics { job: record, ..metrics })
        }
        Err(e) => {
            job.finish(dataset, Some(&e.to_string())).await?;
            artifacts::remove_leftovers(dataset.location())?;
            Err(e)
        }
    }
}
