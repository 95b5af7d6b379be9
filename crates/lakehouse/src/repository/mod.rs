//! The repository layer: datasets and what they hold, built on the storage layer.
//!
//! * [`catalog`]: the lakehouse root, its datasets and their `config.yml`;
//! * [`config`]: the dataset configuration model.

pub mod catalog;
pub mod config;

pub use catalog::{Catalog, Dataset};
pub use config::DatasetConfig;
