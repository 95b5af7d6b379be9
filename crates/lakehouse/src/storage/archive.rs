//! The content-addressed archive: blobs, their metadata records and extracted texts under
//! `archive/` (spec `archive-and-crawl.md` §1.2–§1.11, seed 002 "Source files").
//!
//! ```text
//! archive/ab/cd/ef/abcdef…/blob          the bytes, written once per checksum
//! archive/ab/cd/ef/abcdef…/{file_id}.json one record per File
//! archive/ab/cd/ef/abcdef…/{origin}.txt   extracted text
//! ```
//!
//! Blobs are streamed in both directions and never held whole in memory. A blob is written
//! through a staging object that is renamed into place when complete, so a reader never sees
//! half a blob. Archives in the seed's layout (blob named `data`, SHA-1 checksums) are read too.

use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result};
use crate::model::file::{File, checksum_path, validate_checksum, validate_segment};

/// The archive's folder in a dataset.
pub const ARCHIVE: &str = "archive";
/// The blob's name in its checksum folder.
pub const BLOB: &str = "blob";
/// The blob's name in the seed's layout (read only).
pub const SEED_BLOB: &str = "data";

/// Bytes read or written per step when streaming a blob.
const CHUNK: usize = 1 << 20;

/// SHA-256 of a local file, lowercase hex, read in 1 MiB steps.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub async fn checksum_file(path: &FsPath) -> Result<String> {
    let io = |e| Error::Io(path.display().to_string(), e);
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; CHUNK];
    loop {
        let n = file.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

/// The archive of one dataset, over an object store rooted at the dataset folder.
#[derive(Debug, Clone)]
pub struct ArchiveStore {
    store: Arc<dyn ObjectStore>,
}

impl ArchiveStore {
    /// The archive in the dataset whose root `store` is.
    pub fn new(store: Arc<dyn ObjectStore>) -> ArchiveStore {
        ArchiveStore { store }
    }

    /// The checksum's folder, after validating the checksum.
    fn folder(checksum: &str) -> Result<Path> {
        Ok(Path::from(format!("{ARCHIVE}/{}", checksum_path(validate_checksum(checksum)?))))
    }

    fn member(checksum: &str, name: &str) -> Result<Path> {
        Ok(Self::folder(checksum)?.join(name))
    }

    /// The stored blob of `checksum` (`blob`, else the seed's `data`); `None` if neither exists.
    ///
    /// # Errors
    /// [`Error::InvalidChecksum`]; [`Error::Storage`].
    pub async fn blob(&self, checksum: &str) -> Result<Option<Path>> {
        for name in [BLOB, SEED_BLOB] {
            let path = Self::member(checksum, name)?;
            match self.store.head(&path).await {
                Ok(_) => return Ok(Some(path)),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }

    /// Whether the blob of `checksum` is stored (spec §1.11 `exists`).
    ///
    /// # Errors
    /// [`Error::InvalidChecksum`]; [`Error::Storage`].
    pub async fn exists(&self, checksum: &str) -> Result<bool> {
        Ok(self.blob(checksum).await?.is_some())
    }

    /// Streams the local file `source`, whose SHA-256 is `checksum`, into the archive unless the
    /// blob exists. Returns whether it was written. The bytes go to a staging object first, so a
    /// failure leaves no partial blob (spec §1.3, which the reference does not guarantee locally).
    ///
    /// # Errors
    /// [`Error::InvalidChecksum`]; [`Error::Io`] naming `source`; [`Error::Storage`].
    pub async fn put_blob(&self, checksum: &str, source: &FsPath) -> Result<bool> {
        if self.exists(checksum).await? {
            return Ok(false);
        }
        let io = |e| Error::Io(source.display().to_string(), e);
        let mut file = tokio::fs::File::open(source).await.map_err(io)?;
        let target = Self::member(checksum, BLOB)?;
        let mut writer = BufWriter::with_capacity(self.store.clone(), target.clone(), 8 * CHUNK);
        let mut buf = vec![0; CHUNK];
        let copied = async {
            loop {
                let n = file.read(&mut buf).await.map_err(io)?;
                if n == 0 {
                    break;
                }
                writer.write_all(&buf[..n]).await.map_err(|e| Error::Io(target.to_string(), e))?;
            }
            writer.shutdown().await.map_err(|e| Error::Io(target.to_string(), e))
        }
        .await;
        if let Err(e) = copied {
            writer.abort().await.ok();
            return Err(e);
        }
        Ok(true)
    }

    /// The blob's bytes as a stream of chunks.
    ///
    /// # Errors
    /// [`Error::NotFound`] naming the checksum; [`Error::InvalidChecksum`]; [`Error::Storage`].
    pub async fn stream(&self, checksum: &str) -> Result<BoxStream<'static, Result<Bytes>>> {
        let path = self.blob(checksum).await?.ok_or_else(|| Error::NotFound(format!("archive blob {checksum}")))?;
        let result = self.store.get(&path).await?;
        Ok(result.into_stream().map_err(Error::from).boxed())
    }

    /// Writes a File record `{id}.json` (compact JSON, no newline), replacing an older one.
    ///
    /// # Errors
    /// [`Error::InvalidChecksum`], [`Error::InvalidName`] for the id; [`Error::Storage`].
    pub async fn put_file(&self, file: &File) -> Result<()> {
        let id = validate_segment("file id", &file.id)?;
        let path = Self::member(&file.checksum, &format!("{id}.json"))?;
        let bytes = serde_json::to_vec(&file.to_json()).expect("JSON values serialise");
        self.store.put(&path, PutPayload::from(bytes)).await?;
        Ok(())
    }

    async fn read_file(&self, path: &Path) -> Result<File> {
        let bytes = self.store.get(path).await?.bytes().await?;
        File::from_json(path.as_ref(), &bytes)
    }

    /// The record `file_id` of `checksum`.
    ///
    /// # Errors
    /// [`Error::NotFound`] naming both; [`Error::InvalidChecksum`], [`Error::InvalidName`];
    /// [`Error::Corrupt`] for an unreadable record; [`Error::Storage`].
    pub async fn get_file(&self, checksum: &str, file_id: &str) -> Result<File> {
        let path = Self::member(checksum, &format!("{}.json", validate_segment("file id", file_id)?))?;
        match self.read_file(&path).await {
            Err(Error::Storage(e)) if is_not_found(&e) => {
                Err(Error::NotFound(format!("archive file {file_id} of {checksum}")))
            }
            other => other,
        }
    }

    /// Every record of `checksum`, sorted by file id; empty for an unknown checksum.
    ///
    /// # Errors
    /// [`Error::InvalidChecksum`]; [`Error::Corrupt`]; [`Error::Storage`].
    pub async fn files(&self, checksum: &str) -> Result<Vec<File>> {
        let folder = Self::folder(checksum)?;
        self.records_under(&folder, folder.parts().count() + 1).await
    }

    /// Every record of the archive, sorted by checksum then file id.
    ///
    /// # Errors
    /// [`Error::Corrupt`]; [`Error::Storage`].
    pub async fn iterate_files(&self) -> Result<Vec<File>> {
        // archive/ab/cd/ef/{checksum}/{id}.json
        self.records_under(&Path::from(ARCHIVE), 6).await
    }

    /// The records (`*.json` at `depth` path parts) under `prefix`, sorted by path.
    async fn records_under(&self, prefix: &Path, depth: usize) -> Result<Vec<File>> {
        let mut paths: Vec<Path> = self
            .store
            .list(Some(prefix))
            .map_ok(|meta| meta.location)
            .try_filter(|p| futures::future::ready(p.parts().count() == depth && p.as_ref().ends_with(".json")))
            .try_collect()
            .await?;
        paths.sort();
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            files.push(self.read_file(&path).await?);
        }
        Ok(files)
    }

    /// Deletes the record `file_id` of `checksum` only: the blob, other records and texts stay
    /// (seed 002 "Delete a file").
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such record; [`Error::InvalidChecksum`],
    /// [`Error::InvalidName`]; [`Error::Storage`].
    pub async fn delete_file(&self, checksum: &str, file_id: &str) -> Result<()> {
        let path = Self::member(checksum, &format!("{}.json", validate_segment("file id", file_id)?))?;
        match self.store.delete(&path).await {
            Err(e) if is_not_found(&e) => Err(Error::NotFound(format!("archive file {file_id} of {checksum}"))),
            other => Ok(other?),
        }
    }

    /// Writes the text extracted from the blob by `origin` (`{origin}.txt`, UTF-8, verbatim).
    ///
    /// # Errors
    /// [`Error::InvalidChecksum`], [`Error::InvalidName`] for the origin; [`Error::Storage`].
    pub async fn put_txt(&self, checksum: &str, origin: &str, text: &str) -> Result<()> {
        let path = Self::member(checksum, &format!("{}.txt", validate_segment("text origin", origin)?))?;
        self.store.put(&path, PutPayload::from(text.as_bytes().to_vec())).await?;
        Ok(())
    }

    /// The text extracted by `origin`; `None` if there is none.
    ///
    /// # Errors
    /// [`Error::InvalidChecksum`], [`Error::InvalidName`]; [`Error::Storage`].
    pub async fn get_txt(&self, checksum: &str, origin: &str) -> Result<Option<String>> {
        let path = Self::member(checksum, &format!("{}.txt", validate_segment("text origin", origin)?))?;
        match self.store.get(&path).await {
            Ok(result) => Ok(Some(String::from_utf8_lossy(&result.bytes().await?).into_owned())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
