//! Queries on a dataset's entities (spec `interfaces.md` §2.2): the whole entities a
//! [`Query`] selects, sorted, sliced and projected, as statement rows or aggregated entities.
//!
//! Without a sort the entities stream in entity id order and the slice stops the read early.
//! With a sort every selected entity is read; when the query has a limit only the best
//! `offset + limit` are held at a time, else all of them are.

use std::cmp::Ordering;
use std::collections::VecDeque;

use deltalake::arrow::array::RecordBatch;
use ftm::{EntityRecord, Statement};

use super::entities::EntityRepository;
use crate::error::Result;
use crate::model::query::{Query, SortKey};
use crate::model::validate_origin;
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
    /// Nothing (`limit=0`).
    Empty,
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
    /// As [`QueryStream::next_statements`]; [`Error::Ftm`](crate::error::Error::Ftm).
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
        if flush {
            self.ensure_flush().await?;
        }
        let stream = self.statements().scan(&Filter::query(query.node.clone())).await?;
        QueryStream::open(query.clone(), stream).await
    }

    /// One entity, from its statements of `origin` only when given (flushing first when the
    /// journal holds writes); `None` when it has none.
    ///
    /// # Errors
    /// As [`EntityRepository::query`]; [`Error::Ftm`](crate::error::Error::Ftm) if its
    /// schemata conflict.
    pub async fn get(&self, entity_id: &str, origin: Option<&str>) -> Result<Option<EntityRecord<'static>>> {
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
    /// [`Error::Query`](crate::error::Error::Query) when the query fails while it runs.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        self.ensure_flush().await?;
        Ok(self.statements().sql(sql).await?.collect().await?)
    }

    /// Drops every statement of `origin` (after flushing the journal, so none of its pending
    /// writes survive); statements of other origins stay. Sets `statements/last_updated` when
    /// rows went. Returns the rows removed.
    ///
    /// # Errors
    /// [`Error::InvalidOrigin`](crate::error::Error::InvalidOrigin); as
    /// [`EntityRepository::flush`] and the store's `delete_origin`.
    pub async fn delete_origin(&self, origin: &str) -> Result<u64> {
        validate_origin(origin)?;
        self.flush().await?;
        let rows = self.statements().delete_origin(origin).await?;
        if rows > 0 {
            self.tags().set(STATEMENTS_UPDATED, chrono::Utc::now()).await?;
        }
        Ok(rows)
    }
}
