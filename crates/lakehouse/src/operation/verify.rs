//! `maintenance verify` (fsck, issue "maintenance that operators need"): every data file the
//! statement table's current version references exists and reads; with `archive`, every
//! archived file's blob hashes to its checksum; staging leftovers (`*.tmp` of an interrupted
//! export, `name#N` of an interrupted local upload) and orphaned data files (written by a
//! write that never committed) are listed, and removed with `repair`.
//! Referenced files are never removed: a missing or unreadable one is reported for a person to
//! restore.

use std::collections::BTreeSet;

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::repository::{ArchiveRepository, EntityRepository};
use crate::storage::statements::TableCheck;

/// What to verify besides the statement table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Hash every archived blob.
    pub archive: bool,
    /// Remove the staging leftovers found.
    pub repair: bool,
}

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// The statement table's files.
    pub table: TableCheck,
    /// Blobs hashed (with `archive`).
    pub blobs: usize,
    /// `(checksum, problem)` of each blob that is missing or whose bytes hash otherwise.
    pub bad_blobs: Vec<(String, String)>,
    /// Staging leftovers, relative to the dataset root.
    pub strays: Vec<String>,
    /// The leftovers removed (with `repair`).
    pub removed: Vec<String>,
    /// Orphaned data files, relative to the statement table
    /// ([`StatementStore::orphans`](crate::storage::statements::StatementStore::orphans)).
    pub orphans: Vec<String>,
    /// Whether the orphans were removed (with `repair`).
    pub orphans_removed: bool,
}

impl VerifyReport {
    /// How many problems remain: missing or unreadable files, bad blobs, leftovers and orphans
    /// not removed.
    pub fn problems(&self) -> usize {
        let orphans = if self.orphans_removed { 0 } else { self.orphans.len() };
        self.table.missing.len() + self.table.unreadable.len() + self.bad_blobs.len() + self.strays.len()
            - self.removed.len()
            + orphans
    }
}

/// Whether an object name is a staging leftover: an artifact's `.tmp`, or object_store's local
/// upload staging `name#N`.
fn is_stray(name: &str) -> bool {
    name.ends_with(".tmp")
        || name.rsplit_once('#').is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Verifies the dataset of `repo` (see the module docs).
///
/// # Errors
/// Storage and Delta errors that stop the check itself (a file that is missing or does not
/// read is reported, not an error).
pub async fn verify(repo: &EntityRepository, options: VerifyOptions) -> Result<VerifyReport> {
    let dataset = repo.dataset();
    let mut report = VerifyReport {
        table: repo.statements().check_files().await?,
        orphans: repo.statements().orphans(options.repair).await?,
        orphans_removed: options.repair,
        ..VerifyReport::default()
    };

    if options.archive {
        let archive = ArchiveRepository::new(dataset);
        let checksums: BTreeSet<String> = archive.iterate_files().await?.into_iter().map(|f| f.checksum).collect();
        for checksum in checksums {
            report.blobs += 1;
            if let Some(problem) = blob_problem(&archive, &checksum).await? {
                report.bad_blobs.push((checksum, problem));
            }
        }
    }

    let location = dataset.location();
    match location.local_path() {
        Some(root) => {
            for entry in walkdir::WalkDir::new(root).into_iter().filter_map(|e| e.ok()) {
                let name = entry.file_name().to_string_lossy();
                if entry.file_type().is_file() && is_stray(&name) {
                    let relative = entry.path().strip_prefix(root).unwrap_or(entry.path());
                    report.strays.push(relative.to_string_lossy().into_owned());
                }
            }
        }
        None => {
            let objects: Vec<_> = dataset.object_store().list(None).try_collect().await?;
            report.strays.extend(
                objects
                    .into_iter()
                    .map(|o| o.location.to_string())
                    .filter(|p| is_stray(p.rsplit('/').next().unwrap_or(p))),
            );
        }
    }
    report.strays.sort();
    if options.repair {
        for stray in &report.strays {
            match location.local_path() {
                Some(root) => std::fs::remove_file(root.join(stray))
                    .map_err(|e| crate::error::Error::Io(root.join(stray).display().to_string(), e))?,
                None => dataset.object_store().delete(&Path::from(stray.as_str())).await?,
            }
            report.removed.push(stray.clone());
        }
    }
    Ok(report)
}

/// Why the blob of `checksum` is bad, `None` when its bytes hash to it (SHA-256, or SHA-1 for a
/// 40-character checksum of the seed's layout).
async fn blob_problem(archive: &ArchiveRepository, checksum: &str) -> Result<Option<String>> {
    let mut stream = match archive.store().stream(checksum).await {
        Ok(stream) => stream,
        Err(crate::error::Error::NotFound(_)) => return Ok(Some("the blob is missing".into())),
        Err(e) => return Err(e),
    };
    let (mut sha256, mut sha1) = (Sha256::new(), Sha1::new());
    while let Some(chunk) = stream.try_next().await? {
        if checksum.len() == 40 {
            sha1.update(&chunk);
        } else {
            sha256.update(&chunk);
        }
    }
    let actual =
        if checksum.len() == 40 { format!("{:x}", sha1.finalize()) } else { format!("{:x}", sha256.finalize()) };
    Ok((actual != checksum).then(|| format!("its bytes hash to {actual}")))
}
