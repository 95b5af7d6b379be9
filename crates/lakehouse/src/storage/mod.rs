//! The storage layer: single-purpose stores over a dataset's folder (seed 001, "Layer 2").
//!
//! The stores:
//! * [`archive`]: content-addressed source files and their metadata records;
//! * [`journal`]: the SQL buffer statements wait in before a flush (SQLite, PostgreSQL);
//! * [`statements`]: the Delta Lake statement table, partitioned by `(shard, bucket, origin)`;
//! * [`entity_index`]: postings and line offsets of `entities.ftm.json`, for queries of
//!   equality leaves;
//! * [`fence`]: the dataset-wide write fence that orders appends and maintenance;
//! * [`tags`]: freshness timestamps; [`versions`]: files written with dated snapshots;
//! * [`zfs`]: the ZFS datasets of a dataset on a ZFS-backed lakehouse, created here or by an agent.
//!
//! What more than one of them uses:
//! * [`location`]: where a lake or dataset lives, a local folder or a prefix in a bucket;
//!   [`backends`]: the object store client of each bucket, also handed to delta-rs;
//!   [`remote`]: a lake served over HTTP by a lakehouse server (api mode);
//! * [`table_schema`]: the statement table's Arrow schema; [`rows`]: statements in its
//!   columns, packed, and read back (the journal and the table share both);
//! * [`write_behind`]: large local files (exports) written without filling the page cache;
//!   [`upload`]: large objects written in parts, published when whole; [`object_io`]: one
//!   object read or written by synchronous code (`-i`, `-o`, artifacts read back);
//!   `object_reader`: Parquet files in an object store, read with ranged requests.

pub mod archive;
pub mod backends;
pub mod entity_index;
pub mod fence;
pub mod journal;
pub mod location;
pub mod locks;
pub mod object_io;
pub(crate) mod object_reader;
pub mod queue;
pub mod remote;
pub mod rows;
pub mod statements;
pub mod table_schema;
pub mod tags;
pub mod upload;
pub mod versions;
pub mod write_behind;
pub mod zfs;

pub use fence::Fence;
pub use journal::JournalStore;
pub use location::Location;
pub use statements::StatementStore;
pub use tags::TagStore;
pub use versions::VersionStore;
