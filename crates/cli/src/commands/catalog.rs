//! `ls`, `datasets`, `configure`.

use std::io::Write;

use anyhow::{Context as _, Result};
use serde_json::{Map, Value};

use crate::context::{Context, output, read_text};

/// `ls`: dataset names, one per line.
pub async fn ls(ctx: &Context, out: &str) -> Result<()> {
    let mut out = output(out)?;
    for name in ctx.catalog.datasets().await? {
        writeln!(out, "{name}")?;
    }
    out.finish()?;
    Ok(())
}

/// `datasets`: every dataset's configuration as one JSON line.
pub async fn datasets(ctx: &Context, out: &str) -> Result<()> {
    let mut out = output(out)?;
    for name in ctx.catalog.datasets().await? {
        let dataset = ctx.catalog.dataset(name, None)?;
        if let Some(config) = dataset.read_config().await? {
            writeln!(out, "{}", serde_json::to_string(&config.model())?)?;
        }
    }
    out.finish()?;
    Ok(())
}

/// Merges the YAML file at `path` into the dataset's config.yml; returns the result.
pub async fn merge_config(ctx: &Context, path: &str) -> Result<lakehouse::repository::DatasetConfig> {
    let text = read_text(path)?;
    let update: Map<String, Value> =
        serde_norway::from_str(&text).with_context(|| format!("{path} is not a YAML mapping"))?;
    Ok(ctx.dataset()?.configure(&update).await?)
}

/// `configure -c YML`: merges the file into config.yml and prints the result to stderr.
pub async fn configure(ctx: &Context, path: &str) -> Result<()> {
    eprint!("{}", merge_config(ctx, path).await?.to_yaml());
    Ok(())
}
