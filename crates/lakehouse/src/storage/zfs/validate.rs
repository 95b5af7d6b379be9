//! What a ZFS agent accepts: dataset paths, property names and values (spec `zfs.md` §8.3, §8.4,
//! §9), and the reasons it refuses a request.
//!
//! The agent runs `zfs create` as root for an unprivileged client, so a request may only name a
//! dataset under the agent's pool whose last component is an FtM dataset name, and only tuning
//! properties with plain values: `mountpoint` (which would steer the root chown), sharing,
//! `setuid`/`exec`/`devices` and `keylocation` are refused.

use serde_json::Value;
use thiserror::Error;

use super::ZfsError;
use crate::model::dataset::is_slug;

/// Properties a client may set (spec `zfs.md` §8.4); `LAKEHOUSE_ZFS_EXTRA_PROPS` adds more.
pub const ALLOWED_PROPERTIES: [&str; 18] = [
    "atime",
    "checksum",
    "compression",
    "copies",
    "dnodesize",
    "logbias",
    "primarycache",
    "quota",
    "recordsize",
    "redundant_metadata",
    "refquota",
    "refreservation",
    "relatime",
    "reservation",
    "secondarycache",
    "snapdir",
    "sync",
    "xattr",
];

/// Why an agent refuses a connection or request. The message is the reply's `error` text (spec
/// `zfs.md` §8.2, §8.3, §9); values are quoted Python-style, `'…'` with the raw characters.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// The peer's credentials could not be read.
    #[error("peer auth failed")]
    PeerAuthFailed,
    /// The peer's uid (`SO_PEERCRED`) is not the allowed one.
    #[error("unauthorized peer uid {0}")]
    UnauthorizedPeer(u32),
    /// The request line, `\n` included, exceeds the size cap.
    #[error("request too large")]
    TooLarge,
    /// Not JSON (or not UTF-8); the parser's message.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// JSON, but not an object.
    #[error("request must be a JSON object")]
    NotAnObject,
    /// `action` is not `create`; the value as Python shows it (`'destroy'`, `None`, `5`).
    #[error("unknown action: {0}")]
    UnknownAction(String),
    /// `dataset` is not a string; the Python type name of the value (`int`, `NoneType`, …).
    #[error("dataset must be a string, got {0}")]
    DatasetNotString(&'static str),
    /// `dataset` is empty or missing.
    #[error("empty dataset name")]
    EmptyDataset,
    /// `dataset` contains `..`.
    #[error("path traversal not allowed: '{0}'")]
    PathTraversal(String),
    /// A component before the last is not a ZFS name.
    #[error("invalid path component: '{0}'")]
    InvalidComponent(String),
    /// The last component is not an FtM dataset name.
    #[error("invalid dataset name: '{0}'")]
    InvalidLeaf(String),
    /// `dataset` is neither the pool nor below it.
    #[error("dataset '{dataset}' not under pool '{pool}'")]
    NotUnderPool {
        /// The requested dataset path.
        dataset: String,
        /// The agent's pool.
        pool: String,
    },
    /// `props` is neither empty nor an object.
    #[error("props must be a dict")]
    PropsNotObject,
    /// A property outside the allowlist.
    #[error("property not allowed: '{0}'")]
    PropertyNotAllowed(String),
    /// A property value that is not a string or an integer.
    #[error("invalid value for property '{0}'")]
    InvalidValueType(String),
    /// A property value with characters outside `[A-Za-z0-9._:-]` (or a leading `.`, `_`, `:`, `-`).
    #[error("invalid value for property '{name}': '{value}'")]
    InvalidValue {
        /// The property name.
        name: String,
        /// The value as sent.
        value: String,
    },
    /// `exist_ok` is present but not a boolean.
    #[error("exist_ok must be a boolean")]
    ExistOkNotBool,
}

/// Whether `name` fully matches `[A-Za-z0-9][A-Za-z0-9._-]*`: a ZFS path component the agent
/// accepts above the dataset itself (spec `zfs.md` §9 step 3).
pub fn is_component(name: &str) -> bool {
    matches_pattern(name, b"._-")
}

/// Whether `text` is an ASCII letter or digit followed by letters, digits and `extra` bytes.
fn matches_pattern(text: &str, extra: &[u8]) -> bool {
    let mut bytes = text.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// Checks a configured pool path such as `zpools/tank/lakehouse`: not empty, and every component
/// passes [`is_component`] (so no leading or trailing `/`, and never an option-like `-…`).
///
/// # Errors
/// [`ZfsError::InvalidPool`] naming the pool.
pub fn check_pool(pool: &str) -> Result<(), ZfsError> {
    if pool.split('/').all(is_component) { Ok(()) } else { Err(ZfsError::InvalidPool(pool.to_string())) }
}

/// Checks a requested dataset path against the agent's pool (spec `zfs.md` §9), in this order:
/// not empty; no `..` anywhere; every component but the last a ZFS name ([`is_component`]); the
/// last an FtM dataset name (`^[a-z0-9]+(_[a-z0-9]+)*$`); equal to `pool` or below `pool/`
/// (whole components, case-sensitive). `pool = None` skips the last rule.
///
/// # Errors
/// The first rule broken, as a [`RequestError`].
pub fn check_dataset(dataset: &str, pool: Option<&str>) -> Result<(), RequestError> {
    if dataset.is_empty() {
        return Err(RequestError::EmptyDataset);
    }
    if dataset.contains("..") {
        return Err(RequestError::PathTraversal(dataset.to_string()));
    }
    let (parents, leaf) = match dataset.rsplit_once('/') {
        Some((parents, leaf)) => (Some(parents), leaf),
        None => (None, dataset),
    };
    if let Some(bad) = parents.into_iter().flat_map(|p| p.split('/')).find(|c| !is_component(c)) {
        return Err(RequestError::InvalidComponent(bad.to_string()));
    }
    if !is_slug(leaf) {
        return Err(RequestError::InvalidLeaf(leaf.to_string()));
    }
    if let Some(pool) = pool
        && dataset != pool
        && !dataset.strip_prefix(pool).is_some_and(|rest| rest.starts_with('/'))
    {
        return Err(RequestError::NotUnderPool { dataset: dataset.to_string(), pool: pool.to_string() });
    }
    Ok(())
}

/// Checks one requested property (spec `zfs.md` §8.3 steps 6–8) and returns its value as text:
/// `name` is in [`ALLOWED_PROPERTIES`] or `extra_allowed`; the value is a string or an integer
/// (integers become decimal text; booleans and floats are refused) that fully matches
/// `[A-Za-z0-9][A-Za-z0-9._:-]*`.
///
/// # Errors
/// [`RequestError::PropertyNotAllowed`], [`RequestError::InvalidValueType`] or
/// [`RequestError::InvalidValue`].
pub fn check_property(name: &str, value: &Value, extra_allowed: &[String]) -> Result<String, RequestError> {
    if !ALLOWED_PROPERTIES.contains(&name) && !extra_allowed.iter().any(|p| p == name) {
        return Err(RequestError::PropertyNotAllowed(name.to_string()));
    }
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return Err(RequestError::InvalidValueType(name.to_string())),
    };
    if !matches_pattern(&text, b"._:-") {
        return Err(RequestError::InvalidValue { name: name.to_string(), value: text });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refusal(dataset: &str, pool: Option<&str>) -> String {
        check_dataset(dataset, pool).unwrap_err().to_string()
    }

    #[test]
    fn parents_allow_zfs_names_the_leaf_only_ftm_names() {
        for ok in [
            "tank/lakehouse/my_dataset/archive",
            "tank/lakehouse-dev/my_dataset",
            "tank/lake.house/my_dataset",
            "Tank/Lakehouse/my_dataset",
            "my_dataset",
        ] {
            assert_eq!(check_dataset(ok, None), Ok(()), "{ok}");
        }
        assert_eq!(refusal("", None), "empty dataset name");
        assert_eq!(refusal("tank/../etc/shadow", None), "path traversal not allowed: 'tank/../etc/shadow'");
        assert_eq!(refusal("tank/a..b/ds", None), "path traversal not allowed: 'tank/a..b/ds'");
        assert_eq!(refusal("tank/ds; rm/leaf", None), "invalid path component: 'ds; rm'");
        assert_eq!(refusal("/tank/ds", None), "invalid path component: ''");
        assert_eq!(refusal("tank//ds", None), "invalid path component: ''");
        assert_eq!(refusal("tank\n/ds", None), "invalid path component: 'tank\n'");
        assert_eq!(refusal("-o/ds", None), "invalid path component: '-o'");
        assert_eq!(refusal("tank/ds; rm -rf /", None), "invalid path component: 'ds; rm -rf '");
        assert_eq!(refusal("tank/ds/", None), "invalid dataset name: ''");
        assert_eq!(refusal("Tank/Lakehouse", None), "invalid dataset name: 'Lakehouse'");
        for leaf in ["my-dataset", "MyDataset", "_a", "a_", "a__b", "a.b", "my ds", "ä", "ds\n"] {
            assert_eq!(refusal(&format!("tank/{leaf}"), None), format!("invalid dataset name: '{leaf}'"));
        }
    }

    #[test]
    fn the_pool_is_matched_on_component_boundaries() {
        let pool = Some("tank/data");
        for ok in ["tank/data", "tank/data/x", "tank/data/x/archive"] {
            assert_eq!(check_dataset(ok, pool), Ok(()), "{ok}");
        }
        for bad in ["tank/database/x", "tank/data_evil/x", "tank/data-evil/x", "tank/datax", "other/pool/ds", "tank"] {
            assert_eq!(refusal(bad, pool), format!("dataset '{bad}' not under pool 'tank/data'"));
        }
        assert_eq!(refusal("TANK/data/x", pool), "dataset 'TANK/data/x' not under pool 'tank/data'");
        assert!(refusal("tank/data/x", Some("tank/data/")).contains("not under pool"));
    }

    #[test]
    fn pools_must_be_zfs_paths() {
        for ok in ["tank", "zpools/tank/lakehouse", "Tank/lake-house.v2"] {
            assert!(check_pool(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/tank/lake", "tank/lake/", "tank//lake", "-V1G", "tank/../x", "tank lake"] {
            assert_eq!(check_pool(bad).unwrap_err().to_string(), ZfsError::InvalidPool(bad.into()).to_string());
        }
    }

    #[test]
    fn properties_allowlist_and_values() {
        let none: &[String] = &[];
        assert_eq!(check_property("recordsize", &json!("128K"), none), Ok("128K".into()));
        assert_eq!(check_property("copies", &json!(2), none), Ok("2".into()));
        assert_eq!(check_property("quota", &json!("1T"), none), Ok("1T".into()));
        assert_eq!(check_property("checksum", &json!("sha512:x"), none), Ok("sha512:x".into()));
        for name in ["mountpoint", "sharenfs", "sharesmb", "setuid", "exec", "devices", "keylocation", "canmount"] {
            assert_eq!(
                check_property(name, &json!("on"), none).unwrap_err().to_string(),
                format!("property not allowed: '{name}'")
            );
        }
        let extra = ["canmount".to_string(), "readonly".to_string()];
        assert_eq!(check_property("canmount", &json!("off"), &extra), Ok("off".into()));
        for value in [json!({}), json!([]), json!(true), json!(1.5), json!(null)] {
            assert_eq!(
                check_property("copies", &value, none).unwrap_err().to_string(),
                "invalid value for property 'copies'"
            );
        }
        for value in ["zstd\n", "/etc/shadow", "a b", "", "-1", ".x"] {
            assert_eq!(
                check_property("compression", &json!(value), none).unwrap_err().to_string(),
                format!("invalid value for property 'compression': '{value}'")
            );
        }
        assert!(check_property("copies", &json!(-1), none).unwrap_err().to_string().contains("invalid value"));
    }
}
