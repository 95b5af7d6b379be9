//! Support for the crate's own tests: waiting for a logged event instead of sleeping, so a test
//! that proves "this waits" cannot pass because the machine was slow.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// The text of the events logged on this thread while the guard of [`EventLog::capture`] lives.
#[derive(Clone, Default)]
pub(crate) struct EventLog(Arc<Mutex<Vec<u8>>>);

impl EventLog {
    /// Captures this thread's events: a `#[tokio::test]` runtime runs the test and the tasks it
    /// spawns on this thread.
    pub(crate) fn capture() -> (EventLog, tracing::subscriber::DefaultGuard) {
        let log = EventLog::default();
        let subscriber = tracing_subscriber::fmt().with_writer(log.clone()).with_ansi(false).finish();
        (log.clone(), tracing::subscriber::set_default(subscriber))
    }

    /// Waits until an event contains `text`.
    ///
    /// # Panics
    /// After a minute without it.
    pub(crate) async fn wait_for(&self, text: &str) {
        let started = Instant::now();
        while !String::from_utf8_lossy(&self.0.lock().unwrap()).contains(text) {
            assert!(started.elapsed() < Duration::from_secs(60), "no event with {text:?} in a minute");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

impl io::Write for EventLog {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for EventLog {
    type Writer = EventLog;

    fn make_writer(&'a self) -> EventLog {
        self.clone()
    }
}
