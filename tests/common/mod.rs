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

/// One interpreter of the test matrix: on this machine (pyenv's, `python3`, /usr/bin/python3)
/// or inside the Debian sid chroot (`root`), where it runs as `chroot ROOT EXE`, as in a
/// container: its files are seen through its own root.
#[derive(Debug, Clone)]
pub struct Interp {
    pub label: String,
    /// The interpreter as this machine sees it (under `root` for a chroot's).
    pub path: PathBuf,
    pub version: (u32, u32),
    /// The chroot it runs in, and its name there (`python3.15`).
    pub root: Option<(PathBuf, String)>,
}

/// The newest minor version memwatch supports.
pub const NEWEST_MINOR: u32 = 15;

impl Interp {
    pub fn supported(&self) -> bool {
        self.version >= (3, 8) && self.version <= (3, NEWEST_MINOR)
    }

    /// A command that runs this interpreter (with no arguments yet).
    pub fn command(&self) -> Command {
        match &self.root {
            None => Command::new(&self.path),
            Some((root, exe)) => {
                let mut c = Command::new("chroot");
                c.arg(root).arg(exe);
                c
            }
        }
    }

    /// The words that run this interpreter, for `memwatch run -- …`.
    pub fn argv(&self) -> Vec<std::ffi::OsString> {
        match &self.root {
            None => vec![self.path.clone().into()],
            Some((root, exe)) => vec!["chroot".into(), root.clone().into(), exe.into()],
        }
    }

    /// The path of test target `name` as this interpreter sees it (copied into the chroot).
    pub fn script(&self, name: &str) -> PathBuf {
        match &self.root {
            None => target_script(name),
            Some((root, _)) => Path::new("/").join(
                chroot_targets(root)
                    .join(name)
                    .strip_prefix(root)
                    .expect("under the root"),
            ),
        }
    }

    /// A temporary directory the target can write to: (the directory as this machine sees
    /// it, the same directory as the target sees it).
    pub fn tempdir(&self) -> (tempfile::TempDir, PathBuf) {
        match &self.root {
            None => {
                let d = tempfile::tempdir().unwrap();
                let p = d.path().to_path_buf();
                (d, p)
            }
            Some((root, _)) => {
                let d = tempfile::tempdir_in(root.join("tmp")).unwrap();
                let inside = Path::new("/").join(d.path().strip_prefix(root).unwrap());
                (d, inside)
            }
        }
    }
}

/// Copy tests/targets into the chroot, once per test process, under its /tmp (directories of
/// test processes that are gone are removed first).
fn chroot_targets(root: &Path) -> PathBuf {
    static DONE: std::sync::Mutex<Vec<(PathBuf, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, dir)) = done.iter().find(|(r, _)| r == root) {
        return dir.clone();
    }
    let base = root.join("tmp/memwatch-tests");
    std::fs::create_dir_all(&base).unwrap();
    for e in std::fs::read_dir(&base).unwrap().flatten() {
        let pid: Option<i32> = e.file_name().to_str().and_then(|n| n.parse().ok());
        if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let dir = base.join(std::process::id().to_string()).join("targets");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/targets"),
        &dir,
    );
    done.push((root.to_path_buf(), dir.clone()));
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

fn version_of(mut cmd: Command) -> Option<(u32, u32)> {
    let out = cmd
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
                version: version_of(Command::new(&path))?,
                path,
                root: None,
            })
        })
        .collect()
}

/// The Debian sid chroot made by scripts/sid-chroot.sh: `$MEMWATCH_SID_ROOT`, else
/// /var/tmp/memwatch-sid. `None` (with the reason printed) when it is not there.
pub fn sid_root() -> Option<PathBuf> {
    let root = std::env::var_os("MEMWATCH_SID_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/memwatch-sid"));
    if !root.join(".memwatch-sid-complete").exists() {
        eprintln!(
            "skip: no Debian sid chroot at {} (make it with scripts/sid-chroot.sh, as .ci/run does)",
            root.display()
        );
        return None;
    }
    Some(root)
}

/// The sid interpreters of the matrix: (label, name in the chroot).
pub const SID_INTERPRETERS: &[(&str, &str)] = &[
    ("sid-3.13", "python3.13"),
    ("sid-3.14", "python3.14"),
    ("sid-3.15", "python3.15"),
    ("sid-3.14d", "python3.14d"),
    ("sid-3.15d", "python3.15d"),
];

/// One interpreter of the sid chroot, by its name there.
fn sid_interpreter(label: &str, exe: &str) -> Option<Interp> {
    let root = sid_root()?;
    let path = root.join("usr/bin").join(exe);
    if !path.exists() {
        eprintln!("skip: {exe} is not installed in {}", root.display());
        return None;
    }
    let mut cmd = Command::new("chroot");
    cmd.arg(&root).arg(exe);
    let Some(version) = version_of(cmd) else {
        eprintln!(
            "skip: {exe} does not run in {} (chroot needs root)",
            root.display()
        );
        return None;
    };
    Some(Interp {
        label: label.to_string(),
        path,
        version,
        root: Some((root, exe.to_string())),
    })
}

/// Every interpreter of the matrix that is present: pyenv's, `python3`, and sid's.
pub fn matrix() -> Vec<Interp> {
    let mut v = pyenv_interpreters();
    v.extend(interpreter("python3"));
    v.extend(
        SID_INTERPRETERS
            .iter()
            .filter_map(|(label, exe)| sid_interpreter(label, exe)),
    );
    v
}

/// The interpreter for a test label: `3.8` … `3.14` (from pyenv), `python3` (PATH's, must
/// exist), `system` (/usr/bin/python3), `sid-3.15` … (the sid chroot's, see
/// [`SID_INTERPRETERS`]). `None` (with the reason printed) when absent.
pub fn interpreter(label: &str) -> Option<Interp> {
    if let Some((label, exe)) = SID_INTERPRETERS.iter().find(|(l, _)| *l == label) {
        return sid_interpreter(label, exe);
    }
    match label {
        "python3" => {
            let path =
                real_executable("python3").expect("python3 must be installed: it is never skipped");
            let version = version_of(Command::new(&path)).expect("python3 runs");
            Some(Interp {
                label: "python3".into(),
                path,
                version,
                root: None,
            })
        }
        "system" => {
            let path = PathBuf::from("/usr/bin/python3");
            if !path.exists() {
                eprintln!("skip: /usr/bin/python3 is not installed");
                return None;
            }
            let version = version_of(Command::new(&path))?;
            Some(Interp {
                label: "system".into(),
                path,
                version,
                root: None,
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
    /// Start test target `script` under `py` and wait for it to print "ready".
    pub fn start(py: &Interp, script: &str, args: &[&str]) -> Target {
        let mut cmd = py.command();
        cmd.arg(py.script(script));
        Target::start_command(cmd, args)
    }

    /// Start `cmd ARGS` (a target's command line) and wait for it to print "ready".
    pub fn start_command(mut cmd: Command, args: &[&str]) -> Target {
        let mut child = cmd
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

/// numpy's directory for `py`, as the target sees it (None: the reason is printed).
pub fn numpy_path(py: &Interp) -> Option<PathBuf> {
    let xy = format!("{}.{}", py.version.0, py.version.1);
    let (here, inside) = match &py.root {
        None => {
            let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/numpy")
                .join(&xy)
                .join("site-packages");
            (d.clone(), d)
        }
        Some((root, exe)) => {
            if exe.ends_with('d') {
                eprintln!(
                    "skip numpy on {}: no numpy wheels for debug builds",
                    py.label
                );
                return None;
            }
            let inside = PathBuf::from("/opt/memwatch-numpy")
                .join(&xy)
                .join("site-packages");
            (root.join(inside.strip_prefix("/").unwrap()), inside)
        }
    };
    if !here.join("numpy").is_dir() {
        eprintln!(
            "skip numpy on {}: not installed at {} (scripts/test-venv.sh installs it where a wheel exists)",
            py.label,
            here.display()
        );
        return None;
    }
    Some(inside)
}

/// The test venv with gunicorn (scripts/test-venv.sh, run by .ci/run).
pub fn gunicorn_venv() -> Option<PathBuf> {
    let dir = std::env::var_os("MEMWATCH_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"));
    if !dir.join("bin/gunicorn").exists() {
        eprintln!(
            "skip: no gunicorn in {} (make it with scripts/test-venv.sh, as .ci/run does)",
            dir.display()
        );
        return None;
    }
    Some(dir)
}

/// A TCP port on loopback that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
