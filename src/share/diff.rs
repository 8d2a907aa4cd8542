//! `memwatch diff A B`: what changed between two recordings of a program — two sessions, or a
//! session and a snapshot (`memwatch snapshot --format json`) — each side taken at its end:
//! its last census's types and named containers, a session's sampled increment per line, its
//! RSS. "What changed between yesterday's deploy and today's."
//!
//! Owns reading each side into the figures compared ([`Side`], through the session reader
//! and the analyzer, as `memwatch report` reads a session), the comparison ([`compare`]: a
//! [`Diff`], which is also the JSON) and, in [`render`], its text and Markdown.
//!
//! Must never allocate from what an input says without a bound, nor panic on it: a session
//! goes through the session reader and the analyzer (bounded), a snapshot file is read up to
//! [`MAX_SNAPSHOT_BYTES`] and parsed by serde (an error, never a panic); every table is cut
//! to `top` rows whatever the sides hold.
//!
//! A process tree's session (`--subprocesses`, several `--pid`s) is summed over its processes
//! — per type, per container name, per line — and its RSS is the tree's total. Workers of one
//! kind run the same code, so their sums compare across deploys even when the number of
//! workers or their PIDs differ, where pairing processes one to one would have to guess.

pub mod render;

use std::collections::HashMap;
use std::hash::Hash;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Session, read_session};
use crate::analyzer::Analyzer;
use crate::failure::{Failure, Result};
use crate::heap::census::Census;
use crate::report::census::SnapshotTarget;
use crate::tree::TreeAnalyzer;

/// The largest snapshot file read: a census of millions of objects is a few MiB of JSON.
pub const MAX_SNAPSHOT_BYTES: u64 = 256 << 20;

/// Rows per table, at most (`-n`).
pub const MAX_TOP: usize = 10_000;

/// A tree's process that ended this long before the tree's end is not part of its end state
/// (a recycled worker); the workers a server takes down as the watch stops end within it.
const ENDED_SLACK_US: u64 = 2_000_000;

/// What a side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A session of one process.
    Session,
    /// A session of a process tree (several processes).
    Tree,
    /// One census of a live process (`memwatch snapshot --format json`).
    Snapshot,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Session => "session",
            Kind::Tree => "process tree session",
            Kind::Snapshot => "snapshot",
        }
    }
}

/// What one side is and its figures at its end: the header of a diff.
#[derive(Debug, Clone, Serialize)]
pub struct About {
    pub file: String,
    pub kind: Kind,
    /// The process (a tree's: its first named process). None: a snapshot that does not say.
    pub pid: Option<i32>,
    pub command_line: Option<String>,
    pub python_version: Option<String>,
    /// Wall clock at the session's start, or when the snapshot was taken (seconds since the
    /// Unix epoch).
    pub time_unix: Option<f64>,
    /// How long the session watched (None: a snapshot).
    pub duration_s: Option<f64>,
    /// Processes summed: the tree's sampled processes at its end, else 1.
    pub processes: usize,
    /// RSS at the end (a tree's: the sum over its processes).
    pub rss_bytes: Option<u64>,
    /// Heap censuses the side holds (1 for a snapshot).
    pub censuses: u64,
    /// Session time of the last census, seconds (None: a snapshot, or no census).
    pub census_at_s: Option<f64>,
    /// Objects and bytes of the last census (None: no census).
    pub objects: Option<u64>,
    pub heap_bytes: Option<u64>,
    /// The last census was taken without pausing or met inconsistencies.
    pub approximate: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct TypeEnd {
    objects: u64,
    bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct ContainerEnd {
    type_name: String,
    len: u64,
    bytes: u64,
    file: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct LineEnd {
    function: String,
    increment: i64,
    contents: Option<String>,
}

/// The last census's types and named containers (a tree's summed over its processes).
#[derive(Debug, Clone, Default)]
struct Heap {
    types: HashMap<String, TypeEnd>,
    containers: HashMap<String, ContainerEnd>,
}

impl Heap {
    fn add(&mut self, c: &Census) {
        for t in &c.types {
            let e = self.types.entry(t.name.clone()).or_default();
            e.objects = e.objects.saturating_add(t.count());
            e.bytes = e.bytes.saturating_add(t.bytes());
        }
        for r in &c.containers {
            let e = self
                .containers
                .entry(r.name.clone())
                .or_insert_with(|| ContainerEnd {
                    type_name: r.type_name.clone(),
                    file: r.file.clone(),
                    ..ContainerEnd::default()
                });
            e.len = e.len.saturating_add(r.len);
            e.bytes = e
                .bytes
                .saturating_add(r.shallow_bytes.saturating_add(r.items_bytes));
        }
    }
}

/// One side of a diff, read.
#[derive(Debug, Clone)]
pub struct Side {
    pub about: About,
    /// None: no census (`--no-heap`, or none succeeded).
    heap: Option<Heap>,
    /// Sampled increment per (file, line); None: a snapshot, which has no line table.
    lines: Option<HashMap<(String, u32), LineEnd>>,
    /// What was damaged or read from elsewhere.
    pub warnings: Vec<String>,
    /// What was summed or is missing, as the rest of a sentence whose subject is the side
    /// (`is a process tree: …`).
    notes: Vec<String>,
}

/// Read `path`: a snapshot when it is JSON (its first character `{`), else a session. A
/// missing file is [`Failure::SessionNotFound`], a file that is not a session
/// [`Failure::NotASession`], a JSON file that is not a snapshot [`Failure::NotASnapshot`].
pub fn load(path: &Path) -> Result<Side> {
    if starts_like_json(path) {
        load_snapshot(path)
    } else {
        let read = read_session(path)?;
        let file = path.display().to_string();
        Ok(match &read.session {
            Session::Single(a) => side_of_session(file, a, read.warnings),
            Session::Tree(t) => side_of_tree(file, t, read.warnings),
        })
    }
}

/// Whether the file's first non-blank character is `{` (a session file starts with
/// `SQLite format 3`). An unreadable file is left to the session reader's error.
fn starts_like_json(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::with_capacity(256);
    if f.take(256).read_to_end(&mut head).is_err() {
        return false;
    }
    head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// The fields of a JSON file that tell what it is, beside a census's own.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    target: Option<SnapshotTarget>,
    /// `memwatch report --format json` has a summary (a tree's report a kind).
    #[serde(default)]
    summary: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    kind: Option<serde::de::IgnoredAny>,
}

fn load_snapshot(path: &Path) -> Result<Side> {
    let file = path.display().to_string();
    let not = |detail: String| Failure::NotASnapshot {
        path: file.clone(),
        detail,
    };
    let f = std::fs::File::open(path).map_err(|e| Failure::SessionNotFound {
        path: file.clone(),
        detail: e.to_string(),
    })?;
    let mut bytes = Vec::new();
    f.take(MAX_SNAPSHOT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| not(e.to_string()))?;
    if bytes.len() as u64 > MAX_SNAPSHOT_BYTES {
        return Err(not(format!(
            "a JSON file of more than {} MiB, larger than any snapshot",
            MAX_SNAPSHOT_BYTES >> 20
        )));
    }
    let envelope: Envelope =
        serde_json::from_slice(&bytes).map_err(|e| not(format!("unreadable JSON: {e}")))?;
    if envelope.summary.is_some() || envelope.kind.is_some() {
        return Err(not(
            "a `memwatch report` JSON: give diff the session file itself".into(),
        ));
    }
    let census: Census = serde_json::from_slice(&bytes)
        .map_err(|e| not(format!("JSON, but not a heap census: {e}")))?;
    drop(bytes);
    Ok(side_of_snapshot(file, &census, envelope.target))
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn side_of_snapshot(file: String, c: &Census, target: Option<SnapshotTarget>) -> Side {
    let mut notes = Vec::new();
    if target.is_none() {
        notes.push(
            "is a snapshot of an older memwatch: it does not say which process it was taken of"
                .to_string(),
        );
    }
    let t = target.unwrap_or_default();
    let mut heap = Heap::default();
    heap.add(c);
    Side {
        about: About {
            file,
            kind: Kind::Snapshot,
            pid: (t.pid > 0).then_some(t.pid),
            command_line: non_empty(&t.command_line),
            python_version: non_empty(&t.python_version),
            time_unix: (t.taken_unix > 0.0).then_some(t.taken_unix),
            duration_s: None,
            processes: 1,
            rss_bytes: t.rss_bytes,
            censuses: 1,
            census_at_s: None,
            objects: Some(c.gc_objects.saturating_add(c.other_objects)),
            heap_bytes: Some(c.gc_bytes.saturating_add(c.other_bytes)),
            approximate: c.approximate,
        },
        heap: Some(heap),
        lines: None,
        warnings: Vec::new(),
        notes,
    }
}

/// The sampled increment of every line of `a` (its own lines, as the report's first table),
/// added to `lines`.
fn add_lines(lines: &mut HashMap<(String, u32), LineEnd>, a: &Analyzer) {
    for row in crate::report::top_lines(a, usize::MAX) {
        let e = lines.entry((row.file, row.line)).or_default();
        e.increment = e.increment.saturating_add(row.increment_bytes);
        if e.function.is_empty() {
            e.function = row.function;
        }
        if e.contents.is_none() {
            e.contents = row.contents;
        }
    }
}

fn side_of_session(file: String, a: &Analyzer, warnings: Vec<String>) -> Side {
    let s = crate::report::summary(a, None);
    let last = a.heap.last.as_ref();
    let mut lines = HashMap::new();
    add_lines(&mut lines, a);
    let heap = last.map(|c| {
        let mut h = Heap::default();
        h.add(c);
        h
    });
    Side {
        about: About {
            file,
            kind: Kind::Session,
            pid: Some(s.pid),
            command_line: non_empty(&s.command_line),
            python_version: non_empty(&s.python_version),
            time_unix: (s.start_unix > 0.0).then_some(s.start_unix),
            duration_s: Some(s.duration_s),
            processes: 1,
            rss_bytes: s.rss_end_bytes,
            censuses: a.heap.censuses,
            census_at_s: last.map(|c| c.t as f64 / 1e6),
            objects: last.map(|c| c.gc_objects.saturating_add(c.other_objects)),
            heap_bytes: last.map(|c| c.gc_bytes.saturating_add(c.other_bytes)),
            approximate: last.is_some_and(|c| c.approximate),
        },
        heap,
        lines: Some(lines),
        warnings,
        notes: Vec::new(),
    }
}

fn side_of_tree(file: String, t: &TreeAnalyzer, warnings: Vec<String>) -> Side {
    // the end state is that of the processes still there at the end
    let at_end: Vec<&Analyzer> = t
        .sampled()
        .filter(|(p, _)| {
            p.ended()
                .is_none_or(|e| e.saturating_add(ENDED_SLACK_US) >= t.now)
        })
        .map(|(_, a)| a)
        .collect();
    let sampled = t.sampled().count();
    let root = t
        .sampled()
        .find(|(p, _)| p.is_root())
        .or_else(|| t.sampled().next());
    let mut heap: Option<Heap> = None;
    let (mut censuses, mut objects, mut bytes) = (0u64, 0u64, 0u64);
    let mut census_at: Option<f64> = None;
    let mut approximate = false;
    for a in &at_end {
        if let Some(c) = &a.heap.last {
            heap.get_or_insert_with(Heap::default).add(c);
            censuses = censuses.saturating_add(a.heap.censuses);
            objects = objects.saturating_add(c.gc_objects.saturating_add(c.other_objects));
            bytes = bytes.saturating_add(c.gc_bytes.saturating_add(c.other_bytes));
            let at = c.t as f64 / 1e6;
            census_at = Some(census_at.map_or(at, |m: f64| m.max(at)));
            approximate |= c.approximate;
        }
    }
    // lines are totals over the watch: every process's count, those that ended too
    let mut lines = HashMap::new();
    for (_, a) in t.sampled() {
        add_lines(&mut lines, a);
    }
    let mut notes = vec![format!(
        "is a process tree: its types, containers and lines are summed over its {} process(es) at the end, its RSS is the tree's",
        at_end.len()
    )];
    if at_end.len() < sampled {
        notes.push(format!(
            "leaves out of its types and containers {} process(es) that ended before the end of the watch",
            sampled - at_end.len()
        ));
    }
    let rss = crate::tree::group::total_rss(t, 250_000)
        .last()
        .map(|p| p.1.saturating_mul(1024));
    Side {
        about: About {
            file,
            kind: Kind::Tree,
            pid: root.map(|(p, _)| p.def.pid),
            command_line: root.and_then(|(p, _)| non_empty(&p.def.command_line)),
            python_version: root.and_then(|(p, _)| p.def.python_version.clone()),
            time_unix: root
                .and_then(|(_, a)| a.info.as_ref())
                .map(|i| i.start_unix)
                .filter(|&s| s > 0.0),
            duration_s: Some(t.now as f64 / 1e6),
            processes: at_end.len(),
            rss_bytes: rss,
            censuses,
            census_at_s: census_at,
            objects: heap.as_ref().map(|_| objects),
            heap_bytes: heap.as_ref().map(|_| bytes),
            approximate,
        },
        heap,
        lines: Some(lines),
        warnings,
        notes,
    }
}

/// Whether a row is on both sides or one only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Both,
    /// In B only.
    New,
    /// In A only.
    Gone,
}

impl Presence {
    fn of<V>(a: Option<V>, b: Option<V>) -> Presence {
        match (a.is_some(), b.is_some()) {
            (false, _) => Presence::New,
            (true, false) => Presence::Gone,
            (true, true) => Presence::Both,
        }
    }
}

/// A type at A's end and at B's.
#[derive(Debug, Clone, Serialize)]
pub struct TypeDelta {
    pub name: String,
    pub presence: Presence,
    pub objects_a: Option<u64>,
    pub objects_b: Option<u64>,
    pub objects_delta: i64,
    pub bytes_a: Option<u64>,
    pub bytes_b: Option<u64>,
    pub bytes_delta: i64,
}

/// A named container at A's end and at B's.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerDelta {
    pub name: String,
    pub type_name: String,
    pub file: Option<String>,
    pub presence: Presence,
    pub len_a: Option<u64>,
    pub len_b: Option<u64>,
    pub len_delta: i64,
    pub bytes_a: Option<u64>,
    pub bytes_b: Option<u64>,
    pub bytes_delta: i64,
}

/// A line's sampled increment over session A and over session B.
#[derive(Debug, Clone, Serialize)]
pub struct LineDelta {
    pub file: String,
    pub line: u32,
    pub function: String,
    pub contents: Option<String>,
    pub presence: Presence,
    pub increment_a: Option<i64>,
    pub increment_b: Option<i64>,
    pub delta: i64,
}

/// One table of a diff: the rows that changed, by growth, cut to `top`.
#[derive(Debug, Clone, Serialize)]
pub struct Table<R> {
    /// Rows on either side.
    pub compared: usize,
    /// Rows that differ between the sides (before the cut).
    pub changed: usize,
    /// The first `top` of them, the most grown first.
    pub rows: Vec<R>,
}

/// What changed from A to B: the JSON of `memwatch diff --format json` (docs/sharing.md).
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub a: About,
    pub b: About,
    /// Rows per table, at most.
    pub top: usize,
    /// Sides that are not comparable as they stand (other programs, other Pythons), damaged
    /// parts of a side.
    pub warnings: Vec<String>,
    /// What was summed, left out or not compared.
    pub notes: Vec<String>,
    /// By growth in bytes; None when a side has no census.
    pub containers: Option<Table<ContainerDelta>>,
    /// By growth in bytes; None when a side has no census.
    pub types: Option<Table<TypeDelta>>,
    /// By growth of the increment; None unless both sides are sessions.
    pub lines: Option<Table<LineDelta>>,
}

/// `b − a`, within i64.
fn delta(a: u64, b: u64) -> i64 {
    let a = i64::try_from(a).unwrap_or(i64::MAX);
    let b = i64::try_from(b).unwrap_or(i64::MAX);
    b.saturating_sub(a)
}

/// Every key of either map, with its value on each side.
fn join<'m, K: Eq + Hash, V>(
    a: &'m HashMap<K, V>,
    b: &'m HashMap<K, V>,
) -> impl Iterator<Item = (&'m K, Option<&'m V>, Option<&'m V>)> {
    a.iter().map(|(k, va)| (k, Some(va), b.get(k))).chain(
        b.iter()
            .filter(|(k, _)| !a.contains_key(*k))
            .map(|(k, vb)| (k, None, Some(vb))),
    )
}

/// The changed rows sorted by `order` and cut to `top`.
fn table<R>(
    compared: usize,
    mut rows: Vec<R>,
    top: usize,
    order: impl FnMut(&R, &R) -> std::cmp::Ordering,
) -> Table<R> {
    let changed = rows.len();
    rows.sort_by(order);
    rows.truncate(top);
    Table {
        compared,
        changed,
        rows,
    }
}

/// Types by growth in bytes, then in objects; the name settles ties.
fn by_type_growth(x: &TypeDelta, y: &TypeDelta) -> std::cmp::Ordering {
    y.bytes_delta
        .cmp(&x.bytes_delta)
        .then(y.objects_delta.cmp(&x.objects_delta))
        .then(x.name.cmp(&y.name))
}

/// Containers by growth in bytes, then in length; the name settles ties.
fn by_container_growth(x: &ContainerDelta, y: &ContainerDelta) -> std::cmp::Ordering {
    y.bytes_delta
        .cmp(&x.bytes_delta)
        .then(y.len_delta.cmp(&x.len_delta))
        .then(x.name.cmp(&y.name))
}

/// Lines by growth of their increment; the place settles ties.
fn by_line_growth(x: &LineDelta, y: &LineDelta) -> std::cmp::Ordering {
    y.delta
        .cmp(&x.delta)
        .then(x.file.cmp(&y.file))
        .then(x.line.cmp(&y.line))
}

fn types_table(a: &Heap, b: &Heap, top: usize) -> Table<TypeDelta> {
    let rows: Vec<TypeDelta> = join(&a.types, &b.types)
        .filter(|(_, x, y)| x != y)
        .map(|(name, x, y)| {
            let v = |s: Option<&TypeEnd>| s.copied().unwrap_or_default();
            TypeDelta {
                name: name.clone(),
                presence: Presence::of(x, y),
                objects_a: x.map(|t| t.objects),
                objects_b: y.map(|t| t.objects),
                objects_delta: delta(v(x).objects, v(y).objects),
                bytes_a: x.map(|t| t.bytes),
                bytes_b: y.map(|t| t.bytes),
                bytes_delta: delta(v(x).bytes, v(y).bytes),
            }
        })
        .collect();
    let compared = join(&a.types, &b.types).count();
    table(compared, rows, top, by_type_growth)
}

fn containers_table(a: &Heap, b: &Heap, top: usize) -> Table<ContainerDelta> {
    let rows: Vec<ContainerDelta> = join(&a.containers, &b.containers)
        .filter(|(_, x, y)| {
            x.map(|c| (c.len, c.bytes)) != y.map(|c| (c.len, c.bytes)) || x.is_none() != y.is_none()
        })
        .map(|(name, x, y)| {
            let now = y.or(x);
            ContainerDelta {
                name: name.clone(),
                type_name: now.map(|c| c.type_name.clone()).unwrap_or_default(),
                file: now.and_then(|c| c.file.clone()),
                presence: Presence::of(x, y),
                len_a: x.map(|c| c.len),
                len_b: y.map(|c| c.len),
                len_delta: delta(x.map_or(0, |c| c.len), y.map_or(0, |c| c.len)),
                bytes_a: x.map(|c| c.bytes),
                bytes_b: y.map(|c| c.bytes),
                bytes_delta: delta(x.map_or(0, |c| c.bytes), y.map_or(0, |c| c.bytes)),
            }
        })
        .collect();
    let compared = join(&a.containers, &b.containers).count();
    table(compared, rows, top, by_container_growth)
}

type Lines = HashMap<(String, u32), LineEnd>;

fn lines_table(a: &Lines, b: &Lines, top: usize) -> Table<LineDelta> {
    let rows: Vec<LineDelta> = join(a, b)
        .filter(|(_, x, y)| x.map(|l| l.increment) != y.map(|l| l.increment))
        .map(|((file, line), x, y)| {
            let now = y.or(x);
            let inc_a = x.map(|l| l.increment);
            let inc_b = y.map(|l| l.increment);
            LineDelta {
                file: file.clone(),
                line: *line,
                function: now.map(|l| l.function.clone()).unwrap_or_default(),
                contents: y
                    .and_then(|l| l.contents.clone())
                    .or_else(|| x.and_then(|l| l.contents.clone())),
                presence: Presence::of(x, y),
                increment_a: inc_a,
                increment_b: inc_b,
                delta: inc_b.unwrap_or(0).saturating_sub(inc_a.unwrap_or(0)),
            }
        })
        .collect();
    let compared = join(a, b).count();
    table(compared, rows, top, by_line_growth)
}

/// A command line as the program it runs: its first word without its folder and its first
/// argument that is not an option (the script, the module of `-m`, the app), every number in
/// them (dotted ones as one) left out. `/usr/bin/python3.12 app.py --port 8001` and `python3
/// -u app.py --workers 2` are the same program; `python3 worker.py` is another. Options and
/// further arguments are a deploy's settings, not another program.
fn program(cmd: &str) -> String {
    let cmd = crate::tree::group::without_program_dir(cmd);
    let mut words = cmd.split_whitespace();
    let first = words.next().unwrap_or("");
    let what = words.find(|w| !w.starts_with('-')).unwrap_or("");
    let mut kind = crate::tree::group::command_kind(&format!("{first} {what}"));
    while kind.contains("#.#") {
        kind = kind.replace("#.#", "#");
    }
    kind
}

/// What changed from `a` to `b`: every table cut to `top` rows (at least one).
pub fn compare(a: &Side, b: &Side, top: usize) -> Diff {
    let top = top.clamp(1, MAX_TOP);
    let mut warnings = Vec::new();
    for (label, side) in [("A", a), ("B", b)] {
        for w in &side.warnings {
            warnings.push(format!("{label} ({}): {w}", side.about.file));
        }
    }
    if let (Some(x), Some(y)) = (&a.about.command_line, &b.about.command_line)
        && program(x) != program(y)
    {
        warnings.push(format!(
            "A and B run different programs (`{x}` and `{y}`): compared all the same"
        ));
    }
    if let (Some(x), Some(y)) = (&a.about.python_version, &b.about.python_version)
        && x != y
    {
        warnings.push(format!(
            "A runs CPython {x} and B CPython {y}: object sizes and internal types differ between versions"
        ));
    }
    let mut notes = Vec::new();
    for (label, side) in [("A", a), ("B", b)] {
        for n in &side.notes {
            notes.push(format!("{label} ({}) {n}", side.about.file));
        }
        if side.heap.is_none() {
            notes.push(format!(
                "{label} ({}) has no heap census (watched with --no-heap, or no census succeeded): types and containers are not compared",
                side.about.file
            ));
        } else if side.about.approximate {
            notes.push(format!(
                "{label}'s last census is approximate (taken without pausing, or it met inconsistencies)"
            ));
        }
    }
    let (types, containers) = match (&a.heap, &b.heap) {
        (Some(x), Some(y)) => (
            Some(types_table(x, y, top)),
            Some(containers_table(x, y, top)),
        ),
        _ => (None, None),
    };
    let lines = match (&a.lines, &b.lines) {
        (Some(x), Some(y)) => Some(lines_table(x, y, top)),
        _ => {
            notes.push(
                "lines are compared between two sessions only (a snapshot has no line table)"
                    .into(),
            );
            None
        }
    };
    Diff {
        a: a.about.clone(),
        b: b.about.clone(),
        top,
        warnings,
        notes,
        containers,
        types,
        lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::census::{ContainerRow, TypeRow};

    fn census(types: &[(&str, u64, u64)], containers: &[(&str, u64, u64)]) -> Census {
        Census {
            types: types
                .iter()
                .map(|&(name, n, bytes)| TypeRow {
                    name: name.into(),
                    gc_count: n,
                    gc_bytes: bytes,
                    size_exact: true,
                    ..TypeRow::default()
                })
                .collect(),
            containers: containers
                .iter()
                .map(|&(name, len, bytes)| ContainerRow {
                    name: name.into(),
                    type_name: "dict".into(),
                    len,
                    shallow_bytes: bytes,
                    ..ContainerRow::default()
                })
                .collect(),
            ..Census::default()
        }
    }

    fn snapshot(command: &str, c: &Census) -> Side {
        side_of_snapshot(
            "s.json".into(),
            c,
            Some(SnapshotTarget {
                pid: 7,
                command_line: command.into(),
                python_version: "3.12.1".into(),
                taken_unix: 1.0,
                rss_bytes: Some(1 << 20),
            }),
        )
    }

    #[test]
    fn containers_are_sorted_by_growth_in_bytes_new_and_gone_marked() {
        let a = snapshot(
            "python3 app.py",
            &census(
                &[],
                &[
                    ("app.STEADY", 10, 1000),
                    ("app.SLOW", 10, 1000),
                    ("app.GONE", 5, 500),
                    ("app.SHRINK", 100, 9000),
                ],
            ),
        );
        let b = snapshot(
            "python3 app.py",
            &census(
                &[],
                &[
                    ("app.STEADY", 10, 1000),
                    ("app.SLOW", 12, 1200),
                    ("app.SHRINK", 50, 4000),
                    ("app.FAST", 5000, 400_000),
                ],
            ),
        );
        let d = compare(&a, &b, 20);
        let t = d.containers.unwrap();
        let names: Vec<&str> = t.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["app.FAST", "app.SLOW", "app.GONE", "app.SHRINK"]);
        assert_eq!((t.compared, t.changed), (5, 4));
        assert_eq!(t.rows[0].presence, Presence::New);
        assert_eq!((t.rows[0].len_a, t.rows[0].len_delta), (None, 5000));
        assert_eq!(t.rows[2].presence, Presence::Gone);
        assert_eq!((t.rows[2].len_b, t.rows[2].bytes_delta), (None, -500));
        assert_eq!(t.rows[3].bytes_delta, -5000);
        assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    }

    #[test]
    fn types_sort_by_bytes_then_objects_then_name() {
        let a = snapshot(
            "x",
            &census(&[("b", 1, 100), ("a", 1, 100), ("c", 1, 100)], &[]),
        );
        let b = snapshot(
            "x",
            &census(&[("b", 2, 200), ("a", 2, 200), ("c", 5, 200)], &[]),
        );
        let t = compare(&a, &b, 20).types.unwrap();
        let names: Vec<&str> = t.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["c", "a", "b"]);
        assert_eq!(t.rows[0].objects_delta, 4);
    }

    #[test]
    fn every_table_is_cut_to_top_whatever_the_sides_hold() {
        // 5,000 containers and types on each side, all but one grown
        let side = |scale: u64| {
            let names: Vec<String> = (0..5000).map(|i| format!("m.C{i}")).collect();
            let rows: Vec<(&str, u64, u64)> = names
                .iter()
                .zip(0u64..)
                .map(|(n, i)| (n.as_str(), i * scale, i * 10 * scale))
                .collect();
            snapshot("x", &census(&rows, &rows))
        };
        let (a, b) = (side(1), side(2));
        for top in [1, 20, 100] {
            let d = compare(&a, &b, top);
            let c = d.containers.as_ref().unwrap();
            assert_eq!(c.rows.len(), top);
            assert_eq!((c.compared, c.changed), (5000, 4999));
            assert_eq!(c.rows[0].name, "m.C4999");
            assert_eq!(d.types.as_ref().unwrap().rows.len(), top);
        }
        // -n 0 still shows the first row; an absurd -n is held to MAX_TOP
        assert_eq!(compare(&a, &b, 0).top, 1);
        assert_eq!(compare(&a, &b, usize::MAX).top, MAX_TOP);
    }

    #[test]
    fn a_side_against_itself_has_no_changed_row() {
        let c = census(&[("dict", 10, 1000)], &[("app.X", 3, 300)]);
        let mut a = snapshot("x", &c);
        let mut lines = HashMap::new();
        lines.insert(
            ("app.py".to_string(), 3),
            LineEnd {
                function: "f".into(),
                increment: 4096,
                contents: None,
            },
        );
        a.lines = Some(lines);
        let d = compare(&a, &a, 20);
        assert!(d.types.unwrap().rows.is_empty());
        assert!(d.containers.unwrap().rows.is_empty());
        let l = d.lines.unwrap();
        assert!(l.rows.is_empty());
        assert_eq!(l.compared, 1);
    }

    #[test]
    fn lines_sort_by_growth_of_their_increment() {
        let mk = |incs: &[(u32, i64)]| -> Lines {
            incs.iter()
                .map(|&(line, inc)| {
                    (
                        ("app.py".to_string(), line),
                        LineEnd {
                            function: "f".into(),
                            increment: inc,
                            contents: None,
                        },
                    )
                })
                .collect()
        };
        let t = lines_table(
            &mk(&[(1, 100), (2, 100), (3, 5000)]),
            &mk(&[(1, 900), (2, -100), (4, 50)]),
            20,
        );
        let order: Vec<(u32, i64)> = t.rows.iter().map(|r| (r.line, r.delta)).collect();
        assert_eq!(order, [(1, 800), (4, 50), (2, -200), (3, -5000)]);
        assert_eq!(t.rows[1].presence, Presence::New);
        assert_eq!(t.rows[3].presence, Presence::Gone);
    }

    #[test]
    fn sides_of_different_programs_diff_with_a_warning() {
        let c = census(&[], &[]);
        let same = compare(
            &snapshot("/usr/bin/python3.12 app.py --port 8001", &c),
            &snapshot("python3 app.py --port 8002", &c),
            20,
        );
        assert!(same.warnings.is_empty(), "{:?}", same.warnings);
        let settings = compare(
            &snapshot("python3 -u /srv/42/app.py --workers 2", &c),
            &snapshot("python3 /srv/43/app.py", &c),
            20,
        );
        assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
        let other = compare(
            &snapshot("python3 app.py", &c),
            &snapshot("python3 worker.py", &c),
            20,
        );
        assert_eq!(other.warnings.len(), 1);
        assert!(other.warnings[0].contains("different programs"));
        assert!(other.containers.is_some());
    }

    #[test]
    fn a_side_without_census_compares_no_heap() {
        let c = census(&[("dict", 1, 1)], &[]);
        let a = snapshot("x", &c);
        let mut b = snapshot("x", &c);
        b.heap = None;
        let d = compare(&a, &b, 20);
        assert!(d.types.is_none() && d.containers.is_none() && d.lines.is_none());
        assert!(
            d.notes.iter().any(|n| n.contains("no heap census")),
            "{:?}",
            d.notes
        );
    }

    #[test]
    fn deltas_stay_within_i64() {
        assert_eq!(delta(0, u64::MAX), i64::MAX);
        assert_eq!(delta(u64::MAX, 0), -i64::MAX);
        assert_eq!(delta(5, 3), -2);
    }
}
