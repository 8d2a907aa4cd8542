//! What a tree's report and dashboard say about its processes: which grew, which do the same
//! work (workers of one kind), the tree's total RSS, and findings merged across the workers
//! of one kind ("one leak, one finding").

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ProcView, TreeAnalyzer};
use crate::analyzer::Analyzer;
use crate::event::{Micros, ProcId};
use crate::findings::Finding;

/// The command line with the program's path shortened to its file name
/// (`/usr/bin/python3 app.py` → `python3 app.py`), whitespace made single spaces.
pub fn without_program_dir(cmd: &str) -> String {
    let mut words = cmd.split_whitespace();
    let first = words.next().unwrap_or("");
    let first = first.rsplit('/').next().unwrap_or(first);
    std::iter::once(first)
        .chain(words)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The command line as a person names it: the interpreter's path shortened to its file name,
/// at most 60 characters.
pub fn short_command(cmd: &str) -> String {
    let mut s = without_program_dir(cmd);
    if s.chars().count() > 60 {
        s = s.chars().take(59).collect::<String>() + "…";
    }
    s
}

/// Processes that do the same work: named processes (roots) each stand alone, the others
/// group by command line (a fork pool's workers share their parent's; gunicorn's name
/// themselves `gunicorn: worker [app]`).
fn kind_of(p: &ProcView) -> (bool, String) {
    (p.is_root(), command_kind(&p.def.command_line))
}

/// A command line with its numbers blanked: spawned workers differ only in the descriptors
/// they are handed (`spawn_main(tracker_fd=5, pipe_handle=11)`).
pub fn command_kind(cmd: &str) -> String {
    let mut out = String::with_capacity(cmd.len());
    let mut in_digits = false;
    for c in cmd.chars() {
        if c.is_ascii_digit() {
            if !in_digits {
                out.push('#');
            }
            in_digits = true;
        } else {
            in_digits = false;
            out.push(c);
        }
    }
    out
}

/// One process's figures for the report and the process list.
#[derive(Debug, Clone, Serialize)]
pub struct ProcRow {
    pub proc: ProcId,
    pub pid: i32,
    pub ppid: i32,
    pub label: String,
    pub command_line: String,
    /// `3.12.1`, or None when it is listed only.
    pub python_version: Option<String>,
    pub not_sampled: Option<String>,
    pub seen_at_s: f64,
    pub ended_at_s: Option<f64>,
    pub rss_start_bytes: Option<u64>,
    pub rss_end_bytes: Option<u64>,
    pub rss_peak_bytes: Option<u64>,
    /// RSS change per minute over the process's watch.
    pub rss_per_min_bytes: Option<f64>,
    pub findings: usize,
    pub important: usize,
    /// It grew: an Important finding, or RSS up by at least 1 MiB and 10 %.
    pub grew: bool,
}

fn rss_figures(a: &Analyzer) -> (Option<u64>, Option<u64>, Option<u64>, Option<f64>) {
    let kib = |v: f64| (v.max(0.0) * 1024.0) as u64;
    let first = a.rss.first;
    let last = a.rss.last;
    let per_min = match (first, last) {
        (Some((t0, v0)), Some((t1, v1))) if t1 > t0 + 1_000_000 => {
            Some((v1 - v0) * 1024.0 / ((t1 - t0) as f64 / 60e6))
        }
        _ => None,
    };
    (
        first.map(|f| kib(f.1)),
        last.map(|l| kib(l.1)),
        a.rss.max.map(|m| kib(m.1)),
        per_min,
    )
}

pub fn proc_row(p: &ProcView) -> ProcRow {
    let (start, end, peak, per_min) = p
        .analyzer
        .as_ref()
        .map_or((None, None, None, None), rss_figures);
    let findings = p.analyzer.as_ref().map_or(0, |a| a.findings.len());
    let important = p.analyzer.as_ref().map_or(0, |a| {
        a.findings
            .iter()
            .filter(|f| f.severity == crate::findings::Severity::Important)
            .count()
    });
    let grew_rss =
        matches!((start, end), (Some(s), Some(e)) if e >= s + (1 << 20) && e * 10 >= s * 11);
    ProcRow {
        proc: p.def.proc,
        pid: p.def.pid,
        ppid: p.def.ppid,
        label: p.label(),
        command_line: p.def.command_line.clone(),
        python_version: p.def.python_version.clone(),
        not_sampled: p.def.not_sampled.clone(),
        seen_at_s: p.def.seen_t as f64 / 1e6,
        ended_at_s: p.ended().map(|t| t as f64 / 1e6),
        rss_start_bytes: start,
        rss_end_bytes: end,
        rss_peak_bytes: peak,
        rss_per_min_bytes: per_min,
        findings,
        important,
        grew: important > 0 || grew_rss,
    }
}

/// Workers of one kind, and whether they grow alike.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// `gunicorn: worker [app]`
    pub command: String,
    pub root: bool,
    pub procs: Vec<ProcId>,
    pub pids: Vec<i32>,
    /// Members that grew.
    pub grew: Vec<i32>,
    /// Two or more grew, at rates within a factor of 3 of each other.
    pub alike: bool,
    /// `2 workers of `gunicorn: worker [app]` grow alike`
    pub summary: String,
}

pub fn groups(t: &TreeAnalyzer) -> Vec<Group> {
    let mut by: BTreeMap<(bool, String), Vec<&ProcView>> = BTreeMap::new();
    for p in t.procs.iter().filter(|p| p.analyzer.is_some()) {
        by.entry(kind_of(p)).or_default().push(p);
    }
    let mut out: Vec<Group> = by
        .into_iter()
        .map(|((root, _), members)| {
            let rows: Vec<ProcRow> = members.iter().map(|p| proc_row(p)).collect();
            let grown: Vec<&ProcRow> = rows.iter().filter(|r| r.grew).collect();
            let rates: Vec<f64> = grown
                .iter()
                .filter_map(|r| r.rss_per_min_bytes)
                .filter(|r| *r > 0.0)
                .collect();
            let alike = grown.len() >= 2
                && (rates.len() < grown.len()
                    || rates.iter().cloned().fold(f64::MIN, f64::max)
                        <= 3.0 * rates.iter().cloned().fold(f64::MAX, f64::min))
                && grown.iter().all(|r| r.important > 0) == grown.iter().any(|r| r.important > 0);
            let command = short_command(&members[0].def.command_line);
            let what = if root { "process" } else { "worker" };
            let summary = match (grown.len(), members.len()) {
                (0, 1) => format!("{what} {} (`{command}`): steady", members[0].def.pid),
                (0, n) => {
                    format!("{n} {what}es of `{command}`: steady").replace("workeres", "workers")
                }
                (g, _) if alike => format!("{g} {what}s of `{command}` grow alike"),
                (1, n) if n > 1 => {
                    format!("1 of {n} {what}s of `{command}` grows ({})", grown[0].pid)
                }
                (1, _) => format!("{what} {} (`{command}`) grows", grown[0].pid),
                (g, n) => format!("{g} of {n} {what}s of `{command}` grow, each its own way"),
            };
            Group {
                command,
                root,
                procs: members.iter().map(|p| p.def.proc).collect(),
                pids: members.iter().map(|p| p.def.pid).collect(),
                grew: grown.iter().map(|r| r.pid).collect(),
                alike,
                summary,
            }
        })
        .collect();
    // the groups that grew first, then roots, then by first PID
    out.sort_by_key(|g| (g.grew.is_empty(), !g.root, g.pids.first().copied()));
    out
}

/// The findings of the whole tree: each process's, named by the process; a finding (same
/// kind and name) seen in several processes of one kind is one finding listing them all.
pub fn findings(t: &TreeAnalyzer) -> Vec<Finding> {
    let mut merged: Vec<(Finding, (bool, String))> = Vec::new();
    for (p, a) in t.sampled() {
        let kind = kind_of(p);
        for f in &a.findings {
            if let Some((m, _)) = merged.iter_mut().find(|(m, k)| *k == kind && m.id == f.id) {
                m.processes.push(p.label());
                m.first_seen = m.first_seen.min(f.first_seen);
                continue;
            }
            let mut f = f.clone();
            f.processes = vec![p.label()];
            merged.push((f, kind.clone()));
        }
    }
    let mut out: Vec<Finding> = merged.into_iter().map(|m| m.0).collect();
    out.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(b.processes.len().cmp(&a.processes.len()))
            .then(a.first_seen.cmp(&b.first_seen))
    });
    out
}

/// How a finding names its processes: `worker 4312 (gunicorn: worker [app])`, or for several
/// `3 workers (gunicorn: worker [app]): 4312, 4313, 4314`.
pub fn processes_phrase(f: &Finding) -> Option<String> {
    match f.processes.as_slice() {
        [] => None,
        [one] => Some(one.clone()),
        many => {
            let pids: Vec<&str> = many
                .iter()
                .filter_map(|l| l.split_whitespace().nth(1))
                .collect();
            let rest = many[0]
                .split_once(" (")
                .map(|(_, r)| format!(" ({r}"))
                .unwrap_or_default();
            let role = many[0].split_whitespace().next().unwrap_or("process");
            Some(format!("{} {role}s{rest}: {}", many.len(), pids.join(", ")))
        }
    }
}

/// The tree's total RSS over time, KiB: at each step, the sum over processes of each one's
/// latest RSS at or before that time. A process that ended counts no more from one step after
/// its end: the workers a server takes down as the watch stops it (a few ms before the
/// session's end) still count at the last point, which would otherwise show the master alone.
pub fn total_rss(t: &TreeAnalyzer, step: Micros) -> Vec<(Micros, u64)> {
    let step = step.max(1);
    let end = t.now;
    let mut out = Vec::new();
    let procs: Vec<(&crate::analyzer::series::Series, Option<Micros>)> =
        t.sampled().map(|(p, a)| (&a.rss, p.ended())).collect();
    let mut cursors = vec![0usize; procs.len()];
    // bounded: at most 10 000 points, from the first sample on
    let step = step.max(end / 10_000 + 1);
    let mut at = procs
        .iter()
        .filter_map(|(s, _)| s.first.map(|f| f.0))
        .min()
        .unwrap_or(0);
    while at <= end {
        let mut sum = 0u64;
        for (i, (s, ended)) in procs.iter().enumerate() {
            if ended.is_some_and(|e| e.saturating_add(step) < at) {
                continue;
            }
            let pts = s.points();
            while cursors[i] + 1 < pts.len() && pts[cursors[i] + 1].t <= at {
                cursors[i] += 1;
            }
            if let Some(p) = pts.get(cursors[i])
                && p.t <= at
            {
                sum += p.last.max(0.0) as u64;
            }
        }
        out.push((at, sum));
        at += step;
    }
    out
}
