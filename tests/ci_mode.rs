//! CI mode and the files memwatch shares, as a CI job uses them:
//!
//! - `memwatch run --fail-on important --report FILE -- pytest -x DIR` with a real pytest
//!   (scripts/test-venv.sh): a suite whose test leaks exits 30 and its report names the list;
//!   the same suite without the leak exits 0; a failing test without a leak exits with
//!   pytest's own code (1); the report file is written in the format its name asks for.
//! - A command killed by a signal passes on 128 + N.
//! - Every file memwatch writes is owner-only (0600): the session and its `-wal` while the
//!   watch runs, the report; `--file-mode 644` asks for another mode.
//! - A `--report` in a folder that does not exist is refused before anything starts (23).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `memwatch run --fail-on important --no-tui --record SESSION --report REPORT -- pytest -x
/// -q DIR` with the test venv's pytest (None: no test venv, skipped).
fn pytest_under_memwatch(suite: &str, report: &Path, session: &Path) -> Option<Output> {
    let venv = gunicorn_venv()?;
    if !venv.join("bin/pytest").exists() {
        eprintln!(
            "skip: no pytest in {} (scripts/test-venv.sh installs it)",
            venv.display()
        );
        return None;
    }
    let mut cmd = memwatch();
    cmd.args(["run", "--no-tui", "--fail-on", "important", "--record"])
        .arg(session)
        .arg("--report")
        .arg(report)
        .arg("--")
        .arg(venv.join("bin/pytest"))
        .args(["-x", "-q", "-p", "no:cacheprovider"])
        .arg(target_script(&format!("ci/{suite}")))
        .env("PYTHONDONTWRITEBYTECODE", "1");
    Some(output_within(cmd, Duration::from_secs(120)))
}

#[test]
fn a_leaking_test_suite_fails_the_job_with_code_30_and_a_markdown_report() {
    let dir = tempfile::tempdir().unwrap();
    let (report, session) = (dir.path().join("memory.md"), dir.path().join("s.db"));
    let Some(out) = pytest_under_memwatch("leaky", &report, &session) else {
        return;
    };
    assert_eq!(out.status.code(), Some(30), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("finding(s) at or above important (--fail-on important)"),
        "{err}"
    );
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.starts_with("# "), "a Markdown heading first: {md}");
    assert!(md.contains("test_service._SERVED"), "{md}");
    assert!(md.contains("## Important"), "{md}");
    assert!(!md.contains('\u{1b}'), "no terminal escapes in Markdown");
    assert_eq!(mode(&report), 0o600);
    assert_eq!(mode(&session), 0o600);
}

#[test]
fn a_steady_test_suite_passes_and_a_failing_one_keeps_pytests_code() {
    let dir = tempfile::tempdir().unwrap();
    let (report, session) = (dir.path().join("memory.json"), dir.path().join("s.db"));
    let Some(out) = pytest_under_memwatch("steady", &report, &session) else {
        return;
    };
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    // the .json report is JSON, and names no Important finding
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let findings = r["findings"].as_array().unwrap();
    assert!(
        findings.iter().all(|f| f["severity"] != "important"),
        "{findings:?}"
    );
    assert!(
        r["heap"]["censuses"].as_u64().unwrap_or(0) >= 3,
        "{}",
        r["heap"]
    );

    let (report, session) = (dir.path().join("broken.md"), dir.path().join("b.db"));
    let out = pytest_under_memwatch("failing", &report, &session).unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "pytest's own code: {}",
        stderr_of(&out)
    );
    assert!(
        stderr_of(&out).contains("the command exited with code 1, passed on"),
        "{}",
        stderr_of(&out)
    );
    assert!(report.exists());
}

#[test]
fn a_command_killed_by_a_signal_passes_on_128_plus_the_signal() {
    let py = interpreter("python3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = memwatch();
    cmd.args([
        "run",
        "--no-tui",
        "--fail-on",
        "important",
        "--no-record",
        "--",
    ])
    .arg(&py.path)
    .args([
        "-c",
        "import os, signal, time; time.sleep(1.5); os.kill(os.getpid(), signal.SIGTERM)",
    ])
    .current_dir(dir.path());
    let out = output_within(cmd, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(128 + 15), "{}", stderr_of(&out));
}

#[test]
fn files_are_owner_only_while_the_watch_runs_unless_file_mode_says_otherwise() {
    let py = interpreter("python3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("live.db");
    let wal = PathBuf::from(format!("{}-wal", session.display()));
    let mut cmd = memwatch();
    cmd.args(["run", "--no-tui", "--duration", "4", "--record"])
        .arg(&session)
        .arg("--")
        .arg(&py.path)
        .arg(py.script("growing_list.py"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    // the write-ahead log exists while the watch runs: it has the session's mode
    let start = Instant::now();
    while !wal.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(wal.exists(), "no {}", wal.display());
    assert_eq!(mode(&session), 0o600);
    assert_eq!(mode(&wal), 0o600);
    assert!(child.wait().unwrap().success());
    assert_eq!(mode(&session), 0o600);

    // an export of it, and --file-mode for a file meant for others
    let txt = dir.path().join("report.txt");
    let out = memwatch()
        .arg("report")
        .arg(&session)
        .arg("-o")
        .arg(&txt)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(mode(&txt), 0o600);
    let shared = dir.path().join("shared.json");
    let out = memwatch()
        .arg("report")
        .arg(&session)
        .args(["--format", "json", "--file-mode", "644", "-o"])
        .arg(&shared)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(mode(&shared), 0o644);
    let _: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&shared).unwrap()).unwrap();
}

#[test]
fn a_report_in_a_missing_folder_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = memwatch();
    cmd.args(["run", "--no-tui", "--no-record", "--report"])
        .arg(dir.path().join("no/such/folder/report.md"))
        .args(["--", "python3", "-c", "print('must not run')"]);
    let out = output_within(cmd, Duration::from_secs(20));
    assert_one_line_error(&out, 23, "no such folder");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("must not run"));
}
