//! A fake `zfs` and `chown` for testing the ZFS integration without ZFS (spec `zfs.md` §12).
//!
//! Both are shell scripts in `<dir>/bin` that append their argv to `<dir>/calls` (one call per
//! line, arguments NUL-terminated, so quoting mistakes show). Each fake keeps its state and
//! failure switches in files of its own folder rather than in environment variables, so tests
//! running in parallel in one process do not disturb each other.
//!
//! * `zfs list -H -o name X`: exit 0 printing X if X was created, else exit 1 with
//!   `cannot open 'X': dataset does not exist`; every `list` fails after [`FakeZfs::fail_list`].
//! * `zfs list -H -o mountpoint X`: prints `<dir>/mnt/X`, or the value of
//!   [`FakeZfs::set_mountpoint`] (`none`, `legacy`, `-`).
//! * `zfs create … X`: records X and creates its mountpoint `<dir>/mnt/X`. Like ZFS, it cannot
//!   mount on a non-empty folder: the dataset is created but the command fails. Fails with a
//!   given stderr after [`FakeZfs::fail_create`].
//! * `chown …`: succeeds, or fails after [`FakeZfs::fail_chown`].

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A fake `zfs` and `chown` in one folder.
#[derive(Debug, Clone)]
pub struct FakeZfs {
    dir: PathBuf,
}

const ZFS: &str = r#"#!/bin/sh
d='@DIR@'
{ printf '%s\0' zfs "$@"; printf '\n'; } >> "$d/calls"
for last; do :; done
case "$1" in
list)
  if [ -e "$d/fail_list" ]; then echo "cannot list '$last'" >&2; exit 1; fi
  if [ "$4" = mountpoint ]; then
    if [ -e "$d/mountpoint" ]; then cat "$d/mountpoint"; else echo "$d/mnt/$last"; fi
    exit 0
  fi
  if grep -qxF -- "$last" "$d/state" 2>/dev/null; then echo "$last"; exit 0; fi
  echo "cannot open '$last': dataset does not exist" >&2; exit 1;;
create)
  if [ -e "$d/fail_create" ]; then cat "$d/fail_create" >&2; exit 1; fi
  echo "$last" >> "$d/state"
  m="$d/mnt/$last"
  if [ -d "$m" ] && [ -n "$(ls -A "$m")" ]; then
    echo "cannot mount '$m': directory is not empty" >&2
    echo "filesystem successfully created, but not mounted" >&2
    exit 1
  fi
  mkdir -p "$m"; exit 0;;
esac
echo "fake zfs: unsupported command: $1" >&2; exit 2
"#;

const CHOWN: &str = r#"#!/bin/sh
d='@DIR@'
{ printf '%s\0' chown "$@"; printf '\n'; } >> "$d/calls"
if [ -e "$d/fail_chown" ]; then echo "chown: changing ownership of '$2': Operation not permitted" >&2; exit 1; fi
exit 0
"#;

impl FakeZfs {
    /// Writes the fakes into `dir` (which must exist; its path may not contain `'`).
    ///
    /// # Panics
    /// On an I/O error or a path with `'`.
    pub fn new(dir: &Path) -> FakeZfs {
        let text = dir.to_str().expect("UTF-8 path");
        assert!(!text.contains('\''), "{text}");
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::create_dir_all(dir.join("mnt")).unwrap();
        for (name, script) in [("zfs", ZFS), ("chown", CHOWN)] {
            let path = dir.join("bin").join(name);
            fs::write(&path, script.replace("@DIR@", text)).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
        FakeZfs { dir: dir.to_path_buf() }
    }

    /// The folder holding the fake `zfs` and `chown`.
    pub fn bin(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// The fake `zfs`.
    pub fn zfs(&self) -> PathBuf {
        self.bin().join("zfs")
    }

    /// The fake `chown`.
    pub fn chown(&self) -> PathBuf {
        self.bin().join("chown")
    }

    /// Where the fake mounts the ZFS dataset `dataset`: `<dir>/mnt/<dataset>`.
    pub fn mountpoint(&self, dataset: &str) -> PathBuf {
        self.dir.join("mnt").join(dataset)
    }

    /// `PATH` with the fakes' folder first.
    pub fn path_env(&self) -> OsString {
        let mut path = self.bin().into_os_string();
        if let Some(rest) = std::env::var_os("PATH") {
            path.push(":");
            path.push(rest);
        }
        path
    }

    /// Every call so far, each as one line: the program and its arguments joined by spaces.
    pub fn calls(&self) -> Vec<String> {
        self.argvs().iter().map(|argv| argv.join(" ")).collect()
    }

    /// Every call so far as its argv, program first.
    ///
    /// # Panics
    /// If the call log is not UTF-8.
    pub fn argvs(&self) -> Vec<Vec<String>> {
        let log = fs::read(self.dir.join("calls")).unwrap_or_default();
        let log = String::from_utf8(log).expect("UTF-8 call log");
        log.lines()
            .map(|line| line.strip_suffix('\0').unwrap_or(line).split('\0').map(String::from).collect())
            .collect()
    }

    /// Forgets the calls so far.
    pub fn clear_calls(&self) {
        let _ = fs::remove_file(self.dir.join("calls"));
    }

    /// Makes `zfs create` fail with `stderr`, or succeed again with `None`.
    pub fn fail_create(&self, stderr: Option<&str>) {
        self.switch("fail_create", stderr);
    }

    /// Makes every `zfs list` fail.
    pub fn fail_list(&self) {
        self.switch("fail_list", Some(""));
    }

    /// Makes `chown` fail.
    pub fn fail_chown(&self) {
        self.switch("fail_chown", Some(""));
    }

    /// Makes `zfs list -o mountpoint` print `value` for every dataset.
    pub fn set_mountpoint(&self, value: &str) {
        self.switch("mountpoint", Some(value));
    }

    fn switch(&self, name: &str, content: Option<&str>) {
        let path = self.dir.join(name);
        match content {
            Some(content) => fs::write(path, content).unwrap(),
            None => {
                let _ = fs::remove_file(path);
            }
        }
    }
}

/// The six calls of ensuring `ds` under `pool` when nothing exists (spec `zfs.md` §4).
pub fn six_calls(pool: &str, ds: &str) -> Vec<String> {
    vec![
        format!("zfs list -H -o name {pool}/{ds}"),
        format!("zfs create -p -o atime=off -o xattr=sa -o dnodesize=auto {pool}/{ds}"),
        format!("zfs list -H -o name {pool}/{ds}/archive"),
        format!(
            "zfs create -p -o recordsize=128K -o compression=zstd-9 -o sync=standard -o logbias=throughput {pool}/{ds}/archive"
        ),
        format!("zfs list -H -o name {pool}/{ds}/statements"),
        format!(
            "zfs create -p -o recordsize=1M -o compression=off -o sync=standard -o logbias=throughput {pool}/{ds}/statements"
        ),
    ]
}
