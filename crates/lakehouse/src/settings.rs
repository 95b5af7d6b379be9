//! Process settings from `LAKEHOUSE_*` environment variables (spec `interfaces.md` §4.2).
//!
//! Read once at start-up. Variable names are matched case-insensitively, as pydantic-settings
//! does for the reference. A value that does not parse is an error naming the variable.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// The resolved settings of one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// Lakehouse root (`LAKEHOUSE_URI`, default `data`, relative to the working directory).
    pub uri: String,
    /// The journal (`LAKEHOUSE_JOURNAL_URI`, default `sqlite:///:memory:`). Serialised (as
    /// `--settings` prints it) with its password as `***`.
    #[serde(serialize_with = "without_password")]
    pub journal_uri: String,
    /// Tombstones older than this many days are dropped by merge (`LAKEHOUSE_GRACE_PERIOD_DAYS`, 30).
    pub grace_period_days: u32,
    /// Cap of in-memory statement buffers, rows (`LAKEHOUSE_MAX_BUFFER_ROWS`, 1,000,000).
    pub max_buffer_rows: usize,
    /// Rows per batch handed from a journal flush to the store (`LAKEHOUSE_JOURNAL_DRAIN_ROWS`).
    /// Default 250,000, a quarter of the reference's: it bounds a flush's memory and has no
    /// effect on the stored format.
    pub journal_drain_rows: usize,
    /// Pooled PostgreSQL journal connections (`LAKEHOUSE_JOURNAL_POOL_SIZE`, 5). Read and
    /// validated for the reference's sake, but ignored: a process holds one connection per
    /// dataset journal, which its writes share.
    pub journal_pool_size: u32,
    /// Retries while waiting for a lock (`LAKEHOUSE_LOCK_MAX_RETRIES`, 10).
    pub lock_max_retries: u32,
    /// The reference's worker processes for merge and export sweeps (`LAKEHOUSE_WORKERS`, 1, at
    /// least 1). Read and validated, but ignored: merges run partitions side by side on
    /// threads ([`merge_partitions`](Settings::merge_partitions)) and an export is one sweep.
    pub workers: usize,
    /// Partitions a merge works on side by side (`LAKEHOUSE_MERGE_PARTITIONS`, default the
    /// number of cores, at least 1). Each holds read buffers for its files, so this bounds a
    /// merge's memory. `make` reads its merge while it is written only when no more partitions
    /// than this are dirty.
    pub merge_partitions: usize,
    /// Memory budget of the query engine (DataFusion) for the sorts and joins of a merge, an
    /// export or `statements sql`, bytes; beyond it they spill to disk
    /// (`LAKEHOUSE_QUERY_MEMORY_LIMIT`, else the reference's `LAKEHOUSE_DUCKDB_MEMORY_LIMIT`;
    /// default 512 MiB). Sizes as the reference reads them: a number of bytes, or with a unit
    /// `b`, `k`/`kb`, `kib`, `m`/`mb`, `mib`, `g`/`gb`, `gib`, `t`/`tb`, `tib`, `p`/`pb`, `pib`
    /// (spec `interfaces.md` §4.2).
    pub query_memory_limit: usize,
    /// Log level for the lakehouse's own events (`LOG_LEVEL`, unprefixed as in the reference:
    /// `debug`, `info`, `warning`/`warn`, `error`; default `info`).
    pub log_level: String,
    /// Log events as JSON lines (`LOG_JSON`, false).
    pub log_json: bool,
    /// Debug mode (`DEBUG`, false): an error is printed with every cause, one per line.
    pub debug: bool,
    /// Public URL prefix for exports and blobs, `${dataset}` substituted (`LAKEHOUSE_PUBLIC_URL_PREFIX`).
    pub public_url_prefix: Option<String>,
    /// Provision ZFS datasets for new datasets (`LAKEHOUSE_ON_ZFS`, false).
    pub on_zfs: bool,
    /// ZFS parent dataset (`LAKEHOUSE_ZFS_POOL`), e.g. `zpools/tank/lakehouse`; empty = unset.
    pub zfs_pool: Option<String>,
    /// `uid:gid` that new ZFS mountpoints are chowned to in local mode (`LAKEHOUSE_ZFS_OWNER`);
    /// empty = unset, no chown (spec `zfs.md` §5).
    pub zfs_owner: Option<String>,
    /// Unix socket of a ZFS agent (`LAKEHOUSE_ZFS_SOCKET`): when set, ZFS datasets are created
    /// through it instead of by running `zfs` (spec `zfs.md` §6); empty = unset.
    pub zfs_socket: Option<String>,
    /// Key sent as `X-Api-Key` by api mode, with [`Settings::api_secret`] (`LAKEHOUSE_API_KEY`;
    /// spec `interfaces.md` §3.8: both set, or neither is sent); empty = unset.
    pub api_key: Option<String>,
    /// Secret sent as `X-Api-Secret` by api mode (`LAKEHOUSE_API_SECRET`); empty = unset.
    /// Serialised as `***`.
    #[serde(serialize_with = "hidden")]
    pub api_secret: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            uri: "data".into(),
            journal_uri: "sqlite:///:memory:".into(),
            grace_period_days: 30,
            max_buffer_rows: 1_000_000,
            journal_drain_rows: 250_000,
            journal_pool_size: 5,
            lock_max_retries: 10,
            workers: 1,
            merge_partitions: std::thread::available_parallelism().map_or(1, usize::from),
            query_memory_limit: 512 << 20,
            log_level: "info".into(),
            log_json: false,
            debug: false,
            public_url_prefix: None,
            on_zfs: false,
            zfs_pool: None,
            zfs_owner: None,
            zfs_socket: None,
            api_key: None,
            api_secret: None,
        }
    }
}

/// A URI with the password of its user info replaced by `***`.
fn without_password<S: serde::Serializer>(uri: &str, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    match url::Url::parse(uri) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            serializer.serialize_str(url.as_str())
        }
        _ => serializer.serialize_str(uri),
    }
}

/// A secret as `***` (or null when unset).
fn hidden<S: serde::Serializer>(secret: &Option<String>, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_str("***"),
        None => serializer.serialize_none(),
    }
}

fn parse<T: std::str::FromStr>(var: &str, value: &str) -> Result<T> {
    value.trim().parse().map_err(|_| Error::InvalidSetting {
        var: var.to_string(),
        value: value.to_string(),
        reason: "not a non-negative integer",
    })
}

/// A byte size as the reference reads `LAKEHOUSE_DUCKDB_MEMORY_LIMIT`: a number (decimals
/// allowed) and an optional unit, case-insensitive; `k`, `kb` … are powers of 1000, `kib` …
/// powers of 1024; a bare number is bytes. Percentages are refused.
fn parse_bytes(var: &str, value: &str) -> Result<usize> {
    let invalid = |reason| Error::InvalidSetting { var: var.to_string(), value: value.to_string(), reason };
    let text = value.trim().to_ascii_lowercase();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| invalid("not a byte size (e.g. 512MiB, 8GB)"))?;
    let power = |base: f64, exp: i32| base.powi(exp);
    let factor = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" => power(1000.0, 1),
        "m" | "mb" => power(1000.0, 2),
        "g" | "gb" => power(1000.0, 3),
        "t" | "tb" => power(1000.0, 4),
        "p" | "pb" => power(1000.0, 5),
        "kib" => power(1024.0, 1),
        "mib" => power(1024.0, 2),
        "gib" => power(1024.0, 3),
        "tib" => power(1024.0, 4),
        "pib" => power(1024.0, 5),
        _ => return Err(invalid("not a byte size (e.g. 512MiB, 8GB; percentages are not accepted)")),
    };
    let bytes = number * factor;
    if bytes < f64::from(1u32 << 20) {
        return Err(invalid("at least 1 MiB"));
    }
    Ok(bytes.min(usize::MAX as f64) as usize)
}

/// The log levels `LOG_LEVEL` takes (Python's names, and `warn`), normalised to lowercase.
fn parse_level(var: &str, value: &str) -> Result<String> {
    match value.trim().to_ascii_lowercase().as_str() {
        level @ ("trace" | "debug" | "info" | "error") => Ok(level.to_string()),
        "warning" | "warn" => Ok("warn".to_string()),
        "critical" | "fatal" => Ok("error".to_string()),
        _ => Err(Error::InvalidSetting {
            var: var.to_string(),
            value: value.to_string(),
            reason: "not a log level (debug, info, warning, error)",
        }),
    }
}

/// Pydantic's boolean words, case-insensitive; the empty string is an error (spec `zfs.md` §1).
fn parse_bool(var: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" | "t" | "y" => Ok(true),
        "0" | "false" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(Error::InvalidSetting { var: var.to_string(), value: value.to_string(), reason: "not a boolean" }),
    }
}

/// Every `(name, value)` settings are read from, lowest precedence first (spec
/// `interfaces.md` §4.1, pydantic-settings' order): Docker secrets in `/run/secrets` (one file
/// per setting, named like the variable in any case, its content stripped), then a `.env` file
/// in the working directory, then the process environment. Names keep their case; the readers
/// match them case-insensitively, a later pair overriding an earlier one.
pub fn setting_sources() -> Vec<(String, String)> {
    let mut pairs = sources_in(Path::new("/run/secrets"), Path::new(".env"));
    pairs.extend(std::env::vars());
    pairs
}

/// The secrets in `secrets` (if it is a folder), then the assignments of the `.env` file
/// `dotenv` (if there is one).
fn sources_in(secrets: &Path, dotenv: &Path) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    if let Ok(entries) = std::fs::read_dir(secrets) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.file_type().is_ok_and(|t| t.is_file())
                && let Ok(value) = std::fs::read_to_string(entry.path())
            {
                pairs.push((name, value.trim().to_string()));
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(dotenv) {
        pairs.extend(text.lines().filter_map(dotenv_line));
    }
    pairs
}

/// One `.env` assignment (`NAME=value`, `export NAME="value"`, `NAME='value' # note`); `None`
/// for blank lines, comments and lines without `=`.
fn dotenv_line(line: &str) -> Option<(String, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let line = line.strip_prefix("export ").unwrap_or(line);
    let (name, value) = line.split_once('=')?;
    let value = value.trim();
    let value = match value.chars().next() {
        Some(quote @ ('"' | '\'')) => value[1..].split(quote).next().unwrap_or_default(),
        _ => value.split(" #").next().unwrap_or_default().trim_end(),
    };
    Some((name.trim().to_string(), value.to_string()))
}

impl Settings {
    /// How long a waiter gives a lock held from another host: as long as the write fence waits
    /// over its [`lock_max_retries`](Settings::lock_max_retries) (1 s, 2 s, … between tries).
    pub fn lock_patience(&self) -> std::time::Duration {
        let retries = u64::from(self.lock_max_retries);
        std::time::Duration::from_secs(retries * (retries + 1) / 2)
    }

    /// Settings from the process environment, `./.env` and `/run/secrets`
    /// ([`setting_sources`]).
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the variable whose value does not parse.
    pub fn from_env() -> Result<Settings> {
        Settings::from_vars(setting_sources())
    }

    /// Settings from `(name, value)` pairs; names are matched case-insensitively.
    ///
    /// # Errors
    /// [`Error::InvalidSetting`] naming the variable whose value does not parse or is out of range.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Settings> {
        let vars: HashMap<String, String> = vars.into_iter().map(|(k, v)| (k.to_ascii_uppercase(), v)).collect();
        let get = |name: &str| vars.get(&format!("LAKEHOUSE_{name}")).map(|v| (format!("LAKEHOUSE_{name}"), v.clone()));
        let non_empty = |name: &str| get(name).map(|(_, v)| v).filter(|v| !v.is_empty());
        let mut s = Settings::default();
        if let Some((_, v)) = get("URI") {
            s.uri = v;
        }
        if let Some((_, v)) = get("JOURNAL_URI") {
            s.journal_uri = v;
        }
        if let Some((k, v)) = get("GRACE_PERIOD_DAYS") {
            s.grace_period_days = parse(&k, &v)?;
        }
        if let Some((k, v)) = get("MAX_BUFFER_ROWS") {
            s.max_buffer_rows = parse(&k, &v)?;
        }
        if let Some((k, v)) = get("JOURNAL_DRAIN_ROWS") {
            s.journal_drain_rows = parse(&k, &v)?;
        }
        if let Some((k, v)) = get("JOURNAL_POOL_SIZE") {
            s.journal_pool_size = parse(&k, &v)?;
        }
        if let Some((k, v)) = get("LOCK_MAX_RETRIES") {
            s.lock_max_retries = parse(&k, &v)?;
        }
        if let Some((k, v)) = get("WORKERS") {
            s.workers = parse(&k, &v)?;
            if s.workers == 0 {
                return Err(Error::InvalidSetting { var: k, value: v, reason: "must be at least 1" });
            }
        }
        if let Some((k, v)) = get("MERGE_PARTITIONS") {
            s.merge_partitions = parse(&k, &v)?;
            if s.merge_partitions == 0 {
                return Err(Error::InvalidSetting { var: k, value: v, reason: "must be at least 1" });
            }
        }
        if let Some((k, v)) = get("QUERY_MEMORY_LIMIT").or_else(|| get("DUCKDB_MEMORY_LIMIT")) {
            s.query_memory_limit = parse_bytes(&k, &v)?;
        }
        // The base settings the reference reads without the prefix (spec `interfaces.md` §4.4).
        let unprefixed = |name: &str| vars.get(name).map(|v| (name.to_string(), v.clone()));
        if let Some((k, v)) = unprefixed("LOG_LEVEL") {
            s.log_level = parse_level(&k, &v)?;
        }
        if let Some((k, v)) = unprefixed("LOG_JSON") {
            s.log_json = parse_bool(&k, &v)?;
        }
        if let Some((k, v)) = unprefixed("DEBUG") {
            s.debug = parse_bool(&k, &v)?;
        }
        s.public_url_prefix = non_empty("PUBLIC_URL_PREFIX");
        if let Some((k, v)) = get("ON_ZFS") {
            s.on_zfs = parse_bool(&k, &v)?;
        }
        s.zfs_pool = non_empty("ZFS_POOL");
        s.zfs_owner = non_empty("ZFS_OWNER");
        s.zfs_socket = non_empty("ZFS_SOCKET");
        s.api_key = non_empty("API_KEY");
        s.api_secret = non_empty("API_SECRET");
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_over_dotenv_over_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets");
        std::fs::create_dir(&secrets).unwrap();
        std::fs::write(secrets.join("lakehouse_api_secret"), "s3cret\n").unwrap();
        std::fs::write(secrets.join("LAKEHOUSE_URI"), "from-secret").unwrap();
        std::fs::write(secrets.join("LAKEHOUSE_GRACE_PERIOD_DAYS"), "7").unwrap();
        let dotenv = dir.path().join(".env");
        let text = "# settings\nexport lakehouse_uri=\"from dotenv\"\nLAKEHOUSE_LOCK_MAX_RETRIES=3 # few\n\nnot a line\nLAKEHOUSE_ZFS_POOL='tank/lake'\n";
        std::fs::write(&dotenv, text).unwrap();
        let mut pairs = sources_in(&secrets, &dotenv);
        pairs.push(("LAKEHOUSE_GRACE_PERIOD_DAYS".into(), "9".into()));
        let s = Settings::from_vars(pairs).unwrap();
        assert_eq!(s.api_secret.as_deref(), Some("s3cret"));
        assert_eq!(s.uri, "from dotenv");
        assert_eq!(s.lock_max_retries, 3);
        assert_eq!(s.zfs_pool.as_deref(), Some("tank/lake"));
        assert_eq!(s.grace_period_days, 9, "the environment wins");
        assert!(sources_in(&dir.path().join("none"), &dir.path().join("none.env")).is_empty());
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn byte_sizes_log_level_and_the_unprefixed_settings() {
        let limit = |value: &str| Settings::from_vars(vars(&[("LAKEHOUSE_DUCKDB_MEMORY_LIMIT", value)]));
        assert_eq!(limit("8GB").unwrap().query_memory_limit, 8_000_000_000);
        assert_eq!(limit("1.5 gib").unwrap().query_memory_limit, 3 << 29);
        assert_eq!(limit("2000000").unwrap().query_memory_limit, 2_000_000);
        for bad in ["50%", "lots", "8 gigs", "", "1k"] {
            let err = limit(bad).unwrap_err().to_string();
            assert!(err.contains("LAKEHOUSE_DUCKDB_MEMORY_LIMIT"), "{bad}: {err}");
        }
        let both = Settings::from_vars(vars(&[
            ("LAKEHOUSE_DUCKDB_MEMORY_LIMIT", "8GB"),
            ("lakehouse_query_memory_limit", "1GiB"),
        ]));
        assert_eq!(both.unwrap().query_memory_limit, 1 << 30, "our name wins");
        let s = Settings::from_vars(vars(&[("log_level", "WARNING"), ("LOG_JSON", "true"), ("DEBUG", "1")])).unwrap();
        assert_eq!((s.log_level.as_str(), s.log_json, s.debug), ("warn", true, true));
        let prefixed =
            Settings::from_vars(vars(&[("LAKEHOUSE_LOG_LEVEL", "debug"), ("LAKEHOUSE_DEBUG", "1")])).unwrap();
        assert_eq!((prefixed.log_level.as_str(), prefixed.debug), ("info", false), "the prefix has no effect");
        let err = Settings::from_vars(vars(&[("LOG_LEVEL", "loud")])).unwrap_err().to_string();
        assert!(err.contains("LOG_LEVEL") && err.contains("not a log level"), "{err}");
    }

    #[test]
    fn secrets_are_not_serialised() {
        let s = Settings::from_vars(vars(&[
            ("LAKEHOUSE_JOURNAL_URI", "postgresql://lake:s3cret@db:5432/lake"),
            ("LAKEHOUSE_API_KEY", "key"),
            ("LAKEHOUSE_API_SECRET", "s3cret"),
        ]))
        .unwrap();
        let shown = serde_json::to_value(&s).unwrap();
        assert!(!shown.to_string().contains("s3cret"), "{shown}");
        assert_eq!(shown["journal_uri"], "postgresql://lake:***@db:5432/lake");
        assert_eq!((shown["api_key"].as_str(), shown["api_secret"].as_str()), (Some("key"), Some("***")));
        assert_eq!(s.journal_uri, "postgresql://lake:s3cret@db:5432/lake", "kept for use");
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(Settings::from_vars(vars(&[])).unwrap(), Settings::default());
        let s = Settings::from_vars(vars(&[
            ("lakehouse_uri", "/tmp/lake"),
            ("LAKEHOUSE_GRACE_PERIOD_DAYS", "0"),
            ("LAKEHOUSE_ON_ZFS", "1"),
        ]))
        .unwrap();
        assert_eq!((s.uri.as_str(), s.grace_period_days, s.on_zfs), ("/tmp/lake", 0, true));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Settings::from_vars(vars(&[("LAKEHOUSE_WORKERS", "0")])).unwrap_err();
        assert_eq!(err.to_string(), "Invalid setting LAKEHOUSE_WORKERS=\"0\": must be at least 1");
        let err = Settings::from_vars(vars(&[("LAKEHOUSE_MAX_BUFFER_ROWS", "lots")])).unwrap_err();
        assert!(err.to_string().contains("LAKEHOUSE_MAX_BUFFER_ROWS"), "{err}");
        for bad in ["", "maybe", "2"] {
            let err = Settings::from_vars(vars(&[("LAKEHOUSE_ON_ZFS", bad)])).unwrap_err();
            assert!(err.to_string().contains("LAKEHOUSE_ON_ZFS"), "{err}");
        }
    }

    #[test]
    fn zfs_settings_treat_empty_as_unset() {
        let s = Settings::from_vars(vars(&[
            ("LAKEHOUSE_ON_ZFS", "Yes"),
            ("LAKEHOUSE_ZFS_POOL", "tank/lake"),
            ("LAKEHOUSE_ZFS_OWNER", "1000:1000"),
            ("LAKEHOUSE_ZFS_SOCKET", "/run/zfs.sock"),
        ]))
        .unwrap();
        assert!(s.on_zfs);
        assert_eq!(s.zfs_pool.as_deref(), Some("tank/lake"));
        assert_eq!(s.zfs_owner.as_deref(), Some("1000:1000"));
        assert_eq!(s.zfs_socket.as_deref(), Some("/run/zfs.sock"));
        let empty = vars(&[("LAKEHOUSE_ZFS_POOL", ""), ("LAKEHOUSE_ZFS_OWNER", ""), ("LAKEHOUSE_ZFS_SOCKET", "")]);
        assert_eq!(Settings::from_vars(empty).unwrap(), Settings::default());
    }
}
