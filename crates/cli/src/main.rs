//! `ftm-lakehouse`: the command line of the FollowTheMoney data lakehouse.
//!
//! Thin by design (`../shared/STYLE.md`): flags are parsed into plain structs and handed to the
//! `lakehouse` library. Global options and exit codes follow the reference 0.9.0 (spec
//! `interfaces.md` §1.1, §1.3): usage errors exit 2 with clap's message; any other error prints
//! one line `error: <message>` to stderr and exits 1; human-readable results go to stderr,
//! data to stdout.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory, Parser};
use lakehouse::Settings;
use lakehouse::model::DatasetName;

use crate::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            let chain: Vec<String> = err.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", chain.join(": "));
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    if cli.version {
        eprintln!("{}", env!("CARGO_PKG_VERSION"));
        return Ok(ExitCode::SUCCESS);
    }
    let mut settings = Settings::from_env()?;
    if let Some(uri) = &cli.uri {
        settings.uri.clone_from(uri);
    }
    let dataset = cli.dataset.as_deref().map(DatasetName::new).transpose()?;
    if cli.settings {
        let state = serde_json::json!({
            "settings": settings,
            "catalog": settings.uri,
            "dataset": dataset.as_ref().map(DatasetName::as_str),
            "dataset_uri": cli.dataset_uri.clone().or_else(|| dataset.as_ref().map(|d| format!("{}/{d}", settings.uri.trim_end_matches('/')))),
        });
        writeln!(std::io::stderr(), "{}", serde_json::to_string_pretty(&state)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    match cli.command {
        None => {
            Cli::command().write_help(&mut std::io::stderr())?;
            Ok(ExitCode::from(2))
        }
    }
}
