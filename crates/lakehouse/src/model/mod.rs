//! Lakehouse rules on top of the FtM model: what a dataset name, an origin, a bucket, a shard, an
//! archived file and its MIME type are, and what a query asks. Pure functions, no I/O.

pub mod dataset;
pub mod file;
pub mod mapping;
pub mod mime;
pub mod origin;
pub mod partition;
pub mod query;
pub mod queue;

pub use dataset::DatasetName;
pub use origin::validate_origin;
pub use partition::{Bucket, shard};
