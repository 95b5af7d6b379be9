//! `queue put / ls / consume` (seed 001 "QueueStore", seed 002 "Queue").

use std::io::{BufRead, Write};

use anyhow::{Result, bail};
use lakehouse::model::file::validate_segment;
use lakehouse::model::queue::QueueAction;
use lakehouse::operation::queue::{ConsumeOptions, consume};
use lakehouse::repository::EntityRepository;
use lakehouse::storage::queue::QueueStore;
use serde_json::{Value, json};

use crate::cli::QueueCommand;
use crate::context::{Context, input, output, progress};

/// `queue …`.
pub async fn queue(ctx: &Context, command: QueueCommand) -> Result<()> {
    let dataset = ctx.dataset()?;
    dataset.ensure().await?;
    match command {
        QueueCommand::Put { input: path, tenant } => {
            let queue = QueueStore::new(dataset.object_store(), validate_segment("tenant", &tenant)?);
            let (reader, source) = input(&path)?;
            let mut items = Vec::new();
            for (number, line) in reader.lines().enumerate() {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                QueueAction::from_json(&format!("{source} line {}", number + 1), line.as_bytes())?;
                items.push(line);
            }
            let count = items.len();
            for item in items {
                queue.put(item.into_bytes().into()).await?;
            }
            eprintln!("Queued {count} items for tenant `{tenant}`.");
        }
        QueueCommand::Ls { tenant, limit, output: o } => {
            let queue = QueueStore::new(dataset.object_store(), validate_segment("tenant", &tenant)?);
            let mut out = output(&o.output)?;
            for id in queue.list(limit).await? {
                let Some(bytes) = queue.read(&id).await? else { continue };
                let item = match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Object(mut object)) => {
                        object.insert("id".into(), Value::String(id));
                        Value::Object(object)
                    }
                    // An item that does not read is listed with its text, for a person to fix.
                    _ => json!({"id": id, "unreadable": String::from_utf8_lossy(&bytes)}),
                };
                writeln!(out, "{item}")?;
            }
            out.finish()?;
        }
        QueueCommand::Consume { tenant, follow, batch } => {
            validate_segment("tenant", &tenant)?;
            if batch == 0 {
                bail!("--batch must be at least 1");
            }
            let repo = EntityRepository::open(&dataset).await?;
            let options = ConsumeOptions { batch, follow, ..ConsumeOptions::default() };
            let bar = progress("items");
            let metrics = consume(&repo, &tenant, &options, |n| bar.set_position(n)).await;
            bar.finish_and_clear();
            let m = metrics?;
            eprintln!(
                "Consumed {} items of tenant `{tenant}`: {} entities written, {} statements tombstoned, {} files archived, {} file records removed.",
                m.items, m.upserted, m.tombstoned, m.archived, m.removed_files
            );
        }
    }
    Ok(())
}
