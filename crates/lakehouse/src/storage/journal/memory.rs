//! The in-memory journal, `sqlite:///:memory:` (the default): the rows live in this process's
//! memory and are gone when it exits, as the reference's in-memory SQLite database is.
//!
//! Nothing outside the process can read that database, so its form is ours: each insert is
//! kept as one chunk of rows in the data files' columns ([`FileRows`]), built before the
//! journal's lock is taken. Writers then hold the lock only to add a chunk, so concurrent
//! inserts (a server's journal bulks) proceed side by side instead of one SQL insert at a time,
//! and a row costs its bytes in Arrow buffers rather than a SQLite record and page.
//!
//! The drain follows the module contract of the other backends: the live chunks are moved to a
//! segment, segments are read oldest first in insertion order in batches that never split an
//! entity's run of rows, and a segment is dropped only after every batch of it was consumed;
//! a failing sink leaves it for the next flush.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use ftm::Statement;

use super::{Batcher, buckets};
use crate::error::{Error, Result};
use crate::storage::rows::{FileRows, StatementRows};

/// Batches the producing thread may run ahead of the sink during a drain.
const READ_AHEAD_BATCHES: usize = 1;

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
            let mut rows = StatementRows::default();
            for s in &statements {
                rows.push_statement(s)?;
            }
            rows.finish(None)
        })
        .await
        .map_err(Error::task("journal insert"))??;
        self.lock().live.push(Arc::new(chunk));
        Ok(())
    }

    pub(super) fn count(&self) -> u64 {
        self.lock().chunks().map(|c| c.len() as u64).sum()
    }

    pub(super) fn clear(&self) {
        *self.lock() = Rows::default();
    }

    pub(super) fn entity_rows(&self, entity_id: &str) -> Vec<Statement> {
        let rows = self.lock();
        let mut out = Vec::new();
        for chunk in rows.chunks() {
            for i in 0..chunk.len() {
                let row = chunk.row(i);
                if row.entity_id == entity_id && row.deleted_at.is_none() {
                    out.push(row.to_statement());
                }
            }
        }
        out
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
