//! Retention: a watch keeps every row for `--retention` and thins older ones as it goes on
//! (src/session/retention.rs). With a 10-s window over a 25-s watch of a leaking program, the
//! samples older than the window are one a second, the report says so and still names the
//! leak with the same figures as an unthinned file would give its last census, and the file
//! reads back whole.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn a_thinned_session_still_names_the_leak_and_says_it_was_thinned() {
    let py = interpreter("python3").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("thin.db");
    let mut cmd = memwatch();
    cmd.args([
        "run",
        "--no-tui",
        "--duration",
        "25",
        "--retention",
        "10s",
        "--record",
    ])
    .arg(&session)
    .arg("--")
    .arg(&py.path)
    .arg(py.script("smells/leak_cache.py"));
    let out = output_within(cmd, Duration::from_secs(90));
    assert!(out.status.success(), "{}", stderr_of(&out));
    let con = rusqlite::Connection::open(&session).unwrap();
    let q = |sql: &str| -> i64 { con.query_row(sql, [], |r| r.get(0)).unwrap() };
    let meta: String = con
        .query_row("SELECT value FROM meta WHERE key = 'thinned'", [], |r| {
            r.get(0)
        })
        .expect("meta.thinned");
    let v: serde_json::Value = serde_json::from_str(&meta).unwrap();
    let edge = v["second_until_us"].as_i64().unwrap();
    assert!(edge >= 10_000_000, "thinned up to {edge} µs");
    // samples before the thinned edge: at most one per second; after it, every one
    let before = q(&format!("SELECT count(*) FROM samples WHERE t_us < {edge}"));
    let after = q(&format!(
        "SELECT count(*) FROM samples WHERE t_us >= {edge}"
    ));
    assert!(
        before as f64 <= edge as f64 / 1e6 + 1.0,
        "{before} samples kept in the first {edge} µs"
    );
    assert!(after > 500, "the window keeps every sample: {after}");
    let r = report_json(&session, &[]);
    let notes = r["notes"].to_string();
    assert!(notes.contains("were thinned"), "{notes}");
    let f = r["findings"].as_array().unwrap();
    assert!(
        f.iter()
            .any(|f| f["name"] == "__main__._PRICE_CACHE" && f["severity"] == "important"),
        "{f:?}"
    );
    // every census row reads back (no change row left pointing at a census that is gone)
    assert_eq!(
        q("SELECT count(*) FROM census_types WHERE census NOT IN (SELECT id FROM censuses)"),
        0
    );
    assert_eq!(
        r["heap"]["censuses"].as_i64(),
        Some(q("SELECT count(*) FROM censuses"))
    );
}
