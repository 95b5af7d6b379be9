//! Diff exports: what changed in the entities and documents since the previous export (seed 002
//! "Dependency chain", spec `exports-and-operations.md` §8).
//!
//! Three series, each with its own state tag `diffs/<artifact>-current` = `<TS>:<version>` (the
//! previous export's start and the Delta version it read):
//!
//! | series | file |
//! |---|---|
//! | entities | `diffs/entities.ftm.json/<TS>.delta.json[.gz/.zst]`: `{"op":…,"entity":…}` lines |
//! | documents | `diffs/exports/documents.csv/<TS>.diff.csv[…]`: the documents CSV with an `op` column |
//! | crawl documents | `diffs/exports/documents.crawl.csv/<TS>.diff.csv[…]` |
//!
//! A series has a window when its state names an older Delta version than the current one. In a
//! window an entity is `ADD` when all its statements were first seen since the window start,
//! `MOD` when some were, or when some of its statements were deleted since; an entity whose every
//! statement was deleted since is a `DEL`. Files are written only when they have an entry. Every
//! export records the new state of every series, so the first export is the baseline.

use std::collections::BTreeSet;

use ftm::EntityRecord;
use ftm::time::Timestamp;

use crate::error::Result;
use crate::model::file::is_document;
use crate::model::origin::CRAWL_ORIGIN;
use crate::operation::artifacts::{
    Artifact, CRAWL_DOCUMENTS, CsvTable, DOCUMENT_COLUMNS, DOCUMENTS, ENTITIES, Finished,
};
use crate::repository::EntityRepository;
use crate::storage::tags::keys;
use crate::storage::versions::TS_FORMAT;
use crate::storage::{Location, TagStore};

/// A diff entry's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A new entity.
    Add,
    /// A changed entity.
    Mod,
    /// A deleted entity.
    Del,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Add => "ADD",
            Op::Mod => "MOD",
            Op::Del => "DEL",
        }
    }
}

/// The three diff series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// `entities.ftm.json`.
    Entities = 0,
    /// `exports/documents.csv`.
    Documents = 1,
    /// `exports/documents.crawl.csv`.
    CrawlDocuments = 2,
}

const SERIES: [Series; 3] = [Series::Entities, Series::Documents, Series::CrawlDocuments];

impl Series {
    /// The artifact the series follows.
    pub fn artifact(self) -> &'static str {
        match self {
            Series::Entities => ENTITIES,
            Series::Documents => DOCUMENTS,
            Series::CrawlDocuments => CRAWL_DOCUMENTS,
        }
    }

    /// The tag holding the series' state.
    pub fn state_tag(self) -> String {
        keys::diff_state(self.artifact())
    }

    fn file_name(self, ts: &str) -> String {
        match self {
            Series::Entities => format!("diffs/{}/{ts}.delta.json", self.artifact()),
            _ => format!("diffs/{}/{ts}.diff.csv", self.artifact()),
        }
    }

    /// Whether a tombstoned entity with these rows is in the series' scope.
    fn claims(self, deleted: &Deleted) -> bool {
        match self {
            Series::Entities => true,
            Series::Documents => deleted.content_hash && deleted.document,
            Series::CrawlDocuments => deleted.content_hash && deleted.document && deleted.crawl,
        }
    }
}

/// What the tombstones of one entity say (spec §8.3 candidates).
#[derive(Debug, Clone)]
struct Deleted {
    at: Timestamp,
    content_hash: bool,
    document: bool,
    crawl: bool,
}

/// One series' open window.
struct Window {
    since: Timestamp,
    /// Tombstoned entities not yet seen alive: the `DEL`s, unless the sweep meets them.
    pending: BTreeSet<String>,
    out: Option<Artifact>,
    counts: [u64; 3],
}

/// Counts of one series: (add, mod, del).
pub type DiffCounts = (u64, u64, u64);

/// What [`Diffs::finish`] hands back to the export.
pub(crate) struct DiffOutcome {
    /// The diff files, to publish with the other artifacts.
    pub files: Vec<Finished>,
    /// (add, mod, del) by [`Series`] index.
    pub counts: [DiffCounts; 3],
    /// The state every series records once the export succeeded (`<TS>:<version>`).
    pub state: String,
}

/// The diffs of one export.
pub(crate) struct Diffs {
    /// The export's start, in the diff file name format.
    ts: String,
    /// The Delta version the export read.
    version: u64,
    root: Location,
    codec: Option<String>,
    windows: [Option<Window>; 3],
    /// The documents rows being formatted.
    rows: CsvTable,
}

/// Parses a state tag value `20261121T042023720649Z:7`.
fn parse_state(raw: &str) -> Option<(Timestamp, u64)> {
    let (ts, version) = raw.trim().trim_matches('"').rsplit_once(':')?;
    let ts = chrono::NaiveDateTime::parse_from_str(ts, TS_FORMAT).ok()?.and_utc();
    Some((ts, version.parse().ok()?))
}

impl Diffs {
    /// Reads the series' states against the current Delta `version` and, when a window is open,
    /// the tombstones since its start.
    ///
    /// # Errors
    /// Tag and query errors.
    pub(crate) async fn open(repo: &EntityRepository, started: Timestamp, version: u64) -> Result<Diffs> {
        let tags = repo.dataset().tags();
        let mut windows: [Option<Window>; 3] = [None, None, None];
        for series in SERIES {
            if let Some((since, seen)) = tags.get_raw(&series.state_tag()).await?.as_deref().and_then(parse_state)
                && seen < version
            {
                windows[series as usize] = Some(Window { since, pending: BTreeSet::new(), out: None, counts: [0; 3] });
            }
        }
        if let Some(earliest) = windows.iter().flatten().map(|w| w.since).min() {
            let model = ftm::model();
            for rows in repo.statements().tombstones_since(earliest).await? {
                let deleted = Deleted {
                    at: rows.iter().filter_map(|s| s.deleted_at).max().unwrap_or(earliest),
                    content_hash: rows.iter().any(|s| s.prop == "contentHash"),
                    document: rows.iter().any(|s| model.get(&s.schema).is_some_and(is_document)),
                    crawl: rows.iter().any(|s| s.origin.as_deref() == Some(CRAWL_ORIGIN)),
                };
                for series in SERIES {
                    if let Some(window) = &mut windows[series as usize]
                        && deleted.at >= window.since
                        && series.claims(&deleted)
                    {
                        window.pending.insert(rows[0].entity_id.clone());
                    }
                }
            }
        }
        let root = repo.dataset().location().clone();
        let codec = repo.config().compression().map(str::to_string);
        let rows = CsvTable::new("diff");
        Ok(Diffs { ts: started.format(TS_FORMAT).to_string(), version, root, codec, windows, rows })
    }

    /// Records `version` as the Delta version the export read: the version after a merge
    /// that ran with the export, which changed no data.
    pub(crate) fn read_version(&mut self, version: u64) {
        self.version = version;
    }

    /// The entry of a live `entity` in `series`, if it changed in the window (spec §8.3).
    pub(crate) fn op(&mut self, series: Series, entity: &EntityRecord<'_>) -> Option<Op> {
        let window = self.windows[series as usize].as_mut()?;
        let touched = window.pending.remove(entity.id.as_ref());
        let changed = entity.max_first_seen.is_some_and(|t| t >= window.since);
        if !touched && !changed {
            return None;
        }
        let op = if entity.min_first_seen.is_none_or(|t| t >= window.since) { Op::Add } else { Op::Mod };
        window.counts[op as usize] += 1;
        Some(op)
    }

    async fn write(&mut self, series: Series, bytes: &[u8]) -> Result<()> {
        let Some(window) = self.windows[series as usize].as_mut() else { return Ok(()) };
        if window.out.is_none() {
            let mut out = Artifact::create(&self.root, &series.file_name(&self.ts), self.codec.as_deref(), false)?;
            if series != Series::Entities {
                self.rows.row(std::iter::once("op").chain(DOCUMENT_COLUMNS))?;
                out.write(&self.rows.take()?).await?;
            }
            window.out = Some(out);
        }
        window.out.as_mut().expect("created above").write(bytes).await
    }

    /// Writes an entities entry around `json`, the entity's `entities.ftm.json` line without its
    /// newline.
    ///
    /// # Errors
    /// [`Error::Io`](crate::error::Error::Io).
    pub(crate) async fn entity(&mut self, op: Op, json: &[u8]) -> Result<()> {
        let mut line = Vec::with_capacity(json.len() + 24);
        line.extend_from_slice(b"{\"op\":\"");
        line.extend_from_slice(op.as_str().as_bytes());
        line.extend_from_slice(b"\",\"entity\":");
        line.extend_from_slice(json);
        line.extend_from_slice(b"}\n");
        self.write(Series::Entities, &line).await
    }

    /// Writes a documents row, prefixed with the op.
    ///
    /// # Errors
    /// [`Error::Io`](crate::error::Error::Io).
    pub(crate) async fn document(&mut self, series: Series, op: Op, row: &[&str]) -> Result<()> {
        self.rows.row(std::iter::once(op.as_str()).chain(row.iter().copied()))?;
        let line = self.rows.take()?;
        self.write(series, &line).await
    }

    /// Writes the `DEL` entries and completes the files (not yet in place).
    ///
    /// # Errors
    /// [`Error::Io`](crate::error::Error::Io).
    pub(crate) async fn finish(mut self) -> Result<DiffOutcome> {
        let mut files = Vec::new();
        let mut counts = [(0, 0, 0); 3];
        for series in SERIES {
            let Some(window) = self.windows[series as usize].as_mut() else { continue };
            let deleted = std::mem::take(&mut window.pending);
            window.counts[Op::Del as usize] += deleted.len() as u64;
            for id in deleted {
                match series {
                    Series::Entities => {
                        let mut line = serde_json::to_vec(&serde_json::json!({"op": "DEL", "entity": {"id": id}}))
                            .expect("JSON values serialise");
                        line.push(b'\n');
                        self.write(series, &line).await?;
                    }
                    _ => {
                        let mut row = vec!["DEL", id.as_str()];
                        row.extend(std::iter::repeat_n("", DOCUMENT_COLUMNS.len() - 1));
                        self.rows.row(row)?;
                        let line = self.rows.take()?;
                        self.write(series, &line).await?;
                    }
                }
            }
            let window = self.windows[series as usize].take().expect("open window");
            let [add, modified, del] = window.counts;
            counts[series as usize] = (add, modified, del);
            if let Some(out) = window.out {
                files.push(out.finish().await?);
            }
        }
        Ok(DiffOutcome { files, counts, state: format!("{}:{}", self.ts, self.version) })
    }
}

/// Records `state` (`<TS>:<version>`) for every series, after a successful export.
///
/// # Errors
/// [`Error::Storage`](crate::error::Error::Storage).
pub(crate) async fn record_state(tags: &TagStore, state: &str) -> Result<()> {
    for series in SERIES {
        tags.set_raw(&series.state_tag(), state).await?;
    }
    Ok(())
}
