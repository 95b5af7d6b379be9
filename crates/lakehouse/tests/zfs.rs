//! ZFS integration without ZFS (spec `zfs.md` §12): local creates against a fake `zfs` and
//! `chown`, and the agent serving real Unix sockets in temp folders.
//!
//! Ensures are memoised per process per `(pool, dataset)`, so every test uses its own pool.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::time::Duration;

use lakehouse::model::DatasetName;
use lakehouse::operation::zfs_agent::{Agent, AgentOptions, own_uid};
use lakehouse::storage::zfs::{AgentClient, CreateRequest, LocalZfs, Properties, Reply, Zfs};
use testkit::zfs::{FakeZfs, six_calls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Bounds every wait of these tests, so a bug fails them instead of hanging them.
const PATIENCE: Duration = Duration::from_secs(30);

fn fake() -> (tempfile::TempDir, FakeZfs) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeZfs::new(dir.path());
    (dir, fake)
}

fn local(fake: &FakeZfs, owner: Option<&str>) -> LocalZfs {
    LocalZfs::new(owner.map(String::from)).with_programs(fake.zfs(), fake.chown())
}

fn name(name: &str) -> DatasetName {
    DatasetName::new(name).unwrap()
}

#[tokio::test]
async fn ensure_runs_the_exact_commands_once_per_process() {
    let (_dir, fake) = fake();
    let zfs = Zfs::Local(local(&fake, None));
    zfs.ensure("tank/memo", &name("my_dataset")).await.unwrap();
    assert_eq!(fake.calls(), six_calls("tank/memo", "my_dataset"));
    let argv = &fake.argvs()[3];
    assert_eq!(argv.len(), 12, "one argv element per word: {argv:?}");
    zfs.ensure("tank/memo", &name("my_dataset")).await.unwrap();
    assert_eq!(fake.calls().len(), 6, "memoised");
    zfs.ensure("tank/memo", &name("other")).await.unwrap();
    assert_eq!(fake.calls()[6..], six_calls("tank/memo", "other"));
    assert!(fake.mountpoint("tank/memo/other/statements").is_dir());
}

#[tokio::test]
async fn a_failed_ensure_is_retried_by_the_next_call() {
    let (_dir, fake) = fake();
    let zfs = Zfs::Local(local(&fake, None));
    fake.fail_create(Some("permission denied\n"));
    let err = zfs.ensure("tank/retry", &name("ds")).await.unwrap_err();
    assert_eq!(err.to_string(), "zfs create failed: permission denied");
    assert_eq!(fake.calls(), six_calls("tank/retry", "ds")[..2]);
    fake.fail_create(None);
    fake.clear_calls();
    zfs.ensure("tank/retry", &name("ds")).await.unwrap();
    assert_eq!(fake.calls(), six_calls("tank/retry", "ds"));
}

#[tokio::test]
async fn an_invalid_pool_makes_no_calls() {
    let (_dir, fake) = fake();
    let zfs = Zfs::Local(local(&fake, None));
    for pool in ["/tank/lake", "tank/lake/", "-V1G", ""] {
        let err = zfs.ensure(pool, &name("ds")).await.unwrap_err();
        assert!(err.to_string().starts_with(&format!("invalid ZFS pool '{pool}'")), "{err}");
    }
    assert!(fake.calls().is_empty());
}

#[tokio::test]
async fn an_existing_dataset_is_only_probed() {
    let (_dir, fake) = fake();
    let zfs = local(&fake, Some("1000:1000"));
    let props: Properties = [("atime", "off")].into_iter().collect();
    assert!(zfs.create("tank/exists/ds", &props, true).await.unwrap());
    fake.clear_calls();
    assert!(!zfs.create("tank/exists/ds", &props, true).await.unwrap());
    assert_eq!(fake.calls(), ["zfs list -H -o name tank/exists/ds"]);
    let err = zfs.create("tank/exists/ds", &props, false).await.unwrap_err();
    assert_eq!(err.to_string(), "dataset already exists: tank/exists/ds");
}

#[tokio::test]
async fn new_mountpoints_are_chowned_when_an_owner_is_set() {
    let (_dir, fake) = fake();
    let props = Properties::new();
    let mountpoint = fake.mountpoint("tank/own/a");
    local(&fake, Some("1000:1000")).create("tank/own/a", &props, true).await.unwrap();
    assert_eq!(
        fake.calls(),
        [
            "zfs list -H -o name tank/own/a".to_string(),
            "zfs create -p tank/own/a".to_string(),
            "zfs list -H -o mountpoint tank/own/a".to_string(),
            format!("chown 1000:1000 {}", mountpoint.display()),
        ]
    );

    for (i, owner) in [None, Some("")].into_iter().enumerate() {
        fake.clear_calls();
        local(&fake, owner).create(&format!("tank/own/b{i}"), &props, true).await.unwrap();
        assert_eq!(
            fake.calls(),
            [format!("zfs list -H -o name tank/own/b{i}"), format!("zfs create -p tank/own/b{i}")]
        );
    }

    for mountpoint in ["none", "legacy", "-", ""] {
        fake.set_mountpoint(mountpoint);
        fake.clear_calls();
        let dataset = format!("tank/own/mp{}", mountpoint.len());
        assert!(local(&fake, Some("1000:1000")).create(&dataset, &props, true).await.unwrap());
        assert_eq!(fake.calls().last().unwrap(), &format!("zfs list -H -o mountpoint {dataset}"), "{mountpoint}");
    }
}

#[tokio::test]
async fn chown_and_mountpoint_failures_do_not_fail_the_create() {
    let (_dir, fake) = fake();
    let zfs = local(&fake, Some("1000:1000"));
    fake.fail_chown();
    assert!(zfs.create("tank/fail/chown", &Properties::new(), true).await.unwrap());
    assert!(fake.calls().last().unwrap().starts_with("chown 1000:1000 "));
    fake.fail_list();
    fake.clear_calls();
    assert!(zfs.create("tank/fail/list", &Properties::new(), true).await.unwrap());
    let calls = fake.calls();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[2], "zfs list -H -o mountpoint tank/fail/list");
}

#[tokio::test]
async fn a_missing_zfs_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let zfs = LocalZfs::new(None).with_programs(dir.path().join("zfs"), dir.path().join("chown"));
    let err = zfs.create("tank/ds", &Properties::new(), true).await.unwrap_err();
    assert!(err.to_string().starts_with("cannot run zfs: No such file or directory"), "{err}");
}

#[tokio::test]
async fn the_fake_refuses_to_mount_on_a_non_empty_folder() {
    // What makes the CLI's "before config.yml" test able to fail.
    let (_dir, fake) = fake();
    fs::create_dir_all(fake.mountpoint("tank/full/ds")).unwrap();
    fs::write(fake.mountpoint("tank/full/ds").join("config.yml"), "name: ds\n").unwrap();
    let err = local(&fake, None).create("tank/full/ds", &Properties::new(), true).await.unwrap_err();
    assert!(err.to_string().contains("directory is not empty"), "{err}");
}

/// An agent serving in this process on `<dir>/agent.sock`.
struct RunningAgent {
    socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<lakehouse::Result<()>>,
}

impl RunningAgent {
    fn start(dir: &Path, fake: &FakeZfs, pool: &str, tune: impl FnOnce(&mut AgentOptions)) -> RunningAgent {
        let socket = dir.join("agent.sock");
        let mut options = AgentOptions::new(socket.clone(), pool.to_string(), None, own_uid().unwrap());
        options.zfs = local(fake, None);
        tune(&mut options);
        let agent = Agent::bind(options).unwrap();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(agent.serve(async move {
            let _ = stopped.await;
        }));
        RunningAgent { socket, stop: Some(stop), task }
    }

    fn client(&self) -> AgentClient {
        AgentClient::new(&self.socket)
    }

    /// Sends `bytes` on a new connection (then closes the write side if `close`) and returns
    /// everything the agent answers before closing. An agent refusing a request it has not read
    /// in full closes with bytes unread, which Linux reports as a reset after the reply.
    async fn exchange(&self, bytes: &[u8], close: bool) -> Vec<u8> {
        let mut stream = UnixStream::connect(&self.socket).await.unwrap();
        let _ = stream.write_all(bytes).await;
        if close {
            stream.shutdown().await.unwrap();
        }
        let mut reply = Vec::new();
        let read = tokio::time::timeout(PATIENCE, stream.read_to_end(&mut reply)).await.expect("the agent answers");
        if let Err(e) = read {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
        }
        reply
    }

    /// The reply to `bytes`: `Ok(())` or the error text.
    async fn ask(&self, bytes: &[u8]) -> Result<(), String> {
        match Reply::parse(&self.exchange(bytes, false).await).unwrap() {
            Reply::Ok => Ok(()),
            Reply::Error(e) => Err(e),
        }
    }

    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(PATIENCE, &mut self.task).await.expect("the agent stops").unwrap().unwrap();
        assert!(fs::symlink_metadata(&self.socket).is_err(), "socket removed");
    }
}

fn request(dataset: &str) -> CreateRequest {
    CreateRequest { dataset: dataset.into(), props: [("compression", "zstd")].into_iter().collect(), exist_ok: true }
}

#[tokio::test]
async fn the_agent_creates_for_its_client_and_stops_cleanly() {
    let (dir, fake) = fake();
    let agent = RunningAgent::start(dir.path(), &fake, "tank/lake", |_| {});
    let meta = fs::symlink_metadata(&agent.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);

    Zfs::Agent(agent.client()).ensure("tank/lake", &name("my_dataset")).await.unwrap();
    assert_eq!(fake.calls(), six_calls("tank/lake", "my_dataset"));
    fake.clear_calls();
    agent.client().create(&request("tank/lake/my_dataset")).await.unwrap();
    let exists = CreateRequest { exist_ok: false, ..request("tank/lake/my_dataset") };
    let err = agent.client().create(&exists).await.unwrap_err();
    assert_eq!(err.to_string(), "zfs create failed: dataset already exists: tank/lake/my_dataset");
    let err = agent.client().create(&request("tank/lake_evil/x")).await.unwrap_err();
    assert_eq!(err.to_string(), "zfs create failed: dataset 'tank/lake_evil/x' not under pool 'tank/lake'");
    assert_eq!(fake.calls(), ["zfs list -H -o name tank/lake/my_dataset"; 2]);
    fake.fail_create(Some("permission denied"));
    let err = agent.client().create(&request("tank/lake/new")).await.unwrap_err();
    assert_eq!(err.to_string(), "zfs create failed: zfs create failed: permission denied");
    agent.stop().await;
}

#[tokio::test]
async fn the_agent_replaces_what_was_at_its_path() {
    let (dir, fake) = fake();
    fs::write(dir.path().join("agent.sock"), "stale").unwrap();
    let agent = RunningAgent::start(dir.path(), &fake, "tank/lake", |_| {});
    assert!(fs::symlink_metadata(&agent.socket).unwrap().file_type().is_socket());
    agent.stop().await;
    symlink(dir.path().join("nowhere"), dir.path().join("agent.sock")).unwrap();
    let agent = RunningAgent::start(dir.path(), &fake, "tank/lake", |_| {});
    assert!(fs::symlink_metadata(&agent.socket).unwrap().file_type().is_socket());
    assert!(!dir.path().join("nowhere").exists());
    agent.client().create(&request("tank/lake/ds")).await.unwrap();
    agent.stop().await;
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!leftovers.iter().any(|n| n.to_string_lossy().starts_with(".zfs-agent-")), "{leftovers:?}");
}

#[tokio::test]
async fn the_agent_refuses_other_peer_uids_before_reading() {
    let (dir, fake) = fake();
    let own = own_uid().unwrap();
    let agent = RunningAgent::start(dir.path(), &fake, "tank/lake", |o| o.allowed_uid = own + 99_999);
    let err = agent.client().create(&request("tank/lake/ds")).await.unwrap_err();
    assert_eq!(err.to_string(), format!("zfs create failed: unauthorized peer uid {own}"));
    // Refused even when the client sends nothing at all.
    assert_eq!(agent.ask(b"").await, Err(format!("unauthorized peer uid {own}")));
    assert!(fake.calls().is_empty());
    agent.stop().await;
}

#[tokio::test]
async fn junk_gets_an_answer_and_the_agent_still_serves() {
    let (dir, fake) = fake();
    let agent = RunningAgent::start(dir.path(), &fake, "tank/lake", |_| {});
    let cases: [(&[u8], &str); 10] = [
        (b"null\n", "request must be a JSON object"),
        (b"[]\n", "request must be a JSON object"),
        (b"{\"action\":\"create\",\"dataset\":5}\n", "dataset must be a string, got int"),
        (b"{\"action\":\"create\",\"dataset\":\"tank/lake/\xff\"}\n", "invalid JSON: "),
        (b"\xff\xfe\n", "invalid JSON: "),
        (b"not json\n", "invalid JSON: "),
        (b"\n", "invalid JSON: "),
        (b"{\"action\":\"destroy\",\"dataset\":\"tank/lake/ds\"}\n", "unknown action: 'destroy'"),
        (b"{\"action\":\"create\",\"dataset\":\"tank/lake/ds; rm -rf /x\"}\n", "invalid path component"),
        (
            b"{\"action\":\"create\",\"dataset\":\"tank/lake/ds\",\"props\":{\"mountpoint\":\"/etc\"}}\n",
            "property not allowed",
        ),
    ];
    for (bytes, expected) in cases {
        let err = agent.ask(bytes).await.unwrap_err();
        assert!(err.starts_with(expected), "{:?}: {err}", String::from_utf8_lossy(bytes));
    }
    assert_eq!(agent.ask(&[b'x'; 100_000]).await, Err("request too large".into()));
    // A client that hangs up without reading its reply.
    let mut gone = UnixStream::connect(&agent.socket).await.unwrap();
    gone.write_all(request("tank/lake/gone").to_line().as_bytes()).await.unwrap();
    drop(gone);
    agent.client().create(&request("tank/lake/ds")).await.unwrap();
    agent.stop().await; // waits for the connections in progress
    let mut created: Vec<String> = fake.calls().into_iter().filter(|c| c.starts_with("zfs create")).collect();
    created.sort();
    assert_eq!(
        created,
        ["zfs create -p -o compression=zstd tank/lake/ds", "zfs create -p -o compression=zstd tank/lake/gone"]
    );
}

#[tokio::test]
async fn one_line_of_at_most_64_kib_per_connection() {
    let (dir, fake) = fake();
    let agent = RunningAgent::start(dir.path(), &fake, "tank/lake", |_| {});
    let line = |total: usize| {
        let mut line = br#"{"action":"create","dataset":"tank/lake/big"}"#.to_vec();
        line.resize(total - 1, b' ');
        line.push(b'\n');
        line
    };
    assert_eq!(agent.ask(&line(65_536)).await, Ok(()));
    assert_eq!(agent.ask(&line(65_537)).await, Err("request too large".into()));
    assert!(agent.exchange(b"", true).await.is_empty(), "no request, no reply");
    let unterminated = br#"{"action":"create","dataset":"tank/lake/eof"}"#;
    assert_eq!(Reply::parse(&agent.exchange(unterminated, true).await).unwrap(), Reply::Ok);
    let two = b"{\"action\":\"create\",\"dataset\":\"tank/lake/first\"}\n{\"action\":\"create\",\"dataset\":\"tank/lake/second\"}\n";
    assert_eq!(agent.ask(two).await, Ok(()));
    let created: Vec<String> = fake.calls().into_iter().filter(|c| c.starts_with("zfs create")).collect();
    assert_eq!(
        created,
        ["zfs create -p tank/lake/big", "zfs create -p tank/lake/eof", "zfs create -p tank/lake/first"]
    );
    agent.stop().await;
}

#[tokio::test]
async fn a_silent_client_is_dropped_without_holding_up_others() {
    let (dir, fake) = fake();
    let agent = RunningAgent::start(dir.path(), &fake, "tank/lake", |o| o.read_timeout = Duration::from_secs(5));
    let mut silent = UnixStream::connect(&agent.socket).await.unwrap();
    // Served while the silent connection is still open: an agent serving one connection at a
    // time would answer only after dropping it.
    agent.client().create(&request("tank/lake/ds")).await.unwrap();
    let mut byte = [0; 1];
    let open = silent.try_read(&mut byte);
    assert!(matches!(&open, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock), "silent dropped first: {open:?}");
    let mut reply = Vec::new();
    tokio::time::timeout(PATIENCE, silent.read_to_end(&mut reply)).await.expect("dropped").unwrap();
    assert!(reply.is_empty(), "{reply:?}");
    agent.client().create(&request("tank/lake/ds2")).await.unwrap();
    agent.stop().await;
}

/// A stand-in agent answering one connection with `reply` and handing over the request line.
async fn one_shot_agent(dir: &Path, reply: &'static [u8]) -> (PathBuf, JoinHandle<Vec<u8>>) {
    let socket = dir.join("fake-agent.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut line = Vec::new();
        while !line.ends_with(b"\n") {
            let mut byte = [0; 1];
            if stream.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            line.push(byte[0]);
        }
        stream.write_all(reply).await.unwrap();
        line
    });
    (socket, task)
}

#[tokio::test]
async fn the_client_sends_one_line_and_reads_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let (socket, seen) = one_shot_agent(dir.path(), b"{\"ok\": true}\n").await;
    let sent = CreateRequest { exist_ok: false, ..request("tank/test") };
    AgentClient::new(&socket).create(&sent).await.unwrap();
    let line = seen.await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"action": "create", "dataset": "tank/test", "props": {"compression": "zstd"}, "exist_ok": false})
    );
    fs::remove_file(&socket).unwrap();

    for (reply, expected) in [
        (&b""[..], "zfs create failed: no response from agent"),
        (b"{\"ok\": false, \"error\": \"permission denied\"}\n", "zfs create failed: permission denied"),
        (b"{\"ok\": false}\n", "zfs create failed: unknown"),
        (b"[1]\n", "zfs create failed: malformed response"),
        (b"{\"ok\": tru\n", "zfs create failed: malformed response: "),
    ] {
        let (socket, _seen) = one_shot_agent(dir.path(), reply).await;
        let err = AgentClient::new(&socket).create(&request("tank/test")).await.unwrap_err();
        assert!(err.to_string().starts_with(expected), "{err}");
        fs::remove_file(&socket).unwrap();
    }
}

#[tokio::test]
async fn client_errors_name_the_socket() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.sock");
    let err = AgentClient::new(&missing).create(&request("tank/test")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot connect to the ZFS agent at {}: No such file or directory (os error 2)", missing.display())
    );
    let socket = dir.path().join("silent.sock");
    let _listener = UnixListener::bind(&socket).unwrap();
    let client = AgentClient::new(&socket).with_timeout(Duration::from_millis(100));
    let err = client.create(&request("tank/test")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("timed out after 0.1 s waiting for the ZFS agent at {} to reply", socket.display())
    );
}
