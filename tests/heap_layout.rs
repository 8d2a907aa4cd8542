//! The heap layout table (src/heap/layout.rs) checked against every interpreter of the test
//! matrix, live: layout_check.py is handed the layout `memwatch layout` uses for it and checks
//! each figure against what it sees of its own memory (tests/targets/layout_check.py says how,
//! field by field). And, where the headers are installed, the table compared with the figures
//! a compiler gets from them (scripts/layout/probe.c).
mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The fields a version's table carries but that version never uses: the target has nothing
/// to check them against. Everything else must be checked.
fn may_go_unchecked(minor: u32, field: &str) -> Option<&'static str> {
    let frames = "no interpreter frames before 3.11: a frame is a var-sized object, a generator points to one";
    let managed = "no managed dicts before 3.11: an instance dict is at tp_dictoffset";
    Some(match (minor, field) {
        (..=10, "frame_data" | "frame_f_frame" | "iframe_code" | "iframe_localsplus") => frames,
        (..=10, "gen_iframe" | "gen_code" | "code_nlocalsplus" | "frame_specials") => frames,
        (..=10, "stackref_code") => frames,
        (..=10, "managed_dict_before" | "managed_values_before" | "values_valid") => managed,
        (..=10, "cframe_current_frame" | "code_adaptive" | "frame_owner") => {
            "the thread state points at the frame object; f_lasti is an index"
        }
        (11, "frame_owner") => "no C-stack frames on the frame chain before 3.12",
        (13.., "cframe_current_frame") => "no _PyCFrame since 3.13",
        (11, "frame_specials") => "3.11's frame slots are nlocalsplus + stacksize",
        (11 | 12, "values_valid") => "no inline values before 3.13",
        (12.., "managed_values_before") => "3.11 alone keeps a values pointer before the object",
        (12.., "gen_code") => "no gi_code since 3.12 (the code is in the embedded frame)",
        (
            11..,
            "sizeof_frame" | "frame_f_code" | "code_nlocals" | "code_cellvars" | "code_freevars",
        ) => "frames are interpreter frames since 3.11",
        _ => return None,
    })
}

/// A child killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One line from `lines` within `limit`.
fn line_within(lines: &mpsc::Receiver<String>, limit: Duration, what: &str) -> String {
    lines
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("no {what} from the target within {limit:?}"))
}

/// `memwatch layout --pid PID --format json`, parsed; it must succeed.
fn layout_json(who: &str, pid: u32) -> Value {
    let mut cmd = memwatch();
    // the table as it is, not as an override would have it
    cmd.env_remove(memwatch::heap::LAYOUT_OVERRIDE).args([
        "layout",
        "--pid",
        &pid.to_string(),
        "--format",
        "json",
    ]);
    let out = output_within(cmd, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "{who}: memwatch layout failed ({:?}): {}",
        out.status,
        stderr_of(&out)
    );
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{who}: memwatch layout printed no JSON ({e})"));
    assert_eq!(doc["error"], Value::Null, "{who}: {}", doc["error"]);
    assert!(doc["layout"].is_object(), "{who}: no layout: {doc}");
    doc
}

/// memwatch's own checks at attach must not have corrected the table: a note that the
/// interpreter's debug offsets or its GC lists disagreed is a figure of the table that is wrong.
fn table_corrections(doc: &Value) -> Vec<String> {
    doc["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|n| {
            n.contains("differs from the interpreter's _Py_DebugOffsets")
                || n.contains("GC generation lists are at")
        })
        .map(|n| format!("memwatch corrected its table at attach: {n}"))
        .collect()
}

fn layout_is_right(label: &str) {
    let Some(py) = interpreter(label) else { return };
    let _alone = heavy();
    let who = format!("{} (CPython {}.{})", py.label, py.version.0, py.version.1);
    let mut cmd = py.command();
    cmd.arg(py.script("layout_check.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = Killed(cmd.spawn().expect("start layout_check.py"));
    let mut stdin = child.0.stdin.take().unwrap();
    let stdout = child.0.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let ready = line_within(&lines, Duration::from_secs(60), "\"ready\"");
    assert_eq!(ready.trim(), "ready", "{who}: target did not start");

    let doc = layout_json(&who, child.0.id());
    let who = format!(
        "{} (CPython {})",
        py.label,
        doc["version"].as_str().unwrap_or("?")
    );
    let layout = doc["layout"].as_object().unwrap();
    let version = &layout["version"];
    assert_eq!(
        (version[0].as_u64(), version[1].as_u64()),
        (Some(py.version.0 as u64), Some(py.version.1 as u64)),
        "{who}: memwatch's layout is for another version"
    );
    let corrected = table_corrections(&doc);
    assert!(corrected.is_empty(), "{who}: {}", corrected.join("; "));

    writeln!(stdin, "{}", serde_json::to_string(&doc).unwrap()).unwrap();
    stdin.flush().unwrap();
    let line = line_within(&lines, Duration::from_secs(300), "result");
    let result: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("{who}: the target's result is not JSON ({e}): {line}"));
    assert!(
        result.get("error").is_none(),
        "{who}: the target could not check: {}",
        result["error"]
    );
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{who}: layout_check.py exited {status:?}");

    let checked = result["checked"].as_object().unwrap();
    let unchecked: BTreeMap<&str, &str> = result["unchecked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap(), p[1].as_str().unwrap_or_default()))
        .collect();
    let minor = py.version.1;
    let mut wrong = Vec::new();
    let mut set_aside = Vec::new();
    for (field, figure) in layout {
        match (
            checked.get(field).and_then(Value::as_str),
            unchecked.get(field.as_str()),
        ) {
            (Some("ok"), _) => {}
            (Some(seen), _) => wrong.push(format!("{field} (table: {figure}): {seen}")),
            (None, Some(why)) if !why.is_empty() && may_go_unchecked(minor, field).is_some() => {
                let reason = may_go_unchecked(minor, field).unwrap_or_default();
                set_aside.push(format!("{field} ({reason})"));
            }
            (None, Some(why)) => wrong.push(format!(
                "{field} (table: {figure}) was not checked, and must be on 3.{minor}: {why}"
            )),
            (None, None) => wrong.push(format!("{field} (table: {figure}): no verdict")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{who}: the layout table disagrees with the interpreter:\n  {}",
        wrong.join("\n  ")
    );
    eprintln!(
        "{who}: {} fields checked; not applicable on 3.{minor}: {}",
        checked.len(),
        if set_aside.is_empty() {
            "none".to_string()
        } else {
            set_aside.join(", ")
        }
    );
}

macro_rules! per_interpreter {
    ($($name:ident => $label:expr),* $(,)?) => {
        mod layout_matches_the_interpreter {
            $( #[test] fn $name() { super::layout_is_right($label) } )*
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
    python3 => "python3",
    system_python3 => "system",
    sid_3_13 => "sid-3.13",
    sid_3_14 => "sid-3.14",
    sid_3_15 => "sid-3.15",
    sid_3_14_debug => "sid-3.14d",
    sid_3_15_debug => "sid-3.15d",
}

// ---------------------------------------------------------------- compiled headers

/// The layout field that each position of `_Py_DebugOffsets` probe.c prints stands for.
const DEBUG_FIELDS: &[(&str, &str)] = &[
    (
        "debug.runtime_state.interpreters_head",
        "runtime_interpreters_head",
    ),
    ("debug.interpreter_state.next", "interp_next"),
    ("debug.interpreter_state.gc", "interp_gc"),
    ("debug.interpreter_state.imports_modules", "interp_modules"),
    ("debug.interpreter_state.sysdict", "interp_sysdict"),
    ("debug.interpreter_state.builtins", "interp_builtins"),
    ("debug.interpreter_frame.executable", "iframe_code"),
    ("debug.interpreter_frame.localsplus", "iframe_localsplus"),
    ("debug.pyobject.size", "sizeof_pyobject"),
    ("debug.pyobject.ob_type", "ob_type"),
    ("debug.type_object.size", "sizeof_type"),
    ("debug.type_object.tp_name", "tp_name"),
    ("debug.type_object.tp_flags", "tp_flags"),
    ("debug.type_object.tp_basicsize", "tp_basicsize"),
    ("debug.type_object.tp_dictoffset", "tp_dictoffset"),
    ("debug.heap_type_object.ht_cached_keys", "ht_cached_keys"),
    ("debug.tuple_object.ob_item", "tuple_items"),
    ("debug.list_object.ob_item", "list_items"),
    ("debug.set_object.used", "set_used"),
    ("debug.set_object.table", "set_table"),
    ("debug.set_object.mask", "set_mask"),
    ("debug.dict_object.ma_keys", "dict_keys"),
    ("debug.dict_object.ma_values", "dict_values"),
    ("debug.long_object.lv_tag", "long_tag"),
    ("debug.long_object.ob_digit", "long_digits"),
    ("debug.bytes_object.ob_sval", "bytes_sval"),
    ("debug.unicode_object.state", "str_state"),
    ("debug.unicode_object.length", "str_length"),
    ("debug.unicode_object.asciiobject_size", "str_ascii_data"),
    (
        "debug.unicode_object.compactunicodeobject_size",
        "str_compact_data",
    ),
    ("debug.gc.size", "sizeof_gc_state"),
    ("debug.gc.collecting", "gc_collecting"),
    ("debug.gen_object.gi_iframe", "gen_iframe"),
    (
        "debug.interpreter_state.threads_head",
        "interp_threads_head",
    ),
    ("debug.thread_state.next", "tstate_next"),
    ("debug.thread_state.thread_id", "tstate_thread_id"),
    ("debug.thread_state.current_frame", "tstate_frame"),
    ("debug.interpreter_frame.previous", "frame_back"),
    ("debug.interpreter_frame.instr_ptr", "frame_instr"),
    ("debug.interpreter_frame.owner", "frame_owner"),
    ("debug.code_object.filename", "code_filename"),
    ("debug.code_object.name", "code_name"),
    ("debug.code_object.linetable", "code_linetable"),
    ("debug.code_object.firstlineno", "code_firstlineno"),
    ("debug.code_object.co_code_adaptive", "code_adaptive"),
];

/// Where the headers of an interpreter are, and the -I flags that compile against them.
struct Headers {
    py: Interp,
    includes: Vec<PathBuf>,
    /// Keeps the symlink directory for a chroot's headers alive.
    _links: Option<tempfile::TempDir>,
}

/// pyenv's interpreters that memwatch supports, with their include directory.
fn pyenv_headers() -> Vec<Headers> {
    pyenv_interpreters()
        .into_iter()
        .filter(Interp::supported)
        .filter_map(|py| {
            let (major, minor) = py.version;
            let dir = py
                .path
                .parent()?
                .parent()?
                .join(format!("include/python{major}.{minor}"));
            if !dir.join("Python.h").exists() {
                eprintln!("skip: {} has no headers at {}", py.label, dir.display());
                return None;
            }
            Some(Headers {
                py,
                includes: vec![dir],
                _links: None,
            })
        })
        .collect()
}

/// The sid chroot's interpreters, with their headers. The chroot's own C library headers do not
/// go with the host's gcc, so only the Python headers are taken from it: its
/// `<x86_64-linux-gnu/python3.X/pyconfig.h>` through a directory of one symlink.
fn sid_headers() -> Vec<Headers> {
    SID_INTERPRETERS
        .iter()
        .filter_map(|(label, exe)| {
            let py = interpreter(label)?;
            let (root, _) = py.root.clone()?;
            let name = exe.to_string();
            let include = root.join("usr/include").join(&name);
            let arch = root.join("usr/include/x86_64-linux-gnu").join(&name);
            if !include.join("Python.h").exists() || !arch.join("pyconfig.h").exists() {
                eprintln!("skip: {label}: no headers at {}", include.display());
                return None;
            }
            let links = tempfile::tempdir().unwrap();
            std::fs::create_dir(links.path().join("x86_64-linux-gnu")).unwrap();
            std::os::unix::fs::symlink(&arch, links.path().join("x86_64-linux-gnu").join(&name))
                .unwrap();
            Some(Headers {
                py,
                includes: vec![include, links.path().to_path_buf()],
                _links: Some(links),
            })
        })
        .collect()
}

/// Compile probe.c against `h` and run it: its "name value" lines.
fn probe_figures(h: &Headers, dir: &Path) -> BTreeMap<String, i64> {
    let who = &h.py.label;
    let exe = dir.join(format!("probe-{}", h.py.label));
    let mut gcc = Command::new("gcc");
    for inc in &h.includes {
        gcc.arg("-I").arg(inc);
    }
    gcc.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/layout/probe.c"))
        .arg("-o")
        .arg(&exe);
    let out = output_within(gcc, Duration::from_secs(120));
    assert!(
        out.status.success(),
        "{who}: probe.c does not compile against {:?}: {}",
        h.includes,
        stderr_of(&out)
    );
    let out = output_within(Command::new(&exe), Duration::from_secs(30));
    assert!(out.status.success(), "{who}: probe failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (name, value) = l
                .split_once(' ')
                .unwrap_or_else(|| panic!("{who}: probe line {l:?}"));
            let value = value
                .parse()
                .unwrap_or_else(|_| panic!("{who}: probe line {l:?}"));
            (name.to_string(), value)
        })
        .collect()
}

/// What the compiler says about `h`'s headers that disagrees with the layout memwatch uses for
/// a running interpreter of them, and with the table's positions in `_Py_DebugOffsets`.
fn header_disagreements(h: &Headers, probe: &BTreeMap<String, i64>) -> Vec<String> {
    let who = format!(
        "{} (CPython {}.{})",
        h.py.label, h.py.version.0, h.py.version.1
    );
    let target = Target::start(&h.py, "idle.py", &["120"]);
    let doc = layout_json(&who, target.pid() as u32);
    drop(target);
    let layout = doc["layout"].as_object().unwrap();
    let mut wrong = table_corrections(&doc);
    let v = &layout["version"];
    let (major, minor, patch) = (
        v[0].as_u64().unwrap(),
        v[1].as_u64().unwrap(),
        v[2].as_u64().unwrap(),
    );
    let hex = probe["version_hex"];
    if (hex >> 24, (hex >> 16) & 0xff, (hex >> 8) & 0xff)
        != (major as i64, minor as i64, patch as i64)
    {
        wrong.push(format!(
            "headers of version {hex:#x}, interpreter {major}.{minor}.{patch}"
        ));
    }
    if (probe["py_debug"] == 1) != doc["debug_build"].as_bool().unwrap_or(false) {
        wrong.push(format!(
            "Py_DEBUG {} in the headers, debug_build {} for memwatch",
            probe["py_debug"], doc["debug_build"]
        ));
    }
    // the first frame owner that is not Python code, as the line probe skips them
    for owner in ["frame_owned_by_cstack", "frame_owned_by_interpreter"] {
        if let Some(&v) = probe.get(owner)
            && v != memwatch::heap::layout::FRAME_OWNER_NOT_PYTHON as i64
        {
            wrong.push(format!(
                "{owner} is {v}, the line probe skips frames owned from {}",
                memwatch::heap::layout::FRAME_OWNER_NOT_PYTHON
            ));
        }
    }
    for fixed in ["sizeof_pyobject", "sizeof_gc_head"] {
        if probe[fixed] != 16 {
            wrong.push(format!("{fixed} is {}, memwatch assumes 16", probe[fixed]));
        }
    }
    let mut compared = 0;
    for (name, &value) in probe {
        let Some(figure) = layout.get(name) else {
            continue;
        };
        compared += 1;
        match figure.as_i64() {
            Some(f) if f == value => {}
            _ => wrong.push(format!("{name}: table {figure}, headers {value}")),
        }
    }
    assert!(compared >= 40, "{who}: only {compared} figures in common");

    // the table's positions inside _Py_DebugOffsets (3.13+)
    let table = memwatch::heap::layout::Layout::new(major as u32, minor as u32, patch as u32)
        .unwrap_or_else(|e| panic!("{who}: no layout: {e:?}"));
    let debug = table.debug_offsets_fields();
    match (debug, probe.get("debug_sizeof")) {
        (None, None) => {}
        (None, Some(_)) => wrong.push("the headers have _Py_DebugOffsets, the table none".into()),
        (Some(_), None) => wrong.push("the table has _Py_DebugOffsets, the headers none".into()),
        (Some(d), Some(&size)) => {
            if d.size as i64 != size {
                wrong.push(format!(
                    "sizeof(_Py_DebugOffsets): table {}, headers {size}",
                    d.size
                ));
            }
            // the cookie, version and free-threaded flag memwatch reads at fixed places
            for (name, at) in [("debug.version", 8), ("debug.free_threaded", 16)] {
                if probe.get(name) != Some(&at) {
                    wrong.push(format!(
                        "{name}: memwatch reads +{at}, headers {:?}",
                        probe.get(name)
                    ));
                }
            }
            for &(field, at) in d.fields {
                let printed = DEBUG_FIELDS
                    .iter()
                    .find(|(_, f)| *f == field)
                    .filter(|(name, _)| probe.contains_key(*name));
                let Some(&(debug_name, _)) = printed else {
                    // still checked: memwatch read the figure there in the live interpreter,
                    // and it agreed with the table (no note) and with the headers (above)
                    eprintln!(
                        "{who}: probe.c does not print where _Py_DebugOffsets keeps {field} (+{at})"
                    );
                    continue;
                };
                match probe.get(debug_name) {
                    Some(&v) if v == at as i64 => {}
                    got => wrong.push(format!(
                        "{debug_name} ({field}): table at +{at}, headers {got:?}"
                    )),
                }
            }
            for (name, _) in probe.iter().filter(|(n, _)| n.starts_with("debug.")) {
                let known = DEBUG_FIELDS.iter().find(|(d, _)| d == name);
                if let Some((_, field)) = known
                    && !d.fields.iter().any(|(f, _)| f == field)
                {
                    wrong.push(format!(
                        "{name}: the headers have it, memwatch's _Py_DebugOffsets table not ({field})"
                    ));
                }
            }
        }
    }
    wrong
}

#[test]
fn compiled_headers_agree_with_the_table() {
    if Command::new("gcc").arg("--version").output().is_err() {
        eprintln!("skip: no gcc to compile scripts/layout/probe.c with");
        return;
    }
    let _alone = heavy();
    let mut all = pyenv_headers();
    all.extend(sid_headers());
    if all.is_empty() {
        eprintln!("skip: no interpreter with its headers installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for h in &all {
        let probe = probe_figures(h, dir.path());
        let found = header_disagreements(h, &probe);
        eprintln!(
            "{}: {} figures from the headers, {} disagreements",
            h.py.label,
            probe.len(),
            found.len()
        );
        wrong.extend(found.into_iter().map(|w| format!("{}: {w}", h.py.label)));
    }
    assert!(
        wrong.is_empty(),
        "compiled headers disagree with the table:\n  {}",
        wrong.join("\n  ")
    );
}
