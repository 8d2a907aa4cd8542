//! The session writer: a sink that persists the event stream to SQLite.
//!
//! WAL mode with `synchronous=NORMAL` and one transaction about every second: a `kill -9` of
//! memwatch loses at most the last second, and what was committed opens in `report`. At a
//! normal end the per-line aggregates are added and the WAL is folded back into the file.
//!
//! Size: one `samples` row per fast-clock tick (the attributed thread only, ~16 bytes);
//! other threads are written to `thread_states` only when their state changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use super::schema::{self, FLAG_ACTIVE, FLAG_GIL};
use crate::analyzer::Analyzer;
use crate::event::{
    EndReason, Event, ProcId, ProcessDef, SessionInfo, StackId, ThreadId, ThreadSample,
};
use crate::failure::{Failure, Result};
use crate::heap::census::{Census, ContainerRow, TypeRow};

const COMMIT_EVERY: Duration = Duration::from_secs(1);

pub struct SessionWriter {
    conn: Connection,
    path: PathBuf,
    last_commit: Instant,
    /// What is written of each process so far.
    procs: HashMap<ProcId, ProcState>,
    /// Interned type and container names.
    type_ids: HashMap<String, i64>,
    container_ids: HashMap<String, i64>,
    /// Source files not yet written, and when they are due.
    pending_sources: Vec<(String, Option<String>)>,
    sources_due: Instant,
    /// Set once a write failed; the watch goes on without recording.
    pub failed: Option<String>,
    /// Thinning of rows older than the window (None: every row kept).
    retention: Option<super::retention::Retention>,
    /// The latest sample time written, µs.
    latest_t: u64,
}

/// The writer's memory of one process's stream (only changes are written).
#[derive(Default)]
struct ProcState {
    /// The last state written for each thread, through either table.
    written: HashMap<ThreadId, (StackId, i64)>,
    /// Threads seen at the previous sample (to log the ones that disappear).
    live: Vec<ThreadId>,
    /// The previous census's rows.
    prev_types: HashMap<String, TypeRow>,
    prev_containers: HashMap<String, ContainerRow>,
}

/// When source text is first written (then at every later tick that has some, and at the end).
const SOURCES_AFTER: Duration = Duration::from_secs(30);

/// Insert a row keyed by its time: if another process's row has that microsecond already,
/// the next free one (a few tries; the rows of one process keep their order).
fn unique_t(
    t: u64,
    mut insert: impl FnMut(i64) -> rusqlite::Result<usize>,
) -> rusqlite::Result<usize> {
    let t = t.min(i64::MAX as u64 - 64) as i64;
    let mut last = None;
    for k in 0..32 {
        match insert(t + k) {
            Err(rusqlite::Error::SqliteFailure(e, m))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                last = Some(rusqlite::Error::SqliteFailure(e, m));
            }
            r => return r,
        }
    }
    Err(last.unwrap_or(rusqlite::Error::QueryReturnedNoRows))
}

fn flags(t: &ThreadSample) -> i64 {
    (if t.gil { FLAG_GIL } else { 0 }) | (if t.active { FLAG_ACTIVE } else { 0 })
}

fn write_err(path: &Path, e: impl std::fmt::Display) -> Failure {
    Failure::SessionWrite {
        path: path.display().to_string(),
        detail: e.to_string(),
    }
}

impl SessionWriter {
    /// Refuse an existing file unless `force`: checked before anything is started.
    pub fn check_path(path: &Path, force: bool) -> Result<()> {
        if path.exists() && !force {
            return Err(write_err(
                path,
                "the file exists (use --force to overwrite)",
            ));
        }
        Ok(())
    }

    /// Create a new session file. An existing file is refused unless `force`.
    pub fn create(path: &Path, force: bool) -> Result<SessionWriter> {
        Self::check_path(path, force)?;
        if path.exists() {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.as_os_str().to_owned();
                p.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
        }
        // owner-only (crate::share::file): SQLite opens the empty file as a new database and
        // gives its -wal and -shm files the same mode
        crate::share::file::create_new(path).map_err(|e| write_err(path, e))?;
        let conn = Connection::open(path).map_err(|e| write_err(path, e))?;
        // 8 KiB pages: the whole schema fits in page 1, so a file cut short keeps it
        conn.execute_batch(
            "PRAGMA page_size=8192; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             PRAGMA foreign_keys=OFF;",
        )
        .map_err(|e| write_err(path, e))?;
        conn.execute_batch(schema::CREATE)
            .map_err(|e| write_err(path, e))?;
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('format', ?1), ('format_version', ?2)",
            params![schema::FORMAT, schema::FORMAT_VERSION.to_string()],
        )
        .map_err(|e| write_err(path, e))?;
        conn.execute_batch("BEGIN")
            .map_err(|e| write_err(path, e))?;
        Ok(SessionWriter {
            conn,
            path: path.to_path_buf(),
            last_commit: Instant::now(),
            procs: HashMap::new(),
            type_ids: HashMap::new(),
            container_ids: HashMap::new(),
            pending_sources: Vec::new(),
            sources_due: Instant::now() + SOURCES_AFTER,
            failed: None,
            retention: None,
            latest_t: 0,
        })
    }

    /// Keep every row for the last `window_s` seconds and thin older ones
    /// ([`super::retention`]); recorded in the file (`meta.retention_s`).
    pub fn set_retention(&mut self, window_s: f64) {
        let r = super::retention::Retention::new(window_s);
        if let Err(e) = self.meta("retention_s", &r.window_s().to_string()) {
            self.failed = Some(e.to_string());
        }
        self.retention = Some(r);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Persist one event of a single-process watch (process 0).
    pub fn write(&mut self, ev: &Event) {
        self.write_of(0, ev);
    }

    /// Persist one event of process `proc` (its ids already in its share of the id space,
    /// [`Event::shift_ids`]). Errors are kept in `failed` (the watch must go on).
    pub fn write_of(&mut self, proc: ProcId, ev: &Event) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = self.write_inner(proc, ev) {
            self.failed = Some(e.to_string());
        }
    }

    /// Name a process of the tree (once, when it is first seen).
    pub fn write_process(&mut self, p: &ProcessDef) {
        if self.failed.is_some() {
            return;
        }
        let r = self
            .conn
            .prepare_cached(
                "INSERT INTO processes(proc, pid, ppid, command_line, seen_t_us, python,
                 not_sampled, root) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)
                 ON CONFLICT(proc) DO UPDATE SET ppid = excluded.ppid,
                 seen_t_us = excluded.seen_t_us, not_sampled = excluded.not_sampled,
                 root = excluded.root",
            )
            .and_then(|mut st| {
                st.execute(params![
                    p.proc,
                    p.pid,
                    p.ppid,
                    p.command_line,
                    p.seen_t as i64,
                    p.python_version,
                    p.not_sampled,
                    p.root
                ])
            });
        if let Err(e) = r {
            self.failed = Some(e.to_string());
        }
    }

    /// A listed process that is not sampled has gone.
    pub fn write_process_gone(&mut self, proc: ProcId, t: u64) {
        if self.failed.is_some() {
            return;
        }
        let r = self
            .conn
            .prepare_cached(
                "UPDATE processes SET end_t_us = ?2, end_reason = 'target_exited' WHERE proc = ?1",
            )
            .and_then(|mut st| st.execute(params![proc, t as i64]));
        if let Err(e) = r {
            self.failed = Some(e.to_string());
        }
    }

    /// Commit if a second has passed since the last commit; thin what aged past the
    /// retention window (in the transaction the next tick commits).
    pub fn tick(&mut self) {
        if self.failed.is_none()
            && self.last_commit.elapsed() >= COMMIT_EVERY
            && let Err(e) = self.commit()
        {
            self.failed = Some(e.to_string());
        }
        if self.failed.is_none()
            && let Some(r) = self.retention.as_mut()
            && r.due(self.latest_t)
            && let Err(e) = r.step(&self.conn, self.latest_t)
        {
            self.failed = Some(format!("thinning old rows: {e}"));
        }
    }

    fn write_sources(&mut self) -> rusqlite::Result<()> {
        let mut st = self
            .conn
            .prepare_cached("INSERT OR REPLACE INTO sources(file, text) VALUES (?1, ?2)")?;
        for (file, text) in self.pending_sources.drain(..) {
            st.execute(params![file, text])?;
        }
        Ok(())
    }

    fn commit(&mut self) -> rusqlite::Result<()> {
        if !self.pending_sources.is_empty() && Instant::now() >= self.sources_due {
            self.write_sources()?;
        }
        self.conn.execute_batch("COMMIT; BEGIN")?;
        self.last_commit = Instant::now();
        Ok(())
    }

    fn meta(&self, key: &str, value: &str) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)")?
            .execute(params![key, value])?;
        Ok(())
    }

    fn write_info(&self, proc: ProcId, info: &SessionInfo) -> rusqlite::Result<()> {
        let json = serde_json::to_string(info).unwrap_or_default();
        // every process's own header; the first one's is also the session's
        self.conn
            .prepare_cached(
                "INSERT INTO processes(proc, pid, ppid, command_line, seen_t_us, python, info_json,
                 root) VALUES (?1,?2,?3,?4,0,?5,?6,?7)
                 ON CONFLICT(proc) DO UPDATE SET info_json = excluded.info_json,
                 python = excluded.python",
            )?
            .execute(params![
                proc,
                info.pid,
                crate::sampler::proc::ppid(info.pid).unwrap_or(0),
                info.command_line,
                info.python_version,
                json,
                proc == 0
            ])?;
        if proc != 0 {
            return Ok(());
        }
        self.meta("session_info", &json)?;
        self.meta("pid", &info.pid.to_string())?;
        self.meta("command_line", &info.command_line)?;
        self.meta("python_version", &info.python_version)?;
        self.meta("start_unix", &info.start_unix.to_string())?;
        self.meta("rate_hz", &info.rate_hz.to_string())?;
        Ok(())
    }

    fn write_inner(&mut self, proc: ProcId, ev: &Event) -> rusqlite::Result<()> {
        match ev {
            Event::Start(info) => self.write_info(proc, info)?,
            Event::Frame(id, f) => {
                self.conn
                    .prepare_cached(
                        "INSERT OR REPLACE INTO frames(id, function, file, line) VALUES (?1,?2,?3,?4)",
                    )?
                    .execute(params![id, f.function, f.file, f.line])?;
            }
            Event::Stack(id, frames) => {
                let mut st = self.conn.prepare_cached(
                    "INSERT INTO stack_frames(stack, depth, frame) VALUES (?1,?2,?3)",
                )?;
                for (depth, frame) in frames.iter().enumerate() {
                    st.execute(params![id, depth as i64, frame])?;
                }
            }
            Event::Thread(t) => {
                self.conn
                    .prepare_cached(
                        "INSERT OR REPLACE INTO threads(id, python_thread_id, os_thread_id, name, is_main,
                         proc) VALUES (?1,?2,?3,?4,?5,?6)",
                    )?
                    .execute(params![
                        t.id,
                        t.python_thread_id as i64,
                        t.os_thread_id.map(|v| v as i64),
                        t.name,
                        t.is_main,
                        proc
                    ])?;
            }
            Event::Source { file, text } => {
                // kept back: written after the first samples, so that the samples sit early
                // in the file and a file cut short loses source text before samples
                self.pending_sources.push((file.clone(), text.clone()));
            }
            Event::Probe {
                t,
                rss_kib,
                thread,
                stack,
                active,
            } => {
                self.latest_t = self.latest_t.max(*t);
                let flags = if *active { FLAG_ACTIVE } else { 0 };
                self.conn
                    .prepare_cached(
                        "INSERT INTO probes(t_us, rss_kib, thread, stack, flags, proc)
                         VALUES (?1,?2,?3,?4,?5,?6)",
                    )?
                    .execute(params![
                        *t as i64,
                        *rss_kib as i64,
                        thread,
                        stack,
                        flags,
                        proc
                    ])?;
            }
            Event::Sample(s) => {
                self.latest_t = self.latest_t.max(s.t);
                let attributed = s.attributed().copied();
                let mut st = self.conn.prepare_cached(
                    "INSERT INTO samples(t_us, rss_kib, thread, stack, flags, proc)
                     VALUES (?1,?2,?3,?4,?5,?6)",
                )?;
                unique_t(s.t, |t| {
                    st.execute(params![
                        t,
                        s.rss_kib as i64,
                        attributed.map(|a| a.thread),
                        attributed.map(|a| a.stack),
                        attributed.map(|a| flags(&a)).unwrap_or(0),
                        proc
                    ])
                })?;
                drop(st);
                if s.threads.is_empty() {
                    // stacks unreadable this tick: thread states unknown, keep the last ones
                    return Ok(());
                }
                let ps = self.procs.entry(proc).or_default();
                if let Some(a) = attributed {
                    ps.written.insert(a.thread, (a.stack, flags(&a)));
                }
                let mut st = self.conn.prepare_cached(
                    "INSERT INTO thread_states(t_us, thread, stack, flags, proc)
                     VALUES (?1,?2,?3,?4,?5)",
                )?;
                for t in &s.threads {
                    if Some(t.thread) == attributed.map(|a| a.thread) {
                        continue;
                    }
                    let state = (t.stack, flags(t));
                    if ps.written.get(&t.thread) != Some(&state) {
                        st.execute(params![s.t as i64, t.thread, t.stack, state.1, proc])?;
                        ps.written.insert(t.thread, state);
                    }
                }
                for gone in ps.live.iter() {
                    if !s.threads.iter().any(|t| t.thread == *gone) {
                        st.execute(params![s.t as i64, gone, Option::<u32>::None, 0, proc])?;
                        ps.written.remove(gone);
                    }
                }
                ps.live.clear();
                ps.live.extend(s.threads.iter().map(|t| t.thread));
            }
            Event::Fds { t, count } => {
                let mut st = self
                    .conn
                    .prepare_cached("INSERT INTO fds(t_us, count, proc) VALUES (?1, ?2, ?3)")?;
                unique_t(*t, |t| st.execute(params![t, count, proc]))?;
            }
            Event::Rollup { t, mem } => {
                let mut st = self.conn.prepare_cached(
                    "INSERT INTO rollups(t_us, rss_kib, pss_kib, uss_kib, swap_kib, proc,
                     heap_kib, anon_kib, file_kib, stack_kib)
                     VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                )?;
                unique_t(*t, |t| {
                    st.execute(params![
                        t,
                        mem.rss_kib as i64,
                        mem.pss_kib as i64,
                        mem.uss_kib as i64,
                        mem.swap_kib as i64,
                        proc,
                        mem.heap_kib as i64,
                        mem.anon_kib as i64,
                        mem.file_kib as i64,
                        mem.stack_kib as i64
                    ])
                })?;
            }
            Event::Dropped { t, count } => {
                self.conn
                    .prepare_cached("INSERT INTO dropped(t_us, count, proc) VALUES (?1, ?2, ?3)")?
                    .execute(params![*t as i64, *count as i64, proc])?;
            }
            Event::Census(c) => self.write_census(proc, c)?,
            Event::Lengths { t, rows } => {
                for (name, len) in rows {
                    let id =
                        Self::intern(&self.conn, &mut self.container_ids, "container_names", name)?;
                    self.conn
                        .prepare_cached(
                            "INSERT INTO container_lengths(t_us, container, len, proc)
                             VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(params![*t as i64, id, *len as i64, proc])?;
                }
            }
            Event::FdTargets { t, groups } => {
                let mut st = self.conn.prepare_cached(
                    "INSERT INTO fd_targets(t_us, kind, pattern, count, proc) VALUES (?1,?2,?3,?4,?5)",
                )?;
                for g in groups {
                    st.execute(params![*t as i64, g.kind, g.pattern, g.count, proc])?;
                }
            }
            Event::Note { t, text } => {
                self.conn
                    .prepare_cached("INSERT INTO notes(t_us, text, proc) VALUES (?1, ?2, ?3)")?
                    .execute(params![*t as i64, text, proc])?;
            }
            Event::End { t, reason } => {
                let (kind, code, signal) = match reason {
                    EndReason::Interrupted => ("interrupted", None, None),
                    EndReason::Duration => ("duration", None, None),
                    EndReason::TargetExited { code, signal } => ("target_exited", *code, *signal),
                };
                self.conn
                    .prepare_cached(
                        "UPDATE processes SET end_t_us = ?2, end_reason = ?3, exit_code = ?4,
                         exit_signal = ?5 WHERE proc = ?1",
                    )?
                    .execute(params![proc, *t as i64, kind, code, signal])?;
                if proc != 0 {
                    return Ok(());
                }
                self.meta("end_t_us", &t.to_string())?;
                self.meta("end_reason", kind)?;
                if let Some(c) = code {
                    self.meta("exit_code", &c.to_string())?;
                }
                if let Some(s) = signal {
                    self.meta("exit_signal", &s.to_string())?;
                }
            }
        }
        Ok(())
    }

    fn intern(
        conn: &Connection,
        ids: &mut HashMap<String, i64>,
        table: &str,
        name: &str,
    ) -> rusqlite::Result<i64> {
        if let Some(&id) = ids.get(name) {
            return Ok(id);
        }
        let id = ids.len() as i64;
        conn.prepare_cached(&format!("INSERT INTO {table}(id, name) VALUES (?1, ?2)"))?
            .execute(params![id, name])?;
        ids.insert(name.to_string(), id);
        Ok(id)
    }

    /// One census: its summary row, then the type and container rows that changed since the
    /// previous census (a vanished type is written with zero counts, a vanished container with
    /// length -1).
    fn write_census(&mut self, proc: ProcId, c: &Census) -> rusqlite::Result<()> {
        let gc_json = serde_json::to_string(&c.gc).unwrap_or_default();
        let notes_json = serde_json::to_string(&c.notes).unwrap_or_default();
        let largest_json = serde_json::to_string(&c.largest).unwrap_or_default();
        self.conn
            .prepare_cached(
                "INSERT INTO censuses(t_us, pause_us, walk_us, total_us, copy_bytes, attempts,
                 approximate, gc_enabled, gc_collecting, gc_objects, gc_bytes, other_objects,
                 other_bytes, gc_json, notes_json, largest_json, cycles_json, why_json, proc)
                 VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)",
            )?
            .execute(params![
                c.t as i64,
                c.pause_us as i64,
                c.walk_us as i64,
                c.total_us as i64,
                c.copy_bytes as i64,
                c.attempts,
                c.approximate,
                c.gc.enabled,
                c.gc.collecting,
                c.gc_objects as i64,
                c.gc_bytes as i64,
                c.other_objects as i64,
                c.other_bytes as i64,
                gc_json,
                notes_json,
                largest_json,
                c.cycles
                    .as_ref()
                    .map(|cy| serde_json::to_string(cy).unwrap_or_default()),
                serde_json::to_string(&c.why_alive).unwrap_or_default(),
                proc
            ])?;
        let census = self.conn.last_insert_rowid();
        let mut ps = self.procs.remove(&proc).unwrap_or_default();
        let r = self.write_census_rows(census, c, &mut ps);
        self.procs.insert(proc, ps);
        r
    }

    fn write_census_rows(
        &mut self,
        census: i64,
        c: &Census,
        ps: &mut ProcState,
    ) -> rusqlite::Result<()> {
        let mut now: HashMap<String, TypeRow> = HashMap::with_capacity(c.types.len());
        for row in &c.types {
            if ps.prev_types.get(&row.name) != Some(row) {
                let id = Self::intern(&self.conn, &mut self.type_ids, "type_names", &row.name)?;
                self.conn
                    .prepare_cached("INSERT INTO census_types VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)")?
                    .execute(params![
                        census,
                        id,
                        row.gc_count as i64,
                        row.gc_bytes as i64,
                        row.frozen_count as i64,
                        row.frozen_bytes as i64,
                        row.other_count as i64,
                        row.other_bytes as i64,
                        row.size_exact
                    ])?;
            }
            now.insert(row.name.clone(), row.clone());
        }
        for name in ps.prev_types.keys() {
            if !now.contains_key(name) {
                let id = Self::intern(&self.conn, &mut self.type_ids, "type_names", name)?;
                self.conn
                    .prepare_cached("INSERT INTO census_types VALUES (?1,?2,0,0,0,0,0,0,1)")?
                    .execute(params![census, id])?;
            }
        }
        ps.prev_types = now;
        let mut now: HashMap<String, ContainerRow> = HashMap::with_capacity(c.containers.len());
        for row in &c.containers {
            if ps.prev_containers.get(&row.name) != Some(row) {
                let id = Self::intern(
                    &self.conn,
                    &mut self.container_ids,
                    "container_names",
                    &row.name,
                )?;
                let origin = serde_json::to_value(row.origin)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                self.conn
                    .prepare_cached(
                        "INSERT INTO census_containers VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
                    )?
                    .execute(params![
                        census,
                        id,
                        row.type_name,
                        row.len as i64,
                        row.shallow_bytes as i64,
                        row.items_bytes as i64,
                        row.bound.map(|b| b as i64),
                        row.file,
                        serde_json::to_string(&row.aliases).unwrap_or_default(),
                        row.addr as i64,
                        origin,
                        row.item_type,
                        row.views_keep_bytes as i64
                    ])?;
            }
            now.insert(row.name.clone(), row.clone());
        }
        for name in ps.prev_containers.keys() {
            if !now.contains_key(name) {
                let id =
                    Self::intern(&self.conn, &mut self.container_ids, "container_names", name)?;
                self.conn
                    .prepare_cached(
                        "INSERT INTO census_containers VALUES (?1,?2,'',-1,0,0,NULL,NULL,'[]',0,'global',NULL,0)",
                    )?
                    .execute(params![census, id])?;
            }
        }
        ps.prev_containers = now;
        let mut st = self
            .conn
            .prepare_cached("INSERT OR IGNORE INTO modules(name, file) VALUES (?1, ?2)")?;
        for (name, file) in &c.modules {
            st.execute(params![name, file])?;
        }
        Ok(())
    }

    /// Write the aggregates, commit, and fold the WAL into the main file.
    pub fn finish(self, analyzer: &Analyzer) -> Result<PathBuf> {
        self.finish_tree(&mut std::iter::once((0, analyzer)))
    }

    /// `finish` for a process tree: the aggregates of every process's analyzer.
    pub fn finish_tree(
        mut self,
        analyzers: &mut dyn Iterator<Item = (ProcId, &Analyzer)>,
    ) -> Result<PathBuf> {
        if let Some(e) = &self.failed {
            return Err(write_err(&self.path, e));
        }
        let path = self.path.clone();
        let mut r = Ok(());
        for (proc, a) in analyzers {
            r = r.and_then(|_| self.write_aggregates(proc, a));
        }
        r.and_then(|_| self.write_sources())
            .and_then(|_| self.conn.execute_batch("COMMIT"))
            .map_err(|e| write_err(&path, e))?;
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        Ok(path)
    }

    fn write_aggregates(&mut self, proc: ProcId, a: &Analyzer) -> rusqlite::Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT OR REPLACE INTO line_stats VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
        )?;
        for (frame, l) in &a.lines.lines {
            st.execute(params![
                frame,
                l.own.increment_kib,
                l.own.occurrences as i64,
                l.own.last_rss_kib as i64,
                l.own.fd_increment,
                l.inclusive.increment_kib,
                l.inclusive.occurrences as i64,
                l.inclusive.last_rss_kib as i64,
                l.inclusive.fd_increment
            ])?;
        }
        drop(st);
        let mut st = self.conn.prepare_cached(
            "INSERT OR REPLACE INTO function_stats VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
        )?;
        for (k, f) in a.lines.functions() {
            st.execute(params![
                k.file,
                k.function,
                f.lines.map(|l| l.0),
                f.lines.map(|l| l.1),
                f.own.increment_kib,
                f.own.occurrences as i64,
                f.inclusive.increment_kib,
                f.inclusive.occurrences as i64,
                f.inclusive.fd_increment,
                proc
            ])?;
        }
        Ok(())
    }
}
