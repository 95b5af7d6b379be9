//! The catalog: a lakehouse root holding one folder per dataset (spec `storage-format.md` §1.1).
//!
//! A folder is a dataset iff it holds `config.yml`. Opening a dataset for a command first
//! *ensures* it: a missing `config.yml` is created (versioned), as the reference does for every
//! dataset command; on a ZFS-backed lakehouse its ZFS datasets are created before that. `shards`
//! is fixed once the statement table holds data: changing it would make readers look in the
//! wrong shard, so [`Dataset::configure`] refuses it.

use std::sync::Arc;

use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{Map, Value};

use super::config::DatasetConfig;
use crate::error::{Error, Result};
use crate::model::DatasetName;
use crate::model::file::validate_segment;
use crate::settings::Settings;
use crate::storage::remote::DatasetApi;
use crate::storage::tags::LAKEHOUSE_TENANT;
use crate::storage::zfs::{Zfs, ZfsError};
use crate::storage::{Location, StatementStore, TagStore, VersionStore};

/// Key of the dataset configuration.
pub const CONFIG_KEY: &str = "config.yml";

/// A lakehouse root.
#[derive(Debug, Clone)]
pub struct Catalog {
    root: Location,
    settings: Settings,
}

impl Catalog {
    /// The catalog at `root` with process `settings`.
    pub fn new(root: Location, settings: Settings) -> Catalog {
        Catalog { root, settings }
    }

    /// The root location.
    pub fn root(&self) -> &Location {
        &self.root
    }

    /// The settings datasets of this catalog use.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Names of the datasets (folders with a `config.yml`), sorted.
    ///
    /// # Errors
    /// [`Error::NotFound`] if the root does not exist; [`Error::Storage`].
    pub async fn datasets(&self) -> Result<Vec<DatasetName>> {
        if self.root.local_path().is_some_and(|folder| !folder.is_dir()) {
            return Err(Error::NotFound(format!("lakehouse root {}", self.root)));
        }
        let store = self.root.object_store()?;
        let listing = store.list_with_delimiter(None).await?;
        let mut names = Vec::new();
        for prefix in listing.common_prefixes {
            let Some(name) = prefix.filename().and_then(|n| DatasetName::new(n).ok()) else {
                continue;
            };
            if store.head(&prefix.clone().join(CONFIG_KEY)).await.is_ok() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The dataset `name`, stored in `<root>/<name>` unless `location` says otherwise.
    ///
    /// # Errors
    /// [`Error::Storage`] if its folder cannot be created.
    pub fn dataset(&self, name: DatasetName, location: Option<Location>) -> Result<Dataset> {
        let location = location.unwrap_or_else(|| self.root.child(name.as_str()));
        Dataset::new(name, location, self.settings.clone())
    }
}

/// One dataset: its folder and the stores in it.
#[derive(Debug, Clone)]
pub struct Dataset {
    name: DatasetName,
    location: Location,
    settings: Settings,
    store: Arc<dyn ObjectStore>,
}

impl Dataset {
    /// The dataset `name` at `location`.
    ///
    /// # Errors
    /// [`Error::Storage`] if its folder cannot be created.
    pub fn new(name: DatasetName, location: Location, settings: Settings) -> Result<Dataset> {
        let store = location.object_store()?;
        Ok(Dataset { name, location, settings, store })
    }

    /// The name.
    pub fn name(&self) -> &DatasetName {
        &self.name
    }

    /// The folder.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The process settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The server's routes for this dataset when the lake is served over HTTP (api mode),
    /// else `None`.
    pub fn api(&self) -> Option<DatasetApi> {
        let client = self.location.served()?;
        Some(DatasetApi::new(client.clone(), self.name.as_str(), self.location.url()))
    }

    /// An object store rooted at the dataset folder.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The lakehouse's tags of this dataset.
    pub fn tags(&self) -> TagStore {
        TagStore::new(self.store.clone(), LAKEHOUSE_TENANT)
    }

    /// The tags of `tenant` (seed 002 "Tenant usage": each client keeps its runtime state in its
    /// own namespace `tags/{tenant}/`, invisible to the others).
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a tenant that is not one
    /// path segment.
    pub fn tenant_tags(&self, tenant: &str) -> Result<TagStore> {
        Ok(TagStore::new(self.store.clone(), validate_segment("tenant", tenant)?))
    }

    /// Versioned files of this dataset.
    pub fn versions(&self) -> VersionStore {
        VersionStore::new(self.store.clone(), self.tags())
    }

    /// Reads `config.yml`, `None` if the dataset was never created. `uri` is set to the
    /// dataset's actual location.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a broken file; [`Error::Storage`].
    pub async fn read_config(&self) -> Result<Option<DatasetConfig>> {
        let Some(bytes) = self.versions().read(CONFIG_KEY).await? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut config = DatasetConfig::from_yaml(&text)
            .map_err(|e| Error::InvalidConfig(format!("{}/{CONFIG_KEY}: {e}", self.location)))?;
        config.set("uri", Value::String(self.location.url().as_str().trim_end_matches('/').to_string()));
        Ok(Some(config))
    }

    /// The configuration, creating the dataset (its `config.yml`) when missing.
    ///
    /// On a ZFS-backed lakehouse (`LAKEHOUSE_ON_ZFS`) the dataset's ZFS datasets are ensured
    /// first (once per process), so a new dataset's files land on them (spec `zfs.md` §3).
    ///
    /// # Errors
    /// As [`Dataset::read_config`]; [`ZfsError::NoPool`] when `LAKEHOUSE_ON_ZFS` is on without
    /// `LAKEHOUSE_ZFS_POOL`, [`Error::InvalidUri`] when it is on for a dataset in an object
    /// store, and the errors of [`Zfs::ensure`]; [`Error::Api`] in api mode.
    pub async fn ensure(&self) -> Result<DatasetConfig> {
        if let Some(api) = self.api() {
            // The server creates the ZFS datasets (spec `interfaces.md` §3.1).
            api.ensure().await?;
        } else if self.settings.on_zfs {
            if !self.location.is_local() {
                let why = "LAKEHOUSE_ON_ZFS is set, but ZFS datasets back local lakes only";
                return Err(Error::InvalidUri(self.location.to_string(), why.into()));
            }
            let pool = self.settings.zfs_pool.as_deref().ok_or(ZfsError::NoPool)?;
            Zfs::from_settings(&self.settings).ensure(pool, &self.name).await?;
        }
        if let Some(config) = self.read_config().await? {
            return Ok(config);
        }
        let uri = self.location.url().as_str().trim_end_matches('/').to_string();
        let config = DatasetConfig::new(self.name.as_str(), &uri);
        self.versions().write(CONFIG_KEY, config.to_yaml().into_bytes()).await?;
        Ok(config)
    }

    /// Merges `update` into `config.yml` (ensuring the dataset first) and returns the result.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for bad values, or a `shards` change once statements exist.
    pub async fn configure(&self, update: &Map<String, Value>) -> Result<DatasetConfig> {
        let mut config = self.ensure().await?;
        let before = config.shards();
        config.merge(update)?;
        if config.shards() != before && self.statements_with(before)?.exists().await? {
            return Err(Error::InvalidConfig(format!(
                "`shards` is {before} and the statement table already holds data; it cannot change to {}",
                config.shards()
            )));
        }
        self.versions().write(CONFIG_KEY, config.to_yaml().into_bytes()).await?;
        Ok(config)
    }

    /// Sets `shards` in `config.yml` (versioned) without the check of
    /// [`configure`](Dataset::configure): for the re-shard, which has rewritten the table for
    /// that count already.
    ///
    /// # Errors
    /// [`Error::Storage`]; [`Error::InvalidConfig`] for a `config.yml` that does not parse.
    pub async fn write_shards(&self, shards: u32) -> Result<DatasetConfig> {
        let mut config = self.ensure().await?;
        config.merge(&Map::from_iter([("shards".to_string(), Value::from(shards))]))?;
        self.versions().write(CONFIG_KEY, config.to_yaml().into_bytes()).await?;
        Ok(config)
    }

    fn statements_with(&self, shards: u32) -> Result<StatementStore> {
        StatementStore::new(self.location.clone(), self.name.clone(), shards, &self.settings)
    }

    /// The statement store, with the shard count of `config`.
    ///
    /// # Errors
    /// [`Error::Storage`] if the folder cannot be created.
    pub fn statements(&self, config: &DatasetConfig) -> Result<StatementStore> {
        self.statements_with(config.shards())
    }

    /// Whether `config.yml` exists.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn exists(&self) -> Result<bool> {
        Ok(self.versions().read(CONFIG_KEY).await?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ensure_list_configure() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::new(Location::local(dir.path()).unwrap(), Settings::default());
        assert!(catalog.datasets().await.unwrap().is_empty());
        let ds = catalog.dataset(DatasetName::new("donations").unwrap(), None).unwrap();
        assert!(!ds.exists().await.unwrap());
        let config = ds.ensure().await.unwrap();
        assert_eq!((config.name(), config.shards()), ("donations", 0));
        std::fs::create_dir_all(dir.path().join("not_a_dataset")).unwrap();
        assert_eq!(catalog.datasets().await.unwrap(), [DatasetName::new("donations").unwrap()]);
        let update: Map<String, Value> = serde_norway::from_str("shards: 4\ntitle: Spenden\n").unwrap();
        let config = ds.configure(&update).await.unwrap();
        assert_eq!((config.shards(), config.title()), (4, "Spenden"));
        assert_eq!(ds.read_config().await.unwrap().unwrap().shards(), 4);
        let mut s = ftm::Statement::new("donations", "p1", "Person", "name", "name", "A");
        s.origin = Some("bulk".into());
        ds.statements(&config).unwrap().append(vec![s]).await.unwrap();
        let back: Map<String, Value> = serde_norway::from_str("shards: 8\n").unwrap();
        let err = ds.configure(&back).await.unwrap_err();
        assert!(err.to_string().contains("cannot change to 8"), "{err}");
        let missing = Catalog::new(Location::local(dir.path().join("nope")).unwrap(), Settings::default());
        let result = missing.datasets().await;
        assert!(
            matches!(&result, Err(Error::NotFound(m)) if m.starts_with("lakehouse root") && m.contains("nope")),
            "{result:?}"
        );
    }
}
