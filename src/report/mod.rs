//! Reports: what a session says, built from analyzer state into one serialisable [`Report`],
//! then rendered as text ([`text`]) or JSON (the struct itself, documented in
//! `docs/report-json.md`). The live summary at the end of a watch uses the same builder.

pub mod census;
pub mod layout;
pub mod markdown;
pub mod source;
pub mod text;
pub mod tree;

use serde::Serialize;

use crate::analyzer::Analyzer;
use crate::analyzer::lines::{Counter, FunctionKey, LineStat};
use crate::event::EndReason;
use crate::findings::Finding;

/// How sampled figures are to be read; printed under every line table.
pub const LEGEND: &str = "Sampled figures, not a trace: RSS is read at every sample and each change \
is charged to the line the GIL-holding (or only running) thread was on. Mem usage = RSS at the \
last sample on the line; Increment = sum of the RSS changes charged to it (in a function table, \
including the functions it called); Occurrences = samples on the line. Lines that run for less \
than a sample interval can be missed or share their growth with a neighbour.";

#[derive(Debug, Clone, Default, Serialize)]
pub struct Options {
    pub top: usize,
    /// Show the tables of functions whose name is or ends with this (`Class.method`, `method`).
    pub function: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub session_file: Option<String>,
    pub pid: i32,
    pub command_line: String,
    pub python_version: String,
    pub python_binary: String,
    /// A debug build of CPython.
    pub debug_build: bool,
    /// Where the target lived when it was not memwatch's own root (chroot, container): the
    /// root as memwatch saw it, its own mount namespace, its PID in its own PID namespace.
    pub target_root: Option<crate::target::TargetRoot>,
    pub start_unix: f64,
    pub duration_s: f64,
    /// `interrupted`, `duration`, `target_exited`, or null when the session has no end record.
    pub end_reason: Option<String>,
    pub end_description: Option<String>,
    pub exit_code: Option<i32>,
    pub exit_signal: Option<i32>,
    pub rate_hz: f64,
    pub achieved_rate_hz: f64,
    pub samples: u64,
    pub samples_with_stack: u64,
    /// Probes of the line clock recorded (around changes of RSS, between samples).
    pub probes: u64,
    pub dropped_samples: u64,
    pub rss_start_bytes: Option<u64>,
    pub rss_peak_bytes: Option<u64>,
    pub rss_peak_at_s: Option<f64>,
    pub rss_end_bytes: Option<u64>,
    pub uss_end_bytes: Option<u64>,
    pub pss_end_bytes: Option<u64>,
    pub fds_start: Option<u64>,
    pub fds_peak: Option<u64>,
    pub fds_end: Option<u64>,
    /// RSS change that happened while no Python stack could be read.
    pub unattributed_bytes: i64,
    /// Where the resident memory is, at the last rollup (None: no rollup).
    pub memory: Option<Breakdown>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LineRow {
    pub file: String,
    pub line: u32,
    pub function: String,
    pub increment_bytes: i64,
    pub mem_usage_bytes: u64,
    pub occurrences: u64,
    pub fd_increment: i64,
    pub contents: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableRow {
    pub line: u32,
    /// Null for lines never sampled.
    pub mem_usage_bytes: Option<u64>,
    pub increment_bytes: Option<i64>,
    pub occurrences: u64,
    pub fd_increment: i64,
    pub contents: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionTable {
    pub function: String,
    pub file: String,
    pub first_line: u32,
    pub last_line: u32,
    /// Inclusive: everything charged while the function was on the stack.
    pub increment_bytes: i64,
    /// Charged while it was the innermost frame.
    pub own_increment_bytes: i64,
    pub occurrences: u64,
    pub source_available: bool,
    pub lines: Vec<TableRow>,
}

/// A type's change from the first census to the last.
#[derive(Debug, Clone, Serialize)]
pub struct TypeChange {
    pub name: String,
    pub count_first: u64,
    pub count_last: u64,
    pub bytes_first: u64,
    pub bytes_last: u64,
    pub size_exact: bool,
}

/// A named container's change from the first census to the last.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerChange {
    pub name: String,
    pub type_name: String,
    pub len_first: u64,
    pub len_last: u64,
    pub bytes_first: u64,
    pub bytes_last: u64,
    pub bound: Option<u64>,
    pub file: Option<String>,
}

/// What the heap censuses of a session say.
#[derive(Debug, Clone, Serialize)]
pub struct HeapReport {
    pub censuses: u64,
    pub first_at_s: f64,
    pub last_at_s: f64,
    pub pause_median_ms: f64,
    pub pause_max_ms: f64,
    pub objects_first: u64,
    pub objects_last: u64,
    pub bytes_first: u64,
    pub bytes_last: u64,
    /// Some census was taken without pausing or met inconsistencies.
    pub approximate: bool,
    pub gc: crate::heap::census::GcState,
    /// By bytes at the last census.
    pub types: Vec<TypeChange>,
    /// By length at the last census.
    pub containers: Vec<ContainerChange>,
    pub largest: Vec<crate::heap::census::LargeObject>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub legend: &'static str,
    pub top_lines: Vec<LineRow>,
    /// The same for the program's own code: a line that called into the standard library or
    /// a package is charged with what the call did.
    pub top_user_lines: Vec<LineRow>,
    pub functions: Vec<FunctionTable>,
    pub heap: Option<HeapReport>,
    /// What memwatch said about the watch itself, with the time it was said (`at 0.0 s: no
    /// heap census: …`): the heap section's notes are those of its last census.
    pub notes: Vec<String>,
    /// Findings, Important first.
    pub findings: Vec<crate::findings::Finding>,
    pub warnings: Vec<String>,
}

const KIB: i64 = 1024;

fn bytes_u(kib: f64) -> u64 {
    (kib.max(0.0) as u64).saturating_mul(1024)
}

/// Does a function named `name` (qualname on 3.11+, bare name before) match `wanted`?
pub fn function_matches(name: &str, wanted: &str) -> bool {
    name == wanted || name.ends_with(&format!(".{wanted}")) || wanted.ends_with(&format!(".{name}"))
}

/// Where the resident memory is: the last rollup's RSS split by what holds it. Python
/// objects (with the buffers the census sizes) are the last census's bytes; they live in the
/// heap and anonymous mappings, and the rest of those is native memory.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Breakdown {
    pub at_s: f64,
    pub rss_bytes: u64,
    /// None: no census (`--no-heap`, or none succeeded).
    pub python_objects_bytes: Option<u64>,
    /// Heap and anonymous memory that the census's objects do not account for: C
    /// allocations, buffers the census cannot size, allocator free space.
    pub native_bytes: u64,
    pub malloc_heap_bytes: u64,
    pub anonymous_bytes: u64,
    pub file_mapped_bytes: u64,
    pub stack_bytes: u64,
}

pub fn breakdown(a: &Analyzer) -> Option<Breakdown> {
    let (t, r) = a.last_rollup?;
    // a rollup from before the breakdown existed has no split
    if r.heap_kib + r.anon_kib + r.file_kib + r.stack_kib == 0 {
        return None;
    }
    let python = a
        .heap
        .last
        .as_ref()
        .map(|c| c.gc_bytes.saturating_add(c.other_bytes));
    let heap_anon = (r.heap_kib + r.anon_kib) * 1024;
    Some(Breakdown {
        at_s: t.saturating_sub(a.rss.first.map(|f| f.0).unwrap_or(0)) as f64 / 1e6,
        rss_bytes: r.rss_kib * 1024,
        python_objects_bytes: python,
        native_bytes: heap_anon.saturating_sub(python.unwrap_or(0)),
        malloc_heap_bytes: r.heap_kib * 1024,
        anonymous_bytes: r.anon_kib * 1024,
        file_mapped_bytes: r.file_kib * 1024,
        stack_bytes: r.stack_kib * 1024,
    })
}

pub fn summary(a: &Analyzer, session_file: Option<String>) -> Summary {
    let info = a.info.clone().unwrap_or_default();
    let duration = a.duration_secs();
    let (end_reason, end_description, exit_code, exit_signal) = match &a.end {
        None => (None, None, None, None),
        Some((_, r)) => {
            let kind = match r {
                EndReason::Interrupted => "interrupted",
                EndReason::Duration => "duration",
                EndReason::TargetExited { .. } => "target_exited",
            };
            let (c, s) = match r {
                EndReason::TargetExited { code, signal } => (*code, *signal),
                _ => (None, None),
            };
            (Some(kind.to_string()), Some(r.to_string()), c, s)
        }
    };
    Summary {
        session_file,
        pid: info.pid,
        command_line: info.command_line,
        python_version: info.python_version,
        python_binary: info.python_binary,
        debug_build: info.debug_build,
        target_root: info.target_root,
        start_unix: info.start_unix,
        duration_s: duration,
        end_reason,
        end_description,
        exit_code,
        exit_signal,
        rate_hz: info.rate_hz,
        achieved_rate_hz: match (a.rss.first, a.rss.last) {
            (Some((t0, _)), Some((t1, _))) if t1 > t0 && a.samples > 1 => {
                (a.samples - 1) as f64 / ((t1 - t0) as f64 / 1e6)
            }
            _ => 0.0,
        },
        samples: a.samples,
        samples_with_stack: a.samples_with_stack,
        probes: a.probes,
        dropped_samples: a.dropped,
        rss_start_bytes: a.rss.first.map(|(_, v)| bytes_u(v)),
        rss_peak_bytes: a.rss.max.map(|(_, v)| bytes_u(v)),
        rss_peak_at_s: a
            .rss
            .max
            .map(|(t, _)| t.saturating_sub(a.rss.first.map(|f| f.0).unwrap_or(0)) as f64 / 1e6),
        rss_end_bytes: a.rss.last.map(|(_, v)| bytes_u(v)),
        uss_end_bytes: a.last_rollup.map(|(_, r)| r.uss_kib * 1024),
        pss_end_bytes: a.last_rollup.map(|(_, r)| r.pss_kib * 1024),
        fds_start: a.fds.first.map(|(_, v)| v as u64),
        fds_peak: a.fds.max.map(|(_, v)| v as u64),
        fds_end: a.fds.last.map(|(_, v)| v as u64),
        unattributed_bytes: a.lines.unattributed_kib * KIB,
        memory: breakdown(a),
    }
}

/// The lines with the largest own increment, best first.
pub fn top_lines(a: &Analyzer, n: usize) -> Vec<LineRow> {
    top_lines_by(a, n, |l| &l.own)
}

/// The lines of the program's own code with the largest increment, work done in library
/// calls charged to the line that made them (see [`crate::analyzer::lines::is_user_file`]).
pub fn top_user_lines(a: &Analyzer, n: usize) -> Vec<LineRow> {
    top_lines_by(a, n, |l| &l.user)
}

fn top_lines_by(a: &Analyzer, n: usize, counter: impl Fn(&LineStat) -> &Counter) -> Vec<LineRow> {
    let mut rows: Vec<LineRow> = a
        .lines
        .lines
        .iter()
        .map(|(id, l)| (id, counter(l)))
        .filter(|(_, c)| c.occurrences > 0 || c.increment_kib != 0)
        .filter_map(|(id, c)| {
            let f = a.frames.get(id)?;
            Some(LineRow {
                file: f.file.clone(),
                line: f.line,
                function: f.function.clone(),
                increment_bytes: c.increment_kib * KIB,
                mem_usage_bytes: c.last_rss_kib * 1024,
                occurrences: c.occurrences,
                fd_increment: c.fd_increment,
                contents: a.line_text(&f.file, f.line).map(|s| s.trim().to_string()),
            })
        })
        .collect();
    rows.sort_by(|x, y| {
        y.increment_bytes
            .cmp(&x.increment_bytes)
            .then(y.occurrences.cmp(&x.occurrences))
            .then(x.file.cmp(&y.file))
            .then(x.line.cmp(&y.line))
    });
    rows.truncate(n);
    rows
}

/// The functions to show tables for: those matching `wanted`, or (up to `n`) those of the
/// program's own lines that grew most, then those with the largest own increment, the
/// program's own functions before library ones (whose source is often not at hand, and whose
/// growth the calling line's table shows too).
pub fn chosen_functions(a: &Analyzer, wanted: Option<&str>, n: usize) -> Vec<FunctionKey> {
    let mut funcs: Vec<(&FunctionKey, i64, u64)> = a
        .lines
        .functions()
        .map(|(k, f)| (k, f.own.increment_kib, f.inclusive.occurrences))
        .collect();
    let user = |k: &FunctionKey| crate::analyzer::lines::is_user_file(&k.file);
    funcs.sort_by(|x, y| {
        user(y.0)
            .cmp(&user(x.0))
            .then(y.1.cmp(&x.1))
            .then(y.2.cmp(&x.2))
            .then(x.0.cmp(y.0))
    });
    if let Some(w) = wanted {
        return funcs
            .into_iter()
            .filter(|(k, _, _)| function_matches(&k.function, w))
            .map(|(k, _, _)| k.clone())
            .collect();
    }
    // first the functions of the program's lines that grew most (a line that grew a lot and
    // a later one that freed it leave a small or negative own total), then by own total
    let mut positive: Vec<FunctionKey> = Vec::new();
    for row in top_user_lines(a, n * 4) {
        if row.increment_bytes <= 0 || positive.len() >= n {
            break;
        }
        let key = FunctionKey {
            file: row.file,
            function: row.function,
        };
        if !positive.contains(&key) {
            positive.push(key);
        }
    }
    for (k, _, _) in funcs.iter().filter(|(_, inc, _)| *inc > 0) {
        if positive.len() >= n {
            break;
        }
        if !positive.contains(k) {
            positive.push((*k).clone());
        }
    }
    if !positive.is_empty() {
        return positive;
    }
    funcs
        .into_iter()
        .take(1)
        .map(|(k, _, _)| k.clone())
        .collect()
}

/// The memory_profiler table of one function.
pub fn function_table(a: &Analyzer, key: &FunctionKey) -> Option<FunctionTable> {
    let stat = a.lines.function(key)?;
    let (lo, hi) = stat.lines.unwrap_or((1, 1));
    let mut per_line: std::collections::BTreeMap<u32, LineStat> = Default::default();
    for (id, l) in &a.lines.lines {
        if let Some(f) = a.frames.get(id)
            && f.file == key.file
            && f.function == key.function
        {
            let e = per_line.entry(f.line).or_default();
            e.inclusive.increment_kib += l.inclusive.increment_kib;
            e.inclusive.occurrences += l.inclusive.occurrences;
            e.inclusive.fd_increment += l.inclusive.fd_increment;
            e.inclusive.last_rss_kib = e.inclusive.last_rss_kib.max(l.inclusive.last_rss_kib);
        }
    }
    let src = a.source(&key.file);
    let (first, last) = match src {
        Some(lines) => source::function_range(lines, &key.function, lo, hi),
        None => (lo, hi),
    };
    let rows = (first..=last)
        .filter(|n| src.is_some() || per_line.contains_key(n))
        .map(|n| {
            let l = per_line.get(&n);
            let sampled =
                l.filter(|l| l.inclusive.occurrences > 0 || l.inclusive.increment_kib != 0);
            TableRow {
                line: n,
                mem_usage_bytes: sampled
                    .filter(|l| l.inclusive.occurrences > 0)
                    .map(|l| l.inclusive.last_rss_kib * 1024),
                increment_bytes: sampled.map(|l| l.inclusive.increment_kib * KIB),
                occurrences: l.map(|l| l.inclusive.occurrences).unwrap_or(0),
                fd_increment: l.map(|l| l.inclusive.fd_increment).unwrap_or(0),
                contents: src
                    .and_then(|s| s.get(n as usize - 1))
                    .map(|s| s.trim_end().to_string()),
            }
        })
        .collect();
    Some(FunctionTable {
        function: key.function.clone(),
        file: key.file.clone(),
        first_line: first,
        last_line: last,
        increment_bytes: stat.inclusive.increment_kib * KIB,
        own_increment_bytes: stat.own.increment_kib * KIB,
        occurrences: stat.inclusive.occurrences,
        source_available: src.is_some(),
        lines: rows,
    })
}

/// The heap section: first and last census side by side.
pub fn heap_report(a: &Analyzer, top: usize) -> Option<HeapReport> {
    let h = &a.heap;
    let (first, last) = (h.first.as_ref()?, h.last.as_ref()?);
    let t0 = a.rss.first.map(|f| f.0).unwrap_or(0);
    let secs = |t: u64| t.saturating_sub(t0) as f64 / 1e6;
    let first_types: std::collections::HashMap<&str, &crate::heap::census::TypeRow> =
        first.types.iter().map(|t| (t.name.as_str(), t)).collect();
    let types = last
        .types
        .iter()
        .take(top)
        .map(|t| {
            let f = first_types.get(t.name.as_str());
            TypeChange {
                name: t.name.clone(),
                count_first: f.map(|f| f.count()).unwrap_or(0),
                count_last: t.count(),
                bytes_first: f.map(|f| f.bytes()).unwrap_or(0),
                bytes_last: t.bytes(),
                size_exact: t.size_exact,
            }
        })
        .collect();
    let first_conts: std::collections::HashMap<&str, &crate::heap::census::ContainerRow> = first
        .containers
        .iter()
        .map(|c| (c.name.as_str(), c))
        .collect();
    // the holders of the most memory first (a short list of big arrays before a long one
    // of small strings)
    let mut by_bytes: Vec<&crate::heap::census::ContainerRow> = last.containers.iter().collect();
    by_bytes.sort_by(|x, y| {
        (y.shallow_bytes + y.items_bytes)
            .cmp(&(x.shallow_bytes + x.items_bytes))
            .then(y.len.cmp(&x.len))
            .then(x.name.cmp(&y.name))
    });
    let containers = by_bytes
        .into_iter()
        .take(top)
        .map(|c| {
            let f = first_conts.get(c.name.as_str());
            ContainerChange {
                name: c.name.clone(),
                type_name: c.type_name.clone(),
                len_first: f.map(|f| f.len).unwrap_or(0),
                len_last: c.len,
                bytes_first: f.map(|f| f.shallow_bytes + f.items_bytes).unwrap_or(0),
                bytes_last: c.shallow_bytes + c.items_bytes,
                bound: c.bound,
                file: c.file.clone(),
            }
        })
        .collect();
    let mut pauses: Vec<f64> = h.pauses.points().iter().map(|p| p.last).collect();
    pauses.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let notes: Vec<String> = last.notes.clone();
    Some(HeapReport {
        censuses: h.censuses,
        first_at_s: secs(first.t),
        last_at_s: secs(last.t),
        pause_median_ms: pauses.get(pauses.len() / 2).copied().unwrap_or(0.0) / 1000.0,
        pause_max_ms: h.pauses.max.map(|m| m.1).unwrap_or(0.0) / 1000.0,
        objects_first: first.gc_objects + first.other_objects,
        objects_last: last.gc_objects + last.other_objects,
        bytes_first: first.gc_bytes + first.other_bytes,
        bytes_last: last.gc_bytes + last.other_bytes,
        approximate: first.approximate || last.approximate,
        gc: last.gc.clone(),
        types,
        containers,
        largest: last.largest.iter().take(top).cloned().collect(),
        notes,
    })
}

pub fn build(
    a: &Analyzer,
    opts: &Options,
    session_file: Option<String>,
    warnings: Vec<String>,
) -> Report {
    let top = opts.top.max(1);
    let functions = chosen_functions(a, opts.function.as_deref(), top.min(3))
        .iter()
        .filter_map(|k| function_table(a, k))
        .collect();
    Report {
        summary: summary(a, session_file),
        legend: LEGEND,
        top_lines: top_lines(a, top),
        top_user_lines: top_user_lines(a, top),
        functions,
        heap: heap_report(a, top),
        notes: a
            .notes
            .iter()
            .map(|(t, n)| {
                let t0 = a.rss.first.map(|f| f.0).unwrap_or(0);
                format!("at {:.1} s: {n}", t.saturating_sub(t0) as f64 / 1e6)
            })
            .collect(),
        findings: {
            let mut f = a.findings.clone();
            f.sort_by(|x, y| {
                x.severity
                    .cmp(&y.severity)
                    .then(x.first_seen.cmp(&y.first_seen))
                    .then(x.id.cmp(&y.id))
            });
            f
        },
        warnings,
    }
}

/// Leave the program's source out of `r` (`--no-source`, for a report meant for sharing):
/// the contents of every line row and table row, and of the findings what
/// [`strip_finding_source`] removes. Names, files and line numbers stay: they are what the
/// report is about. `line_text` gives the text of a line of the program (the analyzer's).
pub fn strip_source(r: &mut Report, line_text: &dyn Fn(&str, u32) -> Option<String>) {
    for row in r.top_lines.iter_mut().chain(r.top_user_lines.iter_mut()) {
        row.contents = None;
    }
    for t in r.functions.iter_mut() {
        t.source_available = false;
        for row in t.lines.iter_mut() {
            row.contents = None;
        }
    }
    for f in r.findings.iter_mut() {
        strip_finding_source(f, line_text);
    }
}

/// A finding without the program's source: no current code, and its line's text, which some
/// findings quote (`data = f.read()` in a large allocation's issue, the line where native
/// memory grows), replaced by `line N`; a resource finding's fix, made from the `open(…)`
/// call on its line, is the generic one.
pub fn strip_finding_source(f: &mut Finding, line_text: &dyn Fn(&str, u32) -> Option<String>) {
    f.current_code = None;
    let (Some(file), Some(n)) = (&f.file, f.line) else {
        return;
    };
    let Some(code) = line_text(file, n) else {
        return;
    };
    let code = code.trim();
    if code.is_empty() {
        return;
    }
    let quoted = format!("`{code}`");
    let stand_in = format!("line {n}");
    for s in [
        &mut f.issue,
        &mut f.impact,
        &mut f.evidence,
        &mut f.fix,
        &mut f.why,
        &mut f.verification,
    ]
    .into_iter()
    .chain(f.details.iter_mut())
    {
        if s.contains(code) {
            *s = s.replace(&quoted, &stand_in).replace(code, &stand_in);
        }
    }
    if f.kind == crate::findings::Kind::UnclosedResource {
        crate::findings::text::explain_resource(f, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{Kind, Severity};

    fn finding(kind: Kind, line: &str) -> Finding {
        let mut f = Finding {
            id: "x".into(),
            kind,
            severity: Severity::Important,
            name: "app.py:12".into(),
            title: String::new(),
            file: Some("/srv/app.py".into()),
            line: Some(12),
            evidence: "RSS rose".into(),
            details: Vec::new(),
            trend: None,
            first_seen: 0,
            issue: String::new(),
            impact: String::new(),
            current_code: Some(format!("def load():\n    {line}\n")),
            fix_title: String::new(),
            fix: String::new(),
            why: String::new(),
            verification: String::new(),
            processes: Vec::new(),
        };
        match kind {
            Kind::LargeAllocation => {
                crate::findings::text::explain_large_line(&mut f, Some(line), "load")
            }
            Kind::UnclosedResource => crate::findings::text::explain_resource(&mut f, Some(line)),
            _ => {
                crate::findings::text::explain_native_growth(&mut f, Some(line), Some("load"), 0.0)
            }
        }
        f
    }

    #[test]
    fn no_source_removes_the_line_findings_quote() {
        for (kind, line) in [
            (Kind::LargeAllocation, "data = secret_feed.read()"),
            (
                Kind::UnclosedResource,
                "conn = secret_open('/srv/secret.log')",
            ),
            (Kind::NativeGrowth, "buf = secret_decode(frame)"),
        ] {
            let mut f = finding(kind, line);
            let all = |f: &Finding| serde_json::to_string(f).unwrap();
            assert!(all(&f).contains("secret"), "{kind:?} quotes its line");
            strip_finding_source(&mut f, &|file, n| {
                (file == "/srv/app.py" && n == 12).then(|| format!("    {line}"))
            });
            assert!(!all(&f).contains("secret"), "{kind:?}: {}", all(&f));
            assert!(f.current_code.is_none());
        }
    }
}
