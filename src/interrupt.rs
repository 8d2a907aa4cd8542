//! Ctrl-C and SIGTERM: the first asks for an orderly stop (the session is finalised), the
//! second ends memwatch at once (what was committed stays readable).
//!
//! Job control (Ctrl-Z: SIGTSTP, and SIGTTIN/SIGTTOU): memwatch stops as asked, but never
//! while it holds a target paused — the stop waits for the pause to end ([`defer_stops`]), so
//! a Ctrl-Z during a census does not leave the target stopped with memwatch. An uncatchable
//! SIGSTOP sent to memwatch itself does: the target then stays paused until memwatch runs
//! again (SIGCONT) or dies (the kernel detaches its tracees, which resume).

use std::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

static SIGNALS: AtomicU32 = AtomicU32::new(0);
/// An `extern "C" fn()` run just before the immediate exit (0: none); it must be
/// async-signal-safe. The dashboard puts the terminal back with it.
static ON_EXIT: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: nix::libc::c_int) {
    let n = SIGNALS.fetch_add(1, Ordering::SeqCst);
    if n >= 1 {
        let hook = ON_EXIT.load(Ordering::SeqCst);
        if hook != 0 {
            // SAFETY: only ever set from an `extern "C" fn()` by `set_exit_hook`
            let f: extern "C" fn() = unsafe { std::mem::transmute(hook) };
            f();
        }
        // second request: leave now; async-signal-safe
        unsafe { nix::libc::_exit(130) };
    }
}

/// Run `hook` (async-signal-safe) before the immediate exit of a second Ctrl-C or SIGTERM;
/// `None` removes it.
pub fn set_exit_hook(hook: Option<extern "C" fn()>) {
    ON_EXIT.store(hook.map_or(0, |f| f as usize), Ordering::SeqCst);
}

/// Route SIGINT and SIGTERM to [`requested`].
pub fn install() {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only touches an atomic and calls _exit
        unsafe {
            let _ = sigaction(sig, &action);
        }
    }
}

/// Has the user asked memwatch to stop?
pub fn requested() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// Pauses of a target in progress, and a job-control stop that came during one.
static PAUSES: AtomicU32 = AtomicU32::new(0);
static STOP_PENDING: AtomicI32 = AtomicI32::new(0);

/// Stop the whole of memwatch now, as the default action of SIGTSTP would (SIGSTOP cannot be
/// caught, so the handler is not re-entered; SIGCONT resumes it here).
fn stop_now() {
    // SAFETY: kill(2) is async-signal-safe
    unsafe {
        nix::libc::kill(nix::libc::getpid(), nix::libc::SIGSTOP);
    }
}

extern "C" fn on_stop_signal(sig: nix::libc::c_int) {
    if PAUSES.load(Ordering::SeqCst) > 0 {
        STOP_PENDING.store(sig, Ordering::SeqCst);
    } else {
        stop_now();
    }
}

/// Handle SIGTSTP, SIGTTIN and SIGTTOU so that a stop waits for a target's pause to end.
pub fn install_job_control() {
    let action = SigAction::new(
        SigHandler::Handler(on_stop_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGTSTP, Signal::SIGTTIN, Signal::SIGTTOU] {
        // SAFETY: the handler only touches atomics and calls kill(2)
        unsafe {
            let _ = sigaction(sig, &action);
        }
    }
}

/// While the returned guard lives (a target is paused), job-control stops of memwatch wait;
/// one that came meanwhile takes effect when the last guard is dropped.
pub fn defer_stops() -> DeferredStops {
    PAUSES.fetch_add(1, Ordering::SeqCst);
    DeferredStops(())
}

pub struct DeferredStops(());

impl Drop for DeferredStops {
    fn drop(&mut self) {
        if PAUSES.fetch_sub(1, Ordering::SeqCst) == 1 && STOP_PENDING.swap(0, Ordering::SeqCst) != 0
        {
            stop_now();
        }
    }
}
