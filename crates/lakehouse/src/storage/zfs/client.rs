//! The client of a ZFS agent (spec `zfs.md` §6): one create request per connection over the
//! agent's Unix socket.
//!
//! Connecting, sending and waiting for the reply each have a timeout (60 s by default: the agent
//! runs `zfs create` before it answers), so a stuck agent cannot hang a lakehouse process; every
//! error names the socket.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::time::timeout;

use super::ZfsError;
use super::protocol::{CreateRequest, MAX_LINE_BYTES, Reply, read_line};

/// Default timeout of each step: connect, send, and wait for the reply (spec `zfs.md` §6).
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Sends create requests to the agent at one socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentClient {
    socket: PathBuf,
    timeout: Duration,
}

impl AgentClient {
    /// The agent listening at `socket`, with [`AGENT_TIMEOUT`].
    pub fn new(socket: impl Into<PathBuf>) -> AgentClient {
        AgentClient { socket: socket.into(), timeout: AGENT_TIMEOUT }
    }

    /// The same with another timeout per step.
    pub fn with_timeout(self, timeout: Duration) -> AgentClient {
        AgentClient { timeout, ..self }
    }

    /// Asks the agent to create `request.dataset`; `Ok` when it exists afterwards.
    ///
    /// # Errors
    /// [`ZfsError::AgentUnreachable`] if the socket cannot be connected to (missing, refused,
    /// permission denied); [`ZfsError::AgentTimeout`] naming the step that timed out;
    /// [`ZfsError::AgentIo`] if sending or receiving fails; [`ZfsError::CreateFailed`] for an
    /// error reply (`zfs create failed: <error>`), no reply or a malformed one.
    pub async fn create(&self, request: &CreateRequest) -> Result<(), ZfsError> {
        let mut stream = self
            .step("connect", UnixStream::connect(&self.socket))
            .await?
            .map_err(|error| ZfsError::AgentUnreachable { socket: self.socket.clone(), error })?;
        // An agent refusing the peer answers without reading, so sending may fail (broken pipe)
        // while the refusal waits to be read: read the reply either way.
        let sent = self.step("take the request", stream.write_all(request.to_line().as_bytes())).await?;
        let line = match (sent, self.step("reply", read_line(&mut stream, MAX_LINE_BYTES)).await?) {
            (_, Ok(line)) if !line.is_empty() => line,
            (Err(error), _) | (Ok(()), Err(error)) => return Err(self.io(error)),
            (Ok(()), Ok(line)) => line,
        };
        match Reply::parse(&line)? {
            Reply::Ok => Ok(()),
            Reply::Error(error) => Err(ZfsError::CreateFailed(error)),
        }
    }

    /// Runs `future` with the step timeout.
    async fn step<T>(&self, step: &'static str, future: impl Future<Output = T>) -> Result<T, ZfsError> {
        timeout(self.timeout, future).await.map_err(|_| ZfsError::AgentTimeout {
            socket: self.socket.clone(),
            step,
            timeout: self.timeout,
        })
    }

    fn io(&self, error: std::io::Error) -> ZfsError {
        ZfsError::AgentIo { socket: self.socket.clone(), error }
    }
}
