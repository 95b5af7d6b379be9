//! The PostgreSQL journal backend (tokio-postgres, no TLS).
//!
//! Inserts use binary `COPY … FROM STDIN`. A flush holds the session advisory lock
//! `pg_try_advisory_lock(crc32(table name))` — the key the reference uses, so a reference process
//! and this one never flush the same journal at once — and rotates the live table under
//! `lock_timeout = '5s'`. Segments are read with one ordered query whose rows stream from the
//! server.

use std::pin::pin;
use std::sync::Arc;

use ftm::Statement;
use futures::TryStreamExt;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Row};

use super::{
    Batcher, COLUMNS, Cell, Kind, OwnedCell, buckets, cells, column_list, create_table_sql, journal_error,
    segment_name, statement_from_cells,
};
use crate::error::Result;
use crate::storage::rows::StatementRows;

/// The PostgreSQL journal of one dataset.
pub struct PostgresJournal {
    client: Arc<tokio::sync::Mutex<Client>>,
    table: String,
}

/// Releases the advisory flush lock of a drain that ended without releasing it: its future was
/// dropped (an API client gone mid-request), and the session would otherwise keep the lock, so
/// every other process's flush would wait on it. The unlock runs on a task of its own, once
/// the drain's hold on the connection is gone.
struct Unlock {
    client: Arc<tokio::sync::Mutex<Client>>,
    key: i64,
    armed: bool,
}

impl Drop for Unlock {
    fn drop(&mut self) {
        if let (true, Ok(runtime)) = (self.armed, tokio::runtime::Handle::try_current()) {
            let (client, key) = (self.client.clone(), self.key);
            runtime.spawn(async move {
                if let Err(e) = client.lock().await.execute("SELECT pg_advisory_unlock($1)", &[&key]).await {
                    tracing::warn!(error = %e, "journal: releasing the flush lock of a dropped flush failed");
                }
            });
        }
    }
}

fn column_types() -> Vec<Type> {
    COLUMNS
        .iter()
        .map(|(_, kind, _)| match kind {
            Kind::Text => Type::TEXT,
            Kind::Bool => Type::BOOL,
            Kind::Time => Type::TIMESTAMPTZ,
        })
        .collect()
}

fn read_row(row: &Row) -> Result<Statement> {
    let mut out = Vec::with_capacity(COLUMNS.len());
    for (i, (_, kind, _)) in COLUMNS.iter().enumerate() {
        out.push(match kind {
            Kind::Text => OwnedCell::Text(row.try_get(i).map_err(journal_error)?),
            Kind::Bool => OwnedCell::Bool(row.try_get(i).map_err(journal_error)?),
            Kind::Time => OwnedCell::Time(row.try_get(i).map_err(journal_error)?),
        });
    }
    Ok(statement_from_cells(out))
}

impl PostgresJournal {
    /// Connects to `uri` (`postgresql://…`; a SQLAlchemy `+driver` suffix is ignored).
    pub(super) async fn open(uri: &str, table: String) -> Result<PostgresJournal> {
        let uri = match uri.split_once("://") {
            Some((scheme, rest)) => format!("{}://{rest}", scheme.split('+').next().unwrap_or(scheme)),
            None => uri.to_string(),
        };
        let (client, connection) = tokio_postgres::connect(&uri, NoTls).await.map_err(journal_error)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing_error(&e);
            }
        });
        client.execute(&create_table_sql(&table, "TIMESTAMP WITH TIME ZONE"), &[]).await.map_err(journal_error)?;
        Ok(PostgresJournal { client: Arc::new(tokio::sync::Mutex::new(client)), table })
    }

    pub(super) fn table(&self) -> &str {
        &self.table
    }

    async fn segments(&self, client: &Client) -> Result<Vec<String>> {
        let prefix = format!("{}-seg-", self.table);
        let rows = client
            .query(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND left(tablename, $1) = $2 ORDER BY tablename",
                &[&(prefix.chars().count() as i32), &prefix],
            )
            .await
            .map_err(journal_error)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn tables(&self, client: &Client) -> Result<Vec<String>> {
        Ok(std::iter::once(self.table.clone()).chain(self.segments(client).await?).collect())
    }

    pub(super) async fn put(&self, statements: Vec<Statement>) -> Result<()> {
        let buckets = buckets(&statements)?;
        let client = self.client.lock().await;
        let sql = format!("COPY \"{}\" ({}) FROM STDIN BINARY", self.table, column_list());
        let sink = client.copy_in(&sql).await.map_err(journal_error)?;
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &column_types()));
        for (s, bucket) in statements.iter().zip(buckets) {
            let row = cells(s, bucket);
            let values: Vec<&(dyn ToSql + Sync)> = row
                .iter()
                .map(|cell| match cell {
                    Cell::Text(t) => t as &(dyn ToSql + Sync),
                    Cell::Bool(b) => b as &(dyn ToSql + Sync),
                    Cell::Time(t) => t as &(dyn ToSql + Sync),
                })
                .collect();
            writer.as_mut().write(&values).await.map_err(journal_error)?;
        }
        writer.finish().await.map_err(journal_error)?;
        Ok(())
    }

    pub(super) async fn count(&self) -> Result<u64> {
        let client = self.client.lock().await;
        let mut total = 0u64;
        for t in self.tables(&client).await? {
            let row = client.query_one(&format!("SELECT count(*) FROM \"{t}\""), &[]).await.map_err(journal_error)?;
            total += row.get::<_, i64>(0) as u64;
        }
        Ok(total)
    }

    pub(super) async fn clear(&self) -> Result<()> {
        let client = self.client.lock().await;
        for segment in self.segments(&client).await? {
            client.execute(&format!("DROP TABLE IF EXISTS \"{segment}\""), &[]).await.map_err(journal_error)?;
        }
        client.execute(&format!("DELETE FROM \"{}\"", self.table), &[]).await.map_err(journal_error)?;
        Ok(())
    }

    pub(super) async fn entity_rows(&self, entity_id: &str) -> Result<Vec<Statement>> {
        let client = self.client.lock().await;
        let mut out = Vec::new();
        for t in self.tables(&client).await? {
            let sql = format!("SELECT {} FROM \"{t}\" WHERE entity_id = $1 AND deleted_at IS NULL", column_list());
            for row in client.query(&sql, &[&entity_id]).await.map_err(journal_error)? {
                out.push(read_row(&row)?);
            }
        }
        Ok(out)
    }

    async fn rotate(&self, client: &mut Client) -> Result<()> {
        let tx = client.transaction().await.map_err(journal_error)?;
        tx.batch_execute("SET LOCAL lock_timeout = '5s'").await.map_err(journal_error)?;
        let has_rows = !tx
            .query(&format!("SELECT 1 FROM \"{}\" LIMIT 1", self.table), &[])
            .await
            .map_err(journal_error)?
            .is_empty();
        if has_rows {
            let rename = format!("ALTER TABLE \"{}\" RENAME TO \"{}\"", self.table, segment_name(&self.table));
            tx.batch_execute(&rename).await.map_err(journal_error)?;
            tx.batch_execute(&create_table_sql(&self.table, "TIMESTAMP WITH TIME ZONE"))
                .await
                .map_err(journal_error)?;
        }
        tx.commit().await.map_err(journal_error)
    }

    pub(super) async fn drain<F: Future<Output = Result<()>>>(
        &self,
        batch_rows: usize,
        mut sink: impl FnMut(StatementRows) -> F,
    ) -> Result<Option<u64>> {
        let mut client = self.client.lock().await;
        let key = i64::from(crc32fast::hash(self.table.as_bytes()));
        let locked: bool =
            client.query_one("SELECT pg_try_advisory_lock($1)", &[&key]).await.map_err(journal_error)?.get(0);
        if !locked {
            return Ok(None);
        }
        let mut unlock = Unlock { client: self.client.clone(), key, armed: true };
        let drained = self.drain_locked(&mut client, batch_rows, &mut sink).await;
        client.execute("SELECT pg_advisory_unlock($1)", &[&key]).await.map_err(journal_error)?;
        unlock.armed = false;
        drained.map(Some)
    }

    async fn drain_locked<F: Future<Output = Result<()>>>(
        &self,
        client: &mut Client,
        batch_rows: usize,
        sink: &mut impl FnMut(StatementRows) -> F,
    ) -> Result<u64> {
        self.rotate(client).await?;
        let mut total = 0u64;
        for segment in self.segments(client).await? {
            let sql = format!("SELECT {} FROM \"{segment}\"", column_list());
            let no_params: [&(dyn ToSql + Sync); 0] = [];
            let mut rows = pin!(client.query_raw(&sql, no_params).await.map_err(journal_error)?);
            let mut batcher = Batcher::new(batch_rows);
            while let Some(row) = rows.try_next().await.map_err(journal_error)? {
                if let Some(batch) = batcher.push(&read_row(&row)?)? {
                    total += batch.len() as u64;
                    sink(batch).await?;
                }
            }
            if let Some(batch) = batcher.finish() {
                total += batch.len() as u64;
                sink(batch).await?;
            }
            client.execute(&format!("DROP TABLE IF EXISTS \"{segment}\""), &[]).await.map_err(journal_error)?;
        }
        Ok(total)
    }
}

/// Reports a dropped PostgreSQL connection (the next call then fails with a clear error).
fn tracing_error(e: &tokio_postgres::Error) {
    tracing::warn!(error = %e, "journal: PostgreSQL connection closed");
}
