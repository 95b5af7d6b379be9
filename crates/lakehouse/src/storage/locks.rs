//! Operation locks of a dataset (seed 002 `locks/{tenant}/`): `locks/{tenant}/{operation}`, one
//! holder at a time, for the operations that must not run twice at once — a tenant's queue
//! consumer, the export.
//!
//! A lock is an object created atomically (create-if-absent, so it holds across machines on
//! object storage as across processes on disk) naming its holder (`{"host", "pidns", "pid",
//! "since"}`). A holder that died without releasing it (killed with SIGKILL) is detected on the
//! same host (and pid namespace) by its process being gone, and the lock is taken over through
//! a second atomic marker (`{lock}.takeover`), so two processes restarting at once cannot both
//! take it. A lock held from another host is never broken here: [`OperationLock::acquire`] waits for it a while, then
//! reports it busy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use object_store::path::Path;
use object_store::{ObjectStore, PutPayload};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::storage::object_io;
use crate::storage::tags::read;

/// The first pause between tries at a held lock; each next one doubles, up to 500 ms.
const FIRST_PAUSE: Duration = Duration::from_millis(20);

/// Proof that this process holds an operation lock. Release it with [`OperationLock::release`];
/// a lock dropped unreleased stays until its holder is found gone.
#[must_use = "release the lock when done"]
#[derive(Debug)]
pub struct OperationLock {
    store: Arc<dyn ObjectStore>,
    path: Path,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// Whether process `pid` runs on this host (a zombie counts as gone).
fn alive(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// This process's pid namespace (`pid:[4026531836]`): containers may share a hostname but not
/// their process ids.
fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid").ok().map(|link| link.display().to_string())
}

/// Whether a lock's holder is a process this one can see: the same host and, when the holder
/// names it, the same pid namespace.
fn on_this_host(holder: &Value) -> bool {
    let here = hostname();
    let same_namespace = match holder["pidns"].as_str() {
        Some(theirs) => pid_namespace().as_deref() == Some(theirs),
        None => true,
    };
    !here.is_empty() && holder["host"].as_str() == Some(here.as_str()) && same_namespace
}

/// This process as the holder of a marker: `{"host", "pidns", "pid", "since"}`, `since` now.
pub(crate) fn this_holder() -> Value {
    json!({
        "host": hostname(),
        "pidns": pid_namespace(),
        "pid": std::process::id(),
        "since": ftm::time::isoformat(&chrono::Utc::now()),
    })
}

/// Whether a marker's holder ([`this_holder`]) is a process of this host that is gone.
pub(crate) fn holder_gone(holder: &Value) -> bool {
    on_this_host(holder) && holder["pid"].as_u64().is_some_and(|pid| !alive(pid))
}

async fn create(store: &dyn ObjectStore, path: &Path, body: &Value) -> Result<bool> {
    object_io::create(store, path, PutPayload::from(serde_json::to_vec(body).expect("JSON serialises"))).await
}

async fn delete(store: &dyn ObjectStore, path: &Path) -> Result<()> {
    object_io::delete(store, path).await.map(drop)
}

/// Creates the marker `path` naming this process as its holder ([`this_holder`]); `false` if it
/// exists.
pub(crate) async fn create_holder_marker(store: &dyn ObjectStore, path: &Path) -> Result<bool> {
    create(store, path, &this_holder()).await
}

/// The JSON of a marker (`Null` when it does not parse), `None` when it is absent.
pub(crate) async fn read_json(store: &dyn ObjectStore, path: &Path) -> Result<Option<Value>> {
    Ok(read(store, path).await?.map(|b| serde_json::from_slice(&b).unwrap_or(Value::Null)))
}

/// The outcome of one attempt: the lock, or who holds it.
enum Attempt {
    Taken(OperationLock),
    Held(Value),
}

impl OperationLock {
    /// The path of lock `operation` of `tenant` below the dataset root.
    pub fn path(tenant: &str, operation: &str) -> Path {
        Path::from(format!("locks/{tenant}/{operation}"))
    }

    /// Takes lock `operation` of `tenant` (both checked path segments) in the dataset whose
    /// root `store` is, breaking it when its holder died on this host.
    ///
    /// # Errors
    /// [`Error::Busy`] naming the holder when it is held; [`Error::Storage`].
    pub async fn try_acquire(store: Arc<dyn ObjectStore>, tenant: &str, operation: &str) -> Result<OperationLock> {
        let path = Self::path(tenant, operation);
        match Self::attempt(store, path.clone()).await? {
            Attempt::Taken(lock) => Ok(lock),
            Attempt::Held(holder) => Err(busy(operation, &holder, &path)),
        }
    }

    /// Takes lock `operation` of `tenant` as [`try_acquire`](Self::try_acquire) does, waiting
    /// while it is held: as long as its holder runs on this host (it is working; a holder that
    /// dies is taken over), and up to `patience` when it is held from another host (which may
    /// be gone: only an operator can tell).
    ///
    /// # Errors
    /// [`Error::Busy`] naming the holder after `patience` of a holder on another host;
    /// [`Error::Storage`].
    pub async fn acquire(
        store: Arc<dyn ObjectStore>,
        tenant: &str,
        operation: &str,
        patience: Duration,
    ) -> Result<OperationLock> {
        let path = Self::path(tenant, operation);
        let start = Instant::now();
        let mut pause = FIRST_PAUSE;
        loop {
            match Self::attempt(store.clone(), path.clone()).await? {
                Attempt::Taken(lock) => return Ok(lock),
                Attempt::Held(holder) if !on_this_host(&holder) && start.elapsed() >= patience => {
                    return Err(busy(operation, &holder, &path));
                }
                Attempt::Held(holder) => {
                    if pause == FIRST_PAUSE {
                        tracing::info!(lock = %path, holder = %holder, "waiting for the lock");
                    }
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// One try at `path`: create it, or take it over from a dead holder.
    async fn attempt(store: Arc<dyn ObjectStore>, path: Path) -> Result<Attempt> {
        let takeover = Path::from(format!("{path}.takeover"));
        let me = this_holder();
        let objects = store.as_ref();
        for _ in 0..3 {
            if create(objects, &path, &me).await? {
                return Ok(Attempt::Taken(OperationLock { store, path }));
            }
            let holder = read_json(objects, &path).await?.unwrap_or(Value::Null);
            if !holder_gone(&holder) {
                return Ok(Attempt::Held(holder));
            }
            // A dead holder: one taker wins the takeover marker, checks the lock is still the
            // dead one, and removes it. A marker left by a taker that died is removed too.
            if !create(objects, &takeover, &me).await? {
                if read_json(objects, &takeover).await?.is_some_and(|taker| holder_gone(&taker)) {
                    delete(objects, &takeover).await?;
                    continue;
                }
                return Ok(Attempt::Held(holder));
            }
            if read_json(objects, &path).await? == Some(holder) {
                delete(objects, &path).await?;
            }
            delete(objects, &takeover).await?;
        }
        Ok(Attempt::Held(read_json(objects, &path).await?.unwrap_or(Value::Null)))
    }

    /// Releases the lock.
    ///
    /// # Errors
    /// [`Error::Storage`].
    pub async fn release(self) -> Result<()> {
        delete(self.store.as_ref(), &self.path).await
    }
}

fn busy(operation: &str, holder: &Value, path: &Path) -> Error {
    Error::Busy { operation: operation.to_string(), holder: holder.to_string(), lock: path.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::local::LocalFileSystem;

    fn store(dir: &std::path::Path) -> Arc<dyn ObjectStore> {
        Arc::new(LocalFileSystem::new_with_prefix(dir).unwrap())
    }

    #[tokio::test]
    async fn a_held_lock_is_busy_and_a_dead_holders_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let lock = OperationLock::try_acquire(store(dir.path()), "lakehouse", "export").await.unwrap();
        let err = OperationLock::try_acquire(store(dir.path()), "lakehouse", "export").await.unwrap_err();
        assert!(matches!(&err, Error::Busy { operation, .. } if operation == "export"), "{err}");
        lock.release().await.unwrap();
        // A holder of this host whose process is gone (pid beyond pid_max) is taken over.
        let dead = json!({"host": hostname(), "pid": 1u64 << 40, "since": "2026-01-01T00:00:00"});
        let path = OperationLock::path("lakehouse", "export");
        create(store(dir.path()).as_ref(), &path, &dead).await.unwrap();
        let taken = OperationLock::try_acquire(store(dir.path()), "lakehouse", "export").await.unwrap();
        taken.release().await.unwrap();
    }

    #[tokio::test]
    async fn acquire_waits_for_a_live_holder_and_gives_up_on_another_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let lock = OperationLock::try_acquire(store(dir.path()), "lakehouse", "export").await.unwrap();
        let acquired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let waiter = tokio::spawn({
            let (store, acquired) = (store(dir.path()), acquired.clone());
            async move {
                let lock = OperationLock::acquire(store, "lakehouse", "export", Duration::ZERO).await.unwrap();
                acquired.store(true, std::sync::atomic::Ordering::SeqCst);
                lock.release().await.unwrap();
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!acquired.load(std::sync::atomic::Ordering::SeqCst), "acquired while the lock was held");
        lock.release().await.unwrap();
        waiter.await.unwrap();
        assert!(acquired.load(std::sync::atomic::Ordering::SeqCst));
        // A holder on another host: busy once the patience is spent, never broken.
        let other = json!({"host": "elsewhere.invalid", "pid": 1, "since": "2026-01-01T00:00:00"});
        let path = OperationLock::path("lakehouse", "export");
        create(store(dir.path()).as_ref(), &path, &other).await.unwrap();
        let err = OperationLock::acquire(store(dir.path()), "lakehouse", "export", Duration::from_millis(50))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("elsewhere.invalid"), "{err}");
        assert!(read_json(store(dir.path()).as_ref(), &path).await.unwrap().is_some());
    }
}
