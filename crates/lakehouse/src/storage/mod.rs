//! The storage layer: single-purpose stores over a dataset's folder (seed 001, "Layer 2").
//!
//! * [`archive`]: content-addressed source files and their metadata records;
//! * [`statements`]: the Delta Lake statement table, partitioned by `(shard, bucket, origin)`;
//!   [`rows`]: statements in its data-file columns, as appends write them; [`columns`]: rows
//!   read back as columns, as merges and scans compare them; [`dedupe`]: the rules that collapse
//!   them; [`gather`]: runs of rows copied into one batch;
//! * [`fence`]: the dataset-wide write fence that orders appends and maintenance;
//! * [`tags`]: freshness timestamps; [`versions`]: files written with dated snapshots;
//! * [`write_behind`]: large local files (exports) written without filling the page cache;
//! * [`location`]: where a dataset lives (a local folder today; object stores later);
//! * [`zfs`]: the ZFS datasets of a dataset on a ZFS-backed lakehouse, created here or by an agent.

pub mod archive;
pub mod columns;
pub mod dedupe;
pub mod fence;
pub mod gather;
pub mod journal;
pub mod location;
pub mod rows;
pub mod schema;
pub mod statements;
pub mod tags;
pub mod versions;
pub mod write_behind;
pub mod zfs;

pub use fence::Fence;
pub use journal::JournalStore;
pub use location::Location;
pub use statements::StatementStore;
pub use tags::TagStore;
pub use versions::VersionStore;
