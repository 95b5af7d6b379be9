//! `mappings put / ls / get / delete / process` (seed 002 "Mappings").

use std::io::{Read, Write};

use anyhow::{Result, bail};
use lakehouse::operation::mapping::{delete_mapping, process_mapping};
use lakehouse::repository::{EntityRepository, MappingRepository};

use crate::cli::MappingsCommand;
use crate::context::{Context, input, output, progress};

/// `mappings …`.
pub async fn mappings(ctx: &Context, command: MappingsCommand) -> Result<()> {
    let dataset = ctx.dataset()?;
    dataset.ensure().await?;
    let mappings = MappingRepository::new(&dataset);
    match command {
        MappingsCommand::Put { input: path, content_hash } => {
            let (mut reader, source) = input(&path)?;
            let mut yaml = String::new();
            reader.read_to_string(&mut yaml)?;
            let (mapping, changed) = mappings.put(&yaml, &source, content_hash.as_deref()).await?;
            let what = if changed { "Stored" } else { "Unchanged:" };
            eprintln!("{what} mapping {} of {}.", mapping.content_hash, dataset.name().as_str());
        }
        MappingsCommand::Ls(o) => {
            let mut out = output(&o.output)?;
            for hash in mappings.list().await? {
                writeln!(out, "{hash}")?;
            }
            out.finish()?;
        }
        MappingsCommand::Get { content_hash, output: o } => {
            let Some(mapping) = mappings.get(&content_hash).await? else {
                bail!("Not found: mapping {content_hash}");
            };
            let mut out = output(&o.output)?;
            out.write_all(mapping.yaml.as_bytes())?;
            out.finish()?;
        }
        MappingsCommand::Delete { content_hash } => {
            let repo = EntityRepository::open(&dataset).await?;
            let Some(removed) = delete_mapping(&repo, &content_hash).await? else {
                bail!("Not found: mapping {content_hash}");
            };
            eprintln!("Deleted mapping {content_hash} and its {removed} statements.");
        }
        MappingsCommand::Process { content_hashes, all, force } => {
            let hashes = if all { mappings.list().await? } else { content_hashes };
            let repo = EntityRepository::open(&dataset).await?;
            for hash in hashes {
                let bar = progress("rows");
                let metrics = process_mapping(&repo, &hash, force.force, |n| bar.set_position(n)).await;
                bar.finish_and_clear();
                let m = metrics?;
                if m.skipped {
                    eprintln!("Mapping {hash} is up to date (processed after its last change); --force runs it.");
                } else {
                    eprintln!(
                        "Mapped {hash}: {} rows, {} entities written, {} values discarded, {} earlier statements removed.",
                        m.rows, m.entities, m.discarded, m.removed
                    );
                }
            }
        }
    }
    Ok(())
}
