//! Running the built CLI on a local lake, as the test suites of `make` and the query commands do.

use std::path::Path;
use std::process::{Command, Output};

/// `ftm-lakehouse --uri LAKE ARGS…` with an in-memory journal and no `LAKEHOUSE_URI`.
pub fn run(lake: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
        .arg("--uri")
        .arg(lake)
        .args(args)
        .env_remove("LAKEHOUSE_URI")
        .env("LAKEHOUSE_JOURNAL_URI", "sqlite:///:memory:")
        .output()
        .unwrap()
}

/// The stdout of a command that must have succeeded.
pub fn ok(out: Output) -> String {
    assert!(out.status.success(), "command failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
