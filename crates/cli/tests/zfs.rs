//! `zfs init`, the dataset triggers and `zfs agent`, run as processes with a fake `zfs` and
//! `chown` first on PATH (spec `zfs.md` §12).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::{Duration, Instant};

use testkit::zfs::{FakeZfs, six_calls};

/// Bounds every wait of these tests, so a bug fails them instead of hanging them.
const PATIENCE: Duration = Duration::from_secs(30);

const BIN: &str = env!("CARGO_BIN_EXE_ftm-lakehouse");

/// `ftm-lakehouse` (or `program`) with no `LAKEHOUSE_*` settings from the test's environment.
fn command_of(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    for var in ["URI", "ON_ZFS", "ZFS_POOL", "ZFS_OWNER", "ZFS_SOCKET", "ZFS_ALLOWED_UID", "ZFS_EXTRA_PROPS"] {
        command.env_remove(format!("LAKEHOUSE_{var}"));
    }
    command
}

fn lakehouse(fake: &FakeZfs) -> Command {
    let mut command = command_of(BIN);
    command.env("PATH", fake.path_env());
    command
}

fn run(command: &mut Command) -> (Output, String) {
    let out = command.output().expect("run ftm-lakehouse");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

fn fake() -> (tempfile::TempDir, FakeZfs) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeZfs::new(dir.path());
    (dir, fake)
}

fn probes(pool: &str, ds: &str) -> Vec<String> {
    six_calls(pool, ds).into_iter().step_by(2).collect()
}

#[test]
fn init_creates_three_datasets_and_a_rerun_only_probes() {
    let (_dir, fake) = fake();
    let (out, err) = run(lakehouse(&fake).args(["zfs", "init", "my_dataset", "-p", "tank/lake"]));
    assert!(out.status.success(), "{err}");
    assert!(err.contains("ZFS datasets initialized dataset=my_dataset pool=tank/lake"), "{err}");
    assert_eq!(fake.calls(), six_calls("tank/lake", "my_dataset"));
    fake.clear_calls();
    let (out, err) = run(lakehouse(&fake).args(["zfs", "init", "my_dataset"]).env("LAKEHOUSE_ZFS_POOL", "tank/lake"));
    assert!(out.status.success(), "{err}");
    assert_eq!(fake.calls(), probes("tank/lake", "my_dataset"));
}

#[test]
fn init_needs_a_pool_and_a_valid_name() {
    let (_dir, fake) = fake();
    for pool in [None, Some("")] {
        let mut command = lakehouse(&fake);
        command.args(["zfs", "init", "my_dataset"]);
        if let Some(pool) = pool {
            command.env("LAKEHOUSE_ZFS_POOL", pool);
        }
        let (out, err) = run(&mut command);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.trim(), "error: No ZFS pool specified. Use --pool or set LAKEHOUSE_ZFS_POOL.");
    }
    let (out, err) = run(lakehouse(&fake).args(["zfs", "init", "Bad-Name", "-p", "tank/lake"]));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: Invalid dataset name: 'Bad-Name'"), "{err}");
    assert!(fake.calls().is_empty());
    // No lakehouse is opened: a URI that cannot be one does not matter.
    let (out, err) =
        run(lakehouse(&fake).args(["zfs", "init", "ds", "-p", "tank/lake"]).env("LAKEHOUSE_URI", "s3://x"));
    assert!(out.status.success(), "{err}");
}

#[test]
fn init_chowns_new_mountpoints_to_the_owner() {
    let (_dir, fake) = fake();
    let (out, err) =
        run(lakehouse(&fake).args(["zfs", "init", "ds", "-p", "tank/lake"]).env("LAKEHOUSE_ZFS_OWNER", "1000:1000"));
    assert!(out.status.success(), "{err}");
    let chowns: Vec<String> = fake.calls().into_iter().filter(|c| c.starts_with("chown")).collect();
    let expected: Vec<String> = ["tank/lake/ds", "tank/lake/ds/archive", "tank/lake/ds/statements"]
        .iter()
        .map(|d| format!("chown 1000:1000 {}", fake.mountpoint(d).display()))
        .collect();
    assert_eq!(chowns, expected);
}

#[test]
fn init_reports_zfs_failures() {
    let (dir, fake) = fake();
    fake.fail_create(Some("permission denied\n"));
    let (out, err) = run(lakehouse(&fake).args(["zfs", "init", "ds", "-p", "tank/lake"]));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.ends_with("error: zfs create failed: permission denied\n"), "{err}");
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let (out, err) = run(command_of(BIN).args(["zfs", "init", "ds", "-p", "tank/lake"]).env("PATH", &empty));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with("error: cannot run zfs: No such file or directory"), "{err}");
}

/// A lakehouse at the fake's mountpoint of `tank/lake`, so new ZFS datasets mount where the
/// dataset folders go.
fn zfs_lakehouse(fake: &FakeZfs) -> (Command, PathBuf) {
    let root = fake.mountpoint("tank/lake");
    fs::create_dir_all(&root).unwrap();
    let mut command = lakehouse(fake);
    command.env("LAKEHOUSE_URI", &root).env("LAKEHOUSE_ON_ZFS", "1");
    (command, root)
}

#[test]
fn a_new_dataset_gets_its_zfs_datasets_before_its_first_file() {
    let (_dir, fake) = fake();
    let (mut command, root) = zfs_lakehouse(&fake);
    // The fake, like ZFS, cannot mount over a folder that already holds config.yml.
    let (out, err) = run(command.env("LAKEHOUSE_ZFS_POOL", "tank/lake").args(["-d", "my_ds", "maintenance", "unlock"]));
    assert!(out.status.success(), "{err}");
    assert_eq!(fake.calls(), six_calls("tank/lake", "my_ds"));
    assert!(root.join("my_ds/config.yml").is_file());
    fake.clear_calls();
    let (mut command, _) = zfs_lakehouse(&fake);
    let (out, err) = run(command.env("LAKEHOUSE_ZFS_POOL", "tank/lake").args(["-d", "my_ds", "maintenance", "unlock"]));
    assert!(out.status.success(), "{err}");
    assert_eq!(fake.calls(), probes("tank/lake", "my_ds"));
}

#[test]
fn on_zfs_without_a_pool_fails_and_off_makes_no_calls() {
    let (_dir, fake) = fake();
    let (mut command, root) = zfs_lakehouse(&fake);
    let (out, err) = run(command.args(["-d", "my_ds", "maintenance", "unlock"]));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim(), "error: Configure LAKEHOUSE_ZFS_POOL for zfs integration!");
    assert!(!root.join("my_ds/config.yml").exists());
    let (out, err) = run(lakehouse(&fake).env("LAKEHOUSE_URI", &root).env("LAKEHOUSE_ZFS_POOL", "tank/lake").args([
        "-d",
        "my_ds",
        "maintenance",
        "unlock",
    ]));
    assert!(out.status.success(), "{err}");
    assert!(root.join("my_ds/config.yml").is_file());
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}

/// A `zfs agent` process, killed when dropped.
struct AgentProcess {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl AgentProcess {
    /// Starts `zfs agent --socket <dir>/agent.sock --pool tank/lake <extra>` with the fakes on
    /// PATH and waits for its socket.
    fn start(dir: &Path, fake: &FakeZfs, extra: &[&str]) -> AgentProcess {
        let socket = dir.join("agent.sock");
        let log = dir.join("agent.log");
        let child = lakehouse(fake)
            .args(["zfs", "agent", "--pool", "tank/lake", "--socket"])
            .arg(&socket)
            .args(extra)
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut agent = AgentProcess { child, socket, log };
        let start = Instant::now();
        while !fs::symlink_metadata(&agent.socket).is_ok_and(|m| m.file_type().is_socket()) {
            assert!(agent.child.try_wait().unwrap().is_none(), "agent exited: {}", agent.log());
            assert!(start.elapsed() < PATIENCE, "no socket: {}", agent.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        agent
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `bytes` and returns the reply line as JSON (`null` when the agent closed silently).
    fn ask(&self, bytes: &[u8]) -> serde_json::Value {
        let mut stream = UnixStream::connect(&self.socket).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let _ = stream.write_all(bytes);
        let mut reply = Vec::new();
        let mut chunk = [0; 4096];
        // The reply, then the end (or a reset when the agent left bytes unread).
        while let Ok(n @ 1..) = stream.read(&mut chunk) {
            reply.extend_from_slice(&chunk[..n]);
        }
        if reply.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&reply).unwrap() }
    }

    /// Sends SIGTERM and waits for the exit.
    fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < PATIENCE, "agent ignores SIGTERM: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program` in a client environment without zfs, so creates can only go through the agent.
fn socket_client(dir: &Path, socket: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let empty = dir.join("no-zfs");
    fs::create_dir_all(&empty).unwrap();
    let mut command = command_of(program);
    command.env("PATH", empty).env("LAKEHOUSE_ZFS_SOCKET", socket);
    command
}

#[test]
fn the_agent_serves_clients_survives_junk_and_stops_on_sigterm() {
    let (dir, fake) = fake();
    fs::write(dir.path().join("agent.sock"), "a stale file").unwrap();
    let agent = AgentProcess::start(dir.path(), &fake, &[]);
    let meta = fs::symlink_metadata(&agent.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);

    let (out, err) =
        run(socket_client(dir.path(), &agent.socket, BIN).args(["zfs", "init", "my_dataset", "-p", "tank/lake"]));
    assert!(out.status.success(), "{err}");
    assert_eq!(fake.calls(), six_calls("tank/lake", "my_dataset"));

    let junk: [(&[u8], &str); 7] = [
        (b"null\n", "request must be a JSON object"),
        (b"[]\n", "request must be a JSON object"),
        (b"{\"action\":\"create\",\"dataset\":5}\n", "dataset must be a string, got int"),
        (b"\xff\xfe\xfd\n", "invalid JSON: "),
        (b"not json\n", "invalid JSON: "),
        (b"\n", "invalid JSON: "),
        (&[b'x'; 100_000], "request too large"),
    ];
    for (bytes, expected) in junk {
        let reply = agent.ask(bytes);
        assert_eq!(reply["ok"], false, "{reply}");
        assert!(reply["error"].as_str().unwrap().starts_with(expected), "{reply}");
    }
    let mut gone = UnixStream::connect(&agent.socket).unwrap();
    gone.write_all(b"{\"action\":\"create\",\"dataset\":\"tank/lake/gone\"}\n").unwrap();
    drop(gone);
    let reply = agent.ask(b"{\"action\":\"create\",\"dataset\":\"tank/lake/good\",\"props\":{\"copies\":2}}\n");
    assert_eq!(reply, serde_json::json!({"ok": true}));

    let status = agent.terminate();
    assert_eq!(status.code(), Some(0));
    assert!(fs::symlink_metadata(dir.path().join("agent.sock")).is_err(), "socket removed");
    assert!(fake.calls().contains(&"zfs create -p -o copies=2 tank/lake/good".to_string()));
}

#[test]
fn datasets_are_created_through_the_agent_in_socket_mode() {
    let (dir, fake) = fake();
    fs::create_dir(dir.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(dir.path().join("elsewhere/x"), dir.path().join("agent.sock")).unwrap();
    let agent = AgentProcess::start(dir.path(), &fake, &[]);
    let root = fake.mountpoint("tank/lake");
    fs::create_dir_all(&root).unwrap();
    let (out, err) = run(socket_client(dir.path(), &agent.socket, BIN)
        .env("LAKEHOUSE_URI", &root)
        .env("LAKEHOUSE_ON_ZFS", "1")
        .env("LAKEHOUSE_ZFS_POOL", "tank/lake")
        .args(["-d", "my_ds", "maintenance", "unlock"]));
    assert!(out.status.success(), "{err}");
    assert_eq!(fake.calls(), six_calls("tank/lake", "my_ds"));
    assert!(root.join("my_ds/config.yml").is_file());
    assert!(!dir.path().join("elsewhere/x").exists(), "the old symlink was replaced, not followed");
    assert_eq!(agent.terminate().code(), Some(0));
}

#[test]
fn agent_options_are_checked() {
    let (dir, fake) = fake();
    let socket = dir.path().join("a.sock");
    let agent = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = lakehouse(&fake);
        command.args(["zfs", "agent"]).args(args).envs(env.iter().copied());
        run(&mut command)
    };
    let (out, err) = agent(&["--pool", "tank/lake"], &[]);
    assert_eq!(
        (out.status.code(), err.trim()),
        (Some(1), "error: No socket path specified. Use --socket or set LAKEHOUSE_ZFS_SOCKET.")
    );
    let (out, err) = agent(&["--socket", socket.to_str().unwrap()], &[("LAKEHOUSE_ZFS_POOL", "")]);
    assert_eq!(
        (out.status.code(), err.trim()),
        (Some(1), "error: No pool specified. Use --pool or set LAKEHOUSE_ZFS_POOL.")
    );
    let (out, err) = agent(&["-s", socket.to_str().unwrap(), "-p", "/tank/lake"], &[]);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: invalid ZFS pool '/tank/lake'"), "{err}");
    for uid in ["abc", "-1", "1.5"] {
        let (out, err) =
            agent(&["-s", socket.to_str().unwrap(), "-p", "tank/lake"], &[("LAKEHOUSE_ZFS_ALLOWED_UID", uid)]);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim(), format!("error: LAKEHOUSE_ZFS_ALLOWED_UID must be a non-negative integer, got '{uid}'"));
    }
    for uid in ["-1", "abc"] {
        let (out, err) =
            agent(&["-s", socket.to_str().unwrap(), "-p", "tank/lake", &format!("--allowed-uid={uid}")], &[]);
        assert_eq!(out.status.code(), Some(2), "{err}");
    }
    assert!(!socket.exists());
}

/// A folder every uid may enter and read.
fn public_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn only_the_allowed_uid_gets_through_both_gates() {
    if !testkit::root_or_skip("to run clients under other uids (setpriv)") {
        return;
    }
    let (dir, fake) = fake();
    let public = public_dir();
    let agent = AgentProcess::start(public.path(), &fake, &["--allowed-uid", "65534"]);
    let meta = fs::symlink_metadata(&agent.socket).unwrap();
    assert_eq!((meta.uid(), meta.permissions().mode() & 0o7777), (65534, 0o600));
    // The client binary where uid 65534 can run it (the build folder may be root-only).
    let client = public.path().join("ftm-lakehouse");
    fs::hard_link(BIN, &client).or_else(|_| fs::copy(BIN, &client).map(drop)).unwrap();
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].into_iter().find(|p| Path::new(p).exists()).expect("setpriv");
    let as_uid = |uid: &str| {
        run(socket_client(dir.path(), &agent.socket, setpriv)
            .args([&format!("--reuid={uid}"), &format!("--regid={uid}"), "--clear-groups"])
            .arg(&client)
            .args(["zfs", "init", "my_dataset", "-p", "tank/lake"]))
    };

    let (out, err) = as_uid("65534");
    assert!(out.status.success(), "{err}\nagent: {}", agent.log());
    assert_eq!(fake.calls(), six_calls("tank/lake", "my_dataset"));
    fake.clear_calls();

    let (out, err) = as_uid("65533");
    assert_eq!(out.status.code(), Some(1), "{err}");
    let refused = format!("error: cannot connect to the ZFS agent at {}: Permission denied", agent.socket.display());
    assert!(err.starts_with(&refused), "{err}");

    fs::set_permissions(&agent.socket, fs::Permissions::from_mode(0o666)).unwrap();
    let (out, err) = as_uid("65533");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim(), "error: zfs create failed: unauthorized peer uid 65533");

    let (out, err) =
        run(socket_client(dir.path(), &agent.socket, BIN).args(["zfs", "init", "my_dataset", "-p", "tank/lake"]));
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim(), "error: zfs create failed: unauthorized peer uid 0");
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(agent.terminate().code(), Some(0));
}
