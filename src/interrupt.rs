//! Ctrl-C and SIGTERM: the first asks for an orderly stop (the session is finalised), the
//! second ends memwatch at once (what was committed stays readable).

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

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
