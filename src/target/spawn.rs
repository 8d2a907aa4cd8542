//! `memwatch run -- CMD`: start the command and attach to it as soon as its interpreter is up.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::{Target, attach, is_alive};
use crate::failure::{Failure, Result};

/// How long a freshly started command may take to become an attachable CPython
/// (pyenv shims and virtualenv launchers exec the real interpreter after a while).
const ATTACH_DEADLINE: Duration = Duration::from_secs(5);

/// A target memwatch started itself; memwatch reaps it and so knows how it ended.
pub struct Spawned {
    pub child: Child,
    command: String,
}

impl Spawned {
    pub fn start(argv: &[String]) -> Result<Spawned> {
        Spawned::start_with(argv, |_| {})
    }

    /// As [`Spawned::start`], with `configure` applied to the command first (the dashboard
    /// gives the command no terminal input and takes its output).
    pub fn start_with(argv: &[String], configure: impl FnOnce(&mut Command)) -> Result<Spawned> {
        let Some((program, args)) = argv.split_first() else {
            return Err(Failure::Usage(
                "memwatch run needs a command after `--`".into(),
            ));
        };
        let mut cmd = Command::new(program);
        cmd.args(args);
        configure(&mut cmd);
        let child = cmd.spawn().map_err(|e| Failure::CannotStart {
            command: argv.join(" "),
            detail: e.to_string(),
        })?;
        Ok(Spawned {
            child,
            command: argv.join(" "),
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Poll until the command runs a CPython that can be attached, it exits, or the deadline
    /// passes. Failures that cannot change by waiting (unsupported interpreter, permissions)
    /// are returned at once.
    pub fn attach(&mut self, interrupted: &dyn Fn() -> bool) -> Result<Target> {
        self.attach_within(interrupted, ATTACH_DEADLINE)
    }

    /// [`Spawned::attach`] with a deadline of one's own.
    pub fn attach_within(
        &mut self,
        interrupted: &dyn Fn() -> bool,
        deadline: Duration,
    ) -> Result<Target> {
        let pid = self.pid();
        let started = Instant::now();
        let mut last = None;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Failure::CannotStart {
                    command: self.command.clone(),
                    detail: format!("it exited ({status}) before Python started"),
                });
            }
            match attach(pid) {
                Ok(t) => {
                    // The interpreter may be mapped before its first thread state exists.
                    let mut t = t;
                    if t.spy.get_stack_traces().is_ok() {
                        return Ok(t);
                    }
                }
                Err(
                    e @ (Failure::UnsupportedInterpreter { .. } | Failure::PermissionDenied { .. }),
                ) => return Err(e),
                Err(e) => last = Some(e),
            }
            if interrupted() || started.elapsed() > deadline {
                return Err(match last {
                    Some(Failure::NotPython { what, .. }) => Failure::NotPython {
                        pid,
                        what: format!("after {:.1}s: {what}", deadline.as_secs_f64()),
                    },
                    Some(e) => e,
                    None => Failure::Internal(format!(
                        "PID {pid} did not become attachable within {:.1}s",
                        deadline.as_secs_f64()
                    )),
                });
            }
            std::thread::sleep(Duration::from_millis(
                if started.elapsed() < Duration::from_millis(500) {
                    2
                } else {
                    20
                },
            ));
        }
    }

    /// Stop a command memwatch started but could not watch.
    pub fn terminate(&mut self) {
        if is_alive(self.pid()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid()),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// End a target memwatch started once the watch is over (`--duration`, Ctrl-C): SIGTERM, then
/// SIGKILL if it is still there after a grace period. Returns whether it had to be stopped.
pub fn stop_started(pid: i32) -> bool {
    use nix::sys::signal::{Signal, kill};
    let p = nix::unistd::Pid::from_raw(pid);
    if !is_alive(pid) {
        return false;
    }
    let _ = kill(p, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if !is_alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = kill(p, Signal::SIGKILL);
    true
}
