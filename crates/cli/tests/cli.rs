//! The binary's global options, exit codes and error lines (spec `interfaces.md` §1.1, §1.3).

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
        .args(args)
        .env_remove("LAKEHOUSE_URI")
        .output()
        .expect("run ftm-lakehouse")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn version_goes_to_stderr() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert_eq!(stderr(&out).trim(), format!("{} (compatible with ftm-lakehouse 0.9.0)", env!("CARGO_PKG_VERSION")));
    let quiet = run(&["--version", "--no-version"]);
    assert_eq!(quiet.status.code(), Some(2), "no command: the usage, not the version");
}

#[test]
fn completion_scripts_name_the_commands() {
    let bash = run(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(script.contains("ftm-lakehouse") && script.contains("mappings") && script.contains("--as-of"), "{script}");
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn no_command_prints_help_and_exits_2() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Usage: ftm-lakehouse"));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(run(&["nosuchcommand"]).status.code(), Some(2));
    assert_eq!(run(&["-d"]).status.code(), Some(2));
}

#[test]
fn invalid_dataset_name_is_one_line_exit_1() {
    for name in ["My-DS", "a__b", "catalog", "default", "../x"] {
        let out = run(&["-d", name, "--settings"]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("error: Invalid dataset name: '{name}'")), "{err}");
    }
}

#[test]
fn settings_show_the_resolved_state() {
    let out = run(&["--uri", "/tmp/lake", "-d", "donations", "--settings"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let state: serde_json::Value = serde_json::from_str(&stderr(&out)).unwrap();
    assert_eq!(state["catalog"], "/tmp/lake");
    assert_eq!(state["dataset"], "donations");
    assert_eq!(state["dataset_uri"], "/tmp/lake/donations");
    assert_eq!(state["settings"]["grace_period_days"], 30);
}

#[test]
fn invalid_setting_names_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
        .args(["--settings"])
        .env("LAKEHOUSE_WORKERS", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("LAKEHOUSE_WORKERS"));
}

#[test]
fn a_dotenv_file_in_the_working_directory_sets_what_the_environment_does_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "lakehouse_uri=from-dotenv\nLAKEHOUSE_LOCK_MAX_RETRIES=4\n").unwrap();
    let settings = |env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
            .arg("--settings")
            .current_dir(dir.path())
            .env_remove("LAKEHOUSE_URI")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str::<serde_json::Value>(&stderr(&out)).unwrap()["settings"].clone()
    };
    let from_file = settings(&[]);
    assert_eq!((from_file["uri"].as_str(), from_file["lock_max_retries"].as_u64()), (Some("from-dotenv"), Some(4)));
    assert_eq!(settings(&[("LAKEHOUSE_URI", "from-env")])["uri"], "from-env", "the environment wins");
}

/// `ftm-lakehouse --uri LAKE -d ds ARGS…` with extra environment.
fn run_env(lake: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"));
    command.arg("--uri").arg(lake).args(["-d", "ds"]).args(args).env_remove("LAKEHOUSE_URI");
    for (name, value) in ["LOG_LEVEL", "LOG_JSON", "DEBUG"].map(|n| (n, "")).iter().chain(env) {
        if value.is_empty() {
            command.env_remove(name);
        } else {
            command.env(name, value);
        }
    }
    command.output().expect("run ftm-lakehouse")
}

#[test]
fn log_level_log_json_and_debug() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path();
    let donations = testkit::fixtures().join("donations.ftm.json");
    let imported = run_env(lake, &["entities", "import", "-i", donations.to_str().unwrap()], &[]);
    assert!(imported.status.success(), "{}", stderr(&imported));

    // Text by default, at info: the steps of `make`, and no library's internals.
    let made = stderr(&run_env(lake, &["make"], &[]));
    assert!(made.lines().any(|l| l.contains(" INFO lakehouse::operation::export: exported dataset=ds")), "{made}");
    assert!(!made.contains("buoyant") && !made.contains("deltalake"), "{made}");
    // JSON lines with LOG_JSON.
    let json = stderr(&run_env(lake, &["make", "--force-exports"], &[("LOG_JSON", "true")]));
    let events: Vec<serde_json::Value> = json.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let exported = events.iter().find(|e| e["message"] == "exported").expect(&json);
    assert_eq!((exported["level"].as_str(), exported["entities"].as_u64()), (Some("INFO"), Some(474)));
    // LOG_LEVEL above info: no events, the command's own lines stay.
    let quiet = stderr(&run_env(lake, &["make", "--force-exports"], &[("log_level", "WARNING")]));
    assert!(!quiet.contains("INFO") && quiet.contains("Exported 2857 statements"), "{quiet}");
    // The prefixed spelling is not the reference's and changes nothing.
    let prefixed = stderr(&run_env(lake, &["make", "--force-exports"], &[("LAKEHOUSE_LOG_LEVEL", "error")]));
    assert!(prefixed.contains(" INFO "), "{prefixed}");
    let bad = run_env(lake, &["make"], &[("LOG_LEVEL", "loud")]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).starts_with("error: Invalid setting LOG_LEVEL=\"loud\""), "{}", stderr(&bad));
    // DEBUG: an error with its causes, one per line.
    let missing = lake.join("missing.ftm.json");
    let plain = stderr(&run_env(lake, &["entities", "import", "-i", missing.to_str().unwrap()], &[]));
    assert_eq!(plain.lines().count(), 1, "{plain}");
    let debug = stderr(&run_env(lake, &["entities", "import", "-i", missing.to_str().unwrap()], &[("DEBUG", "1")]));
    assert!(debug.lines().nth(1).is_some_and(|l| l.starts_with("  caused by: ")), "{debug}");
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let donations = testkit::fixtures().join("donations.ftm.json");
    assert!(run_env(dir.path(), &["entities", "import", "-i", donations.to_str().unwrap()], &[]).status.success());
    for args in [["entities", "iterate"], ["statements", "iterate"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ftm-lakehouse"))
            .arg("--uri")
            .arg(dir.path())
            .args(["-d", "ds"])
            .args(args)
            .env_remove("LAKEHOUSE_URI")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
        assert!(!first.is_empty());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("error"), "{args:?}: {}", stderr(&out));
    }
}
