//! The entity repository: writes go through the journal (bulk imports into an in-memory journal
//! excepted); reads go to the statement store after flushing it (seed 002 "Entities and
//! statements"; seed 001 "JournalStore").
//!
//! * [`EntityRepository::writer`] opens a bulk writer for one origin: entities are exploded into
//!   statements (keyed under this dataset), buffered, and inserted into the journal every 10,000
//!   rows; [`BulkWriter::close`] inserts the rest and sets the `journal/last_updated` tag once.
//! * [`EntityRepository::store_writer`] is the same writer appending straight to the statement
//!   store in large batches, for bulk imports whose journal would not outlive the process; it
//!   explodes entities straight into data-file columns ([`StatementRows`]).
//! * [`EntityRepository::flush`] drains the journal into the store in bounded batches, then sets
//!   `journal/last_flushed` (when rows moved, or the tag was behind `journal/last_updated` and the
//!   journal is not this process's memory) and `statements/last_updated` (when rows moved).
//! * [`EntityRepository::delete_entity`] writes a tombstone for each live statement of the
//!   entity, from the store and the journal.
//! * Reads ([`get`](EntityRepository::get), [`query`](EntityRepository::query), in
//!   [`query`](super::query)) flush first when
//!   the journal holds unflushed writes (`journal/last_flushed` older than
//!   `journal/last_updated`), unless told not to.
//!
//! On a lake served over HTTP (api mode, spec `interfaces.md` §3.8) the journal is the
//! server's: writers post journal bulks, and flushes, queries and deletes go to the server's
//! routes ([`EntityRepository::api`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ftm::explode::{Exploded, Namespace, explode_rows_in};
use ftm::time::Timestamp;
use ftm::{Entity, Statement};

use super::catalog::Dataset;
use super::config::DatasetConfig;
use crate::error::{Error, Result};
use crate::model::validate_origin;
use crate::storage::remote::DatasetApi;
use crate::storage::rows::pack;
use crate::storage::rows::{RowRef, StatementRows};
use crate::storage::statements::AsOf;
use crate::storage::tags::keys::{JOURNAL_FLUSHED, JOURNAL_UPDATED, STATEMENTS_UPDATED};
use crate::storage::{JournalStore, StatementStore, TagStore};

/// Rows a writer buffers before inserting them into the journal.
pub const WRITE_BATCH_SIZE: usize = 10_000;

/// What a flush moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushMetrics {
    /// Statements appended to the store.
    pub statements: u64,
    /// Whether another flush of the same journal ran meanwhile and moved what this one would
    /// have (nothing done here).
    pub skipped: bool,
}

/// A dataset's entities: journal plus statement store.
#[derive(Debug)]
pub struct EntityRepository {
    dataset: Dataset,
    config: DatasetConfig,
    store: StatementStore,
    journal: Arc<JournalStore>,
}

/// Where a written statement's origin comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Origin for input carrying none (`bulk` for the CLI import, `default` for the API).
    pub origin: String,
    /// Use `origin` even for input that carries its own.
    pub override_origin: bool,
    /// Role for input carrying none.
    pub role: Option<String>,
    /// `last_seen` (and missing `first_seen`) for input without timestamps; else now.
    pub last_seen: Option<Timestamp>,
    /// Keep the namespace suffix of ids and references (`id.signature`) instead of stripping
    /// it as every import does: for signed mapping output.
    pub keep_namespace: bool,
}

impl WriteOptions {
    /// Options for `origin`, nothing else set.
    pub fn origin(origin: &str) -> WriteOptions {
        WriteOptions {
            origin: origin.to_string(),
            override_origin: false,
            role: None,
            last_seen: None,
            keep_namespace: false,
        }
    }
}

/// Where a bulk writer's batches go, and what it holds until the next one.
enum Sink {
    /// Inserted into the journal every [`WRITE_BATCH_SIZE`] rows; a statement written twice
    /// within a batch keeps its last version.
    Journal {
        rows: Vec<Statement>,
        /// Hash of the dedupe key (`id`, origin, fragment, role) → position in `rows`.
        index: HashMap<u64, usize>,
    },
    /// Appended to the statement store in large batches, held in data-file columns;
    /// `statements/last_updated` gets the first append's start time on close.
    Store { rows: Box<StatementRows>, started: Option<Timestamp> },
}

/// A buffered writer of one origin. Call [`BulkWriter::close`] to commit the rest.
pub struct BulkWriter<'a> {
    repo: &'a EntityRepository,
    options: WriteOptions,
    sink: Sink,
    max_rows: usize,
    /// Rows per insert or append.
    batch_rows: usize,
    written: usize,
    /// The batch being inserted or appended.
    inflight: Option<tokio::task::JoinHandle<Result<()>>>,
}

/// The hash of a statement's buffer dedupe key: `(id, origin, fragment, role)`.
fn dedupe_key(s: &Statement) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    (&s.id, &s.origin, &s.fragment, &s.role).hash(&mut hasher);
    hasher.finish()
}

fn same_key(a: &Statement, b: &Statement) -> bool {
    a.id == b.id && a.origin == b.origin && a.fragment == b.fragment && a.role == b.role
}

/// The origin an entity's context names (a string or a one-element list).
fn context_str(entity: &Entity, key: &str) -> Option<String> {
    match entity.context.get(key)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Array(items) => items.first().and_then(|v| v.as_str()).map(str::to_string),
        _ => None,
    }
}

impl<'a> BulkWriter<'a> {
    /// Buffers `s`, the writer's role and `last_seen` filling what it lacks.
    fn push(&mut self, mut s: Statement) -> Result<()> {
        if s.role.is_none() && s.deleted_at.is_none() {
            s.role.clone_from(&self.options.role);
        }
        if s.last_seen.is_none() {
            s.last_seen = self.options.last_seen;
        }
        if s.first_seen.is_none() {
            s.first_seen = s.last_seen;
        }
        match &mut self.sink {
            // Straight to the store: duplicates land as rows, as every append's do, and the
            // merge collapses them; keying a large batch would only cost time.
            Sink::Store { rows, .. } => rows.push_statement(&s)?,
            Sink::Journal { rows, index } => {
                let key = dedupe_key(&s);
                match index.get(&key) {
                    Some(&i) if same_key(&rows[i], &s) => rows[i] = s,
                    // Two different keys with one hash: keep both rows, the merge collapses duplicates.
                    Some(_) => rows.push(s),
                    None => {
                        index.insert(key, rows.len());
                        rows.push(s);
                    }
                }
            }
        }
        Ok(())
    }

    /// Rows buffered.
    fn buffered(&self) -> usize {
        match &self.sink {
            Sink::Journal { rows, .. } => rows.len(),
            Sink::Store { rows, .. } => rows.len(),
        }
    }

    async fn maybe_commit(&mut self) -> Result<()> {
        if self.buffered() >= self.batch_rows {
            self.commit().await?;
        }
        Ok(())
    }

    /// Hands the buffer to the journal or the store in a task of its own, after the previous
    /// batch landed: parsing the next batch overlaps with writing this one.
    async fn commit(&mut self) -> Result<()> {
        self.settle().await?;
        self.written += self.buffered();
        let now = chrono::Utc::now();
        self.inflight = Some(match &mut self.sink {
            Sink::Journal { rows, index } => {
                let mut rows = std::mem::replace(rows, Vec::with_capacity(self.batch_rows));
                index.clear();
                let journal = self.repo.journal.clone();
                tokio::spawn(async move {
                    pack(&mut rows, now)?;
                    journal.put(rows).await
                })
            }
            Sink::Store { rows, started } => {
                started.get_or_insert(now);
                let (rows, store) = (std::mem::take(rows), self.repo.store.clone());
                tokio::spawn(async move { store.append_rows(*rows).await.map(|_| ()) })
            }
        });
        Ok(())
    }

    /// Waits for the batch in flight.
    async fn settle(&mut self) -> Result<()> {
        if let Some(task) = self.inflight.take() {
            task.await.map_err(Error::task("append"))??;
        }
        Ok(())
    }

    fn origin_for(&self, carried: Option<String>) -> Result<String> {
        let origin = if self.options.override_origin { None } else { carried };
        let origin = origin.unwrap_or_else(|| self.options.origin.clone());
        validate_origin(&origin)?;
        Ok(origin)
    }

    /// Adds an entity (spec `ftm-model.md` §4.5): namespace-stripped, exploded under this
    /// dataset, with the entity's context `origin`/`fragment`/`role`.
    ///
    /// # Errors
    /// [`Error::Ftm`] for an entity that cannot be written (no valid id, a stub property, a
    /// self-reference); [`Error::InvalidOrigin`]; [`Error::BufferFull`] for an entity with more
    /// statements than `LAKEHOUSE_MAX_BUFFER_ROWS`; [`Error::Journal`].
    pub async fn add_entity(&mut self, entity: &Entity) -> Result<usize> {
        let exploded = explode_rows_in(entity, self.repo.dataset.name().as_str(), true, self.namespace())?;
        self.add_exploded(entity, exploded.expect("strict explode never skips")).await
    }

    /// Adds an entity leniently (the `--unsafe` path): stub properties and invalid references
    /// are skipped, self-references kept; `Ok(0)` for an entity without a valid id.
    ///
    /// # Errors
    /// As [`BulkWriter::add_entity`], except for the FtM refusals.
    pub async fn add_entity_lenient(&mut self, entity: &Entity) -> Result<usize> {
        match explode_rows_in(entity, self.repo.dataset.name().as_str(), false, self.namespace()).ok().flatten() {
            Some(exploded) => self.add_exploded(entity, exploded).await,
            None => Ok(0),
        }
    }

    fn namespace(&self) -> Namespace {
        if self.options.keep_namespace { Namespace::Keep } else { Namespace::Strip }
    }

    async fn add_exploded(&mut self, entity: &Entity, exploded: Exploded<'_>) -> Result<usize> {
        let n = exploded.rows.len();
        if n > self.max_rows {
            return Err(Error::BufferFull { rows: n, max: self.max_rows });
        }
        let origin = self.origin_for(context_str(entity, "origin"))?;
        let fragment = context_str(entity, "fragment").unwrap_or_default();
        let dataset = self.repo.dataset.name().as_str();
        if let Sink::Store { rows, .. } = &mut self.sink {
            // Straight into columns: no statement is built.
            let role = context_str(entity, "role").or_else(|| self.options.role.clone());
            let seen = exploded.last_change.or(self.options.last_seen).map(|t| t.timestamp_micros());
            for row in &exploded.rows {
                rows.push(RowRef {
                    id: row.id(),
                    entity_id: exploded.entity_id,
                    dataset,
                    schema: exploded.schema,
                    prop: row.prop,
                    prop_type: row.prop_type,
                    value: &row.value,
                    first_seen: seen,
                    last_seen: seen,
                    origin: Some(&origin),
                    fragment: &fragment,
                    role: role.as_deref(),
                    ..RowRef::default()
                })?;
            }
        } else {
            let role = context_str(entity, "role");
            for mut s in exploded.statements(dataset) {
                s.origin = Some(origin.clone());
                s.fragment.clone_from(&fragment);
                if role.is_some() {
                    s.role.clone_from(&role);
                }
                self.push(s)?;
            }
        }
        self.maybe_commit().await?;
        Ok(n)
    }

    /// Adds one statement: re-keyed under this dataset, `prop_type` from the model, `lang`
    /// dropped for types that carry none (spec `storage-format.md` §3.1).
    ///
    /// # Errors
    /// [`Error::Ftm`] for an unknown schema or property; [`Error::InvalidOrigin`];
    /// [`Error::Journal`].
    pub async fn add_statement(&mut self, mut s: Statement) -> Result<()> {
        let schema = ftm::model().schema(&s.schema)?;
        if s.prop == ftm::statement::BASE_ID {
            s.prop_type = ftm::statement::BASE_ID.to_string();
            s.lang = None;
        } else {
            let prop = schema
                .property(&s.prop)
                .ok_or_else(|| ftm::FtmError::UnknownProperty { schema: s.schema.clone(), prop: s.prop.clone() })?;
            s.prop_type = prop.type_.name().to_string();
            if !prop.type_.keeps_lang() {
                s.lang = None;
            }
        }
        s.dataset = self.repo.dataset.name().to_string();
        s.canonical_id.clone_from(&s.entity_id);
        if s.original_value.as_deref() == Some(s.value.as_str()) {
            s.original_value = None;
        }
        s.rekey();
        s.origin = Some(self.origin_for(s.origin.take())?);
        self.push(s)?;
        self.maybe_commit().await
    }

    /// Whether this writer appends straight to the statement store (see
    /// [`EntityRepository::store_writer`]).
    pub fn writes_to_store(&self) -> bool {
        matches!(self.sink, Sink::Store { .. })
    }

    /// Writes what is buffered and sets `journal/last_updated` (journal sink) or
    /// `statements/last_updated` (store sink); returns the rows written.
    ///
    /// # Errors
    /// [`Error::Journal`]; the store's append errors; [`Error::Storage`] for the tag.
    pub async fn close(mut self) -> Result<usize> {
        if self.buffered() > 0 {
            self.commit().await?;
        }
        self.settle().await?;
        match self.sink {
            Sink::Journal { .. } if self.written > 0 => {
                self.repo.tags().set(JOURNAL_UPDATED, chrono::Utc::now()).await?
            }
            Sink::Store { started: Some(started), .. } => self.repo.tags().set(STATEMENTS_UPDATED, started).await?,
            _ => {}
        }
        Ok(self.written)
    }
}

impl EntityRepository {
    /// The repository of `dataset` (ensured), with the journal of `LAKEHOUSE_JOURNAL_URI`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`]; [`Error::Journal`] if the journal cannot be opened.
    pub async fn open(dataset: &Dataset) -> Result<EntityRepository> {
        let config = dataset.ensure().await?;
        let store = dataset.statements(&config)?;
        let journal = match dataset.api() {
            // The journal URI setting is the server's then (spec `interfaces.md` §3.8).
            Some(api) => JournalStore::Served(api),
            None => {
                let lake = dataset.location().url().as_str();
                JournalStore::open(&dataset.settings().journal_uri, dataset.name(), lake).await?
            }
        };
        Ok(EntityRepository { dataset: dataset.clone(), config, store, journal: Arc::new(journal) })
    }

    /// The server's routes when the lake is served over HTTP (api mode), else `None`: the
    /// operations run there.
    pub fn api(&self) -> Option<&DatasetApi> {
        match &*self.journal {
            JournalStore::Served(api) => Some(api),
            _ => None,
        }
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The dataset configuration read when opening.
    pub fn config(&self) -> &DatasetConfig {
        &self.config
    }

    /// The statement store.
    pub fn statements(&self) -> &StatementStore {
        &self.store
    }

    /// The journal.
    pub fn journal(&self) -> &JournalStore {
        &self.journal
    }

    pub(super) fn tags(&self) -> TagStore {
        self.dataset.tags()
    }

    /// A bulk writer into the journal.
    ///
    /// # Errors
    /// [`Error::InvalidOrigin`] for a bad default origin.
    pub fn writer(&self, options: WriteOptions) -> Result<BulkWriter<'_>> {
        let sink = Sink::Journal { rows: Vec::with_capacity(WRITE_BATCH_SIZE), index: HashMap::new() };
        self.bulk_writer(options, sink, WRITE_BATCH_SIZE)
    }

    /// A bulk writer that bypasses the journal: every `batch_rows` statements (capped by
    /// `LAKEHOUSE_MAX_BUFFER_ROWS`) are appended to the statement store, one append in flight
    /// while the next batch fills. For imports into a dataset whose journal is in memory, which
    /// would be flushed before the process ends anyway; the reference's CLI import always writes
    /// this way (spec `storage-format.md` §4.2). Defaults are the journal writer's; a statement
    /// written twice lands twice, for the merge to collapse.
    ///
    /// # Errors
    /// [`Error::InvalidOrigin`] for a bad default origin.
    pub fn store_writer(&self, options: WriteOptions, batch_rows: usize) -> Result<BulkWriter<'_>> {
        self.bulk_writer(options, Sink::Store { rows: Box::default(), started: None }, batch_rows)
    }

    fn bulk_writer(&self, options: WriteOptions, sink: Sink, batch_rows: usize) -> Result<BulkWriter<'_>> {
        validate_origin(&options.origin)?;
        let max_rows = self.dataset.settings().max_buffer_rows.max(1);
        let batch = batch_rows.clamp(1, max_rows);
        Ok(BulkWriter { repo: self, options, sink, max_rows, batch_rows: batch, written: 0, inflight: None })
    }

    /// Drains the journal into the statement store (see the module docs); in api mode, asks
    /// the server to. When another flush of the journal runs (another process, or task), waits
    /// for it (doubling pauses up to 500 ms, for as long as it appends at least once per
    /// [`Settings::lock_patience`](crate::Settings::lock_patience)), then runs or finds the
    /// tags fresh: every write acknowledged before the call is in the store when it returns.
    ///
    /// # Errors
    /// [`Error::Journal`]; any append error (the segment being drained is kept);
    /// [`Error::Busy`] when another flush ran longer than the patience; [`Error::Api`].
    pub async fn flush(&self) -> Result<FlushMetrics> {
        self.flush_with(|_| {}).await
    }

    /// [`EntityRepository::flush`], calling `progress` with the rows moved so far.
    ///
    /// # Errors
    /// As [`EntityRepository::flush`].
    pub async fn flush_with(&self, progress: impl Fn(u64) + Clone) -> Result<FlushMetrics> {
        if let Some(api) = self.api() {
            let moved = api.flush().await?;
            progress(moved);
            return Ok(FlushMetrics { statements: moved, skipped: false });
        }
        let settings = self.dataset.settings();
        let (mut waiting, mut pause) = (std::time::Instant::now(), std::time::Duration::from_millis(20));
        let mut progress_seen = None;
        loop {
            if let Some(statements) = self.drain_journal(progress.clone()).await? {
                return Ok(FlushMetrics { statements, skipped: false });
            }
            // Another flush of this journal runs: wait until it has moved what the journal held
            // (the tags say so) or this one can run, so that a read after a flush sees every
            // write acknowledged before it. The patience counts from the other flush's last
            // append (`statements/last_updated`), so a long flush that moves on is waited for.
            if !self.journal_unflushed().await? {
                return Ok(FlushMetrics { statements: 0, skipped: true });
            }
            let appended = self.tags().get(STATEMENTS_UPDATED).await?;
            if appended != progress_seen {
                (progress_seen, waiting) = (appended, std::time::Instant::now());
            } else if waiting.elapsed() >= settings.lock_patience() {
                return Err(Error::Busy {
                    operation: "journal flush".into(),
                    holder: format!("a flush that appended nothing for {} s", settings.lock_patience().as_secs()),
                    lock: format!("journal_{}", self.dataset.name()),
                });
            }
            tracing::info!(dataset = %self.dataset.name(), "waiting for another flush of the journal");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(500));
        }
    }

    /// One drain of the journal into the store, then the tags; the statements moved, or `None`
    /// when another flush of the journal holds it.
    async fn drain_journal(&self, progress: impl Fn(u64) + Clone) -> Result<Option<u64>> {
        let started = chrono::Utc::now();
        let moved = Arc::new(AtomicU64::new(0));
        let (store, tags) = (&self.store, self.tags());
        let drained = self
            .journal
            .drain(self.dataset.settings().journal_drain_rows, |batch: StatementRows| {
                let (store, tags, moved, progress) = (store.clone(), tags.clone(), moved.clone(), progress.clone());
                // Appends, then sets `statements/last_updated` (the append's start time).
                async move {
                    let appended = chrono::Utc::now();
                    let n = batch.len() as u64;
                    store.append_rows(batch).await?;
                    tags.set(STATEMENTS_UPDATED, appended).await?;
                    progress(moved.fetch_add(n, Ordering::Relaxed) + n);
                    Ok(())
                }
            })
            .await?;
        if drained.is_none() {
            return Ok(None);
        }
        let statements = moved.load(Ordering::Relaxed);
        // A flush that found nothing leaves a fresh tag alone: a read (which flushes first)
        // writes nothing to a lake on a full disk or read-only storage. An empty in-memory
        // journal says nothing of the lake's shared journal, whose writes the tag tracks.
        if statements > 0 || (!self.journal.is_memory() && self.journal_unflushed().await?) {
            self.tags().set(JOURNAL_FLUSHED, started).await?;
        }
        if statements > 0 {
            tracing::info!(dataset = %self.dataset.name(), statements, "flushed the journal");
        }
        Ok(Some(statements))
    }

    /// This repository reading the statement table as of `as_of` (`--as-of`): reads see that
    /// state and flush nothing; writes to the table are refused.
    ///
    /// # Errors
    /// [`Error::NotInApiMode`] on a served lake.
    pub fn at(mut self, as_of: AsOf) -> Result<EntityRepository> {
        if self.api().is_some() {
            return Err(Error::NotInApiMode("--as-of"));
        }
        self.store = self.store.at(as_of);
        Ok(self)
    }

    /// Flushes when the journal holds writes newer than the last flush (never when reading a
    /// past state).
    ///
    /// # Errors
    /// As [`EntityRepository::flush`].
    pub async fn ensure_flush(&self) -> Result<()> {
        if self.store.as_of().is_some() {
            return Ok(());
        }
        if self.journal.is_memory() || self.journal_unflushed().await? {
            self.flush().await?;
        }
        Ok(())
    }

    /// Whether the tags say the journal holds writes no flush has moved (`journal/last_flushed`
    /// missing or older than `journal/last_updated`).
    async fn journal_unflushed(&self) -> Result<bool> {
        let tags = self.tags();
        let updated = tags.get(JOURNAL_UPDATED).await?;
        let flushed = tags.get(JOURNAL_FLUSHED).await?;
        Ok(updated.is_some_and(|u| flushed.is_none_or(|f| f < u)))
    }

    /// Inserts statement rows a client packed (a journal bulk, spec `interfaces.md` §3.3) into
    /// the journal as they are, and sets `journal/last_updated`; returns how many. Rows are
    /// checked first, so that a bad one cannot stop a later flush: each must be keyed under
    /// this dataset, carry a valid origin, a known schema and both `first_seen` and
    /// `last_seen`. Nothing is inserted when one fails.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first bad row; [`Error::InvalidOrigin`];
    /// [`Error::Ftm`] for an unknown schema; [`Error::Journal`].
    pub async fn put_rows(&self, rows: Vec<Statement>) -> Result<usize> {
        let name = self.dataset.name().as_str();
        let model = ftm::model();
        for (i, s) in rows.iter().enumerate() {
            if s.dataset != name {
                return Err(Error::InvalidInput(format!("row {i}: dataset `{}` is not `{name}`", s.dataset)));
            }
            if s.first_seen.is_none() || s.last_seen.is_none() {
                return Err(Error::InvalidInput(format!("row {i}: first_seen and last_seen are required")));
            }
            validate_origin(s.origin.as_deref().unwrap_or_default())?;
            model.schema(&s.schema)?;
        }
        let n = rows.len();
        self.journal.put(rows).await?;
        if n > 0 {
            self.tags().set(JOURNAL_UPDATED, chrono::Utc::now()).await?;
        }
        Ok(n)
    }

    /// Tombstones every live statement of `entity_id` (optionally of one origin), from the
    /// store and the journal; returns how many. Visible after the next flush.
    ///
    /// # Errors
    /// As the store's reads and the journal's writes.
    pub async fn delete_entity(&self, entity_id: &str, origin: Option<&str>) -> Result<usize> {
        if let Some(api) = self.api() {
            return Ok(api.delete_entity(entity_id, origin).await? as usize);
        }
        let mut live: HashMap<(String, Option<String>, String, Option<String>), Statement> = HashMap::new();
        let from_store = self.store.get_statements(entity_id).await?;
        let from_journal = self.journal.entity_rows(entity_id).await?;
        for s in from_store.into_iter().chain(from_journal) {
            if origin.is_some_and(|o| s.origin.as_deref() != Some(o)) {
                continue;
            }
            live.insert((s.id.clone(), s.origin.clone(), s.fragment.clone(), s.role.clone()), s);
        }
        let now = chrono::Utc::now();
        let tombstones: Vec<Statement> = live.into_values().map(|s| tombstone(s, now)).collect();
        let n = tombstones.len();
        self.journal.put(tombstones).await?;
        if n > 0 {
            // After the insert: a flush that began before it must not look as if it moved them.
            self.tags().set(JOURNAL_UPDATED, chrono::Utc::now()).await?;
        }
        Ok(n)
    }
}

/// The tombstone of `s`, deleted at `now` (spec `storage-format.md` §6.1).
fn tombstone(mut s: Statement, now: Timestamp) -> Statement {
    s.deleted_at = Some(now);
    s.last_seen = Some(s.last_seen.map_or(now, |l| l.max(now)));
    s
}
