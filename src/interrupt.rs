//! Ctrl-C and SIGTERM: the first asks for an orderly stop (the session is finalised), the
//! second ends memwatch at once (what was committed stays readable).

use std::sync::atomic::{AtomicU32, Ordering};

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};

static SIGNALS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(_: nix::libc::c_int) {
    let n = SIGNALS.fetch_add(1, Ordering::SeqCst);
    if n >= 1 {
        // second request: leave now; async-signal-safe
        unsafe { nix::libc::_exit(130) };
    }
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
