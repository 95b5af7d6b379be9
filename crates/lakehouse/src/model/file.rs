//! Archived files: checksums, safe names, the File metadata record and the entities a File
//! implies (spec `archive-and-crawl.md` §1.1–§1.8, seed 002 "Source files"). Pure functions.
//!
//! File ids hash the File's **key** (its path relative to the crawl root) and its checksum, as
//! seed 002 and the reference's own docs intend: two identical files under two paths keep two
//! records and two Document entities. The reference hashes the base name instead, so same-named
//! identical files in different folders overwrite each other's record (spec §1.5); for files at
//! the top of a crawl both rules give the same id.

use ftm::Entity;
use ftm::time::{Timestamp, iso_z, parse_iso};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::mime::{OCTET_STREAM, document_schema, normalize_mimetype};
use crate::error::{Error, Result};

/// The `store` field of every record: the source store is not disclosed (spec §1.4).
pub const STORE: &str = "lakehouse://";

/// Origin of files stored without one (spec §1.7).
pub const ARCHIVE_ORIGIN: &str = "archive";

/// Lowercase hex of SHA-256 over `parts`, concatenated.
fn sha256_hex(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

/// Checks a blob checksum: lowercase hex, 64 characters (SHA-256, what this archive writes) or
/// 40 (SHA-1, the FtM `contentHash` convention, read for seed-layout archives).
///
/// # Errors
/// [`Error::InvalidChecksum`] for anything else, path separators and `..` included.
pub fn validate_checksum(value: &str) -> Result<&str> {
    let hex = value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex && matches!(value.len(), 40 | 64) { Ok(value) } else { Err(Error::InvalidChecksum(value.to_string())) }
}

/// The folder of a checksum inside `archive/`: `ab/cd/ef/abcdef…` (spec §1.2).
pub fn checksum_path(checksum: &str) -> String {
    format!("{}/{}/{}/{checksum}", &checksum[0..2], &checksum[2..4], &checksum[4..6])
}

/// Checks a name used as one path segment (a file id, a text origin): non-empty, at most 255
/// characters, no `/`, `\`, `..`, control characters, quotes (spec §1.2).
///
/// # Errors
/// [`Error::InvalidName`] naming `kind` and the value.
pub fn validate_segment<'a>(kind: &'static str, value: &'a str) -> Result<&'a str> {
    let reason = if value.is_empty() {
        Some("empty")
    } else if value.chars().count() > 255 {
        Some("longer than 255 characters")
    } else if value.contains("..") || value == "." {
        Some("contains `..` or is `.`")
    } else if value.contains(['/', '\\']) {
        Some("contains a path separator")
    } else if value.chars().any(|c| c.is_control() || c == '\'' || c == '"') {
        Some("contains a control character or a quote")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidName { kind, name: value.to_string(), reason }),
        None => Ok(value),
    }
}

/// Checks a relative file path (a File key, a download target): `/`-separated segments, none
/// empty, `.` or `..`, no `\` or control characters. Keeps every use inside its root.
///
/// # Errors
/// [`Error::InvalidName`] naming `kind` and the value.
pub fn validate_relative_path<'a>(kind: &'static str, value: &'a str) -> Result<&'a str> {
    let bad = |segment: &str| {
        segment.is_empty()
            || segment == "."
            || segment == ".."
            || segment.contains('\\')
            || segment.chars().any(char::is_control)
    };
    if value.split('/').any(bad) {
        return Err(Error::InvalidName {
            kind,
            name: value.to_string(),
            reason: "not a relative path (empty, `.` or `..` segment, `\\` or control character)",
        });
    }
    Ok(value)
}

/// Whether entities of `schema` are documents, files with content (spec
/// `exports-and-operations.md` §6.1): a `Document` descendant other than `Folder` itself
/// (`Email`, `Package`, `Workbook`, … are folders and documents at once).
pub fn is_document(schema: &ftm::Schema) -> bool {
    schema.is_a("Document") && schema.name != "Folder"
}

/// The File id of `key` with `checksum`: `file-` + SHA-256 of the key then the checksum; the
/// checksum itself when the key is the checksum (spec §1.5).
pub fn file_id(key: &str, checksum: &str) -> String {
    if key == checksum { checksum.to_string() } else { format!("file-{}", sha256_hex(&[key, checksum])) }
}

/// One folder of a File's key: `folder-` + SHA-256 of (parent id +) name (spec §1.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// `folder-…`.
    pub id: String,
    /// The path segment.
    pub name: String,
    /// The enclosing folder's id; `None` at the top.
    pub parent: Option<String>,
}

impl Folder {
    /// The `Folder` entity.
    ///
    /// # Errors
    /// [`Error::Ftm`] if the model lacks the schema (it does not).
    pub fn to_entity(&self) -> Result<Entity> {
        let mut entity = Entity::new(ftm::model().schema("Folder")?, Some(self.id.clone()));
        entity.add("fileName", self.name.clone())?;
        if let Some(parent) = &self.parent {
            entity.add("parent", parent.clone())?;
        }
        Ok(entity)
    }
}

/// The folders of a key's directory part, outermost first (`a/b/c.txt` → `a`, `b`).
pub fn folder_chain(key: &str) -> Vec<Folder> {
    let mut chain: Vec<Folder> = Vec::new();
    let Some((dirs, _)) = key.rsplit_once('/') else {
        return chain;
    };
    for name in dirs.split('/').filter(|s| !s.is_empty()) {
        let parent = chain.last().map(|f| f.id.clone());
        let id = format!("folder-{}", sha256_hex(&[parent.as_deref().unwrap_or(""), name]));
        chain.push(Folder { id, name: name.to_string(), parent });
    }
    chain
}

/// One arrival of a blob: the metadata record `archive/…/{checksum}/{id}.json` (spec §1.4).
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    /// Base name of the source.
    pub name: String,
    /// Source creation (change) time.
    pub created_at: Option<Timestamp>,
    /// Source modification time.
    pub updated_at: Option<Timestamp>,
    /// Size in bytes, from the source's metadata.
    pub size: u64,
    /// Path relative to the crawl root (the base name for a single stored file); also `path`.
    pub key: String,
    /// Normalised MIME type; [`OCTET_STREAM`] when unknown.
    pub mimetype: String,
    /// `file-…` (see [`file_id`]).
    pub id: String,
    /// Dataset name.
    pub dataset: String,
    /// SHA-256 of the blob (SHA-1 in seed-layout archives).
    pub checksum: String,
    /// Further metadata; keys that are properties of the document schema become properties.
    pub extra: Map<String, Value>,
    /// `crawl`, `archive` or a caller's origin.
    pub origin: Option<String>,
}

/// The record keys that are File fields; any other key read from disk goes to `extra`.
const FIELDS: [&str; 14] = [
    "name",
    "created_at",
    "updated_at",
    "size",
    "store",
    "key",
    "mimetype",
    "id",
    "dataset",
    "checksum",
    "extra",
    "origin",
    "path",
    "parent",
];

fn time_value(ts: Option<Timestamp>) -> Value {
    ts.map_or(Value::Null, |t| Value::String(iso_z(&t)))
}

impl File {
    /// The innermost folder of the key; `None` for a top-level key.
    pub fn parent(&self) -> Option<String> {
        folder_chain(&self.key).pop().map(|f| f.id)
    }

    /// The record as the reference lays it out: `name, created_at, updated_at, size, store, key,
    /// mimetype, id, dataset, checksum, extra, origin, path, parent` (`path` once, unlike the
    /// reference's duplicated key).
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("name".into(), self.name.clone().into());
        out.insert("created_at".into(), time_value(self.created_at));
        out.insert("updated_at".into(), time_value(self.updated_at));
        out.insert("size".into(), self.size.into());
        out.insert("store".into(), STORE.into());
        out.insert("key".into(), self.key.clone().into());
        out.insert("mimetype".into(), self.mimetype.clone().into());
        out.insert("id".into(), self.id.clone().into());
        out.insert("dataset".into(), self.dataset.clone().into());
        out.insert("checksum".into(), self.checksum.clone().into());
        out.insert("extra".into(), Value::Object(self.extra.clone()));
        out.insert("origin".into(), self.origin.clone().map_or(Value::Null, Value::String));
        out.insert("path".into(), self.key.clone().into());
        out.insert("parent".into(), self.parent().map_or(Value::Null, Value::String));
        Value::Object(out)
    }

    /// Reads a record. Duplicated keys (the reference writes `path` twice) keep the last value;
    /// `path` and `parent` are recomputed from `key`; unknown keys are folded into `extra`; a
    /// numeric id is stringified; a missing size is 0.
    ///
    /// # Errors
    /// [`Error::Corrupt`] naming `source` if the text is not a JSON object or lacks `checksum`,
    /// `id` or `key`.
    pub fn from_json(source: &str, text: &[u8]) -> Result<File> {
        let corrupt = |what: &str| Error::Corrupt(format!("archive record {source}: {what}"));
        let value: Value = serde_json::from_slice(text).map_err(|e| corrupt(&e.to_string()))?;
        let Value::Object(map) = value else { return Err(corrupt("not a JSON object")) };
        let text = |key: &str| match map.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let time = |key: &str| text(key).and_then(|t| parse_iso(&t));
        let key = text("key").or_else(|| text("path")).ok_or_else(|| corrupt("no `key`"))?;
        let mut extra = match map.get("extra") {
            Some(Value::Object(extra)) => extra.clone(),
            _ => Map::new(),
        };
        for (k, v) in &map {
            if !FIELDS.contains(&k.as_str()) && !v.is_null() {
                extra.insert(k.clone(), v.clone());
            }
        }
        Ok(File {
            name: text("name").unwrap_or_else(|| key.rsplit('/').next().unwrap_or_default().to_string()),
            created_at: time("created_at"),
            updated_at: time("updated_at"),
            size: map.get("size").and_then(Value::as_u64).unwrap_or(0),
            mimetype: text("mimetype").and_then(|m| normalize_mimetype(&m)).unwrap_or_else(|| OCTET_STREAM.into()),
            id: text("id").ok_or_else(|| corrupt("no `id`"))?,
            dataset: text("dataset").unwrap_or_default(),
            checksum: text("checksum").ok_or_else(|| corrupt("no `checksum`"))?,
            origin: text("origin"),
            extra,
            key,
        })
    }

    /// The File's folder chain then its document entity (spec §1.8): schema from the MIME type,
    /// `contentHash`, `fileName`, `fileSize`, `mimeType` (not for octet-stream), `parent`, and the
    /// string values of `extra` keys that are properties of the schema.
    ///
    /// # Errors
    /// [`Error::Ftm`] if a schema is missing from the model (they are not).
    pub fn make_entities(&self) -> Result<Vec<Entity>> {
        let chain = folder_chain(&self.key);
        let mut entities = chain.iter().map(Folder::to_entity).collect::<Result<Vec<_>>>()?;
        let schema = ftm::model().schema(document_schema(&self.mimetype))?;
        let mut doc = Entity::new(schema, Some(self.id.clone()));
        doc.datasets = vec![self.dataset.clone()];
        doc.add("contentHash", self.checksum.clone())?;
        doc.add("fileName", self.name.clone())?;
        doc.add("fileSize", self.size.to_string())?;
        if self.mimetype != OCTET_STREAM {
            doc.add("mimeType", self.mimetype.clone())?;
        }
        if let Some(parent) = chain.last() {
            doc.add("parent", parent.id.clone())?;
        }
        for (key, value) in &self.extra {
            let values = match value {
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                Value::String(s) => vec![s.as_str()],
                _ => Vec::new(),
            };
            if schema.property(key).is_some() {
                for v in values.into_iter().filter(|v| !v.trim().is_empty()) {
                    doc.add(key, v.trim().to_string())?;
                }
            }
        }
        entities.push(doc);
        Ok(entities)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_TXT: &str = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

    #[test]
    fn ids_follow_the_spec() {
        // A top-level key is its base name: the reference's id (spec §1.5).
        assert_eq!(
            file_id("test.txt", TEST_TXT),
            "file-47e4124014798915e1f3ca9da95b2c0281caf87bf44f1cb5bad89aaae5fcd6bd"
        );
        assert_eq!(file_id(TEST_TXT, TEST_TXT), TEST_TXT);
        let chain = folder_chain("b/c/y.txt");
        assert_eq!(chain[0].id, "folder-3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d");
        assert_eq!(chain[1].parent.as_deref(), Some(chain[0].id.as_str()));
        assert!(chain[1].id.starts_with("folder-6e46e5fd"), "{}", chain[1].id);
        assert!(folder_chain("y.txt").is_empty());
    }

    #[test]
    fn validates_names() {
        assert!(validate_checksum(TEST_TXT).is_ok());
        assert!(validate_checksum(&TEST_TXT[..40]).is_ok());
        for bad in ["", "../../etc/passwd", &TEST_TXT.to_uppercase(), &format!(" {TEST_TXT}")] {
            let err = validate_checksum(bad).unwrap_err().to_string();
            assert!(err.contains("Invalid checksum"), "{err}");
        }
        let (sep, quote) = ("contains a path separator", "contains a control character or a quote");
        for (bad, why) in [
            ("", "empty"),
            ("..", "contains `..` or is `.`"),
            ("a/b", sep),
            ("a\\b", sep),
            ("x\u{0}", quote),
            ("it's", quote),
        ] {
            let result = validate_segment("file id", bad);
            assert!(
                matches!(&result, Err(Error::InvalidName { kind: "file id", name, reason }) if name == bad && *reason == why),
                "{bad:?}: {result:?}"
            );
        }
        assert!(validate_segment("file id", "file-abc").is_ok());
        for bad in ["../x", "a//b", "/abs", "a/./b", "a/..", ""] {
            let result = validate_relative_path("key", bad);
            assert!(
                matches!(&result, Err(Error::InvalidName { kind: "key", name, reason }) if name == bad && reason.starts_with("not a relative path")),
                "{bad:?}: {result:?}"
            );
        }
        assert!(validate_relative_path("key", "a/b c/d.txt").is_ok());
    }

    #[test]
    fn reads_reference_records_with_duplicate_path() {
        let text = br#"{"name":"test.txt","created_at":"2026-11-21T04:20:16.179883Z","updated_at":"2026-08-22T14:19:27Z","size":11,"store":"lakehouse://","key":"testdir/test.txt","mimetype":"text/plain","id":"file-47e4124014798915e1f3ca9da95b2c0281caf87bf44f1cb5bad89aaae5fcd6bd","dataset":"test","checksum":"b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9","extra":{},"origin":"crawl","path":"test.txt","path":"testdir/test.txt","parent":"folder-b9bfea4d65332432714c910f1726e90c3b602668dfa63be826c4b2862cb1d1ec","title":"A"}"#;
        let file = File::from_json("x.json", text).unwrap();
        assert_eq!(file.key, "testdir/test.txt");
        assert_eq!(file.parent().unwrap(), "folder-b9bfea4d65332432714c910f1726e90c3b602668dfa63be826c4b2862cb1d1ec");
        assert_eq!(file.extra.get("title"), Some(&Value::from("A")));
        let json = file.to_json();
        assert_eq!(json["path"], "testdir/test.txt");
        assert_eq!(json["updated_at"], "2026-08-22T14:19:27Z");
        let entities = file.make_entities().unwrap();
        let doc = entities.last().unwrap();
        assert_eq!(doc.schema.name, "PlainText");
        assert_eq!(doc.get("fileSize"), ["11"]);
        assert_eq!(doc.get("title"), ["A"], "extra keys that are properties become properties");
        assert_eq!(entities[0].get("fileName"), ["testdir"]);
        assert!(File::from_json("y.json", b"[1]").unwrap_err().to_string().contains("y.json"));
    }
}
