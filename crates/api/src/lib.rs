//! The ftm-lakehouse HTTP API (spec `interfaces.md` §3): the server that lets tenants on other
//! machines write, query and operate a lake, wire-compatible with the reference's.
//!
//! The top layer beside the command line: it depends on the `lakehouse` library's operations
//! and repositories and nothing depends on it but the CLI's `api` command.
//!
//! * [`server`]: the router and the listening server, with graceful stop;
//! * [`entities`]: ensure, journal bulk, flush, stats, version, deletes;
//! * [`query`]: the NDJSON query routes; [`operations`]: jobs by name;
//! * [`blob`]: the blob protocol over the lake root;
//! * [`auth`]: the key and secret check; [`docs`]: the OpenAPI document and its page;
//! * [`settings`]: `LAKEHOUSE_API_*`; [`error`]: errors as responses; [`state`]: what requests
//!   share.

pub mod auth;
pub mod blob;
pub mod docs;
pub mod entities;
pub mod error;
pub mod operations;
pub mod query;
pub mod server;
pub mod settings;
pub mod state;

pub use server::{Server, router, stop_signal};
pub use settings::ApiSettings;
