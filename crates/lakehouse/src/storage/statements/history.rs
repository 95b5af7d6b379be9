//! The statement table's past (issue: time travel): its versions with the operation that
//! made each, and reads of the table as it was at a version or a time.

use std::fmt;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::Value;

use super::{STATEMENTS_DIR, StatementStore};
use crate::error::{Error, Result};

/// Which state of the table a read sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// The table after commit `n`.
    Version(u64),
    /// The table as of this time: the last commit made at or before it.
    Time(DateTime<Utc>),
}

impl AsOf {
    /// Reads `--as-of`: a version number, or an ISO 8601 / RFC 3339 time.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for anything else.
    pub fn parse(text: &str) -> Result<AsOf> {
        if let Ok(version) = text.trim().parse::<u64>() {
            return Ok(AsOf::Version(version));
        }
        ftm::time::parse_iso(text.trim()).map(AsOf::Time).ok_or_else(|| {
            Error::InvalidInput(format!("--as-of {text:?}: not a table version (a number) nor an ISO 8601 time"))
        })
    }
}

impl fmt::Display for AsOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsOf::Version(version) => write!(f, "version {version}"),
            AsOf::Time(time) => write!(f, "{}", time.to_rfc3339()),
        }
    }
}

/// One commit of the table, from its log entry's `commitInfo`.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// The table version the commit made.
    pub version: u64,
    /// When it was made (milliseconds since the epoch in the log), if recorded.
    pub timestamp: Option<DateTime<Utc>>,
    /// The operation (`WRITE`, `OPTIMIZE`, `DELETE`, `VACUUM START`, …), if recorded.
    pub operation: Option<String>,
    /// The operation's parameters as the log records them.
    pub parameters: Value,
}

impl StatementStore {
    /// Every commit still in the table's log, oldest first (versions whose log entry was
    /// cleaned up are missing). Empty without a table.
    ///
    /// # Errors
    /// [`Error::Storage`]; [`Error::Corrupt`] for a log entry that is not JSON lines.
    pub async fn history(&self) -> Result<Vec<Commit>> {
        let store = self.root.object_store()?;
        let log = Path::from(format!("{STATEMENTS_DIR}/_delta_log"));
        let entries: Vec<_> = store.list(Some(&log)).try_collect().await?;
        let mut commits = Vec::new();
        for entry in entries {
            let Some(version) =
                entry.location.filename().and_then(|n| n.strip_suffix(".json")).and_then(|n| n.parse().ok())
            else {
                continue;
            };
            let bytes = store.get(&entry.location).await?.bytes().await?;
            let mut commit = Commit { version, timestamp: None, operation: None, parameters: Value::Null };
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let action: Value =
                    serde_json::from_slice(line).map_err(|e| Error::Corrupt(format!("{}: {e}", entry.location)))?;
                if let Some(info) = action.get("commitInfo") {
                    commit.timestamp = info["timestamp"].as_i64().and_then(DateTime::from_timestamp_millis);
                    commit.operation = info["operation"].as_str().map(str::to_string);
                    commit.parameters = info["operationParameters"].clone();
                }
            }
            commits.push(commit);
        }
        commits.sort_by_key(|c| c.version);
        Ok(commits)
    }

    /// This store read as of `as_of`: [`table`](StatementStore::table) and every read through
    /// it see that state; writes are refused.
    pub fn at(mut self, as_of: AsOf) -> StatementStore {
        self.as_of = Some(as_of);
        self
    }

    /// The past state reads see, `None` for the latest.
    pub fn as_of(&self) -> Option<AsOf> {
        self.as_of
    }

    /// Refuses a write on a store read as of a past state.
    pub(super) fn writable(&self) -> Result<()> {
        match self.as_of {
            None => Ok(()),
            Some(as_of) => {
                Err(Error::InvalidInput(format!("the statement table is read as of {as_of}: it cannot be written")))
            }
        }
    }
}
