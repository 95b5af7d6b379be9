//! The command tree and its flags (spec `interfaces.md` §1.1, §1.4).

use clap::{Parser, Subcommand};

/// FollowTheMoney data lakehouse: entity graph data and source documents on a Delta Lake.
#[derive(Debug, Parser)]
#[command(name = "ftm-lakehouse", disable_version_flag = true)]
pub struct Cli {
    /// Print the version to stderr and exit.
    #[arg(long)]
    pub version: bool,
    /// Print the resolved settings and CLI state to stderr and exit.
    #[arg(long)]
    pub settings: bool,
    /// Lakehouse root (catalog) for this invocation [default: $LAKEHOUSE_URI or `data`].
    #[arg(long, value_name = "URI")]
    pub uri: Option<String>,
    /// Dataset name (lowercase letters and digits separated by single underscores).
    #[arg(short = 'd', value_name = "NAME")]
    pub dataset: Option<String>,
    /// Explicit storage root of the dataset [default: {uri}/{NAME}].
    #[arg(long, value_name = "URI")]
    pub dataset_uri: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The sub-commands. Each later issue adds its own (`entities`, `statements`, `make`, …).
#[derive(Debug, Subcommand)]
pub enum Command {}
