//! `make`: the main job — flush, optimize, export (seed 002 "Dependency chain"; spec
//! `exports-and-operations.md` §9.5).
//!
//! 1. merge a YAML update into `config.yml` (the CLI's `-c`, done by the caller);
//! 2. flush the journal (`flush`);
//! 3. with `exports`: optimize (`optimize`, skipped when no partition is dirty unless
//!    `force_optimize`);
//! 4. with `exports`: the make job — skipped when `operations/make/last_run` is newer than the
//!    content clocks unless `force_exports` — running the export (which has its own freshness).
//!
//! When both the optimize and the export are due, they run together: the export reads the
//! merge's output as it is written
//! ([`StatementStore::merge_scan`](crate::storage::StatementStore::merge_scan)) instead of
//! reading the merged files back, and publishes only once the optimize has finished. The
//! artifacts, tags and job records are those of the two steps run one after the other.

use serde_json::Value;

use super::export::{ExportMetrics, ExportOptions, export_from};
use super::jobs::Job;
use super::optimize::{OptimizeMetrics, OptimizeOptions, OptimizeScan, Optimizing, optimize, optimize_scan};
use crate::error::Result;
use crate::repository::EntityRepository;
use crate::storage::statements::EntityStream;
use crate::storage::tags::keys::{CONTENT_CLOCKS, EXPORT_LAST_RUN, MAKE_LAST_RUN};

/// Options of `make`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeOptions {
    /// Flush the journal first (step 2), counted in [`MakeMetrics::flushed`]; the optimize and
    /// the export flush it anyway when they run.
    pub flush: bool,
    /// Optimize the store before the export (step 3).
    pub optimize: bool,
    /// Run steps 3 and 4; without, `make` stops after the flush.
    pub exports: bool,
    /// Optimize even when no partition is dirty.
    pub force_optimize: bool,
    /// Run the make job and the export even when they are fresh.
    pub force_exports: bool,
}

impl Default for MakeOptions {
    fn default() -> Self {
        MakeOptions { flush: true, optimize: true, exports: true, force_optimize: false, force_exports: false }
    }
}

/// What `make` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MakeMetrics {
    /// Statements flushed from the journal.
    pub flushed: u64,
    /// The optimize stage, if it ran.
    pub optimize: Option<OptimizeMetrics>,
    /// The export, if the make job ran (`skipped` inside when the export itself was fresh).
    pub export: Option<ExportMetrics>,
    /// The final `MakeJob` record (the skipped record when it was fresh, null when `exports`
    /// was off).
    pub job: Value,
}

/// Runs `make` (see the module docs); on a served lake, asks the server to
/// ([`EntityRepository::api`]).
///
/// # Errors
/// Errors of the flush, optimize and export stages; earlier stages' results stay.
pub async fn make(repo: &EntityRepository, options: &MakeOptions) -> Result<MakeMetrics> {
    if repo.api().is_some() {
        return make_served(repo, options).await;
    }
    let mut metrics = MakeMetrics::default();
    if options.flush {
        metrics.flushed = repo.flush().await?.statements;
    }
    if !options.exports {
        return Ok(metrics);
    }
    let tags = repo.dataset().tags();
    let due = options.force_exports
        || !(tags.is_fresh(MAKE_LAST_RUN, &CONTENT_CLOCKS).await?
            || tags.is_fresh(EXPORT_LAST_RUN, &CONTENT_CLOCKS).await?);
    let mut merging = None;
    if options.optimize {
        let opts = OptimizeOptions { force: options.force_optimize, ..OptimizeOptions::default() };
        if due {
            repo.flush().await?; // The export reads the merge: the journal goes in first.
            match optimize_scan(repo, &opts).await? {
                Optimizing::Ran(optimized) => metrics.optimize = Some(optimized),
                Optimizing::Scanning(scanning) => merging = Some(*scanning),
            }
        } else {
            metrics.optimize = Some(optimize(repo, &opts).await?);
        }
    }
    let Some((stream, mut rest)) = merging else {
        repo.flush().await?;
        if !options.force_exports && tags.is_fresh(MAKE_LAST_RUN, &CONTENT_CLOCKS).await? {
            metrics.job = Job::start("MakeJob", repo.dataset()).skipped();
            return Ok(metrics);
        }
        let (exported, job) = run_export(repo, options, None).await?;
        (metrics.export, metrics.job) = (Some(exported), job);
        return Ok(metrics);
    };
    // The export reads the merge as it is written; the optimize finishes after it either way.
    let exported = run_export(repo, options, Some((stream, &mut rest))).await;
    let optimized = rest.finish(repo).await;
    let (exported, job) = exported?;
    (metrics.export, metrics.job) = (Some(exported), job);
    metrics.optimize = Some(optimized?);
    Ok(metrics)
}

/// `make` on a served lake (spec `interfaces.md` §3.8): the flush, an `OptimizeJob` and a
/// `MakeJob` run by the server. The export's counts are not reported (the make job has
/// none); `export` is `None` when the make job was fresh.
async fn make_served(repo: &EntityRepository, options: &MakeOptions) -> Result<MakeMetrics> {
    let api = repo.api().expect("a served lake");
    let mut metrics = MakeMetrics::default();
    if options.flush {
        metrics.flushed = repo.flush().await?.statements;
    }
    if !options.exports {
        return Ok(metrics);
    }
    if options.optimize {
        metrics.optimize =
            Some(optimize(repo, &OptimizeOptions { force: options.force_optimize, ..Default::default() }).await?);
    }
    let record = Job::start("MakeJob", repo.dataset()).run_served(api, options.force_exports).await?;
    if !Job::was_skipped(&record) {
        metrics.export = Some(ExportMetrics { job: record.clone(), ..Default::default() });
    }
    metrics.job = record;
    Ok(metrics)
}

/// The make job: the export from `merging` or a scan, its job record (returned) and
/// `MAKE_LAST_RUN`.
async fn run_export(
    repo: &EntityRepository,
    options: &MakeOptions,
    merging: Option<(EntityStream, &mut OptimizeScan)>,
) -> Result<(ExportMetrics, Value)> {
    let dataset = repo.dataset();
    let mut job = Job::start("MakeJob", dataset);
    job.begin(dataset).await?;
    let export_options = ExportOptions { force: options.force_exports, ..Default::default() };
    let exported = export_from(repo, &export_options, merging).await;
    job.done = 1;
    let record = job.finish(dataset, exported.as_ref().err().map(ToString::to_string).as_deref()).await?;
    let exported = exported?;
    dataset.tags().set(MAKE_LAST_RUN, job.started()).await?;
    Ok((exported, record))
}
