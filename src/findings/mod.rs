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
use crate::event::Micros;
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
}

/// Smallest rise in a container's length that can make a finding.
const MIN_CONTAINER_GROWTH: f64 = 64.0;
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
    let census = a.heap.last.as_ref()?;
    census
        .modules
        .iter()
        .filter(|(m, _)| name.starts_with(&format!("{m}.")))
        .max_by_key(|(m, _)| m.len())
        .map(|(_, f)| f.clone())
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
    large_allocations(a, &mut out);
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
        let tr = trend::analyze(&points(&h.count), MIN_CONTAINER_GROWTH);
        if !tr.verdict.is_leak() {
            continue;
        }
        // a bounded deque or lru_cache cannot grow past its bound
        if row.bound.is_some() {
            continue;
        }
        // a holder of open files is the unclosed-resource finding's business
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
            "{}: {}, {} → {} entries, {}/s over {:.0} s ({} → {}, verdict {}, confidence {})",
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
        if !row.aliases.is_empty() {
            details.push(format!("also reachable as {}", row.aliases.join(", ")));
        }
        let current_code = match (lines, line) {
            (Some(src), Some(n)) => Some(code::snippet(src, n, 2, 2)),
            _ => None,
        };
        let mut f = Finding {
            id: format!("{kind:?}:{}", row.name),
            kind,
            severity: Severity::Important,
            name: row.name.clone(),
            title: String::new(),
            file,
            line,
            evidence,
            details,
            trend: Some(tr),
            first_seen: a.now,
            issue: String::new(),
            impact: String::new(),
            current_code,
            fix_title: String::new(),
            fix: String::new(),
            why: String::new(),
            verification: String::new(),
        };
        text::explain_container(&mut f, row, lines);
        out.push(f);
    }
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
        let mut f = Finding {
            id: format!("TypeGrowth:{}", row.name),
            kind: Kind::TypeGrowth,
            severity: Severity::Important,
            name: row.name.clone(),
            title: String::new(),
            file: None,
            line: None,
            evidence,
            details,
            trend: Some(tr),
            first_seen: a.now,
            issue: String::new(),
            impact: String::new(),
            current_code: None,
            fix_title: String::new(),
            fix: String::new(),
            why: String::new(),
            verification: String::new(),
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
        if let Some(h) = holder {
            details.push(format!(
                "held in {} ({}, {} items)",
                h.name,
                h.type_name,
                units::count(h.len)
            ));
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
        kind: Kind::UnclosedResource,
        severity: Severity::Important,
        name: holder
            .map(|h| h.name.clone())
            .unwrap_or_else(|| "open file descriptors".into()),
        title: String::new(),
        file,
        line,
        evidence,
        details,
        trend: Some(tr),
        first_seen: a.now,
        issue: String::new(),
        impact: String::new(),
        current_code,
        fix_title: String::new(),
        fix: String::new(),
        why: String::new(),
        verification: String::new(),
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
            && ["open(", "socket(", ".connect(", "urlopen(", "Popen("]
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
    for (fr, l) in lines.into_iter().take(3) {
        let src = a.source(&fr.file);
        let text_line = src.and_then(|s| s.get(fr.line as usize - 1)).cloned();
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
            kind: Kind::LargeAllocation,
            severity: Severity::Important,
            name: format!("{}:{}", short_file(&fr.file), fr.line),
            title: String::new(),
            file: Some(fr.file.clone()),
            line: Some(fr.line),
            evidence,
            details: Vec::new(),
            trend: None,
            first_seen: a.now,
            issue: String::new(),
            impact: String::new(),
            current_code: src.map(|s| code::snippet(s, fr.line, 2, 2)),
            fix_title: String::new(),
            fix: String::new(),
            why: String::new(),
            verification: String::new(),
        };
        text::explain_large_line(&mut f, text_line.as_deref(), &fr.function);
        out.push(f);
    }
    if let Some(last) = a.heap.last.as_ref() {
        for o in last
            .largest
            .iter()
            .filter(|o| o.bytes >= LARGE_OBJECT)
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
                kind: Kind::LargeAllocation,
                severity: Severity::Important,
                name,
                title: String::new(),
                file: None,
                line: None,
                evidence,
                details: Vec::new(),
                trend: None,
                first_seen: a.now,
                issue: String::new(),
                impact: String::new(),
                current_code: None,
                fix_title: String::new(),
                fix: String::new(),
                why: String::new(),
                verification: String::new(),
            };
            text::explain_large_object(&mut f, &o.type_name);
            out.push(f);
        }
    }
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
        if !code::in_loop(src, fr.line) {
            continue;
        }
        let Some(var) = code::string_append(src, fr.line) else {
            continue;
        };
        let share = l.own.occurrences as f64 / total as f64 * 100.0;
        let evidence = format!(
            "{}:{} in {}(): `{var} += …` inside a loop, running in {:.0}% of the samples ({} of {})",
            fr.file, fr.line, fr.function, share, l.own.occurrences, total
        );
        let mut f = Finding {
            id: format!("StringChurn:{}:{}", fr.file, fr.line),
            kind: Kind::StringChurn,
            severity: Severity::Suggestion,
            name: format!("{}:{}", short_file(&fr.file), fr.line),
            title: String::new(),
            file: Some(fr.file.clone()),
            line: Some(fr.line),
            evidence,
            details: Vec::new(),
            trend: None,
            first_seen: a.now,
            issue: String::new(),
            impact: String::new(),
            current_code: Some(code::snippet(src, fr.line, 3, 1)),
            fix_title: String::new(),
            fix: String::new(),
            why: String::new(),
            verification: String::new(),
        };
        text::explain_string_churn(&mut f, &var, src, fr.line);
        out.push(f);
    }
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
    let accumulating = tr.verdict.is_leak() || (!gc.enabled && cy.objects > 0);
    let severity = if accumulating {
        Severity::Important
    } else {
        Severity::Suggestion
    };
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
            kind: Kind::Cycles,
            severity,
            name: p.name.clone(),
            title: String::new(),
            file: None,
            line: None,
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
            issue: String::new(),
            impact: String::new(),
            current_code: None,
            fix_title: String::new(),
            fix: String::new(),
            why: String::new(),
            verification: String::new(),
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
