//! `index.json`: the dataset's metadata, statistics and the resources it publishes (spec
//! `exports-and-operations.md` §7.3). Written by every export, versioned.

use std::collections::BTreeMap;

use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::public_prefix;
use crate::error::{Error, Result};
use crate::operation::artifacts::{
    CRAWL_DOCUMENTS, DOCUMENTS, ENTITIES, INDEX, PARENTS, Published, STATEMENTS, STATISTICS, artifact_key,
};
use crate::repository::config::clean_dump;
use crate::repository::{DatasetConfig, EntityRepository};

/// Field order of the dataset model in `index.json` (spec §7.3).
const INDEX_ORDER: [&str; 29] = [
    "name",
    "title",
    "license",
    "summary",
    "description",
    "url",
    "updated_at",
    "last_export",
    "entity_count",
    "thing_count",
    "version",
    "category",
    "tags",
    "publisher",
    "coverage",
    "resources",
    "children",
    "deprecation",
    "deprecated",
    "prefix",
    "maintainer",
    "stats",
    "git_repo",
    "content_type",
    "uri",
    "storage",
    "public_url_prefix",
    "shards",
    "compression",
];

/// A resource entry for an artifact: from what this export published, else read back from
/// `store` (the dataset's); `None` when it does not exist.
///
/// # Errors
/// [`Error::Storage`] reading it back.
async fn resource(store: &dyn ObjectStore, published: &[Published], key: &str, prefix: &str) -> Result<Option<Value>> {
    let known = match published.iter().find(|p| p.key == key && p.checksum.is_some()) {
        Some(p) => p.clone(),
        None => {
            let got = match store.get(&Path::from(key)).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let (size, at) = (got.meta.size, got.meta.last_modified);
            // Hash the stored bytes as a stream: exports can be far larger than memory.
            let mut hasher = Sha256::new();
            let mut chunks = got.into_stream();
            while let Some(chunk) = chunks.next().await {
                hasher.update(chunk?);
            }
            Published { key: key.to_string(), checksum: Some(format!("{:x}", hasher.finalize())), size, at }
        }
    };
    let (mime, label) = if key.contains(".csv") {
        ("text/csv", "Comma-separated table")
    } else if key.starts_with(ENTITIES) {
        ("application/json+ftm", "FollowTheMoney Entities")
    } else {
        ("application/json", "JavaScript Object Notation")
    };
    Ok(Some(json!({
        "name": key.rsplit('/').next().unwrap_or(key),
        "url": format!("{prefix}/{key}"),
        "checksum": known.checksum,
        "timestamp": known.at.format("%Y-%m-%dT%H:%M:%S").to_string(),
        "mime_type": mime,
        "size": known.size,
        "mime_type_label": label,
    })))
}

/// Writes `index.json`: the config in model field order, statistics applied, resources listed
/// when a public URL prefix is known (spec §7.3), with the checksums and sizes of what the
/// export just `published`. Versioned.
pub(super) async fn write_index(repo: &EntityRepository, published: &[Published]) -> Result<()> {
    let dataset = repo.dataset();
    let config: &DatasetConfig = repo.config();
    let mut fields: BTreeMap<String, Value> = config.as_map().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    fields.insert("uri".into(), Value::String(dataset.location().url().as_str().trim_end_matches('/').to_string()));
    let store = dataset.object_store();
    let codec = config.compression();
    let mut resources: Vec<Value> = Vec::new();
    if let Some(prefix) = public_prefix(repo) {
        let keys =
            [STATEMENTS, ENTITIES, PARENTS, DOCUMENTS, CRAWL_DOCUMENTS].iter().map(|name| artifact_key(name, codec));
        for key in keys.chain([STATISTICS.to_string()]) {
            resources.extend(resource(store.as_ref(), published, &key, &prefix).await?);
        }
    }
    fields.insert("resources".into(), Value::Array(resources));
    if let Some(bytes) = dataset.versions().read(STATISTICS).await? {
        let stats: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt(format!("{STATISTICS}: {e}")))?;
        fields.insert("entity_count".into(), stats["entity_count"].clone());
        fields.insert("thing_count".into(), stats["things"]["total"].clone());
        fields.insert("stats".into(), stats);
    }
    let mut index = Map::new();
    for key in INDEX_ORDER {
        if let Some(v) = fields.remove(key) {
            index.insert(key.to_string(), v);
        }
    }
    index.extend(fields);
    let index = clean_dump(Value::Object(index), false).unwrap_or_default();
    let mut bytes = serde_json::to_vec(&index).expect("index serialises");
    bytes.push(b'\n');
    dataset.versions().write(INDEX, bytes).await?;
    Ok(())
}
