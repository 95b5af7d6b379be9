//! `entities import` and `statements import`: bulk input into a dataset through the journal
//! (spec `interfaces.md` §1.5–§1.6).
//!
//! Input is read line by line (entities) or row by row (statements) and written with one bulk
//! writer; entity lines are parsed a chunk at a time on blocking tasks, ahead of the writer. A
//! bad line stops the import with an error naming the input, the line and what is wrong;
//! everything before it is kept.
//!
//! Where the rows go depends on the journal:
//! * a durable journal (SQLite file, PostgreSQL) receives them like every other write (seed
//!   002), and keeps them until `maintenance flush` or `make`;
//! * with an in-memory journal (the default `sqlite:///:memory:`) they would vanish with the
//!   process, so the import appends straight to the statement store in `--bulk-size` batches
//!   (default [`STORE_BATCH_ROWS`]), as the reference's CLI import always does.

use std::io::BufRead;

use ftm::Statement;
use ftm::time::parse_iso;

use crate::error::{Error, Result};
use crate::repository::{BulkWriter, EntityRepository, WriteOptions};

/// Statements per append when an import writes straight to the store and no `--bulk-size` is
/// given. Two batches are in memory at a time (one filling, one being written), held in
/// data-file columns; the cap `LAKEHOUSE_MAX_BUFFER_ROWS` still applies. Each append leaves one
/// file per partition for the next merge to read side by side, so larger batches leave fewer
/// files and a faster merge, for a higher memory peak of the import itself; the default leans
/// towards the merge that follows every import.
pub const STORE_BATCH_ROWS: usize = 500_000;

/// Options of an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Origin, role and timestamps of the written rows.
    pub write: WriteOptions,
    /// The `--unsafe` path: skip what cannot be written instead of failing.
    pub lenient: bool,
    /// Statements per append when writing straight to the store (`--bulk-size`).
    pub bulk_size: Option<usize>,
}

impl ImportOptions {
    /// Default options for `write`: strict, default batch size.
    pub fn new(write: WriteOptions) -> ImportOptions {
        ImportOptions { write, lenient: false, bulk_size: None }
    }
}

/// What an import wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportMetrics {
    /// Entities (or statement rows) read.
    pub items: u64,
    /// Statements written (to the journal, or to the store when `stored`).
    pub statements: u64,
    /// Items skipped by the lenient path.
    pub skipped: u64,
    /// The statements went straight to the statement store (in-memory journal).
    pub stored: bool,
}

/// The writer of an import: into the journal, or the store when the journal is in memory.
/// The writer of an operation whose writes must outlive the process: the journal's, or the
/// statement store's when the journal is in memory (and would be lost at exit).
pub(crate) fn durable_writer<'a>(repo: &'a EntityRepository, options: &ImportOptions) -> Result<BulkWriter<'a>> {
    if repo.journal().is_memory() {
        repo.store_writer(options.write.clone(), options.bulk_size.unwrap_or(STORE_BATCH_ROWS))
    } else {
        repo.writer(options.write.clone())
    }
}

fn input_error(source: &str, line: usize, error: impl std::fmt::Display) -> Error {
    Error::Input { input: source.to_string(), line, message: error.to_string() }
}

/// Counts one item's outcome (`Ok(true)` written, `Ok(false)` skipped); returns the error that
/// stops the import, naming the input line.
fn tally(metrics: &mut ImportMetrics, outcome: Result<bool>, source: &str, line: usize) -> Option<Error> {
    match outcome {
        Ok(true) => {}
        Ok(false) => metrics.skipped += 1,
        Err(e @ Error::Input { .. }) => return Some(e),
        Err(e) => return Some(input_error(source, line, e)),
    }
    metrics.items += 1;
    None
}

/// Ends an import: commits the writer, then reports the error that stopped the import, if any.
async fn finish(writer: BulkWriter<'_>, mut metrics: ImportMetrics, failure: Option<Error>) -> Result<ImportMetrics> {
    metrics.stored = writer.writes_to_store();
    metrics.statements = writer.close().await? as u64;
    failure.map_or(Ok(metrics), Err)
}

/// Input lines parsed per task.
const PARSE_CHUNK_LINES: usize = 2048;
/// Chunks parsed at a time, ahead of the writer.
const PARSE_CHUNKS_AHEAD: usize = 4;

/// A chunk of input lines: their text one after another, where each ends, and the number of
/// the first.
struct Lines {
    text: String,
    ends: Vec<usize>,
    first: usize,
}

/// Reads up to [`PARSE_CHUNK_LINES`] lines after line `first - 1`; also returns the read error
/// that ended the input early, with its line number. An empty chunk means the input ended.
fn read_lines(input: &mut impl BufRead, first: usize) -> (Lines, Option<(usize, std::io::Error)>) {
    let mut lines = Lines { text: String::new(), ends: Vec::with_capacity(PARSE_CHUNK_LINES), first };
    while lines.ends.len() < PARSE_CHUNK_LINES {
        match input.read_line(&mut lines.text) {
            Ok(0) => break,
            Ok(_) => lines.ends.push(lines.text.len()),
            Err(e) => {
                let line = first + lines.ends.len();
                return (lines, Some((line, e)));
            }
        }
    }
    (lines, None)
}

/// Parses each line of a chunk into an entity; `None` for a blank line.
fn parse_lines(lines: &Lines, lenient: bool) -> Vec<Option<Result<ftm::Entity>>> {
    let model = ftm::model();
    let mut start = 0;
    lines
        .ends
        .iter()
        .map(|&end| {
            let line = &lines.text[start..end];
            start = end;
            if line.trim().is_empty() {
                return None;
            }
            Some(match serde_json::from_str::<serde_json::Value>(line) {
                Err(e) => Err(Error::Ftm(ftm::FtmError::InvalidEntity(format!("malformed JSON: {e}")))),
                Ok(value) if lenient => ftm::Entity::from_json_lenient(model, &value).map_err(Error::from),
                Ok(value) => ftm::Entity::from_json(model, &value).map_err(Error::from),
            })
        })
        .collect()
}

/// Imports FtM entities, one JSON object per line, from `input` (called `source` in errors).
/// `progress` is called with the number of entities read so far.
///
/// Lines are parsed in chunks on blocking tasks, a few chunks ahead of the writer, which takes
/// the entities in input order: parsing uses the cores the writer leaves idle.
///
/// # Errors
/// [`Error::Input`] for a malformed line or an entity that cannot be written (unknown schema,
/// stub property, invalid id, bad origin…); [`Error::Journal`]; append errors.
pub async fn import_entities(
    repo: &EntityRepository,
    mut input: impl BufRead,
    source: &str,
    options: &ImportOptions,
    mut progress: impl FnMut(u64),
) -> Result<ImportMetrics> {
    let mut writer = durable_writer(repo, options)?;
    let mut metrics = ImportMetrics::default();
    let mut failure = None;
    let mut parsing = std::collections::VecDeque::new();
    let (mut next_line, mut read_failure, mut ended) = (1, None, false);
    'chunks: loop {
        while !ended && parsing.len() < PARSE_CHUNKS_AHEAD {
            let (lines, error) = read_lines(&mut input, next_line);
            next_line += lines.ends.len();
            ended = lines.ends.is_empty() || error.is_some();
            read_failure = error;
            if !lines.ends.is_empty() {
                let lenient = options.lenient;
                parsing.push_back(tokio::task::spawn_blocking(move || (lines.first, parse_lines(&lines, lenient))));
            }
        }
        let Some(task) = parsing.pop_front() else { break };
        let (first, parsed) = task.await.map_err(Error::task("parse"))?;
        for (line, entity) in (first..).zip(parsed) {
            let written = match entity {
                None => continue,
                Some(Ok(entity)) if options.lenient => writer.add_entity_lenient(&entity).await,
                Some(Ok(entity)) => writer.add_entity(&entity).await,
                Some(Err(e)) => Err(e),
            };
            failure = tally(&mut metrics, written.map(|n| n > 0), source, line);
            if failure.is_some() {
                break 'chunks;
            }
            if metrics.items.is_multiple_of(1000) {
                progress(metrics.items);
            }
        }
    }
    if failure.is_none() {
        failure = read_failure.map(|(line, e)| input_error(source, line, e));
    }
    progress(metrics.items);
    finish(writer, metrics, failure).await
}

/// Columns a statements CSV must have.
const REQUIRED: [&str; 4] = ["entity_id", "prop", "schema", "dataset"];

fn truthy(value: &str) -> bool {
    matches!(value.trim().to_ascii_lowercase().as_str(), "t" | "true" | "1" | "yes")
}

/// Imports statements from a CSV with named columns (the format of `statements.csv` and FtM's
/// statement CSV). Ids, `canonical_id` and `prop_type` are recomputed, the dataset column is
/// replaced by this dataset. No checksum rows are generated.
///
/// # Errors
/// [`Error::Input`] for a missing required column, a bad row or timestamp, an unknown schema or
/// property; [`Error::Journal`]; append errors.
pub async fn import_statements(
    repo: &EntityRepository,
    input: impl std::io::Read,
    source: &str,
    options: &ImportOptions,
    mut progress: impl FnMut(u64),
) -> Result<ImportMetrics> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let headers = reader.headers().map_err(|e| input_error(source, 1, e))?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    if let Some(missing) = REQUIRED.iter().find(|c| column(c).is_none()) {
        return Err(input_error(source, 1, format!("the header has no `{missing}` column")));
    }
    let cols: Vec<Option<usize>> = [
        "entity_id",
        "prop",
        "schema",
        "value",
        "lang",
        "original_value",
        "external",
        "first_seen",
        "last_seen",
        "origin",
        "fragment",
        "role",
    ]
    .iter()
    .map(|c| column(c))
    .collect();
    let mut writer = durable_writer(repo, options)?;
    let mut metrics = ImportMetrics::default();
    let mut failure = None;
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let row = match record {
            Ok(row) => row,
            Err(e) => {
                failure = Some(input_error(source, line, e));
                break;
            }
        };
        let get = |i: usize| cols[i].and_then(|c| row.get(c)).filter(|v| !v.is_empty());
        let time = |i: usize, name: &str| -> Result<Option<ftm::time::Timestamp>> {
            match get(i) {
                None => Ok(None),
                Some(v) => {
                    parse_iso(v).map(Some).ok_or_else(|| input_error(source, line, format!("bad `{name}` {v:?}")))
                }
            }
        };
        let parsed = (|| -> Result<Option<Statement>> {
            let (Some(entity_id), Some(prop), Some(schema)) = (get(0), get(1), get(2)) else {
                return if options.lenient {
                    Ok(None)
                } else {
                    Err(input_error(source, line, "empty `entity_id`, `prop` or `schema`"))
                };
            };
            let mut s = Statement::new("", entity_id, schema, prop, "", get(3).unwrap_or_default());
            s.lang = get(4).map(str::to_string);
            s.original_value = get(5).map(str::to_string);
            s.external = get(6).is_some_and(truthy);
            s.first_seen = time(7, "first_seen")?;
            s.last_seen = time(8, "last_seen")?.or(s.first_seen);
            s.origin = get(9).map(str::to_string);
            s.fragment = get(10).unwrap_or_default().to_string();
            s.role = get(11).map(str::to_string);
            Ok(Some(s))
        })();
        let written = match parsed {
            Ok(Some(s)) => writer.add_statement(s).await.map(|()| true),
            Ok(None) => Ok(false),
            Err(e) => Err(e),
        };
        failure = tally(&mut metrics, written, source, line);
        if failure.is_some() {
            break;
        }
        if metrics.items.is_multiple_of(10_000) {
            progress(metrics.items);
        }
    }
    progress(metrics.items);
    finish(writer, metrics, failure).await
}
