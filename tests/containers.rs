//! Targets in containers: a CPython 3.15 service in a mount and PID namespace of its own, with
//! Debian sid as its root (`unshare --mount --pid --fork --root=SID python3.15 …`, what Docker
//! or podman make), watched by its host PID as a user would: `memwatch --pid` must name its
//! growing cache within 30 s, read its source through /proc/PID/root (the file does not exist
//! on this machine's own root), and say in the report which root the target had.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A target started under `unshare`: the unshare process and the Python inside it.
struct Namespaced {
    unshare: std::process::Child,
    python: i32,
}

impl Drop for Namespaced {
    fn drop(&mut self) {
        // PID 1 of its namespace: only SIGKILL reaches it from outside
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.python),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

/// The first child of `pid` (from /proc/PID/task/PID/children), waited for up to `limit`.
fn child_of(pid: u32, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        if let Some(c) = children.split_whitespace().next() {
            return c.parse().ok();
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn start_namespaced(py: &Interp, script: &str) -> Option<Namespaced> {
    let (root, exe) = py.root.clone()?;
    let mut unshare = match Command::new("unshare")
        .args(["--mount", "--pid", "--fork"])
        .arg(format!("--root={}", root.display()))
        .arg(&exe)
        .arg(py.script(script))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("skip: cannot run unshare: {e}");
            return None;
        }
    };
    let stdout = unshare.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    if line.trim() != "ready" {
        let _ = unshare.kill();
        let _ = unshare.wait();
        eprintln!("skip: unshare --mount --pid --fork did not start the target (needs root)");
        return None;
    }
    let python = child_of(unshare.id(), Duration::from_secs(5)).expect("unshare's child");
    Some(Namespaced { unshare, python })
}

#[test]
fn a_python_3_15_service_in_its_own_namespaces_is_watched_by_its_host_pid() {
    let Some(py) = interpreter("sid-3.15") else {
        return;
    };
    let Some(target) = start_namespaced(&py, "smells/leak_cache.py") else {
        return;
    };
    let status = std::fs::read_to_string(format!("/proc/{}/status", target.python)).unwrap();
    assert!(
        status.contains("NSpid:")
            && status
                .lines()
                .any(|l| l.starts_with("NSpid:") && l.ends_with("\t1")),
        "the target is PID 1 of its own PID namespace: {status}"
    );
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("ns.db");
    let mut cmd = memwatch();
    cmd.args([
        "--pid",
        &target.python.to_string(),
        "--no-tui",
        "--duration",
        "30",
        "--record",
    ])
    .arg(&session);
    let out = output_within(cmd, Duration::from_secs(90));
    assert!(out.status.success(), "memwatch: {}", stderr_of(&out));
    drop(target);

    let r = report_json(&session, &[]);
    let s = &r["summary"];
    assert!(
        s["python_version"].as_str().unwrap().starts_with("3.15."),
        "{s}"
    );
    let root = &s["target_root"];
    assert_eq!(
        root["root"].as_str(),
        py.root.as_ref().unwrap().0.to_str(),
        "the report names the target's root: {s}"
    );
    assert_eq!(root["own_mounts"], true, "{s}");
    assert_eq!(root["namespace_pid"], 1, "{s}");

    // the growing cache, named, within 30 s of attach
    let found = r["findings"].as_array().cloned().unwrap_or_default();
    let cache = found
        .iter()
        .find(|f| f["kind"] == "unbounded_container" && f["name"] == "__main__._PRICE_CACHE")
        .unwrap_or_else(|| panic!("no finding names __main__._PRICE_CACHE: {found:#?}"));
    let first_seen = cache["first_seen"].as_f64().unwrap() / 1e6;
    assert!(first_seen <= 30.0, "named after {first_seen:.1} s");

    // the line table shows the program's source, read through the target's own root
    let host_copy = std::path::Path::new("/")
        .join(py.script("smells/leak_cache.py").strip_prefix("/").unwrap());
    assert!(
        !host_copy.exists(),
        "the script must exist only under the target's root for this test"
    );
    let lines = r["top_user_lines"].as_array().cloned().unwrap_or_default();
    assert!(
        lines.iter().any(|l| l["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("leak_cache.py"))
            && l["contents"].as_str().is_some_and(|c| !c.trim().is_empty())),
        "source of leak_cache.py in the line table: {lines:#?}"
    );
}
