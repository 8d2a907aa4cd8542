//! Every way memwatch can refuse or fail, each with its own exit code and a one-line message
//! that tells the user what to do next. `main` prints the message and exits with the code;
//! nothing below `main` prints errors or exits. The codes are documented in
//! `docs/exit-codes.md`; keep the two in step.

use std::fmt;

/// A failure that ends memwatch with a distinct exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Anything unexpected: a bug in memwatch or an environment problem without its own code.
    Internal(String),
    /// Bad command line (clap reports these itself with code 2).
    Usage(String),
    NoSuchProcess(i32),
    NotPython {
        pid: i32,
        what: String,
    },
    PermissionDenied {
        pid: i32,
        detail: String,
    },
    UnsupportedInterpreter {
        pid: i32,
        what: String,
    },
    TargetExitedDuringAttach(i32),
    /// A supported version whose memory does not match memwatch's layout of it: a census of it
    /// would be wrong, so there is none.
    LayoutNotUnderstood {
        pid: i32,
        what: String,
    },
    /// `memwatch run` could not start the command.
    CannotStart {
        command: String,
        detail: String,
    },
    SessionNotFound {
        path: String,
        detail: String,
    },
    NotASession {
        path: String,
        detail: String,
    },
    /// `memwatch diff`: a JSON file that is not a `memwatch snapshot --format json` (so
    /// neither a session nor a snapshot). Shares code 21 with [`Failure::NotASession`]: both
    /// say "not a file memwatch reads".
    NotASnapshot {
        path: String,
        detail: String,
    },
    /// The session file could not be created or written.
    SessionWrite {
        path: String,
        detail: String,
    },
    /// A report or export file (`-o`, `--report`) cannot be written.
    OutputWrite {
        path: String,
        detail: String,
    },
    /// `--serve`: the metrics endpoint cannot listen on this address.
    Serve {
        addr: String,
        detail: String,
    },
    /// CI mode (`--fail-on`): the watch found `count` findings at or above `severity`. The
    /// report was printed and written; this only sets the exit code.
    FindingsFound {
        severity: String,
        count: usize,
    },
    /// CI mode (`--fail-on`): no finding failed the run, but the command `memwatch run`
    /// started exited with this code (128 + signal when a signal killed it): passed on.
    CommandFailed(i32),
}

impl Failure {
    pub fn exit_code(&self) -> i32 {
        match self {
            Failure::Internal(_) => 1,
            Failure::Usage(_) => 2,
            Failure::NoSuchProcess(_) => 10,
            Failure::NotPython { .. } => 11,
            Failure::PermissionDenied { .. } => 12,
            Failure::UnsupportedInterpreter { .. } => 13,
            Failure::TargetExitedDuringAttach(_) => 14,
            Failure::CannotStart { .. } => 15,
            Failure::LayoutNotUnderstood { .. } => 16,
            Failure::SessionNotFound { .. } => 20,
            Failure::NotASession { .. } | Failure::NotASnapshot { .. } => 21,
            Failure::SessionWrite { .. } => 22,
            Failure::OutputWrite { .. } => 23,
            Failure::Serve { .. } => 24,
            Failure::FindingsFound { .. } => 30,
            Failure::CommandFailed(code) => *code,
        }
    }

    pub fn internal(e: impl fmt::Display) -> Failure {
        Failure::Internal(e.to_string())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Internal(m) => write!(f, "internal error: {m}"),
            Failure::Usage(m) => write!(f, "{m}"),
            Failure::NoSuchProcess(pid) => write!(f, "no such process: PID {pid} does not exist"),
            Failure::NotPython { pid, what } => {
                write!(f, "PID {pid} is not a Python process ({what})")
            }
            Failure::PermissionDenied { pid, detail } => write!(
                f,
                "permission denied reading PID {pid} ({detail}): run memwatch as root or grant it \
                 CAP_SYS_PTRACE (sudo setcap cap_sys_ptrace+ep $(which memwatch)); in a container \
                 start it with --cap-add SYS_PTRACE"
            ),
            Failure::UnsupportedInterpreter { pid, what } => write!(
                f,
                "unsupported interpreter in PID {pid}: {what}; memwatch supports CPython 3.8 to 3.15 \
                 (release and debug builds with the GIL)"
            ),
            Failure::TargetExitedDuringAttach(pid) => {
                write!(f, "PID {pid} exited while memwatch was attaching")
            }
            Failure::LayoutNotUnderstood { pid, what } => write!(
                f,
                "no heap census of PID {pid}: {what}; please report it with the interpreter's \
                 exact version and origin (memwatch layout --pid {pid} shows what memwatch read)"
            ),
            Failure::CannotStart { command, detail } => {
                write!(f, "cannot start `{command}`: {detail}")
            }
            Failure::SessionNotFound { path, detail } => {
                write!(f, "cannot open session file {path}: {detail}")
            }
            Failure::NotASession { path, detail } => {
                write!(f, "{path} is not a memwatch session file ({detail})")
            }
            Failure::NotASnapshot { path, detail } => {
                write!(f, "{path} is not a memwatch session or snapshot ({detail})")
            }
            Failure::SessionWrite { path, detail } => {
                write!(f, "cannot write session file {path}: {detail}")
            }
            Failure::OutputWrite { path, detail } => {
                write!(f, "cannot write {path}: {detail}")
            }
            Failure::Serve { addr, detail } => write!(
                f,
                "cannot serve metrics on {addr}: {detail} (choose another --serve port)"
            ),
            Failure::FindingsFound { severity, count } => write!(
                f,
                "{count} finding(s) at or above {severity} (--fail-on {severity}): exit code 30"
            ),
            Failure::CommandFailed(code) => write!(
                f,
                "no finding failed the run; the command exited with code {code}, passed on"
            ),
        }
    }
}

impl std::error::Error for Failure {}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct() {
        let all = [
            Failure::Internal(String::new()),
            Failure::Usage(String::new()),
            Failure::NoSuchProcess(1),
            Failure::NotPython {
                pid: 1,
                what: String::new(),
            },
            Failure::PermissionDenied {
                pid: 1,
                detail: String::new(),
            },
            Failure::UnsupportedInterpreter {
                pid: 1,
                what: String::new(),
            },
            Failure::TargetExitedDuringAttach(1),
            Failure::LayoutNotUnderstood {
                pid: 1,
                what: String::new(),
            },
            Failure::CannotStart {
                command: String::new(),
                detail: String::new(),
            },
            Failure::SessionNotFound {
                path: String::new(),
                detail: String::new(),
            },
            Failure::NotASession {
                path: String::new(),
                detail: String::new(),
            },
            Failure::SessionWrite {
                path: String::new(),
                detail: String::new(),
            },
            Failure::OutputWrite {
                path: String::new(),
                detail: String::new(),
            },
            Failure::Serve {
                addr: String::new(),
                detail: String::new(),
            },
            Failure::FindingsFound {
                severity: String::new(),
                count: 1,
            },
        ];
        let mut codes: Vec<i32> = all.iter().map(Failure::exit_code).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        // a JSON file `diff` cannot read is "not a file memwatch reads", as a foreign session is
        let not_snapshot = Failure::NotASnapshot {
            path: String::new(),
            detail: String::new(),
        };
        assert_eq!(not_snapshot.exit_code(), 21);
        for f in all.iter().chain([&not_snapshot]) {
            assert!(!f.to_string().contains('\n'), "one line: {f}");
        }
    }
}
