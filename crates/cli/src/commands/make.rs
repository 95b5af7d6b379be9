//! `make` and `export`.

use anyhow::Result;
use lakehouse::operation::artifacts::INDEX;
use lakehouse::operation::export::{ExportMetrics, ExportOptions, export as run_export};
use lakehouse::operation::make::{MakeOptions, make as run_make};
use lakehouse::repository::EntityRepository;
use lakehouse::storage::location::Location;

use super::catalog::merge_config;
use super::maintenance::report_unreadable;
use super::open_repo;
use crate::cli::{ExportArgs, MakeArgs};
use crate::context::{Context, progress};

fn report_export(metrics: &ExportMetrics) {
    if metrics.skipped {
        eprintln!("Exports are up to date (use --force to export anyway).");
    } else {
        eprintln!(
            "Exported {} statements, {} entities, {} documents, {} parents.",
            metrics.statements, metrics.entities, metrics.documents, metrics.parents
        );
    }
}

/// `make`: optional config merge, flush, optimize, exports; prints the index to stderr.
pub async fn make(ctx: &Context, args: &MakeArgs) -> Result<()> {
    if let Some(path) = &args.config {
        merge_config(ctx, path).await?;
    }
    let dataset = ctx.dataset()?;
    let repo = EntityRepository::open(&dataset).await?;
    let options = MakeOptions {
        flush: !args.no_flush,
        optimize: !args.no_optimize,
        exports: !args.no_exports,
        force_optimize: args.force_optimize,
        force_exports: args.force_exports,
    };
    let bar = progress("make");
    let metrics = run_make(&repo, &options).await;
    bar.finish_and_clear();
    let metrics = metrics?;
    if metrics.flushed > 0 {
        eprintln!("Flushed {} statements.", metrics.flushed);
    }
    match &metrics.optimize {
        Some(optimized) if !optimized.skipped && repo.api().is_some() => {
            eprintln!("Optimized on {}.", ctx.catalog.root());
        }
        Some(optimized) if !optimized.skipped => {
            eprintln!("Optimized {} partitions.", optimized.merge.partitions);
            report_unreadable(&optimized.vacuum.unreadable_versions);
        }
        _ => {}
    }
    match &metrics.export {
        Some(_) if repo.api().is_some() => eprintln!("Exported on {}.", ctx.catalog.root()),
        Some(exported) => report_export(exported),
        None if options.exports => eprintln!("Dataset is up to date (use --force-exports to export anyway)."),
        None => {}
    }
    let index = dataset.versions().read(INDEX).await?;
    match index {
        Some(bytes) => {
            eprintln!("{}", serde_json::to_string_pretty(&serde_json::from_slice::<serde_json::Value>(&bytes)?)?)
        }
        None => eprint!("{}", repo.config().to_yaml()),
    }
    eprintln!("Exports in {}", dataset.location());
    Ok(())
}

/// `export [--force] [-o DIR [--as-of V]]`.
pub async fn export(ctx: &Context, args: &ExportArgs) -> Result<()> {
    let repo = open_repo(ctx, args.as_of.as_deref()).await?;
    let target = args.output.as_deref().map(Location::parse).transpose()?;
    let options = ExportOptions { force: args.force.force, target, ..Default::default() };
    let bar = progress("export");
    let metrics = run_export(&repo, &options).await;
    bar.finish_and_clear();
    report_export(&metrics?);
    if let Some(target) = &options.target {
        eprintln!("Exports in {target}");
    }
    Ok(())
}
