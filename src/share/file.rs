//! Files memwatch creates (sessions, reports, exports) are owner-only: a session holds the
//! target's source lines, file paths, command line and names from its heap, and memwatch often
//! runs as root against another user's service, where the default umask would make them
//! readable by every local user. The mode is 0600 unless `--file-mode` asks for another; it is
//! set on the file itself, so it holds for an overwritten file too (SQLite gives a session's
//! `-wal` and `-shm` files the mode of the session file).
//!
//! The mode is process-wide, set once by `main` from the command line before any file is made.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::failure::{Failure, Result};

/// Owner read and write, nothing for group and others.
pub const DEFAULT_MODE: u32 = 0o600;

static MODE: AtomicU32 = AtomicU32::new(DEFAULT_MODE);

/// The mode of files memwatch creates from now on.
pub fn set_mode(mode: u32) {
    MODE.store(mode & 0o777, Ordering::Relaxed);
}

pub fn mode() -> u32 {
    MODE.load(Ordering::Relaxed)
}

/// Parse `--file-mode`: octal permission bits, `600`, `0640`, `0o644`.
pub fn parse_mode(s: &str) -> std::result::Result<u32, String> {
    let digits = s.trim_start_matches("0o");
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o777 => Ok(m),
        _ => Err(format!(
            "--file-mode takes octal permission bits such as 600 or 644, not {s:?}"
        )),
    }
}

/// Create (or truncate) `path` with the mode, and make sure the mode holds even if the file
/// existed before with another.
pub fn create(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode())
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode()))?;
    Ok(f)
}

/// Create a new, empty file that must not exist yet (a session file SQLite then opens).
pub fn create_new(path: &Path) -> std::io::Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode())
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(mode()))?;
    Ok(f)
}

/// Write `bytes` to a report or export file; `-` is standard output.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        return Ok(());
    }
    let fail = |e: std::io::Error| Failure::OutputWrite {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let mut f = create(path).map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    f.sync_all().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_octal() {
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0644"), Ok(0o644));
        assert_eq!(parse_mode("0o640"), Ok(0o640));
        assert!(parse_mode("999").is_err());
        assert!(parse_mode("1777").is_err());
        assert!(parse_mode("rw").is_err());
    }

    #[test]
    fn an_output_file_is_owner_only_even_when_it_existed_readable() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("report.html");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_output(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        let m = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, DEFAULT_MODE);
    }
}
