//! The FollowTheMoney (FtM) model in Rust, compatible with followthemoney 4.11.2 as the
//! ftm-lakehouse reference uses it ("Level A" of spec `ftm-model.md`).
//!
//! * [`Model`] / [`model()`]: the 71 schemata, embedded at build time, with inheritance, reverse
//!   stubs, labels, captions and flags resolved.
//! * [`Entity`]: entity JSON in and out, in cleaned mode (values kept as given).
//! * [`Statement`]: the statement record, [`make_key`], and the conversions entity → statements
//!   ([`explode()`]) and statements → entity ([`aggregate()`]).
//!
//! This crate knows nothing of storage: no Delta, no journal, no partitions.

pub mod aggregate;
pub mod clean;
pub mod countries;
pub mod cypher;
pub mod entity;
pub mod error;
pub mod explode;
pub mod ids;
pub mod mapping;
pub mod model;
pub mod schema;
pub mod statement;
pub mod time;
pub mod types;

pub use aggregate::{EntityRecord, aggregate, statement_caption};
pub use entity::Entity;
pub use error::{FtmError, Result};
pub use explode::explode;
pub use model::{Model, model};
pub use schema::{Edge, Property, Schema, TemporalExtent};
pub use statement::{Statement, StatementFields, make_key};
pub use types::PropertyType;
