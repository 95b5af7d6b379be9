//! A lakehouse server (`ftm-lakehouse api`) as a child process, for the suites that drive it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStderr, Command, Stdio};

/// A running `ftm-lakehouse api` on a free port of 127.0.0.1, killed when dropped.
pub struct Served {
    /// The server process.
    pub process: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The server's stderr after its first line (`Serving … on http://…`).
    pub stderr: BufReader<ChildStderr>,
}

impl Served {
    /// Starts the binary `bin` serving `lake` (in-memory journal, no key; `env` on top) and
    /// returns once it listens.
    ///
    /// # Panics
    /// If the server does not start.
    pub fn start(bin: &Path, lake: &Path, env: &[(&str, &str)]) -> Served {
        let mut process = Command::new(bin)
            .arg("--uri")
            .arg(lake)
            .args(["api", "--port", "0"])
            .env_remove("LAKEHOUSE_URI")
            .env_remove("LAKEHOUSE_API_KEY")
            .env_remove("LAKEHOUSE_API_SECRET")
            .env("LAKEHOUSE_JOURNAL_URI", "sqlite:///:memory:")
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(process.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        assert!(line.starts_with("Serving "), "the server did not start: {line}");
        let addr = line.trim().rsplit("http://").next().unwrap().to_string();
        Served { process, addr, stderr }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
