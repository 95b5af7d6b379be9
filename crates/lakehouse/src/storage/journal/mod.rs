//! The journal: a write-ahead buffer of statement rows (seed 001 "JournalStore"; spec
//! `storage-format.md` §4).
//!
//! In SQL databases, one table per dataset, `journal_<dataset>`, with the statement table's
//! columns minus `shard`, no key and no index: an append-only heap. Backends, chosen by
//! `LAKEHOUSE_JOURNAL_URI`:
//!
//! * `sqlite:///:memory:` (the default): one journal per lake and process, gone when it exits
//!   (two lakes in one process, such as tests or a server over two catalogs, never share rows).
//!   No other process can read it, so it is not a database: its rows are kept as Arrow
//!   columns in chunks, one per insert (small inserts joined);
//! * `sqlite:///relative.db` or `sqlite:////absolute.db`: a durable file;
//! * `postgresql://user:pass@host:port/db`: a server, with cross-process flush exclusion.
//!
//! Flushing drains the journal without losing a row to a crash: the live rows first become a
//! *segment* (in SQL, the live table is renamed `journal_<ds>-seg-<YYYYmmddTHHMMSS><4 hex>` and
//! recreated empty, in one transaction); segments are then read oldest first, in insertion order
//! (a writer inserts an entity's rows together), in bounded batches that never split such a run
//! of rows; a segment is dropped only after every batch of it was consumed. The append sorts
//! each batch itself, so the database is not asked to sort (the reference orders by `(bucket,
//! origin, entity_id)`), which would only add to the flush's time. A crash leaves the segment
//! for the next flush, which may re-append some rows; merge collapses such duplicates.

mod memory;
mod postgres;
mod sqlite;
pub mod wire;

use ftm::Statement;
use ftm::time::Timestamp;

use crate::error::{Error, Result};
use crate::model::DatasetName;
use crate::storage::remote::DatasetApi;
use crate::storage::rows::{RowRef, StatementRows};

/// Journal columns, in table order, with whether they are nullable and their kind.
pub(crate) const COLUMNS: [(&str, Kind, bool); 18] = [
    ("id", Kind::Text, false),
    ("entity_id", Kind::Text, false),
    ("dataset", Kind::Text, false),
    ("bucket", Kind::Text, false),
    ("origin", Kind::Text, false),
    ("source", Kind::Text, true),
    ("schema", Kind::Text, false),
    ("prop", Kind::Text, false),
    ("prop_type", Kind::Text, true),
    ("value", Kind::Text, false),
    ("original_value", Kind::Text, true),
    ("lang", Kind::Text, true),
    ("external", Kind::Bool, false),
    ("first_seen", Kind::Time, false),
    ("last_seen", Kind::Time, false),
    ("fragment", Kind::Text, false),
    ("role", Kind::Text, true),
    ("deleted_at", Kind::Time, true),
];

/// Column kinds, mapped to each backend's SQL type.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Text,
    Bool,
    Time,
}

/// `CREATE TABLE IF NOT EXISTS` for `table`, with `time_type` for timestamps.
pub(crate) fn create_table_sql(table: &str, time_type: &str) -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, kind, nullable)| {
            let sql_type = match kind {
                Kind::Text => "TEXT",
                Kind::Bool => "BOOLEAN",
                Kind::Time => time_type,
            };
            format!("{name} {sql_type}{}", if *nullable { "" } else { " NOT NULL" })
        })
        .collect();
    format!("CREATE TABLE IF NOT EXISTS \"{table}\" ({})", columns.join(", "))
}

/// The column list for `SELECT` and `INSERT`.
pub(crate) fn column_list() -> String {
    COLUMNS.iter().map(|c| c.0).collect::<Vec<_>>().join(", ")
}

/// A value to write, in a backend-neutral form.
pub(crate) enum Cell<'a> {
    Text(Option<&'a str>),
    Bool(bool),
    Time(Option<Timestamp>),
}

/// A value read back.
pub(crate) enum OwnedCell {
    Text(Option<String>),
    Bool(bool),
    Time(Option<Timestamp>),
}

/// The row of `s` (stored under `bucket`) in table column order.
pub(crate) fn cells<'a>(s: &'a Statement, bucket: &'a str) -> [Cell<'a>; 18] {
    use Cell::{Bool, Text, Time};
    [
        Text(Some(&s.id)),
        Text(Some(&s.entity_id)),
        Text(Some(&s.dataset)),
        Text(Some(bucket)),
        Text(s.origin.as_deref()),
        Text(s.source.as_deref()),
        Text(Some(&s.schema)),
        Text(Some(&s.prop)),
        Text(Some(&s.prop_type)),
        Text(Some(&s.value)),
        Text(s.original_value.as_deref()),
        Text(s.lang.as_deref()),
        Bool(s.external),
        Time(s.first_seen),
        Time(s.last_seen),
        Text(Some(&s.fragment)),
        Text(s.role.as_deref()),
        Time(s.deleted_at),
    ]
}

/// The statement of a row read in table column order.
pub(crate) fn statement_from_cells(cells: Vec<OwnedCell>) -> Statement {
    let mut text: Vec<Option<String>> = Vec::with_capacity(15);
    let mut times: Vec<Option<Timestamp>> = Vec::with_capacity(3);
    let mut external = false;
    for cell in cells {
        match cell {
            OwnedCell::Text(t) => text.push(t),
            OwnedCell::Bool(b) => external = b,
            OwnedCell::Time(t) => times.push(t),
        }
    }
    let mut text = text.into_iter();
    let mut next = || text.next().flatten();
    let (id, entity_id, dataset, _bucket, origin, source) = (next(), next(), next(), next(), next(), next());
    let (schema, prop, prop_type, value, original_value, lang) = (next(), next(), next(), next(), next(), next());
    let (fragment, role) = (next(), next());
    let entity_id = entity_id.unwrap_or_default();
    Statement {
        id: id.unwrap_or_default(),
        canonical_id: entity_id.clone(),
        entity_id,
        prop: prop.unwrap_or_default(),
        prop_type: prop_type.unwrap_or_default(),
        schema: schema.unwrap_or_default(),
        value: value.unwrap_or_default(),
        dataset: dataset.unwrap_or_default(),
        lang,
        original_value,
        external,
        first_seen: times.first().copied().flatten(),
        last_seen: times.get(1).copied().flatten(),
        origin,
        fragment: fragment.unwrap_or_default(),
        role,
        deleted_at: times.get(2).copied().flatten(),
        source,
    }
}

/// The bucket of every statement, by schema.
///
/// # Errors
/// [`Error::Ftm`] for an unknown schema.
pub(crate) fn buckets(statements: &[Statement]) -> Result<Vec<&'static str>> {
    let model = ftm::model();
    statements.iter().map(|s| Ok(crate::model::Bucket::of(model.schema(&s.schema)?).as_str())).collect()
}

/// Splits a drained row stream into batches of at least `rows` rows that never split an
/// entity's run of rows (consecutive rows with the same entity id and origin, as a writer
/// inserted them). Rows go into the data file's columns as they arrive: a batch of 250,000 rows
/// costs a few growing buffers, not a quarter of a million `Statement`s.
pub(crate) struct Batcher {
    rows: usize,
    batch: StatementRows,
    /// Entity id and origin of the last row.
    last: Option<(String, Option<String>)>,
}

impl Batcher {
    pub(crate) fn new(rows: usize) -> Batcher {
        Batcher { rows: rows.max(1), batch: StatementRows::default(), last: None }
    }

    /// Adds a row; returns a full batch when `row` starts a new entity after the limit.
    ///
    /// # Errors
    /// [`Error::InvalidOrigin`] for a row whose origin cannot be a partition value.
    pub(crate) fn push_row(&mut self, row: RowRef<'_>) -> Result<Option<StatementRows>> {
        let same = self
            .last
            .as_ref()
            .is_some_and(|(entity, origin)| entity == row.entity_id && origin.as_deref() == row.origin);
        let out = (self.batch.len() >= self.rows && !same).then(|| std::mem::take(&mut self.batch));
        self.batch.push(row)?;
        if !same {
            self.last = Some((row.entity_id.to_string(), row.origin.map(str::to_string)));
        }
        Ok(out)
    }

    /// [`Batcher::push_row`] for a statement.
    ///
    /// # Errors
    /// As [`Batcher::push_row`].
    pub(crate) fn push(&mut self, row: &Statement) -> Result<Option<StatementRows>> {
        self.push_row(RowRef::from(row))
    }

    /// The last, possibly smaller, batch.
    pub(crate) fn finish(self) -> Option<StatementRows> {
        (!self.batch.is_empty()).then_some(self.batch)
    }
}

/// Name of a new segment of `table`, from the current UTC second and 4 random hex chars.
pub(crate) fn segment_name(table: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{table}-seg-{}{}", chrono::Utc::now().format("%Y%m%dT%H%M%S"), &random[..4])
}

/// A database error as a journal error.
pub(crate) fn journal_error(e: impl Into<crate::error::BoxError>) -> Error {
    Error::Journal(e.into())
}

/// The journal of one dataset.
pub enum JournalStore {
    /// `sqlite:///:memory:` (and `sqlite://`): the lake's journal in this process's memory.
    Memory(memory::MemoryJournal),
    /// Other `sqlite://` URIs: a database file.
    Sqlite(sqlite::SqliteJournal),
    /// `postgresql://` (or `postgres://`) URIs: a server, with cross-process flush exclusion.
    Postgres(postgres::PostgresJournal),
    /// A served lake's journal (api mode, spec `interfaces.md` §3.8): inserts are posted as
    /// journal bulks; the server flushes it.
    Served(DatasetApi),
}

impl std::fmt::Debug for JournalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JournalStore::Memory(j) => write!(f, "JournalStore::Memory({})", j.table()),
            JournalStore::Sqlite(j) => write!(f, "JournalStore::Sqlite({})", j.table()),
            JournalStore::Postgres(j) => write!(f, "JournalStore::Postgres({})", j.table()),
            JournalStore::Served(api) => write!(f, "JournalStore::Served({api:?})"),
        }
    }
}

impl JournalStore {
    /// Opens the journal of `dataset` at `uri`, creating its table if needed. `lake` names the
    /// lake the dataset lives in (its URL): the in-memory journal is the lake's own.
    ///
    /// # Errors
    /// [`Error::InvalidUri`] for an unsupported URI; [`Error::Journal`] if the database cannot be
    /// opened or the table created.
    pub async fn open(uri: &str, dataset: &DatasetName, lake: &str) -> Result<JournalStore> {
        let table = format!("journal_{dataset}");
        if let Some(rest) = uri.strip_prefix("sqlite://") {
            let target = rest.strip_prefix('/').unwrap_or(rest);
            if target.is_empty() || target == ":memory:" {
                return Ok(JournalStore::Memory(memory::MemoryJournal::open(table, lake)));
            }
            return Ok(JournalStore::Sqlite(sqlite::SqliteJournal::open(target, table).await?));
        }
        let scheme = uri.split("://").next().unwrap_or_default();
        if scheme.split('+').next().is_some_and(|s| s == "postgresql" || s == "postgres") {
            return Ok(JournalStore::Postgres(postgres::PostgresJournal::open(uri, table).await?));
        }
        Err(Error::InvalidUri(uri.to_string(), "journal URIs are sqlite:///… or postgresql://…".into()))
    }

    /// Whether the journal lives in process memory (gone when the process exits).
    pub fn is_memory(&self) -> bool {
        matches!(self, JournalStore::Memory(_))
    }

    /// Inserts packed statements (origin and timestamps set) in one transaction, or, for a
    /// served journal, one zstd Arrow IPC journal bulk.
    ///
    /// # Errors
    /// [`Error::Ftm`] for an unknown schema; [`Error::Journal`]; [`Error::Api`].
    pub async fn put(&self, statements: Vec<Statement>) -> Result<()> {
        if statements.is_empty() {
            return Ok(());
        }
        match self {
            JournalStore::Memory(j) => j.put(statements).await,
            JournalStore::Sqlite(j) => j.put(statements).await,
            JournalStore::Postgres(j) => j.put(statements).await,
            JournalStore::Served(api) => {
                let body = tokio::task::spawn_blocking(move || wire::encode(&statements))
                    .await
                    .map_err(Error::task("journal bulk encoding"))??;
                api.journal_bulk(body).await.map(|_| ())
            }
        }
    }

    /// Rows in the live table and all segments.
    ///
    /// # Errors
    /// [`Error::Journal`]; [`Error::NotInApiMode`] for a served journal (as for the next three).
    pub async fn count(&self) -> Result<u64> {
        match self {
            JournalStore::Memory(j) => Ok(j.count()),
            JournalStore::Sqlite(j) => j.count().await,
            JournalStore::Postgres(j) => j.count().await,
            JournalStore::Served(_) => Err(Error::NotInApiMode("journal count")),
        }
    }

    /// Deletes every row and drops every segment.
    ///
    /// # Errors
    /// [`Error::Journal`].
    pub async fn clear(&self) -> Result<()> {
        match self {
            JournalStore::Memory(j) => {
                j.clear();
                Ok(())
            }
            JournalStore::Sqlite(j) => j.clear().await,
            JournalStore::Postgres(j) => j.clear().await,
            JournalStore::Served(_) => Err(Error::NotInApiMode("journal clear")),
        }
    }

    /// Live (not deleted) rows of one entity, from the live table and all segments.
    ///
    /// # Errors
    /// [`Error::Journal`].
    pub async fn entity_rows(&self, entity_id: &str) -> Result<Vec<Statement>> {
        match self {
            JournalStore::Memory(j) => j.entity_rows(entity_id).await,
            JournalStore::Sqlite(j) => j.entity_rows(entity_id).await,
            JournalStore::Postgres(j) => j.entity_rows(entity_id).await,
            JournalStore::Served(_) => Err(Error::NotInApiMode("journal entity rows")),
        }
    }

    /// Drains the journal into `sink`, batch by batch (see the module docs); returns the rows
    /// drained. `sink` makes the future that consumes one batch; that future owns what it uses
    /// (rather than borrowing the closure, as an async closure's would), so a flush can run in a
    /// task of its own, such as a server's request. Only one flush of a journal runs at a time,
    /// across processes too (a file lock beside a SQLite file, the advisory lock on PostgreSQL):
    /// a flush that finds another one running elsewhere returns `Ok(None)` at once (one from this
    /// process on the same PostgreSQL connection waits for the connection first).
    ///
    /// # Errors
    /// [`Error::Journal`]; any error of `sink`, which stops the drain with the current segment
    /// kept for the next flush.
    pub async fn drain<F: Future<Output = Result<()>>>(
        &self,
        batch_rows: usize,
        sink: impl FnMut(StatementRows) -> F,
    ) -> Result<Option<u64>> {
        match self {
            JournalStore::Memory(j) => j.drain(batch_rows, sink).await,
            JournalStore::Sqlite(j) => j.drain(batch_rows, sink).await,
            JournalStore::Postgres(j) => j.drain(batch_rows, sink).await,
            JournalStore::Served(_) => Err(Error::NotInApiMode("journal drain")),
        }
    }
}

#[cfg(test)]
mod tests;
