//! Wall-clock formatting for file names and report headers (local time zone).

use chrono::{Local, TimeZone};

fn local(unix: f64) -> Option<chrono::DateTime<Local>> {
    let secs = unix.floor() as i64;
    let nanos = ((unix - unix.floor()) * 1e9) as u32;
    Local.timestamp_opt(secs, nanos).single()
}

/// `20261123-224700`
pub fn local_compact(unix: f64) -> String {
    local(unix)
        .map(|d| d.format("%Y%m%d-%H%M%S").to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// `2026-11-23 22:47:00`
pub fn local_human(unix: f64) -> String {
    local(unix)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "unknown time".into())
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
