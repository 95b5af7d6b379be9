//! Queue items (seed 001 "QueueStore", seed 002 "Queue"): a mutation a tenant asks for, run
//! later by a consumer in the order it was queued.
//!
//! An item is a JSON object `{"action": "UPSERT"|"DELETE", "resource": "entity"|"file",
//! "payload": {…}}`. Payloads: an entity upsert carries the FtM entity JSON; an entity delete
//! `{"id", "origin"?}`; a file upsert `{"path", "key"?}` (a local file to archive); a file
//! delete `{"checksum", "file_id"?}`.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::model::file::{validate_checksum, validate_relative_path, validate_segment};

/// What an item asks for, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum QueueAction {
    /// Write an entity's statements (FtM entity JSON).
    UpsertEntity(Value),
    /// Tombstone an entity's statements, of one origin or all.
    DeleteEntity {
        /// The entity id.
        id: String,
        /// Only this origin's statements.
        origin: Option<String>,
    },
    /// Archive a local file.
    UpsertFile {
        /// The file's path on the consumer's machine.
        path: String,
        /// The archive key [default: the file's name].
        key: Option<String>,
    },
    /// Remove a file's archive records (one, or every record of the checksum).
    DeleteFile {
        /// The file's checksum.
        checksum: String,
        /// Only this record.
        file_id: Option<String>,
    },
}

fn text(payload: &Map<String, Value>, field: &str) -> Option<String> {
    payload.get(field).and_then(Value::as_str).map(str::to_string)
}

impl QueueAction {
    /// Reads and checks one item (`name` names it in errors: its file or input line).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the item and what is wrong: not a JSON object, an
    /// unknown action or resource, a payload without its fields, an entity payload that is
    /// not FtM entity JSON, a bad checksum, key or id.
    pub fn from_json(name: &str, bytes: &[u8]) -> Result<QueueAction> {
        let bad = |problem: String| Error::InvalidInput(format!("queue item {name}: {problem}"));
        let value: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let item = value.as_object().ok_or_else(|| bad("not a JSON object".into()))?;
        let action = item.get("action").and_then(Value::as_str).unwrap_or_default().to_ascii_uppercase();
        let resource = item.get("resource").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
        let payload =
            item.get("payload").and_then(Value::as_object).ok_or_else(|| bad("no `payload` object".into()))?;
        let required =
            |field: &str| text(payload, field).ok_or_else(|| bad(format!("payload has no `{field}` string")));
        let checked = |r: Result<&str>| r.map(str::to_string).map_err(|e| bad(e.to_string()));
        match (action.as_str(), resource.as_str()) {
            ("UPSERT", "entity") => {
                let entity = Value::Object(payload.clone());
                ftm::Entity::from_json(ftm::model(), &entity).map_err(|e| bad(e.to_string()))?;
                Ok(QueueAction::UpsertEntity(entity))
            }
            ("DELETE", "entity") => {
                let id = required("id")?;
                let origin = text(payload, "origin");
                if let Some(origin) = &origin {
                    crate::model::validate_origin(origin).map_err(|e| bad(e.to_string()))?;
                }
                Ok(QueueAction::DeleteEntity { id, origin })
            }
            ("UPSERT", "file") => {
                let key = match text(payload, "key") {
                    Some(key) => Some(checked(validate_relative_path("file key", &key))?),
                    None => None,
                };
                Ok(QueueAction::UpsertFile { path: required("path")?, key })
            }
            ("DELETE", "file") => {
                let checksum = checked(validate_checksum(&required("checksum")?))?;
                let file_id = match text(payload, "file_id") {
                    Some(id) => Some(checked(validate_segment("file id", &id))?),
                    None => None,
                };
                Ok(QueueAction::DeleteFile { checksum, file_id })
            }
            _ => Err(bad(format!(
                "unknown action {:?} on resource {:?} (UPSERT or DELETE, on entity or file)",
                item.get("action").cloned().unwrap_or(Value::Null),
                item.get("resource").cloned().unwrap_or(Value::Null)
            ))),
        }
    }
}
