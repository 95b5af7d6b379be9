//! `statements sql`: SQL over two views of the statement table, run by DataFusion (spec
//! `interfaces.md` §1.5, where the reference runs DuckDB).
//!
//! * `statement`: the live rows every read sees (the dedupe rules applied, tombstones removed),
//!   read by the same sorted merge as the exports, with two more columns: `canonical_id` (the
//!   entity id: the lakehouse stores no other) and `shard`.
//! * `statement_raw`: every physical row of the Delta table, partition columns included.
//!
//! Only queries run: DDL (`CREATE EXTERNAL TABLE …`), DML (`INSERT`, `COPY … TO`) and session
//! statements (`SET`) are refused, so a query cannot read or write files beside the lake.

use std::fmt;
use std::sync::{Arc, LazyLock};

use deltalake::arrow::array::{ArrayRef, AsArray, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema as ArrowSchema, SchemaRef};
use deltalake::datafusion::catalog::streaming::StreamingTable;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::SendableRecordBatchStream;
use deltalake::datafusion::execution::TaskContext;
use deltalake::datafusion::execution::context::SQLOptions;
use deltalake::datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use deltalake::datafusion::physical_plan::streaming::PartitionStream;
use futures::{StreamExt, TryStreamExt};

use super::batch::EntityBatch;
use super::columns::row_schema;
use super::{Filter, StatementStore};
use crate::error::{Error, Result};
use crate::model::shard;

/// The view of live rows.
pub const LIVE_VIEW: &str = "statement";
/// The view of every physical row.
pub const RAW_VIEW: &str = "statement_raw";

/// [`row_schema`] plus `canonical_id` and `shard`.
fn live_schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let mut fields: Vec<Field> = row_schema().fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new("canonical_id", DataType::Utf8, false));
        fields.push(Field::new("shard", DataType::Utf8, false));
        Arc::new(ArrowSchema::new(fields))
    });
    SCHEMA.clone()
}

/// The rows of the entities of `batch`, one record batch per part, with the extra columns.
fn live_batches(batch: &EntityBatch, shards: u32) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for rows in batch.selected()? {
        if rows.num_rows() == 0 {
            continue;
        }
        let ids =
            rows.column_by_name("entity_id").cloned().ok_or_else(|| Error::Corrupt("no entity_id column".into()))?;
        let entity_ids = ids.as_string_opt::<i32>().ok_or_else(|| Error::Corrupt("entity_id is not text".into()))?;
        let shard_ids: StringArray = entity_ids.iter().map(|id| id.map(|id| shard(id, shards))).collect();
        let mut arrays: Vec<ArrayRef> = rows.columns().to_vec();
        arrays.push(ids);
        arrays.push(Arc::new(shard_ids));
        out.push(RecordBatch::try_new(live_schema(), arrays)?);
    }
    Ok(out)
}

/// The live rows as one DataFusion partition: a full scan of the store when executed.
struct LiveRows {
    store: StatementStore,
    schema: SchemaRef,
}

impl fmt::Debug for LiveRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveRows").finish_non_exhaustive()
    }
}

fn external(error: Error) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

impl PartitionStream for LiveRows {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let store = self.store.clone();
        let batches = futures::stream::once(async move { store.scan(&Filter::default()).await })
            .map_ok(move |stream| {
                futures::stream::try_unfold(stream, move |mut stream| async move {
                    let Some(batch) = stream.next_batch().await? else { return Ok::<_, Error>(None) };
                    let rows = live_batches(&batch, stream.shards())?.into_iter().map(Ok::<_, Error>);
                    Ok(Some((futures::stream::iter(rows), stream)))
                })
                .try_flatten()
            })
            .try_flatten()
            .map_err(external);
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), batches.boxed()))
    }
}

impl StatementStore {
    /// Runs `sql` over the [`LIVE_VIEW`] and [`RAW_VIEW`] views, under a read lease (see
    /// [`Fence::read`](crate::storage::fence::Fence::read)); returns the result's batches.
    ///
    /// # Errors
    /// [`Error::Query`] for SQL that does not parse or plan, names an unknown table or column,
    /// or is not a query, and when the query fails while it runs.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        let lease = self.fence.read().await.ok();
        let Some(table) = self.table().await? else {
            return Err(Error::InvalidQuery(format!("dataset `{}` holds no statements yet", self.dataset)));
        };
        let ctx = self.session(&table).await?;
        ctx.register_table(RAW_VIEW, ctx.table_provider(super::scan::TABLE).await?)?;
        ctx.deregister_table(super::scan::TABLE)?;
        let live = LiveRows { store: self.clone(), schema: live_schema() };
        ctx.register_table(LIVE_VIEW, Arc::new(StreamingTable::try_new(live_schema(), vec![Arc::new(live)])?))?;
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let batches = ctx.sql_with_options(sql, options).await?.collect().await?;
        if let Some(lease) = lease {
            lease.release().await?;
        }
        Ok(batches)
    }
}
