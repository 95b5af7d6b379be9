//! Support for the crate's own tests: waiting for what another task does to show, instead of
//! sleeping, so that a test proving "this waits" cannot pass because the machine was slow.

use std::path::Path;
use std::time::{Duration, Instant};

/// Waits until `path` exists (a marker another task takes).
///
/// # Panics
/// After a minute without it.
pub(crate) async fn wait_for_file(path: &Path) {
    let started = Instant::now();
    while !path.exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "no {} in a minute", path.display());
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
