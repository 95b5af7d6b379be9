//! `ftm-lakehouse`: the command line of the FollowTheMoney data lakehouse.
//!
//! Thin by design (`../shared/STYLE.md`): flags are parsed into plain structs and handed to the
//! `lakehouse` library. Global options and exit codes follow the reference 0.9.0 (spec
//! `interfaces.md` §1.1, §1.3): usage errors exit 2 with clap's message; any other error prints
//! one line `error: <message>` to stderr and exits 1; human-readable results go to stderr,
//! data to stdout.

mod cli;
mod commands;
mod context;
mod logging;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::CommandFactory;
use lakehouse::Settings;
use lakehouse::model::DatasetName;
use lakehouse::operation::artifacts::{ENTITIES, STATEMENTS};

use crate::cli::{Cli, Command, EntitiesCommand, MaintenanceCommand, StatementsCommand};
use crate::commands::{
    Records, api, archive, catalog, entities, import, maintenance, make, mappings, queue, statements, stream, tags, zfs,
};
use crate::context::Context;

/// jemalloc instead of the system allocator: the pipelines allocate on one thread and free on
/// another, which glibc's allocator pays for in `malloc_consolidate`; and jemalloc keeps freed
/// pages for reuse, where mimalloc hands them back at once and then faults them in again.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's start-up options (its `malloc_conf`): freed pages are kept for reuse instead of
/// being purged on a timer. An import or `make` frees and refills large batches all the time,
/// and with purging each refill faults its pages in again, which shows as system time. The
/// price is that the process keeps its peak resident size until it exits: every command here
/// is a batch job, and the ZFS agent's peak is small.
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &[u8; 36] = b"dirty_decay_ms:-1,muzzy_decay_ms:-1\0";

fn main() -> ExitCode {
    let cli = Cli::parse_or_exit();
    if cli.version {
        eprintln!("{} (compatible with ftm-lakehouse {REFERENCE_VERSION})", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(1);
        }
    };
    logging::init(&settings);
    let debug = settings.debug;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match runtime.block_on(run(cli, settings)) {
        Ok(code) => code,
        // The reader of stdout went away (`… | head`): what it wanted it has, as ripgrep does.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", message(&err));
            if debug {
                // `DEBUG` (spec `interfaces.md` §4.4): every cause, as the reference shows its traceback.
                for cause in err.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
            }
            ExitCode::from(1)
        }
    }
}

/// Whether writing to a closed pipe caused `err`.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let kind = match cause.downcast_ref::<lakehouse::Error>() {
            Some(lakehouse::Error::Io(_, e)) => Some(e.kind()),
            _ => cause
                .downcast_ref::<std::io::Error>()
                .map(std::io::Error::kind)
                .or_else(|| cause.downcast_ref::<serde_json::Error>().and_then(serde_json::Error::io_error_kind)),
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// The one-line message of an error: the contexts the CLI added, down to the first error of the
/// library, whose message is whole (it names the value and the cause; its sources would only
/// repeat it).
fn message(err: &anyhow::Error) -> String {
    let mut parts = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.last().is_some_and(|last: &String| last.contains(&text)) {
            parts.push(text);
        }
        if cause.downcast_ref::<lakehouse::Error>().is_some() {
            break;
        }
    }
    parts.join(": ").replace('\n', " ")
}

/// The reference release whose lake format, commands and HTTP API this build follows.
const REFERENCE_VERSION: &str = "0.9.0";

async fn run(cli: Cli, mut settings: Settings) -> Result<ExitCode> {
    // The `zfs` group needs no catalog (spec `interfaces.md` §1.1 step 3).
    let command = match cli.command {
        Some(Command::Zfs(command)) => return zfs::run(&settings, command).await,
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "ftm-lakehouse", &mut std::io::stdout());
            return Ok(ExitCode::SUCCESS);
        }
        command => command,
    };
    if let Some(uri) = &cli.uri {
        settings.uri.clone_from(uri);
    }
    let dataset = cli.dataset.as_deref().map(DatasetName::new).transpose()?;
    let ctx = Context::new(settings, dataset.clone(), cli.dataset_uri.as_deref())?;
    if cli.settings {
        let state = serde_json::json!({
            "settings": ctx.settings,
            "catalog": ctx.catalog.root().to_string(),
            "dataset": dataset.as_ref().map(DatasetName::as_str),
            "dataset_uri": dataset.as_ref().and_then(|_| ctx.dataset().ok()).map(|d| d.location().to_string()),
        });
        writeln!(std::io::stderr(), "{}", serde_json::to_string_pretty(&state)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let Some(command) = command else {
        Cli::command().write_help(&mut std::io::stderr())?;
        return Ok(ExitCode::from(2));
    };
    match command {
        Command::Ls(o) => catalog::ls(&ctx, &o.output).await?,
        Command::Datasets(o) => catalog::datasets(&ctx, &o.output).await?,
        Command::Configure { config } => catalog::configure(&ctx, &config).await?,
        Command::Crawl(args) => archive::crawl(&ctx, &args).await?,
        Command::Archive(command) => archive::archive(&ctx, command).await?,
        Command::Mappings(command) => mappings::mappings(&ctx, command).await?,
        Command::Tags(command) => return tags::tags(&ctx, command).await,
        Command::Queue(command) => queue::queue(&ctx, command).await?,
        Command::Entities(EntitiesCommand::Import(args)) => import(&ctx, &args, Records::Entities).await?,
        Command::Statements(StatementsCommand::Import(args)) => import(&ctx, &args, Records::Statements).await?,
        Command::Entities(EntitiesCommand::Iterate(args)) => {
            entities::iterate(&ctx, &args.output.output, &args.query).await?;
        }
        Command::Entities(EntitiesCommand::Get { id, origin, as_of, output }) => {
            return entities::get(&ctx, &output.output, &id, origin.as_deref(), as_of.as_deref()).await;
        }
        Command::Entities(EntitiesCommand::DeleteOrigin { origin }) => entities::delete_origin(&ctx, &origin).await?,
        Command::Statements(StatementsCommand::Iterate(args)) => {
            statements::iterate(&ctx, &args.output.output, &args.query).await?;
        }
        Command::Statements(StatementsCommand::Sql { query, format, as_of, output }) => {
            statements::sql(&ctx, &output.output, &query, format, as_of.as_deref()).await?;
        }
        Command::Entities(EntitiesCommand::Stream(o)) => stream(&ctx, &o.output, ENTITIES).await?,
        Command::Statements(StatementsCommand::Stream(o)) => stream(&ctx, &o.output, STATEMENTS).await?,
        Command::Make(args) => make::make(&ctx, &args).await?,
        Command::Export(args) => make::export(&ctx, &args).await?,
        Command::Maintenance(MaintenanceCommand::Flush { all }) => {
            maintenance::flush(&ctx, all, dataset.is_some()).await?;
        }
        Command::Maintenance(MaintenanceCommand::Optimize { retention_hours, force }) => {
            maintenance::optimize(&ctx, retention_hours, force.force).await?;
        }
        Command::Maintenance(MaintenanceCommand::Shard { shards, force }) => {
            maintenance::shard(&ctx, shards, force.force).await?;
        }
        Command::Maintenance(MaintenanceCommand::Migrate { all, force }) => {
            maintenance::migrate(&ctx, all, force.force, dataset.is_some()).await?;
        }
        Command::Maintenance(MaintenanceCommand::Compact) => maintenance::compact(&ctx).await?,
        Command::Maintenance(MaintenanceCommand::Unlock) => maintenance::unlock(&ctx).await?,
        Command::Maintenance(MaintenanceCommand::History(o)) => maintenance::history(&ctx, &o.output).await?,
        Command::Maintenance(MaintenanceCommand::Verify { archive, repair }) => {
            return maintenance::verify(&ctx, archive, repair).await;
        }
        Command::Api(args) => api::serve(&ctx, &args).await?,
        Command::Zfs(_) | Command::Completions { .. } => unreachable!("handled before the catalog is opened"),
    }
    Ok(ExitCode::SUCCESS)
}
