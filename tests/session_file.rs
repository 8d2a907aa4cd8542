//! The session file survives what can happen to it: memwatch killed with SIGKILL, the file cut
//! short, a file that is not a session at all.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;

fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty());
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn process_state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(") ").unwrap().1.chars().next().unwrap()
}

fn monotonic_now() -> f64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9
}

/// Windows of the steady counter: (end time, iterations).
fn windows(path: &Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .collect()
}

#[test]
fn sigkill_of_memwatch_leaves_the_target_running_and_the_session_readable() {
    let _alone = heavy();
    let py = interpreter("python3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let counts = dir.path().join("counts.txt");
    let session = dir.path().join("s.db");
    let target = Target::start(
        &py,
        "steady_counter.py",
        &[counts.to_str().unwrap(), "--window", "0.25"],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let attached_at = monotonic_now();
    let mut mw = memwatch()
        .args(["--pid", &target.pid().to_string(), "--no-tui", "--record"])
        .arg(&session)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    mw.kill().unwrap(); // SIGKILL
    mw.wait().unwrap();
    let killed_at = monotonic_now();
    std::thread::sleep(Duration::from_millis(1500));

    let state = process_state(target.pid());
    assert!(state == 'R' || state == 'S', "target left in state {state}");
    let w = windows(&counts);
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
    assert!(after.len() >= 3, "the target stopped counting: {w:?}");
    let (b, a) = (median(before), median(after));
    assert!(
        a >= 0.6 * b,
        "target slower after memwatch was killed: {a} vs {b} iterations per window"
    );
    drop(target);

    // what was committed before the kill reads back, with a warning about the missing end
    let out = memwatch().arg("report").arg(&session).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no end record"), "{text}");
    let r = report_json(&session, &[]);
    let samples = r["summary"]["samples"].as_u64().unwrap();
    // 2.5 s at 100 Hz, less at most ~1 s lost to the kill
    assert!(samples >= 100, "{samples} samples survived");
    assert!(r["summary"]["end_reason"].is_null());
    assert!(!r["warnings"].as_array().unwrap().is_empty());
}

/// Record a short session of a growing target.
fn short_session(dir: &Path) -> std::path::PathBuf {
    session_at_rate(dir, "full.db", 100)
}

fn session_at_rate(dir: &Path, name: &str, rate: u32) -> std::path::PathBuf {
    let py = interpreter("python3").unwrap();
    let session = dir.join(name);
    let mut cmd = memwatch();
    // no census: these sessions are about samples, and a census of a heap growing by
    // hundreds of MB a second would load the machine for the tests running beside
    cmd.args([
        "run",
        "--no-tui",
        "--no-heap",
        "--rate",
        &rate.to_string(),
        "--record",
    ])
    .arg(&session)
    .arg("--")
    .args(py.argv())
    .arg(py.script("alloc_line.py"))
    .args(["list", "--seconds", "2", "--delay", "0.2"]);
    let out = output_within(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr_of(&out));
    session
}

#[test]
fn truncated_sessions_report_what_is_intact() {
    let _alone = heavy();
    let dir = tempfile::tempdir().unwrap();
    // a fast rate makes a session of many pages, as an hour at 100 Hz would
    let full = session_at_rate(dir.path(), "full.db", 1000);
    let full_samples = count_rows(&full, "samples");
    let size = std::fs::metadata(&full).unwrap().len();
    assert!(size > 64 * 1024, "session is {size} bytes");
    let list_line = marker_line("alloc_line.py", "# ALLOC:list");
    for percent in [90u64, 60, 30, 3] {
        let cut = dir.path().join(format!("cut{percent}.db"));
        let bytes = std::fs::read(&full).unwrap();
        let keep = (size * percent / 100) as usize;
        std::fs::write(&cut, &bytes[..keep]).unwrap();
        let out = memwatch().arg("report").arg(&cut).output().unwrap();
        let err = stderr_of(&out);
        assert!(!err.contains("panicked"), "{err}");
        match out.status.code() {
            Some(0) => {
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(
                    text.contains("warning:"),
                    "cut at {percent}%: no warning:\n{text}"
                );
                let r = report_json(&cut, &[]);
                let n = r["summary"]["samples"].as_i64().unwrap();
                assert!(
                    n <= full_samples,
                    "cut at {percent}%: {n} > {full_samples}: {}",
                    r["warnings"]
                );
                if percent == 90 {
                    // samples survive a cut of the last tenth, and still tell the story (in a
                    // session this short the last tenth is a good part of the samples: the
                    // first ~200 KB of any session are table roots and definitions)
                    assert!(n > full_samples / 8, "{n} of {full_samples} samples read");
                    assert_eq!(r["top_lines"][0]["line"], list_line);
                }
            }
            Some(21) => {
                assert!(percent < 10, "cut at {percent}% refused: {err}");
                assert_eq!(err.lines().count(), 1, "{err}");
            }
            other => panic!("cut at {percent}%: exit {other:?}: {err}"),
        }
    }
}

#[test]
fn files_that_are_not_sessions_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        (0..100_000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let out = memwatch().arg("report").arg(&garbage).output().unwrap();
    assert_one_line_error(&out, 21, "is not a memwatch session file");

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let out = memwatch().arg("report").arg(&empty).output().unwrap();
    assert_one_line_error(&out, 21, "is not a memwatch session file");

    let other = dir.path().join("other.db");
    let c = rusqlite::Connection::open(&other).unwrap();
    c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(c);
    let out = memwatch().arg("report").arg(&other).output().unwrap();
    assert_one_line_error(&out, 21, "no memwatch metadata");

    let newer = dir.path().join("newer.db");
    let c = rusqlite::Connection::open(&newer).unwrap();
    c.execute_batch(
        "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
         INSERT INTO meta VALUES ('format', 'memwatch-session'), ('format_version', '99');",
    )
    .unwrap();
    drop(c);
    let out = memwatch().arg("report").arg(&newer).output().unwrap();
    assert_one_line_error(&out, 21, "upgrade memwatch");

    let out = memwatch()
        .arg("report")
        .arg(dir.path().join("missing.db"))
        .output()
        .unwrap();
    assert_one_line_error(&out, 20, "no such file");
}

#[test]
fn sessions_are_queryable_with_sql_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let s = short_session(dir.path());
    // a finished session carries no WAL: the file alone is the whole session
    assert!(!Path::new(&format!("{}-wal", s.display())).exists());
    let c = rusqlite::Connection::open(&s).unwrap();
    let (file, line): (String, i64) = c
        .query_row(
            "SELECT file, line FROM line_report ORDER BY own_increment_kib DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(file.ends_with("alloc_line.py"));
    assert_eq!(line as u32, marker_line("alloc_line.py", "# ALLOC:list"));
    let on_line: i64 = c
        .query_row(
            "SELECT count(*) FROM sample_lines WHERE line = ?1",
            [line],
            |r| r.get(0),
        )
        .unwrap();
    assert!(on_line > 10);
    let reason: String = c
        .query_row("SELECT value FROM meta WHERE key = 'end_reason'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(reason, "target_exited");
    drop(c);
    // and refuses to be overwritten without --force
    let out = memwatch()
        .args(["run", "--no-tui", "--record"])
        .arg(&s)
        .args(["--", "python3", "-c", "pass"])
        .output()
        .unwrap();
    assert_one_line_error(&out, 22, "--force");
}

#[test]
fn censuses_are_recorded_and_reported() {
    let _alone = heavy();
    let py = interpreter("python3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("heap.db");
    let mut cmd = memwatch();
    cmd.args([
        "run",
        "--no-tui",
        "--heap-interval",
        "0.5",
        "--pause-budget",
        "10",
        "--record",
    ])
    .arg(&session)
    .arg("--")
    .args(py.argv())
    .arg(py.script("alloc_line.py"))
    .args(["slowlist", "--seconds", "4", "--delay", "0.2"]);
    let out = output_within(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        count_rows(&session, "censuses") >= 2,
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let r = report_json(&session, &[]);
    let h = &r["heap"];
    assert!(h["censuses"].as_u64().unwrap() >= 2, "{h}");
    let keep = h["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "__main__.KEEP")
        .unwrap_or_else(|| panic!("no __main__.KEEP in {}", h["containers"]));
    assert!(
        keep["len_last"].as_u64().unwrap() > keep["len_first"].as_u64().unwrap() + 50_000,
        "{keep}"
    );
    assert_eq!(keep["type_name"], "list");
    let str_row = h["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "str")
        .unwrap();
    assert!(str_row["count_last"].as_u64().unwrap() > str_row["count_first"].as_u64().unwrap());
    // pauses are reported and stay short for a small heap
    assert!(h["pause_max_ms"].as_f64().unwrap() < 1000.0);
    let text = String::from_utf8_lossy(
        &memwatch()
            .arg("report")
            .arg(&session)
            .output()
            .unwrap()
            .stdout,
    )
    .to_string();
    assert!(
        text.contains("Named container (first → last census)"),
        "{text}"
    );
    assert!(text.contains("__main__.KEEP (list)"), "{text}");

    // --no-heap: no census at all
    let quiet = dir.path().join("noheap.db");
    let mut cmd = memwatch();
    cmd.args(["run", "--no-tui", "--no-heap", "--record"])
        .arg(&quiet)
        .arg("--")
        .args(py.argv())
        .arg(py.script("alloc_line.py"))
        .args(["idle", "--delay", "1.5"]);
    let out = output_within(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(count_rows(&quiet, "censuses"), 0);
    let r = report_json(&quiet, &[]);
    assert!(r["heap"].is_null());
    assert!(
        r["notes"].to_string().contains("no heap census: --no-heap"),
        "{}",
        r["notes"]
    );
}

/// Between censuses the named containers' lengths are read without a pause: with one census
/// in the whole watch (a heap interval longer than the watch), a growing global is still named
/// from those readings, and the readings are in the session for the report to use.
#[test]
fn container_lengths_between_censuses_name_a_leak_with_a_single_census() {
    let _alone = heavy();
    let py = interpreter("python3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("lengths.db");
    let mut cmd = memwatch();
    cmd.args([
        "run",
        "--no-tui",
        "--duration",
        "8",
        "--heap-interval",
        "60",
        "--record",
    ])
    .arg(&session)
    .arg("--")
    .args(py.argv())
    .arg(py.script("growing_list.py"));
    let out = output_within(cmd, Duration::from_secs(60));
    assert!(out.status.success(), "{}", stderr_of(&out));
    // (a census that failed is tried again within seconds, whatever the heap interval)
    assert!(
        (1..=2).contains(&count_rows(&session, "censuses")),
        "notes: {}",
        report_json(&session, &[])["notes"]
    );
    let c = rusqlite::Connection::open(&session).unwrap();
    let lens: Vec<i64> = c
        .prepare(
            "SELECT l.len FROM container_lengths l JOIN container_names n ON n.id = l.container
             WHERE n.name = '__main__.EVENTS' ORDER BY l.t_us",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    // read twice a second for about 7 s after the census at 1 s, growing all along
    assert!(lens.len() >= 8, "{lens:?}");
    assert!(lens.windows(2).all(|w| w[1] > w[0]), "{lens:?}");
    let r = report_json(&session, &[]);
    let found = r["findings"].as_array().cloned().unwrap_or_default();
    let f = found
        .iter()
        .find(|f| f["name"] == "__main__.EVENTS")
        .unwrap_or_else(|| panic!("__main__.EVENTS not named: {found:?}"));
    assert_eq!(f["kind"], "global_accumulation", "{f}");
    // its last length is the last reading, later than the census
    assert_eq!(
        f["trend"]["last"].as_f64().unwrap() as i64,
        *lens.last().unwrap(),
        "{f}"
    );
}
