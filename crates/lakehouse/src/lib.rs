//! The ftm-lakehouse library: a FollowTheMoney data lakehouse compatible with the reference
//! implementation (ftm-lakehouse 0.9.0) on disk.
//!
//! Layers, each depending only on those listed before it (`../shared/STYLE.md`):
//! * [`model`]: lakehouse rules on top of the FtM model — dataset names, origins, buckets,
//!   shards;
//! * [`storage`]: single-purpose stores over a dataset's folder — the statement table, the
//!   journal, the archive, tags, versions, the write fence, ZFS datasets;
//! * [`repository`]: datasets and what they hold, built on the stores;
//! * [`operation`]: what users ask for (import, optimize, export, `make`, crawl, …), each with
//!   an options struct and a metrics struct.
//!
//! [`settings`] reads the `LAKEHOUSE_*` environment; [`error`] holds the one error type.

pub mod error;
pub mod model;
pub mod operation;
pub mod repository;
pub mod settings;
pub mod storage;
#[cfg(test)]
mod testing;

pub use deltalake::arrow;
pub use error::{Error, Result};
pub use settings::Settings;
