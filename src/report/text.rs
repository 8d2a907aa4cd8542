//! The text rendering of a [`Report`]: a header, the top lines, then memory_profiler tables.

use std::fmt::Write;

use super::{FunctionTable, LineRow, Report, Summary};
use crate::units;

pub const TABLE_HEADER: &str = "Line #    Mem usage    Increment  Occurrences   Line Contents";

fn opt_bytes(v: Option<u64>) -> String {
    v.map(|b| units::bytes(b as f64))
        .unwrap_or_else(|| "n/a".into())
}

fn header(out: &mut String, s: &Summary) {
    let _ = writeln!(
        out,
        "memwatch report{}",
        s.session_file
            .as_ref()
            .map(|f| format!(" — {f}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "  Command:   {}", s.command_line);
    let _ = writeln!(
        out,
        "  Python:    CPython {}{} (PID {}, {})",
        s.python_version,
        if s.debug_build { " debug build" } else { "" },
        s.pid,
        s.python_binary
    );
    if let Some(root) = &s.target_root {
        let _ = writeln!(out, "  Target:    {}", root.describe());
    }
    let _ = writeln!(
        out,
        "  Duration:  {} from {}; {}",
        units::duration(s.duration_s),
        crate::timefmt::local_human(s.start_unix),
        s.end_description
            .clone()
            .unwrap_or_else(|| "no end record (memwatch was killed?)".into())
    );
    let _ = writeln!(
        out,
        "  Samples:   {} at {:.1} Hz (asked {:.0} Hz), {} with a Python stack, {} dropped",
        units::count(s.samples),
        s.achieved_rate_hz,
        s.rate_hz,
        units::count(s.samples_with_stack),
        units::count(s.dropped_samples)
    );
    let delta = match (s.rss_start_bytes, s.rss_end_bytes) {
        (Some(a), Some(b)) => format!(
            " ({})",
            if b >= a {
                format!("+{}", units::bytes((b - a) as f64))
            } else {
                format!("-{}", units::bytes((a - b) as f64))
            }
        ),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "  RSS:       start {}, peak {}{}, end {}{}",
        opt_bytes(s.rss_start_bytes),
        opt_bytes(s.rss_peak_bytes),
        s.rss_peak_at_s
            .map(|t| format!(" at {t:.1} s"))
            .unwrap_or_default(),
        opt_bytes(s.rss_end_bytes),
        delta
    );
    if s.uss_end_bytes.is_some() {
        let _ = writeln!(
            out,
            "  USS/PSS:   {} / {} at the last rollup",
            opt_bytes(s.uss_end_bytes),
            opt_bytes(s.pss_end_bytes)
        );
    }
    if let Some(m) = &s.memory {
        let b = |v: u64| units::bytes(v as f64);
        let python = match m.python_objects_bytes {
            Some(p) => format!(
                "Python objects {} (last census), native {}",
                b(p),
                b(m.native_bytes)
            ),
            None => format!(
                "heap and anonymous {} (no census to tell Python objects from native memory)",
                b(m.native_bytes)
            ),
        };
        let _ = writeln!(
            out,
            "  Where:     RSS {} at {:.0} s: {python}, file mappings {}, stacks {}",
            b(m.rss_bytes),
            m.at_s,
            b(m.file_mapped_bytes),
            b(m.stack_bytes)
        );
        let _ = writeln!(
            out,
            "             (malloc heap {}, anonymous mappings {}; native = both, less the Python objects: C allocations, buffers no object sizes, allocator slack)",
            b(m.malloc_heap_bytes),
            b(m.anonymous_bytes)
        );
    }
    if let (Some(a), Some(p), Some(b)) = (s.fds_start, s.fds_peak, s.fds_end) {
        let _ = writeln!(out, "  Open fds:  start {a}, peak {p}, end {b}");
    }
    if s.unattributed_bytes != 0 {
        let _ = writeln!(
            out,
            "  Unattributed: {} changed while no Python stack was readable",
            units::signed_kib(s.unattributed_bytes as f64 / 1024.0)
        );
    }
}

/// `app.py:45`: a line as every report names it (the file's name, not its path).
pub fn location(file: &str, line: u32) -> String {
    let short = std::path::Path::new(file)
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_else(|| file.to_string());
    format!("{short}:{line}")
}

/// One memory_profiler-shaped table.
pub fn function_table(out: &mut String, f: &FunctionTable) {
    let _ = writeln!(
        out,
        "Function {} in {} (lines {}–{}): {} while on the stack, {} in its own lines, {} samples",
        f.function,
        f.file,
        f.first_line,
        f.last_line,
        units::signed_kib(f.increment_bytes as f64 / 1024.0),
        units::signed_kib(f.own_increment_bytes as f64 / 1024.0),
        units::count(f.occurrences)
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "{TABLE_HEADER}");
    let _ = writeln!(out, "{}", "=".repeat(TABLE_HEADER.len()));
    for r in &f.lines {
        let mem = r
            .mem_usage_bytes
            .map(|b| units::mib(b as f64 / 1024.0))
            .unwrap_or_default();
        let inc = r
            .increment_bytes
            .map(|b| units::mib(b as f64 / 1024.0))
            .unwrap_or_default();
        let occ = if r.increment_bytes.is_some() || r.occurrences > 0 {
            r.occurrences.to_string()
        } else {
            String::new()
        };
        let contents = r.contents.as_deref().unwrap_or("<source unavailable>");
        let row = format!(
            "{:>6} {:>12} {:>12}  {:>11}   {}",
            r.line, mem, inc, occ, contents
        );
        let _ = writeln!(out, "{}", row.trim_end());
    }
    let _ = writeln!(out);
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    header(&mut out, &r.summary);
    for w in &r.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    for n in &r.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    let _ = writeln!(out);
    findings_section(&mut out, &r.findings, r.heap.is_some());
    let _ = writeln!(out, "Top lines by increment (own lines, sampled):");
    if r.top_lines.is_empty() {
        let _ = writeln!(out, "  (no Python line was sampled)\n");
    } else {
        top_lines_table(&mut out, &r.top_lines);
    }
    // where library code was innermost, the lines of the program that called it
    let key = |l: &LineRow| (l.file.clone(), l.line);
    let same = r.top_user_lines.len() == r.top_lines.len()
        && r.top_user_lines
            .iter()
            .map(key)
            .eq(r.top_lines.iter().map(key));
    if !r.top_user_lines.is_empty() && !same {
        let _ = writeln!(
            out,
            "Top lines of the program's own code (library calls charged to the line that made them):"
        );
        top_lines_table(&mut out, &r.top_user_lines);
    }
    for f in &r.functions {
        function_table(&mut out, f);
    }
    if let Some(h) = &r.heap {
        heap_section(&mut out, h);
    }
    let _ = writeln!(out, "{}", wrap(r.legend, 100));
    out
}

fn top_lines_table(out: &mut String, rows: &[LineRow]) {
    let _ = writeln!(
        out,
        "  {:>3}  {:>12}  {:>12}  {:>11}  {:<28}  Line Contents",
        "#", "Increment", "Mem usage", "Occurrences", "Location (function)"
    );
    for (i, l) in rows.iter().enumerate() {
        let loc = format!("{} ({})", location(&l.file, l.line), l.function);
        let _ = writeln!(
            out,
            "  {:>3}  {:>12}  {:>12}  {:>11}  {:<28}  {}",
            i + 1,
            units::mib(l.increment_bytes as f64 / 1024.0),
            units::mib(l.mem_usage_bytes as f64 / 1024.0),
            l.occurrences,
            loc,
            l.contents.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(out);
}

fn delta(first: u64, last: u64, fmt: fn(f64) -> String) -> String {
    if last >= first {
        format!("+{}", fmt((last - first) as f64))
    } else {
        format!("-{}", fmt((first - last) as f64))
    }
}

fn count_f(v: f64) -> String {
    units::count(v as u64)
}

fn bytes_f(v: f64) -> String {
    units::bytes(v)
}

/// One line per finding, Important first; the full text is in `--format markdown`. Without a
/// heap census (`heap_examined` false) "none" says what was not examined.
pub fn findings_section(
    out: &mut String,
    findings: &[crate::findings::Finding],
    heap_examined: bool,
) {
    if findings.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            if heap_examined {
                "Findings: none (nothing grew without bound, no cyclic garbage, no leaked fds, no large allocations)"
            } else {
                "Findings: none from RSS, lines and fds (no leaked fds, no large allocations); no heap census was \
                 taken (see the notes), so containers, types and cycles were not examined"
            }
        );
        let _ = writeln!(out);
        return;
    }
    let _ = writeln!(
        out,
        "Findings ({}; the full text with fixes: --format markdown):",
        findings.len()
    );
    for f in findings {
        let _ = writeln!(out, "  {}", finding_line(f));
    }
    let _ = writeln!(out);
}

/// `[Important] Unbounded Cache — app._CACHE (app.py:45): dict, 12 → 48,210 entries, +1.6k/s`
pub fn finding_line(f: &crate::findings::Finding) -> String {
    let loc = match (&f.file, f.line) {
        (Some(file), Some(l)) => format!(
            " ({}:{l})",
            std::path::Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_else(|| file.clone())
        ),
        _ => String::new(),
    };
    // a line finding is named by its location already: say it once
    let loc = if loc
        .trim_start()
        .trim_start_matches('(')
        .trim_end_matches(')')
        == f.name
    {
        String::new()
    } else {
        loc
    };
    // in a process tree, the process(es) it was seen in come first
    let procs = crate::tree::group::processes_phrase(f)
        .map(|p| format!("{p} — "))
        .unwrap_or_default();
    format!(
        "[{}] {} — {procs}{}{}: {}",
        f.severity.label(),
        f.title,
        f.name,
        loc,
        f.evidence
    )
}

/// The heap censuses: types and named containers, first census against last.
pub fn heap_section(out: &mut String, h: &super::HeapReport) {
    let _ = writeln!(
        out,
        "Heap: {} census(es) from {:.1} s to {:.1} s; pause median {:.1} ms, max {:.1} ms{}",
        h.censuses,
        h.first_at_s,
        h.last_at_s,
        h.pause_median_ms,
        h.pause_max_ms,
        if h.approximate { " (approximate)" } else { "" }
    );
    let _ = writeln!(
        out,
        "  objects {} → {} ({}), {} → {} ({}); gc {}, thresholds {}/{}/{}, generations {}/{}/{}",
        units::count(h.objects_first),
        units::count(h.objects_last),
        delta(h.objects_first, h.objects_last, count_f),
        units::bytes(h.bytes_first as f64),
        units::bytes(h.bytes_last as f64),
        delta(h.bytes_first, h.bytes_last, bytes_f),
        if h.gc.enabled { "enabled" } else { "DISABLED" },
        h.gc.thresholds[0],
        h.gc.thresholds[1],
        h.gc.thresholds[2],
        units::count(h.gc.generation_objects[0]),
        units::count(h.gc.generation_objects[1]),
        units::count(h.gc.generation_objects[2]),
    );
    for n in &h.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  {:>11} {:>12}  {:>11} {:>12}  Type (first → last census)",
        "Objects", "Δ", "Bytes", "Δ"
    );
    for t in &h.types {
        let _ = writeln!(
            out,
            "  {:>11} {:>12}  {:>11} {:>12}  {}{}",
            units::count(t.count_last),
            delta(t.count_first, t.count_last, count_f),
            units::bytes(t.bytes_last as f64),
            delta(t.bytes_first, t.bytes_last, bytes_f),
            t.name,
            if t.size_exact {
                ""
            } else {
                " (size approximate)"
            }
        );
    }
    let _ = writeln!(out);
    if !h.containers.is_empty() {
        let _ = writeln!(
            out,
            "  {:>11} {:>12}  {:>11}  Named container (first → last census)",
            "Length", "Δ", "Bytes"
        );
        for c in &h.containers {
            let mut name = format!("{} ({})", c.name, c.type_name);
            if let Some(b) = c.bound {
                let _ = write!(name, ", bounded at {}", units::count(b));
            }
            if let Some(f) = &c.file {
                let _ = write!(name, " [{f}]");
            }
            let _ = writeln!(
                out,
                "  {:>11} {:>12}  {:>11}  {}",
                units::count(c.len_last),
                delta(c.len_first, c.len_last, count_f),
                units::bytes(c.bytes_last as f64),
                name
            );
        }
        let _ = writeln!(out);
    }
}

fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut col = 0;
    for word in text.split_whitespace() {
        if col > 0 && col + 1 + word.len() > width {
            out.push('\n');
            col = 0;
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += word.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::TableRow;

    #[test]
    fn table_is_shaped_like_memory_profiler() {
        let f = FunctionTable {
            function: "load".into(),
            file: "app.py".into(),
            first_line: 45,
            last_line: 45,
            increment_bytes: 0,
            own_increment_bytes: 0,
            occurrences: 312,
            source_available: true,
            lines: vec![TableRow {
                line: 45,
                mem_usage_bytes: Some((180.2 * 1024.0 * 1024.0) as u64),
                increment_bytes: Some(120 * 1024 * 1024),
                occurrences: 312,
                fd_increment: 0,
                contents: Some("    data = f.read()".into()),
            }],
        };
        let mut out = String::new();
        function_table(&mut out, &f);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[2],
            "Line #    Mem usage    Increment  Occurrences   Line Contents"
        );
        assert_eq!(lines[3], "=".repeat(61));
        assert_eq!(
            lines[4],
            "    45    180.2 MiB    120.0 MiB          312       data = f.read()"
        );
    }
}
