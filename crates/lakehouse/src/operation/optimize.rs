//! `maintenance optimize`: merge and vacuum the statement store (seed 002 "Optimize"; spec
//! `exports-and-operations.md` §9.4: the merge is the compaction; Delta's bin-packing is
//! `maintenance compact`, never run here, since it would pack the files appended meanwhile with
//! the merged ones into an unsorted file).
//!
//! Skipped when no partition is dirty unless forced. Sets `operations/optimize/last_run` (the
//! start time) and `statements/store_optimized` when it ran.

use serde_json::Value;

use super::jobs::Job;
use crate::error::{Error, Result};
use crate::repository::EntityRepository;
use crate::storage::statements::{EntityStream, MergeMetrics, MergeOptions, MergeTask, VacuumMetrics};
use crate::storage::tags::keys::{OPTIMIZE_LAST_RUN, STORE_OPTIMIZED};

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
    /// What the merge did.
    pub merge: MergeMetrics,
    /// What the vacuum did: the files it deleted, the versions no longer readable.
    pub vacuum: VacuumMetrics,
    /// The final `OptimizeJob` record (the skipped record when nothing ran).
    pub job: Value,
}

/// Optimizes the dataset's statement store; in api mode, runs an `OptimizeJob` on the server
/// (the metrics then hold only the job record).
///
/// # Errors
/// [`Error::Locked`] if the fence stays busy; store errors; [`Error::Api`].
pub async fn optimize(repo: &EntityRepository, options: &OptimizeOptions) -> Result<OptimizeMetrics> {
    if let Some(api) = repo.api() {
        let record = optimize_job(repo, options).run_served(api, options.force).await?;
        return Ok(OptimizeMetrics { skipped: Job::was_skipped(&record), job: record, ..Default::default() });
    }
    let store = repo.statements();
    let dirty = store.partitions().await?.iter().any(|p| !p.is_clean());
    let job = optimize_job(repo, options);
    if !dirty && !options.force {
        return Ok(OptimizeMetrics { skipped: true, job: job.skipped(), ..Default::default() });
    }
    job.begin(repo.dataset()).await?;
    finish(repo, job, run(repo, options).await).await
}

/// An optimize with its merge output being read ([`optimize_scan`]).
pub(crate) enum Optimizing {
    /// The optimize ran (or was skipped) the usual way.
    Ran(OptimizeMetrics),
    /// The merge is running; its output is the stream. Finish with [`OptimizeScan::finish`]
    /// (boxed: the stream and the job are large beside the metrics).
    Scanning(Box<(EntityStream, OptimizeScan)>),
}

/// The rest of an optimize whose merge is being read: waiting for the merge, then compact and
/// vacuum, the job record and the tags.
pub(crate) struct OptimizeScan {
    job: Job,
    options: OptimizeOptions,
    merge: Option<MergeTask>,
    /// The outcome once waited for (an error as its message).
    outcome: Option<std::result::Result<OptimizeMetrics, String>>,
}

/// Optimizes as [`optimize`] does, with the merge's output read as it is written when the
/// store allows it ([`StatementStore::merge_scan`](crate::storage::StatementStore::merge_scan):
/// few enough partitions to merge); otherwise (or with nothing to optimize) it runs as
/// [`optimize`].
///
/// # Errors
/// As [`optimize`].
pub(crate) async fn optimize_scan(repo: &EntityRepository, options: &OptimizeOptions) -> Result<Optimizing> {
    let store = repo.statements();
    let selected = store.partitions().await?.iter().filter(|p| options.force || !p.is_clean()).count();
    if selected == 0 || selected > store.merge_partitions() {
        return optimize(repo, options).await.map(Optimizing::Ran);
    }
    let job = optimize_job(repo, options);
    job.begin(repo.dataset()).await?;
    match repo.statements().merge_scan(&merge_options(options)).await {
        Ok(Some(scan)) => {
            let rest = OptimizeScan { job, options: options.clone(), merge: Some(scan.merge), outcome: None };
            Ok(Optimizing::Scanning(Box::new((scan.stream, rest))))
        }
        // The partitions changed meanwhile: the usual way, under the job already begun.
        Ok(None) => finish(repo, job, run(repo, options).await).await.map(Optimizing::Ran),
        Err(e) => finish(repo, job, Err(e)).await.map(Optimizing::Ran),
    }
}

impl OptimizeScan {
    /// Waits for the merge to commit, then vacuums. Later calls give the same
    /// outcome (an error then as [`Error::Corrupt`] with its message).
    ///
    /// # Errors
    /// As [`optimize`].
    pub(crate) async fn wait(&mut self, repo: &EntityRepository) -> Result<OptimizeMetrics> {
        let Some(merge) = self.merge.take() else {
            let outcome = self.outcome.clone().expect("a merge or its outcome");
            return outcome.map_err(Error::Corrupt);
        };
        let result = match merge.wait().await {
            Ok(merge) => tidy(repo, &self.options, merge).await,
            Err(e) => Err(e),
        };
        self.outcome = Some(result.as_ref().map(Clone::clone).map_err(ToString::to_string));
        result
    }

    /// Waits as [`OptimizeScan::wait`] and records the job and the tags.
    ///
    /// # Errors
    /// As [`optimize`].
    pub(crate) async fn finish(mut self, repo: &EntityRepository) -> Result<OptimizeMetrics> {
        let result = self.wait(repo).await;
        finish(repo, self.job, result).await
    }
}

/// The `OptimizeJob` of a run with `options`, not begun.
fn optimize_job(repo: &EntityRepository, options: &OptimizeOptions) -> Job {
    let mut job = Job::start("OptimizeJob", repo.dataset());
    job.fields.insert("retention_hours".into(), options.retention_hours.into());
    job
}

fn merge_options(options: &OptimizeOptions) -> MergeOptions {
    MergeOptions { grace_period_days: options.grace_period_days, force: options.force }
}

/// Records the end of `job` with `result`, and the optimize tags when it succeeded.
async fn finish(repo: &EntityRepository, mut job: Job, result: Result<OptimizeMetrics>) -> Result<OptimizeMetrics> {
    let dataset = repo.dataset();
    if result.is_ok() {
        job.done = 2;
    }
    let record = job.finish(dataset, result.as_ref().err().map(ToString::to_string).as_deref()).await?;
    let metrics = OptimizeMetrics { job: record, ..result? };
    let tags = dataset.tags();
    tags.set(OPTIMIZE_LAST_RUN, job.started()).await?;
    tags.set(STORE_OPTIMIZED, job.started()).await?;
    Ok(metrics)
}

async fn run(repo: &EntityRepository, options: &OptimizeOptions) -> Result<OptimizeMetrics> {
    let merge = repo.statements().merge(&merge_options(options)).await?;
    tidy(repo, options, merge).await
}

/// Vacuums after `merge`.
async fn tidy(repo: &EntityRepository, options: &OptimizeOptions, merge: MergeMetrics) -> Result<OptimizeMetrics> {
    let vacuumed = repo.statements().vacuum(options.retention_hours).await?;
    tracing::info!(
        dataset = %repo.dataset().name(),
        partitions = merge.partitions,
        rows_read = merge.rows_read,
        rows_written = merge.rows_written,
        files_vacuumed = vacuumed.files_deleted.len(),
        unreadable_versions = ?vacuumed.unreadable_versions,
        "optimized"
    );
    Ok(OptimizeMetrics { skipped: false, merge, vacuum: vacuumed, job: Value::Null })
}
