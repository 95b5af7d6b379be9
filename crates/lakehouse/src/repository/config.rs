//! `config.yml`: the dataset configuration (spec `storage-format.md` §7.3).
//!
//! Kept as an ordered map so fields this version does not know survive a rewrite. Written as
//! YAML with keys sorted (recursively), null and empty-string values left out, followed by a
//! blank line, as the reference writes it. Typed accessors cover the fields the lakehouse acts
//! on: `name`, `title`, `shards`, `compression`, `public_url_prefix`.

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// Export compression codecs and the spellings that map to them.
const CODECS: [(&str, &[&str]); 5] = [
    ("gz", &["gz", "gzip"]),
    ("bz2", &["bz2", "bzip2", "bz"]),
    ("xz", &["xz", "lzma"]),
    ("zst", &["zst", "zstd", "zstandard"]),
    ("lz4", &["lz4", "lz4frame"]),
];

/// A dataset's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetConfig {
    data: Map<String, Value>,
}

/// A model field: its name and the value it has when absent.
type Field = (&'static str, fn() -> Value);

/// The fields of the reference's dataset model, in its order, with the value of an absent one
/// (spec `interfaces.md` §1.5 `datasets`).
const MODEL_FIELDS: [Field; 29] = [
    ("name", null),
    ("title", null),
    ("license", null),
    ("summary", null),
    ("description", null),
    ("url", null),
    ("updated_at", null),
    ("last_export", null),
    ("entity_count", null),
    ("thing_count", null),
    ("version", null),
    ("category", null),
    ("tags", empty_list),
    ("publisher", null),
    ("coverage", null),
    ("resources", empty_list),
    ("children", empty_list),
    ("deprecation", null),
    ("deprecated", || Value::Bool(false)),
    ("prefix", null),
    ("maintainer", null),
    ("stats", empty_stats),
    ("git_repo", null),
    ("content_type", null),
    ("uri", null),
    ("storage", null),
    ("public_url_prefix", null),
    ("shards", || Value::from(0)),
    ("compression", null),
];

fn null() -> Value {
    Value::Null
}

fn empty_list() -> Value {
    Value::Array(Vec::new())
}

/// `stats` in the model's order: `things` and `intervals` (each `total`, `countries`,
/// `schemata`), `entity_count`, `start`, `end`, `countries`, nulls included; other keys after.
fn stats_model(stats: &Value) -> Value {
    let Value::Object(stats) = stats else { return stats.clone() };
    const GROUP: [Field; 3] = [("total", || Value::from(0)), ("countries", empty_list), ("schemata", empty_list)];
    let group = |value: Option<&Value>| match value {
        Some(Value::Object(group)) => Value::Object(ordered(group, &GROUP)),
        Some(other) => other.clone(),
        None => Value::Object(ordered(&Map::new(), &GROUP)),
    };
    let mut out = Map::new();
    out.insert("things".into(), group(stats.get("things")));
    out.insert("intervals".into(), group(stats.get("intervals")));
    let rest =
        ordered(stats, &[("entity_count", || 0.into()), ("start", null), ("end", null), ("countries", empty_list)]);
    out.extend(rest.into_iter().filter(|(key, _)| key != "things" && key != "intervals"));
    Value::Object(out)
}

/// A publisher or maintainer in the model's order (FtM's `DataPublisher`), with its computed
/// `country_label`, the English name of its country.
fn publisher_model(value: &Value) -> Value {
    let Value::Object(map) = value else { return value.clone() };
    let fields: [Field; 8] = [
        ("name", null),
        ("url", null),
        ("name_en", null),
        ("acronym", null),
        ("description", null),
        ("country", null),
        ("official", || Value::Bool(false)),
        ("logo_url", null),
    ];
    let mut model = ordered(map, &fields);
    let label = map.get("country").and_then(Value::as_str).and_then(ftm::countries::country_name);
    model.insert("country_label".into(), label.map_or(Value::Null, Value::from));
    Value::Object(model)
}

/// A coverage in the model's order (FtM's `DataCoverage`; `frequency` defaults to `unknown`).
fn coverage_model(value: &Value) -> Value {
    let Value::Object(map) = value else { return value.clone() };
    let fields: [Field; 5] = [
        ("start", null),
        ("end", null),
        ("countries", empty_list),
        ("frequency", || "unknown".into()),
        ("schedule", null),
    ];
    Value::Object(ordered(map, &fields))
}

/// A resource in the model's order (FtM's `DataResource`), with its computed
/// `mime_type_label` left null (the reference looks it up in a table of MIME type names this
/// project does not carry).
fn resource_model(value: &Value) -> Value {
    let Value::Object(map) = value else { return value.clone() };
    let fields: [Field; 7] = [
        ("name", null),
        ("url", null),
        ("checksum", null),
        ("timestamp", null),
        ("mime_type", null),
        ("title", null),
        ("size", null),
    ];
    let mut model = ordered(map, &fields);
    model.insert("mime_type_label".into(), Value::Null);
    Value::Object(model)
}

/// `map` with `fields` first, in their order (absent ones given their default), then the
/// other keys as they come.
fn ordered(map: &Map<String, Value>, fields: &[Field]) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, default) in fields {
        out.insert((*key).to_string(), map.get(*key).cloned().unwrap_or_else(default));
    }
    for (key, value) in map {
        if !out.contains_key(key) {
            out.insert(key.clone(), value.clone());
        }
    }
    out
}

/// The zeroed statistics structure of a fresh dataset.
fn empty_stats() -> Value {
    let group = json!({"countries": [], "schemata": [], "total": 0});
    json!({"countries": [], "entity_count": 0, "intervals": group, "things": group})
}

/// The reference's "clean dump" (spec `exports-and-operations.md` §2.3): drops null and
/// empty-string values recursively (also in lists), keeps `false`, `0` and `[]`; with
/// `sort_keys`, object keys are sorted too (as `config.yml` is written).
pub fn clean_dump(value: Value, sort_keys: bool) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> =
                map.into_iter().filter_map(|(k, v)| clean_dump(v, sort_keys).map(|v| (k, v))).collect();
            if sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            Some(Value::Object(entries.into_iter().collect()))
        }
        Value::Array(items) => Some(Value::Array(items.into_iter().filter_map(|v| clean_dump(v, sort_keys)).collect())),
        other => Some(other),
    }
}

/// The canonical codec name for a `compression` value (`zstd` → `zst`).
///
/// # Errors
/// [`Error::InvalidConfig`] for an unknown codec.
pub fn canonical_codec(name: &str) -> Result<&'static str> {
    let lower = name.trim().to_ascii_lowercase();
    CODECS
        .iter()
        .find(|(_, spellings)| spellings.contains(&lower.as_str()))
        .map(|(codec, _)| *codec)
        .ok_or_else(|| Error::InvalidConfig(format!("unknown compression {name:?} (use gz, bz2, xz, zst or lz4)")))
}

impl DatasetConfig {
    /// The configuration of a new dataset `name` stored at `uri`.
    pub fn new(name: &str, uri: &str) -> DatasetConfig {
        let data = json!({
            "children": [], "deprecated": false, "name": name, "resources": [], "shards": 0,
            "stats": empty_stats(), "tags": [], "title": name, "uri": uri,
        });
        DatasetConfig { data: data.as_object().cloned().unwrap_or_default() }
    }

    /// Parses `config.yml` text.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for YAML that is not a mapping, or bad `shards`/`compression`.
    pub fn from_yaml(text: &str) -> Result<DatasetConfig> {
        let value: Value = serde_norway::from_str(text).map_err(|e| Error::InvalidConfig(e.to_string()))?;
        let Value::Object(data) = value else {
            return Err(Error::InvalidConfig("config.yml is not a mapping".into()));
        };
        let config = DatasetConfig { data };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if let Some(shards) = self.data.get("shards")
            && !shards.is_null()
            && shards.as_u64().is_none_or(|n| n > u64::from(u32::MAX))
        {
            return Err(Error::InvalidConfig(format!("`shards` must be a non-negative integer, got {shards}")));
        }
        if let Some(codec) = self.data.get("compression").filter(|v| !v.is_null()) {
            let name = codec.as_str().ok_or_else(|| Error::InvalidConfig(format!("`compression` {codec}")))?;
            canonical_codec(name)?;
        }
        Ok(())
    }

    /// The YAML text: sorted keys, no nulls or empty strings, a trailing blank line.
    pub fn to_yaml(&self) -> String {
        let cleaned = clean_dump(Value::Object(self.data.clone()), true).unwrap_or(Value::Object(Map::new()));
        let mut text = serde_norway::to_string(&cleaned).expect("JSON values serialise as YAML");
        text.push('\n');
        text
    }

    /// The fields as a JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.data
    }

    /// The whole dataset model as the reference prints it (`datasets`, spec `interfaces.md`
    /// §1.5): every field of its model in its order, absent ones as `null` (or their default:
    /// `[]`, `false`, `0`, zeroed `stats`), then the fields it does not know (ours, such as
    /// `cypher`).
    pub fn model(&self) -> Value {
        let mut model = ordered(&self.data, &MODEL_FIELDS);
        for (key, value) in model.iter_mut() {
            *value = match (key.as_str(), &*value) {
                ("stats", stats) => stats_model(stats),
                ("publisher" | "maintainer", publisher) => publisher_model(publisher),
                ("coverage", coverage) => coverage_model(coverage),
                ("resources", Value::Array(items)) => Value::Array(items.iter().map(resource_model).collect()),
                _ => continue,
            };
        }
        Value::Object(model)
    }

    /// Sets one field.
    pub fn set(&mut self, key: &str, value: Value) {
        self.data.insert(key.to_string(), value);
    }

    /// Merges `update` in: its keys replace ours, except `name` and `uri` (ignored), and
    /// `compression` is stored canonically.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for bad `shards`/`compression` values.
    pub fn merge(&mut self, update: &Map<String, Value>) -> Result<()> {
        for (key, value) in update {
            if key == "name" || key == "uri" {
                continue;
            }
            let value = match (key.as_str(), value) {
                ("compression", Value::String(codec)) => Value::String(canonical_codec(codec)?.to_string()),
                _ => value.clone(),
            };
            self.data.insert(key.clone(), value);
        }
        self.validate()
    }

    /// `name`.
    pub fn name(&self) -> &str {
        self.data.get("name").and_then(Value::as_str).unwrap_or_default()
    }

    /// `title`, defaulting to the name.
    pub fn title(&self) -> &str {
        self.data.get("title").and_then(Value::as_str).unwrap_or_else(|| self.name())
    }

    /// `shards` (0 = a single shard).
    pub fn shards(&self) -> u32 {
        self.data.get("shards").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
    }

    /// The canonical export codec (`gz`, `zst`, …), if any.
    pub fn compression(&self) -> Option<&'static str> {
        self.data.get("compression").and_then(Value::as_str).and_then(|c| canonical_codec(c).ok())
    }

    /// `cypher: true`: exports also write `exports/graph.cypher` (seed 002 storage layout).
    pub fn cypher(&self) -> bool {
        self.data.get("cypher").and_then(Value::as_bool).unwrap_or(false)
    }

    /// `public_url_prefix`, if any.
    pub fn public_url_prefix(&self) -> Option<&str> {
        self.data.get("public_url_prefix").and_then(Value::as_str).filter(|s| !s.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_config_matches_the_reference_text() {
        let config = DatasetConfig::new("donations", "file:///lakehouse/donations");
        let reference = std::fs::read_to_string(testkit::reference_dataset().join("config.yml")).unwrap();
        assert_eq!(config.to_yaml(), reference);
        assert_eq!(DatasetConfig::from_yaml(&reference).unwrap(), config);
    }

    /// `datasets` prints what the reference printed for this config.yml (written by it), but
    /// for the resource's `mime_type_label`.
    #[test]
    fn the_model_has_every_field_in_the_reference_order() {
        let text = "compression: gz\ncoverage:\n  countries:\n  - de\n  frequency: weekly\nmaintainer:\n  name: Team\n  official: false\npublisher:\n  country: de\n  name: Bundestag\n  official: false\n  url: https://bundestag.de/\nresources:\n- name: data.csv\n  size: 10\n  url: https://example.org/data.csv\nshards: 0\nsummary: Party donations\ntitle: donations\nname: donations\nuri: file:///lake/donations\ncypher: true\n";
        let model = serde_json::to_string(&DatasetConfig::from_yaml(text).unwrap().model()).unwrap();
        let reference = r#"{"name":"donations","title":"donations","license":null,"summary":"Party donations","description":null,"url":null,"updated_at":null,"last_export":null,"entity_count":null,"thing_count":null,"version":null,"category":null,"tags":[],"publisher":{"name":"Bundestag","url":"https://bundestag.de/","name_en":null,"acronym":null,"description":null,"country":"de","official":false,"logo_url":null,"country_label":"Germany"},"coverage":{"start":null,"end":null,"countries":["de"],"frequency":"weekly","schedule":null},"resources":[{"name":"data.csv","url":"https://example.org/data.csv","checksum":null,"timestamp":null,"mime_type":null,"title":null,"size":10,"mime_type_label":null}],"children":[],"deprecation":null,"deprecated":false,"prefix":null,"maintainer":{"name":"Team","url":null,"name_en":null,"acronym":null,"description":null,"country":null,"official":false,"logo_url":null,"country_label":null},"stats":{"things":{"total":0,"countries":[],"schemata":[]},"intervals":{"total":0,"countries":[],"schemata":[]},"entity_count":0,"start":null,"end":null,"countries":[]},"git_repo":null,"content_type":null,"uri":"file:///lake/donations","storage":null,"public_url_prefix":null,"shards":0,"compression":"gz","cypher":true}"#;
        assert_eq!(model, reference);
    }

    #[test]
    fn merge_rules() {
        let mut config = DatasetConfig::new("ds", "file:///x/ds");
        let update: Map<String, Value> =
            serde_norway::from_str("name: other\nuri: s3://x\ntitle: Donations\ncompression: zstd\nsummary: ''\n")
                .unwrap();
        config.merge(&update).unwrap();
        assert_eq!((config.name(), config.title(), config.compression()), ("ds", "Donations", Some("zst")));
        let text = config.to_yaml();
        assert!(text.contains("compression: zst\n") && !text.contains("summary"), "{text}");
        let bad: Map<String, Value> = serde_norway::from_str("compression: rar\n").unwrap();
        let err = config.merge(&bad).unwrap_err();
        assert!(matches!(&err, Error::InvalidConfig(m) if m.starts_with("unknown compression \"rar\"")), "{err:?}");
        let err = DatasetConfig::from_yaml("shards: -1\n").unwrap_err();
        assert!(
            matches!(&err, Error::InvalidConfig(m) if m.contains("`shards` must be a non-negative integer, got -1")),
            "{err:?}"
        );
        let err = DatasetConfig::from_yaml("- a\n").unwrap_err();
        assert!(matches!(&err, Error::InvalidConfig(m) if m == "config.yml is not a mapping"), "{err:?}");
    }
}
