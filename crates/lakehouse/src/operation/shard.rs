//! `maintenance shard --shards N`: re-shard the statement table (spec `storage-format.md` §5.5,
//! `interfaces.md` §1.5; a `ShardJob`).
//!
//! Fresh (skipped) when `config.yml` has that count already and no re-shard is outstanding,
//! unless forced. Otherwise: flush the journal, rewrite the table in one commit
//! ([`StatementStore::reshard`](crate::storage::StatementStore::reshard)), write `shards: N` to
//! `config.yml`, clear the table's pending count, record the job and
//! `operations/shard/last_run`. The partitions come out dirty: run `optimize` afterwards. A run
//! killed anywhere leaves a readable lake, and the next run completes it.

use serde_json::Value;

use super::jobs::Job;
use crate::error::{Error, Result};
use crate::repository::EntityRepository;
use crate::storage::statements::{PENDING_SHARDS, ReshardMetrics, same_layout};
use crate::storage::tags::keys::SHARD_LAST_RUN;

/// What a re-shard did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardMetrics {
    /// Fresh: the lake had that count already.
    pub skipped: bool,
    /// The rewrite (nothing rewritten when the table was at that count, e.g. after a run that
    /// stopped before writing the config).
    pub reshard: ReshardMetrics,
    /// The final `ShardJob` record (the skipped record when fresh).
    pub job: Value,
}

/// Re-shards the dataset to `shards` shards (see the module docs); in api mode, runs a
/// `ShardJob` on the server.
///
/// # Errors
/// [`Error::Locked`] if the fence stays busy; flush and store errors (the lake then reads as
/// before, or as after when only the config update failed: run it again); [`Error::Api`].
pub async fn shard(repo: &EntityRepository, shards: u32, force: bool) -> Result<ShardMetrics> {
    let mut job = Job::start("ShardJob", repo.dataset());
    job.fields.insert("shards".into(), shards.into());
    if let Some(api) = repo.api() {
        let record = job.run_served(api, force).await?;
        return Ok(ShardMetrics { skipped: Job::was_skipped(&record), job: record, ..Default::default() });
    }
    let store = repo.statements();
    let pending = match store.table().await? {
        Some(table) => table.snapshot()?.metadata().configuration().contains_key(PENDING_SHARDS),
        None => false,
    };
    // The config as it is now: a long-lived repository's may predate a re-shard by another.
    let configured = repo.dataset().read_config().await?.map_or(repo.config().shards(), |c| c.shards());
    if !force && !pending && same_layout(configured, shards) {
        return Ok(ShardMetrics { skipped: true, job: job.skipped(), ..Default::default() });
    }
    let dataset = repo.dataset();
    job.begin(dataset).await?;
    let result = async {
        repo.flush().await?;
        let reshard = store.reshard(shards).await?;
        dataset.write_shards(shards).await?;
        store.finish_reshard().await?;
        Ok::<_, Error>(reshard)
    }
    .await;
    job.done = u64::from(result.is_ok());
    let record = job.finish(dataset, result.as_ref().err().map(ToString::to_string).as_deref()).await?;
    let reshard = result?;
    dataset.tags().set(SHARD_LAST_RUN, job.started()).await?;
    Ok(ShardMetrics { skipped: false, reshard, job: record })
}
