//! Attaching to a target: is the PID there, may we read it, is it CPython, which version and
//! build. Everything a user can get wrong about the PID ends here as a [`Failure`] with its own
//! exit code; nothing in this module stops, signals or writes to the target.

pub mod spawn;

use std::path::{Path, PathBuf};

use py_spy::config::LockingStrategy;
use py_spy::python_process_info::PythonProcessInfo;
use py_spy::{Config, PythonSpy};
use remoteprocess::ProcessMemory;

use crate::failure::{Failure, Result};

/// Interpreter versions memwatch understands (inclusive, `(major, minor)`).
pub const OLDEST: (u64, u64) = (3, 8);
pub const NEWEST: (u64, u64) = (3, 15);

/// A recognised CPython interpreter in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// `a1`, `rc2`, … or empty for a final release.
    pub release: String,
}

impl std::fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{}.{}{}",
            self.major, self.minor, self.patch, self.release
        )
    }
}

/// What the target's memory maps say about the interpreter, before reading any of its memory.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MappedPython {
    /// The file that carries the interpreter (libpython, or the executable itself).
    path: String,
    /// `(major, minor)` parsed from the file name, if it has one.
    name_version: Option<(u64, u64)>,
    /// ABI flags from the file name (`t` free-threaded, `d` debug, `m` pymalloc ≤3.7).
    abiflags: String,
    /// The mapping belongs to PyPy rather than CPython.
    pypy: bool,
}

/// A target we are attached to, read-only; `S` is what reads its stacks (py-spy's view of it),
/// `()` for a target only inspected (`memwatch snapshot` and `layout` read no stacks).
pub struct Target<S = PythonSpy> {
    pub pid: i32,
    pub version: PythonVersion,
    /// A debug build (`python3.X-dbg`, ABI flag `d`): same object layout, slower interpreter.
    pub debug_build: bool,
    /// The filesystem root and namespaces the target lives in, if not memwatch's own.
    pub root: TargetRoot,
    pub python_binary: String,
    pub command_line: String,
    /// py-spy's view of the process, set up for non-blocking stack reads.
    pub spy: S,
    /// Address of `_PyRuntime` (the heap census starts there).
    pub runtime: Option<u64>,
    /// Address of the `_PySet_Dummy` variable.
    pub set_dummy_var: Option<u64>,
}

impl<S> Target<S> {
    /// What the heap census needs, or why it cannot run.
    pub fn heap(&self) -> std::result::Result<crate::heap::HeapTarget, crate::heap::HeapError> {
        let runtime = self.runtime.ok_or_else(|| {
            crate::heap::HeapError::NotUnderstood(format!(
                "CPython {}: the interpreter exports no _PyRuntime symbol",
                self.version
            ))
        })?;
        crate::heap::HeapTarget::new(
            self.pid,
            (
                self.version.major as u32,
                self.version.minor as u32,
                self.version.patch as u32,
            ),
            runtime,
            self.set_dummy_var,
        )
    }
}

impl<S> std::fmt::Debug for Target<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("pid", &self.pid)
            .field("version", &self.version)
            .field("python_binary", &self.python_binary)
            .finish()
    }
}

/// The state letter of `/proc/PID/stat`, or `None` when the process is gone.
fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command name is in parentheses and may itself contain ") "
    let after = stat.rsplit_once(") ")?.1;
    after.chars().next()
}

/// Is `pid` a live (not zombie) process?
pub fn is_alive(pid: i32) -> bool {
    matches!(process_state(pid), Some(s) if s != 'Z' && s != 'X')
}

fn is_permission_error(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_codes::EPERM) | Some(libc_codes::EACCES)
    )
}

mod libc_codes {
    pub const EPERM: i32 = 1;
    pub const ESRCH: i32 = 3;
    pub const EACCES: i32 = 13;
}

/// The exit-time failure for a process that was alive a moment ago.
fn gone_or(pid: i32, f: Failure) -> Failure {
    if is_alive(pid) {
        f
    } else {
        Failure::TargetExitedDuringAttach(pid)
    }
}

/// Split `libpython3.13t.so.1.0` / `python3.11` / `libpython3.7m.so` into version and flags.
fn parse_python_file_name(name: &str) -> Option<((u64, u64), String)> {
    let rest = name
        .strip_prefix("libpython")
        .or_else(|| name.strip_prefix("python"))?;
    let rest = rest.split(".so").next().unwrap_or(rest);
    let (major, rest) = rest.split_once('.')?;
    let major: u64 = major.parse().ok()?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    if digits.is_empty() {
        return None;
    }
    let minor: u64 = digits.parse().ok()?;
    let flags: String = rest[digits.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    Some(((major, minor), flags))
}

/// Find the interpreter among the target's file mappings (`/proc/PID/maps` pathnames) and its
/// executable path.
fn find_mapped_python(exe: &str, mapped: &[String]) -> Option<MappedPython> {
    let file_name = |p: &str| {
        Path::new(p)
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
    };
    for path in mapped {
        let Some(name) = file_name(path) else {
            continue;
        };
        if name.starts_with("libpypy") {
            return Some(MappedPython {
                path: path.clone(),
                name_version: None,
                abiflags: String::new(),
                pypy: true,
            });
        }
        if name.starts_with("libpython") && name.contains(".so") {
            let parsed = parse_python_file_name(&name);
            return Some(MappedPython {
                path: path.clone(),
                name_version: parsed.as_ref().map(|p| p.0),
                abiflags: parsed.map(|p| p.1).unwrap_or_default(),
                pypy: false,
            });
        }
    }
    let name = file_name(exe)?;
    if name.starts_with("pypy") {
        return Some(MappedPython {
            path: exe.to_string(),
            name_version: None,
            abiflags: String::new(),
            pypy: true,
        });
    }
    if name.starts_with("python") {
        let parsed = parse_python_file_name(&name);
        return Some(MappedPython {
            path: exe.to_string(),
            name_version: parsed.as_ref().map(|p| p.0),
            abiflags: parsed.map(|p| p.1).unwrap_or_default(),
            pypy: false,
        });
    }
    None
}

/// Symbols that exist only in debug (`Py_DEBUG`, which implies `Py_REF_DEBUG`) builds.
/// Attempts at reading the interpreter state before an attach gives up.
const ATTACH_TRIES: u32 = 10;

const DEBUG_BUILD_SYMBOLS: &[&str] = &[
    "_Py_NegativeRefcount",
    "_Py_RefTotal",
    "_Py_GetGlobalRefTotal",
];

/// Symbols that exist only in `Py_TRACE_REFS` builds (Objects/object.c), whose object header
/// carries two more pointers before 3.13 (3.13 moved the trace to a hash table).
const TRACE_REFS_SYMBOLS: &[&str] = &["_Py_PrintReferences", "_Py_PrintReferenceAddresses"];

/// Symbols any CPython 3 interpreter exports.
const CPYTHON_SYMBOLS: &[&str] = &["_PyRuntime", "Py_Initialize", "PyEval_EvalFrameDefault"];

pub fn read_cmdline(pid: i32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Pre-flight checks that need no ptrace rights beyond reading /proc.
fn check_process(pid: i32) -> Result<(String, Vec<String>)> {
    if pid <= 0 {
        return Err(Failure::NoSuchProcess(pid));
    }
    match process_state(pid) {
        None => return Err(Failure::NoSuchProcess(pid)),
        Some('Z') | Some('X') => return Err(Failure::TargetExitedDuringAttach(pid)),
        Some(_) => {}
    }
    let exe = match std::fs::read_link(format!("/proc/{pid}/exe")) {
        Ok(p) => p
            .to_string_lossy()
            .trim_end_matches(" (deleted)")
            .to_string(),
        Err(e) if is_permission_error(&e) => {
            return Err(gone_or(
                pid,
                Failure::PermissionDenied {
                    pid,
                    detail: format!("/proc/{pid}/exe: {e}"),
                },
            ));
        }
        Err(e) => {
            // kernel threads have no exe; a vanished process neither
            return Err(gone_or(
                pid,
                Failure::NotPython {
                    pid,
                    what: format!("no executable: {e}"),
                },
            ));
        }
    };
    let maps = match std::fs::read_to_string(format!("/proc/{pid}/maps")) {
        Ok(m) => m,
        Err(e) if is_permission_error(&e) => {
            return Err(gone_or(
                pid,
                Failure::PermissionDenied {
                    pid,
                    detail: format!("/proc/{pid}/maps: {e}"),
                },
            ));
        }
        Err(e) => return Err(gone_or(pid, Failure::internal(e))),
    };
    let mut files: Vec<String> = Vec::new();
    for line in maps.lines() {
        // address perms offset dev inode pathname
        let path = line.split_whitespace().nth(5);
        if let Some(p) = path
            && p.starts_with('/')
            && !files.iter().any(|f| f == p)
        {
            files.push(p.to_string());
        }
    }
    if maps.trim().is_empty() && !is_alive(pid) {
        return Err(Failure::TargetExitedDuringAttach(pid));
    }
    Ok((exe, files))
}

/// Attach to `pid`: validate it, recognise the interpreter and open py-spy on it in
/// non-blocking mode (the target is never paused for stack reads).
/// Attach to `pid` with py-spy's view of it for stack reads.
pub fn attach(pid: i32) -> Result<Target> {
    let target = inspect(pid)?;
    let version = &target.version;
    let config = Config {
        blocking: LockingStrategy::NonBlocking,
        ..Config::default()
    };
    // a read of the interpreter's state can fail while the target moves under it (at
    // start-up, or a busy machine): a few tries, half a second in all, before giving up
    let mut tries = 0;
    let spy = loop {
        match PythonSpy::new(pid, &config) {
            Ok(spy) => break Ok(spy),
            Err(e) => {
                tries += 1;
                if tries >= ATTACH_TRIES || !is_alive(pid) {
                    break Err(e);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    };
    let spy = spy.map_err(|e| {
        gone_or(
            pid,
            Failure::internal(format!(
                "cannot find the interpreter state in CPython {version}: {e:#}"
            )),
        )
    })?;
    Ok(Target {
        pid: target.pid,
        version: target.version,
        debug_build: target.debug_build,
        root: target.root,
        python_binary: target.python_binary,
        command_line: target.command_line,
        spy,
        runtime: target.runtime,
        set_dummy_var: target.set_dummy_var,
    })
}

/// Check that `pid` is a CPython memwatch reads and find what the heap census needs, without
/// py-spy's view of it (which parses the interpreter's binary a second time: 5-20 ms).
pub fn inspect(pid: i32) -> Result<Target<()>> {
    let (exe, files) = check_process(pid)?;
    let mapped = find_mapped_python(&exe, &files);
    if let Some(m) = &mapped {
        if m.pypy {
            return Err(Failure::UnsupportedInterpreter {
                pid,
                what: format!("PyPy ({})", m.path),
            });
        }
        if let Some((major, minor)) = m.name_version
            && let Err(f) = refuse_version(pid, major, minor, &m.path)
        {
            return Err(exact_unsupported(pid, &m.path).unwrap_or(f));
        }
        refuse_abiflags(pid, &m.abiflags, m.name_version, &m.path)?;
    }
    let debug_by_name = mapped.as_ref().is_some_and(|m| m.abiflags.contains('d'));

    let process =
        remoteprocess::Process::new(pid).map_err(|e| gone_or(pid, Failure::internal(e)))?;
    let info = match PythonProcessInfo::new(&process) {
        Ok(info) => info,
        Err(e) => {
            return Err(gone_or(
                pid,
                if mapped.is_some() {
                    Failure::internal(format!("cannot read the interpreter binary: {e:#}"))
                } else {
                    Failure::NotPython {
                        pid,
                        what: format!("executable {exe} has no Python interpreter"),
                    }
                },
            ));
        }
    };
    let has_python_symbols = CPYTHON_SYMBOLS.iter().any(|s| info.get_symbol(s).is_some());
    if mapped.is_none() && !has_python_symbols {
        return Err(Failure::NotPython {
            pid,
            what: format!("executable {exe} has no Python interpreter"),
        });
    }
    let python_binary = mapped
        .as_ref()
        .map(|m| m.path.clone())
        .unwrap_or_else(|| exe.clone());

    // One real read of the target's memory tells whether we may read it at all.
    probe_memory_access(pid, &process, &info)?;

    let version =
        py_spy::python_process_info::get_python_version(&info, &process).map_err(|e| {
            gone_or(
                pid,
                Failure::internal(format!("cannot find the Python version: {e:#}")),
            )
        })?;
    let version = PythonVersion {
        major: version.major,
        minor: version.minor,
        patch: version.patch,
        release: version.release_flags.clone(),
    };
    refuse_version(pid, version.major, version.minor, &python_binary)?;
    let debug_build = debug_by_name
        || DEBUG_BUILD_SYMBOLS
            .iter()
            .any(|s| info.get_symbol(s).is_some());
    if (version.major, version.minor) < (3, 13)
        && TRACE_REFS_SYMBOLS
            .iter()
            .any(|s| info.get_symbol(s).is_some())
    {
        return Err(Failure::UnsupportedInterpreter {
            pid,
            what: format!(
                "CPython {version} built with Py_TRACE_REFS ({python_binary}): before 3.13 it adds \
                 two pointers to every object header, a layout memwatch does not read"
            ),
        });
    }
    if free_threaded_runtime(&process, &info, &version) {
        return Err(Failure::UnsupportedInterpreter {
            pid,
            what: format!("free-threaded CPython {version}t ({python_binary})"),
        });
    }

    Ok(Target {
        pid,
        version,
        debug_build,
        root: TargetRoot::of(pid),
        python_binary,
        command_line: read_cmdline(pid),
        spy: (),
        runtime: info.get_symbol("_PyRuntime").copied(),
        set_dummy_var: info.get_symbol("_PySet_Dummy").copied(),
    })
}

/// Name an unsupported interpreter by its exact version when py-spy can read it.
fn exact_unsupported(pid: i32, path: &str) -> Option<Failure> {
    let process = remoteprocess::Process::new(pid).ok()?;
    let info = PythonProcessInfo::new(&process).ok()?;
    let v = py_spy::python_process_info::get_python_version(&info, &process).ok()?;
    let name = if v.major == 2 { "Python" } else { "CPython" };
    Some(Failure::UnsupportedInterpreter {
        pid,
        what: format!(
            "{name} {}.{}.{}{} ({path})",
            v.major, v.minor, v.patch, v.release_flags
        ),
    })
}

fn refuse_version(pid: i32, major: u64, minor: u64, path: &str) -> Result<()> {
    if (major, minor) < OLDEST || (major, minor) > NEWEST {
        return Err(Failure::UnsupportedInterpreter {
            pid,
            what: format!("Python {major}.{minor} ({path})"),
        });
    }
    Ok(())
}

fn refuse_abiflags(pid: i32, flags: &str, v: Option<(u64, u64)>, path: &str) -> Result<()> {
    let v = v
        .map(|(a, b)| format!("{a}.{b}"))
        .unwrap_or_else(|| "3".to_string());
    if flags.contains('t') {
        return Err(Failure::UnsupportedInterpreter {
            pid,
            what: format!("free-threaded CPython {v}t ({path})"),
        });
    }
    // a debug build ('d') has the release object layout (Py_TRACE_REFS is refused once the
    // interpreter's symbols are read)
    Ok(())
}

/// 3.13+ start `_PyRuntime` with `_Py_DebugOffsets`, whose `free_threaded` word says it.
fn free_threaded_runtime(
    process: &remoteprocess::Process,
    info: &PythonProcessInfo,
    version: &PythonVersion,
) -> bool {
    if (version.major, version.minor) < (3, 13) {
        return false;
    }
    let Some(&runtime) = info.get_symbol("_PyRuntime") else {
        return false;
    };
    let Ok(head) = process.copy(runtime as usize, 24) else {
        return false;
    };
    &head[0..8] == b"xdebugpy" && u64::from_le_bytes(head[16..24].try_into().unwrap_or([0; 8])) != 0
}

fn probe_memory_access(
    pid: i32,
    process: &remoteprocess::Process,
    info: &PythonProcessInfo,
) -> Result<()> {
    let Some(&addr) = CPYTHON_SYMBOLS
        .iter()
        .find_map(|s| info.get_symbol(s))
        .or_else(|| info.get_symbol("Py_GetVersion"))
    else {
        return Ok(());
    };
    match process.copy(addr as usize, 8) {
        Ok(_) => Ok(()),
        Err(e) => {
            let perm = matches!(&e, remoteprocess::Error::IOError(io) if is_permission_error(io));
            let gone = matches!(&e, remoteprocess::Error::IOError(io) if io.raw_os_error() == Some(libc_codes::ESRCH));
            if gone || !is_alive(pid) {
                Err(Failure::TargetExitedDuringAttach(pid))
            } else if perm {
                Err(Failure::PermissionDenied {
                    pid,
                    detail: format!("process_vm_readv: {e}"),
                })
            } else {
                Err(Failure::internal(format!(
                    "cannot read PID {pid}'s memory: {e}"
                )))
            }
        }
    }
}

/// Where the target lives, seen from memwatch: its root directory and whether it has mount
/// and PID namespaces of its own (containers, `unshare`, chroots).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TargetRoot {
    /// The target's root directory as memwatch sees it (`readlink /proc/PID/root`): `/` unless
    /// chrooted; a container's root in another mount namespace still reads `/`.
    pub root: String,
    /// It has its own mount namespace.
    pub own_mounts: bool,
    /// Its PID inside its own PID namespace, if it has one.
    pub namespace_pid: Option<i32>,
}

impl TargetRoot {
    pub fn of(pid: i32) -> TargetRoot {
        let root = std::fs::read_link(format!("/proc/{pid}/root"))
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "/".into());
        let ns = |kind: &str| std::fs::read_link(format!("/proc/{pid}/ns/{kind}")).ok();
        let own = |kind: &str| {
            let mine = std::fs::read_link(format!("/proc/self/ns/{kind}")).ok();
            ns(kind).is_some() && mine.is_some() && ns(kind) != mine
        };
        // NSpid: the PID in each namespace from ours inwards; the last is the innermost
        let namespace_pid = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("NSpid:"))?.to_string();
                let pids: Vec<i32> = line[6..]
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect();
                (pids.len() > 1).then(|| *pids.last().unwrap_or(&pid))
            });
        TargetRoot {
            root,
            own_mounts: own("mnt"),
            namespace_pid,
        }
    }

    /// Nothing to say: the target shares memwatch's root and namespaces.
    pub fn is_ours(&self) -> bool {
        self.root == "/" && !self.own_mounts && self.namespace_pid.is_none()
    }

    /// One line for the report: `root /srv/jail (chroot), own mount namespace, PID 1 in its
    /// PID namespace`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.root != "/" {
            parts.push(format!("root {} (chroot)", self.root));
        }
        if self.own_mounts {
            parts.push("own mount namespace (files read through /proc/PID/root)".to_string());
        }
        if let Some(p) = self.namespace_pid {
            parts.push(format!("PID {p} in its own PID namespace"));
        }
        if parts.is_empty() {
            "memwatch's own root".to_string()
        } else {
            parts.join(", ")
        }
    }
}

/// The path under which the target's own filesystem view of `file` can be read
/// (containers and chroots included).
/// The text of a file as the target sees it (see [`target_path`]), at most `budget` bytes;
/// None when it cannot be read or is not text.
pub fn read_target_file(pid: i32, file: &str, budget: u64) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(target_path(pid, file)).ok()?;
    let mut s = String::new();
    f.take(budget).read_to_string(&mut s).ok()?;
    Some(s)
}

pub fn target_path(pid: i32, file: &str) -> PathBuf {
    if file.starts_with('/') {
        PathBuf::from(format!("/proc/{pid}/root{file}"))
    } else {
        PathBuf::from(format!("/proc/{pid}/cwd/{file}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_interpreter_file_names() {
        assert_eq!(
            parse_python_file_name("libpython3.13t.so.1.0"),
            Some(((3, 13), "t".into()))
        );
        assert_eq!(
            parse_python_file_name("libpython3.7m.so.1.0"),
            Some(((3, 7), "m".into()))
        );
        assert_eq!(
            parse_python_file_name("python3.11"),
            Some(((3, 11), "".into()))
        );
        assert_eq!(
            parse_python_file_name("libpython2.7.so.1.0"),
            Some(((2, 7), "".into()))
        );
        assert_eq!(parse_python_file_name("python3"), None);
        assert_eq!(parse_python_file_name("sleep"), None);
    }

    #[test]
    fn finds_libpython_before_exe() {
        let m = find_mapped_python(
            "/usr/bin/uwsgi",
            &[
                "/usr/lib/libc.so.6".into(),
                "/opt/lib/libpython3.12d.so.1.0".into(),
            ],
        )
        .unwrap();
        assert_eq!(m.name_version, Some((3, 12)));
        assert_eq!(m.abiflags, "d");
        assert!(find_mapped_python("/bin/sleep", &["/usr/lib/libc.so.6".into()]).is_none());
        let m = find_mapped_python("/usr/bin/python3.11", &[]).unwrap();
        assert_eq!(m.name_version, Some((3, 11)));
    }
}
