//! The in-memory journal, `sqlite:///:memory:` (the default): the rows live in this process's
//! memory and are gone when it exits, as the reference's in-memory SQLite database is.
//!
//! Nothing outside the process can read that database, so its form is ours: each insert is
//! kept as one chunk of rows in the data files' columns ([`FileRows`]), built before the
//! journal's lock is taken. Writers then hold the lock only to add a chunk, so concurrent
//! inserts (a server's journal bulks) proceed side by side instead of one SQL insert at a time.
//! A small insert (a deleted entity's tombstones) is joined to the last chunk while it is
//! small, so that many small inserts do not each cost a chunk's fixed few kilobytes.
//!
//! The drain follows the module contract of the other backends: the live chunks are moved to a
//! segment, segments are read oldest first in insertion order in batches that never split an
//! entity's run of rows, and a segment is dropped only after every batch of it was consumed;
//! a failing sink leaves it for the next flush.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use deltalake::arrow::array::AsArray;
use ftm::Statement;

use super::{Batcher, buckets};
use crate::error::{Error, Result};
use crate::storage::rows::{FileRows, StatementRows};

/// Batches the producing thread may run ahead of the sink during a drain.
const READ_AHEAD_BATCHES: usize = 1;

/// An insert is joined to the last chunk while the two together have at most this many rows.
const SMALL_CHUNK_ROWS: usize = 1024;

/// Inserted chunks, oldest first.
type Segment = Arc<Vec<Arc<FileRows>>>;

/// The rows of one journal table.
#[derive(Default)]
struct Rows {
    /// Chunks inserted since the last drain began, oldest first.
    live: Vec<Arc<FileRows>>,
    /// Segments a drain is reading or a failed drain left, oldest first.
    segments: VecDeque<Segment>,
}

impl Rows {
    fn chunks(&self) -> impl Iterator<Item = &Arc<FileRows>> {
        self.segments.iter().flat_map(|s| s.iter()).chain(&self.live)
    }
}

type Shared = Arc<Mutex<Rows>>;

/// The in-memory journal of one dataset of one lake.
pub struct MemoryJournal {
    rows: Shared,
    table: String,
    flushing: Arc<tokio::sync::Mutex<()>>,
}

/// The rows and flush lock of `table` in the lake `scope`, created on first use: every handle
/// to one lake's dataset in this process shares them, and two lakes never do.
fn table_of(scope: &str, table: &str) -> (Shared, Arc<tokio::sync::Mutex<()>>) {
    type Tables = HashMap<(String, String), (Shared, Arc<tokio::sync::Mutex<()>>)>;
    static TABLES: OnceLock<Mutex<Tables>> = OnceLock::new();
    let mut tables = TABLES.get_or_init(Default::default).lock().expect("in-memory journal map");
    tables.entry((scope.to_string(), table.to_string())).or_default().clone()
}

impl MemoryJournal {
    /// The journal `table` of the lake `scope`.
    pub(super) fn open(table: String, scope: &str) -> MemoryJournal {
        let (rows, flushing) = table_of(scope, &table);
        MemoryJournal { rows, table, flushing }
    }

    pub(super) fn table(&self) -> &str {
        &self.table
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Rows> {
        self.rows.lock().expect("in-memory journal")
    }

    fn oldest_segment(&self) -> Option<Segment> {
        self.lock().segments.front().cloned()
    }

    pub(super) async fn put(&self, statements: Vec<Statement>) -> Result<()> {
        buckets(&statements)?;
        let chunk = tokio::task::spawn_blocking(move || -> Result<FileRows> {
            let mut rows = StatementRows::with_capacity(statements.len());
            for s in &statements {
                rows.push_statement(s)?;
            }
            rows.finish(None)
        })
        .await
        .map_err(Error::task("journal insert"))??;
        let mut rows = self.lock();
        match rows.live.last_mut() {
            Some(last) if last.len() + chunk.len() <= SMALL_CHUNK_ROWS => *last = Arc::new(last.concat(&chunk)?),
            _ => rows.live.push(Arc::new(chunk)),
        }
        Ok(())
    }

    pub(super) fn count(&self) -> u64 {
        self.lock().chunks().map(|c| c.len() as u64).sum()
    }

    pub(super) fn clear(&self) {
        *self.lock() = Rows::default();
    }

    /// Scans every chunk (as SQLite scans its tables, which have no index), on a blocking
    /// thread and without the lock: inserts go on meanwhile.
    pub(super) async fn entity_rows(&self, entity_id: &str) -> Result<Vec<Statement>> {
        let chunks: Vec<Arc<FileRows>> = self.lock().chunks().cloned().collect();
        let entity_id = entity_id.to_string();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for chunk in &chunks {
                let ids = chunk.batch.column(1).as_string::<i32>(); // `entity_id`, as `FileRows::row` reads it
                for i in (0..chunk.len()).filter(|&i| ids.value(i) == entity_id) {
                    let row = chunk.row(i);
                    if row.deleted_at.is_none() {
                        out.push(row.to_statement());
                    }
                }
            }
            out
        })
        .await
        .map_err(Error::task("journal read"))
    }

    pub(super) async fn drain<F: Future<Output = Result<()>>>(
        &self,
        batch_rows: usize,
        mut sink: impl FnMut(StatementRows) -> F,
    ) -> Result<Option<u64>> {
        let Ok(_running) = self.flushing.try_lock() else {
            return Ok(None);
        };
        {
            let mut rows = self.lock();
            if !rows.live.is_empty() {
                let live = std::mem::take(&mut rows.live);
                rows.segments.push_back(Arc::new(live));
            }
        }
        let mut total = 0u64;
        // Only a drain adds segments, and it holds `flushing`: the front is the oldest.
        while let Some(segment) = self.oldest_segment() {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<StatementRows>(READ_AHEAD_BATCHES);
            let chunks = segment.clone();
            let producer = tokio::task::spawn_blocking(move || -> Result<()> {
                let mut batcher = Batcher::new(batch_rows);
                for chunk in chunks.iter() {
                    for i in 0..chunk.len() {
                        if let Some(batch) = batcher.push_row(chunk.row(i))?
                            && tx.blocking_send(batch).is_err()
                        {
                            return Ok(()); // The sink failed.
                        }
                    }
                }
                if let Some(batch) = batcher.finish() {
                    let _ = tx.blocking_send(batch);
                }
                Ok(())
            });
            while let Some(batch) = rx.recv().await {
                total += batch.len() as u64;
                sink(batch).await?;
            }
            producer.await.map_err(Error::task("journal read"))??;
            let mut rows = self.lock();
            if rows.segments.front().is_some_and(|front| Arc::ptr_eq(front, &segment)) {
                rows.segments.pop_front();
            }
        }
        Ok(Some(total))
    }
}

#[cfg(test)]
mod tests {
    use ftm::time::parse_iso;

    use super::*;

    fn stmt(entity: &str, value: &str, origin: &str) -> Statement {
        let mut s = Statement::new("ds", entity, "Person", "name", "name", value);
        s.origin = Some(origin.into());
        s.first_seen = parse_iso("2024-01-01T00:00:00Z");
        s.last_seen = s.first_seen;
        s
    }

    /// Small inserts join the last chunk (origins remapped), a large one starts its own, and the
    /// rows read back in insertion order with their origins.
    #[tokio::test]
    async fn small_inserts_share_a_chunk() {
        let journal = MemoryJournal::open("journal_small".into(), "memory-test-lake");
        for i in 0..100 {
            let origin = ["a", "b", "c"][i % 3];
            journal.put(vec![stmt(&format!("e{i}"), "x", origin)]).await.unwrap();
        }
        let large: Vec<Statement> = (0..SMALL_CHUNK_ROWS).map(|i| stmt("big", &i.to_string(), "d")).collect();
        journal.put(large).await.unwrap();
        journal.put(vec![stmt("last", "x", "a")]).await.unwrap();
        let chunks: Vec<usize> = journal.lock().live.iter().map(|c| c.len()).collect();
        assert_eq!(chunks, [100, SMALL_CHUNK_ROWS, 1]);
        assert_eq!(journal.entity_rows("e4").await.unwrap()[0].origin.as_deref(), Some("b"));
        let mut seen: Vec<(String, String)> = Vec::new();
        journal
            .drain(1_000_000, |batch: StatementRows| {
                let rows = batch.finish(None).unwrap();
                seen.extend((0..rows.len()).map(|i| {
                    let row = rows.row(i);
                    (row.entity_id.to_string(), row.origin.unwrap().to_string())
                }));
                std::future::ready(Ok(()))
            })
            .await
            .unwrap();
        assert_eq!(seen.len(), 100 + SMALL_CHUNK_ROWS + 1);
        for (i, (entity, origin)) in seen[..100].iter().enumerate() {
            assert_eq!((entity.as_str(), origin.as_str()), (format!("e{i}").as_str(), ["a", "b", "c"][i % 3]));
        }
        assert_eq!(seen.last().unwrap(), &("last".to_string(), "a".to_string()));
    }
}
