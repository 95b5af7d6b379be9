//! The lakehouse error type.

use thiserror::Error;

/// Everything the lakehouse library can fail with. Messages name the offending value.
#[derive(Debug, Error)]
pub enum Error {
    /// A dataset name that fails the FtM slug rule or is reserved.
    #[error("Invalid dataset name: '{name}'{reason}")]
    InvalidDatasetName { name: String, reason: &'static str },
    /// An origin label that cannot be a partition value (spec `storage-format.md` §2.5).
    #[error("Invalid origin {origin:?}: {reason}")]
    InvalidOrigin { origin: String, reason: &'static str },
    /// A `LAKEHOUSE_*` environment variable whose value does not parse.
    #[error("Invalid setting {var}={value:?}: {reason}")]
    InvalidSetting {
        var: String,
        value: String,
        reason: &'static str,
    },
    /// An error of the FtM model (unknown schema, stub property, …).
    #[error(transparent)]
    Ftm(#[from] ftm::FtmError),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
