//! Pausing the target for the duration of a copy, safely.
//!
//! Every thread is attached with `PTRACE_SEIZE` and stopped with `PTRACE_INTERRUPT`; dropping
//! the [`Frozen`] guard detaches them, which resumes them. If memwatch dies while the target is
//! frozen, the kernel detaches its tracees itself and they run on: there is never a bare
//! SIGSTOP that nobody is left to undo. A signal that arrives for a thread while it is held is
//! handed back to it on detach.
//!
//! All ptrace calls must come from one thread (the tracer is a thread, not a process): the
//! census runs on its own thread and freezes from there.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// How long to wait for every thread to stop before giving up (a running thread stops in
/// microseconds; one blocked in the kernel may not for a long time).
const STOP_DEADLINE: Duration = Duration::from_millis(500);
/// Rounds of re-listing threads (threads started while the first ones were being stopped).
const MAX_ROUNDS: usize = 16;
const MAX_THREADS: usize = 1 << 16;

/// Exit statuses of processes whose end a tracer thread of memwatch reaped while they were
/// held: as tracer, it is told before the parent, and a parent in the same process then
/// never sees it. The sampler asks here before concluding the exit status is unknown.
static REAPED: Mutex<Vec<Reaped>> = Mutex::new(Vec::new());

/// One target at a time: a watch of a process tree pauses its processes one after another,
/// never two at once (a census of one waits for the other's pause to end).
static PAUSE_TURN: Mutex<()> = Mutex::new(());

/// (pid, exit code, killing signal).
type Reaped = (i32, Option<i32>, Option<i32>);

/// Keep the exit status if `st` is the end of process `pid` (its main thread). True if so.
fn remember_exit(pid: i32, st: WaitStatus) -> bool {
    let entry = match st {
        WaitStatus::Exited(p, code) if p.as_raw() == pid => (pid, Some(code), None),
        WaitStatus::Signaled(p, sig, _) if p.as_raw() == pid => (pid, None, Some(sig as i32)),
        _ => return false,
    };
    if let Ok(mut r) = REAPED.lock() {
        // bounded: the oldest go first (nobody asked for them)
        if r.len() >= 1024 {
            r.remove(0);
        }
        r.push(entry);
    }
    true
}

/// The exit code and signal of `pid` if a census reaped its end.
pub fn take_reaped(pid: i32) -> Option<(Option<i32>, Option<i32>)> {
    let mut r = REAPED.lock().ok()?;
    let i = r.iter().position(|e| e.0 == pid)?;
    let (_, code, sig) = r.remove(i);
    Some((code, sig))
}

#[derive(Debug)]
pub enum FreezeError {
    /// Not allowed to trace (ptrace_scope, missing CAP_SYS_PTRACE, or already traced).
    Denied(String),
    Gone,
    /// Some thread did not stop in time (e.g. blocked in the kernel).
    Timeout(usize),
    Other(String),
}

impl std::fmt::Display for FreezeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FreezeError::Denied(e) => write!(f, "cannot pause the target with ptrace: {e}"),
            FreezeError::Gone => write!(f, "the target exited"),
            FreezeError::Timeout(n) => {
                write!(f, "{n} thread(s) did not stop within {STOP_DEADLINE:?}")
            }
            FreezeError::Other(e) => write!(f, "{e}"),
        }
    }
}

/// The target, stopped. Dropping it resumes every thread.
pub struct Frozen {
    pid: i32,
    /// Threads attached, with a signal to give back on detach.
    threads: Vec<(Pid, Option<Signal>)>,
    pub stopped_at: Instant,
    /// Held while this target is paused (dropped after the threads are released).
    _turn: MutexGuard<'static, ()>,
}

fn list_threads(pid: i32) -> Vec<Pid> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .take(MAX_THREADS)
        .map(Pid::from_raw)
        .collect()
}

impl Frozen {
    /// Stop every thread of `pid`.
    pub fn freeze(pid: i32) -> Result<Frozen, FreezeError> {
        // an exiting process cannot be stopped; leave it alone
        if !crate::target::is_alive(pid) {
            return Err(FreezeError::Gone);
        }
        let turn = PAUSE_TURN.lock().unwrap_or_else(|e| e.into_inner());
        let mut frozen = Frozen {
            pid,
            threads: Vec::new(),
            stopped_at: Instant::now(),
            _turn: turn,
        };
        let deadline = Instant::now() + STOP_DEADLINE;
        for _ in 0..MAX_ROUNDS {
            let new: Vec<Pid> = list_threads(pid)
                .into_iter()
                .filter(|t| !frozen.threads.iter().any(|(p, _)| p == t))
                .collect();
            if new.is_empty() {
                if frozen.threads.is_empty() {
                    return Err(FreezeError::Gone);
                }
                frozen.stopped_at = Instant::now();
                return Ok(frozen);
            }
            let mut attached = Vec::new();
            for tid in new {
                match ptrace::seize(tid, ptrace::Options::empty()) {
                    Ok(()) => {}
                    Err(Errno::ESRCH) => continue, // the thread just exited
                    Err(e @ (Errno::EPERM | Errno::EACCES)) => {
                        return Err(FreezeError::Denied(e.desc().to_string()));
                    }
                    Err(e) => return Err(FreezeError::Other(format!("PTRACE_SEIZE: {e}"))),
                }
                frozen.threads.push((tid, None));
                if ptrace::interrupt(tid).is_ok() {
                    attached.push(tid);
                }
            }
            frozen.wait_stopped(&attached, deadline)?;
        }
        Err(FreezeError::Other("threads kept appearing".into()))
    }

    /// Wait until each of `tids` reports a stop (or exits).
    fn wait_stopped(&mut self, tids: &[Pid], deadline: Instant) -> Result<(), FreezeError> {
        let mut pending: Vec<Pid> = tids.to_vec();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for &tid in &pending {
                match waitpid(tid, Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::StillAlive) => still.push(tid),
                    Ok(WaitStatus::PtraceEvent(..)) => {}
                    Ok(WaitStatus::Stopped(_, sig)) => {
                        // a signal arrived first: the thread is stopped; give it back later
                        if sig != Signal::SIGSTOP
                            && sig != Signal::SIGTRAP
                            && let Some(e) = self.threads.iter_mut().find(|(p, _)| *p == tid)
                        {
                            e.1 = Some(sig);
                        }
                    }
                    Ok(st @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                        self.threads.retain(|(p, _)| *p != tid);
                        if remember_exit(self.pid, st) {
                            // the process is gone; the others are let go by the guard
                            return Err(FreezeError::Gone);
                        }
                    }
                    Err(Errno::ECHILD) => {
                        self.threads.retain(|(p, _)| *p != tid);
                    }
                    Ok(_) => {}
                    Err(e) => return Err(FreezeError::Other(format!("waitpid: {e}"))),
                }
            }
            if still.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                return Err(FreezeError::Timeout(still.len()));
            }
            std::thread::sleep(Duration::from_micros(50));
            pending = still;
        }
        Ok(())
    }

    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }
}

/// Detach one thread. PTRACE_DETACH needs the thread stopped; one that never reached its
/// stop (a timeout) is stopped first, so that no thread stays traced by memwatch.
fn release(pid: i32, tid: Pid, sig: Option<Signal>) {
    if ptrace::detach(tid, sig) != Err(Errno::ESRCH) {
        return;
    }
    if ptrace::interrupt(tid).is_err() {
        return; // gone, or not ours
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        match waitpid(tid, Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_micros(100)),
            Ok(st @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => {
                remember_exit(pid, st);
                return;
            }
            Err(_) => return,
            Ok(_) => {
                let _ = ptrace::detach(tid, sig);
                return;
            }
        }
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for (tid, sig) in self.threads.drain(..) {
            release(self.pid, tid, sig);
        }
    }
}
