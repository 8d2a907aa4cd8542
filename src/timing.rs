//! `MEMWATCH_TIMING=1`: phase timings on stderr, for measuring memwatch itself. Each line is
//! stamped with the milliseconds since memwatch started (the first call of [`start`], made
//! first thing in `main`), so that phases on different threads line up, and with memwatch's
//! resident memory then and at its peak so far (`/proc/self/status`).

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

/// memwatch's resident memory now and at its peak so far, in MiB ("?" where unreadable).
pub fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
            .map_or_else(
                || "?".to_string(),
                |kb| format!("{:.0}", kb as f64 / 1024.0),
            )
    };
    format!("RSS {} / peak {} MiB", field("VmRSS:"), field("VmHWM:"))
}

/// Print one timing line (when asked for), stamped.
#[macro_export]
macro_rules! timing {
    ($($arg:tt)*) => {
        if $crate::timing::on() {
            eprintln!(
                "[{:7.1} ms, {}] {}",
                $crate::timing::since_start(),
                $crate::timing::rss(),
                format_args!($($arg)*)
            );
        }
    };
}
