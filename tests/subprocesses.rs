//! Process trees: `--subprocesses` and several `--pid`s. Real pools (multiprocessing fork,
//! ProcessPoolExecutor spawn), a real gunicorn with two sync workers driven over HTTP, and a
//! parent that leaks while its workers do not: each leak is named in the right process within
//! 30 s, steady workers stay quiet, the tree's session reads back with per-process sections,
//! and kill -9 of memwatch leaves every process running and untraced.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// How long each tree is watched: its leaks must be named within 30 s.
const WATCH_SECS: &str = "30";

/// A target started in a process group of its own: dropping it kills the whole group (pool
/// workers included).
struct TreeTarget {
    child: Child,
}

impl TreeTarget {
    fn start(mut cmd: Command) -> TreeTarget {
        let mut child = cmd
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start target");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "target did not start");
        TreeTarget { child }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for TreeTarget {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.wait();
    }
}

/// Every descendant of `pid` (and `pid`), from /proc.
fn tree_pids(pid: i32) -> Vec<i32> {
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(c) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{c}/stat")) else {
                continue;
            };
            let ppid: Option<i32> = stat
                .rsplit_once(") ")
                .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse().ok());
            if ppid == Some(p) && !out.contains(&c) {
                out.push(c);
            }
        }
        i += 1;
    }
    out
}

/// `memwatch --pid PID --subprocesses` for WATCH_SECS; the session's tree report (JSON).
fn watch_tree(pid: i32, session: &Path, extra: &[&str]) -> Value {
    let mut cmd = memwatch();
    cmd.args(["--pid", &pid.to_string(), "--subprocesses", "--no-tui"])
        .args(["--duration", WATCH_SECS, "--status-interval", "5"])
        .arg("--record")
        .arg(session)
        .args(extra);
    let out = output_within(cmd, Duration::from_secs(90));
    assert!(out.status.success(), "memwatch failed: {}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("(process tree)"),
        "tree report printed: {text}"
    );
    report_json(session, &[])
}

fn findings(r: &Value) -> Vec<Value> {
    r["findings"].as_array().cloned().unwrap_or_default()
}

fn important(r: &Value) -> Vec<Value> {
    findings(r)
        .into_iter()
        .filter(|f| f["severity"] == "important")
        .collect()
}

/// The processes a finding names: (role, pid).
fn finding_procs(f: &Value) -> Vec<(String, i32)> {
    f["processes"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|l| {
                    let l = l.as_str()?;
                    let mut w = l.split_whitespace();
                    Some((w.next()?.to_string(), w.next()?.parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn sampled(r: &Value) -> Vec<Value> {
    r["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["not_sampled"].is_null())
        .cloned()
        .collect()
}

fn dump(r: &Value) -> String {
    let procs: Vec<String> = r["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{} {} {}", p["pid"], p["label"], p["not_sampled"]))
        .collect();
    let fs: Vec<String> = findings(r)
        .iter()
        .map(|f| {
            format!(
                "{} {} {:?} {}",
                f["severity"],
                f["name"],
                finding_procs(f),
                f["evidence"]
            )
        })
        .collect();
    format!("processes: {procs:#?}\nfindings: {fs:#?}")
}

/// The one finding on `name` in the workers: it lists `workers` workers (never the parent),
/// and was first seen within 30 s.
fn assert_worker_leak(r: &Value, name: &str, parent: i32, workers: usize) {
    let hits: Vec<Value> = important(r)
        .into_iter()
        .filter(|f| f["name"].as_str().is_some_and(|n| n.ends_with(name)))
        .collect();
    assert_eq!(hits.len(), 1, "one finding on {name}:\n{}", dump(r));
    let procs = finding_procs(&hits[0]);
    assert_eq!(
        procs.len(),
        workers,
        "{name} in {workers} workers:\n{}",
        dump(r)
    );
    for (role, pid) in &procs {
        assert_eq!(role, "worker", "{}", dump(r));
        assert_ne!(*pid, parent, "the parent does not leak:\n{}", dump(r));
    }
    let first = hits[0]["first_seen"].as_u64().unwrap() as f64 / 1e6;
    assert!(first <= 30.0, "named after {first:.1} s");
    // the parent has no Important finding of its own
    for f in important(r) {
        assert!(
            !finding_procs(&f).iter().any(|(_, p)| *p == parent),
            "parent named:\n{}",
            dump(r)
        );
    }
}

fn python3() -> Interp {
    interpreter("python3").unwrap()
}

#[test]
fn fork_pool_workers_leak_named_once_for_both_workers() {
    // one tree at a time: a tree is many processes on a 2-core machine
    let _one = heavy();
    let mut interps = vec![python3()];
    interps.extend(interpreter("3.8"));
    interps.extend(interpreter("sid-3.15"));
    let runs: Vec<_> = interps
        .into_iter()
        .map(|py| {
            std::thread::spawn(move || {
                let mut cmd = py.command();
                cmd.arg(py.script("tree/pool_fork.py")).arg("leak");
                let target = TreeTarget::start(cmd);
                let dir = tempfile::tempdir().unwrap();
                let session = dir.path().join("tree.db");
                let r = watch_tree(target.pid(), &session, &[]);
                eprintln!("{}: {}", py.label, dump(&r));
                assert_eq!(r["kind"], "tree");
                assert!(sampled(&r).len() >= 3, "parent and 2 workers: {}", dump(&r));
                assert_worker_leak(&r, "_AUDIT", target.pid(), 2);
                // the workers that grow alike are one group
                let groups = r["groups"].as_array().unwrap();
                assert!(
                    groups
                        .iter()
                        .any(|g| g["alike"] == true && g["grew"].as_array().unwrap().len() == 2),
                    "{groups:#?}"
                );
                // every sampled process has its own full report, with its own samples (a
                // process whose RSS stands still, the parent, is sampled at a quarter rate)
                for p in r["reports"].as_array().unwrap() {
                    assert!(
                        p["report"]["summary"]["samples"].as_u64().unwrap() > 20,
                        "{p}"
                    );
                }
                // the text report and the replay (no terminal here) say the same
                let text = memwatch().arg("report").arg(&session).output().unwrap();
                let text = String::from_utf8_lossy(&text.stdout).to_string();
                assert!(text.contains("2 workers of"), "{text}");
                assert!(text.contains("grow alike"), "{text}");
                assert!(text.contains("Total RSS over time"), "{text}");
                assert!(text.contains("════ worker"), "per-process section: {text}");
                let replay = memwatch()
                    .arg("replay")
                    .arg(&session)
                    .stdin(Stdio::null())
                    .output()
                    .unwrap();
                assert!(String::from_utf8_lossy(&replay.stdout).contains("(process tree)"));
                // markdown: the finding names its processes
                let md = memwatch()
                    .arg("report")
                    .arg(&session)
                    .args(["--format", "markdown"])
                    .output()
                    .unwrap();
                let md = String::from_utf8_lossy(&md.stdout).to_string();
                assert!(md.contains("**Process**: 2 workers"), "{md}");
            })
        })
        .collect();
    for r in runs {
        r.join().expect("a run failed (its message is above)");
    }
}

#[test]
fn steady_fork_workers_stay_quiet() {
    // one tree at a time: a tree is many processes on a 2-core machine
    let _one = heavy();
    let py = python3();
    let mut cmd = py.command();
    cmd.arg(py.script("tree/pool_fork.py")).arg("steady");
    let target = TreeTarget::start(cmd);
    let dir = tempfile::tempdir().unwrap();
    let r = watch_tree(target.pid(), &dir.path().join("tree.db"), &[]);
    assert!(sampled(&r).len() >= 3, "{}", dump(&r));
    assert!(
        important(&r).is_empty(),
        "no Important finding:\n{}",
        dump(&r)
    );
}

#[test]
fn spawn_executor_workers_found_and_named() {
    // one tree at a time: a tree is many processes on a 2-core machine
    let _one = heavy();
    let py = python3();
    let mut cmd = py.command();
    cmd.arg(py.script("tree/pool_spawn.py"));
    let target = TreeTarget::start(cmd);
    let dir = tempfile::tempdir().unwrap();
    let r = watch_tree(target.pid(), &dir.path().join("tree.db"), &[]);
    // spawn: the resource tracker is a Python process too; the two workers are sampled
    assert!(sampled(&r).len() >= 3, "{}", dump(&r));
    assert_worker_leak(&r, "_AUDIT", target.pid(), 2);
}

#[test]
fn a_leaking_parent_is_named_and_its_steady_workers_are_not() {
    // one tree at a time: a tree is many processes on a 2-core machine
    let _one = heavy();
    let py = python3();
    let mut cmd = py.command();
    cmd.arg(py.script("tree/parent_leaks.py"));
    let target = TreeTarget::start(cmd);
    let dir = tempfile::tempdir().unwrap();
    let r = watch_tree(target.pid(), &dir.path().join("tree.db"), &[]);
    let hits: Vec<Value> = important(&r)
        .into_iter()
        .filter(|f| f["name"].as_str().is_some_and(|n| n.ends_with("_RESULTS")))
        .collect();
    assert_eq!(hits.len(), 1, "{}", dump(&r));
    assert_eq!(
        finding_procs(&hits[0]),
        vec![("main".to_string(), target.pid())],
        "{}",
        dump(&r)
    );
    for f in important(&r) {
        assert!(
            finding_procs(&f).iter().all(|(role, _)| role == "main"),
            "a steady worker named:\n{}",
            dump(&r)
        );
    }
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn gunicorn_sync_workers_leak_named_in_the_dashboard_and_the_report() {
    // one tree at a time: a tree is many processes on a 2-core machine
    let _one = heavy();
    let Some(venv) = gunicorn_venv() else { return };
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("gunicorn.db");
    let mut cmd = memwatch();
    cmd.args([
        "run",
        "--subprocesses",
        "--no-tui",
        "--duration",
        WATCH_SECS,
    ])
    .args(["--status-interval", "5", "--record"])
    .arg(&session)
    .arg("--")
    .arg(venv.join("bin/gunicorn"))
    .args(["-w", "2", "-b", &format!("127.0.0.1:{port}")])
    .arg("--chdir")
    .arg(target_script("tree"))
    .arg("gunicorn_app:app")
    .stdin(Stdio::null());
    let started = Instant::now();
    let watch = std::thread::spawn(move || output_within(cmd, Duration::from_secs(90)));
    // an HTTP client: a request every 2 ms, until the watch ends
    let mut served = 0u64;
    while !watch.is_finished() && started.elapsed() < Duration::from_secs(60) {
        match get(port, &format!("/leak?n={served}")) {
            Some(r) if r.starts_with("HTTP/1.1 200") => served += 1,
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let out = watch.join().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(served > 1000, "only {served} requests served");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("gunicorn_app._AUDIT"), "{text}");
    let r = report_json(&session, &[]);
    let master = r["processes"][0]["pid"].as_i64().unwrap() as i32;
    assert!(sampled(&r).len() >= 3, "master and 2 workers: {}", dump(&r));
    assert_worker_leak(&r, "gunicorn_app._AUDIT", master, 2);
    // the command memwatch started does not outlive the watch, nor do its workers
    for p in r["processes"].as_array().unwrap() {
        let pid = p["pid"].as_i64().unwrap() as i32;
        let st = wait_for_state(pid, Duration::from_secs(5), |s| s == 'Z');
        assert!(st.is_none() || st == Some('Z'), "{pid} still runs: {st:?}");
    }
}

#[test]
fn kill_9_mid_watch_leaves_the_tree_running_and_the_session_readable() {
    // one tree at a time: a tree is many processes on a 2-core machine
    let _one = heavy();
    let py = python3();
    let mut cmd = py.command();
    cmd.arg(py.script("tree/pool_fork.py")).arg("leak");
    let target = TreeTarget::start(cmd);
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("killed.db");
    let mut mw = memwatch()
        .args([
            "--pid",
            &target.pid().to_string(),
            "--subprocesses",
            "--no-tui",
        ])
        .args(["--heap-interval", "0.2", "--pause-budget", "20", "--record"])
        .arg(&session)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(8));
    let pids = tree_pids(target.pid());
    assert!(pids.len() >= 3, "{pids:?}");
    mw.kill().unwrap();
    mw.wait().unwrap();
    for &pid in &pids {
        let st = wait_for_state(pid, Duration::from_secs(2), |s| s != 't' && s != 'T');
        assert!(
            st.is_some_and(|s| s != 't' && s != 'T'),
            "{pid} left stopped: {st:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(2);
        while tracer_pid(pid) != Some(0) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(tracer_pid(pid), Some(0), "{pid} still traced");
    }
    // the pool still works: the target keeps running its tasks
    std::thread::sleep(Duration::from_millis(500));
    assert!(pids.iter().all(|&p| proc_state(p).is_some()), "{pids:?}");
    let r = report_json(&session, &[]);
    assert_eq!(r["kind"], "tree");
    assert!(sampled(&r).len() >= 3, "{}", dump(&r));
    let warnings = r["warnings"].to_string();
    assert!(warnings.contains("no end record"), "{warnings}");
    // (a process whose RSS stands still, the parent, is sampled at a quarter rate)
    for p in r["reports"].as_array().unwrap() {
        assert!(
            p["report"]["summary"]["samples"].as_u64().unwrap() > 20,
            "{p}"
        );
    }
}

#[test]
fn several_pids_are_one_session() {
    // one tree at a time: a tree is many processes on a 2-core machine
    let _one = heavy();
    let py = python3();
    let a = Target::start(&py, "growing_list.py", &[]);
    let b = Target::start(&py, "idle.py", &[]);
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("two.db");
    let mut cmd = memwatch();
    cmd.args(["--pid", &format!("{},{}", a.pid(), b.pid()), "--no-tui"])
        .args(["--duration", WATCH_SECS, "--record"])
        .arg(&session);
    let out = output_within(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let r = report_json(&session, &[]);
    let pids: Vec<i64> = sampled(&r)
        .iter()
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(pids, vec![a.pid() as i64, b.pid() as i64]);
    let hits: Vec<Value> = important(&r)
        .into_iter()
        .filter(|f| f["name"].as_str().is_some_and(|n| n.ends_with("EVENTS")))
        .collect();
    assert_eq!(hits.len(), 1, "{}", dump(&r));
    assert_eq!(finding_procs(&hits[0]), vec![("main".to_string(), a.pid())]);
}

/// The largest VmRSS of `pid` seen while it runs, KiB (polled every 200 ms).
fn peak_rss_while(pid: i32, mut child: Child) -> (u64, std::process::ExitStatus) {
    let mut peak = 0;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return (peak, st);
        }
        let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(0);
        peak = peak.max(rss);
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A fork storm (a child every 20 ms, each 0.8 s, half of them exec /bin/sleep): memwatch
/// samples at most --max-processes (3 here) at once and 256 in all, lists 1024, counts the rest; its
/// memory stays bounded; children that die mid-census or exec are never left stopped.
#[test]
fn a_fork_storm_is_capped_and_nothing_is_left_stopped() {
    // one tree at a time: a tree is many processes on a 2-core machine
    let _one = heavy();
    let py = python3();
    let mut cmd = py.command();
    cmd.arg(py.script("tree/churn.py"));
    let target = TreeTarget::start(cmd);
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("storm.db");
    let mw = memwatch()
        .args([
            "--pid",
            &target.pid().to_string(),
            "--subprocesses",
            "--no-tui",
        ])
        .args(["--duration", "30", "--max-processes", "3"])
        .args(["--heap-interval", "0.2", "--pause-budget", "20", "--record"])
        .arg(&session)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mw_pid = mw.id() as i32;
    let (peak_kib, status) = peak_rss_while(mw_pid, mw);
    assert!(status.success(), "memwatch: {status:?}");
    eprintln!("memwatch peak RSS over the storm: {} MiB", peak_kib / 1024);
    assert!(peak_kib < 300 * 1024, "memwatch grew to {peak_kib} KiB");
    // the parent and whatever children are there now run, untraced
    for pid in tree_pids(target.pid()) {
        let st = proc_state(pid);
        assert!(st != Some('t') && st != Some('T'), "{pid} stopped: {st:?}");
        assert!(
            matches!(tracer_pid(pid), Some(0) | None),
            "{pid} still traced"
        );
    }
    let r = report_json(&session, &[]);
    let procs = r["processes"].as_array().unwrap();
    assert!(procs.len() <= 1024, "{} listed", procs.len());
    let sampled = sampled(&r).len();
    assert!((20..=256).contains(&sampled), "{sampled} sampled");
    // under load the storm forks more slowly; once it filled the list, the rest is counted
    assert!(procs.len() > 200, "{} processes seen", procs.len());
    let unlisted = r["unlisted"].as_u64().unwrap();
    assert!(
        unlisted == 0 || procs.len() >= 1000,
        "counted, not listed, only past the cap: {} listed, {unlisted} counted",
        procs.len()
    );
    // the exec'd children are listed as what they became
    assert!(
        procs
            .iter()
            .any(|p| p["not_sampled"] == "not a Python process"
                && p["command_line"].as_str().unwrap().starts_with("sleep")),
        "an exec'd child listed"
    );
    // the cap of processes sampled at once is said
    assert!(
        procs.iter().any(|p| p["not_sampled"]
            .as_str()
            .is_some_and(|w| w.contains("--max-processes"))),
        "the cap is named"
    );
}

/// `memwatch run --subprocesses -- sh -c '…'`: the shell is listed, not sampled; the CPython
/// processes it starts are watched, and the leaking pool's workers named (one finding for
/// both), not the steady pool's.
#[test]
fn a_shell_root_is_followed_and_its_python_children_watched() {
    // one tree at a time: a tree is many processes on a 2-core machine
    let _one = heavy();
    let py = python3();
    let script = format!(
        "{py} {leak} leak & {py} {leak} steady & wait",
        py = py.path.display(),
        leak = py.script("tree/pool_fork.py").display()
    );
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("sh.db");
    let mut cmd = memwatch();
    cmd.args([
        "run",
        "--subprocesses",
        "--no-tui",
        "--duration",
        WATCH_SECS,
    ])
    .args(["--status-interval", "5", "--record"])
    .arg(&session)
    .args(["--", "sh", "-c", &script])
    .stdin(Stdio::null());
    let out = output_within(cmd, Duration::from_secs(90));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("is not Python itself"),
        "{}",
        stderr_of(&out)
    );
    let r = report_json(&session, &[]);
    let first = &r["processes"][0];
    assert!(
        first["not_sampled"]
            .as_str()
            .is_some_and(|w| w.starts_with("not a Python process")),
        "{}",
        dump(&r)
    );
    // two pools: 2 parents and 4 workers
    assert!(sampled(&r).len() >= 6, "{}", dump(&r));
    let hits: Vec<Value> = important(&r)
        .into_iter()
        .filter(|f| f["name"].as_str().is_some_and(|n| n.ends_with("_AUDIT")))
        .collect();
    assert_eq!(hits.len(), 1, "{}", dump(&r));
    let named = finding_procs(&hits[0]);
    assert_eq!(named.len(), 2, "{}", dump(&r));
    for (_, pid) in named {
        let p = r["processes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["pid"] == pid)
            .unwrap();
        assert!(
            p["command_line"].as_str().unwrap().ends_with(" leak"),
            "a worker of the leaking pool: {}",
            dump(&r)
        );
    }
}
