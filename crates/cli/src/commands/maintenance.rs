//! `maintenance flush`, `maintenance optimize`, `maintenance unlock`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};
use lakehouse::operation::migrate::migrate as run_migrate;
use lakehouse::operation::optimize::{OptimizeOptions, optimize as run_optimize};
use lakehouse::operation::shard::shard as run_shard;
use lakehouse::operation::verify::{VerifyOptions, verify as run_verify};
use lakehouse::repository::EntityRepository;

use crate::context::{Context, output, progress};

/// `maintenance flush [--all]`.
pub async fn flush(ctx: &Context, all: bool, dataset_given: bool) -> Result<()> {
    if all && dataset_given {
        bail!("Use either `-d <dataset>` or `--all`, not both.");
    }
    let datasets = if all { ctx.catalog.datasets().await? } else { vec![ctx.dataset()?.name().clone()] };
    let mut total = 0;
    for name in datasets {
        let repo = EntityRepository::open(&ctx.catalog.dataset(name.clone(), None)?).await?;
        let bar = progress(&format!("flush {name}"));
        let shown = bar.clone();
        let metrics = repo.flush_with(move |n| shown.set_position(n)).await;
        bar.finish_and_clear();
        let metrics = metrics?;
        if metrics.skipped {
            eprintln!("{name}: another flush moved the journal meanwhile.");
        }
        total += metrics.statements;
        if !all {
            eprintln!("Flushed {} statements.", metrics.statements);
        }
    }
    if all {
        eprintln!("Flushed {total} statements in total.");
    }
    Ok(())
}

/// `maintenance optimize`.
pub async fn optimize(ctx: &Context, retention_hours: u32, force: bool) -> Result<()> {
    let repo = EntityRepository::open(&ctx.dataset()?).await?;
    let bar = progress("optimize");
    let metrics = run_optimize(&repo, &OptimizeOptions { retention_hours, force, grace_period_days: None }).await;
    bar.finish_and_clear();
    let metrics = metrics?;
    if metrics.skipped {
        eprintln!("Store is optimized (no dirty partition); use --force to run anyway.");
    } else if repo.api().is_some() {
        eprintln!("Optimized on {}: {}", ctx.catalog.root(), metrics.job);
    } else {
        let m = &metrics.merge;
        eprintln!(
            "Optimized {} partitions: {} rows read, {} rows kept; {} files vacuumed.",
            m.partitions,
            m.rows_read,
            m.rows_written,
            metrics.vacuum.files_deleted.len()
        );
        report_unreadable(&metrics.vacuum.unreadable_versions);
    }
    Ok(())
}

/// Names the versions a vacuum made unreadable (`--as-of` them fails from now on).
pub(crate) fn report_unreadable(ranges: &[std::ops::RangeInclusive<u64>]) {
    if ranges.is_empty() {
        return;
    }
    let spelled: Vec<String> = ranges
        .iter()
        .map(|r| if r.start() == r.end() { r.start().to_string() } else { format!("{}-{}", r.start(), r.end()) })
        .collect();
    eprintln!("Versions {} can no longer be read (their files were vacuumed).", spelled.join(", "));
}

/// `maintenance shard --shards N [--force]`: prints the job record.
pub async fn shard(ctx: &Context, shards: u32, force: bool) -> Result<()> {
    let repo = EntityRepository::open(&ctx.dataset()?).await?;
    let bar = progress("shard");
    let metrics = run_shard(&repo, shards, force).await;
    bar.finish_and_clear();
    let metrics = metrics?;
    if metrics.skipped {
        eprintln!("The dataset has {shards} shards already; use --force to rewrite anyway.");
    } else if repo.api().is_none() {
        let m = &metrics.reshard;
        eprintln!(
            "Re-sharded to {shards}: {} rows, {} files written, {} removed. Run `maintenance optimize` next.",
            m.rows, m.files_added, m.files_removed
        );
    }
    println!("{}", metrics.job);
    Ok(())
}

/// `maintenance migrate [--all] [--force]`: one job record per dataset.
pub async fn migrate(ctx: &Context, all: bool, force: bool, dataset_given: bool) -> Result<()> {
    if all && dataset_given {
        bail!("Use either `-d <dataset>` or `--all`, not both.");
    }
    let datasets = if all { ctx.catalog.datasets().await? } else { vec![ctx.dataset()?.name().clone()] };
    for name in datasets {
        let repo = EntityRepository::open(&ctx.catalog.dataset(name.clone(), None)?).await?;
        let bar = progress(&format!("migrate {name}"));
        let metrics = run_migrate(&repo, force).await;
        bar.finish_and_clear();
        let metrics = metrics?;
        if metrics.skipped {
            eprintln!("{name}: every migration is done; use --force to run them again.");
        } else if repo.api().is_none() {
            eprintln!(
                "{name}: ran {}; {} statements moved from the seed layout, {} blobs renamed, columns added: {}.",
                metrics.ran.join(", "),
                metrics.statements,
                metrics.blobs,
                if metrics.columns.is_empty() { "none".to_string() } else { metrics.columns.join(", ") }
            );
        }
        println!("{}", metrics.job);
    }
    Ok(())
}

/// `maintenance compact`: Delta's bin-packing of small files, without a merge.
pub async fn compact(ctx: &Context) -> Result<()> {
    let dataset = ctx.dataset()?;
    if dataset.api().is_some() {
        return Err(lakehouse::Error::NotInApiMode("maintenance compact").into());
    }
    let config = dataset.ensure().await?;
    let m = dataset.statements(&config)?.compact().await?;
    eprintln!("Compacted {} files into {} in {} partitions.", m.files_removed, m.files_added, m.partitions);
    Ok(())
}

/// `maintenance unlock`.
pub async fn unlock(ctx: &Context) -> Result<()> {
    let dataset = ctx.dataset()?;
    if dataset.api().is_some() {
        return Err(lakehouse::Error::NotInApiMode("maintenance unlock").into());
    }
    let config = dataset.ensure().await?;
    let released = dataset.statements(&config)?.unlock().await?;
    eprintln!("{}", if released { "Lock released." } else { "No lock held." });
    Ok(())
}

/// `maintenance history`: the statement table's versions as JSON lines.
pub async fn history(ctx: &Context, out: &str) -> Result<()> {
    let dataset = ctx.dataset()?;
    if dataset.api().is_some() {
        return Err(lakehouse::Error::NotInApiMode("maintenance history").into());
    }
    let config = dataset.ensure().await?;
    let mut out = output(out)?;
    for commit in dataset.statements(&config)?.history().await? {
        let line = serde_json::json!({
            "version": commit.version,
            "timestamp": commit.timestamp.map(|t| ftm::time::isoformat(&t)),
            "operation": commit.operation,
            "parameters": commit.parameters,
        });
        writeln!(out, "{line}")?;
    }
    out.finish()?;
    Ok(())
}

/// `maintenance verify [--archive] [--repair]`: the report on stderr; exit 1 when a problem
/// remains.
pub async fn verify(ctx: &Context, archive: bool, repair: bool) -> Result<ExitCode> {
    let dataset = ctx.dataset()?;
    if dataset.api().is_some() {
        return Err(lakehouse::Error::NotInApiMode("maintenance verify").into());
    }
    let repo = EntityRepository::open(&dataset).await?;
    let report = run_verify(&repo, VerifyOptions { archive, repair }).await?;
    let table = &report.table;
    eprintln!("Statement table: {} data files checked.", table.files);
    for file in &table.missing {
        eprintln!("missing data file: statements/{file}");
    }
    for (file, error) in &table.unreadable {
        eprintln!("unreadable data file: statements/{file}: {error}");
    }
    for file in &report.orphans {
        let done = if report.orphans_removed { " (removed)" } else { "" };
        eprintln!("orphaned data file: statements/{file}{done}");
    }
    if archive {
        eprintln!("Archive: {} blobs hashed.", report.blobs);
    }
    for (checksum, problem) in &report.bad_blobs {
        eprintln!("bad blob {checksum}: {problem}");
    }
    for stray in &report.strays {
        let done = if report.removed.contains(stray) { " (removed)" } else { "" };
        eprintln!("staging leftover: {stray}{done}");
    }
    let problems = report.problems();
    if problems > 0 {
        eprintln!(
            "error: {problems} problem{} found in dataset `{}`",
            if problems == 1 { "" } else { "s" },
            dataset.name()
        );
        return Ok(ExitCode::from(1));
    }
    eprintln!("No problem found.");
    Ok(ExitCode::SUCCESS)
}
