//! The SQLite file journal backend (rusqlite, SQLite bundled); `sqlite:///:memory:` is the
//! in-memory journal of [`super::memory`].
//!
//! Timestamps are stored as text `YYYY-MM-DD HH:MM:SS.ffffff` (UTC, no offset) and booleans as
//! 0/1, as SQLAlchemy stores them for the reference. File databases run in WAL mode. Work runs
//! on blocking threads. One flush of a journal at a time: in a process, a lock per database and
//! table; across processes on a file database, an advisory lock (`flock`) on the file
//! `{database}-{table}.flush` beside it, which the kernel releases when its holder dies, so a
//! killed flush never blocks the next one. (The reference excludes only within a process: two of
//! its processes flushing one file at once fail when one drops a segment the other reads.)

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ftm::Statement;
use ftm::time::{Timestamp, parse_iso};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{Connection, params_from_iter};

use super::{
    Batcher, COLUMNS, Cell, Kind, OwnedCell, buckets, cells, column_list, create_table_sql, journal_error,
    segment_name, statement_from_cells,
};
use crate::error::{Error, Result};
use crate::storage::rows::StatementRows;

type Shared = Arc<Mutex<Connection>>;

/// Rows the reading thread hands over at a time during a drain.
const CHUNK_ROWS: usize = 10_000;
/// Chunks the reading thread may run ahead of the appends (320,000 rows).
const READ_AHEAD_CHUNKS: usize = 32;

/// The SQLite journal of one dataset.
pub struct SqliteJournal {
    conn: Shared,
    table: String,
    flushing: Arc<tokio::sync::Mutex<()>>,
    /// The database file, absolute.
    file: PathBuf,
}

/// The process-wide flush lock of `key` (database + table).
fn flush_lock(key: &str) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS.get_or_init(Default::default).lock().expect("flush lock map");
    locks.entry(key.to_string()).or_default().clone()
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`, the journal's time text (SQLAlchemy's SQLite spelling).
fn time_text(t: Timestamp) -> String {
    let mut out = Vec::with_capacity(26);
    ftm::time::push_time(&mut out, &t, b' ', true);
    String::from_utf8(out).expect("ASCII")
}

/// Reads [`time_text`]'s spelling directly; anything else goes through [`parse_iso`].
fn parse_time_text(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    let shape = b.len() == 26
        && [(4, b'-'), (7, b'-'), (10, b' '), (13, b':'), (16, b':'), (19, b'.')].iter().all(|&(at, c)| b[at] == c);
    if !shape {
        return parse_iso(text);
    }
    let num = |at: usize, width: usize| -> Option<u32> {
        b[at..at + width].iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 2)?, num(8, 2)?)?;
    let time = date.and_hms_micro_opt(num(11, 2)?, num(14, 2)?, num(17, 2)?, num(20, 6)?)?;
    Some(time.and_utc())
}

fn to_sql(cell: Cell<'_>) -> ToSqlOutput<'_> {
    match cell {
        Cell::Text(Some(t)) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        Cell::Text(None) | Cell::Time(None) => ToSqlOutput::Owned(SqlValue::Null),
        Cell::Bool(b) => ToSqlOutput::Owned(SqlValue::Integer(i64::from(b))),
        Cell::Time(Some(t)) => ToSqlOutput::Owned(SqlValue::Text(time_text(t))),
    }
}

fn read_row(row: &rusqlite::Row) -> rusqlite::Result<Statement> {
    let mut out = Vec::with_capacity(COLUMNS.len());
    for (i, (_, kind, _)) in COLUMNS.iter().enumerate() {
        out.push(match kind {
            Kind::Text => OwnedCell::Text(row.get(i)?),
            Kind::Bool => OwnedCell::Bool(row.get(i)?),
            Kind::Time => OwnedCell::Time(match row.get_ref(i)? {
                ValueRef::Text(text) => std::str::from_utf8(text).ok().and_then(parse_time_text),
                _ => None,
            }),
        });
    }
    Ok(statement_from_cells(out))
}

/// A SQLite error as a journal error naming the database file. When SQLite reports a full
/// database or an I/O failure (a full disk gives either: `disk I/O error` when the WAL index
/// cannot grow), a probe write beside the file tells whether the device has no space left, and
/// the message says so.
fn sqlite_error(file: &Path, e: rusqlite::Error) -> Error {
    let io =
        matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::SystemIoFailure));
    if io && file.parent().is_some_and(out_of_space) {
        return journal_error(format!("{}: no space left on the device ({e})", file.display()));
    }
    journal_error(format!("{}: {e}", file.display()))
}

/// Whether writing a page to a new file in `dir` fails for want of space.
fn out_of_space(dir: &Path) -> bool {
    let probe = dir.join(format!(".space-probe-{}", uuid::Uuid::new_v4().simple()));
    let written = std::fs::File::create_new(&probe).and_then(|mut f| {
        std::io::Write::write_all(&mut f, &[0; 4096])?;
        f.sync_all()
    });
    let _ = std::fs::remove_file(&probe);
    matches!(written, Err(e) if e.kind() == std::io::ErrorKind::StorageFull)
}

/// Takes the cross-process flush lock of `table` in the file `database` (see the module docs):
/// the locked file, or `None` when another process holds it.
fn flush_lock_file(database: &Path, table: &str) -> Result<Option<std::fs::File>> {
    let path = PathBuf::from(format!("{}-{table}.flush", database.display()));
    let failed = |e: std::io::Error| journal_error(format!("{}: {e}", path.display()));
    // Read-only when another user made it: `flock` needs no write access.
    let options = std::fs::File::options().create(true).truncate(false).write(true).open(&path);
    let file = options.or_else(|_| std::fs::File::open(&path)).map_err(failed)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(failed(e)),
    }
}

fn segments(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let prefix = format!("{table}-seg-");
    let mut stmt =
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, ?1) = ?2 ORDER BY name")?;
    let names = stmt.query_map((prefix.len() as i64, &prefix), |r| r.get(0))?;
    names.collect()
}

impl SqliteJournal {
    /// Opens the database file `path` (relative to the working directory unless absolute:
    /// `sqlite:///relative.db`, `sqlite:////absolute.db`).
    pub(super) async fn open(path: &str, table: String) -> Result<SqliteJournal> {
        let create = create_table_sql(&table, "DATETIME");
        let path = PathBuf::from(path);
        let opening = path.clone();
        let (conn, file) = tokio::task::spawn_blocking(move || -> rusqlite::Result<(Shared, PathBuf)> {
            if let Some(parent) = opening.parent().filter(|p| !p.as_os_str().is_empty()) {
                let _ = std::fs::create_dir_all(parent);
            }
            let conn = Connection::open(&opening)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            conn.execute(&create, [])?;
            // One key (and lock file) per database, whatever path names it.
            let file = std::fs::canonicalize(&opening).or_else(|_| std::path::absolute(&opening)).unwrap_or(opening);
            Ok((Arc::new(Mutex::new(conn)), file))
        })
        .await
        .map_err(journal_error)?
        .map_err(|e| sqlite_error(&path, e))?;
        let flushing = flush_lock(&format!("{}#{table}", file.display()));
        Ok(SqliteJournal { conn, table, flushing, file })
    }

    pub(super) fn table(&self) -> &str {
        &self.table
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection, &str) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let (conn, table) = (self.conn.clone(), self.table.clone());
        tokio::task::spawn_blocking(move || f(&mut conn.lock().expect("journal connection"), &table))
            .await
            .map_err(Error::task("journal"))?
            .map_err(|e| sqlite_error(&self.file, e))
    }

    pub(super) async fn put(&self, statements: Vec<Statement>) -> Result<()> {
        let buckets = buckets(&statements)?;
        self.with(move |conn, table| {
            let marks = vec!["?"; COLUMNS.len()].join(", ");
            let sql = format!("INSERT INTO \"{table}\" ({}) VALUES ({marks})", column_list());
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(&sql)?;
                for (s, bucket) in statements.iter().zip(buckets) {
                    insert.execute(params_from_iter(cells(s, bucket).into_iter().map(to_sql)))?;
                }
            }
            tx.commit()
        })
        .await
    }

    pub(super) async fn count(&self) -> Result<u64> {
        self.with(|conn, table| {
            let mut total = 0u64;
            for t in std::iter::once(table.to_string()).chain(segments(conn, table)?) {
                total += conn.query_row(&format!("SELECT count(*) FROM \"{t}\""), [], |r| r.get::<_, i64>(0))? as u64;
            }
            Ok(total)
        })
        .await
    }

    pub(super) async fn clear(&self) -> Result<()> {
        self.with(|conn, table| {
            for segment in segments(conn, table)? {
                conn.execute(&format!("DROP TABLE IF EXISTS \"{segment}\""), [])?;
            }
            conn.execute(&format!("DELETE FROM \"{table}\""), [])?;
            Ok(())
        })
        .await
    }

    pub(super) async fn entity_rows(&self, entity_id: &str) -> Result<Vec<Statement>> {
        let entity_id = entity_id.to_string();
        self.with(move |conn, table| {
            let mut out = Vec::new();
            for t in std::iter::once(table.to_string()).chain(segments(conn, table)?) {
                let sql = format!("SELECT {} FROM \"{t}\" WHERE entity_id = ?1 AND deleted_at IS NULL", column_list());
                let mut stmt = conn.prepare(&sql)?;
                for row in stmt.query_map([&entity_id], read_row)? {
                    out.push(row?);
                }
            }
            Ok(out)
        })
        .await
    }

    /// Moves the live rows to a new segment, if there are any.
    async fn rotate(&self) -> Result<()> {
        self.with(|conn, table| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let has_rows = tx.prepare(&format!("SELECT 1 FROM \"{table}\" LIMIT 1"))?.exists([])?;
            if has_rows {
                tx.execute(&format!("ALTER TABLE \"{table}\" RENAME TO \"{}\"", segment_name(table)), [])?;
                tx.execute(&create_table_sql(table, "DATETIME"), [])?;
            }
            tx.commit()
        })
        .await
    }

    pub(super) async fn drain<F: Future<Output = Result<()>>>(
        &self,
        batch_rows: usize,
        mut sink: impl FnMut(StatementRows) -> F,
    ) -> Result<Option<u64>> {
        let Ok(_running) = self.flushing.try_lock() else {
            return Ok(None);
        };
        let Some(_across_processes) = flush_lock_file(&self.file, &self.table)? else {
            return Ok(None);
        };
        self.rotate().await?;
        let mut total = 0u64;
        for segment in self.with(|conn, table| segments(conn, table)).await? {
            // The reading thread hands over small chunks; batches are assembled here, so at most
            // one batch is held while the previous one is being appended.
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Statement>>(READ_AHEAD_CHUNKS);
            let (conn, name) = (self.conn.clone(), segment.clone());
            let producer = tokio::task::spawn_blocking(move || -> rusqlite::Result<()> {
                let conn = conn.lock().expect("journal connection");
                let sql = format!("SELECT {} FROM \"{name}\"", column_list());
                let mut stmt = conn.prepare(&sql)?;
                let mut rows = stmt.query([])?;
                let mut chunk = Vec::with_capacity(CHUNK_ROWS);
                while let Some(row) = rows.next()? {
                    chunk.push(read_row(row)?);
                    if chunk.len() >= CHUNK_ROWS && tx.blocking_send(std::mem::take(&mut chunk)).is_err() {
                        return Ok(());
                    }
                }
                let _ = tx.blocking_send(chunk);
                Ok(())
            });
            let mut batcher = Batcher::new(batch_rows);
            while let Some(chunk) = rx.recv().await {
                for row in chunk {
                    if let Some(batch) = batcher.push(&row)? {
                        total += batch.len() as u64;
                        sink(batch).await?;
                    }
                }
            }
            if let Some(batch) = batcher.finish() {
                total += batch.len() as u64;
                sink(batch).await?;
            }
            producer.await.map_err(Error::task("journal read"))?.map_err(|e| sqlite_error(&self.file, e))?;
            self.with(move |conn, _| conn.execute(&format!("DROP TABLE IF EXISTS \"{segment}\""), []).map(|_| ()))
                .await?;
        }
        Ok(Some(total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_text_is_the_strftime_spelling_and_reads_back() {
        for text in ["2026-11-21T04:18:41.493270Z", "2019-01-02T03:04:05Z", "0999-12-31T23:59:59.000001Z"] {
            let t = parse_iso(text).unwrap();
            assert_eq!(time_text(t), t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(), "{text}");
            assert_eq!(parse_time_text(&time_text(t)), Some(t), "{text}");
        }
    }
}
