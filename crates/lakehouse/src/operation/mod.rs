//! The operation layer: what users ask for, built on the repository layer. Each operation takes
//! an options struct and returns a metrics struct that the CLI prints and the API serialises.
//!
//! * [`artifacts`]: the published export files and reading them back;
//! * [`import`]: entities (FtM JSON lines) and statements (CSV) into the journal;
//! * [`optimize`]: merge, compact and vacuum the statement store.

pub mod artifacts;
pub mod import;
pub mod optimize;
