//! Reads: live statements grouped per entity, through DataFusion over the Delta snapshot.
//!
//! A full scan of a merged table (every partition one sorted `merged-*` file) merges the files
//! in order without sorting ([`sorted_merge`](super::sorted_merge)). Every other read is one
//! query over the table (partition columns included) with the filter's row predicate and semi
//! joins, sorted by `entity_id`. DataFusion sorts within a memory budget (512 MiB, shared fairly
//! between its sorters) and spills to temporary files beyond it, so a read holds one entity's
//! rows at a time in this process. Each entity's rows then go through the dedupe rules and lose
//! their tombstones ([`sorted_merge`](super::sorted_merge)), in batches of whole entities that
//! stay Arrow columns ([`EntityBatch`]) for the export, or become `Statement`s one entity at a
//! time.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::arrow::array::AsArray;
use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::prelude::{Expr, SessionConfig, SessionContext, col, lit};
use deltalake::datafusion::scalar::ScalarValue;
use deltalake::delta_datafusion::{DeltaScanConfig, DeltaScanNext};
use ftm::StatementFields;
use ftm::time::Timestamp;
use ftm::{EntityRecord, Statement};
use futures::StreamExt;

use super::batch::EntityBatch;
use super::columns::ColumnRow;
use super::dedupe::Tombstones;
use super::read_ahead::{Batches, ReadAhead};
use super::sorted_merge::SortedMerge;
use super::{Filter, Partition, StatementStore};
use crate::error::{Error, Result};
use crate::storage::fence::ReadLease;

/// The table name queries use.
pub(super) const TABLE: &str = "statements";

/// Most entity ids a read fetches by id, in a list predicate; beyond, it reads every entity and
/// keeps those. Ids spread over a whole table prune little, and DataFusion's handling of a list
/// predicate recurses as deep as the list is long.
const BY_ID_MAX: usize = 1_000;

/// Live statements, one entity at a time, in `entity_id` order.
pub struct EntityStream {
    merge: Option<SortedMerge>,
    ready: VecDeque<Vec<Statement>>,
    filter: Filter,
    /// The ids the pushed-down predicates found, when the stream reads more entities than those.
    candidates: Option<HashSet<String>>,
    shards: u32,
    /// The table version read, when the stream reads a snapshot of the table.
    version: Option<u64>,
    /// The read lease that keeps the files of the version read, released at the end.
    lease: Option<ReadLease>,
}

impl EntityStream {
    fn empty() -> EntityStream {
        EntityStream {
            merge: None,
            ready: VecDeque::new(),
            filter: Filter::default(),
            candidates: None,
            shards: 1,
            version: None,
            lease: None,
        }
    }

    fn new(merge: SortedMerge, filter: Filter, candidates: Option<HashSet<String>>, shards: u32) -> EntityStream {
        EntityStream {
            merge: Some(merge),
            ready: VecDeque::new(),
            filter,
            candidates,
            shards,
            version: None,
            lease: None,
        }
    }

    /// The shard count of the table version read ([`StatementStore::shards_of`]).
    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// The table version whose live statements the stream holds; `None` without a table.
    pub fn version(&self) -> Option<u64> {
        self.version
    }

    /// The stream as holding the live statements of `version`.
    pub(super) fn with_version(mut self, version: Option<u64>) -> EntityStream {
        self.version = version;
        self
    }

    /// Every entity `merge` yields.
    pub(super) fn unfiltered(merge: SortedMerge) -> EntityStream {
        EntityStream::new(merge, Filter::default(), None, 1)
    }

    /// The stream holding `lease` until its end.
    pub(super) fn with_lease(mut self, lease: Option<ReadLease>) -> EntityStream {
        self.lease = lease;
        self
    }

    /// The next batch of whole entities (deduped, tombstones handled as the stream was opened,
    /// filtered), or `None` at the end. Do not mix with [`EntityStream::next`].
    ///
    /// # Errors
    /// [`Error::Query`] if the scan fails; [`Error::Corrupt`].
    pub async fn next_batch(&mut self) -> Result<Option<EntityBatch>> {
        loop {
            let Some(merge) = self.merge.as_mut() else {
                return Ok(None);
            };
            let Some(mut out) = merge.next_entities().await? else {
                self.merge = None;
                if let Some(lease) = self.lease.take() {
                    lease.release().await?;
                }
                return Ok(None);
            };
            if self.candidates.is_some() || !self.filter.selects_all() {
                let candidate = |rows: &[ColumnRow]| {
                    self.candidates.as_ref().is_none_or(|c| rows.first().is_some_and(|r| c.contains(r.entity_id())))
                };
                out.retain(|rows| candidate(rows) && self.filter.matches(rows, self.shards));
            }
            if !out.entities.is_empty() {
                return Ok(Some(out));
            }
        }
    }

    /// The next entity's rows (deduped, tombstones handled as the stream was opened), or `None`
    /// at the end.
    ///
    /// # Errors
    /// As [`EntityStream::next_batch`].
    pub async fn next(&mut self) -> Result<Option<Vec<Statement>>> {
        if self.ready.is_empty()
            && let Some(batch) = self.next_batch().await?
        {
            self.ready.extend(batch.statements()?);
        }
        Ok(self.ready.pop_front())
    }

    /// The next entity, aggregated (spec `exports-and-operations.md` §5.2–§5.5). Entities whose
    /// schemata conflict are skipped, as the reference's export skips them.
    ///
    /// # Errors
    /// As [`EntityStream::next`]; [`Error::Ftm`] for an unknown schema.
    pub async fn next_entity(&mut self) -> Result<Option<EntityRecord<'static>>> {
        while let Some(rows) = self.next().await? {
            if let Some(record) = entity_of(&rows)? {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }

    /// This stream's batches, read by a task of its own a few batches ahead (see [`ReadAhead`]).
    pub fn read_ahead(self) -> ReadAhead<EntityBatch> {
        ReadAhead::spawn(self)
    }
}

impl Batches for EntityStream {
    type Item = EntityBatch;

    fn next_item(&mut self) -> impl Future<Output = Result<Option<EntityBatch>>> + Send {
        self.next_batch()
    }
}

impl StatementStore {
    /// A DataFusion session over `table`'s snapshot, registered as `statements`, with plain
    /// `Utf8` columns and this store's memory budget.
    pub(super) async fn session(&self, table: &DeltaTable) -> Result<SessionContext> {
        // A fair pool: every spilling operator (one sorter per input partition) gets an even share,
        // so one sorter cannot starve another's merge of its spilled runs.
        let pool = Arc::new(FairSpillPool::new(self.memory_limit));
        let runtime = RuntimeEnvBuilder::new().with_memory_pool(pool).build_arc()?;
        let config = SessionConfig::new().with_batch_size(8192).with_sort_spill_reservation_bytes(64 << 20);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let mut scan_config = DeltaScanConfig::new().with_wrap_partition_values(false);
        scan_config.schema_force_view_types = false;
        let scan = DeltaScanNext::new(table.snapshot()?.snapshot().clone(), scan_config)?;
        table.update_datafusion_session(&ctx.state())?;
        ctx.register_table(TABLE, Arc::new(scan))?;
        Ok(ctx)
    }

    /// The ids of the entities whose stored rows satisfy every one of `predicates` (each on a
    /// row of its own), read with the filter's row predicate: `None` without predicates.
    async fn candidates(
        &self,
        ctx: &SessionContext,
        filter: &Filter,
        predicates: Vec<Expr>,
        shards: u32,
    ) -> Result<Option<HashSet<String>>> {
        // One scan per predicate, side by side.
        let scans = predicates.into_iter().map(|predicate| self.matching_ids(ctx, filter, predicate, shards));
        let mut sets = futures::future::try_join_all(scans).await?;
        sets.sort_by_key(HashSet::len);
        let mut sets = sets.into_iter();
        let Some(mut found) = sets.next() else { return Ok(None) };
        for set in sets {
            found.retain(|id| set.contains(id));
        }
        Ok(Some(found))
    }

    /// The ids of the entities with a stored row satisfying `predicate` (and the filter's row
    /// predicate).
    async fn matching_ids(
        &self,
        ctx: &SessionContext,
        filter: &Filter,
        predicate: Expr,
        shards: u32,
    ) -> Result<HashSet<String>> {
        let mut df = ctx.table(TABLE).await?;
        if let Some(rows) = filter.row_predicate(shards) {
            df = df.filter(rows)?;
        }
        // Rows come in file order, sorted by entity id within a merged file: consecutive
        // repeats are skipped before hashing.
        let ids = df.filter(predicate)?.select(vec![col("entity_id")])?;
        let mut set = HashSet::new();
        let mut batches = ids.execute_stream().await?;
        while let Some(batch) = batches.next().await.transpose()? {
            let column =
                batch.column(0).as_string_opt::<i32>().ok_or_else(|| Error::Corrupt("entity_id is not text".into()))?;
            let mut last: Option<&str> = None;
            for id in column.iter().flatten() {
                if last != Some(id) && !set.contains(id) {
                    set.insert(id.to_string());
                }
                last = Some(id);
            }
        }
        Ok(set)
    }

    /// The stream of `filter`, under a read lease taken before the table is opened (none when
    /// the lease cannot be written: a lake this process may only read).
    async fn stream(&self, filter: &Filter, semi: Option<Expr>, tombstones: Tombstones) -> Result<EntityStream> {
        let lease = self.fence.read().await.ok();
        let mut stream = self.open_stream(filter, semi, tombstones).await?;
        match stream.merge {
            Some(_) => stream.lease = lease,
            None => drop(lease),
        }
        Ok(stream)
    }

    async fn open_stream(&self, filter: &Filter, semi: Option<Expr>, tombstones: Tombstones) -> Result<EntityStream> {
        let Some(table) = self.table().await? else {
            return Ok(EntityStream::empty());
        };
        Ok(self.open_table_stream(&table, filter, semi, tombstones).await?.with_version(table.version()))
    }

    async fn open_table_stream(
        &self,
        table: &DeltaTable,
        filter: &Filter,
        semi: Option<Expr>,
        tombstones: Tombstones,
    ) -> Result<EntityStream> {
        let ctx = self.session(table).await?;
        let shards = self.shards_of(table).await?;
        let predicates: Vec<Expr> = filter.entity_predicates(shards).into_iter().chain(semi).collect();
        let candidates = self.candidates(&ctx, filter, predicates, shards).await?;
        let ids: Option<Vec<String>> = match candidates {
            None if filter.entity_ids.is_empty() => None,
            None => Some(filter.entity_ids.clone()),
            Some(found) if filter.entity_ids.is_empty() => Some(found.into_iter().collect()),
            Some(found) => Some(filter.entity_ids.iter().filter(|id| found.contains(*id)).cloned().collect()),
        };
        match ids {
            Some(ids) if ids.is_empty() => Ok(EntityStream::empty()),
            Some(ids) if ids.len() <= BY_ID_MAX => {
                // A list predicate: the ids' shards, and row groups pruned by the statistics
                // and bloom filters of `entity_id`.
                let read = Filter { entity_ids: ids, origins: filter.origins.clone(), node: None };
                let mut df = ctx.table(TABLE).await?;
                if let Some(predicate) = read.row_predicate(shards) {
                    df = df.filter(predicate)?;
                }
                let df = df.sort(vec![col("entity_id").sort(true, false)])?;
                let merge = SortedMerge::query(df.execute_stream().await?, tombstones);
                Ok(EntityStream::new(merge, filter.clone(), None, shards))
            }
            ids => {
                let candidates = ids.map(|ids| ids.into_iter().collect::<HashSet<String>>());
                let selected: Vec<Partition> = StatementStore::partitions_of(table)?
                    .into_iter()
                    .filter(|p| filter.origins.is_empty() || filter.origins.contains(&p.origin))
                    .collect();
                let merge = if SortedMerge::applies(&selected) {
                    SortedMerge::files(&self.table_files()?, &selected, tombstones).await?.deduped()
                } else {
                    let mut df = ctx.table(TABLE).await?;
                    if let Some(predicate) = filter.row_predicate(shards) {
                        df = df.filter(predicate)?;
                    }
                    let df = df.sort(vec![col("entity_id").sort(true, false)])?;
                    SortedMerge::query(df.execute_stream().await?, tombstones)
                };
                Ok(EntityStream::new(merge, filter.clone(), candidates, shards))
            }
        }
    }

    /// Live statements of the entities `filter` selects, one entity at a time, by entity id.
    ///
    /// # Errors
    /// [`Error::Ftm`] for an unknown schema in the filter; [`Error::Query`].
    pub async fn scan(&self, filter: &Filter) -> Result<EntityStream> {
        self.stream(filter, None, Tombstones::Drop).await
    }

    /// Every live statement of one entity, read from its shard only (merged-file order).
    ///
    /// # Errors
    /// As [`StatementStore::scan`].
    pub async fn get_statements(&self, entity_id: &str) -> Result<Vec<Statement>> {
        let mut stream = self.scan(&Filter::entity(entity_id)).await?;
        Ok(stream.next().await?.unwrap_or_default())
    }

    /// One entity, aggregated from its live statements; `None` if it has none.
    ///
    /// # Errors
    /// As [`StatementStore::scan`]; [`Error::Ftm`] if its schemata conflict.
    pub async fn get(&self, entity_id: &str) -> Result<Option<EntityRecord<'static>>> {
        let rows = self.get_statements(entity_id).await?;
        Ok(ftm::aggregate(ftm::model(), &rows)?.map(EntityRecord::into_owned))
    }

    /// Ids of entities touched since `since`, sorted: a live statement first seen at or after
    /// it (after folding, so a re-emission of an old statement does not count), or a tombstone
    /// deleted at or after it.
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn get_changed_entity_ids(&self, since: Timestamp) -> Result<Vec<String>> {
        let touched = at_or_after("first_seen", since).or(at_or_after("deleted_at", since));
        let mut stream = self.stream(&Filter::default(), Some(touched), keep_from(since)).await?;
        let mut changed = Vec::new();
        while let Some(rows) = stream.next().await? {
            let new = |s: &Statement| s.deleted_at.is_none() && s.first_seen.is_some_and(|t| t >= since);
            let deleted = |s: &Statement| s.deleted_at.is_some_and(|t| t >= since);
            if rows.iter().any(|s| new(s) || deleted(s)) {
                changed.push(rows[0].entity_id.clone());
            }
        }
        Ok(changed)
    }

    /// The tombstone rows deleted at or after `since`, one group per entity, by entity id: the
    /// candidates of a diff's `DEL` entries (spec `exports-and-operations.md` §8.3).
    ///
    /// # Errors
    /// [`Error::Query`].
    pub async fn tombstones_since(&self, since: Timestamp) -> Result<Vec<Vec<Statement>>> {
        let mut stream =
            self.stream(&Filter::default(), Some(at_or_after("deleted_at", since)), keep_from(since)).await?;
        let mut out = Vec::new();
        while let Some(rows) = stream.next().await? {
            let rows: Vec<Statement> = rows.into_iter().filter(|s| s.deleted_at.is_some_and(|t| t >= since)).collect();
            if !rows.is_empty() {
                out.push(rows);
            }
        }
        Ok(out)
    }
}

/// One entity's live rows aggregated; `None` when they make no entity or their schemata
/// conflict (the reference's export skips such entities).
///
/// # Errors
/// [`Error::Ftm`] for an unknown schema.
pub fn entity_of(rows: &[Statement]) -> Result<Option<EntityRecord<'static>>> {
    match ftm::aggregate(ftm::model(), rows) {
        Ok(record) => Ok(record.map(EntityRecord::into_owned)),
        Err(ftm::FtmError::SchemaConflict(..)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `column >= since`, for a UTC microsecond timestamp column.
fn at_or_after(column: &str, since: Timestamp) -> Expr {
    col(column).gt_eq(lit(ScalarValue::TimestampMicrosecond(Some(since.timestamp_micros()), Some("UTC".into()))))
}

/// Keeps the tombstones deleted at or after `since`.
fn keep_from(since: Timestamp) -> Tombstones {
    Tombstones::KeepAfter(since.timestamp_micros() - 1)
}
