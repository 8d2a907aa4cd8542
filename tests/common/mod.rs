//! Shared test helpers: finding interpreters, starting targets, running memwatch.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Tests of one binary that measure timing or load the machine take this, so they do not
/// run beside each other (cargo runs a binary's tests in parallel threads).
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn memwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memwatch"))
}

pub fn target_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/targets")
        .join(name)
}

/// The line number of the line carrying `marker` in a test target.
pub fn marker_line(script: &str, marker: &str) -> u32 {
    let text = std::fs::read_to_string(target_script(script)).unwrap();
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(marker))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "marker {marker} in {script}");
    hits[0] as u32
}

#[derive(Debug, Clone)]
pub struct Interp {
    pub label: String,
    pub path: PathBuf,
    pub version: (u32, u32),
}

impl Interp {
    pub fn supported(&self) -> bool {
        self.version >= (3, 8) && self.version <= (3, 14)
    }
}

fn version_of(path: &Path) -> Option<(u32, u32)> {
    let out = Command::new(path)
        .args([
            "-c",
            "import sys; sys.stdout.write('%d %d\\n' % sys.version_info[:2])",
        ])
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.split_whitespace().map(|v| v.parse::<u32>().ok());
    Some((it.next()??, it.next()??))
}

fn real_executable(cmd: &str) -> Option<PathBuf> {
    let out = Command::new(cmd)
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// Every interpreter `pyenv versions` lists (label `pyenv-X.Y.Z`).
pub fn pyenv_interpreters() -> Vec<Interp> {
    let Ok(root) = Command::new("pyenv").arg("root").output() else {
        return Vec::new();
    };
    let root = PathBuf::from(String::from_utf8_lossy(&root.stdout).trim());
    let Ok(list) = Command::new("pyenv").args(["versions", "--bare"]).output() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "system")
        .filter_map(|v| {
            let dir = root.join("versions").join(v).join("bin");
            let path = ["python3", "python"]
                .iter()
                .map(|n| dir.join(n))
                .find(|p| p.exists())?;
            Some(Interp {
                label: format!("pyenv-{v}"),
                version: version_of(&path)?,
                path,
            })
        })
        .collect()
}

/// The interpreter for a test label: `3.8` … `3.14` (from pyenv), `python3` (PATH's, must
/// exist), `system` (/usr/bin/python3). `None` (with the reason printed) when absent.
pub fn interpreter(label: &str) -> Option<Interp> {
    match label {
        "python3" => {
            let path =
                real_executable("python3").expect("python3 must be installed: it is never skipped");
            let version = version_of(&path).expect("python3 runs");
            Some(Interp {
                label: "python3".into(),
                path,
                version,
            })
        }
        "system" => {
            let path = PathBuf::from("/usr/bin/python3");
            if !path.exists() {
                eprintln!("skip: /usr/bin/python3 is not installed");
                return None;
            }
            let version = version_of(&path)?;
            Some(Interp {
                label: "system".into(),
                path,
                version,
            })
        }
        minor => {
            let found = pyenv_interpreters()
                .into_iter()
                .find(|i| format!("{}.{}", i.version.0, i.version.1) == minor);
            if found.is_none() {
                eprintln!("skip: no CPython {minor} among `pyenv versions`");
            }
            found
        }
    }
}

/// A started target that is killed when dropped.
pub struct Target {
    pub child: Child,
}

impl Target {
    /// Start `script` under `python` and wait for it to print "ready".
    pub fn start(python: &Path, script: &str, args: &[&str]) -> Target {
        let mut child = Command::new(python)
            .arg(target_script(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start target");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "target did not start");
        Target { child }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a command, killing it if it outlives `limit`.
pub fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "command ran over {limit:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn stderr_of(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// `memwatch report FILE --format json`, parsed.
pub fn report_json(session: &Path, extra: &[&str]) -> serde_json::Value {
    let out = memwatch()
        .arg("report")
        .arg(session)
        .args(["--format", "json"])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "report failed: {}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).expect("report JSON")
}

/// Rows of a table in a session file.
pub fn count_rows(session: &Path, table: &str) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(session, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// memwatch's error output must be one line, with no panic or backtrace.
pub fn assert_one_line_error(o: &Output, code: i32, needle: &str) {
    let err = stderr_of(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("memwatch: "), "{err}");
    assert!(err.contains(needle), "{needle:?} not in: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}
