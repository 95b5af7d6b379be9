//! The statement table's past (issue: time travel): its versions with the operation that
//! made each, and reads of the table as it was at a version or a time.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde_json::Value;

use super::{STATEMENTS_DIR, StatementStore};
use crate::error::{Error, Result};

/// Most commits [`StatementStore::same_content`] reads between two versions.
const MAX_COMPARED_COMMITS: u64 = 64;

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
        let mut commits = Vec::new();
        for (version, actions) in self.log_entries().await? {
            let mut commit = Commit { version, timestamp: None, operation: None, parameters: Value::Null };
            if let Some(info) = actions.iter().find_map(|action| action.get("commitInfo")) {
                commit.timestamp = info["timestamp"].as_i64().and_then(DateTime::from_timestamp_millis);
                commit.operation = info["operation"].as_str().map(str::to_string);
                commit.parameters = info["operationParameters"].clone();
            }
            commits.push(commit);
        }
        Ok(commits)
    }

    /// The versions a reader can no longer open once the data files `deleted` (paths relative
    /// to the table, as [`VacuumMetrics::files_deleted`](super::VacuumMetrics) gives them) are
    /// gone: every version from the one that added such a file (or the oldest in the log) to the
    /// one before the commit that removed it. Inclusive ranges, oldest first, overlapping ones
    /// joined; empty when no version referenced a deleted file.
    ///
    /// # Errors
    /// As [`history`](StatementStore::history).
    pub async fn unreadable_versions(&self, deleted: &[String]) -> Result<Vec<RangeInclusive<u64>>> {
        if deleted.is_empty() {
            return Ok(Vec::new());
        }
        let deleted: HashSet<String> = deleted.iter().map(|p| decode(p)).collect();
        let entries = self.log_entries().await?;
        let Some(oldest) = entries.first().map(|(version, _)| *version) else {
            return Ok(Vec::new());
        };
        let (mut added, mut removed) = (HashMap::new(), HashMap::new());
        for (version, actions) in &entries {
            for action in actions {
                for (kind, versions) in [("add", &mut added), ("remove", &mut removed)] {
                    if let Some(path) = action.get(kind).and_then(|a| a["path"].as_str()).map(decode)
                        && deleted.contains(&path)
                    {
                        versions.entry(path).or_insert(*version);
                    }
                }
            }
        }
        let mut ranges: Vec<RangeInclusive<u64>> = removed
            .iter()
            .filter(|(_, removed)| **removed > 0)
            .map(|(path, removed)| added.get(path).copied().unwrap_or(oldest)..=removed - 1)
            .filter(|range| !range.is_empty())
            .collect();
        ranges.sort_by_key(|range| *range.start());
        let mut joined: Vec<RangeInclusive<u64>> = Vec::new();
        for range in ranges {
            match joined.last_mut() {
                Some(last) if *range.start() <= last.end() + 1 => {
                    *last = *last.start()..=(*last.end()).max(*range.end());
                }
                _ => joined.push(range),
            }
        }
        Ok(joined)
    }

    /// Whether versions `a` and `b` hold the same live statements: every commit between them
    /// only rearranges data (each `add` and `remove` says `dataChange: false`, as a merge's
    /// and an OPTIMIZE's do; a vacuum's commits have neither) and changes no metadata or
    /// protocol. `false` when a commit's log entry is gone, or for versions more than 64
    /// commits apart.
    ///
    /// # Errors
    /// [`Error::Storage`] reading the log; [`Error::Corrupt`] for an entry that is not JSON
    /// lines.
    pub async fn same_content(&self, a: u64, b: u64) -> Result<bool> {
        let (low, high) = (a.min(b), a.max(b));
        if high - low > MAX_COMPARED_COMMITS {
            return Ok(false);
        }
        let store = self.root.object_store()?;
        for version in low + 1..=high {
            let path = Path::from(format!("{STATEMENTS_DIR}/_delta_log/{version:020}.json"));
            let bytes = match store.get(&path).await {
                Ok(got) => got.bytes().await?,
                Err(object_store::Error::NotFound { .. }) => return Ok(false),
                Err(e) => return Err(e.into()),
            };
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let action: Value = serde_json::from_slice(line).map_err(|e| Error::Corrupt(format!("{path}: {e}")))?;
                let rearranges = |kind: &str| action.get(kind).is_none_or(|a| a["dataChange"] == Value::Bool(false));
                let changes_metadata = action.get("metaData").is_some() || action.get("protocol").is_some();
                if changes_metadata || !rearranges("add") || !rearranges("remove") {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// Every commit entry still in the table's log, oldest first: its version and its actions
    /// (one JSON object per line). Empty without a table.
    pub(super) async fn log_entries(&self) -> Result<Vec<(u64, Vec<Value>)>> {
        let store = self.root.object_store()?;
        let log = Path::from(format!("{STATEMENTS_DIR}/_delta_log"));
        let listed: Vec<_> = store.list(Some(&log)).try_collect().await?;
        let mut entries = Vec::new();
        for entry in listed {
            let Some(version) =
                entry.location.filename().and_then(|n| n.strip_suffix(".json")).and_then(|n| n.parse().ok())
            else {
                continue;
            };
            let bytes = store.get(&entry.location).await?.bytes().await?;
            let actions = bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|line| {
                    serde_json::from_slice(line).map_err(|e| Error::Corrupt(format!("{}: {e}", entry.location)))
                })
                .collect::<Result<Vec<Value>>>()?;
            entries.push((version, actions));
        }
        entries.sort_by_key(|(version, _)| *version);
        Ok(entries)
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

/// A data file's path as the log and the vacuum give it, percent-decoded (the log escapes the
/// partition values' `=`-free characters, the vacuum reports object paths).
pub(super) fn decode(path: &str) -> String {
    percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned()
}
