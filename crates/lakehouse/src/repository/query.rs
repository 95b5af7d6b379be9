//! Queries on a dataset's entities (spec `interfaces.md` §2.2): the whole entities a
//! [`Query`] selects, sorted, sliced and projected, as statement rows or aggregated entities.
//!
//! Without a sort the entities stream in entity id order and the slice stops the read early.
//! With a sort every selected entity is read; when the query has a limit only the best
//! `offset + limit` are held at a time, else all of them are.
//!
//! As JSON lines ([`EntityRepository::query_lines`]), a query of equality leaves is answered
//! by the entity index when one serves the version read (`indexed`): the
//! lines come from `entities.ftm.json` as the export wrote them, which are the bytes the
//! aggregation would write.

use std::cmp::Ordering;
use std::collections::VecDeque;

use deltalake::arrow::array::RecordBatch;
use ftm::time::IsoSpeller;
use ftm::{EntityRecord, Statement};

use super::entities::EntityRepository;
use super::indexed::Plan;
use crate::error::{Error, Result};
use crate::model::query::{Field, Leaf, Node, Op, Query, SortKey, Value};
use crate::model::validate_origin;
use crate::storage::entity_index::{EntityIndex, ExportLines};
use crate::storage::remote::Lines;
use crate::storage::statements::{EntityStream, Filter, entity_of};
use crate::storage::tags::keys::STATEMENTS_UPDATED;

/// The entities of a query, one at a time.
pub struct QueryStream {
    query: Query,
    source: Source,
    /// Entities still to skip.
    skip: usize,
    /// Entities still to return; `None`: all.
    left: Option<usize>,
}

/// Where the entities come from.
enum Source {
    /// Straight from the store, in entity id order.
    Stream(Box<EntityStream>),
    /// Read and sorted in advance.
    Sorted(VecDeque<Vec<Statement>>),
    /// The NDJSON entity lines of a server (api mode), sorted, sliced and projected there.
    Served(Lines),
    /// Nothing (`limit=0`).
    Empty,
}

/// The entities of a query as JSON lines, as `entities.ftm.json` holds them.
pub struct EntityLines {
    source: LineSource,
}

enum LineSource {
    /// Lines of the export, through the entity index.
    Indexed(ExportLines),
    /// Entities aggregated from the query's stream, with the spellings of their times.
    Aggregated(Box<QueryStream>, Box<[IsoSpeller; 3]>),
}

/// Bytes of aggregated lines gathered per [`EntityLines::next`].
const AGGREGATED_BYTES: usize = 1 << 16;

impl EntityLines {
    /// Whether the entity index answers the query.
    pub fn indexed(&self) -> bool {
        matches!(self.source, LineSource::Indexed(_))
    }

    /// Appends the next entities' lines (each with its newline) to `out`; `false` after the
    /// last.
    ///
    /// # Errors
    /// As [`ExportLines::next`] and [`QueryStream::next_entity`].
    pub async fn next(&mut self, out: &mut Vec<u8>) -> Result<bool> {
        match &mut self.source {
            LineSource::Indexed(lines) => lines.next(out).await,
            LineSource::Aggregated(stream, times) => {
                let start = out.len();
                while out.len() - start < AGGREGATED_BYTES
                    && let Some(entity) = stream.next_entity().await?
                {
                    entity.write_json(out, times);
                    out.push(b'\n');
                }
                Ok(out.len() > start)
            }
        }
    }
}

/// A statement of an `entities/query` line (spec `interfaces.md` §3.4).
#[derive(serde::Deserialize)]
struct LineStatement {
    id: String,
    entity_id: String,
    canonical_id: Option<String>,
    schema: String,
    prop: String,
    value: String,
    dataset: String,
    lang: Option<String>,
    original_value: Option<String>,
    first_seen: Option<String>,
    last_seen: Option<String>,
    #[serde(default)]
    external: bool,
    origin: Option<String>,
}

/// An `entities/query` line: its statements are all this client reads.
#[derive(serde::Deserialize)]
struct Line {
    statements: Vec<LineStatement>,
}

/// The statements of an `entities/query` line, property types from the model.
///
/// # Errors
/// [`Error::InvalidInput`] for a line that is not such an object or a bad timestamp;
/// [`Error::Ftm`] for an unknown schema.
fn line_statements(line: &[u8]) -> Result<Vec<Statement>> {
    let bad = |why: String| Error::InvalidInput(format!("a query answer line from the server: {why}"));
    let line: Line = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
    let model = ftm::model();
    let time = |text: Option<String>| -> Result<_> {
        text.map(|t| ftm::time::parse_iso(&t).ok_or_else(|| bad(format!("not a timestamp: {t:?}")))).transpose()
    };
    line.statements
        .into_iter()
        .map(|s| {
            let prop_type = match model.schema(&s.schema)?.property(&s.prop) {
                Some(property) => property.type_.name().to_string(),
                None => String::new(),
            };
            Ok(Statement {
                id: s.id,
                canonical_id: s.canonical_id.unwrap_or_else(|| s.entity_id.clone()),
                entity_id: s.entity_id,
                prop: s.prop,
                prop_type,
                schema: s.schema,
                value: s.value,
                dataset: s.dataset,
                lang: s.lang,
                original_value: s.original_value,
                external: s.external,
                first_seen: time(s.first_seen)?,
                last_seen: time(s.last_seen)?,
                origin: s.origin,
                fragment: String::new(),
                role: None,
                deleted_at: None,
                source: None,
            })
        })
        .collect()
}

/// Sorts `held` by the query's order and keeps the first `keep` (all for `None`).
fn sort_and_keep(query: &Query, held: &mut Vec<(SortKey, Vec<Statement>)>, keep: Option<usize>) {
    let order = |a: &(SortKey, Vec<Statement>), b: &(SortKey, Vec<Statement>)| -> Ordering {
        SortKey::order(query, (&a.0, &a.1[0].entity_id), (&b.0, &b.1[0].entity_id))
    };
    held.sort_by(order);
    if let Some(keep) = keep {
        held.truncate(keep);
    }
}

impl QueryStream {
    async fn open(query: Query, mut stream: EntityStream) -> Result<QueryStream> {
        let (skip, left) = (query.offset, query.limit);
        if query.limit == Some(0) {
            return Ok(QueryStream { query, source: Source::Empty, skip, left });
        }
        if query.sort.is_none() {
            return Ok(QueryStream { query, source: Source::Stream(Box::new(stream)), skip, left });
        }
        let keep = query.limit.map(|limit| limit.saturating_add(query.offset));
        let mut held: Vec<(SortKey, Vec<Statement>)> = Vec::new();
        while let Some(rows) = stream.next().await? {
            let key = SortKey::of(&query, rows.iter().map(|s| (s.prop.as_str(), s.value.as_str())));
            held.push((key, rows));
            if keep.is_some_and(|keep| held.len() >= keep.max(512).saturating_mul(2)) {
                sort_and_keep(&query, &mut held, keep);
            }
        }
        sort_and_keep(&query, &mut held, keep);
        let sorted = held.into_iter().map(|(_, rows)| rows).collect();
        Ok(QueryStream { query, source: Source::Sorted(sorted), skip, left })
    }

    async fn next_whole(&mut self) -> Result<Option<Vec<Statement>>> {
        match &mut self.source {
            Source::Stream(stream) => stream.next().await,
            Source::Sorted(sorted) => Ok(sorted.pop_front()),
            Source::Served(lines) => lines.next().await?.map(|line| line_statements(&line)).transpose(),
            Source::Empty => Ok(None),
        }
    }

    /// The next entity's live statements, projected by the query's `select` (the checksum row
    /// stays), or `None` after the slice.
    ///
    /// # Errors
    /// As [`EntityStream::next`].
    pub async fn next_statements(&mut self) -> Result<Option<Vec<Statement>>> {
        if self.left == Some(0) {
            return Ok(None);
        }
        while self.skip > 0 {
            if self.next_whole().await?.is_none() {
                return Ok(None);
            }
            self.skip -= 1;
        }
        let Some(mut rows) = self.next_whole().await? else {
            return Ok(None);
        };
        if let Some(left) = &mut self.left {
            *left -= 1;
        }
        if !self.query.select.is_empty() {
            rows.retain(|s| self.query.keeps(&s.prop, &s.prop_type));
        }
        Ok(Some(rows))
    }

    /// The next entity, aggregated from [`QueryStream::next_statements`]. Entities whose
    /// schemata conflict are skipped, as the export skips them.
    ///
    /// # Errors
    /// As [`QueryStream::next_statements`]; [`Error::Ftm`].
    pub async fn next_entity(&mut self) -> Result<Option<EntityRecord<'static>>> {
        while let Some(rows) = self.next_statements().await? {
            if let Some(record) = entity_of(&rows)? {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }
}

impl EntityRepository {
    /// The entities `query` selects (flushing first when `flush`).
    ///
    /// # Errors
    /// As [`EntityRepository::ensure_flush`] and the store's scans.
    pub async fn query(&self, query: &Query, flush: bool) -> Result<QueryStream> {
        if let Some(api) = self.api() {
            // Sorted, sliced and projected by the server.
            let lines = api.query(query.to_json(), flush, false).await?;
            return Ok(QueryStream { query: Query::default(), source: Source::Served(lines), skip: 0, left: None });
        }
        if flush {
            self.ensure_flush().await?;
        }
        let stream = self.statements().scan(&Filter::query(query.node.clone())).await?;
        QueryStream::open(query.clone(), stream).await
    }

    /// The entities `query` selects as JSON lines (flushing first when `flush`): from the
    /// entity index when it serves the version read and answers the query, else aggregated
    /// as [`QueryStream::next_entity`] does. The two give the same bytes.
    ///
    /// # Errors
    /// As [`EntityRepository::query`]; reading the index.
    pub async fn query_lines(&self, query: &Query, flush: bool) -> Result<EntityLines> {
        let plan = if self.api().is_none() { Plan::of(query) } else { None };
        if let Some(plan) = plan {
            if flush {
                self.ensure_flush().await?;
            }
            // An index that cannot be read is skipped: the table answers as well.
            let index = EntityIndex::open(self.dataset().object_store()).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the entity index cannot be read; the query reads the table");
                None
            });
            if let Some(version) = self.statements().version().await?
                && let Some(index) = index
                && self.statements().same_content(index.stamp().version, version).await?
            {
                let ordinals = plan.evaluate(&index).await?;
                let end = query.limit.map_or(ordinals.len(), |limit| query.offset.saturating_add(limit));
                let slice = ordinals.get(query.offset..end.min(ordinals.len())).unwrap_or_default();
                tracing::debug!(entities = slice.len(), "the entity index answers the query");
                return Ok(EntityLines { source: LineSource::Indexed(index.lines(slice).await?) });
            }
            let stream = self.query(query, false).await?;
            return Ok(EntityLines { source: LineSource::Aggregated(Box::new(stream), Box::default()) });
        }
        let stream = self.query(query, flush).await?;
        Ok(EntityLines { source: LineSource::Aggregated(Box::new(stream), Box::default()) })
    }

    /// One entity, from its statements of `origin` only when given (flushing first when the
    /// journal holds writes); `None` when it has none.
    ///
    /// # Errors
    /// As [`EntityRepository::query`]; [`Error::Ftm`] if its
    /// schemata conflict.
    pub async fn get(&self, entity_id: &str, origin: Option<&str>) -> Result<Option<EntityRecord<'static>>> {
        if let Some(api) = self.api() {
            let id = Leaf::new(Field::parse("id", false)?, Op::Eq, Value::Text(entity_id.to_string()))?;
            let query = Query { node: Some(Node::Leaf(id)), ..Query::default() };
            let mut lines = api.query(query.to_json(), true, false).await?;
            let mut rows = match lines.next().await? {
                Some(line) => line_statements(&line)?,
                None => Vec::new(),
            };
            rows.retain(|s| origin.is_none_or(|o| s.origin.as_deref() == Some(o)));
            return Ok(ftm::aggregate(ftm::model(), &rows)?.map(EntityRecord::into_owned));
        }
        self.ensure_flush().await?;
        let filter = Filter { origins: origin.into_iter().map(String::from).collect(), ..Filter::entity(entity_id) };
        let rows = self.statements().scan(&filter).await?.next().await?.unwrap_or_default();
        Ok(ftm::aggregate(ftm::model(), &rows)?.map(EntityRecord::into_owned))
    }

    /// Runs `sql` over the views `statement` (live rows) and `statement_raw` (every stored row)
    /// after flushing the journal; returns the result's batches.
    ///
    /// # Errors
    /// As [`StatementStore::sql`](crate::storage::StatementStore::sql), and
    /// [`Error::Query`] when the query fails while it runs.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        if self.api().is_some() {
            return Err(Error::NotInApiMode("statements sql"));
        }
        self.ensure_flush().await?;
        self.statements().sql(sql).await
    }

    /// Drops every statement of `origin` (after flushing the journal, so none of its pending
    /// writes survive); statements of other origins stay. Sets `statements/last_updated` when
    /// rows went. Returns the rows removed, `None` on a served lake (its route does not say).
    ///
    /// # Errors
    /// [`Error::InvalidOrigin`]; as
    /// [`EntityRepository::flush`] and the store's `delete_origin`.
    pub async fn delete_origin(&self, origin: &str) -> Result<Option<u64>> {
        validate_origin(origin)?;
        if let Some(api) = self.api() {
            api.delete_origin(origin).await?;
            return Ok(None);
        }
        self.flush().await?;
        let rows = self.statements().delete_origin(origin).await?;
        if rows > 0 {
            self.tags().set(STATEMENTS_UPDATED, chrono::Utc::now()).await?;
        }
        Ok(Some(rows))
    }
}
