//! The findings suite: a leaky little service per memory smell, and controls that must raise
//! no Important finding (bounded caches, batch work, steady work, cycles the gc collects,
//! streaming reads). Each target runs under `memwatch --pid` for a fixed time; its findings
//! must name the right kind and name or line within 30 s of attach. Ground truth:
//! tests/targets/smells/expected.json (shared with scripts/eval_findings.py). Run on the
//! oldest installed interpreter and on Debian sid's newest releases (3.13.x, whose patch
//! releases moved the GC lists, 3.14.x, 3.15.x and the 3.15 debug build); every interpreter of
//! the matrix at once: scripts/eval_findings.py. Every watch runs in CI mode (`--fail-on
//! important`): it exits 30 on each leak (an Important finding) and 0 on each control.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// How long each target is watched; verdicts must come within 30 s of attach.
const WATCH_SECS: &str = "22";
/// Targets watched at once (they are light services, but the machine has two cores).
const AT_ONCE: usize = 5;

fn expected() -> Value {
    let p = target_script("smells/expected.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Watch one smell target in CI mode (`--fail-on important`); its findings (the report's JSON
/// array), checked against the exit code: 30 when an Important finding is there, else 0.
fn findings_of(
    py: &Interp,
    program: &str,
    numpy: Option<&Path>,
    dir: &Path,
) -> Result<Vec<Value>, String> {
    let mut cmd = py.command();
    if let Some(p) = numpy {
        cmd.env("PYTHONPATH", p);
    }
    cmd.arg(py.script(&format!("smells/{program}")));
    let target = Target::start_command(cmd, &[]);
    let session = dir.join(format!("{program}.db"));
    let mut cmd = memwatch();
    cmd.args([
        "--pid",
        &target.pid().to_string(),
        "--no-tui",
        "--duration",
        WATCH_SECS,
    ])
    .args(["--fail-on", "important", "--record"])
    .arg(&session);
    let out = output_within(cmd, Duration::from_secs(90));
    drop(target);
    let code = out.status.code();
    if code != Some(0) && code != Some(30) {
        return Err(format!("memwatch failed: {}", stderr_of(&out)));
    }
    let r = report_json(&session, &[]);
    let found = r["findings"].as_array().cloned().unwrap_or_default();
    let important = found.iter().any(|f| f["severity"] == "important");
    if (code == Some(30)) != important {
        return Err(format!(
            "--fail-on important exited {code:?} with findings [{}]",
            found.iter().map(describe).collect::<Vec<_>>().join("; ")
        ));
    }
    Ok(found)
}

fn describe(f: &Value) -> String {
    format!(
        "{} {} {} line {} at {:.1} s",
        f["severity"],
        f["kind"],
        f["name"],
        f["line"],
        f["first_seen"].as_f64().unwrap_or(0.0) / 1e6
    )
}

/// Does a finding meet the expectation? Err(reason) if not.
fn check(program: &str, want: &Value, found: &[Value]) -> Result<(), String> {
    let all = found.iter().map(describe).collect::<Vec<_>>().join("; ");
    if want["control"] == true {
        let allowed = want["allowed"].as_str();
        for f in found {
            if f["severity"] == "important" {
                return Err(format!(
                    "{program}: control raised an Important finding: {}",
                    describe(f)
                ));
            }
            if allowed != f["kind"].as_str() {
                return Err(format!("{program}: control raised {}", describe(f)));
            }
        }
        return Ok(());
    }
    // the marker is in the program, or in the module `line_file` names
    let where_ = want["line_file"].as_str().unwrap_or(program);
    let line = want["line_marker"]
        .as_str()
        .map(|m| marker_line(&format!("smells/{where_}"), m));
    let hit = found.iter().find(|f| {
        f["kind"] == want["kind"]
            && f["severity"] == want["severity"]
            && want["name"].as_str().is_none_or(|n| f["name"] == n)
            && want["name_contains"]
                .as_str()
                .is_none_or(|n| f["name"].as_str().unwrap_or("").contains(n))
            && line.is_none_or(|l| {
                let slack = want["line_slack"].as_u64().unwrap_or(0);
                f["line"]
                    .as_u64()
                    .is_some_and(|got| got.abs_diff(l as u64) <= slack)
                    && f["file"]
                        .as_str()
                        .is_some_and(|f| f.ends_with(&format!("/{where_}")))
                    || (want["line_optional"] == true && f["line"].is_null())
            })
    });
    match hit {
        None => Err(format!("{program}: expected {want}, found: [{all}]")),
        Some(f) if f["first_seen"].as_f64().unwrap_or(f64::MAX) > 30e6 => {
            Err(format!("{program}: found too late: {}", describe(f)))
        }
        Some(hit) => {
            // one leak, one finding: no other Important finding beside the expected one
            match found
                .iter()
                .find(|f| f["severity"] == "important" && !std::ptr::eq(*f, hit))
            {
                Some(extra) => Err(format!(
                    "{program}: a second Important finding for one leak: {} (beside {})",
                    describe(extra),
                    describe(hit)
                )),
                None => Ok(()),
            }
        }
    }
}

fn suite(py: Interp) {
    let _alone = heavy();
    let expected = expected();
    let programs: Vec<String> = expected
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !k.starts_with('_'))
        .cloned()
        .collect();
    // programs that import numpy run with the interpreter's numpy, or are skipped
    let numpy = numpy_path(&py);
    let programs: Vec<String> = programs
        .into_iter()
        .filter(|p| {
            let needs = expected[p]["needs"].as_str();
            let ok = needs.is_none() || (needs == Some("numpy") && numpy.is_some());
            if !ok {
                eprintln!("skip {p} on {}: it needs {needs:?}", py.label);
            }
            ok
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for group in programs.chunks(AT_ONCE) {
        let results: Vec<(String, Result<Vec<Value>, String>)> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .map(|p| {
                    let (py, dir) = (&py, dir.path());
                    let np = expected[p]["needs"].as_str().and(numpy.as_deref());
                    s.spawn(move || (p.clone(), findings_of(py, p, np, dir)))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (program, r) in results {
            match r {
                Err(e) => failures.push(format!("{program}: {e}")),
                Ok(found) => {
                    eprintln!(
                        "{} {program}: {}",
                        py.label,
                        found.iter().map(describe).collect::<Vec<_>>().join("; ")
                    );
                    if let Err(e) = check(&program, &expected[&program], &found) {
                        failures.push(e);
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} ({}):\n{}",
        py.label,
        py.path.display(),
        failures.join("\n")
    );
}

/// The oldest supported interpreter `pyenv versions` lists (python3 if none).
fn oldest() -> Interp {
    let mut v: Vec<Interp> = pyenv_interpreters()
        .into_iter()
        .filter(Interp::supported)
        .collect();
    v.sort_by_key(|i| i.version);
    v.into_iter()
        .next()
        .unwrap_or_else(|| interpreter("python3").unwrap())
}

#[test]
fn findings_on_the_oldest_interpreter() {
    suite(oldest());
}

macro_rules! per_interpreter {
    ($($name:ident => $label:expr),* $(,)?) => {
        mod findings_on {
            $( #[test] fn $name() {
                if let Some(py) = super::interpreter($label) {
                    super::suite(py)
                }
            } )*
        }
    };
}

per_interpreter! {
    sid_3_13 => "sid-3.13",
    sid_3_14 => "sid-3.14",
    sid_3_15 => "sid-3.15",
    sid_3_15_debug => "sid-3.15d",
}
