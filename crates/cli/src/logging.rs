//! Where the lakehouse's log events go: stderr, filtered by `LOG_LEVEL`, as text or, with
//! `LOG_JSON`, as one JSON object per line for log collectors (spec `interfaces.md` §4.4: the
//! reference reads both without the `LAKEHOUSE_` prefix).
//!
//! The level applies to this project's crates. The libraries under them (delta-rs, DataFusion,
//! object_store, …) are heard only in `DEBUG` mode, and then only their warnings and errors:
//! some log an error for a state they expect and handle (the Delta kernel, for a table whose
//! first commit is being written), which would only alarm an operator.

use std::io::IsTerminal;

use lakehouse::Settings;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The crates whose events `LOG_LEVEL` governs.
const OWN_CRATES: [&str; 4] = ["ftm_lakehouse", "lakehouse", "lakehouse_api", "ftm"];

/// Installs the process's log subscriber from `settings` (`log_level`, `log_json`, `debug`).
/// Called once, first thing; a second call changes nothing.
pub fn init(settings: &Settings) {
    let level = settings.log_level.parse().unwrap_or(LevelFilter::INFO);
    let others = if settings.debug { LevelFilter::WARN } else { LevelFilter::OFF };
    let filter = Targets::new().with_targets(OWN_CRATES.map(|name| (name, level))).with_default(others);
    let registry = tracing_subscriber::registry().with(filter);
    let text = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    let _already = match settings.log_json {
        true => registry.with(text.json().flatten_event(true)).try_init(),
        false => registry.with(text).try_init(),
    };
}
