//! `statements iterate`.

use anyhow::Result;
use ftm::time::isoformat;
use lakehouse::model::{Bucket, shard};
use lakehouse::repository::EntityRepository;
use lakehouse::repository::query::parse_query;
use lakehouse::storage::schema::table_schema;

use crate::context::{Context, output};

/// `statements iterate`: live statement rows as CSV — the stored columns in table order
/// (spec `interfaces.md` §1.5), minimal quoting, `True`/`False`.
pub async fn iterate(ctx: &Context, out: &str, query: Option<&str>) -> Result<()> {
    let query = parse_query(query.unwrap_or_default())?;
    let repo = EntityRepository::open(&ctx.dataset()?).await?;
    let shards = repo.config().shards();
    let mut stream = repo.query(&query.filter, true).await?;
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(output(out)?);
    let mut header = false;
    while let Some(rows) = stream.next().await? {
        if !header {
            writer.write_record(table_schema().fields().iter().map(|f| f.name()))?;
            header = true;
        }
        for s in rows {
            let bucket = ftm::model().get(&s.schema).map(Bucket::of).map_or("", Bucket::as_str);
            let time = |t: Option<ftm::time::Timestamp>| t.map(|t| isoformat(&t)).unwrap_or_default();
            writer.write_record([
                shard(&s.entity_id, shards).as_str(),
                &s.id,
                &s.entity_id,
                &s.dataset,
                bucket,
                s.origin.as_deref().unwrap_or_default(),
                s.source.as_deref().unwrap_or_default(),
                &s.schema,
                &s.prop,
                &s.prop_type,
                &s.value,
                s.original_value.as_deref().unwrap_or_default(),
                s.lang.as_deref().unwrap_or_default(),
                if s.external { "True" } else { "False" },
                &time(s.first_seen),
                &time(s.last_seen),
                &s.fragment,
                s.role.as_deref().unwrap_or_default(),
                &time(s.deleted_at),
            ])?;
        }
    }
    writer.flush()?;
    Ok(())
}
