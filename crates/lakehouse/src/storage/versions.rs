//! Versioned writes: a file plus a timestamped snapshot of it (seed 002 storage layout; spec
//! `storage-format.md` §7.2).
//!
//! Writing `key` stores the same bytes at `versions/<YYYY>/<MM>/<TS>/<key>` and at `key`, then
//! sets the tags `<key>-<sha256>` and `<key>`. `<TS>` is `%Y%m%dT%H%M%S%6fZ` of the UTC time.
//! A write whose bytes equal the current file's is skipped entirely.
//!
//! Difference from the reference: it skips whenever the checksum tag was *ever* set, so
//! changing a config A → B → A leaves the file at B. We compare with the current file instead;
//! the on-disk names and tags are the same.

use std::sync::Arc;

use chrono::Utc;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};

use super::tags::{TagStore, check_key, read};
use crate::error::Result;

/// Timestamp format of version folders and diff files.
pub const TS_FORMAT: &str = "%Y%m%dT%H%M%S%6fZ";

/// Versioned files of one dataset.
#[derive(Debug, Clone)]
pub struct VersionStore {
    store: Arc<dyn ObjectStore>,
    tags: TagStore,
}

impl VersionStore {
    /// Versioned files in the dataset whose root `store` is, tagged in `tags`.
    pub fn new(store: Arc<dyn ObjectStore>, tags: TagStore) -> VersionStore {
        VersionStore { store, tags }
    }

    /// Writes `bytes` to `key` with a snapshot; returns `false` when the bytes were already
    /// there (nothing written).
    ///
    /// # Errors
    /// [`Error::InvalidKey`](crate::error::Error::InvalidKey); [`Error::Storage`](crate::error::Error::Storage).
    pub async fn write(&self, key: &str, bytes: Vec<u8>) -> Result<bool> {
        let path = Path::from(check_key(key)?);
        let checksum = format!("{:x}", Sha256::digest(&bytes));
        if read(self.store.as_ref(), &path).await?.is_some_and(|current| current.as_ref() == bytes.as_slice()) {
            return Ok(false);
        }
        let now = Utc::now();
        let snapshot = Path::from(format!("versions/{}/{}/{key}", now.format("%Y/%m"), now.format(TS_FORMAT)));
        self.store.put(&snapshot, PutPayload::from(bytes.clone())).await?;
        self.store.put(&path, PutPayload::from(bytes)).await?;
        self.tags.set(&format!("{key}-{checksum}"), now).await?;
        self.tags.set(key, now).await?;
        Ok(true)
    }

    /// The current bytes of `key`, if written.
    ///
    /// # Errors
    /// [`Error::InvalidKey`](crate::error::Error::InvalidKey); [`Error::Storage`](crate::error::Error::Storage).
    pub async fn read(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(read(self.store.as_ref(), &Path::from(check_key(key)?)).await?.map(|b| b.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tags::LAKEHOUSE_TENANT;
    use object_store::local::LocalFileSystem;

    fn files(dir: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn writes_snapshots_and_skips_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap());
        let versions = VersionStore::new(store.clone(), TagStore::new(store, LAKEHOUSE_TENANT));
        assert!(versions.write("config.yml", b"a: 1\n".to_vec()).await.unwrap());
        assert!(!versions.write("config.yml", b"a: 1\n".to_vec()).await.unwrap());
        assert!(versions.write("config.yml", b"a: 2\n".to_vec()).await.unwrap());
        assert!(versions.write("config.yml", b"a: 1\n".to_vec()).await.unwrap(), "A -> B -> A is written");
        assert_eq!(versions.read("config.yml").await.unwrap().unwrap(), b"a: 1\n");
        let all = files(dir.path());
        assert_eq!(all.iter().filter(|f| f.starts_with("versions/") && f.ends_with("/config.yml")).count(), 3);
        let sha = format!("{:x}", Sha256::digest(b"a: 1\n"));
        assert!(all.contains(&format!("tags/lakehouse/config.yml-{sha}")), "{all:?}");
        assert!(all.contains(&"tags/lakehouse/config.yml".to_string()));
    }
}
