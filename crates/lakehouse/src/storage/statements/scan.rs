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

use std::collections::VecDeque;
use std::sync::Arc;

use deltalake::DeltaTable;
use deltalake::datafusion::execution::memory_pool::FairSpillPool;
use deltalake::datafusion::execution::runtime_env::RuntimeEnvBuilder;
use deltalake::datafusion::prelude::{DataFrame, Expr, JoinType, SessionConfig, SessionContext, col, lit};
use deltalake::datafusion::scalar::ScalarValue;
use deltalake::delta_datafusion::{DeltaScanConfig, DeltaScanNext};
use ftm::time::Timestamp;
use ftm::{EntityRecord, Statement};

use super::batch::EntityBatch;
use super::dedupe::Tombstones;
use super::read_ahead::{Batches, ReadAhead};
use super::sorted_merge::SortedMerge;
use super::{Filter, StatementStore};
use crate::error::Result;

/// The table name queries use.
const TABLE: &str = "statements";

/// Live statements, one entity at a time, in `entity_id` order.
pub struct EntityStream {
    merge: Option<SortedMerge>,
    ready: VecDeque<Vec<Statement>>,
    filter: Filter,
}

impl EntityStream {
    fn empty() -> EntityStream {
        EntityStream { merge: None, ready: VecDeque::new(), filter: Filter::default() }
    }

    pub(super) fn new(merge: SortedMerge, filter: Filter) -> EntityStream {
        EntityStream { merge: Some(merge), ready: VecDeque::new(), filter }
    }

    /// The next batch of whole entities (deduped, tombstones handled as the stream was opened,
    /// filtered), or `None` at the end. Do not mix with [`EntityStream::next`].
    ///
    /// # Errors
    /// [`Error::Query`](crate::error::Error::Query) if the scan fails; [`Error::Corrupt`](crate::error::Error::Corrupt).
    pub async fn next_batch(&mut self) -> Result<Option<EntityBatch>> {
        loop {
            let Some(merge) = self.merge.as_mut() else {
                return Ok(None);
            };
            let Some(mut out) = merge.next_entities().await? else {
                self.merge = None;
                return Ok(None);
            };
            if !self.filter.selects_all() {
                out.retain(|rows| self.filter.matches(rows));
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
    /// As [`EntityStream::next`]; [`Error::Ftm`](crate::error::Error::Ftm) for an unknown schema.
    pub async fn next_entity(&mut self) -> Result<Option<EntityRecord<'static>>> {
        while let Some(rows) = self.next().await? {
            match ftm::aggregate(ftm::model(), &rows) {
                Ok(Some(record)) => return Ok(Some(record.into_owned())),
                Ok(None) | Err(ftm::FtmError::SchemaConflict(..)) => continue,
                Err(e) => return Err(e.into()),
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

    /// The rows `filter` selects before dedupe: its row predicate, then one semi join per
    /// entity predicate (the filter's and `semi`).
    pub(super) async fn select(&self, ctx: &SessionContext, filter: &Filter, semi: Option<Expr>) -> Result<DataFrame> {
        let mut df = ctx.table(TABLE).await?;
        if let Some(predicate) = filter.row_predicate(self.shards) {
            df = df.filter(predicate)?;
        }
        for predicate in filter.entity_predicates()?.into_iter().chain(semi) {
            let ids = ctx
                .table(TABLE)
                .await?
                .filter(predicate)?
                .select(vec![col("entity_id").alias("matched_id")])?
                .distinct()?;
            df = df.join(ids, JoinType::LeftSemi, &["entity_id"], &["matched_id"], None)?;
        }
        Ok(df)
    }

    async fn stream(&self, filter: &Filter, semi: Option<Expr>, tombstones: Tombstones) -> Result<EntityStream> {
        let Some(table) = self.table().await? else {
            return Ok(EntityStream::empty());
        };
        let partitions = StatementStore::partitions_of(&table)?;
        let selected: Vec<_> = partitions
            .into_iter()
            .filter(|p| filter.origins.is_empty() || filter.origins.contains(&p.origin))
            .collect();
        let whole = filter.entity_ids.is_empty() && filter.entity_predicates()?.is_empty() && semi.is_none();
        if whole && SortedMerge::applies(&selected) {
            let merge = SortedMerge::files(&self.table_files()?, &selected, tombstones).await?.deduped();
            return Ok(EntityStream::new(merge, filter.clone()));
        }
        let ctx = self.session(&table).await?;
        let df = self.select(&ctx, filter, semi).await?.sort(vec![col("entity_id").sort(true, false)])?;
        Ok(EntityStream::new(SortedMerge::query(df.execute_stream().await?, tombstones), filter.clone()))
    }

    /// Live statements of the entities `filter` selects, one entity at a time, by entity id.
    ///
    /// # Errors
    /// [`Error::Ftm`](crate::error::Error::Ftm) for an unknown schema in the filter; [`Error::Query`](crate::error::Error::Query).
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
    /// As [`StatementStore::scan`]; [`Error::Ftm`](crate::error::Error::Ftm) if its schemata conflict.
    pub async fn get(&self, entity_id: &str) -> Result<Option<EntityRecord<'static>>> {
        let rows = self.get_statements(entity_id).await?;
        Ok(ftm::aggregate(ftm::model(), &rows)?.map(EntityRecord::into_owned))
    }

    /// Ids of entities touched since `since`, sorted: a live statement first seen at or after
    /// it (after folding, so a re-emission of an old statement does not count), or a tombstone
    /// deleted at or after it.
    ///
    /// # Errors
    /// [`Error::Query`](crate::error::Error::Query).
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
    /// [`Error::Query`](crate::error::Error::Query).
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

/// `column >= since`, for a UTC microsecond timestamp column.
fn at_or_after(column: &str, since: Timestamp) -> Expr {
    col(column).gt_eq(lit(ScalarValue::TimestampMicrosecond(Some(since.timestamp_micros()), Some("UTC".into()))))
}

/// Keeps the tombstones deleted at or after `since`.
fn keep_from(since: Timestamp) -> Tombstones {
    Tombstones::KeepAfter(since.timestamp_micros() - 1)
}
