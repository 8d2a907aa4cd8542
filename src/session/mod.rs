//! Sessions: one SQLite file per watch, written live by [`writer::SessionWriter`] and read back
//! as the same event stream by [`reader::SessionReader`].

pub mod reader;
pub mod retention;
pub mod salvage;
pub mod schema;
pub mod writer;

use std::path::PathBuf;

/// `memwatch-<pid>-<YYYYmmdd-HHMMSS>.db` in the current folder (local time).
pub fn default_path(pid: i32, start_unix: f64) -> PathBuf {
    PathBuf::from(format!(
        "memwatch-{pid}-{}.db",
        crate::timefmt::local_compact(start_unix)
    ))
}
