//! `entities iterate`, `entities get` and `entities delete-origin`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use lakehouse::model::query::Query;
use lakehouse::repository::EntityRepository;

use crate::cli::QueryArgs;
use crate::commands::open_repo;
use crate::context::{Context, output};

/// The query of `-q` or `--rql` (clap refuses both); no flag: every entity.
pub fn parse(args: &QueryArgs) -> Result<Query> {
    Ok(match (&args.query, &args.rql) {
        (_, Some(rql)) => Query::from_rql(rql)?,
        (Some(q), None) => Query::from_flat(q)?,
        (None, None) => Query::default(),
    })
}

/// `entities iterate`: the live entities the query selects, as JSON lines.
pub async fn iterate(ctx: &Context, out: &str, args: &QueryArgs) -> Result<()> {
    let query = parse(args)?;
    let repo = open_repo(ctx, args.as_of.as_deref()).await?;
    let mut results = repo.query_lines(&query, true).await?;
    let mut out = output(out)?;
    let mut lines = Vec::new();
    while results.next(&mut lines).await? {
        out.write_all(&lines)?;
        lines.clear();
    }
    out.finish()?;
    Ok(())
}

/// `entities get ID [--origin O]`: one entity as a JSON line; exit 1 (with a message) when the
/// entity has no live statements (of that origin).
pub async fn get(ctx: &Context, out: &str, id: &str, origin: Option<&str>, as_of: Option<&str>) -> Result<ExitCode> {
    let repo = open_repo(ctx, as_of).await?;
    let Some(entity) = repo.get(id, origin).await? else {
        let of = origin.map(|o| format!(" of origin `{o}`")).unwrap_or_default();
        eprintln!("error: no entity `{id}`{of} in dataset `{}`", repo.dataset().name());
        return Ok(ExitCode::from(1));
    };
    let mut out = output(out)?;
    serde_json::to_writer(&mut out, &entity.to_json())?;
    out.write_all(b"\n")?;
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// `entities delete-origin ORIGIN`.
pub async fn delete_origin(ctx: &Context, origin: &str) -> Result<()> {
    let repo = EntityRepository::open(&ctx.dataset()?).await?;
    match repo.delete_origin(origin).await? {
        Some(rows) => eprintln!("Deleted {rows} statements of origin `{origin}`."),
        None => eprintln!("Deleted the statements of origin `{origin}`."),
    }
    Ok(())
}
