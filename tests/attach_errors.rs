//! Every bad input gets one line on stderr and its own exit code; never a panic.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

#[test]
fn no_such_process() {
    let out = memwatch()
        .args(["--pid", "999999999", "--no-tui"])
        .output()
        .unwrap();
    assert_one_line_error(&out, 10, "no such process");
    let out = memwatch().args(["--pid", "0"]).output().unwrap();
    assert_one_line_error(&out, 10, "no such process");
}

#[test]
fn not_a_python_process() {
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let out = memwatch()
        .args([
            "--pid",
            &sleeper.id().to_string(),
            "--no-tui",
            "--no-record",
        ])
        .output()
        .unwrap();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_one_line_error(&out, 11, "is not a Python process");
}

#[test]
fn run_of_a_non_python_command_is_refused_and_cleaned_up() {
    let out = output_within(
        {
            let mut c = memwatch();
            c.args(["run", "--no-tui", "--no-record", "--", "sleep", "30"]);
            c
        },
        Duration::from_secs(30),
    );
    assert_one_line_error(&out, 11, "is not a Python process");
}

#[test]
fn run_of_a_missing_command() {
    let out = memwatch()
        .args(["run", "--no-record", "--", "/no/such/program"])
        .output()
        .unwrap();
    assert_one_line_error(&out, 15, "cannot start");
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn permission_denied_says_what_to_do() {
    let py = interpreter("python3").unwrap();
    if !is_root() {
        eprintln!("skip: needs root to run memwatch as another user against our target");
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skip: setpriv (util-linux) is not installed");
        return;
    }
    let target = Target::start(&py, "idle.py", &["20"]);
    // an unprivileged user may not read a root process
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_memwatch"))
        .args([
            "--pid",
            &target.pid().to_string(),
            "--no-tui",
            "--no-record",
        ])
        .output()
        .unwrap();
    assert_one_line_error(&out, 12, "CAP_SYS_PTRACE");
    assert!(stderr_of(&out).contains("permission denied"));
}

#[test]
fn unsupported_interpreters_are_named() {
    let old: Vec<Interp> = pyenv_interpreters()
        .into_iter()
        .filter(|i| !i.supported())
        .collect();
    if old.is_empty() {
        eprintln!("skip: pyenv lists no interpreter outside 3.8–3.15");
        return;
    }
    for py in old {
        let target = Target::start(&py, "idle.py", &["20"]);
        let out = memwatch()
            .args([
                "--pid",
                &target.pid().to_string(),
                "--no-tui",
                "--no-record",
            ])
            .output()
            .unwrap();
        let exact = py.label.trim_start_matches("pyenv-");
        assert_one_line_error(
            &out,
            13,
            &format!("unsupported interpreter in PID {}", target.pid()),
        );
        assert!(
            stderr_of(&out).contains(exact),
            "{}: {}",
            py.label,
            stderr_of(&out)
        );
    }
}

#[test]
fn a_process_that_already_exited() {
    // a zombie: exited, not yet reaped by its parent
    let py = interpreter("python3").unwrap();
    let mut parent = Command::new(&py.path)
        .args([
            "-c",
            "import os, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\nprint(pid, flush=True)\ntime.sleep(30)",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(parent.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let out = memwatch()
        .args(["--pid", line.trim(), "--no-tui", "--no-record"])
        .output()
        .unwrap();
    let _ = parent.kill();
    let _ = parent.wait();
    assert_one_line_error(&out, 14, "exited");
}

#[test]
fn usage_errors() {
    let out = memwatch().output().unwrap();
    assert_one_line_error(&out, 2, "nothing to do");
    let out = memwatch()
        .args(["--pid", "1", "--rate", "0"])
        .output()
        .unwrap();
    assert_one_line_error(&out, 2, "--rate");
    let out = memwatch()
        .args(["--pid", "1", "--duration", "-1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
