//! Tags: key → timestamp records for freshness tracking (seed 001 "TagStore", seed 002 "Tags";
//! spec `storage-format.md` §7.1).
//!
//! Layout `tags/{tenant}/{key}` below the dataset root; keys may contain `/`. A value is the
//! UTC time as a JSON string in Python ISO form (`"2026-11-21T04:18:41.493270+00:00"`), or raw
//! text for the few state tags that are not times (diff state `<TS>:<version>`). The lakehouse's
//! own tenant is `lakehouse`.

use std::sync::Arc;

use bytes::Bytes;
use ftm::time::{Timestamp, isoformat, parse_iso};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::error::{Error, Result};
use crate::storage::object_io::{delete, exists};

/// The lakehouse's own tenant.
pub const LAKEHOUSE_TENANT: &str = "lakehouse";

/// The keys the lakehouse sets in its own tenant (seed 002 "Core tags"; spec
/// `exports-and-operations.md` §9, `storage-format.md` §7.1). Besides these, every published
/// artifact is tagged under its own key (`exports/statements.csv`, `entities.ftm.json`, …), a
/// versioned file under its key and `<key>-<sha256>`, and each diff series' state under
/// `diffs/<artifact>-current`.
pub mod keys {
    /// Statements were written to the journal and wait for a flush.
    pub const JOURNAL_UPDATED: &str = "journal/last_updated";
    /// The journal was flushed (even when it was empty).
    pub const JOURNAL_FLUSHED: &str = "journal/last_flushed";
    /// Statements were appended to the statement table: the content clock every export
    /// depends on. Merges, vacuums and exports never set it.
    pub const STATEMENTS_UPDATED: &str = "statements/last_updated";
    /// The statement table was optimized.
    pub const STORE_OPTIMIZED: &str = "statements/store_optimized";
    /// A file was archived.
    pub const ARCHIVE_UPDATED: &str = "archive/last_updated";
    /// The last successful export. Each `*_LAST_RUN` key holds its run's start time.
    pub const EXPORT_LAST_RUN: &str = "operations/export/last_run";
    /// The last successful make job: `make` skips its export when this is newer than the
    /// content clocks.
    pub const MAKE_LAST_RUN: &str = "operations/make/last_run";
    /// The last optimize that ran (one skipped because nothing was dirty does not set it).
    pub const OPTIMIZE_LAST_RUN: &str = "operations/optimize/last_run";
    /// The last re-shard (`maintenance shard`) that ran.
    pub const SHARD_LAST_RUN: &str = "operations/shard/last_run";
    /// The last `maintenance migrate` that ran.
    pub const MIGRATE_LAST_RUN: &str = "operations/migrate/last_run";
    /// The last crawl (informational: a crawl is never fresh).
    pub const CRAWL_LAST_RUN: &str = "operations/crawl/last_run";
    /// The last `archive download`.
    pub const DOWNLOAD_LAST_RUN: &str = "operations/download_archive/last_run";

    /// The content clocks an export of the statements depends on.
    pub const CONTENT_CLOCKS: [&str; 2] = [STATEMENTS_UPDATED, JOURNAL_UPDATED];

    /// The state of the diff series of `artifact`: `<TS>:<version>` of the export it last
    /// followed (spec `exports-and-operations.md` §8).
    pub fn diff_state(artifact: &str) -> String {
        format!("diffs/{artifact}-current")
    }
}

/// The tags of one tenant of one dataset.
#[derive(Debug, Clone)]
pub struct TagStore {
    store: Arc<dyn ObjectStore>,
    tenant: String,
}

/// Validates a key: relative, non-empty segments, no `.`/`..` segments.
pub(crate) fn check_key(key: &str) -> Result<&str> {
    let ok = !key.is_empty() && key.split('/').all(|seg| !seg.is_empty() && seg != "." && seg != "..");
    if ok && !key.chars().any(char::is_control) { Ok(key) } else { Err(Error::InvalidKey(key.to_string())) }
}

pub(crate) async fn read(store: &dyn ObjectStore, path: &Path) -> Result<Option<Bytes>> {
    match store.get(path).await {
        Ok(result) => Ok(Some(result.bytes().await?)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl TagStore {
    /// The tags of `tenant` in the dataset whose root `store` is.
    pub fn new(store: Arc<dyn ObjectStore>, tenant: &str) -> TagStore {
        TagStore { store, tenant: tenant.to_string() }
    }

    fn path(&self, key: &str) -> Result<Path> {
        Ok(Path::from(format!("tags/{}/{}", self.tenant, check_key(key)?)))
    }

    /// The raw value of `key`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`]; [`Error::Storage`].
    pub async fn get_raw(&self, key: &str) -> Result<Option<String>> {
        let bytes = read(self.store.as_ref(), &self.path(key)?).await?;
        Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// The time `key` was set, `None` if never (or if its value is not a time).
    ///
    /// # Errors
    /// [`Error::InvalidKey`]; [`Error::Storage`].
    pub async fn get(&self, key: &str) -> Result<Option<Timestamp>> {
        let Some(raw) = self.get_raw(key).await? else {
            return Ok(None);
        };
        let text = serde_json::from_str::<String>(&raw).unwrap_or(raw);
        Ok(parse_iso(&text))
    }

    /// Sets `key` to `ts`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`]; [`Error::Storage`].
    pub async fn set(&self, key: &str, ts: Timestamp) -> Result<()> {
        let value = serde_json::to_vec(&isoformat(&ts)).expect("string serialises");
        self.store.put(&self.path(key)?, PutPayload::from(value)).await?;
        Ok(())
    }

    /// Sets `key` to raw text.
    ///
    /// # Errors
    /// [`Error::InvalidKey`]; [`Error::Storage`].
    pub async fn set_raw(&self, key: &str, value: &str) -> Result<()> {
        self.store.put(&self.path(key)?, PutPayload::from(value.as_bytes().to_vec())).await?;
        Ok(())
    }

    /// Every key of this tenant under `prefix` (all keys when `None`) with its raw value, by key.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for a bad prefix; [`Error::Storage`].
    pub async fn list(&self, prefix: Option<&str>) -> Result<Vec<(String, String)>> {
        let root = Path::from(format!("tags/{}", self.tenant));
        let under = match prefix {
            Some(prefix) => self.path(prefix.trim_end_matches('/'))?,
            None => root.clone(),
        };
        let objects: Vec<_> = self.store.list(Some(&under)).try_collect().await?;
        let mut tags = Vec::with_capacity(objects.len());
        for object in objects {
            let Some(key) = object.location.prefix_match(&root).map(|parts| parts.map(|p| p.as_ref().to_string()))
            else {
                continue;
            };
            let key = key.collect::<Vec<_>>().join("/");
            if let Some(value) = read(self.store.as_ref(), &object.location).await? {
                tags.push((key, String::from_utf8_lossy(&value).into_owned()));
            }
        }
        tags.sort();
        Ok(tags)
    }

    /// Unsets `key` (nothing happens when it is not set).
    ///
    /// # Errors
    /// [`Error::InvalidKey`]; [`Error::Storage`].
    pub async fn delete(&self, key: &str) -> Result<()> {
        delete(self.store.as_ref(), &self.path(key)?).await.map(drop)
    }

    /// Whether `key` is set.
    ///
    /// # Errors
    /// [`Error::InvalidKey`]; [`Error::Storage`].
    pub async fn exists(&self, key: &str) -> Result<bool> {
        exists(self.store.as_ref(), &self.path(key)?).await
    }

    /// Whether `key` is newer than every dependency that is set (seed 001 `is_latest`). An
    /// unset `key` is never latest; unset dependencies do not count.
    ///
    /// # Errors
    /// [`Error::InvalidKey`]; [`Error::Storage`].
    pub async fn is_latest(&self, key: &str, dependencies: &[&str]) -> Result<bool> {
        Ok(self.compare(key, dependencies).await? != Freshness::Stale)
    }

    /// Whether an operation whose target tag is `key` is fresh (spec
    /// `exports-and-operations.md` §9.1): `key` is set, at least one dependency is set, and
    /// `key` is newer than every dependency that is set. Stricter than
    /// [`is_latest`](TagStore::is_latest): with no dependency set there is nothing to be
    /// fresh against, so the operation runs.
    ///
    /// # Errors
    /// [`Error::InvalidKey`]; [`Error::Storage`].
    pub async fn is_fresh(&self, key: &str, dependencies: &[&str]) -> Result<bool> {
        Ok(self.compare(key, dependencies).await? == Freshness::Fresh)
    }

    async fn compare(&self, key: &str, dependencies: &[&str]) -> Result<Freshness> {
        let Some(own) = self.get(key).await? else {
            return Ok(Freshness::Stale);
        };
        let mut any = false;
        for dep in dependencies {
            if let Some(time) = self.get(dep).await? {
                if time >= own {
                    return Ok(Freshness::Stale);
                }
                any = true;
            }
        }
        Ok(if any { Freshness::Fresh } else { Freshness::NoDependency })
    }
}

/// How a tag compares with its dependencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// Unset, or not newer than a dependency.
    Stale,
    /// Set, and no dependency is set.
    NoDependency,
    /// Set, and newer than every dependency that is set (at least one).
    Fresh,
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::local::LocalFileSystem;

    #[tokio::test]
    async fn set_get_and_freshness() {
        let dir = tempfile::tempdir().unwrap();
        let tags = TagStore::new(Arc::new(LocalFileSystem::new_with_prefix(dir.path()).unwrap()), LAKEHOUSE_TENANT);
        let t1 = parse_iso("2026-11-21T04:18:41.493270+00:00").unwrap();
        let t2 = parse_iso("2026-11-21T05:00:00+00:00").unwrap();
        assert_eq!(tags.get("journal/last_updated").await.unwrap(), None);
        tags.set("journal/last_updated", t1).await.unwrap();
        let raw = std::fs::read_to_string(dir.path().join("tags/lakehouse/journal/last_updated")).unwrap();
        assert_eq!(raw, "\"2026-11-21T04:18:41.493270+00:00\"");
        assert_eq!(tags.get("journal/last_updated").await.unwrap(), Some(t1));
        assert!(!tags.is_latest("exports/statements", &["journal/last_updated"]).await.unwrap());
        tags.set("exports/statements", t2).await.unwrap();
        assert!(tags.is_latest("exports/statements", &["journal/last_updated", "never/set"]).await.unwrap());
        tags.set("journal/last_updated", t2).await.unwrap();
        assert!(!tags.is_latest("exports/statements", &["journal/last_updated"]).await.unwrap());
        tags.set_raw("diffs/entities.ftm.json-current", "20261121T042429673175Z:8").await.unwrap();
        assert_eq!(tags.get_raw("diffs/entities.ftm.json-current").await.unwrap().unwrap(), "20261121T042429673175Z:8");
        assert_eq!(tags.get("diffs/entities.ftm.json-current").await.unwrap(), None);
        for bad in ["", "../x", "a//b", "/abs", "a/./b"] {
            let result = tags.set(bad, t1).await;
            assert!(matches!(&result, Err(Error::InvalidKey(k)) if k == bad), "{bad}: {result:?}");
        }
    }
}
