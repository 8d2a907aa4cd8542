//! A [`Diff`] for people: text in aligned columns (as `memwatch report` prints), and Markdown
//! tables that paste into a GitHub job summary or an issue. The JSON is the struct itself.
//! Renders only what the diff holds: never reads a file, never recomputes a figure.

use std::fmt::Write;

use super::{About, ContainerDelta, Diff, LineDelta, Presence, Table, TypeDelta};
use crate::units;

fn signed_count(v: i64) -> String {
    match v.cmp(&0) {
        std::cmp::Ordering::Greater => format!("+{}", units::count(v.unsigned_abs())),
        std::cmp::Ordering::Less => format!("-{}", units::count(v.unsigned_abs())),
        std::cmp::Ordering::Equal => "0".into(),
    }
}

fn signed_bytes(v: i64) -> String {
    if v > 0 {
        format!("+{}", units::bytes(v as f64))
    } else {
        units::bytes(v as f64)
    }
}

/// A figure of one side; `—` where the side does not have the row.
fn count_or_dash(v: Option<u64>) -> String {
    v.map(units::count).unwrap_or_else(|| "—".into())
}

fn bytes_or_dash(v: Option<u64>) -> String {
    v.map(|b| units::bytes(b as f64))
        .unwrap_or_else(|| "—".into())
}

fn increment_or_dash(v: Option<i64>) -> String {
    v.map(signed_bytes).unwrap_or_else(|| "—".into())
}

fn presence_mark(p: Presence) -> &'static str {
    match p {
        Presence::Both => "",
        Presence::New => " — new",
        Presence::Gone => " — gone",
    }
}

/// `python3 app.py — PID 4242, CPython 3.12.1 — from 2026-11-23 22:47:00, 6.0 s`
fn identity(a: &About) -> String {
    let mut parts = Vec::new();
    parts.push(
        a.command_line
            .clone()
            .unwrap_or_else(|| "(command not recorded)".into()),
    );
    let mut proc = Vec::new();
    if let Some(pid) = a.pid {
        proc.push(format!("PID {pid}"));
    }
    if let Some(v) = &a.python_version {
        proc.push(format!("CPython {v}"));
    }
    if a.processes > 1 {
        proc.push(format!("{} processes", a.processes));
    }
    if !proc.is_empty() {
        parts.push(proc.join(", "));
    }
    let when = match (a.time_unix, a.duration_s) {
        (Some(t), Some(d)) => Some(format!(
            "from {}, {}",
            crate::timefmt::local_human(t),
            units::duration(d)
        )),
        (Some(t), None) => Some(format!("taken {}", crate::timefmt::local_human(t))),
        (None, Some(d)) => Some(units::duration(d)),
        (None, None) => None,
    };
    parts.extend(when);
    parts.join(" — ")
}

/// `23,456 objects, 3.4 MiB (census at 5.1 s)`
fn heap_figures(a: &About) -> String {
    match (a.objects, a.heap_bytes) {
        (Some(n), Some(b)) => format!(
            "{} objects, {}{}",
            units::count(n),
            units::bytes(b as f64),
            a.census_at_s
                .map(|t| format!(" (census at {t:.1} s)"))
                .unwrap_or_default()
        ),
        _ => "no census".into(),
    }
}

fn opt_delta(a: Option<u64>, b: Option<u64>, fmt: fn(i64) -> String) -> Option<String> {
    Some(fmt(super::delta(a?, b?)))
}

fn section_title(what: &str, order: &str, t: &Table<impl Sized>, top: usize) -> String {
    format!(
        "{what}, {order} ({} of {} changed{})",
        units::count(t.changed as u64),
        units::count(t.compared as u64),
        if t.changed > top {
            format!("; the first {top}")
        } else {
            String::new()
        }
    )
}

pub fn text(d: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "memwatch diff — A: {} → B: {}", d.a.file, d.b.file);
    for (label, a) in [("A", &d.a), ("B", &d.b)] {
        let _ = writeln!(out, "  {label}: {} {}", a.kind.label(), a.file);
        let _ = writeln!(out, "     {}", identity(a));
    }
    let rss_delta = opt_delta(d.a.rss_bytes, d.b.rss_bytes, signed_bytes)
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  RSS:   {} → {}{rss_delta}",
        bytes_or_dash(d.a.rss_bytes),
        bytes_or_dash(d.b.rss_bytes)
    );
    let heap_delta = match (
        opt_delta(d.a.objects, d.b.objects, signed_count),
        opt_delta(d.a.heap_bytes, d.b.heap_bytes, signed_bytes),
    ) {
        (Some(n), Some(b)) => format!(" ({n} objects, {b})"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "  Heap:  {} → {}{heap_delta}",
        heap_figures(&d.a),
        heap_figures(&d.b)
    );
    for w in &d.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    for n in &d.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    let _ = writeln!(out);
    if let Some(t) = &d.containers {
        containers_text(&mut out, t, d.top);
    }
    if let Some(t) = &d.types {
        types_text(&mut out, t, d.top);
    }
    if let Some(t) = &d.lines {
        lines_text(&mut out, t, d.top);
    }
    out
}

fn containers_text(out: &mut String, t: &Table<ContainerDelta>, top: usize) {
    if t.rows.is_empty() {
        let _ = writeln!(
            out,
            "Named containers: no container changed ({} compared)\n",
            units::count(t.compared as u64)
        );
        return;
    }
    let _ = writeln!(
        out,
        "{}:",
        section_title(
            "Named containers at the last census of each",
            "by growth in bytes",
            t,
            top
        )
    );
    let _ = writeln!(
        out,
        "  {:>11} {:>11} {:>11}  {:>11} {:>11} {:>11}  Name",
        "Length A", "Length B", "Δ", "Bytes A", "Bytes B", "Δ"
    );
    for r in &t.rows {
        let mut name = format!("{} ({})", r.name, r.type_name);
        if let Some(f) = &r.file {
            let _ = write!(name, " [{f}]");
        }
        let _ = writeln!(
            out,
            "  {:>11} {:>11} {:>11}  {:>11} {:>11} {:>11}  {name}{}",
            count_or_dash(r.len_a),
            count_or_dash(r.len_b),
            signed_count(r.len_delta),
            bytes_or_dash(r.bytes_a),
            bytes_or_dash(r.bytes_b),
            signed_bytes(r.bytes_delta),
            presence_mark(r.presence)
        );
    }
    let _ = writeln!(out);
}

fn types_text(out: &mut String, t: &Table<TypeDelta>, top: usize) {
    if t.rows.is_empty() {
        let _ = writeln!(
            out,
            "Types: no type changed ({} compared)\n",
            units::count(t.compared as u64)
        );
        return;
    }
    let _ = writeln!(
        out,
        "{}:",
        section_title(
            "Types at the last census of each",
            "by growth in bytes",
            t,
            top
        )
    );
    let _ = writeln!(
        out,
        "  {:>11} {:>11} {:>11}  {:>11} {:>11} {:>11}  Type",
        "Objects A", "Objects B", "Δ", "Bytes A", "Bytes B", "Δ"
    );
    for r in &t.rows {
        let _ = writeln!(
            out,
            "  {:>11} {:>11} {:>11}  {:>11} {:>11} {:>11}  {}{}",
            count_or_dash(r.objects_a),
            count_or_dash(r.objects_b),
            signed_count(r.objects_delta),
            bytes_or_dash(r.bytes_a),
            bytes_or_dash(r.bytes_b),
            signed_bytes(r.bytes_delta),
            r.name,
            presence_mark(r.presence)
        );
    }
    let _ = writeln!(out);
}

fn lines_text(out: &mut String, t: &Table<LineDelta>, top: usize) {
    if t.rows.is_empty() {
        let _ = writeln!(
            out,
            "Lines: no line's increment changed ({} compared)\n",
            units::count(t.compared as u64)
        );
        return;
    }
    let _ = writeln!(
        out,
        "{}:",
        section_title(
            "Lines, sampled increment over each session (own lines)",
            "by growth",
            t,
            top
        )
    );
    let _ = writeln!(
        out,
        "  {:>12} {:>12} {:>12}  {:<28}  Line Contents",
        "Increment A", "Increment B", "Δ", "Location (function)"
    );
    for r in &t.rows {
        let loc = format!(
            "{} ({}){}",
            crate::report::text::location(&r.file, r.line),
            r.function,
            presence_mark(r.presence)
        );
        let row = format!(
            "  {:>12} {:>12} {:>12}  {:<28}  {}",
            increment_or_dash(r.increment_a),
            increment_or_dash(r.increment_b),
            signed_bytes(r.delta),
            loc,
            r.contents.as_deref().unwrap_or("")
        );
        let _ = writeln!(out, "{}", row.trim_end());
    }
    let _ = writeln!(out);
}

/// Text in a Markdown table cell: pipes escaped, line breaks flattened.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// A name or a line of code in a cell, as code when it has no backtick of its own.
fn code(s: &str) -> String {
    if s.contains('`') || s.is_empty() {
        cell(s)
    } else {
        format!("`{}`", cell(s))
    }
}

fn md_presence(p: Presence) -> &'static str {
    match p {
        Presence::Both => "",
        Presence::New => " **new**",
        Presence::Gone => " **gone**",
    }
}

fn md_title(out: &mut String, what: &str, order: &str, t: &Table<impl Sized>, top: usize) {
    let _ = writeln!(
        out,
        "### {what}\n\n{} of {} changed, {order}{}.\n",
        units::count(t.changed as u64),
        units::count(t.compared as u64),
        if t.changed > top {
            format!("; the first {top}")
        } else {
            String::new()
        }
    );
}

pub fn markdown(d: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## memwatch diff: {} → {}\n",
        code(&d.a.file),
        code(&d.b.file)
    );
    let _ = writeln!(out, "| | A | B | Δ |\n|---|---|---|--:|");
    let row = |out: &mut String, what: &str, a: String, b: String, delta: Option<String>| {
        let _ = writeln!(
            out,
            "| {what} | {a} | {b} | {} |",
            delta.unwrap_or_default()
        );
    };
    row(
        &mut out,
        "What",
        format!("{} {}", d.a.kind.label(), code(&d.a.file)),
        format!("{} {}", d.b.kind.label(), code(&d.b.file)),
        None,
    );
    let opt = |v: &Option<String>| v.as_deref().map(code).unwrap_or_else(|| "—".into());
    row(
        &mut out,
        "Command",
        opt(&d.a.command_line),
        opt(&d.b.command_line),
        None,
    );
    let py = |a: &About| {
        a.python_version
            .as_ref()
            .map(|v| format!("CPython {}", cell(v)))
            .unwrap_or_else(|| "—".into())
    };
    row(&mut out, "Python", py(&d.a), py(&d.b), None);
    let pid = |a: &About| {
        let mut s = a.pid.map(|p| p.to_string()).unwrap_or_else(|| "—".into());
        if a.processes > 1 {
            let _ = write!(s, " ({} processes, summed)", a.processes);
        }
        s
    };
    row(&mut out, "PID", pid(&d.a), pid(&d.b), None);
    let time = |a: &About| {
        a.time_unix
            .map(crate::timefmt::local_human)
            .unwrap_or_else(|| "—".into())
    };
    row(&mut out, "Time", time(&d.a), time(&d.b), None);
    let dur = |a: &About| {
        a.duration_s
            .map(units::duration)
            .unwrap_or_else(|| "—".into())
    };
    row(&mut out, "Duration", dur(&d.a), dur(&d.b), None);
    row(
        &mut out,
        "RSS",
        bytes_or_dash(d.a.rss_bytes),
        bytes_or_dash(d.b.rss_bytes),
        opt_delta(d.a.rss_bytes, d.b.rss_bytes, signed_bytes),
    );
    row(
        &mut out,
        "Heap objects",
        count_or_dash(d.a.objects),
        count_or_dash(d.b.objects),
        opt_delta(d.a.objects, d.b.objects, signed_count),
    );
    row(
        &mut out,
        "Heap bytes",
        bytes_or_dash(d.a.heap_bytes),
        bytes_or_dash(d.b.heap_bytes),
        opt_delta(d.a.heap_bytes, d.b.heap_bytes, signed_bytes),
    );
    let _ = writeln!(out);
    for w in &d.warnings {
        let _ = writeln!(out, "> **Warning**: {}\n", cell(w));
    }
    for n in &d.notes {
        let _ = writeln!(out, "> Note: {}\n", cell(n));
    }
    if let Some(t) = &d.containers {
        md_title(&mut out, "Named containers", "by growth in bytes", t, d.top);
        if !t.rows.is_empty() {
            let _ = writeln!(
                out,
                "| Container | Type | Length A | Length B | Δ length | Bytes A | Bytes B | Δ bytes |\n|---|---|--:|--:|--:|--:|--:|--:|"
            );
            for r in &t.rows {
                let _ = writeln!(
                    out,
                    "| {}{} | {} | {} | {} | {} | {} | {} | {} |",
                    code(&r.name),
                    md_presence(r.presence),
                    cell(&r.type_name),
                    count_or_dash(r.len_a),
                    count_or_dash(r.len_b),
                    signed_count(r.len_delta),
                    bytes_or_dash(r.bytes_a),
                    bytes_or_dash(r.bytes_b),
                    signed_bytes(r.bytes_delta)
                );
            }
            let _ = writeln!(out);
        }
    }
    if let Some(t) = &d.types {
        md_title(&mut out, "Types", "by growth in bytes", t, d.top);
        if !t.rows.is_empty() {
            let _ = writeln!(
                out,
                "| Type | Objects A | Objects B | Δ objects | Bytes A | Bytes B | Δ bytes |\n|---|--:|--:|--:|--:|--:|--:|"
            );
            for r in &t.rows {
                let _ = writeln!(
                    out,
                    "| {}{} | {} | {} | {} | {} | {} | {} |",
                    code(&r.name),
                    md_presence(r.presence),
                    count_or_dash(r.objects_a),
                    count_or_dash(r.objects_b),
                    signed_count(r.objects_delta),
                    bytes_or_dash(r.bytes_a),
                    bytes_or_dash(r.bytes_b),
                    signed_bytes(r.bytes_delta)
                );
            }
            let _ = writeln!(out);
        }
    }
    if let Some(t) = &d.lines {
        md_title(
            &mut out,
            "Lines (sampled increment over each session)",
            "by growth",
            t,
            d.top,
        );
        if !t.rows.is_empty() {
            let _ = writeln!(
                out,
                "| Line | Function | Increment A | Increment B | Δ | Contents |\n|---|---|--:|--:|--:|---|"
            );
            for r in &t.rows {
                let _ = writeln!(
                    out,
                    "| {}{} | {} | {} | {} | {} | {} |",
                    code(&crate::report::text::location(&r.file, r.line)),
                    md_presence(r.presence),
                    code(&r.function),
                    increment_or_dash(r.increment_a),
                    increment_or_dash(r.increment_b),
                    signed_bytes(r.delta),
                    r.contents.as_deref().map(code).unwrap_or_default()
                );
            }
            let _ = writeln!(out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_cells_cannot_break_the_table() {
        assert_eq!(code("a|b"), "`a\\|b`");
        assert_eq!(code("x = `y`"), "x = `y`");
        assert_eq!(cell("one\ntwo"), "one two");
    }

    #[test]
    fn signed_figures() {
        assert_eq!(signed_count(6000), "+6,000");
        assert_eq!(signed_count(-12), "-12");
        assert_eq!(signed_count(0), "0");
        assert_eq!(signed_bytes(2048), "+2 KiB");
        assert_eq!(signed_bytes(3 << 20), "+3.0 MiB");
        assert_eq!(signed_bytes(-500), "-500 B");
    }
}
