//! `tags ls / get / set / delete` (seed 002 "Tags", "Tenant usage").

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Result, bail};
use lakehouse::storage::tags::LAKEHOUSE_TENANT;

use crate::cli::TagsCommand;
use crate::context::{Context, output};

/// Refuses writes to the lake's own tenant: its tags are the freshness clocks of every
/// operation, and a client setting one could make `make` skip work it must do.
fn writable(tenant: &str) -> Result<()> {
    if tenant == LAKEHOUSE_TENANT {
        bail!("the `{LAKEHOUSE_TENANT}` tenant's tags are the lake's own: use a tenant of your own (--tenant NAME)");
    }
    Ok(())
}

/// `tags …`.
pub async fn tags(ctx: &Context, command: TagsCommand) -> Result<ExitCode> {
    let dataset = ctx.dataset()?;
    match command {
        TagsCommand::Ls { tenant, prefix, output: o } => {
            let mut out = output(&o.output)?;
            for (key, value) in dataset.tenant_tags(&tenant)?.list(prefix.as_deref()).await? {
                writeln!(out, "{key}\t{value}")?;
            }
            out.finish()?;
        }
        TagsCommand::Get { key, tenant } => {
            let Some(value) = dataset.tenant_tags(&tenant)?.get_raw(&key).await? else {
                eprintln!("error: tag `{key}` of tenant `{tenant}` is not set");
                return Ok(ExitCode::from(1));
            };
            println!("{value}");
        }
        TagsCommand::Set { key, time, tenant } => {
            writable(&tenant)?;
            let when = match time {
                None => chrono::Utc::now(),
                Some(text) => match ftm::time::parse_iso(&text) {
                    Some(when) => when,
                    None => bail!("{text:?} is not an ISO 8601 time"),
                },
            };
            dataset.tenant_tags(&tenant)?.set(&key, when).await?;
        }
        TagsCommand::Delete { key, tenant } => {
            writable(&tenant)?;
            dataset.tenant_tags(&tenant)?.delete(&key).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
