//! The ZFS agent: a host-side service that creates ZFS datasets for lakehouse processes that
//! cannot (containers without ZFS tools), over a Unix socket (spec `zfs.md` §7.2, §8).
//!
//! ```text
//! ftm-lakehouse zfs agent --socket /run/zfs.sock --pool zpools/tank/lakehouse --owner 1000:1000 --allowed-uid 1000
//! ```
//!
//! Two independent gates guard `zfs create`, which the agent usually runs as root:
//! * the socket file is mode `0600` and owned by the allowed uid, so only that uid (and root)
//!   can connect;
//! * the kernel-reported uid of the peer (`SO_PEERCRED`) must be the allowed uid — root is not
//!   exempt — checked before a single byte is read.
//!
//! Each connection carries one request line ([`protocol`](crate::storage::zfs::protocol)),
//! validated ([`validate`](crate::storage::zfs::validate)) before anything runs, and gets one
//! reply line. A connection has 10 s to deliver its line (a whole-line deadline, so a client
//! trickling bytes cannot hold a slot longer) and 64 KiB. Connections are served concurrently
//! (at most [`MAX_CONNECTIONS`]) while the `zfs` calls themselves run one at a time, so the
//! probe-then-create of one request is not raced by another. Nothing a client sends stops the
//! agent: every refusal is a reply, and a failed connection only ends that connection.
//!
//! **Creating the socket.** The socket is bound inside a fresh private directory (mode `0700`)
//! beside its final path, set to mode `0600`, handed to the allowed uid, and only then renamed to
//! its final path. So it never exists at that path with another mode or owner (no chmod window),
//! it is already listening when it appears, and whatever was at the path before (a stale socket,
//! a file, a dangling symlink) is replaced atomically. The alternative, setting the process umask
//! around `bind`, would change the umask of every thread of the process for that moment and
//! needs `unsafe` or another system-call crate.

use std::fs::{self, Permissions};
use std::future::Future;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::error::{Error, Result};
use crate::storage::zfs::protocol::{MAX_LINE_BYTES, read_line};
use crate::storage::zfs::validate::{ALLOWED_PROPERTIES, RequestError};
use crate::storage::zfs::{CreateRequest, LocalZfs, Policy, Reply};

/// Time a client has to send its whole request line (spec `zfs.md` §8.2, §8.6).
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at the same time; further clients wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 16;

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Path of the listening socket.
    pub socket: PathBuf,
    /// The pool datasets may be created in, and extra allowed properties.
    pub policy: Policy,
    /// The only peer uid served.
    pub allowed_uid: u32,
    /// Runs `zfs create`, chowning new mountpoints to the agent's owner.
    pub zfs: LocalZfs,
    /// Deadline for receiving a request line ([`READ_TIMEOUT`]); also bounds sending the reply.
    pub read_timeout: Duration,
    /// Cap of a request line, `\n` included, bytes ([`MAX_LINE_BYTES`]).
    pub max_request_bytes: usize,
}

impl AgentOptions {
    /// Options with the default limits: listen at `socket`, create under `pool`, chown new
    /// mountpoints to `owner` (`uid:gid`; `None` keeps root's), serve only `allowed_uid`.
    pub fn new(socket: PathBuf, pool: String, owner: Option<String>, allowed_uid: u32) -> AgentOptions {
        AgentOptions {
            socket,
            policy: Policy { pool, extra_properties: Vec::new() },
            allowed_uid,
            zfs: LocalZfs::new(owner),
            read_timeout: READ_TIMEOUT,
            max_request_bytes: MAX_LINE_BYTES,
        }
    }
}

/// A bound agent, ready to serve.
#[derive(Debug)]
pub struct Agent {
    listener: UnixListener,
    handler: Handler,
}

/// What serves one connection; shared by the connection tasks.
#[derive(Debug)]
struct Handler {
    options: AgentOptions,
    /// Held while `zfs` runs: one create at a time.
    zfs_turn: Mutex<()>,
}

/// The uid this process has as a Unix-socket peer (`SO_PEERCRED` of a socket pair): the
/// agent's default allowed uid. Needs a tokio runtime.
///
/// # Errors
/// The OS error of creating the pair or reading its credentials.
pub fn own_uid() -> io::Result<u32> {
    let (ours, _theirs) = UnixStream::pair()?;
    Ok(ours.peer_cred()?.uid())
}

impl Agent {
    /// Creates the listening socket at `options.socket`: mode `0600`, owned by the allowed uid,
    /// replacing whatever is at that path (see the module docs). Needs a tokio runtime.
    ///
    /// # Errors
    /// [`Error::Io`] naming the path if its folder cannot hold the socket (missing, not writable)
    /// or the path is a directory.
    pub fn bind(options: AgentOptions) -> Result<Agent> {
        let listener = bind_private(&options.socket, options.allowed_uid)
            .map_err(|e| Error::Io(format!("cannot create the ZFS agent socket {}", options.socket.display()), e))?;
        Ok(Agent { listener, handler: Handler { options, zfs_turn: Mutex::new(()) } })
    }

    /// Serves connections until `shutdown` completes (the CLI passes SIGTERM/SIGINT), then stops
    /// accepting, removes the socket and waits for the connections in progress.
    ///
    /// # Errors
    /// [`Error::Io`] if accepting a connection fails; the socket is removed as well.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let Agent { listener, handler } = self;
        let options = &handler.options;
        let socket = options.socket.clone();
        let mut allowed: Vec<&str> = ALLOWED_PROPERTIES.to_vec();
        allowed.extend(options.policy.extra_properties.iter().map(String::as_str));
        tracing::info!(
            socket = %socket.display(),
            pool = %options.policy.pool,
            owner = options.zfs.owner().unwrap_or("(unchanged)"),
            allowed_uid = options.allowed_uid,
            allowed_properties = allowed.join(","),
            "ZFS agent listening"
        );
        let handler = Arc::new(handler);
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        let outcome = loop {
            let slot = tokio::select! {
                () = &mut shutdown => break Ok(()),
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => break Ok(()),
                },
            };
            let stream = tokio::select! {
                () = &mut shutdown => break Ok(()),
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => break Err(Error::Io(format!("ZFS agent: accepting on {}", socket.display()), e)),
                },
            };
            let handler = handler.clone();
            connections.spawn(async move {
                handler.serve_connection(stream).await;
                drop(slot);
            });
            while let Some(finished) = connections.try_join_next() {
                log_failed_connection(finished);
            }
        };
        drop(listener);
        remove_socket(&socket);
        while let Some(finished) = connections.join_next().await {
            log_failed_connection(finished);
        }
        tracing::info!(socket = %socket.display(), "ZFS agent stopped");
        outcome
    }
}

impl Handler {
    /// One connection: peer check, one request line, one reply (spec `zfs.md` §8.2).
    async fn serve_connection(&self, mut stream: UnixStream) {
        let reply = match stream.peer_cred() {
            Err(e) => {
                tracing::warn!(error = %e, "ZFS agent: cannot read peer credentials");
                Some(Reply::Error(RequestError::PeerAuthFailed.to_string()))
            }
            Ok(peer) if peer.uid() != self.options.allowed_uid => {
                tracing::warn!(uid = peer.uid(), pid = ?peer.pid(), "ZFS agent: refused peer");
                Some(Reply::Error(RequestError::UnauthorizedPeer(peer.uid()).to_string()))
            }
            Ok(_) => self.receive_and_handle(&mut stream).await,
        };
        if let Some(reply) = reply {
            // The client may be gone; there is nobody to tell.
            let _ = timeout(self.options.read_timeout, stream.write_all(reply.to_line().as_bytes())).await;
        }
    }

    /// Reads the request line and handles it; `None` when there is nothing to answer (no line in
    /// time, a read error, or the client sent nothing).
    async fn receive_and_handle(&self, stream: &mut UnixStream) -> Option<Reply> {
        let max = self.options.max_request_bytes;
        let line = match timeout(self.options.read_timeout, read_line(stream, max)).await {
            Err(_) => {
                tracing::warn!(timeout = ?self.options.read_timeout, "ZFS agent: no request in time");
                return None;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "ZFS agent: reading the request failed");
                return None;
            }
            Ok(Ok(line)) if line.is_empty() => return None,
            Ok(Ok(line)) => line,
        };
        if line.len() > max {
            return Some(refuse(&RequestError::TooLarge));
        }
        let request = match CreateRequest::parse(&line, &self.options.policy) {
            Ok(request) => request,
            Err(e) => return Some(refuse(&e)),
        };
        let _turn = self.zfs_turn.lock().await;
        Some(match self.options.zfs.create(&request.dataset, &request.props, request.exist_ok).await {
            Ok(created) => {
                let outcome = if created { "created" } else { "exists" };
                tracing::info!(dataset = %request.dataset, outcome, "ZFS agent: dataset ensured");
                Reply::Ok
            }
            Err(e) => {
                tracing::error!(dataset = %request.dataset, error = %e, "ZFS agent: create failed");
                Reply::Error(e.to_string())
            }
        })
    }
}

/// Logs a connection task that panicked (the agent goes on).
fn log_failed_connection(finished: std::result::Result<(), tokio::task::JoinError>) {
    if let Err(e) = finished {
        tracing::error!(error = %e, "ZFS agent: a connection failed");
    }
}

fn refuse(error: &RequestError) -> Reply {
    tracing::warn!(%error, "ZFS agent: refused request");
    Reply::Error(error.to_string())
}

/// Binds a socket in a private folder beside `path`, makes it mode `0600` and owned by
/// `allowed_uid` (group unchanged), then renames it to `path`.
fn bind_private(path: &Path, allowed_uid: u32) -> io::Result<UnixListener> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let private =
        tempfile::Builder::new().prefix(".zfs-agent-").permissions(Permissions::from_mode(0o700)).tempdir_in(folder)?;
    let staged = private.path().join("socket");
    let listener = std::os::unix::net::UnixListener::bind(&staged)?;
    fs::set_permissions(&staged, Permissions::from_mode(0o600))?;
    if fs::symlink_metadata(&staged)?.uid() != allowed_uid {
        lchown(&staged, Some(allowed_uid), None)?;
    }
    fs::rename(&staged, path)?;
    listener.set_nonblocking(true)?;
    UnixListener::from_std(listener)
}

/// Removes whatever is at `path` (without following a symlink there).
fn remove_socket(path: &Path) {
    if fs::symlink_metadata(path).is_ok()
        && let Err(e) = fs::remove_file(path)
    {
        tracing::warn!(path = %path.display(), error = %e, "ZFS agent: cannot remove the socket");
    }
}
