//! The session reader: turns a session file back into the event stream, in the order the
//! sampler produced it, so `report` and `replay` run the very analyzer a live watch runs.
//!
//! A session cut short (memwatch killed, disk full, file truncated or partly overwritten) is
//! read as far as it is intact: every table is read until its first damaged row, and what
//! was lost is reported as a warning instead of an error. A file that is not a session at all
//! is refused with [`Failure::NotASession`].

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::salvage::{Pages, Value};
use super::schema::{self, FLAG_ACTIVE, FLAG_GIL};
use crate::event::{
    EndReason, Event, FdGroup, FrameDef, MAX_PROCS, MemRollup, Micros, PROC_ID_SHIFT, ProcId,
    ProcessDef, Sample, SessionInfo, StackId, ThreadDef, ThreadId, ThreadSample,
};
use crate::failure::{Failure, Result};
use crate::heap::census::{Census, ContainerRow, TypeRow};

/// A process of the session, as the `processes` table has it.
#[derive(Debug, Clone, Default)]
pub struct ProcessRow {
    pub def: ProcessDef,
    /// Its own header (None: listed, never sampled).
    pub info: Option<SessionInfo>,
    pub end: Option<(Micros, EndReason)>,
}

pub struct SessionReader {
    conn: Connection,
    /// The file's pages, for salvaging damaged tables (None: not a readable SQLite file).
    pages: Option<Pages>,
    pub info: SessionInfo,
    meta: HashMap<String, String>,
    /// `meta.format_version` (1: before process trees).
    version: i64,
    /// The processes the session names (one for a single-process watch).
    pub processes: Vec<ProcessRow>,
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
    // reads every schema row (a bare count(*) may not)
    let probe = |c: &Connection| {
        c.query_row("SELECT group_concat(name) FROM sqlite_master", [], |r| {
            r.get::<_, Option<String>>(0)
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
        let mut reader = SessionReader {
            conn,
            pages: Pages::open(path),
            info: SessionInfo::default(),
            meta: HashMap::new(),
            version: 1,
            processes: Vec::new(),
            warnings: Vec::new(),
        };
        if !reader.has_table("meta").map_err(|e| not_session(path, e))? {
            return Err(not_session(path, "no memwatch metadata"));
        }
        let mut meta = HashMap::new();
        let damaged = reader.scan("meta", false, &mut |v| {
            if let (Some(Value::Text(k)), Some(Value::Text(val))) = (v.first(), v.get(1)) {
                meta.insert(k.clone(), val.clone());
            }
        });
        reader.warnings.extend(damaged);
        let format = meta
            .get("format")
            .ok_or_else(|| not_session(path, "no format marker"))?;
        if format != schema::FORMAT {
            return Err(not_session(path, format!("format is {format:?}")));
        }
        let version: i64 = meta
            .get("format_version")
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
        reader.info = match meta.get("session_info") {
            Some(json) => serde_json::from_str(json).unwrap_or_else(|e| {
                reader
                    .warnings
                    .push(format!("session metadata unreadable: {e}"));
                SessionInfo::default()
            }),
            None => {
                reader.warnings.push("session metadata missing".into());
                SessionInfo::default()
            }
        };
        reader.meta = meta;
        reader.version = version.max(1);
        reader.processes = reader.load_processes();
        Ok(reader)
    }

    /// Whether the file has `table` (tables added within a format version may be absent).
    fn has_table(&self, table: &str) -> rusqlite::Result<bool> {
        match self.conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get::<_, i64>(0),
        ) {
            Ok(n) => Ok(n > 0),
            // the schema table itself is damaged: look for the table in the pages
            Err(e) => match self.pages.as_ref() {
                Some(p) => Ok(p.roots().iter().any(|(name, _)| name == table)),
                None => Err(e),
            },
        }
    }

    /// Whether the session holds several processes (a `--subprocesses` watch or several PIDs).
    pub fn is_tree(&self) -> bool {
        self.processes.len() > 1
    }

    fn end_of(kind: Option<&str>, code: Option<i32>, signal: Option<i32>) -> Option<EndReason> {
        match kind? {
            "interrupted" => Some(EndReason::Interrupted),
            "duration" => Some(EndReason::Duration),
            "target_exited" => Some(EndReason::TargetExited { code, signal }),
            _ => None,
        }
    }

    fn load_processes(&mut self) -> Vec<ProcessRow> {
        let mut rows: BTreeMap<ProcId, ProcessRow> = BTreeMap::new();
        if self.version >= 2 {
            let int = |v: &[Value], i: usize| v.get(i).and_then(Value::int);
            let text = |v: &[Value], i: usize| v.get(i).and_then(|x| x.text().map(str::to_string));
            let w = self.scan("processes", true, &mut |v| {
                let (Some(proc), Some(pid)) = (int(v, 0).and_then(u32_of), int(v, 1)) else {
                    return;
                };
                let info: Option<SessionInfo> =
                    text(v, 7).and_then(|j| serde_json::from_str(&j).ok());
                let end = int(v, 8).and_then(micros_of).and_then(|t| {
                    let code = int(v, 10).and_then(|c| i32::try_from(c).ok());
                    let signal = int(v, 11).and_then(|c| i32::try_from(c).ok());
                    Self::end_of(text(v, 9).as_deref(), code, signal).map(|r| (t, r))
                });
                rows.insert(
                    proc,
                    ProcessRow {
                        def: ProcessDef {
                            proc,
                            pid: pid as i32,
                            ppid: int(v, 2).unwrap_or(0) as i32,
                            command_line: text(v, 3).unwrap_or_default(),
                            seen_t: int(v, 4).and_then(micros_of).unwrap_or(0),
                            python_version: text(v, 5),
                            not_sampled: text(v, 6),
                            root: int(v, 12) == Some(1),
                        },
                        info,
                        end,
                    },
                );
            });
            self.warnings.extend(w);
        }
        // the first target's header is the session's
        let info = self.info.clone();
        let row = rows.entry(0).or_insert_with(|| ProcessRow {
            def: ProcessDef {
                proc: 0,
                pid: info.pid,
                command_line: info.command_line.clone(),
                python_version: Some(info.python_version.clone()),
                root: true,
                ..ProcessDef::default()
            },
            ..ProcessRow::default()
        });
        if row.info.is_none() {
            row.info = Some(info);
        }
        rows.into_values().take(MAX_PROCS as usize).collect()
    }

    /// What retention thinned in this file (`meta.thinned`, [`super::retention`]), as a note.
    fn thinned_note(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(&self.meta("thinned")?).ok()?;
        let second = v["second_until_us"].as_f64().unwrap_or(0.0) / 1e6;
        let minute = v["minute_until_us"].as_f64().unwrap_or(0.0) / 1e6;
        let window = v["window_s"].as_f64().unwrap_or(0.0);
        let mut text = format!(
            "rows older than the retention window ({}) were thinned: samples before {} are kept at 1 a second, censuses at 1 a minute",
            crate::units::duration(window),
            crate::units::duration(second)
        );
        if minute > 0.0 {
            text.push_str(&format!(
                "; before {}, samples at 1 a minute, censuses at 1 per 10 minutes",
                crate::units::duration(minute)
            ));
        }
        text.push_str(" (line occurrences there count the samples kept)");
        Some(text)
    }

    fn meta(&self, key: &str) -> Option<String> {
        self.meta.get(key).cloned()
    }

    /// Every row of `table` in rowid order, as values in declared column order (an INTEGER
    /// PRIMARY KEY column holds the rowid). Rows come from SQLite while it can read them; at
    /// the first damaged page the rest comes from the salvage walker, which reads every page
    /// that survived. Returns a warning when anything was damaged.
    fn scan(&self, table: &str, ipk: bool, each: &mut dyn FnMut(&[Value])) -> Option<String> {
        let mut last_rowid: Option<i64> = None;
        let mut n = 0u64;
        let sql_error = (|| -> rusqlite::Result<()> {
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT rowid, * FROM {table} ORDER BY rowid"))?;
            let cols = stmt.column_count();
            let mut rows = stmt.query([])?;
            let mut vals: Vec<Value> = Vec::with_capacity(cols);
            while let Some(row) = rows.next()? {
                vals.clear();
                for i in 1..cols {
                    vals.push(match row.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(v) => Value::Int(v),
                        ValueRef::Real(v) => Value::Real(v),
                        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                    });
                }
                let rowid: i64 = row.get(0)?;
                // rows come in rowid order; one that does not is read from a page cut short
                if last_rowid.is_some_and(|l| rowid <= l) {
                    continue;
                }
                each(&vals);
                last_rowid = Some(rowid);
                n += 1;
            }
            Ok(())
        })()
        .err()?;
        // SQLite stopped: read the table's pages directly, after the last row delivered
        let Some(pages) = self.pages.as_ref() else {
            return Some(format!("{table}: damaged after {n} rows ({sql_error})"));
        };
        let Some(root) = pages
            .roots()
            .into_iter()
            .find(|(t, _)| t == table)
            .map(|r| r.1)
        else {
            return Some(format!("{table}: damaged after {n} rows ({sql_error})"));
        };
        let mut salvaged = 0u64;
        let lost = pages.walk_table(root, &mut |rowid, mut rec| {
            if last_rowid.is_some_and(|l| rowid <= l) {
                return;
            }
            if ipk && let Some(first) = rec.first_mut() {
                *first = Value::Int(rowid);
            }
            each(&rec);
            salvaged += 1;
        });
        Some(format!(
            "{table}: damaged ({sql_error}); {n} rows read, {salvaged} more salvaged, {lost} pages lost"
        ))
    }

    /// Feed every event of the session's first process to `sink`, in stream order. Returns
    /// the warnings about damaged or missing parts (also kept in `self.warnings`).
    pub fn replay(&mut self, sink: &mut dyn FnMut(&Event)) -> Vec<String> {
        self.replay_proc(0, sink)
    }

    /// Feed every event of process `proc` to `sink`, in stream order: the very stream its
    /// sampler and census clock produced (ids in the process's share of the id space).
    pub fn replay_proc(&mut self, proc: ProcId, sink: &mut dyn FnMut(&Event)) -> Vec<String> {
        let mut warnings = Vec::new();
        let row = self.processes.iter().find(|p| p.def.proc == proc).cloned();
        let Some(info) = row.as_ref().and_then(|r| r.info.clone()) else {
            return warnings;
        };
        sink(&Event::Start(Box::new(info)));
        if let Some(note) = self.thinned_note() {
            sink(&Event::Note { t: 0, text: note });
        }
        let p = proc as i64;
        // rows of other processes are skipped; a version 1 file has no proc column (all 0)
        let mine = move |v: &[Value], col: usize| v.get(col).and_then(Value::int).unwrap_or(0) == p;
        let own_id = move |id: u32| id >> PROC_ID_SHIFT == proc;
        // samples, fds and rollups are keyed by t_us
        let ipk = true;
        let int = |v: &[Value], i: usize| v.get(i).and_then(Value::int);
        let u32_at = |v: &[Value], i: usize| int(v, i).and_then(u32_of);
        let text = |v: &[Value], i: usize| v.get(i).and_then(|x| x.text().map(str::to_string));

        // definitions first: they are small and every later event may refer to them
        let mut defs: Vec<Event> = Vec::new();
        warnings.extend(self.scan("frames", true, &mut |v| {
            if let (Some(id), Some(function), Some(file), Some(line)) =
                (u32_at(v, 0), text(v, 1), text(v, 2), u32_at(v, 3))
                && own_id(id)
            {
                defs.push(Event::Frame(
                    id,
                    FrameDef {
                        function,
                        file,
                        line,
                    },
                ));
            }
        }));
        let mut stacks: BTreeMap<StackId, BTreeMap<u32, u32>> = BTreeMap::new();
        warnings.extend(self.scan("stack_frames", false, &mut |v| {
            if let (Some(s), Some(d), Some(f)) = (u32_at(v, 0), u32_at(v, 1), u32_at(v, 2))
                && own_id(s)
            {
                stacks.entry(s).or_default().insert(d, f);
            }
        }));
        defs.extend(
            stacks
                .into_iter()
                .map(|(id, f)| Event::Stack(id, f.into_values().collect())),
        );
        warnings.extend(self.scan("threads", true, &mut |v| {
            if let (Some(id), Some(py)) = (u32_at(v, 0), int(v, 1))
                && own_id(id)
            {
                defs.push(Event::Thread(ThreadDef {
                    id,
                    python_thread_id: py as u64,
                    os_thread_id: int(v, 2).map(|t| t as u64),
                    name: text(v, 3),
                    is_main: int(v, 4) == Some(1),
                }));
            }
        }));
        warnings.extend(self.scan("sources", false, &mut |v| {
            if let Some(file) = text(v, 0) {
                defs.push(Event::Source {
                    file,
                    text: text(v, 1),
                });
            }
        }));
        for d in &defs {
            sink(d);
        }
        drop(defs);

        // the slow-clock tables are small: load them, then merge with the samples by time
        let mut slow: Vec<(Micros, u8, Pending)> = Vec::new();
        warnings.extend(self.scan("fds", ipk, &mut |v| {
            if let (Some(t), Some(count)) = (int(v, 0).and_then(micros_of), u32_at(v, 1))
                && mine(v, schema::PROC_COL_FDS)
            {
                slow.push((t, 0, Pending::Event(Event::Fds { t, count })));
            }
        }));
        warnings.extend(self.scan("rollups", ipk, &mut |v| {
            if let Some(t) = int(v, 0).and_then(micros_of)
                && mine(v, schema::PROC_COL_ROLLUPS)
            {
                let k = |i| int(v, i).unwrap_or(0).max(0) as u64;
                let mem = MemRollup {
                    rss_kib: k(1),
                    pss_kib: k(2),
                    uss_kib: k(3),
                    swap_kib: k(4),
                    heap_kib: k(6),
                    anon_kib: k(7),
                    file_kib: k(8),
                    stack_kib: k(9),
                };
                slow.push((t, 1, Pending::Event(Event::Rollup { t, mem })));
            }
        }));
        warnings.extend(self.scan("dropped", false, &mut |v| {
            if let (Some(t), Some(count)) = (int(v, 0).and_then(micros_of), int(v, 1))
                && mine(v, schema::PROC_COL_DROPPED)
            {
                slow.push((
                    t,
                    2,
                    Pending::Event(Event::Dropped {
                        t,
                        count: count.max(0) as u64,
                    }),
                ));
            }
        }));
        warnings.extend(self.scan("notes", false, &mut |v| {
            if let (Some(t), Some(text)) = (int(v, 0).and_then(micros_of), text(v, 1))
                && mine(v, schema::PROC_COL_NOTES)
            {
                slow.push((t, 3, Pending::Event(Event::Note { t, text })));
            }
        }));
        let mut fd_groups: BTreeMap<Micros, Vec<FdGroup>> = BTreeMap::new();
        warnings.extend(self.scan("fd_targets", false, &mut |v| {
            if let (Some(t), Some(kind), Some(pattern), Some(count)) = (
                int(v, 0).and_then(micros_of),
                text(v, 1),
                text(v, 2),
                u32_at(v, 3),
            ) && mine(v, schema::PROC_COL_FD_TARGETS)
            {
                fd_groups.entry(t).or_default().push(FdGroup {
                    kind,
                    pattern,
                    count,
                });
            }
        }));
        for (t, groups) in fd_groups {
            slow.push((t, 2, Pending::Event(Event::FdTargets { t, groups })));
        }
        let mut censuses = CensusRebuilder::default();
        warnings.extend(censuses.load(self, &mine));
        for (i, c) in censuses.summaries.iter().enumerate() {
            slow.push((c.1.t, 4, Pending::Census(i)));
        }
        if self.has_table("container_lengths").unwrap_or(false) {
            let mut lengths: BTreeMap<Micros, Vec<(String, u64)>> = BTreeMap::new();
            let names = &censuses.container_names;
            warnings.extend(self.scan("container_lengths", false, &mut |v| {
                if let (Some(t), Some(name), Some(len)) = (
                    int(v, 0).and_then(micros_of),
                    int(v, 1).and_then(|id| names.get(&id)),
                    int(v, 2).and_then(|n| u64::try_from(n).ok()),
                ) && mine(v, schema::PROC_COL_CONTAINER_LENGTHS)
                {
                    lengths.entry(t).or_default().push((name.clone(), len));
                }
            }));
            for (t, rows) in lengths {
                slow.push((t, 5, Pending::Event(Event::Lengths { t, rows })));
            }
        }
        if self.has_table("probes").unwrap_or(false) {
            warnings.extend(self.scan("probes", false, &mut |v| {
                if let (Some(t), Some(rss), Some(thread), Some(stack)) = (
                    int(v, 0).and_then(micros_of),
                    int(v, 1).and_then(|n| u64::try_from(n).ok()),
                    u32_at(v, 2),
                    u32_at(v, 3),
                ) && mine(v, schema::PROC_COL_PROBES)
                {
                    slow.push((
                        t,
                        6,
                        Pending::Event(Event::Probe {
                            t,
                            rss_kib: rss,
                            thread,
                            stack,
                            active: int(v, 4).unwrap_or(FLAG_ACTIVE) & FLAG_ACTIVE != 0,
                        }),
                    ));
                }
            }));
        }
        slow.sort_by_key(|(t, k, _)| (*t, *k));
        let mut states: Vec<(Micros, ThreadId, Option<StackId>, i64)> = Vec::new();
        warnings.extend(self.scan("thread_states", false, &mut |v| {
            if let (Some(t), Some(th)) = (int(v, 0).and_then(micros_of), u32_at(v, 1))
                && mine(v, schema::PROC_COL_THREAD_STATES)
            {
                states.push((t, th, u32_at(v, 2), int(v, 3).unwrap_or(0)));
            }
        }));
        states.sort_by_key(|s| s.0);

        let mut slow_i = 0usize;
        let mut state_i = 0usize;
        let mut live: BTreeMap<ThreadId, (StackId, i64)> = BTreeMap::new();
        let mut last_t: Micros = 0;
        let w = self.scan("samples", ipk, &mut |v| {
            let Some(t) = int(v, 0).and_then(micros_of) else {
                return;
            };
            if !mine(v, schema::PROC_COL_SAMPLES) {
                return;
            }
            while slow_i < slow.len() && slow[slow_i].0 < t {
                emit(&slow[slow_i].2, &mut censuses, sink);
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
            let flags = int(v, 4).unwrap_or(0);
            let threads = match (u32_at(v, 2), u32_at(v, 3)) {
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
            let rss_kib = int(v, 1).unwrap_or(0).max(0) as u64;
            sink(&Event::Sample(Sample {
                t,
                rss_kib,
                threads,
            }));
            last_t = t;
        });
        let truncated = w.is_some();
        warnings.extend(w);
        for (_, _, ev) in &slow[slow_i..] {
            emit(ev, &mut censuses, sink);
        }

        let (end_t, reason) = match row.and_then(|r| r.end) {
            Some((t, r)) => (Some(t), Some(r)),
            None if proc == 0 => (
                self.meta("end_t_us").and_then(|v| v.parse::<u64>().ok()),
                Self::end_of(
                    self.meta("end_reason").as_deref(),
                    self.meta("exit_code").and_then(|v| v.parse().ok()),
                    self.meta("exit_signal").and_then(|v| v.parse().ok()),
                ),
            ),
            None => (None, None),
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

/// A slow-clock event waiting for its turn in the merge; censuses are rebuilt only then.
enum Pending {
    Event(Event),
    Census(usize),
}

fn emit(p: &Pending, censuses: &mut CensusRebuilder, sink: &mut dyn FnMut(&Event)) {
    match p {
        Pending::Event(e) => sink(e),
        Pending::Census(i) => {
            if let Some(c) = censuses.rebuild(*i) {
                sink(&Event::Census(Box::new(c)));
            }
        }
    }
}

/// Censuses are stored as a summary row plus the type and container rows that changed since
/// the previous census; this carries the tables forward to rebuild each one in turn.
#[derive(Default)]
struct CensusRebuilder {
    /// (census id, census without its tables), in time order.
    summaries: Vec<(i64, Census)>,
    type_names: HashMap<i64, String>,
    container_names: HashMap<i64, String>,
    type_deltas: HashMap<i64, Vec<(i64, TypeRow)>>,
    container_deltas: HashMap<i64, Vec<(i64, Option<ContainerRow>)>>,
    types: HashMap<String, TypeRow>,
    containers: HashMap<String, ContainerRow>,
    modules: Vec<(String, String)>,
    next: usize,
}

impl CensusRebuilder {
    fn load(&mut self, r: &SessionReader, mine: &dyn Fn(&[Value], usize) -> bool) -> Vec<String> {
        let mut warnings = Vec::new();
        let int = |v: &[Value], i: usize| v.get(i).and_then(Value::int);
        let uint = |v: &[Value], i: usize| int(v, i).unwrap_or(0).max(0) as u64;
        let text = |v: &[Value], i: usize| v.get(i).and_then(|x| x.text().map(str::to_string));
        warnings.extend(r.scan("censuses", true, &mut |v| {
            let (Some(id), Some(t)) = (int(v, 0), int(v, 1).and_then(micros_of)) else {
                return;
            };
            if !mine(v, schema::PROC_COL_CENSUSES) {
                return;
            }
            let json = |i| text(v, i).unwrap_or_default();
            let c = Census {
                t,
                pause_us: uint(v, 2),
                walk_us: uint(v, 3),
                total_us: uint(v, 4),
                copy_bytes: uint(v, 5),
                attempts: uint(v, 6) as u32,
                approximate: int(v, 7) == Some(1),
                gc_objects: uint(v, 10),
                gc_bytes: uint(v, 11),
                other_objects: uint(v, 12),
                other_bytes: uint(v, 13),
                gc: serde_json::from_str(&json(14)).unwrap_or_default(),
                notes: serde_json::from_str(&json(15)).unwrap_or_default(),
                largest: serde_json::from_str(&json(16)).unwrap_or_default(),
                cycles: text(v, 17).and_then(|j| serde_json::from_str(&j).ok()),
                why_alive: serde_json::from_str(&json(18)).unwrap_or_default(),
                ..Census::default()
            };
            self.summaries.push((id, c));
        }));
        self.summaries.sort_by_key(|(id, c)| (c.t, *id));
        // the table rows of other processes' censuses are not kept
        let ours: std::collections::HashSet<i64> = self.summaries.iter().map(|s| s.0).collect();
        warnings.extend(r.scan("type_names", true, &mut |v| {
            if let (Some(id), Some(name)) = (int(v, 0), text(v, 1)) {
                self.type_names.insert(id, name);
            }
        }));
        warnings.extend(r.scan("container_names", true, &mut |v| {
            if let (Some(id), Some(name)) = (int(v, 0), text(v, 1)) {
                self.container_names.insert(id, name);
            }
        }));
        warnings.extend(r.scan("modules", false, &mut |v| {
            if let (Some(name), Some(file)) = (text(v, 0), text(v, 1)) {
                self.modules.push((name, file));
            }
        }));
        warnings.extend(r.scan("census_types", false, &mut |v| {
            if let (Some(census), Some(ty)) = (int(v, 0), int(v, 1))
                && ours.contains(&census)
            {
                let row = TypeRow {
                    name: String::new(),
                    gc_count: uint(v, 2),
                    gc_bytes: uint(v, 3),
                    frozen_count: uint(v, 4),
                    frozen_bytes: uint(v, 5),
                    other_count: uint(v, 6),
                    other_bytes: uint(v, 7),
                    size_exact: int(v, 8) != Some(0),
                };
                self.type_deltas.entry(census).or_default().push((ty, row));
            }
        }));
        warnings.extend(r.scan("census_containers", false, &mut |v| {
            if let (Some(census), Some(id), Some(len)) = (int(v, 0), int(v, 1), int(v, 3))
                && ours.contains(&census)
            {
                let row = (len >= 0).then(|| ContainerRow {
                    name: String::new(),
                    type_name: text(v, 2).unwrap_or_default(),
                    len: len as u64,
                    shallow_bytes: uint(v, 4),
                    items_bytes: uint(v, 5),
                    bound: int(v, 6).map(|b| b.max(0) as u64),
                    file: text(v, 7),
                    aliases: serde_json::from_str(&text(v, 8).unwrap_or_default())
                        .unwrap_or_default(),
                    addr: uint(v, 9),
                    origin: text(v, 10)
                        .and_then(|o| serde_json::from_value(serde_json::Value::String(o)).ok())
                        .unwrap_or_default(),
                    item_type: text(v, 11),
                    views_keep_bytes: uint(v, 12),
                    probe: None,
                });
                self.container_deltas
                    .entry(census)
                    .or_default()
                    .push((id, row));
            }
        }));
        warnings
    }

    /// Census `i` (in time order), with its tables; called with increasing `i`.
    fn rebuild(&mut self, i: usize) -> Option<Census> {
        while self.next <= i {
            let (id, _) = self.summaries.get(self.next)?;
            let id = *id;
            for (ty, mut row) in self.type_deltas.remove(&id).unwrap_or_default() {
                let Some(name) = self.type_names.get(&ty) else {
                    continue;
                };
                if row.count() == 0 {
                    self.types.remove(name);
                } else {
                    row.name = name.clone();
                    self.types.insert(name.clone(), row);
                }
            }
            for (cid, row) in self.container_deltas.remove(&id).unwrap_or_default() {
                let Some(name) = self.container_names.get(&cid) else {
                    continue;
                };
                match row {
                    None => {
                        self.containers.remove(name);
                    }
                    Some(mut row) => {
                        row.name = name.clone();
                        self.containers.insert(name.clone(), row);
                    }
                }
            }
            self.next += 1;
        }
        let mut c = self.summaries.get(i)?.1.clone();
        c.types = self.types.values().cloned().collect();
        c.types
            .sort_by(|a, b| b.bytes().cmp(&a.bytes()).then(a.name.cmp(&b.name)));
        c.containers = self.containers.values().cloned().collect();
        c.containers
            .sort_by(|a, b| b.len.cmp(&a.len).then(a.name.cmp(&b.name)));
        c.modules = self.modules.clone();
        Some(c)
    }
}
