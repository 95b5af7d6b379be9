//! `entities iterate`.

use std::io::Write;

use anyhow::Result;
use lakehouse::repository::EntityRepository;
use lakehouse::repository::query::parse_query;

use crate::context::{Context, output};

/// `entities iterate`: live entities as JSON lines.
pub async fn iterate(ctx: &Context, out: &str, query: Option<&str>) -> Result<()> {
    let query = parse_query(query.unwrap_or_default())?;
    let repo = EntityRepository::open(&ctx.dataset()?).await?;
    let mut stream = repo.query(&query.filter, true).await?;
    let mut out = output(out)?;
    let (mut skipped, mut written) = (0, 0);
    while let Some(entity) = stream.next_entity().await? {
        if skipped < query.offset {
            skipped += 1;
            continue;
        }
        if query.limit.is_some_and(|limit| written >= limit) {
            break;
        }
        serde_json::to_writer(&mut out, &entity.to_json())?;
        out.write_all(b"\n")?;
        written += 1;
    }
    out.finish()?;
    Ok(())
}
