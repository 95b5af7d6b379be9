//! The archive of a dataset as users see it: a file is added from a local path, gets a File
//! record, and tags the archive updated (seed 002 "Source files", spec `archive-and-crawl.md`
//! §1.11).

use std::os::unix::fs::MetadataExt;
use std::path::Path as FsPath;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use serde_json::{Map, Value};

use super::catalog::Dataset;
use crate::error::{Error, Result};
use crate::model::file::{ARCHIVE_ORIGIN, File, file_id, validate_relative_path};
use crate::model::mime::guess_mimetype;
use crate::storage::archive::{ArchiveStore, checksum_file};
use crate::storage::tags::TagStore;
use crate::storage::tags::keys::ARCHIVE_UPDATED;

/// How to store one file.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// The File's key [default: the source's base name].
    pub key: Option<String>,
    /// The File's origin [default: `archive`].
    pub origin: Option<String>,
    /// The source's SHA-256 when already known (it is not re-verified).
    pub checksum: Option<String>,
    /// Skip writing the `{file_id}.json` record.
    pub skip_metadata: bool,
    /// Skip setting `archive/last_updated` (a crawl sets it in batches).
    pub skip_tag: bool,
    /// Further metadata, kept in the record's `extra`.
    pub extra: Map<String, Value>,
    /// The source's last change, when the local file is a copy (of an object in a bucket)
    /// [default: the local file's].
    pub updated_at: Option<DateTime<Utc>>,
}

/// The archive of one dataset.
#[derive(Debug, Clone)]
pub struct ArchiveRepository {
    name: String,
    store: ArchiveStore,
    tags: TagStore,
}

fn system_time(t: std::io::Result<std::time::SystemTime>) -> Option<DateTime<Utc>> {
    t.ok().map(DateTime::<Utc>::from)
}

impl ArchiveRepository {
    /// The archive of `dataset`.
    pub fn new(dataset: &Dataset) -> ArchiveRepository {
        ArchiveRepository {
            name: dataset.name().to_string(),
            store: ArchiveStore::new(dataset.object_store()),
            tags: dataset.tags(),
        }
    }

    /// The store beneath.
    pub fn store(&self) -> &ArchiveStore {
        &self.store
    }

    /// Sets `archive/last_updated` to now.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn touch(&self) -> Result<()> {
        self.tags.set(ARCHIVE_UPDATED, Utc::now()).await
    }

    /// Archives the local file `source`: its blob once per checksum, then its record (spec
    /// §1.11 `store`). Size, times and name come from the file's metadata (`created_at` is the
    /// change time, as the reference reports it); the MIME type is guessed from the name.
    ///
    /// # Errors
    /// [`Error::Io`] naming `source` if it cannot be read (a dangling link included);
    /// [`Error::InvalidName`] for a key that is not a relative path; [`Error::Storage`].
    pub async fn store_path(&self, source: &FsPath, options: StoreOptions) -> Result<File> {
        let meta = std::fs::metadata(source).map_err(|e| Error::Io(source.display().to_string(), e))?;
        if !meta.is_file() {
            return Err(Error::Io(source.display().to_string(), std::io::Error::other("not a regular file")));
        }
        let name = match &options.key {
            Some(key) => key.rsplit('/').next().unwrap_or(key).to_string(),
            None => source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        };
        let key = options.key.unwrap_or_else(|| name.clone());
        validate_relative_path("file key", &key)?;
        let checksum = match options.checksum {
            Some(checksum) => checksum,
            None => checksum_file(source).await?,
        };
        self.store.put_blob(&checksum, source).await?;
        let created = DateTime::from_timestamp(meta.ctime(), meta.ctime_nsec() as u32);
        let file = File {
            mimetype: guess_mimetype(&name),
            created_at: options.updated_at.or(created).or_else(|| system_time(meta.modified())),
            updated_at: options.updated_at.or_else(|| system_time(meta.modified())).or(created),
            size: meta.len(),
            id: file_id(&key, &checksum),
            dataset: self.name.clone(),
            origin: Some(options.origin.unwrap_or_else(|| ARCHIVE_ORIGIN.to_string())),
            extra: options.extra,
            name,
            key,
            checksum,
        };
        if !options.skip_metadata {
            self.store.put_file(&file).await?;
        }
        if !options.skip_tag {
            self.touch().await?;
        }
        Ok(file)
    }

    /// Whether the blob of `checksum` is stored.
    ///
    /// # Errors
    /// [`Error::InvalidChecksum`]; [`Error::Storage`].
    pub async fn exists(&self, checksum: &str) -> Result<bool> {
        self.store.exists(checksum).await
    }

    /// The first record of `checksum` (by file id), or the record `file_id` (seed 002 "Get a
    /// file").
    ///
    /// # Errors
    /// [`Error::NotFound`] naming the checksum when it has no (such) record;
    /// [`Error::InvalidChecksum`]; [`Error::Storage`].
    pub async fn get_file(&self, checksum: &str, file_id: Option<&str>) -> Result<File> {
        match file_id {
            Some(id) => self.store.get_file(checksum, id).await,
            None => self
                .store
                .files(checksum)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| Error::NotFound(format!("archive file {checksum}"))),
        }
    }

    /// Every record of `checksum`.
    ///
    /// # Errors
    /// [`Error::InvalidChecksum`]; [`Error::Storage`].
    pub async fn files(&self, checksum: &str) -> Result<Vec<File>> {
        self.store.files(checksum).await
    }

    /// Every record of the archive, by checksum then file id.
    ///
    /// # Errors
    /// [`Error::Corrupt`]; [`Error::Storage`].
    pub async fn iterate_files(&self) -> Result<Vec<File>> {
        self.store.iterate_files().await
    }

    /// The bytes of a file that has a record (`archive get`).
    ///
    /// # Errors
    /// [`Error::NotFound`] naming the checksum without a record or blob;
    /// [`Error::InvalidChecksum`]; [`Error::Storage`].
    pub async fn open(&self, checksum: &str) -> Result<BoxStream<'static, Result<Bytes>>> {
        self.get_file(checksum, None).await?;
        self.store.stream(checksum).await
    }

    /// Deletes a file's record; its blob stays (seed 002 "Delete a file").
    ///
    /// # Errors
    /// [`Error::NotFound`]; [`Error::InvalidChecksum`], [`Error::InvalidName`]; [`Error::Storage`].
    pub async fn delete(&self, file: &File) -> Result<()> {
        self.store.delete_file(&file.checksum, &file.id).await
    }
}
