//! One module per command group; each function takes the parsed flags and calls the library.

pub mod api;
pub mod archive;
pub mod catalog;
pub mod entities;
pub mod maintenance;
pub mod make;
pub mod mappings;
pub mod queue;
pub mod statements;
pub mod tags;
pub mod zfs;

use anyhow::Result;
use lakehouse::operation::artifacts::open_artifact;
use lakehouse::operation::import::{ImportMetrics, ImportOptions, import_entities, import_statements};
use lakehouse::repository::{EntityRepository, WriteOptions};
use lakehouse::storage::statements::AsOf;

use crate::cli::ImportArgs;
use crate::context::{Context, input, output, progress};

/// What a record command works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    Entities,
    Statements,
}

/// `entities import` / `statements import`.
pub async fn import(ctx: &Context, args: &ImportArgs, records: Records) -> Result<()> {
    let options = import_options(args)?;
    let repo = EntityRepository::open(&ctx.dataset()?).await?;
    let (reader, source) = input(&args.input)?;
    let bar = progress(if records == Records::Entities { "entities" } else { "statements" });
    let tick = |n| bar.set_position(n);
    let result: lakehouse::Result<ImportMetrics> = match records {
        Records::Entities => import_entities(&repo, reader, &source, &options, tick).await,
        Records::Statements => import_statements(&repo, reader, &source, &options, tick).await,
    };
    bar.finish_and_clear();
    let m = result?;
    let target = if m.stored { "statement store" } else { "journal" };
    eprintln!("Imported {} records ({} statements, {} skipped) into the {target}.", m.items, m.statements, m.skipped);
    if repo.api().is_some() {
        // A served lake's journal may be in its server's memory: flush it now (the reference
        // refuses imports in api mode).
        let flushed = repo.flush().await?.statements;
        eprintln!("Flushed {flushed} statements on {}.", ctx.catalog.root());
    }
    Ok(())
}

/// The dataset's entities, read as of `as_of` (`--as-of`) when given.
pub async fn open_repo(ctx: &Context, as_of: Option<&str>) -> Result<EntityRepository> {
    let repo = EntityRepository::open(&ctx.dataset()?).await?;
    Ok(match as_of {
        Some(text) => repo.at(AsOf::parse(text)?)?,
        None => repo,
    })
}

/// `entities stream` / `statements stream`: copies an exported artifact, decompressed.
pub async fn stream(ctx: &Context, out: &str, artifact: &str) -> Result<()> {
    let dataset = ctx.dataset()?;
    let config = dataset.ensure().await?;
    let mut reader = open_artifact(&dataset, &config, artifact).await?;
    let mut out = output(out)?;
    std::io::copy(&mut reader, &mut out)?;
    out.finish()?;
    Ok(())
}

/// Import options from the shared flags.
pub fn import_options(args: &ImportArgs) -> Result<ImportOptions> {
    let last_seen = match &args.last_seen {
        None => None,
        Some(text) => Some(
            ftm::time::parse_iso(text)
                .ok_or_else(|| anyhow::anyhow!("--last-seen {text:?} is not an ISO 8601 time"))?,
        ),
    };
    Ok(ImportOptions {
        write: WriteOptions {
            origin: args.origin.clone(),
            override_origin: args.override_origin,
            role: args.role.clone(),
            last_seen,
            keep_namespace: false,
        },
        lenient: args.lenient,
        bulk_size: args.bulk_size,
    })
}
