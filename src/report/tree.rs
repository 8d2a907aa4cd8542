//! The report of a process tree (`--subprocesses`, several `--pid`s): the tree's total RSS
//! over time, every process with its growth, the workers of one kind grouped, the findings
//! of all processes (one finding for a leak seen in several workers of one kind), then the
//! full report of each process that grew.

use std::fmt::Write;

use serde::Serialize;

use super::{Options, Report};
use crate::findings::Finding;
use crate::tree::TreeAnalyzer;
use crate::tree::group::{self, Group, ProcRow};
use crate::units;

#[derive(Debug, Clone, Serialize)]
pub struct ProcReport {
    pub proc: u32,
    pub pid: i32,
    pub label: String,
    pub grew: bool,
    pub report: Report,
}

#[derive(Debug, Clone, Serialize)]
pub struct TreeReport {
    /// Always `tree` (a single process's report has no such field).
    pub kind: &'static str,
    pub session_file: Option<String>,
    pub duration_s: f64,
    pub processes: Vec<ProcRow>,
    /// Processes seen past the listing cap, counted only.
    pub unlisted: u64,
    /// (seconds, bytes): the sum of the processes' RSS, about 40 points.
    pub total_rss: Vec<(f64, u64)>,
    pub total_rss_peak_bytes: u64,
    pub groups: Vec<Group>,
    /// The tree's findings, each naming its process(es).
    pub findings: Vec<Finding>,
    /// The full report of every sampled process.
    pub reports: Vec<ProcReport>,
    pub warnings: Vec<String>,
}

pub fn build(
    t: &TreeAnalyzer,
    opts: &Options,
    session_file: Option<String>,
    warnings: Vec<String>,
) -> TreeReport {
    let processes: Vec<ProcRow> = t.procs.iter().map(group::proc_row).collect();
    let step = (t.now / 40).max(1_000_000);
    let total: Vec<(u64, u64)> = group::total_rss(t, step);
    let total_rss_peak_bytes = t
        .sampled()
        .map(|_| ())
        .next()
        .map(|_| {
            group::total_rss(t, 250_000)
                .iter()
                .map(|p| p.1)
                .max()
                .unwrap_or(0)
                * 1024
        })
        .unwrap_or(0);
    let reports = t
        .sampled()
        .map(|(p, a)| ProcReport {
            proc: p.def.proc,
            pid: p.def.pid,
            label: p.label(),
            grew: processes.iter().any(|r| r.proc == p.def.proc && r.grew),
            report: super::build(a, opts, session_file.clone(), Vec::new()),
        })
        .collect();
    TreeReport {
        kind: "tree",
        session_file,
        duration_s: t.now as f64 / 1e6,
        processes,
        unlisted: t.unlisted,
        total_rss: total
            .into_iter()
            .map(|(at, kib)| (at as f64 / 1e6, kib * 1024))
            .collect(),
        total_rss_peak_bytes,
        groups: group::groups(t),
        findings: group::findings(t),
        reports,
        warnings,
    }
}

/// Most process rows in the text report.
const MAX_ROWS: usize = 40;

/// The process rows a report lists, and those it only counts: a long list (a pool recycling
/// its workers, a fork storm) is cut to the roots and what grew first, then the others, up
/// to `max`.
pub fn listed_rows(r: &TreeReport, max: usize) -> (Vec<&ProcRow>, Vec<&ProcRow>) {
    let mut order: Vec<&ProcRow> = r.processes.iter().collect();
    order.sort_by_key(|p| (!(p.grew || p.proc == 0), p.not_sampled.is_some(), p.proc));
    let rest = order.split_off(order.len().min(max));
    (order, rest)
}

/// The processes a report only counts, by (listed only, short command line).
pub fn rest_by_command(rest: &[&ProcRow]) -> std::collections::BTreeMap<(bool, String), usize> {
    let mut by: std::collections::BTreeMap<(bool, String), usize> = Default::default();
    for p in rest {
        *by.entry((
            p.not_sampled.is_some(),
            group::short_command(&p.command_line),
        ))
        .or_default() += 1;
    }
    by
}

/// The processes whose report is shown in full: each that grew; if none grew, the first.
pub fn full_reports(r: &TreeReport) -> Vec<&ProcReport> {
    let any_grew = r.reports.iter().any(|p| p.grew);
    r.reports
        .iter()
        .filter(|p| p.grew || (!any_grew && p.proc == 0))
        .collect()
}

fn opt_bytes(v: Option<u64>) -> String {
    v.map(|b| units::bytes(b as f64))
        .unwrap_or_else(|| "n/a".into())
}

fn bar(v: u64, max: u64, width: usize) -> String {
    let n = if max == 0 {
        0
    } else {
        ((v as f64 / max as f64) * width as f64).round() as usize
    };
    "█".repeat(n.min(width))
}

pub fn render_text(r: &TreeReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "memwatch report{} (process tree)",
        r.session_file
            .as_ref()
            .map(|f| format!(" — {f}"))
            .unwrap_or_default()
    );
    let sampled = r
        .processes
        .iter()
        .filter(|p| p.python_version.is_some() && p.not_sampled.is_none())
        .count();
    let root = r.processes.first();
    let _ = writeln!(
        out,
        "  Tree:      {} process(es): {sampled} sampled, {} listed only{}{}",
        r.processes.len(),
        r.processes.len() - sampled,
        if r.unlisted > 0 {
            format!(
                ", {} more seen past the cap of 1024 and not listed",
                r.unlisted
            )
        } else {
            String::new()
        },
        root.map(|p| format!(
            "; first: PID {} `{}`",
            p.pid,
            group::short_command(&p.command_line)
        ))
        .unwrap_or_default()
    );
    let _ = writeln!(out, "  Duration:  {}", units::duration(r.duration_s));
    if let (Some(first), Some(last)) = (r.total_rss.first(), r.total_rss.last()) {
        let _ = writeln!(
            out,
            "  Total RSS: {} → {} (peak {})",
            units::bytes(first.1 as f64),
            units::bytes(last.1 as f64),
            units::bytes(r.total_rss_peak_bytes as f64)
        );
    }
    for w in &r.warnings {
        let _ = writeln!(out, "  warning: {w}");
    }
    let _ = writeln!(out);
    if r.total_rss.len() > 1 {
        let _ = writeln!(out, "Total RSS over time (all processes):");
        let max = r.total_rss.iter().map(|p| p.1).max().unwrap_or(0);
        let every = r.total_rss.len().div_ceil(12).max(1);
        for (i, (s, b)) in r.total_rss.iter().enumerate() {
            if i % every == 0 || i + 1 == r.total_rss.len() {
                let _ = writeln!(
                    out,
                    "  {:>7.1} s  {:>10}  {}",
                    s,
                    units::bytes(*b as f64),
                    bar(*b, max, 40)
                );
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "Processes:");
    let _ = writeln!(
        out,
        "  {:>7} {:>7}  {:>10} → {:<10} {:>11}  {:>8}  Process",
        "PID", "PPID", "RSS start", "end", "Δ/min", "Findings"
    );
    let (shown, rest) = listed_rows(r, MAX_ROWS);
    for p in shown {
        let state = match (&p.not_sampled, p.ended_at_s) {
            (Some(why), _) => format!("  [{why}]"),
            (None, Some(e)) => format!("  [ended at {e:.1} s]"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:>7} {:>7}  {:>10} → {:<10} {:>11}  {:>8}  {}{}{}",
            p.pid,
            p.ppid,
            opt_bytes(p.rss_start_bytes),
            opt_bytes(p.rss_end_bytes),
            p.rss_per_min_bytes
                .map(|v| format!(
                    "{}{}",
                    if v >= 0.0 { "+" } else { "-" },
                    units::bytes(v.abs())
                ))
                .unwrap_or_else(|| "n/a".into()),
            if p.not_sampled.is_some() {
                "-".to_string()
            } else {
                p.findings.to_string()
            },
            p.label,
            if p.grew { "  ← grew" } else { "" },
            state
        );
    }
    if !rest.is_empty() {
        let by = rest_by_command(&rest);
        let _ = writeln!(
            out,
            "  … and {} more (steady or listed only; --format json lists them all):",
            rest.len()
        );
        for ((listed, cmd), n) in by.iter().take(10) {
            let _ = writeln!(
                out,
                "      {n} × `{cmd}`{}",
                if *listed { " (listed only)" } else { "" }
            );
        }
    }
    let _ = writeln!(out);
    if !r.groups.is_empty() {
        let _ = writeln!(out, "Groups:");
        for g in &r.groups {
            let _ = writeln!(out, "  {}", g.summary);
        }
        let _ = writeln!(out);
    }
    let heap_examined = r.reports.iter().any(|p| p.report.heap.is_some());
    super::text::findings_section(&mut out, &r.findings, heap_examined);
    let full = full_reports(r);
    for p in &full {
        let _ = writeln!(out, "════ {} ════", p.label);
        out.push_str(&super::text::render(&p.report));
        let _ = writeln!(out);
    }
    let steady = r.reports.len() - full.len();
    if steady > 0 {
        let _ = writeln!(
            out,
            "{steady} steady process(es) not shown in full (the table above has their figures; \
             --format json has every report)"
        );
    }
    out
}

pub fn render_markdown(r: &TreeReport) -> String {
    let mut out = String::new();
    let first = r.processes.first();
    let _ = writeln!(
        out,
        "# Memory findings: process tree of `{}`\n",
        first.map(|p| p.command_line.as_str()).unwrap_or("")
    );
    let _ = writeln!(
        out,
        "{} processes watched for {}; total RSS {} → {} (peak {}).\n",
        r.processes.len(),
        units::duration(r.duration_s),
        r.total_rss
            .first()
            .map(|p| units::bytes(p.1 as f64))
            .unwrap_or_default(),
        r.total_rss
            .last()
            .map(|p| units::bytes(p.1 as f64))
            .unwrap_or_default(),
        units::bytes(r.total_rss_peak_bytes as f64),
    );
    for g in &r.groups {
        let _ = writeln!(out, "- {}", g.summary);
    }
    let _ = writeln!(out);
    for w in &r.warnings {
        let _ = writeln!(out, "> warning: {w}\n");
    }
    if r.findings.is_empty() {
        let _ = writeln!(out, "No memory smell found in any process of the tree.");
    }
    for f in &r.findings {
        super::markdown::finding(&mut out, f);
    }
    out
}
