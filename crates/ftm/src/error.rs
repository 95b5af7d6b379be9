//! Errors of the FtM model: loading the schema, reading entities, building statements.

use thiserror::Error;

/// What went wrong, naming the offending value. Messages are one line, meant for end users.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FtmError {
    /// The schema definition files are inconsistent (unknown parent, missing caption prop…).
    #[error("invalid FtM model: {0}")]
    Model(String),
    /// A schema name that the model does not define.
    #[error("unknown schema `{0}`")]
    UnknownSchema(String),
    /// A property name that the schema does not define.
    #[error("schema `{schema}` has no property `{prop}`")]
    UnknownProperty {
        /// The schema name.
        schema: String,
        /// The property name it lacks.
        prop: String,
    },
    /// A generated reverse (stub) property, which can never be written (spec §1.5).
    #[error(
        "property `{prop}` of schema `{schema}` is a reverse stub and cannot be written; set `{reverse}` on the other entity instead"
    )]
    StubProperty {
        /// The schema the stub was seen on.
        schema: String,
        /// The stub's name.
        prop: String,
        /// The property to set instead, on the other entity: `<range schema>:<name>`.
        reverse: String,
    },
    /// A property value that is not a string (`{"name": [1]}`).
    #[error("property `{prop}` has a value that is not a string: {value}")]
    NonStringValue {
        /// The property (or top-level key) the value was given for.
        prop: String,
        /// The value as JSON text.
        value: String,
    },
    /// The entity JSON is not of the expected shape.
    #[error("invalid entity: {0}")]
    InvalidEntity(String),
    /// The entity id is missing or does not pass the entity id rule (spec §3.2, §3.3).
    #[error("entity has no valid id (got {0})")]
    MissingId(String),
    /// An entity-typed property points at the entity itself.
    #[error("entity `{id}` refers to itself in property `{prop}`")]
    SelfReference {
        /// The entity id, namespace stripped.
        id: String,
        /// The entity-typed property holding the id.
        prop: String,
    },
    /// Two schemata that cannot be merged into one entity.
    #[error("schemata `{0}` and `{1}` cannot be merged: they share no common ancestor")]
    SchemaConflict(String, String),
    /// A timestamp that is not ISO 8601.
    #[error("invalid timestamp in `{field}`: {value:?}")]
    InvalidTimestamp {
        /// The key holding it (`first_seen`, `last_seen`, `last_change`).
        field: String,
        /// The text as given.
        value: String,
    },
}

/// Result with [`FtmError`].
pub type Result<T, E = FtmError> = std::result::Result<T, E>;
