//! The session reader: turns a session file back into the event stream, in the order the
//! sampler produced it, so `report` and `replay` run the very analyzer a live watch runs.
//!
//! A session cut short (memwatch killed, disk full, file truncated or partly overwritten) is
//! read as far as it is intact: every table is read until its first damaged row, and what
//! was lost is reported as a warning instead of an error. A file that is not a session at all
//! is refused with [`Failure::NotASession`].

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, Row};

use super::schema::{self, FLAG_ACTIVE, FLAG_GIL};
use crate::event::{
    EndReason, Event, FrameDef, MemRollup, Micros, Sample, SessionInfo, StackId, ThreadDef,
    ThreadId, ThreadSample,
};
use crate::failure::{Failure, Result};

pub struct SessionReader {
    conn: Connection,
    pub info: SessionInfo,
    /// Problems met so far (damaged tables and the like).
    pub warnings: Vec<String>,
}

fn not_session(path: &Path, detail: impl std::fmt::Display) -> Failure {
    Failure::NotASession {
        path: path.display().to_string(),
        detail: detail.to_string(),
    }
}

/// A read of the schema proves the file is usable with this connection. A file cut short is
/// refused by SQLite as a whole ("malformed": smaller than its header says) unless
/// `writable_schema` is on; with it, the pages that are there can be read. memwatch never
/// writes through a reader's connection.
fn usable(c: &Connection) -> rusqlite::Result<()> {
    let probe = |c: &Connection| {
        c.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
    };
    match probe(c) {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("malformed") => {
            c.execute_batch("PRAGMA writable_schema=ON")?;
            probe(c).map(|_| ())
        }
        Err(e) => Err(e),
    }
}

/// Open for reading, recovering a WAL left by a killed writer when the file is writable.
fn open_connection(path: &Path) -> Result<Connection> {
    if !path.exists() {
        return Err(Failure::SessionNotFound {
            path: path.display().to_string(),
            detail: "no such file".into(),
        });
    }
    if let Err(e) = std::fs::File::open(path) {
        return Err(Failure::SessionNotFound {
            path: path.display().to_string(),
            detail: e.to_string(),
        });
    }
    let base = OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let attempts = [
        (path.to_path_buf(), base | OpenFlags::SQLITE_OPEN_READ_WRITE),
        (path.to_path_buf(), base | OpenFlags::SQLITE_OPEN_READ_ONLY),
    ];
    let mut last = None;
    for (p, flags) in attempts {
        match Connection::open_with_flags(&p, flags) {
            Ok(c) => match usable(&c) {
                Ok(()) => return Ok(c),
                Err(e) => last = Some(e.to_string()),
            },
            Err(e) => last = Some(e.to_string()),
        }
    }
    // last resort: ignore the WAL and read the main file as it is
    let uri = format!("file:{}?immutable=1", path.display());
    if let Ok(c) = Connection::open_with_flags(&uri, base | OpenFlags::SQLITE_OPEN_READ_ONLY)
        && usable(&c).is_ok()
    {
        return Ok(c);
    }
    Err(not_session(
        path,
        last.unwrap_or_else(|| "unreadable".to_string()),
    ))
}

fn u32_of(v: i64) -> Option<u32> {
    u32::try_from(v).ok()
}

fn micros_of(v: i64) -> Option<Micros> {
    u64::try_from(v).ok()
}

impl SessionReader {
    pub fn open(path: &Path) -> Result<SessionReader> {
        let conn = open_connection(path)?;
        let format: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
                r.get(0)
            })
            .map_err(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => not_session(path, "no format marker"),
                rusqlite::Error::SqliteFailure(_, Some(m)) if m.contains("no such table") => {
                    not_session(path, "no memwatch metadata")
                }
                e => not_session(path, e),
            })?;
        if format != schema::FORMAT {
            return Err(not_session(path, format!("format is {format:?}")));
        }
        let version: i64 = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'format_version'",
                [],
                |r| r.get::<_, String>(0),
            )
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if version > schema::FORMAT_VERSION {
            return Err(not_session(
                path,
                format!(
                    "format version {version} is newer than this memwatch understands ({}); upgrade memwatch",
                    schema::FORMAT_VERSION
                ),
            ));
        }
        let mut warnings = Vec::new();
        let info: SessionInfo = match conn.query_row(
            "SELECT value FROM meta WHERE key = 'session_info'",
            [],
            |r| r.get::<_, String>(0),
        ) {
            Ok(json) => serde_json::from_str(&json).unwrap_or_else(|e| {
                warnings.push(format!("session metadata unreadable: {e}"));
                SessionInfo::default()
            }),
            Err(e) => {
                warnings.push(format!("session metadata missing: {e}"));
                SessionInfo::default()
            }
        };
        Ok(SessionReader {
            conn,
            info,
            warnings,
        })
    }

    fn meta(&self, key: &str) -> Option<String> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .ok()
    }

    /// Run `each` over a query's rows until the first damaged one; a warning names the loss.
    fn rows(
        &self,
        what: &str,
        sql: &str,
        mut each: impl FnMut(&Row) -> rusqlite::Result<()>,
    ) -> Option<String> {
        let mut stmt = match self.conn.prepare(sql) {
            Ok(s) => s,
            Err(e) => return Some(format!("{what}: unreadable ({e})")),
        };
        let mut rows = match stmt.query([]) {
            Ok(r) => r,
            Err(e) => return Some(format!("{what}: unreadable ({e})")),
        };
        let mut n = 0u64;
        loop {
            match rows.next() {
                Ok(Some(row)) => {
                    if let Err(e) = each(row) {
                        return Some(format!("{what}: damaged after {n} rows ({e})"));
                    }
                    n += 1;
                }
                Ok(None) => return None,
                Err(e) => return Some(format!("{what}: damaged after {n} rows ({e})")),
            }
        }
    }

    /// Feed every event of the session to `sink`, in stream order. Returns the warnings about
    /// damaged or missing parts (also kept in `self.warnings`).
    pub fn replay(&mut self, sink: &mut dyn FnMut(&Event)) -> Vec<String> {
        let mut warnings = Vec::new();
        sink(&Event::Start(Box::new(self.info.clone())));

        // definitions first: they are small and every later event may refer to them
        let mut defs: Vec<Event> = Vec::new();
        warnings.extend(self.rows(
            "frames",
            "SELECT id, function, file, line FROM frames ORDER BY id",
            |r| {
                if let (Some(id), Some(line)) = (u32_of(r.get(0)?), u32_of(r.get(3)?)) {
                    defs.push(Event::Frame(
                        id,
                        FrameDef {
                            function: r.get(1)?,
                            file: r.get(2)?,
                            line,
                        },
                    ));
                }
                Ok(())
            },
        ));
        let mut stacks: BTreeMap<StackId, Vec<u32>> = BTreeMap::new();
        warnings.extend(self.rows(
            "stacks",
            "SELECT stack, depth, frame FROM stack_frames ORDER BY stack, depth",
            |r| {
                if let (Some(s), Some(f)) = (u32_of(r.get(0)?), u32_of(r.get(2)?)) {
                    stacks.entry(s).or_default().push(f);
                }
                Ok(())
            },
        ));
        defs.extend(stacks.into_iter().map(|(id, f)| Event::Stack(id, f)));
        warnings.extend(self.rows(
            "threads",
            "SELECT id, python_thread_id, os_thread_id, name, is_main FROM threads ORDER BY id",
            |r| {
                if let Some(id) = u32_of(r.get(0)?) {
                    defs.push(Event::Thread(ThreadDef {
                        id,
                        python_thread_id: r.get::<_, i64>(1)? as u64,
                        os_thread_id: r.get::<_, Option<i64>>(2)?.map(|v| v as u64),
                        name: r.get(3)?,
                        is_main: r.get(4)?,
                    }));
                }
                Ok(())
            },
        ));
        warnings.extend(self.rows("sources", "SELECT file, text FROM sources", |r| {
            defs.push(Event::Source {
                file: r.get(0)?,
                text: r.get(1)?,
            });
            Ok(())
        }));
        for d in &defs {
            sink(d);
        }
        drop(defs);

        // the slow-clock tables are small: load them, then merge with the samples by time
        let mut slow: Vec<(Micros, u8, Event)> = Vec::new();
        warnings.extend(
            self.rows("fds", "SELECT t_us, count FROM fds ORDER BY t_us", |r| {
                if let (Some(t), Some(count)) = (micros_of(r.get(0)?), u32_of(r.get(1)?)) {
                    slow.push((t, 0, Event::Fds { t, count }));
                }
                Ok(())
            }),
        );
        warnings.extend(self.rows(
            "rollups",
            "SELECT t_us, rss_kib, pss_kib, uss_kib, swap_kib FROM rollups ORDER BY t_us",
            |r| {
                if let Some(t) = micros_of(r.get(0)?) {
                    let k = |i| -> rusqlite::Result<u64> { Ok(r.get::<_, i64>(i)?.max(0) as u64) };
                    let mem = MemRollup {
                        rss_kib: k(1)?,
                        pss_kib: k(2)?,
                        uss_kib: k(3)?,
                        swap_kib: k(4)?,
                    };
                    slow.push((t, 1, Event::Rollup { t, mem }));
                }
                Ok(())
            },
        ));
        warnings.extend(self.rows(
            "dropped",
            "SELECT t_us, count FROM dropped ORDER BY t_us",
            |r| {
                if let Some(t) = micros_of(r.get(0)?) {
                    let count = r.get::<_, i64>(1)?.max(0) as u64;
                    slow.push((t, 2, Event::Dropped { t, count }));
                }
                Ok(())
            },
        ));
        slow.sort_by_key(|(t, k, _)| (*t, *k));
        let mut states: Vec<(Micros, ThreadId, Option<StackId>, i64)> = Vec::new();
        warnings.extend(self.rows(
            "thread states",
            "SELECT t_us, thread, stack, flags FROM thread_states ORDER BY rowid",
            |r| {
                if let (Some(t), Some(th)) = (micros_of(r.get(0)?), u32_of(r.get(1)?)) {
                    let stack = r.get::<_, Option<i64>>(2)?.and_then(u32_of);
                    states.push((t, th, stack, r.get(3)?));
                }
                Ok(())
            },
        ));

        let mut slow_i = 0usize;
        let mut state_i = 0usize;
        let mut live: BTreeMap<ThreadId, (StackId, i64)> = BTreeMap::new();
        let mut last_t: Micros = 0;
        let w = self.rows(
            "samples",
            "SELECT t_us, rss_kib, thread, stack, flags FROM samples ORDER BY t_us",
            |r| {
                let Some(t) = micros_of(r.get(0)?) else {
                    return Ok(());
                };
                while slow_i < slow.len() && slow[slow_i].0 < t {
                    sink(&slow[slow_i].2);
                    slow_i += 1;
                }
                while state_i < states.len() && states[state_i].0 <= t {
                    let (_, th, stack, flags) = states[state_i];
                    match stack {
                        Some(s) => {
                            live.insert(th, (s, flags));
                        }
                        None => {
                            live.remove(&th);
                        }
                    }
                    state_i += 1;
                }
                let thread = r.get::<_, Option<i64>>(2)?.and_then(u32_of);
                let stack = r.get::<_, Option<i64>>(3)?.and_then(u32_of);
                let flags: i64 = r.get(4)?;
                let threads = match (thread, stack) {
                    (Some(th), Some(st)) => {
                        live.insert(th, (st, flags));
                        live.iter()
                            .map(|(&thread, &(stack, f))| ThreadSample {
                                thread,
                                stack,
                                gil: f & FLAG_GIL != 0,
                                active: f & FLAG_ACTIVE != 0,
                            })
                            .collect()
                    }
                    _ => Vec::new(),
                };
                let rss_kib = r.get::<_, i64>(1)?.max(0) as u64;
                sink(&Event::Sample(Sample {
                    t,
                    rss_kib,
                    threads,
                }));
                last_t = t;
                Ok(())
            },
        );
        let truncated = w.is_some();
        warnings.extend(w);
        for (_, _, ev) in &slow[slow_i..] {
            sink(ev);
        }

        let end_t = self.meta("end_t_us").and_then(|v| v.parse::<u64>().ok());
        let reason = match self.meta("end_reason").as_deref() {
            Some("interrupted") => Some(EndReason::Interrupted),
            Some("duration") => Some(EndReason::Duration),
            Some("target_exited") => Some(EndReason::TargetExited {
                code: self.meta("exit_code").and_then(|v| v.parse().ok()),
                signal: self.meta("exit_signal").and_then(|v| v.parse().ok()),
            }),
            _ => None,
        };
        match (end_t, reason) {
            (Some(t), Some(reason)) if !truncated => sink(&Event::End { t, reason }),
            (Some(t), Some(reason)) => {
                warnings.push(format!(
                    "the session ended at {:.1} s ({reason}) but samples after {:.1} s are lost",
                    t as f64 / 1e6,
                    last_t as f64 / 1e6
                ));
                sink(&Event::End { t, reason });
            }
            _ => warnings.push(format!(
                "the session has no end record (memwatch was killed or the file is cut short); read up to {:.1} s",
                last_t as f64 / 1e6
            )),
        }
        self.warnings.extend(warnings.iter().cloned());
        warnings
    }
}
