//! Memory outside the Python object heap: numpy arrays, bytearray/array/BytesIO buffers and
//! mmaps sized as the target sizes them (views charged the arrays they keep alive, once), a
//! numpy holder named with its true size, memory that no Python object explains reported as
//! native growth at its line, and a control of large numeric temporaries that stays quiet.
//! numpy comes from scripts/test-venv.sh (target/numpy/X.Y/site-packages, or /opt/memwatch-numpy/X.Y/site-packages
//! in the sid chroot); an interpreter it has no wheel for skips the numpy parts, with the reason.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// `py` running test target `script`, with numpy on its path if there is one for it.
fn command(py: &Interp, script: &str, numpy: &Option<PathBuf>) -> Command {
    let mut cmd = py.command();
    if let Some(p) = numpy {
        cmd.env("PYTHONPATH", p);
    }
    cmd.arg(py.script(script));
    cmd
}

fn bytes_of(c: &Value) -> f64 {
    (c["shallow_bytes"].as_u64().unwrap_or(0) + c["items_bytes"].as_u64().unwrap_or(0)) as f64
}

/// One interpreter: the holders of buffers.py, sized by a snapshot against what the target
/// computed itself. Err: what is off.
fn buffers_on(py: &Interp) -> Result<String, String> {
    let numpy = numpy_path(py);
    let (dir, inside) = py.tempdir();
    let mut cmd = command(py, "native/buffers.py", &numpy);
    cmd.arg(inside.join("expected.json"));
    let target = Target::start_command(cmd, &[]);
    let (out, census) = snapshot_json(target.pid(), &[], Duration::from_secs(60));
    drop(target);
    let census = census.ok_or_else(|| format!("snapshot failed: {}", stderr_of(&out)))?;
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("expected.json")).unwrap())
            .unwrap();
    let rows = census["containers"].as_array().cloned().unwrap_or_default();
    let mut seen = Vec::new();
    for (name, want) in expected.as_object().unwrap() {
        let Some(want) = want.as_f64() else { continue };
        let row = rows
            .iter()
            .find(|c| c["name"] == name.as_str())
            .ok_or_else(|| format!("{name} not among the named containers"))?;
        let got = bytes_of(row);
        if (got - want).abs() > want * 0.10 {
            return Err(format!(
                "{name}: {got} bytes, the target's own figure is {want} ({:+.1} %)",
                (got / want - 1.0) * 100.0
            ));
        }
        seen.push(format!("{name} {:+.2} %", (got / want - 1.0) * 100.0));
        if name == "__main__.VIEWS" {
            // nearly all of it is the 2 MiB bases the 32-element views keep alive
            let keep = row["views_keep_bytes"].as_f64().unwrap_or(0.0);
            if keep < want * 0.9 {
                return Err(format!("{name}: views keep {keep} of {want} bytes"));
            }
        }
    }
    if numpy.is_some() && !seen.iter().any(|s| s.starts_with("__main__.OWN")) {
        return Err("numpy was there but its holders were not checked".into());
    }
    Ok(seen.join(", "))
}

#[test]
fn buffers_are_sized_as_the_target_sizes_them_on_every_interpreter() {
    let _alone = heavy();
    let mut failed = Vec::new();
    for py in matrix().into_iter().filter(Interp::supported) {
        match buffers_on(&py) {
            Ok(s) => eprintln!("{}: {s}", py.label),
            Err(e) => failed.push(format!("{}: {e}", py.label)),
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

/// Watch `script` (started with numpy if there is one) for `secs`; the report's JSON.
fn watch(py: &Interp, script: &str, numpy: &Option<PathBuf>, secs: u32) -> Result<Value, String> {
    let target = Target::start_command(command(py, script, numpy), &[]);
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("s.db");
    let mut cmd = memwatch();
    cmd.args(["--pid", &target.pid().to_string(), "--no-tui", "--duration"])
        .arg(secs.to_string())
        .arg("--record")
        .arg(&session);
    let out = output_within(cmd, Duration::from_secs(120));
    drop(target);
    if !out.status.success() {
        return Err(format!("memwatch failed on {script}: {}", stderr_of(&out)));
    }
    Ok(report_json(&session, &[]))
}

fn findings(r: &Value) -> Vec<Value> {
    r["findings"].as_array().cloned().unwrap_or_default()
}

fn describe(f: &Value) -> String {
    format!(
        "{} {} {} line {} at {:.1} s: {}",
        f["severity"],
        f["kind"],
        f["name"],
        f["line"],
        f["first_seen"].as_f64().unwrap_or(0.0) / 1e6,
        f["evidence"]
    )
}

/// The three programs on one interpreter, watched at once for 30 s.
fn native_on(label: &str) {
    let Some(py) = interpreter(label) else { return };
    let _alone = heavy();
    let numpy = numpy_path(&py);
    let py = &py;
    let ctypes = std::thread::scope(|s| {
        let leak = s.spawn(move || watch(py, "native/ctypes_leak.py", &None, 30));
        if numpy.is_some() {
            let np = &numpy;
            let holder = s.spawn(move || watch(py, "native/numpy_holder.py", np, 30));
            let temps = watch(py, "native/numpy_temporaries.py", np, 30);
            check_holder(holder.join().unwrap());
            check_temporaries(temps);
        }
        leak.join().unwrap()
    });
    check_native(ctypes);
}

fn check_holder(r: Result<Value, String>) {
    let r = r.unwrap();
    let found = findings(&r);
    let all: Vec<String> = found.iter().map(describe).collect();
    let f = found
        .iter()
        .find(|f| f["name"] == "__main__._BATCHES")
        .unwrap_or_else(|| panic!("the holder is not named: {all:#?}"));
    assert_eq!(f["severity"], "important", "{all:#?}");
    assert!(f["first_seen"].as_f64().unwrap() <= 30e6, "{all:#?}");
    // one leak, one finding: no large allocation or native growth standing in for it
    for g in &found {
        assert!(
            g["severity"] != "important" || g["name"] == "__main__._BATCHES",
            "a second Important finding for one leak: {all:#?}"
        );
    }
    // its true size: 1 MiB of data per array
    let row = r["heap"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "__main__._BATCHES")
        .cloned()
        .unwrap();
    let per = row["bytes_last"].as_f64().unwrap() / row["len_last"].as_f64().unwrap();
    assert!(
        (per / (1 << 20) as f64 - 1.0).abs() < 0.10,
        "{per} bytes per array, not 1 MiB: {row}"
    );
}

fn check_temporaries(r: Result<Value, String>) {
    let found = findings(&r.unwrap());
    let all: Vec<String> = found.iter().map(describe).collect();
    assert!(
        found.iter().all(|f| f["severity"] != "important"),
        "the control of large temporaries raised an Important finding: {all:#?}"
    );
}

fn check_native(r: Result<Value, String>) {
    let found = findings(&r.unwrap());
    let all: Vec<String> = found.iter().map(describe).collect();
    let f = found
        .iter()
        .find(|f| f["kind"] == "native_growth")
        .unwrap_or_else(|| panic!("no native growth: {all:#?}"));
    assert_eq!(f["severity"], "important", "{all:#?}");
    assert!(f["first_seen"].as_f64().unwrap() <= 30e6, "{all:#?}");
    // at its line: the memset that touches what malloc gave (the function's lines at worst)
    let leak = marker_line("native/ctypes_leak.py", "# LEAK:native") as u64;
    let line = f["line"].as_u64().unwrap_or(0);
    assert!(
        (leak - 2..=leak + 1).contains(&line),
        "native growth charged to line {line}, the leak is at {leak}: {all:#?}"
    );
    assert!(
        f["evidence"].as_str().unwrap().contains("decode_frame"),
        "{all:#?}"
    );
}

#[test]
fn native_memory_on_python3() {
    native_on("python3");
}

#[test]
fn native_memory_on_the_oldest_interpreter_and_numpy_1() {
    native_on("3.8");
}

#[test]
fn native_memory_on_sid_3_14() {
    native_on("sid-3.14");
}
