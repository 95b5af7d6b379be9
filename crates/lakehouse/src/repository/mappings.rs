//! A dataset's mappings (seed 002 "Mappings"): stored as YAML at
//! `mappings/{content_hash}/mapping.yml`, each change also kept as a versioned snapshot
//! (`versions/YYYY/MM/TS/mappings/…`, the lake's one convention for versioned files) and tagged.

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::error::{Error, Result};
use crate::model::file::validate_checksum;
use crate::model::mapping::{DatasetMapping, mapping_key, processed_tag};
use crate::repository::{ArchiveRepository, Dataset};
use crate::storage::object_io::exists;

/// The mappings of one dataset.
#[derive(Debug, Clone)]
pub struct MappingRepository {
    dataset: Dataset,
}

impl MappingRepository {
    /// The mappings of `dataset`.
    pub fn new(dataset: &Dataset) -> MappingRepository {
        MappingRepository { dataset: dataset.clone() }
    }

    /// Checks and stores a mapping read from `yaml` (`source` names it in errors); `content_hash`
    /// overrides the YAML's. Returns the mapping and whether it changed anything.
    ///
    /// # Errors
    /// [`Error::InvalidMapping`] for a mapping that cannot be used or whose CSV is not in the
    /// archive (nothing is stored then); [`Error::Storage`].
    pub async fn put(&self, yaml: &str, source: &str, content_hash: Option<&str>) -> Result<(DatasetMapping, bool)> {
        let mapping = DatasetMapping::from_yaml(yaml, source, content_hash, self.dataset.name().as_str())?;
        let archive = ArchiveRepository::new(&self.dataset);
        if archive.files(&mapping.content_hash).await?.is_empty() {
            return Err(Error::InvalidMapping {
                name: source.to_string(),
                problem: format!("no file with checksum {} in the archive", mapping.content_hash),
            });
        }
        let changed = self
            .dataset
            .versions()
            .write(&mapping_key(&mapping.content_hash), mapping.yaml.clone().into_bytes())
            .await?;
        Ok((mapping, changed))
    }

    /// The mapping of `content_hash`, if stored.
    ///
    /// # Errors
    /// [`Error::InvalidChecksum`]; [`Error::InvalidMapping`] for a stored mapping that no
    /// longer reads; [`Error::Storage`].
    pub async fn get(&self, content_hash: &str) -> Result<Option<DatasetMapping>> {
        validate_checksum(content_hash)?;
        let Some(bytes) = self.dataset.versions().read(&mapping_key(content_hash)).await? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        DatasetMapping::from_yaml(&text, &mapping_key(content_hash), None, self.dataset.name().as_str()).map(Some)
    }

    /// Whether `content_hash` has a stored mapping (read or not).
    ///
    /// # Errors
    /// [`Error::InvalidChecksum`]; [`Error::Storage`].
    pub async fn exists(&self, content_hash: &str) -> Result<bool> {
        validate_checksum(content_hash)?;
        exists(self.dataset.object_store().as_ref(), &Path::from(mapping_key(content_hash))).await
    }

    /// The content hashes that have a mapping, sorted: one listing of `mappings/`.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn list(&self) -> Result<Vec<String>> {
        let store = self.dataset.object_store();
        let objects: Vec<_> = store.list(Some(&Path::from("mappings"))).try_collect().await?;
        let mut hashes: Vec<String> = objects
            .iter()
            .filter_map(|o| o.location.as_ref().strip_prefix("mappings/")?.strip_suffix("/mapping.yml"))
            .filter(|hash| validate_checksum(hash).is_ok())
            .map(str::to_string)
            .collect();
        hashes.sort();
        Ok(hashes)
    }

    /// Removes the mapping of `content_hash` and its `last_processed` tag (its snapshots stay,
    /// as for every versioned file; the entities it made are the operation layer's to remove).
    /// Returns whether there was one.
    ///
    /// # Errors
    /// [`Error::InvalidChecksum`]; [`Error::Storage`].
    pub async fn delete(&self, content_hash: &str) -> Result<bool> {
        if !self.exists(content_hash).await? {
            return Ok(false);
        }
        self.dataset.object_store().delete(&Path::from(mapping_key(content_hash))).await?;
        self.dataset.tags().delete(&processed_tag(content_hash)).await?;
        Ok(true)
    }
}
