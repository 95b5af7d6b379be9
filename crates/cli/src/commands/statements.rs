//! `statements iterate`.

use anyhow::Result;
use lakehouse::repository::EntityRepository;
use lakehouse::repository::query::parse_query;
use lakehouse::storage::statements::TableCsv;

use crate::context::{Context, output};

/// `statements iterate`: live statement rows as CSV (see [`TableCsv`]).
pub async fn iterate(ctx: &Context, out: &str, query: Option<&str>) -> Result<()> {
    let query = parse_query(query.unwrap_or_default())?;
    let repo = EntityRepository::open(&ctx.dataset()?).await?;
    let mut stream = repo.query(&query.filter, true).await?;
    let mut csv = TableCsv::new(output(out)?, repo.config().shards());
    while let Some(rows) = stream.next().await? {
        csv.write(&rows)?;
    }
    csv.finish()?.finish()?;
    Ok(())
}
