//! `archive download`: write the archived files back under their original paths into a local
//! folder (spec `archive-and-crawl.md` §3).
//!
//! The file list is the exported `exports/documents.csv` (one row per document and parent
//! folder): the target path is the row's `path` then its `name`. A target file that exists is
//! left alone and counted as skipped, so a second run into the same folder copies only what is
//! new. Deliberate differences from the reference: every run runs (the reference skips a run
//! into *another* folder when the tag says it already ran, spec §3.4); a missing export is an
//! error, not an empty run; each file is written to a staging name and renamed, so a failure
//! never leaves a partial file; a row whose path would leave the target folder is refused.

use std::path::{Path as FsPath, PathBuf};

use futures::StreamExt;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::artifacts::{DOCUMENTS, open_artifact};
use super::jobs::Job;
use crate::error::{Error, Result};
use crate::model::file::validate_relative_path;
use crate::repository::EntityRepository;
use crate::storage::archive::ArchiveStore;
use crate::storage::tags::keys::DOWNLOAD_LAST_RUN;

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

/// Writes every exported document of `repo`'s dataset under `target`, calling `progress` with the
/// rows handled.
///
/// # Errors
/// [`Error::NotFound`] if the documents were never exported or a blob is missing;
/// [`Error::InvalidName`] for a row whose path is not relative (naming the document);
/// [`Error::Io`] naming the target file; storage errors. The job record holds the message.
pub async fn download_archive(
    repo: &EntityRepository,
    target: &FsPath,
    mut progress: impl FnMut(u64),
) -> Result<DownloadMetrics> {
    let dataset = repo.dataset();
    let archive = ArchiveStore::new(dataset.object_store());
    let mut job = Job::start("DownloadArchiveJob", dataset);
    job.fields.insert("target".into(), target.display().to_string().into());
    job.fields.insert("skipped".into(), 0.into());
    job.begin(dataset).await?;
    let mut metrics = DownloadMetrics::default();
    let result: Result<()> = async {
        let reader = open_artifact(dataset, repo.config(), DOCUMENTS)?;
        let mut rows = csv::Reader::from_reader(reader);
        for (n, row) in rows.deserialize::<Row>().enumerate() {
            let row = row.map_err(|e| Error::Corrupt(format!("{DOCUMENTS} row {}: {e}", n + 1)))?;
            let relative = if row.path.is_empty() { row.name.clone() } else { format!("{}/{}", row.path, row.name) };
            validate_relative_path("download path", &relative).map_err(|e| match e {
                Error::InvalidName { kind, name, reason } => {
                    Error::InvalidName { kind, name: format!("{name} (document {})", row.id), reason }
                }
                other => other,
            })?;
            let dest: PathBuf = target.join(&relative);
            if tokio::fs::try_exists(&dest).await.unwrap_or(false) {
                metrics.skipped += 1;
            } else {
                copy_blob(&archive, &row.checksum, &dest).await?;
                metrics.done += 1;
            }
            progress(n as u64 + 1);
        }
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
