//! `archive download`: write the archived files back under their original paths into a local
//! folder or a bucket prefix (spec `archive-and-crawl.md` §3).
//!
//! The file list is the exported `exports/documents.csv` (one row per document and parent
//! folder): the target path is the row's `path` then its `name`. A target file that exists is
//! left alone and counted as skipped, so a second run into the same folder copies only what is
//! new. Deliberate differences from the reference: every run runs (the reference skips a run
//! into *another* folder when the tag says it already ran, spec §3.4); a missing export is an
//! error, not an empty run; each file is written to a staging name and renamed, so a failure
//! never leaves a partial file (in a bucket, each is one upload, visible when complete); a row
//! whose path would leave the target folder is refused.

use std::path::Path as FsPath;
use std::sync::Arc;

use futures::StreamExt;
use object_store::ObjectStore;
use object_store::path::Path;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::artifacts::{DOCUMENTS, open_artifact};
use super::jobs::Job;
use crate::error::{Error, Result};
use crate::model::file::validate_relative_path;
use crate::repository::EntityRepository;
use crate::storage::Location;
use crate::storage::archive::ArchiveStore;
use crate::storage::object_io::exists;
use crate::storage::tags::keys::DOWNLOAD_LAST_RUN;
use crate::storage::upload::Upload;

/// What a download did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DownloadMetrics {
    /// Files written.
    pub done: u64,
    /// Files that already existed in the target.
    pub skipped: u64,
    /// The final `DownloadArchiveJob` record.
    pub job: Value,
}

/// One row of the documents export that download needs.
#[derive(Debug, serde::Deserialize)]
struct Row {
    id: String,
    checksum: String,
    name: String,
    path: String,
}

/// The object path of a (validated) relative file path, its characters kept as they are.
fn object_path(relative: &str) -> Result<Path> {
    Path::parse(relative).map_err(|e| Error::InvalidName {
        kind: "download path",
        name: format!("{relative} ({e})"),
        reason: "not an object path",
    })
}

/// Where files are downloaded to.
enum Target {
    Folder(std::path::PathBuf),
    Bucket(Arc<dyn ObjectStore>),
}

impl Target {
    /// Whether `relative` is there already.
    async fn exists(&self, relative: &str) -> Result<bool> {
        match self {
            Target::Folder(folder) => Ok(tokio::fs::try_exists(folder.join(relative)).await.unwrap_or(false)),
            Target::Bucket(store) => exists(store.as_ref(), &object_path(relative)?).await,
        }
    }

    /// Writes the blob of `checksum` at `relative`.
    async fn copy(&self, archive: &ArchiveStore, checksum: &str, relative: &str) -> Result<()> {
        match self {
            Target::Folder(folder) => copy_blob(archive, checksum, &folder.join(relative)).await,
            Target::Bucket(store) => {
                let mut blob = archive.stream(checksum).await?;
                let mut upload = Upload::new(store.clone(), object_path(relative)?);
                while let Some(chunk) = blob.next().await {
                    upload.write(&chunk?).await?;
                }
                upload.finish().await?.publish().await
            }
        }
    }
}

/// Copies the blob of `checksum` to `dest` through a staging file in the same folder.
async fn copy_blob(archive: &ArchiveStore, checksum: &str, dest: &FsPath) -> Result<()> {
    let io = |path: &FsPath| {
        let path = path.display().to_string();
        move |e| Error::Io(path, e)
    };
    if let Some(parent) = dest.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(io(parent))?;
    }
    let mut blob = archive.stream(checksum).await?;
    let staging = dest.with_file_name(format!(".{}.partial", uuid::Uuid::new_v4()));
    let copied = async {
        let mut out = tokio::fs::File::create(&staging).await.map_err(io(&staging))?;
        while let Some(chunk) = blob.next().await {
            out.write_all(&chunk?).await.map_err(io(&staging))?;
        }
        out.flush().await.map_err(io(&staging))?;
        tokio::fs::rename(&staging, dest).await.map_err(io(dest))
    }
    .await;
    if copied.is_err() {
        tokio::fs::remove_file(&staging).await.ok();
    }
    copied
}

/// Writes every exported document of `repo`'s dataset under `target` (a local folder or a
/// bucket prefix), calling `progress` with the rows handled.
///
/// # Errors
/// [`Error::NotFound`] if the documents were never exported or a blob is missing;
/// [`Error::InvalidName`] for a row whose path is not relative (naming the document);
/// [`Error::Io`] naming the target file; storage errors. The job record holds the message.
pub async fn download_archive(
    repo: &EntityRepository,
    target: &Location,
    mut progress: impl FnMut(u64),
) -> Result<DownloadMetrics> {
    let dataset = repo.dataset();
    let archive = ArchiveStore::new(dataset.object_store());
    let mut job = Job::start("DownloadArchiveJob", dataset);
    job.fields.insert("target".into(), target.to_string().into());
    job.fields.insert("skipped".into(), 0.into());
    job.begin(dataset).await?;
    let mut metrics = DownloadMetrics::default();
    let result: Result<()> = async {
        let reader = open_artifact(dataset, repo.config(), DOCUMENTS).await?;
        let sink = match target.local_path() {
            Some(folder) => Target::Folder(folder.to_path_buf()),
            None => Target::Bucket(target.object_store()?),
        };
        // The rows are parsed on a blocking thread (a remote export is read as it is fetched).
        let (sender, mut rows) = tokio::sync::mpsc::channel::<Result<Row>>(64);
        let parser = tokio::task::spawn_blocking(move || {
            for (n, row) in csv::Reader::from_reader(reader).deserialize::<Row>().enumerate() {
                let row = row.map_err(|e| Error::Corrupt(format!("{DOCUMENTS} row {}: {e}", n + 1)));
                if sender.blocking_send(row).is_err() {
                    return;
                }
            }
        });
        let mut n = 0u64;
        while let Some(row) = rows.recv().await {
            let row = row?;
            let relative = if row.path.is_empty() { row.name.clone() } else { format!("{}/{}", row.path, row.name) };
            validate_relative_path("download path", &relative).map_err(|e| match e {
                Error::InvalidName { kind, name, reason } => {
                    Error::InvalidName { kind, name: format!("{name} (document {})", row.id), reason }
                }
                other => other,
            })?;
            if sink.exists(&relative).await? {
                metrics.skipped += 1;
            } else {
                sink.copy(&archive, &row.checksum, &relative).await?;
                metrics.done += 1;
            }
            n += 1;
            progress(n);
        }
        parser.await.map_err(Error::task("documents.csv"))?;
        Ok(())
    }
    .await;
    job.done = metrics.done;
    job.fields.insert("skipped".into(), metrics.skipped.into());
    metrics.job = job.finish(dataset, result.as_ref().err().map(ToString::to_string).as_deref()).await?;
    result?;
    dataset.tags().set(DOWNLOAD_LAST_RUN, job.started()).await?;
    Ok(metrics)
}
