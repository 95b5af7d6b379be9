//! `maintenance migrate`: bring a dataset stored by an older version to today's layout (spec
//! `storage-format.md` §5.8, `interfaces.md` §1.5; a `MigrateJob`).
//!
//! The migrations, in order, each tagged `migrations/<name>` when done and run again only when
//! forced (each is idempotent):
//!
//! 1. [`SEED_STATEMENTS`]: a statement table in the seed's layout (`entities/statements`,
//!    partitioned by origin, with its `entities/translog`) is read into `statements/`, then
//!    removed. The rows keep their ids, values and times (the translog's where it has them); a
//!    statement the translog marks deleted becomes a tombstone.
//! 2. [`ARCHIVE_BLOBS`]: archive blobs under the seed's name (`{checksum}/data`) are renamed to
//!    today's (`{checksum}/blob`). Blobs keyed by SHA-1 keep their key (they are read as they are).
//! 3. [`ADD_COLUMNS`] (the reference's `migrate_parquet_add_role`): columns of today's schema
//!    the table lacks are added as nullable.
//! 4. [`TABLE_PROPERTIES`] (the reference's `migrate_parquet_table_properties`): the retention
//!    properties are set, then the log checkpointed and cleaned.
//!
//! Fresh (skipped) when every tag exists, unless forced. Sets `operations/migrate/last_run`.

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::Value;

use super::jobs::Job;
use crate::error::Result;
use crate::repository::EntityRepository;
use crate::storage::archive::{BLOB, SEED_BLOB};
use crate::storage::object_io;
use crate::storage::tags::keys::MIGRATE_LAST_RUN;

/// The seed layout's statement table read into today's.
pub const SEED_STATEMENTS: &str = "seed_statements_layout";
/// The seed layout's archive blob names.
pub const ARCHIVE_BLOBS: &str = "archive_blob_names";
/// Missing table columns added (the reference's name).
pub const ADD_COLUMNS: &str = "migrate_parquet_add_role";
/// Retention properties set (the reference's name).
pub const TABLE_PROPERTIES: &str = "migrate_parquet_table_properties";
/// Every migration, in the order they run.
pub const MIGRATIONS: [&str; 4] = [SEED_STATEMENTS, ARCHIVE_BLOBS, ADD_COLUMNS, TABLE_PROPERTIES];

/// The seed layout's statement table, below the dataset root.
const SEED_TABLE: &str = "entities/statements";
/// The seed layout's translog table, below the dataset root.
const SEED_TRANSLOG: &str = "entities/translog";

/// What a migrate did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrateMetrics {
    /// Fresh: every migration was done already.
    pub skipped: bool,
    /// The migrations that ran (and were tagged), in order.
    pub ran: Vec<&'static str>,
    /// Statements read from a seed-layout table.
    pub statements: u64,
    /// Archive blobs renamed.
    pub blobs: u64,
    /// Table columns added.
    pub columns: Vec<String>,
    /// Whether the retention properties changed.
    pub properties: bool,
    /// The final `MigrateJob` record (the skipped record when fresh).
    pub job: Value,
}

fn tag(name: &str) -> String {
    format!("migrations/{name}")
}

/// Runs the outstanding migrations of the dataset (see the module docs); in api mode, runs a
/// `MigrateJob` on the server.
///
/// # Errors
/// The first failing migration's error (those before it stay done and tagged); [`Error::Api`].
///
/// [`Error::Api`]: crate::error::Error::Api
pub async fn migrate(repo: &EntityRepository, force: bool) -> Result<MigrateMetrics> {
    let dataset = repo.dataset();
    let mut job = Job::start("MigrateJob", dataset);
    if let Some(api) = repo.api() {
        let record = job.run_served(api, force).await?;
        return Ok(MigrateMetrics { skipped: Job::was_skipped(&record), job: record, ..Default::default() });
    }
    let tags = dataset.tags();
    let mut outstanding = Vec::new();
    for name in MIGRATIONS {
        if force || !tags.exists(&tag(name)).await? {
            outstanding.push(name);
        }
    }
    if outstanding.is_empty() {
        return Ok(MigrateMetrics { skipped: true, job: job.skipped(), ..Default::default() });
    }
    job.pending = outstanding.len() as u64;
    job.begin(dataset).await?;
    let mut metrics = MigrateMetrics::default();
    let result = run(repo, &outstanding, &mut job, &mut metrics).await;
    let record = job.finish(dataset, result.as_ref().err().map(ToString::to_string).as_deref()).await?;
    result?;
    tags.set(MIGRATE_LAST_RUN, job.started()).await?;
    metrics.job = record;
    Ok(metrics)
}

async fn run(
    repo: &EntityRepository,
    outstanding: &[&'static str],
    job: &mut Job,
    metrics: &mut MigrateMetrics,
) -> Result<()> {
    let dataset = repo.dataset();
    let store = repo.statements();
    for &name in outstanding {
        match name {
            SEED_STATEMENTS => {
                let objects = dataset.object_store();
                if object_io::exists(
                    objects.as_ref(),
                    &Path::from(format!("{SEED_TABLE}/_delta_log/00000000000000000000.json")),
                )
                .await?
                {
                    let location = dataset.location();
                    let translog = location.child(SEED_TRANSLOG);
                    let has_translog = object_io::exists(
                        objects.as_ref(),
                        &Path::from(format!("{SEED_TRANSLOG}/_delta_log/00000000000000000000.json")),
                    )
                    .await?;
                    metrics.statements +=
                        store.import_table(&location.child(SEED_TABLE), has_translog.then_some(&translog)).await?;
                    remove_folder(objects.as_ref(), SEED_TRANSLOG).await?;
                    remove_folder(objects.as_ref(), SEED_TABLE).await?;
                    if let Some(folder) = location.local_path() {
                        // Objects are gone; the folders they were in go too (if empty).
                        for empty in [SEED_TRANSLOG, SEED_TABLE, "entities"] {
                            let _ = remove_empty_dirs(&folder.join(empty));
                        }
                    }
                }
            }
            ARCHIVE_BLOBS => metrics.blobs += rename_seed_blobs(dataset.object_store().as_ref()).await?,
            ADD_COLUMNS => metrics.columns = store.add_missing_columns().await?,
            _ => metrics.properties = store.ensure_table_properties().await?,
        }
        dataset.tags().set(&tag(name), chrono::Utc::now()).await?;
        metrics.ran.push(name);
        job.pending -= 1;
        job.done += 1;
        job.update(dataset).await?;
    }
    Ok(())
}

/// Deletes every object below `folder`; the log goes last, so a table half removed reads as
/// no table rather than one with missing files.
async fn remove_folder(store: &dyn ObjectStore, folder: &str) -> Result<()> {
    let mut paths: Vec<Path> = store.list(Some(&Path::from(folder))).map_ok(|meta| meta.location).try_collect().await?;
    paths.sort_by_key(|p| p.as_ref().contains("/_delta_log/"));
    for path in paths {
        object_io::delete(store, &path).await?;
    }
    Ok(())
}

/// Removes `dir` and the folders below it when they hold no file.
fn remove_empty_dirs(dir: &std::path::Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_empty_dirs(&entry.path())?;
        }
    }
    std::fs::remove_dir(dir)
}

/// Renames `archive/…/{checksum}/data` to `…/blob` (a blob under both names keeps `blob`).
async fn rename_seed_blobs(store: &dyn ObjectStore) -> Result<u64> {
    let seed: Vec<Path> = store
        .list(Some(&Path::from("archive")))
        .try_filter(|meta| std::future::ready(meta.location.filename() == Some(SEED_BLOB)))
        .map_ok(|meta| meta.location)
        .try_collect()
        .await?;
    let mut renamed = 0;
    for path in seed {
        let parent: Path = path.parts().take(path.parts().count() - 1).collect();
        let target = parent.clone().join(BLOB);
        match store.rename_if_not_exists(&path, &target).await {
            Ok(()) => renamed += 1,
            Err(object_store::Error::AlreadyExists { .. }) => drop(object_io::delete(store, &path).await?),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(renamed)
}
