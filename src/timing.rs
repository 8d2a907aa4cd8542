//! `MEMWATCH_TIMING=1`: phase timings on stderr, for measuring memwatch itself. Each line is
//! stamped with the milliseconds since memwatch started (the first call of [`start`], made
//! first thing in `main`), so that phases on different threads line up.

use std::sync::OnceLock;
use std::time::Instant;

static START: OnceLock<Instant> = OnceLock::new();
static ON: OnceLock<bool> = OnceLock::new();

/// Note when memwatch started (later calls change nothing).
pub fn start() {
    START.get_or_init(Instant::now);
}

/// Whether timings are asked for (`MEMWATCH_TIMING` set).
pub fn on() -> bool {
    *ON.get_or_init(|| std::env::var_os("MEMWATCH_TIMING").is_some())
}

/// Milliseconds since [`start`].
pub fn since_start() -> f64 {
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}

/// Print one timing line (when asked for), stamped.
#[macro_export]
macro_rules! timing {
    ($($arg:tt)*) => {
        if $crate::timing::on() {
            eprintln!("[{:7.1} ms] {}", $crate::timing::since_start(), format_args!($($arg)*));
        }
    };
}
