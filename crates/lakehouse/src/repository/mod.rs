//! The repository layer: datasets and what they hold, built on the storage layer.
//!
//! * [`archive`]: source files added from paths, with their records and tags;
//! * [`catalog`]: the lakehouse root, its datasets and their `config.yml`;
//! * [`config`]: the dataset configuration model;
//! * [`entities`]: writing entities through the journal and reading them back;
//! * [`mappings`]: the dataset's CSV mappings, stored and versioned;
//! * [`query`]: queries on a dataset's entities, one-entity lookups, dropping an origin;
//!   `indexed`: the queries the entity index answers.

pub mod archive;
pub mod catalog;
pub mod config;
pub mod entities;
mod indexed;
pub mod mappings;
pub mod query;

pub use archive::ArchiveRepository;
pub use catalog::{Catalog, Dataset};
pub use config::DatasetConfig;
pub use entities::{BulkWriter, EntityRepository, FlushMetrics, WriteOptions};
pub use mappings::MappingRepository;
pub use query::{EntityLines, QueryStream};
