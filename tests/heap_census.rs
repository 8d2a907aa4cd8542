//! `memwatch snapshot` against targets that know their own heap: census_population.py counts
//! its objects in-process exactly as memwatch defines a census and writes that down; memwatch's
//! census of it from outside must agree — per type, in total, for named containers and for the
//! GC's settings. Then: a churning target still gives an exact stable population, killing
//! memwatch while it holds the target paused lets the target run on, and bad PIDs get one line.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::*;

/// Tests that compare the target's speed before and after take this exclusively, so that the
/// other tests of this file (CPU-heavy targets) do not run meanwhile on a 2-core machine.
static CPU: RwLock<()> = RwLock::new(());

fn shared_cpu() -> RwLockReadGuard<'static, ()> {
    CPU.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive_cpu() -> RwLockWriteGuard<'static, ()> {
    CPU.write().unwrap_or_else(|e| e.into_inner())
}

/// A running census_population.py and the census it took of itself.
struct Population {
    target: Target,
    expected: Value,
    _dir: tempfile::TempDir,
}

fn start_population(py: &Interp, extra: &[&str]) -> Population {
    let (dir, inside) = py.tempdir();
    let out = inside.join("census.json");
    let mut args = vec![out.to_str().unwrap()];
    args.extend_from_slice(extra);
    // the target writes its census before it prints "ready"
    let target = Target::start(py, "census_population.py", &args);
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("census.json")).unwrap())
            .expect("the target's census JSON");
    let v = &expected["version"];
    assert_eq!(
        (v[0].as_u64(), v[1].as_u64()),
        (Some(py.version.0 as u64), Some(py.version.1 as u64)),
        "{}: the target ran under another interpreter",
        py.label
    );
    Population {
        target,
        expected,
        _dir: dir,
    }
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// memwatch's type rows by name.
fn rows(census: &Value) -> BTreeMap<String, &Value> {
    census["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r))
        .collect()
}

/// memwatch's container rows by name.
fn containers(census: &Value) -> BTreeMap<String, &Value> {
    census["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r))
        .collect()
}

/// Objects on generations 0–2 by memwatch's count (the permanent generation apart).
fn gc_total(census: &Value) -> u64 {
    census["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| u(&r["gc_count"]))
        .sum()
}

/// (count, bytes) summed over one of the target's maps (`tracked`, `untracked`).
fn totals(expected: &Value, map: &str) -> (u64, u64) {
    expected[map]
        .as_object()
        .unwrap()
        .values()
        .fold((0, 0), |(c, b), e| (c + u(&e[0]), b + u(&e[1])))
}

fn within(got: u64, want: u64, fraction: f64) -> bool {
    (got as f64 - want as f64).abs() <= fraction * want as f64
}

/// One snapshot of a quiet census_population.py, compared with the target's own census.
fn census_is_exact(label: &str) {
    let _cpu = shared_cpu();
    let Some(py) = interpreter(label) else { return };
    let pop = start_population(&py, &[]);
    let (out, census) = snapshot_json(pop.target.pid(), &[], Duration::from_secs(60));
    let c = census.unwrap_or_else(|| panic!("{}: snapshot failed: {}", py.label, stderr_of(&out)));
    check_exact(&py.label, &c, &pop.expected);
}

/// memwatch's census `c` against the target's own `e`.
fn check_exact(who: &str, c: &Value, e: &Value) {
    // every tracked type: the count exactly, the bytes exactly where memwatch says they are
    let custom: Vec<&str> = e["custom_sizeof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let got = rows(c);
    let mut wrong = Vec::new();
    for (name, entry) in e["tracked"].as_object().unwrap() {
        let (count, bytes) = (u(&entry[0]), u(&entry[1]));
        let Some(row) = got.get(name) else {
            wrong.push(format!("{name}: {count} objects, memwatch has no row"));
            continue;
        };
        let (gc_count, gc_bytes) = (u(&row["gc_count"]), u(&row["gc_bytes"]));
        if gc_count != count {
            wrong.push(format!("{name}: count {gc_count}, target says {count}"));
        }
        let bytes_comparable = row["size_exact"] == true && !custom.contains(&name.as_str());
        if bytes_comparable && gc_bytes != bytes {
            wrong.push(format!("{name}: bytes {gc_bytes}, target says {bytes}"));
        }
    }
    // and nothing on the GC lists that the target does not have
    for (name, row) in &got {
        if u(&row["gc_count"]) > 0 && e["tracked"].get(name).is_none() {
            wrong.push(format!(
                "{name}: {} tracked objects the target does not have",
                row["gc_count"]
            ));
        }
    }
    assert!(wrong.is_empty(), "{who}: tracked types differ:\n{wrong:#?}");
    let (tracked, _) = totals(e, "tracked");
    assert_eq!(gc_total(c), tracked, "{who}: objects on generations 0-2");
    assert_eq!(
        u(&c["gc"]["generation_objects"][3]),
        u(&e["freeze_count"]),
        "{who}: permanent generation (375 tuples on 3.12, else empty)"
    );

    // untracked objects: within 1% (C-extension heap types whose tp_traverse memwatch does not
    // emulate; on 3.12 the permanent generation's tuples, whose referents memwatch follows)
    let (count, bytes) = totals(e, "untracked");
    let (other, other_bytes) = (u(&c["other_objects"]), u(&c["other_bytes"]));
    assert!(
        within(other, count, 0.01),
        "{who}: {other} untracked objects, target says {count}"
    );
    assert!(
        within(other_bytes, bytes, 0.01),
        "{who}: {other_bytes} untracked bytes, target says {bytes}"
    );

    // named containers: found by their exact name, with their exact length
    let named = containers(c);
    let mut wrong = Vec::new();
    for (name, len) in e["containers"].as_object().unwrap() {
        match named.get(name) {
            Some(row) if row["len"] == *len => {}
            Some(row) => wrong.push(format!("{name}: len {}, target says {len}", row["len"])),
            None => wrong.push(format!(
                "{name} (len {len}) not among memwatch's containers"
            )),
        }
    }
    assert!(wrong.is_empty(), "{who}: containers differ:\n{wrong:#?}");
    assert_eq!(named["__main__.RING"]["bound"], 1000, "{who}: deque maxlen");
    assert_eq!(
        named["__main__.square"]["bound"], 256,
        "{who}: lru_cache maxsize"
    );

    // the GC's settings, and a census that claims to be exact
    assert_eq!(c["gc"]["enabled"], e["gc_enabled"], "{who}: gc.isenabled()");
    assert_eq!(
        c["gc"]["thresholds"], e["gc_threshold"],
        "{who}: gc.get_threshold()"
    );
    assert_eq!(c["gc"]["collecting"], false, "{who}");
    assert_eq!(
        c["approximate"], false,
        "{who}: census marked approximate: {}",
        c["notes"]
    );
    assert!(
        u(&c["pause_us"]) > 0 && u(&c["copy_bytes"]) > 0,
        "{who}: {c}"
    );
}

/// 1.25 GiB of array data beside the objects (more than memwatch copies whole with nothing
/// learned yet): the census first walks the running target to learn which chunks hold
/// objects, then pauses it to copy only those. Still exact, and memwatch's own memory stays
/// near the objects', far from the target's RSS.
fn census_beside_arrays(label: &str) {
    let _cpu = shared_cpu();
    let Some(py) = interpreter(label) else { return };
    let pop = start_population(&py, &["--arrays", "5"]);
    let pid = pop.target.pid().to_string();
    let mut cmd = memwatch();
    cmd.args(["snapshot", "--pid", &pid, "--format", "json", "--no-graph"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let status = format!("/proc/{}/status", child.id());
    // memwatch's peak RSS, read while it runs (VmHWM only grows)
    let (tx, rx) = std::sync::mpsc::channel();
    let watcher = std::thread::spawn(move || {
        let mut peak_kib = 0u64;
        while rx.try_recv().is_err() {
            if let Some(kib) = std::fs::read_to_string(&status).ok().and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            }) {
                peak_kib = peak_kib.max(kib);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        peak_kib
    });
    let out = child.wait_with_output().unwrap();
    tx.send(()).unwrap();
    let peak_mib = watcher.join().unwrap() / 1024;
    let who = &py.label;
    assert!(out.status.success(), "{who}: {}", stderr_of(&out));
    let c: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        c["discovered"], true,
        "{who}: the copy was not learned: {c}"
    );
    let copied_mib = u(&c["copy_bytes"]) >> 20;
    assert!(copied_mib < 200, "{who}: {copied_mib} MiB copied");
    check_exact(who, &c, &pop.expected);
    assert!(
        peak_mib > 0 && peak_mib < 400,
        "{who}: memwatch's peak RSS {peak_mib} MiB beside 1.25 GiB of arrays"
    );
}

mod beside_arrays {
    #[test]
    fn python3() {
        super::census_beside_arrays("python3")
    }
    #[test]
    fn py3_8() {
        super::census_beside_arrays("3.8")
    }
    #[test]
    fn sid_3_15() {
        super::census_beside_arrays("sid-3.15")
    }
}

macro_rules! per_interpreter {
    ($($name:ident => $label:expr),* $(,)?) => {
        mod exact_census {
            $( #[test] fn $name() { super::census_is_exact($label) } )*
        }
    };
}

per_interpreter! {
    py3_8 => "3.8",
    py3_9 => "3.9",
    py3_10 => "3.10",
    py3_11 => "3.11",
    py3_12 => "3.12",
    py3_13 => "3.13",
    py3_14 => "3.14",
    py3_15 => "3.15",
    python3 => "python3",
    system_python3 => "system",
    sid_3_13 => "sid-3.13",
    sid_3_14 => "sid-3.14",
    sid_3_15 => "sid-3.15",
    sid_3_14_debug => "sid-3.14d",
    sid_3_15_debug => "sid-3.15d",
}

/// A layout table that does not match the interpreter is found out, never counted: GC list
/// heads where there are none (MEMWATCH_LAYOUT_OVERRIDE puts them there) make `snapshot` fail
/// with one line naming the interpreter (exit 16) and a watch go on without the heap census,
/// saying so, with no "nothing grew" verdict; on 3.13+ a figure the interpreter's
/// _Py_DebugOffsets describe is taken from them, the census stays exact and the difference is
/// named.
fn wrong_layout_is_found_out(label: &str) {
    let _cpu = shared_cpu();
    let Some(py) = interpreter(label) else { return };
    let who = &py.label;
    let target = Target::start(&py, "idle.py", &["60"]);
    let pid = target.pid().to_string();
    let wrong = "gc_generations_candidates=[28]";
    let out = output_within(
        {
            let mut c = memwatch();
            c.env("MEMWATCH_LAYOUT_OVERRIDE", wrong)
                .args(["snapshot", "--pid", &pid]);
            c
        },
        Duration::from_secs(30),
    );
    assert_one_line_error(&out, 16, "GC list layout not understood");
    assert!(
        stderr_of(&out).contains(&format!("CPython {}.{}.", py.version.0, py.version.1)),
        "{who}: {}",
        stderr_of(&out)
    );

    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("s.db");
    let mut c = memwatch();
    c.env("MEMWATCH_LAYOUT_OVERRIDE", wrong)
        .args(["--pid", &pid, "--no-tui", "--duration", "2", "--record"])
        .arg(&session);
    let out = output_within(c, Duration::from_secs(30));
    assert!(out.status.success(), "{who}: {}", stderr_of(&out));
    assert_eq!(count_rows(&session, "censuses"), 0, "{who}");
    let r = report_json(&session, &[]);
    assert!(r["heap"].is_null(), "{who}");
    assert!(
        r["notes"].to_string().contains("no heap census: CPython"),
        "{who}: {}",
        r["notes"]
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("no heap census was taken") && !text.contains("nothing grew"),
        "{who}: {text}"
    );

    if py.version >= (3, 13) {
        // a figure the debug offsets carry: theirs is used, and the difference named
        let (field, table) = ("interp_modules", 1234);
        let spec = format!("{field}={table}");
        let mut c = memwatch();
        c.env("MEMWATCH_LAYOUT_OVERRIDE", &spec).args([
            "snapshot",
            "--pid",
            &pid,
            "--format",
            "json",
            "--no-graph",
        ]);
        let out = output_within(c, Duration::from_secs(30));
        assert!(out.status.success(), "{who}: {}", stderr_of(&out));
        let census: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(u(&census["gc_objects"]) > 1000, "{who}: {census}");
        let notes = census["notes"].to_string();
        assert!(
            notes.contains("differs from the interpreter's _Py_DebugOffsets")
                && notes.contains(&format!("{field} {table} → ")),
            "{who}: {notes}"
        );
    }
}

mod wrong_layout {
    #[test]
    fn python3() {
        super::wrong_layout_is_found_out("python3")
    }
    #[test]
    fn sid_3_13() {
        super::wrong_layout_is_found_out("sid-3.13")
    }
    #[test]
    fn sid_3_15() {
        super::wrong_layout_is_found_out("sid-3.15")
    }
}

/// Two threads allocate and free while memwatch pauses the target: the census still finishes,
/// and what did not churn is counted exactly.
#[test]
fn churning_target_keeps_its_stable_population_exact() {
    let _cpu = shared_cpu();
    let py = interpreter("python3").unwrap();
    let pop = start_population(&py, &["--churn", "2"]);
    // let the churn threads get going (and the GC collect behind them)
    std::thread::sleep(Duration::from_millis(300));
    // a thread stopped half-way through linking or unlinking a node tears a GC list: memwatch
    // copies again (up to 5 attempts), so one paused snapshot comes back exact
    let started = Instant::now();
    let (out, c) = snapshot_json(pop.target.pid(), &[], Duration::from_secs(30));
    let c = c.unwrap_or_else(|| panic!("snapshot failed: {}", stderr_of(&out)));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        c["approximate"], false,
        "approximate census of a paused target after {} attempt(s): {}",
        c["attempts"], c["notes"]
    );
    let e = &pop.expected;

    let got = rows(&c);
    let expected_count = |name: &str| u(&e["tracked"][name][0]);
    assert_eq!(
        u(&got["__main__.Slotted"]["gc_count"]),
        expected_count("__main__.Slotted"),
        "Slotted instances (no thread makes or frees any)"
    );
    assert_eq!(
        u(&got["__main__.Slotted"]["gc_bytes"]),
        u(&e["tracked"]["__main__.Slotted"][1])
    );
    let named = containers(&c);
    for name in ["__main__.SLOTS", "__main__.PLAINS", "__main__.CACHE"] {
        assert_eq!(named[name]["len"], e["containers"][name], "{name}");
    }

    // Bound on what the churn threads hold at any instant. Each keeps at most 52 entries
    // (it appends a list and a dict, then trims 51+ down to 26): 26 lists of 100 Plain
    // instances (≤ 201 tracked objects each: the list, the instances and, on 3.8–3.10, their
    // __dict__s) and 26 dicts of int → str (1 each at most), plus one list being built
    // (≤ 201): 26·201 + 26 + 201 = 5,453 per thread. Two threads: 10,906; 12,000 leaves
    // room for the threads' own bookkeeping.
    const CHURN_BOUND: u64 = 12_000;
    let (stable, _) = totals(e, "tracked");
    let total = gc_total(&c);
    assert!(
        total + 50 >= stable && total <= stable + CHURN_BOUND,
        "{total} objects on generations 0-2; stable population {stable}, churn adds at most {CHURN_BOUND}"
    );
    let plains = u(&got["__main__.Plain"]["gc_count"]);
    let stable_plains = expected_count("__main__.Plain");
    assert!(
        plains >= stable_plains && plains <= stable_plains + 2 * 27 * 100,
        "{plains} Plain instances; {stable_plains} stable, churn holds at most 5,400"
    );
}

/// steady_counter.py under the machine's python3, and a file for its windows.
fn steady_target(dir: &Path) -> (Target, std::path::PathBuf) {
    let py = interpreter("python3").unwrap();
    let counts = dir.join("counts.txt");
    let target = Target::start(
        &py,
        "steady_counter.py",
        &[counts.to_str().unwrap(), "--window", "0.25"],
    );
    (target, counts)
}

/// SIGKILL memwatch while it holds the target paused: the kernel detaches the target, which
/// runs on at its old speed.
#[test]
fn killing_memwatch_during_a_pause_resumes_the_target() {
    let _cpu = exclusive_cpu();
    let dir = tempfile::tempdir().unwrap();
    let (target, counts) = steady_target(dir.path());
    let pid = target.pid();
    std::thread::sleep(Duration::from_millis(1500));
    let attached_at = monotonic_now();
    let mut mw = memwatch()
        .args(["snapshot", "--pid", &pid.to_string(), "--format", "json"])
        .args(["--hold-pause-ms", "3000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = wait_for_state(pid, Duration::from_secs(10), |s| s == 't');
    if state != Some('t') {
        let _ = mw.kill();
        let _ = mw.wait();
        panic!("the target was never seen in tracing stop: state {state:?}");
    }
    // held: still stopped a moment later, and memwatch is still running
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(proc_state(pid), Some('t'), "the hold ended early");
    assert!(
        mw.try_wait().unwrap().is_none(),
        "memwatch exited during the hold"
    );
    mw.kill().unwrap(); // SIGKILL
    let status = mw.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "memwatch was not killed: {status:?}"
    );
    let killed = Instant::now();
    let killed_at = monotonic_now();
    let state = wait_for_state(pid, Duration::from_secs(1), |s| s == 'R' || s == 'S');
    assert!(
        matches!(state, Some('R' | 'S')) && killed.elapsed() <= Duration::from_secs(1),
        "the target did not resume within 1 s of memwatch's death: state {state:?}"
    );

    std::thread::sleep(Duration::from_millis(1500));
    assert!(matches!(proc_state(pid), Some('R' | 'S')));
    assert_eq!(tracer_pid(pid), Some(0), "the target is still traced");
    let w = counter_windows(&counts);
    let before: Vec<f64> = w
        .iter()
        .filter(|(t, _)| *t < attached_at)
        .map(|x| x.1)
        .collect();
    let after: Vec<f64> = w
        .iter()
        .filter(|(t, _)| *t > killed_at + 0.3)
        .map(|x| x.1)
        .collect();
    assert!(after.len() >= 4, "the target stopped counting: {w:?}");
    // This VM's speed swings by up to 2x for seconds at a time with nothing else running
    // (windows of 2,100 then 3,900 iterations in one undisturbed run), so the rate only has to
    // be comparable: a target still traced or stopped would log no windows or far fewer.
    let (b, a) = (median_of(before), median_of(after));
    assert!(
        a >= 0.4 * b,
        "target slower after memwatch was killed: {a} vs {b} iterations per window: {w:?}"
    );
}

/// Ctrl-Z (SIGTSTP) of memwatch while it holds the target paused: memwatch stops only once
/// the pause is over, and the target runs while memwatch stays stopped.
#[test]
fn ctrl_z_during_a_pause_stops_memwatch_only_after_the_pause() {
    let _cpu = exclusive_cpu();
    let dir = tempfile::tempdir().unwrap();
    let (target, _counts) = steady_target(dir.path());
    let pid = target.pid();
    std::thread::sleep(Duration::from_millis(1000));
    let mut mw = memwatch()
        .args(["snapshot", "--pid", &pid.to_string(), "--format", "json"])
        .args(["--hold-pause-ms", "1500"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mw_pid = mw.id() as i32;
    let state = wait_for_state(pid, Duration::from_secs(10), |s| s == 't');
    if state != Some('t') {
        let _ = mw.kill();
        let _ = mw.wait();
        panic!("the target was never seen in tracing stop: state {state:?}");
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(mw_pid),
        nix::sys::signal::Signal::SIGTSTP,
    )
    .unwrap();
    // the pause goes on (memwatch keeps its promise to end it) ...
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(proc_state(pid), Some('t'), "the pause ended at the Ctrl-Z");
    // ... and ends at its time: the target runs by the end of the hold (1.5 s after the
    // copy; 200 ms of it waited above) and a margin for the copy and this VM's noise
    let resumed = wait_for_state(pid, Duration::from_millis(1300 + 400), |s| {
        s == 'R' || s == 'S'
    });
    let mw_state = proc_state(mw_pid);
    if !matches!(resumed, Some('R' | 'S')) {
        let _ = mw.kill();
        let _ = mw.wait();
        panic!("the target stayed stopped after memwatch's Ctrl-Z: state {resumed:?}");
    }
    // memwatch then stops as asked, and the target keeps running while it is stopped
    let stopped = wait_for_state(mw_pid, Duration::from_secs(2), |s| s == 'T');
    assert_eq!(
        stopped,
        Some('T'),
        "memwatch did not stop (state was {mw_state:?})"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        matches!(proc_state(pid), Some('R' | 'S')),
        "the target stopped with memwatch"
    );
    assert_eq!(tracer_pid(pid), Some(0), "the target is still traced");
    // resumed, memwatch finishes its snapshot
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(mw_pid),
        nix::sys::signal::Signal::SIGCONT,
    )
    .unwrap();
    let status = mw.wait().unwrap();
    assert!(status.success(), "memwatch after SIGCONT: {status:?}");
}

/// An ordinary snapshot lets the target go when it is done.
#[test]
fn a_snapshot_leaves_the_target_running() {
    let _cpu = shared_cpu();
    let dir = tempfile::tempdir().unwrap();
    let (target, counts) = steady_target(dir.path());
    let pid = target.pid();
    std::thread::sleep(Duration::from_millis(600));
    let (out, census) = snapshot_json(pid, &[], Duration::from_secs(30));
    let c = census.unwrap_or_else(|| panic!("snapshot failed: {}", stderr_of(&out)));
    let state = proc_state(pid);
    assert!(
        matches!(state, Some('R' | 'S')),
        "target left in state {state:?} after the snapshot"
    );
    assert_eq!(tracer_pid(pid), Some(0), "the target is still traced");
    assert!(u(&c["pause_us"]) > 0 && u(&c["pause_us"]) <= u(&c["total_us"]));
    let lines = counter_windows(&counts).len();
    std::thread::sleep(Duration::from_millis(1000));
    let later = counter_windows(&counts).len();
    assert!(
        later >= lines + 2,
        "the target stopped counting after the snapshot: {lines} then {later} windows"
    );
    assert!(matches!(proc_state(pid), Some('R' | 'S')));
}

#[test]
fn snapshot_of_a_missing_process() {
    let out = memwatch()
        .args(["snapshot", "--pid", "999999999"])
        .output()
        .unwrap();
    assert_one_line_error(&out, 10, "no such process");
}

#[test]
fn snapshot_of_a_process_that_is_not_python() {
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let out = memwatch()
        .args(["snapshot", "--pid", &sleeper.id().to_string()])
        .output()
        .unwrap();
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert_one_line_error(&out, 11, "is not a Python process");
}
