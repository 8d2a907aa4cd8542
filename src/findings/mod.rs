//! Findings: what is leaking, where, and why — for the seven memory smells of the spec
//! (`shared/seed/memory-management.md`) and a generic "this type grows" — each with its
//! evidence and written in the spec's Recommendations Format by [`text`].
//!
//! [`detect`] is a pure function of analyzer state, so a live watch and a replayed session
//! find the same things. It stays quiet when memory is merely busy: bounded caches
//! (plateau), batch work (sawtooth), garbage the gc collects are not leaks.

pub mod code;
pub mod text;

use serde::{Deserialize, Serialize};

use crate::analyzer::Analyzer;
use crate::analyzer::trend::{self, Trend};
use crate::event::{FrameId, Micros};
use crate::heap::census::{ContainerRow, Origin};
use crate::units;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Cycles,
    UnclosedResource,
    UnboundedContainer,
    LargeAllocation,
    StringChurn,
    MutableDefault,
    GlobalAccumulation,
    TypeGrowth,
    /// Resident memory that grows while no Python object explains it (C extensions' mallocs,
    /// native buffers the census cannot see).
    NativeGrowth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Important,
    Suggestion,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Important => "Important",
            Severity::Suggestion => "Suggestion",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable across recomputations: kind and name.
    pub id: String,
    pub kind: Kind,
    pub severity: Severity,
    /// Qualified name (`orders._CACHE`, `app.add_item.__defaults__[0]`) or type.
    pub name: String,
    /// Short title in the spec's words (`Unbounded Cache`).
    pub title: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// One line of figures: what was measured.
    pub evidence: String,
    /// Further evidence lines (fd kinds, cycle patterns, why-alive chains, …).
    pub details: Vec<String>,
    pub trend: Option<Trend>,
    /// Session time at which the finding was first supported.
    pub first_seen: Micros,
    // Recommendations Format
    pub issue: String,
    pub impact: String,
    pub current_code: Option<String>,
    pub fix_title: String,
    pub fix: String,
    pub why: String,
    pub verification: String,
    /// In a process tree: the processes it was seen in (`worker 4312 (gunicorn: worker
    /// [app])`), one entry per process; empty for a single-process watch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<String>,
}

impl Kind {
    /// Findings named by a container that holds what leaks.
    pub fn is_holder(self) -> bool {
        matches!(
            self,
            Kind::UnboundedContainer | Kind::GlobalAccumulation | Kind::MutableDefault
        )
    }
}

impl Finding {
    /// A finding of `kind` with every field empty, for the detectors to fill in.
    fn blank(kind: Kind) -> Finding {
        Finding {
            id: String::new(),
            kind,
            severity: Severity::Important,
            name: String::new(),
            title: String::new(),
            file: None,
            line: None,
            evidence: String::new(),
            details: Vec::new(),
            trend: None,
            first_seen: 0,
            issue: String::new(),
            impact: String::new(),
            current_code: None,
            fix_title: String::new(),
            fix: String::new(),
            why: String::new(),
            verification: String::new(),
            processes: Vec::new(),
        }
    }
}

/// Smallest rise in a container's length that can make a finding.
const MIN_CONTAINER_GROWTH: f64 = 64.0;
/// …or enough entries to hold this much (see [`container_min_growth`]).
const MIN_CONTAINER_BYTES: f64 = 8.0 * 1024.0 * 1024.0;
/// Smallest rise in a type's object count (and bytes) for a type-growth finding.
const MIN_TYPE_GROWTH: f64 = 1000.0;
const MIN_TYPE_BYTES: f64 = 1024.0 * 1024.0;
/// Open fds gained before a resource leak is reported.
const MIN_FD_GROWTH: f64 = 8.0;
/// A line whose own RSS increment is at least this (and a tenth of the peak) is a large
/// allocation.
const LARGE_LINE_KIB: i64 = 20 * 1024;
/// …with a single rise between two samples at least this large (a slow, steady leak is not a
/// large read).
const LARGE_JUMP_KIB: i64 = 8 * 1024;
/// A single object at least this large is a large allocation.
const LARGE_OBJECT: u64 = 32 << 20;

/// Cyclic garbage that stands still below this many objects is one-off (see `cycles`).
const ONE_OFF_GARBAGE_MAX: u64 = 1000;

/// Types whose objects hold a file descriptor.
const RESOURCE_TYPES: &[&str] = &[
    "_io.TextIOWrapper",
    "_io.BufferedReader",
    "_io.BufferedWriter",
    "_io.BufferedRandom",
    "_io.FileIO",
    "socket.socket",
    "sqlite3.Connection",
    "select.epoll",
];

fn short(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// Where a container's module source is: the census's module files.
fn module_file(a: &Analyzer, name: &str) -> Option<String> {
    a.heap.last.as_ref()?.module_file(name).map(str::to_string)
}

fn points(s: &crate::analyzer::series::Series) -> Vec<(Micros, f64)> {
    s.points().iter().map(|p| (p.t, p.last)).collect()
}

fn rate(slope_per_s: f64) -> String {
    let a = slope_per_s.abs();
    let v = if a >= 1000.0 {
        format!("{:.1}k", slope_per_s / 1000.0)
    } else if a >= 10.0 {
        format!("{slope_per_s:.0}")
    } else {
        format!("{slope_per_s:.1}")
    };
    if slope_per_s >= 0.0 {
        format!("+{v}")
    } else {
        v
    }
}

fn confidence(t: &Trend) -> String {
    format!("{:.1}%", (t.confidence * 100.0).min(99.9))
}

/// Everything found in the analyzer's state now.
pub fn detect(a: &Analyzer) -> Vec<Finding> {
    let mut out = Vec::new();
    // the more specific findings first: growing types they explain are not reported again
    resources(a, &mut out);
    cycles(a, &mut out);
    containers(a, &mut out);
    types(a, &mut out);
    native_growth(a, &mut out);
    large_allocations(a, &mut out);
    fold_native_into_large(&mut out);
    string_churn(a, &mut out);
    out.sort_by(|x, y| x.severity.cmp(&y.severity).then(x.id.cmp(&y.id)));
    out
}

fn containers(a: &Analyzer, out: &mut Vec<Finding>) {
    let Some(last) = a.heap.last.as_ref() else {
        return;
    };
    for row in &last.containers {
        let Some(h) = a.heap.containers.get(&row.name) else {
            continue;
        };
        let tr = trend::analyze(&points(&h.count), container_min_growth(row));
        if !tr.verdict.is_leak() {
            continue;
        }
        // a bounded deque or lru_cache cannot grow past its bound
        if row.bound.is_some() {
            continue;
        }
        // a container of weak references keeps nothing alive: the strong holder of the same
        // objects is the finding (weak containers' own data is not named: heap::names)
        if row
            .item_type
            .as_deref()
            .is_some_and(|it| crate::heap::names::WEAK_REFERENCES.contains(&it))
        {
            continue;
        }
        // a holder of open files is the unclosed-resource finding's business
        if out
            .iter()
            .any(|f| f.kind == Kind::UnclosedResource && f.name == row.name)
        {
            continue;
        }
        if row
            .item_type
            .as_deref()
            .is_some_and(|it| RESOURCE_TYPES.contains(&it))
            && out.iter().any(|f| f.kind == Kind::UnclosedResource)
        {
            continue;
        }
        let bytes = points(&h.bytes);
        let bytes_first = bytes.first().map(|p| p.1).unwrap_or(0.0);
        let kind = match row.origin {
            Origin::Default => Kind::MutableDefault,
            _ if is_mapping_or_set(row) => Kind::UnboundedContainer,
            Origin::Global | Origin::ClassAttribute => Kind::GlobalAccumulation,
            Origin::InstanceAttribute => Kind::UnboundedContainer,
        };
        let evidence = format!(
            "{}: {}, {} → {} entries, {}/s over {:.0} s ({} → {} at the last census, verdict {}, confidence {})",
            row.name,
            row.type_name,
            units::count(tr.first as u64),
            units::count(tr.last as u64),
            rate(tr.slope_per_s),
            tr.window_s(),
            units::bytes(bytes_first),
            units::bytes((row.shallow_bytes + row.items_bytes) as f64),
            tr.verdict.label(),
            confidence(&tr),
        );
        let file = row.file.clone().or_else(|| module_file(a, &row.name));
        let lines = file.as_deref().and_then(|f| a.source(f));
        let line = lines.and_then(|src| container_line(src, row));
        let mut details = Vec::new();
        if let Some(it) = &row.item_type {
            details.push(format!("holds mostly {it} objects"));
        }
        if row.views_keep_bytes > 0 {
            details.push(format!(
                "its items are views keeping {} of the arrays or buffers they show alive (the views themselves: {})",
                units::bytes(row.views_keep_bytes as f64),
                units::bytes(row.items_bytes.saturating_sub(row.views_keep_bytes) as f64)
            ));
        }
        if !row.aliases.is_empty() {
            details.push(format!("also reachable as {}", row.aliases.join(", ")));
        }
        let current_code = match (lines, line) {
            (Some(src), Some(n)) => Some(code::snippet(src, n, 2, 2)),
            _ => None,
        };
        let mut f = Finding {
            id: format!("{kind:?}:{}", row.name),
            severity: Severity::Important,
            name: row.name.clone(),
            file,
            line,
            evidence,
            details,
            trend: Some(tr),
            first_seen: a.now,
            current_code,
            ..Finding::blank(kind)
        };
        text::explain_container(&mut f, row, lines);
        out.push(f);
    }
}

/// The smallest rise in a container's length that matters: 64 entries, or fewer when its
/// entries are large (as many as hold [`MIN_CONTAINER_BYTES`] at the last census's bytes per
/// entry, at least 8): a list of 1 MiB arrays matters after a dozen.
fn container_min_growth(row: &ContainerRow) -> f64 {
    if row.len == 0 {
        return MIN_CONTAINER_GROWTH;
    }
    let per_entry = row.items_bytes as f64 / row.len as f64;
    (MIN_CONTAINER_BYTES / per_entry.max(1.0)).clamp(8.0, MIN_CONTAINER_GROWTH)
}

fn is_mapping_or_set(row: &ContainerRow) -> bool {
    matches!(
        row.type_name.as_str(),
        "dict"
            | "collections.OrderedDict"
            | "collections.defaultdict"
            | "collections.Counter"
            | "set"
            | "functools._lru_cache_wrapper"
    ) || row.type_name.ends_with("Dict")
        || row.type_name.ends_with("Cache")
}

/// The line that fills the container (or defines the function, for a default argument).
fn container_line(src: &[String], row: &ContainerRow) -> Option<u32> {
    if row.origin == Origin::Default {
        let func = row.name.split(".__").next().map(short)?;
        return code::def_line(src, func);
    }
    if row.type_name == "functools._lru_cache_wrapper" {
        let func = short(&row.name);
        return code::def_line(src, func).map(|d| d.saturating_sub(1).max(1));
    }
    // filled by the interpreter, not by name: a module's warning registry gets a key per
    // distinct warning text and place, from the module's warn() calls (named when only one)
    if short(&row.name) == "__warningregistry__" {
        let calls = code::call_lines(src, &["warnings.warn", "warn"]);
        return (calls.len() == 1).then(|| calls[0]);
    }
    // a closure's cell is filled through its variable (`outer.<locals>.var`, an alias)
    if row.name.contains(".__closure__[") {
        let var = row
            .aliases
            .iter()
            .find_map(|a| a.rsplit_once(".<locals>.").map(|(_, v)| v))?;
        return code::mutation_lines(src, var).into_iter().next();
    }
    let last = short(&row.name);
    let pattern = match row.origin {
        Origin::Global => last.to_string(),
        _ => format!(".{last}"),
    };
    code::mutation_lines(src, &pattern).into_iter().next()
}

fn types(a: &Analyzer, out: &mut Vec<Finding>) {
    let Some(last) = a.heap.last.as_ref() else {
        return;
    };
    let explained: Vec<&str> = out
        .iter()
        .filter_map(|f| {
            last.containers
                .iter()
                .find(|c| c.name == f.name)
                .and_then(|c| c.item_type.as_deref())
        })
        .collect();
    let builtin = |n: &str| !n.contains('.');
    // types that other findings explain: cycle members, open-file objects
    let cyclic: Vec<String> = out
        .iter()
        .filter(|f| f.kind == Kind::Cycles)
        .flat_map(|f| {
            f.name
                .split(" via ")
                .next()
                .unwrap_or("")
                .split(" ↔ ")
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    let has_resource = out.iter().any(|f| f.kind == Kind::UnclosedResource);
    let explains = |name: &str| {
        let short = name.rsplit('.').next().unwrap_or(name);
        cyclic.iter().any(|c| c == short)
            || (has_resource && RESOURCE_TYPES.contains(&name))
            || (has_resource && name.starts_with("_io."))
    };
    let mut growing: Vec<(f64, Finding)> = Vec::new();
    for row in last.types.iter().take(200) {
        let Some(h) = a.heap.types.get(&row.name) else {
            continue;
        };
        let min = MIN_TYPE_GROWTH.max(h.count.first.map(|f| f.1).unwrap_or(0.0) * 0.05);
        let tr = trend::analyze(&points(&h.count), min);
        if !tr.verdict.is_leak() {
            continue;
        }
        let b = points(&h.bytes);
        let grew = b.last().map(|p| p.1).unwrap_or(0.0) - b.first().map(|p| p.1).unwrap_or(0.0);
        if grew < MIN_TYPE_BYTES {
            continue;
        }
        // builtin types that growing named containers already account for say nothing new
        if (!out.is_empty() && builtin(&row.name))
            || explained.contains(&row.name.as_str())
            || explains(&row.name)
        {
            continue;
        }
        // weak references keep nothing alive: they grow with what they refer to
        if crate::heap::names::WEAK_REFERENCES.contains(&row.name.as_str()) {
            continue;
        }
        // objects that a reported holder keeps alive are that finding's (its tasks' contexts,
        // its entries' attributes): one leak, one finding
        let chain = a.heap.why_alive.get(&row.name);
        if chain.is_some_and(|chain| {
            out.iter()
                .filter(|f| f.kind.is_holder())
                .any(|f| chain_reaches(chain, &f.name))
        }) {
            continue;
        }
        // no chain, where the object graph did look (it found the chain of the holder's own
        // items) — C fields, which the census cannot follow, keep them: a task's future and
        // context. A type that grows in step with such a holder, one, two or three objects
        // per entry, is told in that finding as what grows with it, not as a leak of its own
        let graph_looked = |f: &Finding| {
            last.containers
                .iter()
                .find(|c| c.name == f.name)
                .and_then(|c| c.item_type.as_deref())
                .is_some_and(|it| a.heap.why_alive.contains_key(it))
        };
        if chain.is_none()
            && let Some(h) = out.iter_mut().find(|f| {
                f.kind.is_holder()
                    && graph_looked(f)
                    && f.trend.as_ref().is_some_and(|ht| {
                        ht.slope_per_s > 0.0 && {
                            let k = tr.slope_per_s / ht.slope_per_s;
                            (1..=3).any(|n| (k - n as f64).abs() <= 0.1 * n as f64)
                        }
                    })
            })
        {
            h.details.push(format!(
                "grows with it (in step, {}/s; the census cannot follow the C fields that may hold them): {}",
                rate(tr.slope_per_s),
                row.name
            ));
            continue;
        }
        let evidence = format!(
            "{}: {} → {} objects, {}/s over {:.0} s, {} (verdict {}, confidence {})",
            row.name,
            units::count(tr.first as u64),
            units::count(tr.last as u64),
            rate(tr.slope_per_s),
            tr.window_s(),
            units::bytes(row.bytes() as f64),
            tr.verdict.label(),
            confidence(&tr),
        );
        let mut details = Vec::new();
        if let Some(chain) = a.heap.why_alive.get(&row.name) {
            details.push(format!("kept alive by: {chain}"));
            if chain.contains("referenced from a frame")
                && let Some(running) = running_functions(a)
            {
                details.push(format!(
                    "no module global reaches them: look at the locals of the running {running}"
                ));
            }
        }
        // where they are made: the one call of the class among the program's sources
        let made = creation_site(a, &row.name);
        if let Some((file, n)) = &made {
            details.push(format!(
                "created at {}:{n} (the only call of {}() in the program's sources memwatch read)",
                short_file(file),
                short(&row.name)
            ));
        }
        let (file, line) = match made {
            Some((file, n)) => (Some(file), Some(n)),
            None => (None, None),
        };
        let current_code = match (&file, line) {
            (Some(file), Some(n)) => a.source(file).map(|s| code::snippet(s, n, 2, 2)),
            _ => None,
        };
        let mut f = Finding {
            id: format!("TypeGrowth:{}", row.name),
            severity: Severity::Important,
            name: row.name.clone(),
            file,
            line,
            current_code,
            evidence,
            details,
            trend: Some(tr),
            first_seen: a.now,
            ..Finding::blank(Kind::TypeGrowth)
        };
        text::explain_type(&mut f);
        growing.push((grew, f));
    }
    // a growing class of the program's own explains the builtins its objects are made of
    if growing.iter().any(|(_, f)| !builtin(&f.name)) {
        growing.retain(|(_, f)| !builtin(&f.name));
    }
    growing.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    out.extend(growing.into_iter().take(3).map(|g| g.1));
}

/// The program's own functions on the main thread's stack at the last sample, outermost
/// first: `main() (app.py:21) → serve() (app.py:40)`.
/// The one place the program's own sources (as read for the watch) call class `name`
/// (`__main__.AuditEvent` → `AuditEvent(`): `(file, line)`, or None when there is none or
/// more than one (then which one leaks is not known).
fn creation_site(a: &Analyzer, name: &str) -> Option<(String, u32)> {
    let class = short(name);
    // a class of the program's own (the standard library makes its own classes' objects)
    let own = module_file(a, name).is_some_and(|f| crate::analyzer::lines::is_user_file(&f));
    if !own || class.is_empty() {
        return None;
    }
    let mut files: Vec<&String> = a
        .sources
        .keys()
        .filter(|f| crate::analyzer::lines::is_user_file(f))
        .collect();
    files.sort();
    let mut found = None;
    for file in files.into_iter().take(256) {
        let Some(src) = a.source(file) else { continue };
        for n in code::call_lines(src, &[class]) {
            let text = src
                .get(n as usize - 1)
                .map(|l| l.trim_start())
                .unwrap_or("");
            if text.starts_with("class ") || text.starts_with("def ") {
                continue;
            }
            if found.is_some() {
                return None;
            }
            found = Some((file.clone(), n));
        }
    }
    found
}

fn running_functions(a: &Analyzer) -> Option<String> {
    let stack = a.last_stack.and_then(|s| a.stacks.get(&s))?;
    let frames: Vec<String> = stack
        .iter()
        .rev()
        .filter_map(|id| a.frames.get(id))
        .filter(|f| crate::analyzer::lines::is_user_file(&f.file) && f.function != "<module>")
        .map(|f| format!("{}() ({}:{})", f.function, short_file(&f.file), f.line))
        .collect();
    (!frames.is_empty()).then(|| frames.join(" → "))
}

fn resources(a: &Analyzer, out: &mut Vec<Finding>) {
    let tr = trend::analyze(&points(&a.fds), MIN_FD_GROWTH);
    if !tr.verdict.is_leak() {
        return;
    }
    let mut details = Vec::new();
    if let Some((_, groups)) = &a.fd_targets {
        let mut g = groups.clone();
        g.sort_by_key(|x| std::cmp::Reverse(x.count));
        for grp in g.iter().take(5) {
            details.push(format!("{} × {} {}", grp.count, grp.kind, grp.pattern));
        }
    }
    let mut holder = None;
    if let Some(last) = a.heap.last.as_ref() {
        for t in RESOURCE_TYPES {
            if let Some(row) = last.types.iter().find(|r| r.name == *t) {
                let first = a
                    .heap
                    .first
                    .as_ref()
                    .and_then(|f| f.types.iter().find(|r| r.name == *t))
                    .map(|r| r.count())
                    .unwrap_or(0);
                if row.count() > first {
                    details.push(format!(
                        "{t} objects: {} → {}",
                        units::count(first),
                        units::count(row.count())
                    ));
                }
            }
        }
        holder = last.containers.iter().find(|c| {
            c.item_type
                .as_deref()
                .is_some_and(|it| RESOURCE_TYPES.contains(&it))
        });
        // held deeper (a list of (id, socket) tuples): the why-alive chain of the growing
        // resource type names the container it passes through
        let mut path = None;
        if holder.is_none() {
            for t in RESOURCE_TYPES {
                let Some(chain) = a.heap.why_alive.get(*t) else {
                    continue;
                };
                let mut held: Vec<&ContainerRow> = last
                    .containers
                    .iter()
                    .filter(|c| chain_reaches(chain, &c.name))
                    .collect();
                // the innermost container on the chain holds them most directly
                held.sort_by_key(|c| std::cmp::Reverse(c.name.len()));
                if let Some(h) = held.first() {
                    holder = Some(h);
                    path = Some(chain.clone());
                    break;
                }
            }
        }
        if let Some(h) = holder {
            details.push(format!(
                "held in {} ({}, {} items)",
                h.name,
                h.type_name,
                units::count(h.len)
            ));
        }
        if let Some(p) = path {
            details.push(format!("kept alive by: {p}"));
        }
    }
    let (file, line) = resource_line(a, holder);
    let lines = file.as_deref().and_then(|f| a.source(f));
    let current_code = match (lines, line) {
        (Some(src), Some(n)) => Some(code::snippet(src, n, 2, 2)),
        _ => None,
    };
    let evidence = format!(
        "open file descriptors {} → {}, {}/min over {:.0} s (verdict {}, confidence {})",
        tr.first as u64,
        tr.last as u64,
        rate(tr.slope_per_min()),
        tr.window_s(),
        tr.verdict.label(),
        confidence(&tr),
    );
    let line_text = match (lines, line) {
        (Some(src), Some(n)) => src.get(n as usize - 1).cloned(),
        _ => None,
    };
    let mut f = Finding {
        id: "UnclosedResource:fds".into(),
        severity: Severity::Important,
        name: holder
            .map(|h| h.name.clone())
            .unwrap_or_else(|| "open file descriptors".into()),
        file,
        line,
        evidence,
        details,
        trend: Some(tr),
        first_seen: a.now,
        current_code,
        ..Finding::blank(Kind::UnclosedResource)
    };
    text::explain_resource(&mut f, line_text.as_deref());
    out.push(f);
}

/// Where descriptors are opened and not closed: an `open(…)`/`socket(…)`/`connect(…)` call
/// outside a `with`, in the function that fills the holder if one is known, among the program's
/// own lines that ran; else the line the fd count rose on.
fn resource_line(a: &Analyzer, holder: Option<&ContainerRow>) -> (Option<String>, Option<u32>) {
    let opens = |t: &str| {
        let t = t.trim();
        !t.starts_with("with ")
            && !t.starts_with('#')
            && [
                "open(",
                "socket(",
                "socketpair(",
                "create_connection(",
                ".accept(",
                ".connect(",
                "urlopen(",
                "Popen(",
                "TemporaryFile(",
                "mkstemp(",
            ]
            .iter()
            .any(|p| t.contains(p))
    };
    // the function that puts descriptors into the holder
    let holder_fn = holder.and_then(|h| {
        let file = h.file.clone().or_else(|| module_file(a, &h.name))?;
        let src = a.source(&file)?;
        let n = container_line(src, h)?;
        code::enclosing_def(src, n).map(|(d, _)| (file, d, n))
    });
    if let Some((file, def, n)) = &holder_fn
        && let Some(src) = a.source(file)
        && let Some(i) = (*def..=*n)
            .rev()
            .find(|&i| src.get(i as usize - 1).is_some_and(|t| opens(t)))
    {
        return (Some(file.clone()), Some(i));
    }
    // lines that ran and open something
    let mut ran: Vec<_> = a
        .lines
        .lines
        .iter()
        .filter(|(_, l)| l.inclusive.occurrences > 0)
        .filter_map(|(id, l)| {
            let fr = a.frames.get(id)?;
            let text = a.source(&fr.file)?.get(fr.line as usize - 1)?;
            (crate::analyzer::lines::is_user_file(&fr.file) && opens(text))
                .then_some((fr, l.inclusive.occurrences))
        })
        .collect();
    ran.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.line.cmp(&y.0.line)));
    if let Some((fr, _)) = ran.first() {
        return (Some(fr.file.clone()), Some(fr.line));
    }
    let best = a
        .lines
        .lines
        .iter()
        .filter(|(_, l)| l.user.fd_increment > 0)
        .max_by_key(|(id, l)| (l.user.fd_increment, std::cmp::Reverse(**id)));
    match best.and_then(|(id, _)| a.frames.get(id)) {
        Some(fr) => (Some(fr.file.clone()), Some(fr.line)),
        None => (None, None),
    }
}

fn large_allocations(a: &Analyzer, out: &mut Vec<Finding>) {
    let peak = a.rss.max.map(|m| m.1).unwrap_or(0.0);
    let mut lines: Vec<_> = a
        .lines
        .lines
        .iter()
        // charged to the program's own line, even when the bytes were allocated inside a
        // library call it made (f.read() allocates in codecs)
        .filter(|(_, l)| {
            l.user.increment_kib >= LARGE_LINE_KIB
                && l.user.increment_kib as f64 >= peak * 0.1
                // a jump, not a slow climb: megabytes between two samples
                && l.user.max_jump_kib >= LARGE_JUMP_KIB
        })
        .filter_map(|(id, l)| Some((a.frames.get(id)?, l)))
        .collect();
    lines.sort_by(|x, y| {
        y.1.user
            .increment_kib
            .cmp(&x.1.user.increment_kib)
            .then(x.0.file.cmp(&y.0.file))
            .then(x.0.line.cmp(&y.0.line))
    });
    // a leak's holder is its finding: a large line does not stand in for it
    let leak_named = out.iter().any(|f| {
        f.severity == Severity::Important
            && matches!(
                f.kind,
                Kind::UnboundedContainer
                    | Kind::GlobalAccumulation
                    | Kind::MutableDefault
                    | Kind::TypeGrowth
                    | Kind::NativeGrowth
            )
    });
    for (fr, l) in lines.into_iter().take(3) {
        let src = a.source(&fr.file);
        let text_line = src.and_then(|s| s.get(fr.line as usize - 1)).cloned();
        // smell 4 is loading a whole input where it could be streamed; a large temporary
        // of numeric code (allocated, used, freed) is not it
        let whole = text_line.as_deref().is_some_and(text::reads_whole);
        if !whole && leak_named {
            continue;
        }
        let severity = if whole {
            Severity::Important
        } else {
            Severity::Suggestion
        };
        let evidence = format!(
            "{}:{} in {}(): RSS rose by up to {} between two samples while this line ran, {} in all over {} samples; RSS {} at its last sample, peak {}",
            fr.file,
            fr.line,
            fr.function,
            units::kib(l.user.max_jump_kib as f64),
            units::signed_kib(l.user.increment_kib as f64),
            l.user.occurrences,
            units::kib(l.user.last_rss_kib as f64),
            units::kib(peak),
        );
        let mut f = Finding {
            id: format!("LargeAllocation:{}:{}", fr.file, fr.line),
            severity,
            name: format!("{}:{}", short_file(&fr.file), fr.line),
            file: Some(fr.file.clone()),
            line: Some(fr.line),
            evidence,
            first_seen: a.now,
            current_code: src.map(|s| code::snippet(s, fr.line, 2, 2)),
            ..Finding::blank(Kind::LargeAllocation)
        };
        text::explain_large_line(&mut f, text_line.as_deref(), &fr.function);
        out.push(f);
    }
    if let Some(last) = a.heap.last.as_ref() {
        // a large buffer (an array's data) is a finding when something named holds it: an
        // unnamed one is a temporary of numeric code, or a leak whose holder is named
        let buffer = |t: &str| NATIVE_BUFFER_TYPES.contains(&t);
        for o in last
            .largest
            .iter()
            .filter(|o| o.bytes >= LARGE_OBJECT && (o.name.is_some() || !buffer(&o.type_name)))
            .take(2)
        {
            let name = o
                .name
                .clone()
                .unwrap_or_else(|| format!("{} at {:#x}", o.type_name, o.addr));
            let evidence = format!(
                "a single {} of {}{} ({})",
                o.type_name,
                units::bytes(o.bytes as f64),
                o.len
                    .map(|n| format!(", length {}", units::count(n)))
                    .unwrap_or_default(),
                name
            );
            let mut f = Finding {
                id: format!("LargeAllocation:object:{name}"),
                severity: Severity::Important,
                name,
                evidence,
                first_seen: a.now,
                ..Finding::blank(Kind::LargeAllocation)
            };
            text::explain_large_object(&mut f, &o.type_name);
            out.push(f);
        }
    }
}

/// Types whose size is mostly a buffer outside the object (see `heap::native`).
const NATIVE_BUFFER_TYPES: &[&str] = &["numpy.ndarray", "array.array", "_io.BytesIO", "mmap.mmap"];

/// Smallest RSS rise that can be native growth, and the largest share of it Python objects
/// may explain.
const MIN_NATIVE_GROWTH_KIB: f64 = 16.0 * 1024.0;
const NATIVE_EXPLAINED_MAX: f64 = 0.5;
/// Bytes the allocator spends per Python object beyond `sys.getsizeof` (about): half of
/// pymalloc's 16-byte rounding; a debug build adds three words of guard bytes and size, and
/// rounds the larger blocks.
const ALLOC_OVERHEAD: f64 = 8.0;
const ALLOC_OVERHEAD_DEBUG: f64 = 40.0;

/// RSS that grows while the censuses' Python bytes do not: memory that C code holds (a C
/// extension's mallocs, buffers the census cannot size), named by the lines charged with it.
fn native_growth(a: &Analyzer, out: &mut Vec<Finding>) {
    // the whole watch (the trend looks at its last points only: spread them over it)
    let rss = spread(&points(&a.rss), trend::MAX_POINTS);
    let Some(&(_, rss_first)) = rss.first() else {
        return;
    };
    let tr = trend::analyze(&rss, MIN_NATIVE_GROWTH_KIB.max(rss_first * 0.2));
    if !tr.verdict.is_leak() || tr.slope_per_s <= 0.0 {
        return;
    }
    // what the censuses saw over the same time: without two of them nothing explains anything
    let py: Vec<(Micros, f64)> = points(&a.heap.total_bytes)
        .into_iter()
        .filter(|p| p.0 >= tr.from && p.0 <= tr.to)
        .collect();
    let (Some(&(t0, py0)), Some(&(t1, py1))) = (py.first(), py.last()) else {
        return;
    };
    if t1 <= t0 {
        return;
    }
    let rss_at = |t: Micros| {
        rss.iter()
            .min_by_key(|p| p.0.abs_diff(t))
            .map(|p| p.1)
            .unwrap_or(0.0)
    };
    let grew_kib = rss_at(t1) - rss_at(t0);
    if grew_kib < MIN_NATIVE_GROWTH_KIB {
        return;
    }
    // the allocator's cost per object, which sys.getsizeof does not count: pymalloc's
    // rounding to 16 bytes, and in a debug build its guard bytes and size word on top
    let objs: Vec<(Micros, f64)> = points(&a.heap.total_objects)
        .into_iter()
        .filter(|p| p.0 >= t0 && p.0 <= t1)
        .collect();
    let new_objects = match (objs.first(), objs.last()) {
        (Some(a0), Some(a1)) => (a1.1 - a0.1).max(0.0),
        _ => 0.0,
    };
    let debug = a.info.as_ref().is_some_and(|i| i.debug_build);
    let per_object = if debug {
        ALLOC_OVERHEAD_DEBUG
    } else {
        ALLOC_OVERHEAD
    };
    let share = ((py1 - py0 + new_objects * per_object) / 1024.0 / grew_kib).clamp(0.0, 1.0);
    if share > NATIVE_EXPLAINED_MAX {
        return;
    }
    // the lines of the program charged with the growth
    let secs = a.duration_secs().max(1.0);
    // (on evidence: growth charged to a sleeping line only because nothing else was seen
    // running is not where it grew)
    let mut lines: Vec<_> = a
        .lines
        .lines
        .iter()
        .filter(|(_, l)| l.user.seen_running_kib() as f64 >= grew_kib * 0.02)
        .filter_map(|(id, l)| Some((a.frames.get(id)?, l)))
        .collect();
    // the line where growth comes with the fewest samples first: a line that allocates grows
    // memory whenever it is caught running; a line the thread waits on (a sleep seen as
    // running) is charged a little at each of its many samples
    let density = |l: &crate::analyzer::lines::LineStat| {
        l.user.seen_running_kib() as f64 / l.user.occurrences.max(1) as f64
    };
    // a line seen once (an import at start-up that took the first interval's growth) is no
    // evidence of where memory keeps growing, while another line is
    if lines.iter().any(|l| l.1.user.occurrences >= 2) {
        lines.retain(|l| l.1.user.occurrences >= 2);
    }
    lines.sort_by(|x, y| {
        density(y.1)
            .total_cmp(&density(x.1))
            .then(x.0.file.cmp(&y.0.file))
            .then(x.0.line.cmp(&y.0.line))
    });
    let explained = format!("Python objects explain {:.0} %", share * 100.0);
    // a line is named only when growth clearly comes with it: at least two samples, and at
    // four times the growth per sample of the watch as a whole (sampling catches a C
    // allocation only when it takes time; a line merely waited on gets the average)
    let overall = grew_kib / a.samples_with_stack.max(1) as f64;
    let top = lines
        .first()
        .filter(|(_, l)| l.user.occurrences >= 2 && density(l) >= 4.0 * overall);
    let evidence = format!(
        "RSS {} → {}, {}/s over {:.0} s while the censuses' Python objects grew by {} ({explained}; verdict {}, confidence {}){}",
        units::kib(tr.first),
        units::kib(tr.last),
        units::signed_kib(tr.slope_per_s),
        tr.window_s(),
        units::signed_kib((py1 - py0) / 1024.0),
        tr.verdict.label(),
        confidence(&tr),
        top.map(|(fr, l)| format!(
            "; charged to {}:{} {}(): {}/s",
            short_file(&fr.file),
            fr.line,
            fr.function,
            units::signed_kib(l.user.seen_running_kib() as f64 / secs)
        ))
        .unwrap_or_else(|| {
            "; no line of the program stands out (the growth is spread over the lines sampled: the allocation is too quick to be caught)".into()
        }),
    );
    let candidates = if top.is_some() {
        ""
    } else {
        "candidate, weak evidence: "
    };
    let details: Vec<String> = lines
        .iter()
        .take(3)
        .map(|(fr, l)| {
            format!(
                "{candidates}{}:{} in {}(): {} in all ({}/s), {} samples",
                fr.file,
                fr.line,
                fr.function,
                units::signed_kib(l.user.seen_running_kib() as f64),
                units::signed_kib(l.user.seen_running_kib() as f64 / secs),
                l.user.occurrences
            )
        })
        .collect();
    let (file, line) = match top {
        Some((fr, _)) => (Some(fr.file.clone()), Some(fr.line)),
        None => (None, None),
    };
    let name = match top {
        Some((fr, _)) => format!("{}:{}", short_file(&fr.file), fr.line),
        None => "native memory".to_string(),
    };
    let src = file.as_deref().and_then(|f| a.source(f));
    let text_line = match (src, line) {
        (Some(s), Some(n)) => s.get(n as usize - 1).cloned(),
        _ => None,
    };
    let mut f = Finding {
        id: "NativeGrowth".into(),
        severity: Severity::Important,
        name,
        file,
        line,
        evidence,
        details,
        trend: Some(tr),
        first_seen: a.now,
        current_code: match (src, line) {
            (Some(s), Some(n)) => Some(code::snippet(s, n, 2, 2)),
            _ => None,
        },
        ..Finding::blank(Kind::NativeGrowth)
    };
    text::explain_native_growth(
        &mut f,
        text_line.as_deref(),
        top.map(|t| t.0.function.as_str()),
        share,
    );
    out.push(f);
}

/// Whether a why-alive chain (`__main__ → ._BACKGROUND set → … Task → ._context Context`)
/// passes through the holder named `holder` (`__main__._BACKGROUND`).
fn chain_reaches(chain: &str, holder: &str) -> bool {
    let mut parts = chain.split(" → ");
    let Some(mut name) = parts
        .next()
        .map(|root| root.strip_prefix("module ").unwrap_or(root).to_string())
    else {
        return false;
    };
    for p in parts.take(64) {
        let hop = p.split(' ').next().unwrap_or("");
        if !(hop.starts_with('.') || hop.starts_with('[')) {
            break;
        }
        name.push_str(hop);
        if name == holder {
            return true;
        }
        if !holder.starts_with(&name) {
            break;
        }
    }
    false
}

/// One leak, one finding: RSS growth charged to a line that the large-allocation finding
/// already names (a whole input read again and again, whose freed pages the allocator keeps)
/// is that finding's evidence, not a second finding.
fn fold_native_into_large(out: &mut Vec<Finding>) {
    let Some(ni) = out
        .iter()
        .position(|f| f.kind == Kind::NativeGrowth && f.line.is_some())
    else {
        return;
    };
    let Some(li) = out.iter().position(|f| {
        f.kind == Kind::LargeAllocation && f.file == out[ni].file && f.line == out[ni].line
    }) else {
        return;
    };
    let native = out.remove(ni);
    let li = if li > ni { li - 1 } else { li };
    out[li].details.push(format!(
        "resident memory kept growing with it: {}",
        native.evidence
    ));
}

/// At most `n` of `pts`, evenly spaced over them (the last kept).
fn spread(pts: &[(Micros, f64)], n: usize) -> Vec<(Micros, f64)> {
    if pts.len() <= n || n < 2 {
        return pts.to_vec();
    }
    let step = (pts.len() - 1) as f64 / (n - 1) as f64;
    (0..n)
        .map(|i| pts[((i as f64 * step).round() as usize).min(pts.len() - 1)])
        .collect()
}

fn short_file(f: &str) -> &str {
    f.rsplit('/').next().unwrap_or(f)
}

fn string_churn(a: &Analyzer, out: &mut Vec<Finding>) {
    let total = a.samples_with_stack.max(1);
    let min = (total / 50).max(20);
    for (id, l) in &a.lines.lines {
        if l.own.occurrences < min {
            continue;
        }
        let Some(fr) = a.frames.get(id) else { continue };
        let Some(src) = a.source(&fr.file) else {
            continue;
        };
        let Some(var) = code::string_append(src, fr.line) else {
            continue;
        };
        // the loop may be the function's own or a caller's up the sampled stack (a method
        // that appends, run by its caller once per row)
        let looped_by = if code::in_loop(src, fr.line) {
            None
        } else {
            match caller_in_loop(a, *id) {
                Some(c) => Some(c),
                None => continue,
            }
        };
        let share = l.own.occurrences as f64 / total as f64 * 100.0;
        let evidence = match &looped_by {
            None => format!(
                "{}:{} in {}(): `{var} += …` inside a loop, running in {:.0}% of the samples ({} of {})",
                fr.file, fr.line, fr.function, share, l.own.occurrences, total
            ),
            Some(c) => format!(
                "{}:{} in {}(): `{var} += …`, called in a loop at {c}, running in {:.0}% of the samples ({} of {})",
                fr.file, fr.line, fr.function, share, l.own.occurrences, total
            ),
        };
        let mut f = Finding {
            id: format!("StringChurn:{}:{}", fr.file, fr.line),
            severity: Severity::Suggestion,
            name: format!("{}:{}", short_file(&fr.file), fr.line),
            file: Some(fr.file.clone()),
            line: Some(fr.line),
            evidence,
            first_seen: a.now,
            current_code: Some(code::snippet(src, fr.line, 3, 1)),
            ..Finding::blank(Kind::StringChurn)
        };
        text::explain_string_churn(&mut f, &var, src, fr.line);
        out.push(f);
    }
}

/// The first caller of `line` (up the sampled stacks where it is the innermost frame, at
/// most 8 frames up) whose line is inside a loop of its function: `file:line in function()`.
fn caller_in_loop(a: &Analyzer, line: FrameId) -> Option<String> {
    let mut stacks: Vec<&Vec<FrameId>> = a
        .stacks
        .values()
        .filter(|st| st.first() == Some(&line))
        .collect();
    // the same answer whatever the map's order
    stacks.sort();
    for st in stacks.into_iter().take(64) {
        for caller in st.iter().skip(1).take(8) {
            let Some(fr) = a.frames.get(caller) else {
                break;
            };
            if let Some(src) = a.source(&fr.file)
                && code::in_loop(src, fr.line)
            {
                return Some(format!(
                    "{}:{} in {}()",
                    short_file(&fr.file),
                    fr.line,
                    fr.function
                ));
            }
        }
    }
    None
}

fn cycles(a: &Analyzer, out: &mut Vec<Finding>) {
    let Some((_, cy, gc)) = a.heap.last_cycles.as_ref() else {
        return;
    };
    if cy.patterns.is_empty() {
        return;
    }
    // garbage that piles up (gc off or rarely run) is a leak; garbage the gc keeps
    // collecting is churn
    let garbage: Vec<(Micros, f64)> = a
        .heap
        .censuses_garbage
        .iter()
        .map(|&(t, n)| (t, n as f64))
        .collect();
    let tr = trend::analyze(&garbage, 100.0);
    // With the gc collecting (enabled, a first threshold above 0), cyclic garbage piles up
    // between full collections by design: a full collection waits until the objects that
    // survived the younger ones reach a quarter of the old generation, so over a short watch
    // garbage can rise at every look and still be collected. It accumulates only if it never
    // fell between two looks and outgrew that allowance, with room for the youngest
    // generation's own garbage: half the GC's objects.
    let collecting = gc.enabled && gc.thresholds[0] > 0;
    let never_fell = garbage.windows(2).all(|w| w[1].1 >= w[0].1);
    let tracked: u64 = gc.generation_objects[..3].iter().sum();
    let accumulating = if collecting {
        tr.verdict.is_leak() && never_fell && cy.objects.saturating_mul(2) > tracked
    } else {
        cy.objects > 0
    };
    let severity = if accumulating {
        Severity::Important
    } else {
        Severity::Suggestion
    };
    // the noise floor: garbage left once (a help formatter at start-up, an import's
    // leftovers) is the same few objects at every census; churn shows as garbage that comes
    // and goes. Until two censuses have looked, or while the garbage stands still and is
    // small, there is nothing to suggest
    let comes_and_goes = comes_and_goes(&garbage);
    if !accumulating && !comes_and_goes && cy.objects < ONE_OFF_GARBAGE_MAX {
        return;
    }
    for p in cy.patterns.iter().take(3) {
        let evidence = format!(
            "{} objects ({}) unreachable except through each other: {}; gc {}{}",
            units::count(p.objects),
            units::bytes(p.bytes as f64),
            p.edges.join(", "),
            if gc.enabled { "enabled" } else { "DISABLED" },
            if accumulating {
                format!(
                    ", cyclic garbage {} → {} over {:.0} s",
                    units::count(tr.first as u64),
                    units::count(tr.last as u64),
                    tr.window_s()
                )
            } else {
                ", collected as it comes".to_string()
            }
        );
        let mut f = Finding {
            id: format!("Cycles:{}", p.name),
            severity,
            name: p.name.clone(),
            evidence,
            details: vec![format!(
                "gc thresholds {}/{}/{}, generation counts {}/{}/{}",
                gc.thresholds[0],
                gc.thresholds[1],
                gc.thresholds[2],
                gc.counts[0],
                gc.counts[1],
                gc.counts[2]
            )],
            trend: accumulating.then_some(tr.clone()),
            first_seen: a.now,
            ..Finding::blank(Kind::Cycles)
        };
        // where the back-reference is made: the class's source, if the census knows it
        if let Some((file, line)) = class_attribute_line(a, p) {
            f.current_code = a.source(&file).map(|s| code::snippet(s, line, 2, 2));
            f.file = Some(file);
            f.line = Some(line);
        }
        text::explain_cycle(&mut f, p, accumulating, gc.enabled);
        out.push(f);
    }
}

/// Does cyclic garbage come and go between the graph's looks: two different non-zero counts,
/// or garbage again after a look that found none? One-off garbage (the same few objects at
/// every look until a collection takes them) does neither.
fn comes_and_goes(garbage: &[(Micros, f64)]) -> bool {
    let mut nonzero: Option<f64> = None;
    let mut seen_zero = false;
    for &(_, n) in garbage {
        if n <= 0.0 {
            seen_zero |= nonzero.is_some();
            continue;
        }
        if seen_zero || nonzero.is_some_and(|was| was != n) {
            return true;
        }
        nonzero = Some(n);
    }
    false
}

/// The line where the first attribute edge of a cycle pattern is assigned.
fn class_attribute_line(
    a: &Analyzer,
    p: &crate::heap::census::CyclePattern,
) -> Option<(String, u32)> {
    let last = a.heap.last.as_ref()?;
    let attr = p.attributes.first()?;
    for (_, file) in &last.modules {
        if let Some(src) = a.source(file)
            && let Some(n) = code::mutation_lines(src, &format!(".{attr}"))
                .into_iter()
                .chain(assign_lines(src, attr))
                .next()
        {
            return Some((file.clone(), n));
        }
    }
    None
}

/// Lines `x.attr = …` (plain attribute assignment).
fn assign_lines(src: &[String], attr: &str) -> Vec<u32> {
    let pat = format!(".{attr} =");
    src.iter()
        .enumerate()
        .filter(|(_, l)| l.contains(&pat) && !l.contains(&format!("{pat}=")))
        .map(|(i, _)| i as u32 + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(kind: Kind, line: u32, evidence: &str) -> Finding {
        Finding {
            id: format!("{kind:?}:{line}"),
            file: Some("/srv/app.py".into()),
            line: Some(line),
            evidence: evidence.into(),
            ..Finding::blank(kind)
        }
    }

    #[test]
    fn garbage_comes_and_goes_only_when_it_comes_back_or_changes() {
        let g = |v: &[f64]| -> Vec<(Micros, f64)> {
            v.iter()
                .enumerate()
                .map(|(i, &n)| (i as Micros, n))
                .collect()
        };
        // churn: collected, then back; or different amounts at two looks
        assert!(comes_and_goes(&g(&[240.0, 0.0, 180.0])));
        assert!(comes_and_goes(&g(&[0.0, 240.0, 180.0])));
        // one-off: the same objects until a collection takes them, or none before
        assert!(!comes_and_goes(&g(&[40.0, 40.0, 0.0, 0.0])));
        assert!(!comes_and_goes(&g(&[0.0, 0.0, 40.0, 40.0])));
        assert!(!comes_and_goes(&g(&[40.0])));
    }

    #[test]
    fn native_growth_at_a_large_allocations_line_is_its_evidence() {
        let mut out = vec![
            at(Kind::NativeGrowth, 71, "RSS 40 MiB → 180 MiB"),
            at(Kind::GlobalAccumulation, 78, ""),
            at(Kind::LargeAllocation, 71, "read whole"),
        ];
        fold_native_into_large(&mut out);
        let kinds: Vec<Kind> = out.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [Kind::GlobalAccumulation, Kind::LargeAllocation]);
        assert_eq!(
            out[1].details,
            ["resident memory kept growing with it: RSS 40 MiB → 180 MiB"]
        );
    }

    #[test]
    fn a_chain_through_a_holder_reaches_it() {
        let chain = "module __main__ → ._BACKGROUND set → (key) _asyncio.Task → ._context _contextvars.Context";
        assert!(chain_reaches(chain, "__main__._BACKGROUND"));
        assert!(!chain_reaches(chain, "__main__._BACK"));
        assert!(!chain_reaches(chain, "other._BACKGROUND"));
        let nested = "app → .bus EventBus → ._listeners list → [3] function";
        assert!(chain_reaches(nested, "app.bus._listeners"));
    }

    #[test]
    fn a_closure_holder_is_filled_through_its_variable() {
        let src: Vec<String> = [
            "def make_recorder():",
            "    seen = []",
            "    def record(value):",
            "        seen.append(value)",
            "    return record",
        ]
        .iter()
        .map(|l| l.to_string())
        .collect();
        let mut row = ContainerRow {
            name: "__main__.record.__closure__[0]".into(),
            type_name: "list".into(),
            aliases: vec!["__main__.make_recorder.<locals>.seen".into()],
            ..Default::default()
        };
        assert_eq!(container_line(&src, &row), Some(4));
        // without the variable's name, no line is guessed
        row.aliases.clear();
        assert_eq!(container_line(&src, &row), None);
    }

    #[test]
    fn a_warning_registry_is_filled_by_the_modules_one_warn_call() {
        let lines = |v: &[&str]| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        let row = ContainerRow {
            name: "app.__warningregistry__".into(),
            type_name: "dict".into(),
            ..Default::default()
        };
        let one = lines(&[
            "import warnings",
            "log.warn('not this')",
            "warnings.warn('slow %d' % i)  # here",
        ]);
        assert_eq!(container_line(&one, &row), Some(3));
        // two candidates: no line is guessed
        let two = lines(&["warnings.warn('a')", "warn('b')"]);
        assert_eq!(container_line(&two, &row), None);
    }

    #[test]
    fn a_name_lives_in_the_longest_module_it_starts_with() {
        let c = crate::heap::census::Census {
            modules: vec![
                ("app".into(), "/srv/app/__init__.py".into()),
                ("app.events".into(), "/srv/app/events.py".into()),
                ("app.ev".into(), "/srv/app/ev.py".into()),
            ],
            ..Default::default()
        };
        assert_eq!(
            c.module_file("app.events.EventBus._listeners"),
            Some("/srv/app/events.py")
        );
        assert_eq!(c.module_file("app.CACHE"), Some("/srv/app/__init__.py"));
        assert_eq!(c.module_file("apple.CACHE"), None);
        assert_eq!(c.module_file("app"), None);
    }

    #[test]
    fn native_growth_elsewhere_stays_a_finding() {
        let mut out = vec![
            at(Kind::LargeAllocation, 71, ""),
            at(Kind::NativeGrowth, 90, ""),
        ];
        fold_native_into_large(&mut out);
        assert_eq!(out.len(), 2);
    }
}
