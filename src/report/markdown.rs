//! `memwatch report --format markdown`: every finding in the spec's Recommendations Format,
//! after a short header with the figures they rest on.

use std::fmt::Write;

use super::Report;
use crate::findings::Finding;
use crate::units;

fn fence(out: &mut String, code: &str) {
    let _ = writeln!(out, "```python\n{}\n```", code.trim_end());
}

/// One finding, as the spec's Recommendations Format.
pub fn finding(out: &mut String, f: &Finding) {
    let line = f.line.map(|l| format!(" (Line {l})")).unwrap_or_default();
    let _ = writeln!(out, "## {}: {}{}\n", f.severity.label(), f.title, line);
    let _ = writeln!(out, "**Category**: Memory Management");
    let _ = writeln!(out, "**Severity**: {}", f.severity.label());
    let _ = writeln!(out, "**Issue**: {}", f.issue);
    let location = match (&f.file, f.line) {
        (Some(file), Some(l)) => format!("{file}:{l}"),
        (Some(file), None) => file.clone(),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "**Where**: `{}`{}",
        f.name,
        if location.is_empty() {
            String::new()
        } else {
            format!(" — {location}")
        }
    );
    if let Some(p) = crate::tree::group::processes_phrase(f) {
        let _ = writeln!(out, "**Process**: {p}");
    }
    let _ = writeln!(out, "**Evidence**: {}", f.evidence);
    for d in &f.details {
        let _ = writeln!(out, "- {d}");
    }
    let _ = writeln!(out, "\n**Impact**: {}\n", f.impact);
    if let Some(code) = &f.current_code {
        let _ = writeln!(out, "**Current Code**:");
        fence(out, code);
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "**Fix** ({}):", f.fix_title);
    fence(out, &f.fix);
    let _ = writeln!(out, "\n**Why**: {}\n", f.why);
    let _ = writeln!(out, "**Verification**: {}\n", f.verification);
    let _ = writeln!(
        out,
        "**Resources**: See performance/memory-management.md for patterns.\n"
    );
}

pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let s = &r.summary;
    let _ = writeln!(out, "# Memory findings: {}\n", s.command_line);
    let _ = writeln!(
        out,
        "CPython {}{} (PID {}{}), watched for {} — {}. RSS {} → {} (peak {}). {} samples{}.\n",
        s.python_version,
        if s.debug_build { " debug build" } else { "" },
        s.pid,
        s.target_root
            .as_ref()
            .map(|r| format!("; {}", r.describe()))
            .unwrap_or_default(),
        units::duration(s.duration_s),
        s.end_description
            .clone()
            .unwrap_or_else(|| "no end record".into()),
        s.rss_start_bytes
            .map(|b| units::bytes(b as f64))
            .unwrap_or_default(),
        s.rss_end_bytes
            .map(|b| units::bytes(b as f64))
            .unwrap_or_default(),
        s.rss_peak_bytes
            .map(|b| units::bytes(b as f64))
            .unwrap_or_default(),
        units::count(s.samples),
        r.heap
            .as_ref()
            .map(|h| format!(", {} heap censuses", h.censuses))
            .unwrap_or_default()
    );
    for w in &r.warnings {
        let _ = writeln!(out, "> warning: {w}\n");
    }
    for n in &r.notes {
        let _ = writeln!(out, "> note: {n}\n");
    }
    if r.findings.is_empty() && r.heap.is_none() {
        let _ = writeln!(
            out,
            "No memory smell found in RSS, lines and descriptors (no leaked descriptors, no large single allocations). No heap census was taken (see the notes), so containers, types and cycles were not examined."
        );
    } else if r.findings.is_empty() {
        let _ = writeln!(
            out,
            "No memory smell found: nothing grew without bound, no cyclic garbage, no leaked descriptors, no large single allocations."
        );
    }
    for f in &r.findings {
        finding(&mut out, f);
    }
    out
}
