//! `statements iterate` and `statements sql`.

use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use lakehouse::arrow::array::RecordBatch;
use lakehouse::storage::statements::TableCsv;

use crate::cli::{QueryArgs, SqlFormat};
use crate::commands::entities::parse;
use crate::commands::open_repo;
use crate::context::{Context, output};

/// `statements iterate`: the live statement rows of the entities the query selects, as CSV (see
/// [`TableCsv`]); `select` keeps the rows of the selected properties and the checksum row.
pub async fn iterate(ctx: &Context, out: &str, args: &QueryArgs) -> Result<()> {
    let query = parse(args)?;
    let repo = open_repo(ctx, args.as_of.as_deref()).await?;
    let mut results = repo.query(&query, true).await?;
    let mut csv = TableCsv::new(output(out)?, repo.config().shards());
    while let Some(rows) = results.next_statements().await? {
        csv.write(&rows)?;
    }
    csv.finish()?.finish()?;
    Ok(())
}

/// `statements sql QUERY`: the result as a table with a row count, CSV or JSON lines; the
/// time taken goes to stderr.
pub async fn sql(ctx: &Context, out: &str, sql: &str, format: SqlFormat, as_of: Option<&str>) -> Result<()> {
    let started = Instant::now();
    let repo = open_repo(ctx, as_of).await?;
    let batches = repo.sql(sql).await?;
    let mut out = output(out)?;
    match format {
        SqlFormat::Table => {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let table = lakehouse::arrow::util::pretty::pretty_format_batches(&batches)?;
            writeln!(out, "{table}")?;
            writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
        }
        SqlFormat::Csv => {
            let mut writer = lakehouse::arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            for batch in &batches {
                writer.write(batch)?;
            }
        }
        SqlFormat::Json => {
            let mut writer = lakehouse::arrow::json::LineDelimitedWriter::new(&mut out);
            writer.write_batches(&batches.iter().collect::<Vec<_>>())?;
            writer.finish()?;
        }
    }
    out.finish()?;
    eprintln!("Query took: {:.3} s", started.elapsed().as_secs_f64());
    Ok(())
}
