//! The README's first command, as a new user runs it (`memwatch run --duration 20 -- python3
//! demo/leaky_service.py`, here with `--no-tui` and a session path of the test's own): the
//! bundled demo plants one of each of the spec's seven memory smells, and the report must
//! name every one of them, by name or line, with the machine's `python3`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

/// The 1-based line of the demo that contains `needle` (exactly one).
fn demo_line(needle: &str) -> u64 {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/leaky_service.py");
    let text = std::fs::read_to_string(path).unwrap();
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "demo line {needle:?}: {hits:?}");
    hits[0] as u64
}

#[test]
fn readme_demo_reports_the_seven_smells() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("demo.db");
    let mut cmd = memwatch();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["run", "--duration", "20", "--no-tui", "--record"])
        .arg(&session)
        .args(["--", "python3", "demo/leaky_service.py"]);
    let out = output_within(cmd, Duration::from_secs(90));
    assert!(out.status.success(), "memwatch: {}", stderr_of(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Findings ("), "summary: {stdout}");

    let report = report_json(&session, &[]);
    let found = report["findings"].as_array().cloned().unwrap_or_default();
    let all: Vec<String> = found
        .iter()
        .map(|f| format!("{} {} line {}", f["kind"], f["name"], f["line"]))
        .collect();
    let name_is = |n: &'static str| move |f: &Value| f["name"] == n;
    let open_line = demo_line("f = open(CONFIG_PATH)");
    let churn = demo_line("text += ");
    let read = demo_line("data = f.read()");
    type Planted<'a> = (&'a str, Box<dyn Fn(&Value) -> bool + 'a>);
    let planted: Vec<Planted> = vec![
        (
            "unbounded_container",
            Box::new(name_is("__main__._PRICE_CACHE")),
        ),
        (
            "global_accumulation",
            Box::new(name_is("__main__.AUDIT_LOG")),
        ),
        (
            "mutable_default",
            Box::new(name_is("__main__.tag_order.__defaults__[0]")),
        ),
        (
            "unclosed_resource",
            Box::new(move |f: &Value| {
                f["line"] == open_line || f["name"] == "__main__._CONFIG_WATCHERS"
            }),
        ),
        (
            "cycles",
            Box::new(|f: &Value| {
                let n = f["name"].as_str().unwrap_or("");
                n.contains("Handler") && n.contains("Session")
            }),
        ),
        (
            "string_churn",
            Box::new(move |f: &Value| f["line"] == churn),
        ),
        (
            "large_allocation",
            Box::new(move |f: &Value| f["line"] == read),
        ),
    ];
    let is = |f: &Value, (kind, ok): &Planted| f["kind"] == *kind && ok(f);
    for p in &planted {
        assert!(
            found.iter().any(|f| is(f, p)),
            "no {} finding as expected among {all:#?}",
            p.0
        );
    }
    // and nothing the demo did not plant
    for f in &found {
        assert!(
            planted.iter().any(|p| is(f, p)),
            "unexpected finding {} {} line {} among {all:#?}",
            f["kind"],
            f["name"],
            f["line"]
        );
    }
    // a service that leaks is named as such: the leaks are Important, not Suggestions
    for kind in [
        "unbounded_container",
        "global_accumulation",
        "unclosed_resource",
    ] {
        assert!(
            found
                .iter()
                .any(|f| f["kind"] == kind && f["severity"] == "important"),
            "{kind} not Important among {all:#?}"
        );
    }
}
