//! `memwatch diff A B` against real recordings of tests/targets/diff_service.py (a module-level
//! dict that grows, another that stays the same) on the machine's `python3`: two sessions of
//! 6 s and 12 s, a 10-s session of the service with 2 forked workers (a tree, summed), a
//! session against a snapshot of a live process, a side against itself, and files that are
//! neither a session nor a snapshot.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const SCRIPT: &str = "diff_service.py";
const GROWING: &str = "__main__.ORDERS";
const STEADY: &str = "__main__.CONFIG";

/// `memwatch run --no-tui --duration SECS --record SESSION -- python3 diff_service.py`.
fn record(py: &Interp, session: &Path, secs: u32) {
    record_with(py, session, secs, &[], &[]);
}

/// As [`record`], with more options of `run` and arguments of the service.
fn record_with(py: &Interp, session: &Path, secs: u32, opts: &[&str], args: &[&str]) {
    let mut cmd = memwatch();
    cmd.args(["run", "--no-tui", "--duration", &secs.to_string()])
        .args(opts)
        .arg("--record")
        .arg(session)
        .arg("--")
        .args(py.argv())
        .arg(py.script(SCRIPT))
        .args(args);
    let out = output_within(cmd, Duration::from_secs(secs as u64 + 60));
    assert!(
        out.status.success(),
        "recording {secs} s: {}",
        stderr_of(&out)
    );
}

fn diff(a: &Path, b: &Path, extra: &[&str]) -> Output {
    let mut cmd = memwatch();
    cmd.arg("diff").arg(a).arg(b).args(extra);
    output_within(cmd, Duration::from_secs(60))
}

fn diff_ok(a: &Path, b: &Path, extra: &[&str]) -> String {
    let out = diff(a, b, extra);
    assert!(out.status.success(), "diff failed: {}", stderr_of(&out));
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn diff_json(a: &Path, b: &Path) -> Value {
    serde_json::from_str(&diff_ok(a, b, &["--format", "json"])).expect("diff JSON")
}

/// The rows of a table of the JSON diff (`containers`, `types`, `lines`).
fn rows<'v>(d: &'v Value, table: &str) -> &'v Vec<Value> {
    d[table]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no {table} table: {d:#}"))
}

/// The growing dict heads the containers with a positive Δ; the steady one did not change.
fn check_growth(d: &Value) {
    let c = rows(d, "containers");
    assert!(!c.is_empty(), "no container changed: {d:#}");
    let first = &c[0];
    assert_eq!(first["name"], GROWING, "first container: {first}");
    assert_eq!(first["presence"], "both", "{first}");
    assert!(first["len_delta"].as_i64().unwrap() > 0, "{first}");
    assert!(first["bytes_delta"].as_i64().unwrap() > 0, "{first}");
    assert_eq!(
        first["len_b"].as_i64().unwrap() - first["len_a"].as_i64().unwrap(),
        first["len_delta"].as_i64().unwrap()
    );
    if let Some(steady) = c.iter().find(|r| r["name"] == STEADY) {
        assert_eq!(steady["len_delta"], 0, "the steady dict: {steady}");
    }
    assert!(c.len() <= 20, "at most -n rows: {}", c.len());
}

/// The length of a named container at the last census, as `memwatch report` says.
fn report_len(session: &Path, name: &str) -> i64 {
    let r = report_json(session, &["--top", "50"]);
    r["heap"]["containers"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("{name} not in the report of {}", session.display()))["len_last"]
        .as_i64()
        .unwrap()
}

/// The line after the header of a text table whose header contains `header`.
fn first_row_after<'t>(text: &'t str, header: &str) -> &'t str {
    let mut lines = text.lines();
    lines
        .by_ref()
        .find(|l| l.contains(header))
        .unwrap_or_else(|| panic!("no {header:?} in:\n{text}"));
    lines.next().unwrap()
}

#[test]
fn a_growing_service_diffs_against_its_shorter_run() {
    let py = interpreter("python3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a-6s.db");
    let b = dir.path().join("b-12s.db");
    let tree = dir.path().join("tree-10s.db");
    // all at once: the dicts grow with wall time, whatever else runs beside them
    std::thread::scope(|s| {
        s.spawn(|| record(&py, &a, 6));
        s.spawn(|| record_with(&py, &tree, 10, &["--subprocesses"], &["--workers", "2"]));
        record(&py, &b, 12);
    });

    // JSON: the growing dict first, figures that are the reports' own
    let d = diff_json(&a, &b);
    check_growth(&d);
    let orders = &rows(&d, "containers")[0];
    assert_eq!(orders["len_a"].as_i64().unwrap(), report_len(&a, GROWING));
    assert_eq!(orders["len_b"].as_i64().unwrap(), report_len(&b, GROWING));
    assert!(
        orders["file"].as_str().unwrap().ends_with(SCRIPT),
        "{orders}"
    );
    for (side, secs) in [("a", 6.0), ("b", 12.0)] {
        let s = &d[side];
        assert_eq!(s["kind"], "session", "{s}");
        assert!(s["rss_bytes"].as_u64().unwrap() > 1 << 20, "{s}");
        let dur = s["duration_s"].as_f64().unwrap();
        assert!(
            (dur - secs).abs() < 2.0,
            "{side}: {dur} s, not about {secs}"
        );
        assert!(s["command_line"].as_str().unwrap().contains(SCRIPT), "{s}");
        assert!(s["python_version"].as_str().unwrap().starts_with("3."));
        assert!(s["pid"].as_i64().unwrap() > 0);
    }
    assert!(
        d["warnings"].as_array().unwrap().is_empty(),
        "same program: {}",
        d["warnings"]
    );
    // the types the orders are made of grew too; the line table is there for two sessions
    let types = rows(&d, "types");
    assert!(types[0]["bytes_delta"].as_i64().unwrap() > 0, "{types:?}");
    assert!(
        types.iter().take(3).any(|t| t["name"] == "str"),
        "the order strings: {types:?}"
    );
    assert!(
        d["lines"]["compared"].as_u64().unwrap() > 0,
        "{}",
        d["lines"]
    );

    // -n bounds every table
    let small =
        serde_json::from_str::<Value>(&diff_ok(&a, &b, &["--format", "json", "-n", "2"])).unwrap();
    for t in ["containers", "types"] {
        assert!(rows(&small, t).len() <= 2, "{t}: {}", small[t]);
    }
    assert_eq!(rows(&small, "containers")[0]["name"], GROWING);

    // text: aligned columns, the growing dict's row first with a positive Δ
    let text = diff_ok(&a, &b, &[]);
    assert!(text.starts_with("memwatch diff"), "{text}");
    let row = first_row_after(&text, "Length A");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert!(row.contains(GROWING), "first container row: {row}\n{text}");
    assert!(cols[2].starts_with('+'), "length Δ: {row}");
    assert!(text.contains("RSS:"), "{text}");

    // Markdown, written with -o (owner-only): a table row per container
    let md_file = dir.path().join("diff.md");
    let out = diff(
        &a,
        &b,
        &["--format", "markdown", "-o", md_file.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(out.stdout.is_empty(), "-o writes the file only");
    let md = std::fs::read_to_string(&md_file).unwrap();
    let mode = std::fs::metadata(&md_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(md.starts_with("## memwatch diff"), "{md}");
    let row = first_row_after(&md, "| Container |");
    assert_eq!(row, "|---|---|--:|--:|--:|--:|--:|--:|");
    let row = first_row_after(&md, "|---|---|--:|--:|--:|--:|--:|--:|");
    assert!(
        row.starts_with(&format!("| `{GROWING}` | dict |")),
        "{row}\n{md}"
    );
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert!(
        cells[5].starts_with('+') && cells[8].starts_with('+'),
        "{row}"
    );

    // a side against itself: nothing grew, nothing changed
    let same = diff_json(&b, &b);
    for t in ["containers", "types", "lines"] {
        assert!(
            rows(&same, t).is_empty(),
            "{t} changed against itself: {}",
            same[t]
        );
        assert!(same[t]["compared"].as_u64().unwrap() > 0, "{t}");
    }
    let same_text = diff_ok(&b, &b, &[]);
    assert!(same_text.contains("no container changed"), "{same_text}");
    assert!(
        same_text.contains("(+0 B)") || same_text.contains("(0 B)"),
        "{same_text}"
    );

    // a tree (the service and its 2 workers) is summed over its processes
    let d = diff_json(&a, &tree);
    let t = &d["b"];
    assert_eq!(t["kind"], "tree", "{t}");
    assert_eq!(t["processes"], 3, "{t}");
    let r = report_json(&tree, &["--top", "50"]);
    let per_process: Vec<i64> = r["reports"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            p["report"]["heap"]["containers"]
                .as_array()?
                .iter()
                .find(|c| c["name"] == GROWING)?["len_last"]
                .as_i64()
        })
        .collect();
    assert_eq!(per_process.len(), 3, "{per_process:?}");
    let orders = rows(&d, "containers")
        .iter()
        .find(|c| c["name"] == GROWING)
        .unwrap_or_else(|| panic!("{GROWING} not in {:#}", d["containers"]));
    assert_eq!(
        orders["len_b"].as_i64().unwrap(),
        per_process.iter().sum::<i64>(),
        "the tree's {GROWING} is the sum of its processes': {per_process:?}"
    );
    assert!(
        d["notes"]
            .to_string()
            .contains("summed over its 3 process(es)"),
        "{}",
        d["notes"]
    );
    let same = diff_json(&tree, &tree);
    assert!(
        rows(&same, "containers").is_empty(),
        "{}",
        same["containers"]
    );

    // a report's JSON is not a side: one line, and what to give instead
    let report = dir.path().join("report.json");
    let out = memwatch()
        .args(["report", "--format", "json", "-o"])
        .arg(&report)
        .arg(&a)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_one_line_error(
        &diff(&report, &b, &[]),
        21,
        "is not a memwatch session or snapshot (a `memwatch report` JSON",
    );
}

/// Wait until `since` is `secs` old.
fn wait_until(since: Instant, secs: u64) {
    let left = Duration::from_secs(secs).saturating_sub(since.elapsed());
    std::thread::sleep(left);
}

#[test]
fn a_session_diffs_against_a_snapshot_of_a_live_process() {
    let py = interpreter("python3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let live = Target::start(&py, SCRIPT, &[]);
    let started = Instant::now();
    let session = dir.path().join("a-4s.db");
    record(&py, &session, 4);
    // the live service has run well past the recorded one
    wait_until(started, 10);
    let (out, census) = snapshot_json(live.pid(), &[], Duration::from_secs(60));
    assert!(out.status.success(), "snapshot: {}", stderr_of(&out));
    let census = census.unwrap();
    assert_eq!(census["target"]["pid"], live.pid(), "{}", census["target"]);
    let snap: PathBuf = dir.path().join("b.json");
    std::fs::write(&snap, &out.stdout).unwrap();

    let d = diff_json(&session, &snap);
    check_growth(&d);
    let b = &d["b"];
    assert_eq!(b["kind"], "snapshot", "{b}");
    assert_eq!(b["pid"], live.pid());
    assert!(b["rss_bytes"].as_u64().unwrap() > 1 << 20, "{b}");
    assert!(b["command_line"].as_str().unwrap().contains(SCRIPT), "{b}");
    assert!(b["duration_s"].is_null() && b["time_unix"].as_f64().unwrap() > 0.0);
    assert!(d["lines"].is_null(), "a snapshot has no line table");
    assert!(
        d["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("between two sessions only")),
        "{}",
        d["notes"]
    );
    // `memwatch run -- python3` and the interpreter's own path are the same program
    assert!(
        d["warnings"].as_array().unwrap().is_empty(),
        "{}",
        d["warnings"]
    );
    let text = diff_ok(&session, &snap, &[]);
    assert!(
        text.contains(&format!("B: snapshot {}", snap.display())),
        "{text}"
    );
    assert!(
        first_row_after(&text, "Length A").contains(GROWING),
        "{text}"
    );

    // a snapshot of an older memwatch (no `target`) still diffs, saying what it lacks
    let mut old = census.clone();
    old.as_object_mut().unwrap().remove("target");
    let old_file = dir.path().join("old.json");
    std::fs::write(&old_file, serde_json::to_vec(&old).unwrap()).unwrap();
    let d = diff_json(&session, &old_file);
    check_growth(&d);
    assert!(d["b"]["pid"].is_null(), "{}", d["b"]);
    assert!(
        d["notes"].to_string().contains("older memwatch"),
        "{}",
        d["notes"]
    );

    // a snapshot cut short: the one-line error, exit 21
    let cut = dir.path().join("cut.json");
    std::fs::write(&cut, &out.stdout[..out.stdout.len() / 2]).unwrap();
    assert_one_line_error(
        &diff(&session, &cut, &[]),
        21,
        "is not a memwatch session or snapshot",
    );
}

#[test]
fn files_that_are_neither_sessions_nor_snapshots_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        (0..100_000u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let missing = dir.path().join("missing.db");
    let other_json = dir.path().join("other.json");
    std::fs::write(&other_json, br#"  {"hello": [1, 2, 3]}"#).unwrap();
    let not_json = dir.path().join("braces.json");
    std::fs::write(&not_json, b"{ this is not JSON").unwrap();

    // a corrupt session, either side
    assert_one_line_error(
        &diff(&garbage, &garbage, &[]),
        21,
        "is not a memwatch session file",
    );
    // a missing one
    let out = diff(&missing, &garbage, &[]);
    assert_one_line_error(&out, 20, "missing.db");
    // JSON that is not a snapshot, or not JSON at all
    for f in [&other_json, &not_json] {
        let out = diff(f, &garbage, &[]);
        assert_one_line_error(&out, 21, "is not a memwatch session or snapshot");
        assert!(stderr_of(&out).contains(f.to_str().unwrap()));
    }
    // formats of `report` only, and a top of nothing: usage errors before any file is read
    for format in ["html", "flamegraph", "speedscope"] {
        assert_one_line_error(
            &diff(&missing, &missing, &["--format", format]),
            2,
            "memwatch diff writes --format text, json or markdown",
        );
    }
    assert_one_line_error(&diff(&missing, &missing, &["-n", "0"]), 2, "--top");
}
