//! The operation layer: what users ask for, built on the repository layer. Each operation takes
//! an options struct and returns a metrics struct that the CLI prints and the API serialises.
//!
//! * [`artifacts`]: the published export files and reading them back;
//! * [`crawl`]: a local folder, a bucket prefix or an http(s) file into the archive, with a
//!   Document entity per file;
//! * [`download`]: the archived files back under their paths, into a folder or a bucket;
//! * [`export`]: the published artifacts of a dataset, and their diffs, in one sweep;
//! * [`jobs`]: the run record of every job, written as it starts and when it ends;
//! * [`import`]: entities (FtM JSON lines) and statements (CSV) into the journal;
//! * [`make`]: flush, optimize and export: the main job;
//! * [`mapping`]: an archived CSV file mapped to entities by its stored mapping;
//! * [`migrate`]: older layouts (the seed's, older reference tables) brought to today's;
//! * [`optimize`]: merge and vacuum the statement store;
//! * [`queue`]: a tenant's queued mutations run in order, each removed once durable;
//! * [`shard`]: the statement table rewritten for another shard count;
//! * [`verify`]: the table's files and the archive's blobs checked, staging leftovers removed;
//! * [`zfs_agent`]: the host-side service creating ZFS datasets for clients without ZFS tools.

pub mod artifacts;
pub mod crawl;
pub mod download;
pub mod export;
pub mod import;
pub mod jobs;
pub mod make;
pub mod mapping;
pub mod migrate;
pub mod optimize;
pub mod queue;
pub mod shard;
pub mod verify;
pub mod zfs_agent;
