//! `crawl` and `archive get / head / ls / download` (spec `archive-and-crawl.md` §2–§4).

use std::io::Write;

use anyhow::{Context as _, Result};
use futures::StreamExt;
use lakehouse::operation::crawl::{CrawlOptions, crawl as run_crawl};
use lakehouse::operation::download::download_archive;
use lakehouse::repository::config::clean_dump;
use lakehouse::repository::{ArchiveRepository, EntityRepository};
use lakehouse::storage::Location;
use serde_json::Value;

use crate::cli::{ArchiveCommand, CrawlArgs};
use crate::context::{Context, output, progress};

/// Writes a finished job: one clean JSON line (the reference's dump without nulls) to a file;
/// nothing more for `-`.
fn write_job(out: &str, job: &Value) -> Result<()> {
    if out != "-" {
        let mut out = output(out)?;
        let clean = clean_dump(job.clone(), false).unwrap_or_default();
        writeln!(out, "{}", serde_json::to_string(&clean)?)?;
        out.finish()?;
    }
    Ok(())
}

/// `crawl URI`.
pub async fn crawl(ctx: &Context, args: &CrawlArgs) -> Result<()> {
    let options = CrawlOptions {
        uri: args.uri.clone(),
        prefix: args.prefix.clone(),
        exclude_prefix: args.exclude_prefix.clone(),
        glob: args.include.clone(),
        exclude_glob: args.exclude.clone(),
        make_entities: !args.no_make_entities,
        store_metadata: true,
        existing: Some(args.existing.parse().map_err(|e: String| anyhow::anyhow!("--existing: {e}"))?),
    };
    let repo = EntityRepository::open(&ctx.dataset()?).await?;
    let bar = progress("files");
    let metrics = run_crawl(&repo, &options, |n| bar.set_position(n)).await;
    bar.finish_and_clear();
    let m = metrics?;
    eprintln!(
        "Crawled {}: archived {} files, skipped {}; wrote {} entities, flushed {} statements.",
        args.uri, m.done, m.skipped, m.entities, m.flushed
    );
    write_job(&args.output, &m.job)
}

/// `archive …`.
pub async fn archive(ctx: &Context, command: ArchiveCommand) -> Result<()> {
    let dataset = ctx.dataset()?;
    dataset.ensure().await?;
    let archive = ArchiveRepository::new(&dataset);
    match command {
        ArchiveCommand::Get { checksum, output: o } => {
            let mut blob = archive.open(&checksum).await?;
            let mut out = output(&o.output)?;
            while let Some(chunk) = blob.next().await {
                out.write_all(&chunk?)?;
            }
            out.finish()?;
        }
        ArchiveCommand::Head { checksum, output: o } => {
            let mut out = output(&o.output)?;
            for file in archive.files(&checksum).await? {
                writeln!(out, "{}", file.to_json())?;
            }
            out.finish()?;
        }
        ArchiveCommand::Ls { output: o, keys, checksums, .. } => {
            let mut out = output(&o.output)?;
            for file in archive.iterate_files().await? {
                if keys {
                    writeln!(out, "{}", file.key)?;
                } else if checksums {
                    writeln!(out, "{}", file.checksum)?;
                } else {
                    writeln!(out, "{}", file.to_json())?;
                }
            }
            out.finish()?;
        }
        ArchiveCommand::Download { output: target } => {
            let repo = EntityRepository::open(&dataset).await?;
            let location = Location::parse(&target)?;
            if let Some(folder) = location.local_path() {
                std::fs::create_dir_all(folder).with_context(|| format!("cannot create {target}"))?;
            }
            let bar = progress("files");
            let metrics = download_archive(&repo, &location, |n| bar.set_position(n)).await;
            bar.finish_and_clear();
            let m = metrics?;
            eprintln!("Downloaded {} files into {target} ({} already there).", m.done, m.skipped);
        }
    }
    Ok(())
}
