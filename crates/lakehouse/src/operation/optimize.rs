//! `maintenance optimize`: merge, compact and vacuum the statement store (seed 002 "Optimize";
//! spec `exports-and-operations.md` §9.4).
//!
//! Skipped when no partition is dirty unless forced. Sets `operations/optimize/last_run` (the
//! start time) and `statements/store_optimized` when it ran.

use super::jobs::Job;
use crate::error::Result;
use crate::repository::EntityRepository;
use crate::storage::statements::{MergeMetrics, MergeOptions};

/// Tag set by a completed optimize.
pub const OPTIMIZE_LAST_RUN: &str = "operations/optimize/last_run";
/// Tag of seed 002: the store was optimized.
pub const STORE_OPTIMIZED: &str = "statements/store_optimized";

/// Options of an optimize.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptimizeOptions {
    /// Vacuum deletes unreferenced files older than this (the reference's default is 0).
    pub retention_hours: u32,
    /// Run even when every partition is clean (reaps expired tombstones everywhere).
    pub force: bool,
    /// Override `LAKEHOUSE_GRACE_PERIOD_DAYS` for this run.
    pub grace_period_days: Option<u32>,
}

/// What an optimize did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OptimizeMetrics {
    /// Nothing was dirty (and not forced): nothing ran.
    pub skipped: bool,
    pub merge: MergeMetrics,
    pub files_compacted: u64,
    pub files_vacuumed: usize,
}

/// Optimizes the dataset's statement store.
///
/// # Errors
/// [`Error::Locked`](crate::Error::Locked) if the fence stays busy; store errors.
pub async fn optimize(repo: &EntityRepository, options: &OptimizeOptions) -> Result<OptimizeMetrics> {
    let store = repo.statements();
    let dirty = store.partitions().await?.iter().any(|p| !p.is_clean());
    if !dirty && !options.force {
        return Ok(OptimizeMetrics { skipped: true, ..Default::default() });
    }
    let dataset = repo.dataset();
    let mut job = Job::start("OptimizeJob", dataset);
    job.fields.insert("retention_hours".into(), options.retention_hours.into());
    job.begin(dataset).await?;
    let result = run(repo, options, &mut job).await;
    job.finish(dataset, result.as_ref().err().map(ToString::to_string).as_deref()).await?;
    let metrics = result?;
    let tags = dataset.tags();
    tags.set(OPTIMIZE_LAST_RUN, job.started()).await?;
    tags.set(STORE_OPTIMIZED, job.started()).await?;
    Ok(metrics)
}

async fn run(repo: &EntityRepository, options: &OptimizeOptions, job: &mut Job) -> Result<OptimizeMetrics> {
    let store = repo.statements();
    let merge =
        store.merge(&MergeOptions { grace_period_days: options.grace_period_days, force: options.force }).await?;
    job.done = 1;
    let compacted = store.compact().await?;
    let vacuumed = store.vacuum(options.retention_hours).await?;
    job.done = 2;
    Ok(OptimizeMetrics {
        skipped: false,
        merge,
        files_compacted: compacted.files_removed,
        files_vacuumed: vacuumed.files_deleted.len(),
    })
}
