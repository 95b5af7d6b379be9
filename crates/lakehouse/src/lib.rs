//! The ftm-lakehouse library: a FollowTheMoney data lakehouse compatible with the reference
//! implementation (ftm-lakehouse 0.9.0) on disk.
//!
//! Layers, each depending only on those below it (`../shared/STYLE.md`):
//! * [`model`]: lakehouse rules on top of the FtM model — dataset names, origins, buckets,
//!   shards;
//! * storage, repository and operation layers follow.

pub mod error;
pub mod model;
pub mod operation;
pub mod repository;
pub mod settings;
pub mod storage;

pub use error::{Error, Result};
pub use settings::Settings;
