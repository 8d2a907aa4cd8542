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

/// Run a command, killing it if it outlives `limit`. Its stdout and stderr are drained while
/// it runs (a child writing more than a pipe holds would otherwise block forever).
pub fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = stderr.join().unwrap();
            panic!(
                "command ran over {limit:?}; stderr: {}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
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

/// The state letter of `/proc/PID/stat` (of the thread group leader): `R`, `S`, `t`, …
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Poll `pid`'s state until `want` accepts it or `limit` passes; the last state seen.
pub fn wait_for_state(pid: i32, limit: Duration, want: impl Fn(char) -> bool) -> Option<char> {
    let start = Instant::now();
    loop {
        let s = proc_state(pid);
        if s.is_some_and(&want) || start.elapsed() > limit {
            return s;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `memwatch snapshot --pid PID --format json` (plus `extra`), killed past `limit`; the output
/// and, if it succeeded, the census parsed.
pub fn snapshot_json(
    pid: i32,
    extra: &[&str],
    limit: Duration,
) -> (Output, Option<serde_json::Value>) {
    let mut cmd = memwatch();
    cmd.args(["snapshot", "--pid", &pid.to_string(), "--format", "json"])
        .args(extra);
    let out = output_within(cmd, limit);
    let census = out
        .status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).expect("snapshot JSON"));
    (out, census)
}

/// `CLOCK_MONOTONIC` in seconds: the clock of Python's `time.monotonic()`.
pub fn monotonic_now() -> f64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9
}

/// The windows steady_counter.py logged: (end time, iterations).
pub fn counter_windows(path: &Path) -> Vec<(f64, f64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
        })
        .collect()
}

pub fn median_of(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "median of nothing");
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// `TracerPid` of `/proc/PID/status`: 0 when nothing traces the process.
pub fn tracer_pid(pid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("TracerPid:"))?
        .trim()
        .parse()
        .ok()
}
