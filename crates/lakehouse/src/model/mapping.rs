//! A dataset's mapping of an archived CSV file to entities (seed 002 "Mappings"): the
//! DatasetMapping `dataset`, `content_hash`, `queries` (as `../shared/fixtures/mapping.yml`),
//! where it is stored and which origin its entities carry.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::model::file::validate_checksum;

/// A checked mapping: the CSV it reads and the FtM mapping that turns its rows into entities.
#[derive(Debug, Clone)]
pub struct DatasetMapping {
    /// The dataset the mapping names: the prefix of every entity id's key (as `ftm map-csv`
    /// uses its dataset); the lake's dataset name when the YAML gives none.
    pub dataset: String,
    /// The archive checksum of the CSV file.
    pub content_hash: String,
    /// The mapping language part (`queries`).
    pub mapping: ftm::mapping::Mapping,
    /// `sign: true`: ids and references are signed in the `dataset` namespace, as
    /// `ftm map-csv -d DATASET` signs them, and stored signed.
    pub sign: bool,
    /// The mapping as YAML, `content_hash` and `dataset` filled in.
    pub yaml: String,
}

impl DatasetMapping {
    /// Reads a mapping from YAML (`source` names it in errors). `content_hash` replaces the
    /// YAML's own; `dataset` is used when the YAML names none.
    ///
    /// # Errors
    /// [`Error::InvalidMapping`] for YAML that does not parse, a missing or malformed
    /// `content_hash`, a `sign` that is not a boolean, or a mapping the FtM model refuses
    /// (naming the query, entity and property).
    pub fn from_yaml(text: &str, source: &str, content_hash: Option<&str>, dataset: &str) -> Result<DatasetMapping> {
        let invalid = |problem: String| Error::InvalidMapping { name: source.to_string(), problem };
        let mut value: Value = serde_norway::from_str(text).map_err(|e| invalid(format!("not YAML: {e}")))?;
        let object = value.as_object_mut().ok_or_else(|| invalid("not a mapping of keys to values".into()))?;
        if let Some(hash) = content_hash {
            object.insert("content_hash".into(), Value::String(hash.to_string()));
        }
        let hash = match object.get("content_hash") {
            Some(Value::String(hash)) => hash.clone(),
            _ => return Err(invalid("no `content_hash` (the archive checksum of the CSV file)".into())),
        };
        validate_checksum(&hash).map_err(|e| invalid(e.to_string()))?;
        let sign = match object.get("sign") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(sign)) => *sign,
            Some(_) => return Err(invalid("`sign` is not true or false".into())),
        };
        let dataset = match object.get("dataset") {
            Some(Value::String(name)) => name.clone(),
            None | Some(Value::Null) => {
                object.insert("dataset".into(), Value::String(dataset.to_string()));
                dataset.to_string()
            }
            Some(_) => return Err(invalid("`dataset` is not a name".into())),
        };
        let mapping = ftm::mapping::Mapping::from_value(ftm::model(), &value).map_err(|e| invalid(e.to_string()))?;
        let yaml = serde_norway::to_string(&value).map_err(|e| invalid(e.to_string()))?;
        Ok(DatasetMapping { dataset, content_hash: hash, mapping, sign, yaml })
    }
}

/// Where a mapping is stored: `mappings/{content_hash}/mapping.yml`.
pub fn mapping_key(content_hash: &str) -> String {
    format!("mappings/{content_hash}/mapping.yml")
}

/// The tag of a mapping's last processing: `mappings/{content_hash}/last_processed`.
pub fn processed_tag(content_hash: &str) -> String {
    format!("mappings/{content_hash}/last_processed")
}

/// The origin of a mapping's entities: `mapping:{content_hash}`.
pub fn mapping_origin(content_hash: &str) -> String {
    format!("mapping:{content_hash}")
}
