//! `memwatch report FILE --format html`: the report as one self-contained HTML file, to send
//! to a colleague — what leaks, where and why, readable in any browser, offline, printable.
//!
//! It owns the page: its stylesheet, the sections of a single process's report and of a
//! process tree's, and the escaping of every text that comes from the target (command lines,
//! names, paths, source lines, findings' figures). It reads the [`Report`] (or [`TreeReport`])
//! every format reads, and the analyzer only for what a report does not carry: the series
//! the charts draw (RSS, USS, census times, each type's and container's history) and the
//! why-alive chains of the census history. It never reads the program's source from the
//! analyzer, so `--no-source` (applied to the report by [`super::Built::new`]) leaves none.
//!
//! What it must never do: refer to anything outside the file (no URL, no font, image or
//! script to fetch: a `Content-Security-Policy` of `default-src 'none'` makes browsers refuse
//! even what might slip through, and the page has no script at all), emit target text
//! unescaped, or grow with the session: every table, list and series is bounded (see the
//! `MAX_` constants and [`super::svg`]), and each text from the target is cut at
//! [`MAX_TEXT`] characters.

use std::fmt::Write;

use super::svg::{self, Chart, Line, Mark, Part};
use super::{Built, View};
use crate::analyzer::Analyzer;
use crate::failure::{Failure, Result};
use crate::findings::{Finding, Severity};
use crate::report::tree::TreeReport;
use crate::report::{FunctionTable, HeapReport, LineRow, Report, Summary, TableRow};
use crate::tree::TreeAnalyzer;
use crate::tree::group;
use crate::units;

/// Longest text from the target shown, in characters (a command line, a source snippet).
const MAX_TEXT: usize = 4000;
/// Most rows of a line, type, container or object table.
const MAX_ROWS: usize = 200;
/// A memory_profiler table of a longer function shows its sampled lines and their
/// neighbours only (a library function's docstring is not what the reader came for)…
const FULL_TABLE_LINES: usize = 60;
/// …and at most this many.
const MAX_TABLE_LINES: usize = 400;
/// Most notes, warnings and why-alive chains listed.
const MAX_LIST: usize = 100;
/// Most findings shown in full (the overview table lists up to [`MAX_ROWS`]).
const MAX_FINDINGS: usize = 60;
/// Most process rows of a tree's table, as in the text report.
const MAX_PROCESS_ROWS: usize = 40;
/// Most processes of a tree shown in full.
const MAX_PROCESS_SECTIONS: usize = 12;
/// Points of the tree's total RSS chart.
const TREE_POINTS: u64 = 400;

/// The page for `view`, whose report `built` is; `no_source`: the report's source lines were
/// left out on purpose (`--no-source`), which the tables say instead of "unavailable".
pub fn render(view: View, built: &Built, no_source: bool) -> Result<String> {
    let src = if no_source {
        Missing::LeftOut
    } else {
        Missing::Unavailable
    };
    match (view, built) {
        (View::Single(a), Built::Single(r)) => Ok(single(a, r, src)),
        (View::Tree(t), Built::Tree(r)) => Ok(tree(t, r, src)),
        _ => Err(Failure::internal(
            "html report: the report was built from another view",
        )),
    }
}

/// Why a line's source is not in the report.
#[derive(Clone, Copy)]
enum Missing {
    /// `--no-source`.
    LeftOut,
    /// Not recorded (frozen modules, files that could not be read).
    Unavailable,
}

impl Missing {
    fn cell(self) -> &'static str {
        match self {
            Missing::LeftOut => "<td class=\"nosrc\">source left out</td>",
            Missing::Unavailable => "<td class=\"nosrc\">source unavailable</td>",
        }
    }
}

/// `s` made safe as HTML text or as a quoted attribute value: markup characters become
/// entities, control characters (invalid in HTML) the replacement character, and the colon
/// of an `http:` or `https:` scheme `&#58;`, so that no URL from the target's data appears
/// in the file (a browser shows the text unchanged).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for (i, c) in s.char_indices() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            ':' if ends_with_scheme(&s[..i]) => out.push_str("&#58;"),
            '\n' | '\t' => out.push(c),
            '\r' => {}
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn ends_with_scheme(before: &str) -> bool {
    let b = before.as_bytes();
    let ends = |w: &[u8]| b.len() >= w.len() && b[b.len() - w.len()..].eq_ignore_ascii_case(w);
    ends(b"http") || ends(b"https")
}

/// Target text, cut at [`MAX_TEXT`] characters, escaped.
fn text(s: &str) -> String {
    match s.char_indices().nth(MAX_TEXT) {
        Some((i, _)) => escape(&s[..i]) + "…",
        None => escape(s),
    }
}

/// Prose in the findings' style, where `name` marks code: escaped, backquoted runs as
/// `<code>` (an odd backquote stays as it is).
fn prose(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    if parts.len().is_multiple_of(2) {
        return text(s);
    }
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{}</code>", text(p));
        } else {
            out.push_str(&text(p));
        }
    }
    out
}

fn opt_bytes(v: Option<u64>) -> String {
    v.map(|b| units::bytes(b as f64))
        .unwrap_or_else(|| "n/a".into())
}

/// `+1.2 MiB` / `-300 KiB`, and the class that colours it.
fn delta_bytes(first: u64, last: u64) -> (String, &'static str) {
    if last > first {
        (format!("+{}", units::bytes((last - first) as f64)), "grow")
    } else if last < first {
        (
            format!("-{}", units::bytes((first - last) as f64)),
            "shrink",
        )
    } else {
        ("0".into(), "")
    }
}

fn delta_count(first: u64, last: u64) -> (String, &'static str) {
    if last > first {
        (format!("+{}", units::count(last - first)), "grow")
    } else if last < first {
        (format!("-{}", units::count(first - last)), "shrink")
    } else {
        ("0".into(), "")
    }
}

/// memory_profiler's unit for a signed byte figure: `+12.5 MiB`; what rounds to `0.0 MiB`
/// is neither growth nor shrinkage.
fn mib_signed(b: i64) -> (String, &'static str) {
    let s = units::mib(b as f64 / 1024.0);
    if s == "0.0 MiB" || s == "-0.0 MiB" {
        return ("0.0 MiB".into(), "");
    }
    if b > 0 {
        (format!("+{s}"), "grow")
    } else {
        (s, "shrink")
    }
}

fn short_file(file: &str) -> &str {
    file.rsplit('/').next().unwrap_or(file)
}

fn badge(s: Severity) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        severity_class(s),
        s.label()
    )
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Important => "important",
        Severity::Suggestion => "suggestion",
    }
}

/// "… and N more" when a list was cut.
fn more(out: &mut String, total: usize, shown: usize, what: &str) {
    if total > shown {
        let _ = writeln!(
            out,
            "<p class=\"muted\">… and {} more {what} (<code>--format json</code> has them all).</p>",
            units::count((total - shown) as u64)
        );
    }
}

// ---------------------------------------------------------------------------------------
// the page

const STYLE: &str = r#"
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--accent:#0969da;--uss:#8250df;
--imp:#cf222e;--imp-bg:#ffebe9;--sug:#9a6700;--sug-bg:#fff8c5;--ok:#1a7f37}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;color:var(--fg);background:#fff;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif}
main{max-width:1120px;margin:0 auto;padding:28px 32px 64px}
h1{font-size:1.55rem;margin:0 0 6px;line-height:1.25}
h2{font-size:1.2rem;margin:40px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:1.02rem;margin:26px 0 8px}
h4{font-size:.95rem;margin:14px 0 6px}
p{margin:6px 0 10px}
a{color:var(--accent);text-decoration:none}
a:hover{text-decoration:underline}
code,pre,td.src,.mono{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,"Liberation Mono",monospace;font-size:.85em}
code{background:var(--soft);border-radius:4px;padding:0 3px}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:10px 12px;overflow-x:auto;line-height:1.45;margin:6px 0 12px}
pre code{background:none;padding:0;font-size:1em}
.muted{color:var(--muted)}
.cmd{word-break:break-all;margin:0 0 10px}
.cmd code{font-size:.9em}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:3px 18px;margin:14px 0}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0}
.verdict{margin:16px 0;padding:10px 14px;border-radius:6px;border:1px solid var(--line);background:var(--soft)}
.verdict.important{background:var(--imp-bg);border-color:#ffcecb}
.verdict.suggestion{background:var(--sug-bg);border-color:#eed888}
.callout{margin:10px 0;padding:8px 12px;border-left:4px solid #d4a72c;background:var(--sug-bg);border-radius:0 6px 6px 0}
nav.toc{margin:18px 0 0;font-size:.9rem}
nav.toc a{margin-right:14px;white-space:nowrap}
table{border-collapse:collapse;width:100%;margin:8px 0 16px;font-size:.875rem}
th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600;background:var(--soft);white-space:nowrap}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.src{white-space:pre;font-size:.82rem}
td.nosrc{color:var(--muted);font-style:italic}
td.n,th.n{width:1%}
table.mprof td{padding:1px 8px;border-bottom-color:#eef1f4}
tr.hot td{background:#fff5e8}
tr.gap td{color:var(--muted);font-size:.78rem;padding:0 8px 0 40px}
.table-wrap{overflow-x:auto}
.grow{color:var(--imp)}
.shrink{color:var(--ok)}
.badge{display:inline-block;padding:0 8px;border-radius:999px;font-size:.72rem;font-weight:600;border:1px solid;line-height:1.6;vertical-align:2px;white-space:nowrap}
.badge.important{color:var(--imp);background:var(--imp-bg);border-color:#ffcecb}
.badge.suggestion{color:var(--sug);background:var(--sug-bg);border-color:#eed888}
article.finding{border:1px solid var(--line);border-left:4px solid var(--imp);border-radius:6px;padding:2px 18px 8px;margin:18px 0}
article.finding.suggestion{border-left-color:#d4a72c}
article.finding h3{margin:14px 0 10px}
dl.rec{display:grid;grid-template-columns:max-content 1fr;gap:5px 14px;margin:8px 0}
dl.rec dt{font-weight:600}
dl.rec dd{margin:0}
dl.rec ul{margin:4px 0 0;padding-left:20px}
li.chain{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.82rem}
.figure{border:1px solid var(--line);border-radius:6px;padding:10px 12px 6px;margin:10px 0}
svg.chart{display:block;width:100%;height:auto}
svg .grid line{stroke:#eaeef2}
svg .axis{font-size:11px;fill:var(--muted)}
svg line.tick{stroke:#8c959f}
svg .empty{font-size:14px;fill:var(--muted)}
svg .line{fill:none;stroke-width:2;stroke-linejoin:round;stroke-linecap:round}
svg .line.rss,svg .line.total{stroke:var(--accent)}
svg .line.uss{stroke:var(--uss);stroke-dasharray:5 3}
svg .census{stroke:#57606a;stroke-width:1}
svg .mark line{stroke:var(--imp);stroke-dasharray:3 3;opacity:.55}
svg .mark path{fill:var(--imp)}
svg .mark.suggestion line{stroke:#d4a72c}
svg .mark.suggestion path{fill:#d4a72c}
.keys{font-size:.82rem;color:var(--muted);margin:4px 0 2px}
.keys span{margin-right:16px;white-space:nowrap}
.keys span::before{content:"";display:inline-block;width:14px;height:3px;margin-right:6px;vertical-align:middle;background:#8c959f}
.keys .rss::before,.keys .total::before{background:var(--accent)}
.keys .uss::before{background:var(--uss)}
.keys .mark::before{width:0;height:0;background:none;border-left:5px solid transparent;border-right:5px solid transparent;border-top:9px solid var(--imp)}
.keys .census::before{width:1px;height:8px;background:#57606a}
svg.spark{display:block;width:120px;height:22px}
svg.spark polyline{fill:none;stroke:var(--accent);stroke-width:1.5}
svg.spark circle{fill:var(--accent)}
svg.spark.flat polyline{stroke:#8c959f}
svg.spark.flat circle{fill:#8c959f}
svg.bar{display:block;width:100%;height:26px;border-radius:4px;background:var(--soft)}
.py{fill:#0969da}.native{fill:#bf3989}.file{fill:#8c959f}.stack{fill:#d4a72c}.other{fill:#d1d9e0}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.sw.py{background:#0969da}.sw.native{background:#bf3989}.sw.file{background:#8c959f}.sw.stack{background:#d4a72c}.sw.other{background:#d1d9e0}
section.proc{margin-top:48px;padding-top:4px;border-top:3px solid var(--line)}
footer{margin-top:48px;font-size:.82rem;color:var(--muted)}
@media (max-width:700px){main{padding:16px}dl.facts,dl.rec{grid-template-columns:1fr}dl.facts dt,dl.rec dt{margin-top:6px}}
@media print{
@page{margin:14mm}
body{font-size:10.5pt}
main{max-width:none;padding:0}
nav.toc{display:none}
a{color:inherit}
h2,h3{break-after:avoid}
article.finding,.figure,tr{break-inside:avoid}
pre,td.src{white-space:pre-wrap;word-break:break-all}
.table-wrap{overflow:visible}
section.proc{break-before:page}
}
"#;

/// The whole document around `body`.
fn page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + STYLE.len() + 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // nothing may be fetched: no fonts, images, scripts, frames, connections
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n",
    );
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"generator\" content=\"memwatch\">\n");
    let _ = writeln!(out, "<title>{}</title>", text(title));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>\n<main>");
    out.push_str(body);
    let _ = writeln!(
        out,
        "<footer><p>Made by memwatch {} — a memory profiler that watches a running CPython process from outside. This file is self-contained: it refers to nothing outside itself.</p></footer>\n</main>\n</body>\n</html>",
        env!("CARGO_PKG_VERSION")
    );
    out
}

// ---------------------------------------------------------------------------------------
// a single process

fn single(a: &Analyzer, r: &Report, src: Missing) -> String {
    let s = &r.summary;
    let mut b = String::new();
    let _ = writeln!(b, "<header>\n<h1>Memory report</h1>");
    let _ = writeln!(
        b,
        "<p class=\"cmd\"><code>{}</code></p>",
        text(&s.command_line)
    );
    facts(&mut b, s, r.heap.as_ref());
    let _ = writeln!(b, "</header>");
    warnings(&mut b, &r.warnings);
    verdict(
        &mut b,
        &r.findings,
        r.heap.is_some(),
        "",
        a.rss.first.map_or(0, |f| f.0),
    );
    toc(&mut b, r, "");
    body(&mut b, a, r, "", true, src);
    page(&format!("memwatch report — {}", s.command_line), &b)
}

/// The header's figures (command line aside).
fn facts(b: &mut String, s: &Summary, heap: Option<&HeapReport>) {
    b.push_str("<dl class=\"facts\">\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(b, "<dt>{k}</dt><dd>{v}</dd>");
    };
    row(
        "Python",
        format!(
            "CPython {}{} <span class=\"muted\">({})</span>",
            text(&s.python_version),
            if s.debug_build { " debug build" } else { "" },
            text(&s.python_binary)
        ),
    );
    row("PID", s.pid.to_string());
    if let Some(root) = &s.target_root {
        row("Target", text(&root.describe()));
    }
    row(
        "Duration",
        format!(
            "{} from {} — {}",
            units::duration(s.duration_s),
            text(&crate::timefmt::local_human(s.start_unix)),
            text(
                s.end_description
                    .as_deref()
                    .unwrap_or("no end record (memwatch was killed?)")
            )
        ),
    );
    row(
        "Samples",
        format!(
            "{} at {:.1} Hz (asked {:.0} Hz), {} with a Python stack, {} dropped",
            units::count(s.samples),
            s.achieved_rate_hz,
            s.rate_hz,
            units::count(s.samples_with_stack),
            units::count(s.dropped_samples)
        ),
    );
    let change = match (s.rss_start_bytes, s.rss_end_bytes) {
        (Some(x), Some(y)) => {
            let (d, class) = delta_bytes(x, y);
            format!(" <span class=\"{class}\">({d})</span>")
        }
        _ => String::new(),
    };
    row(
        "RSS",
        format!(
            "{} → {}{change}; peak {}{}",
            opt_bytes(s.rss_start_bytes),
            opt_bytes(s.rss_end_bytes),
            opt_bytes(s.rss_peak_bytes),
            s.rss_peak_at_s
                .map(|t| format!(" at {t:.1} s"))
                .unwrap_or_default()
        ),
    );
    if s.uss_end_bytes.is_some() {
        row(
            "USS / PSS",
            format!(
                "{} / {} at the last rollup",
                opt_bytes(s.uss_end_bytes),
                opt_bytes(s.pss_end_bytes)
            ),
        );
    }
    if let (Some(x), Some(p), Some(y)) = (s.fds_start, s.fds_peak, s.fds_end) {
        row("Open fds", format!("{x} → {y}, peak {p}"));
    }
    row(
        "Heap",
        match heap {
            Some(h) => format!(
                "{} census(es) from {:.1} s to {:.1} s, pauses median {:.1} ms, max {:.1} ms{}",
                units::count(h.censuses),
                h.first_at_s,
                h.last_at_s,
                h.pause_median_ms,
                h.pause_max_ms,
                if h.approximate { " (approximate)" } else { "" }
            ),
            None => "no census (see the notes)".into(),
        },
    );
    if s.unattributed_bytes != 0 {
        row(
            "Unattributed",
            format!(
                "{} changed while no Python stack was readable",
                units::signed_kib(s.unattributed_bytes as f64 / 1024.0)
            ),
        );
    }
    if let Some(f) = &s.session_file {
        row("Session", format!("<code>{}</code>", text(f)));
    }
    b.push_str("</dl>\n");
}

/// The session reader's warnings, where they are seen first.
fn warnings(b: &mut String, warnings: &[String]) {
    for w in warnings.iter().take(MAX_LIST) {
        let _ = writeln!(
            b,
            "<p class=\"callout\"><strong>Warning:</strong> {}</p>",
            text(w)
        );
    }
    more(b, warnings.len(), warnings.len().min(MAX_LIST), "warnings");
}

/// The one-line verdict, then a table of the findings linking to their full text.
fn verdict(b: &mut String, findings: &[Finding], heap_examined: bool, prefix: &str, t0: u64) {
    let important = findings
        .iter()
        .filter(|f| f.severity == Severity::Important)
        .count();
    if findings.is_empty() {
        let _ = writeln!(
            b,
            "<p class=\"verdict\">{}</p>",
            if heap_examined {
                "No memory smell found: nothing grew without bound, no cyclic garbage, no leaked descriptors, no large single allocations."
            } else {
                "No memory smell found in RSS, lines and descriptors. No heap census was taken (see the notes), so containers, types and cycles were not examined."
            }
        );
        return;
    }
    let _ = writeln!(
        b,
        "<p class=\"verdict {}\"><strong>{} finding{}</strong>: {} Important, {} Suggestion.</p>",
        if important > 0 {
            "important"
        } else {
            "suggestion"
        },
        findings.len(),
        if findings.len() == 1 { "" } else { "s" },
        important,
        findings.len() - important
    );
    finding_table(b, findings, prefix, t0);
}

fn finding_table(b: &mut String, findings: &[Finding], prefix: &str, t0: u64) {
    b.push_str("<div class=\"table-wrap\"><table class=\"findings\">\n<thead><tr><th>Severity</th><th>Finding</th><th>Where</th><th>Evidence</th><th class=\"n\">Seen at</th></tr></thead><tbody>\n");
    for (i, f) in findings.iter().enumerate().take(MAX_ROWS) {
        let procs = group::processes_phrase(f)
            .map(|p| format!("<br><span class=\"muted\">{}</span>", text(&p)))
            .unwrap_or_default();
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td><a href=\"#{prefix}f{}\">{}</a></td><td><code>{}</code>{}{procs}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            badge(f.severity),
            i + 1,
            text(&f.title),
            text(&f.name),
            location(f)
                .map(|l| format!(" <span class=\"muted\">{}</span>", text(&l)))
                .unwrap_or_default(),
            text(&f.evidence),
            seen_at(f, t0)
        );
    }
    b.push_str("</tbody></table></div>\n");
    more(b, findings.len(), findings.len().min(MAX_ROWS), "findings");
}

/// When a finding was first supported, in seconds since `t0` (the first sample, the origin
/// of the charts and of the report's figures).
fn seen_at(f: &Finding, t0: u64) -> String {
    format!("{:.1} s", f.first_seen.saturating_sub(t0) as f64 / 1e6)
}

fn location(f: &Finding) -> Option<String> {
    match (&f.file, f.line) {
        (Some(file), Some(l)) => Some(format!("{}:{l}", short_file(file))),
        (Some(file), None) => Some(short_file(file).to_string()),
        _ => None,
    }
}

fn toc(b: &mut String, r: &Report, prefix: &str) {
    let mut links = vec![
        ("memory", "Memory over time"),
        ("where", "Where the memory is"),
    ];
    if !r.findings.is_empty() {
        links.push(("findings", "Findings"));
    }
    links.push(("lines", "Lines"));
    if r.heap.is_some() {
        links.push(("heap", "Heap"));
    }
    if !r.notes.is_empty() {
        links.push(("notes", "Notes"));
    }
    b.push_str("<nav class=\"toc\">");
    for (id, name) in links {
        let _ = write!(b, "<a href=\"#{prefix}{id}\">{name}</a>");
    }
    b.push_str("</nav>\n");
}

/// The sections of one process's report. `full_findings`: the findings in the
/// Recommendations Format (a single process), or one line each (a process of a tree, whose
/// findings the tree's section has in full).
fn body(b: &mut String, a: &Analyzer, r: &Report, prefix: &str, full_findings: bool, src: Missing) {
    let t0 = a.rss.first.map_or(0, |f| f.0);
    memory_section(b, a, &r.findings, prefix);
    where_section(b, &r.summary, prefix);
    if !r.findings.is_empty() {
        let _ = writeln!(b, "<h2 id=\"{prefix}findings\">Findings</h2>");
        if full_findings {
            findings_full(b, &r.findings, prefix, t0);
        } else {
            finding_table(b, &r.findings, prefix, t0);
        }
    }
    lines_section(b, r, prefix, src);
    if let Some(h) = &r.heap {
        heap_section(b, a, h, prefix);
    }
    if !r.notes.is_empty() {
        let _ = writeln!(b, "<h2 id=\"{prefix}notes\">Notes</h2>\n<ul>");
        for n in r.notes.iter().take(MAX_LIST) {
            let _ = writeln!(b, "<li>{}</li>", text(n));
        }
        b.push_str("</ul>\n");
        more(b, r.notes.len(), r.notes.len().min(MAX_LIST), "notes");
    }
}

/// RSS and USS over the session, census ticks, finding marks.
fn memory_section(b: &mut String, a: &Analyzer, findings: &[Finding], prefix: &str) {
    let t0 = a.rss.first.map(|f| f.0).unwrap_or(0);
    let secs = |t: u64| t.saturating_sub(t0) as f64 / 1e6;
    let kib_series = |s: &crate::analyzer::series::Series| -> Vec<(f64, f64)> {
        s.points()
            .iter()
            .map(|p| (secs(p.t), p.max * 1024.0))
            .collect()
    };
    let censuses: Vec<f64> = a
        .heap
        .total_objects
        .points()
        .iter()
        .map(|p| secs(p.t))
        .collect();
    let has_uss = a.uss.count > 0;
    let chart = svg::chart(&Chart {
        title: "RSS and USS over time",
        lines: vec![
            Line {
                class: "rss",
                points: kib_series(&a.rss),
            },
            Line {
                class: "uss",
                points: kib_series(&a.uss),
            },
        ],
        censuses: censuses.clone(),
        marks: marks(findings, prefix, secs),
    });
    let _ = writeln!(
        b,
        "<h2 id=\"{prefix}memory\">Memory over time</h2>\n<div class=\"figure\">{chart}"
    );
    let _ = write!(b, "<p class=\"keys\"><span class=\"rss\">RSS</span>");
    if has_uss {
        b.push_str("<span class=\"uss\">USS (private memory, at each rollup)</span>");
    }
    if !censuses.is_empty() {
        b.push_str("<span class=\"census\">heap census</span>");
    }
    if !findings.is_empty() {
        b.push_str("<span class=\"mark\">finding first supported (links to it)</span>");
    }
    b.push_str("</p></div>\n");
    let _ = writeln!(
        b,
        "<p class=\"muted\">Time since the first sample; each point is the highest value of its interval.</p>"
    );
}

fn marks(findings: &[Finding], prefix: &str, secs: impl Fn(u64) -> f64) -> Vec<Mark> {
    findings
        .iter()
        .enumerate()
        .map(|(i, f)| Mark {
            at_s: secs(f.first_seen),
            label: format!("{}: {} — {}", f.severity.label(), f.title, f.name),
            anchor: format!("{prefix}f{}", i + 1),
            class: severity_class(f.severity),
        })
        .collect()
}

/// Where the resident memory is (`report::breakdown`): a stacked bar and its figures.
fn where_section(b: &mut String, s: &Summary, prefix: &str) {
    let _ = writeln!(b, "<h2 id=\"{prefix}where\">Where the memory is</h2>");
    let Some(m) = &s.memory else {
        b.push_str("<p class=\"muted\">No split of the resident memory: the session has no rollup of <code>/proc/PID/smaps</code>.</p>\n");
        return;
    };
    let mut parts: Vec<(&str, &str, u64, &str)> = Vec::new();
    if let Some(p) = m.python_objects_bytes {
        parts.push((
            "Python objects",
            "py",
            p,
            "the objects of the last heap census, with the buffers it sizes",
        ));
        parts.push((
            "Native",
            "native",
            m.native_bytes,
            "malloc heap and anonymous memory the objects do not account for: C allocations, buffers no object sizes, allocator slack",
        ));
    } else {
        parts.push((
            "Heap and anonymous",
            "native",
            m.native_bytes,
            "no census to tell Python objects from native memory",
        ));
    }
    parts.push((
        "File mappings",
        "file",
        m.file_mapped_bytes,
        "code, libraries, mapped files",
    ));
    parts.push(("Stacks", "stack", m.stack_bytes, "the main thread's stack"));
    let counted: u64 = parts.iter().map(|p| p.2).sum();
    let other = m.rss_bytes.saturating_sub(counted);
    if other > 0 {
        parts.push(("Other", "other", other, "the rest of RSS"));
    }
    let bar = svg::stacked_bar(
        "Where the resident memory is",
        &parts
            .iter()
            .map(|(label, class, bytes, _)| Part {
                label,
                class,
                bytes: *bytes,
            })
            .collect::<Vec<_>>(),
    );
    let _ = writeln!(
        b,
        "<p>RSS {} at {:.0} s (the last rollup):</p>\n<div class=\"figure\">{bar}</div>",
        units::bytes(m.rss_bytes as f64),
        m.at_s
    );
    b.push_str("<table class=\"where\"><thead><tr><th>Part</th><th class=\"n\">Bytes</th><th class=\"n\">Share</th><th>What it is</th></tr></thead><tbody>\n");
    let total = m.rss_bytes.max(1) as f64;
    for (label, class, bytes, what) in &parts {
        let _ = writeln!(
            b,
            "<tr><td><span class=\"sw {class}\"></span>{label}</td><td class=\"n\">{}</td><td class=\"n\">{:.0} %</td><td class=\"muted\">{what}</td></tr>",
            units::bytes(*bytes as f64),
            *bytes as f64 / total * 100.0
        );
    }
    let _ = writeln!(
        b,
        "</tbody></table>\n<p class=\"muted\">malloc heap {}, anonymous mappings {}.</p>",
        units::bytes(m.malloc_heap_bytes as f64),
        units::bytes(m.anonymous_bytes as f64)
    );
}

/// Every finding in the spec's Recommendations Format (as `--format markdown` writes it).
fn findings_full(b: &mut String, findings: &[Finding], prefix: &str, t0: u64) {
    for (i, f) in findings.iter().enumerate().take(MAX_FINDINGS) {
        finding(b, f, &format!("{prefix}f{}", i + 1), t0);
    }
    more(
        b,
        findings.len(),
        findings.len().min(MAX_FINDINGS),
        "findings",
    );
}

fn finding(b: &mut String, f: &Finding, id: &str, t0: u64) {
    let class = severity_class(f.severity);
    let _ = writeln!(
        b,
        "<article class=\"finding {class}\" id=\"{id}\">\n<h3>{} {}{}</h3>\n<dl class=\"rec\">",
        badge(f.severity),
        text(&f.title),
        f.line.map(|l| format!(" (Line {l})")).unwrap_or_default()
    );
    let _ = writeln!(b, "<dt>Category</dt><dd>Memory Management</dd>");
    let _ = writeln!(b, "<dt>Severity</dt><dd>{}</dd>", f.severity.label());
    let _ = writeln!(b, "<dt>Issue</dt><dd>{}</dd>", prose(&f.issue));
    let _ = writeln!(
        b,
        "<dt>Where</dt><dd><code>{}</code>{}</dd>",
        text(&f.name),
        match (&f.file, f.line) {
            (Some(file), Some(l)) => format!(" — {}:{l}", text(file)),
            (Some(file), None) => format!(" — {}", text(file)),
            _ => String::new(),
        }
    );
    if let Some(p) = group::processes_phrase(f) {
        let _ = writeln!(b, "<dt>Process</dt><dd>{}</dd>", text(&p));
    }
    let _ = write!(b, "<dt>Evidence</dt><dd>{}", text(&f.evidence));
    if !f.details.is_empty() {
        b.push_str("<ul>");
        for d in f.details.iter().take(MAX_LIST) {
            let chain = d.starts_with("kept alive by") || d.contains(" → ");
            let _ = write!(
                b,
                "<li{}>{}</li>",
                if chain { " class=\"chain\"" } else { "" },
                text(d)
            );
        }
        b.push_str("</ul>");
    }
    let _ = writeln!(
        b,
        "<div class=\"muted\">first supported at {}</div></dd>",
        seen_at(f, t0)
    );
    let _ = writeln!(b, "<dt>Impact</dt><dd>{}</dd>\n</dl>", prose(&f.impact));
    if let Some(code) = &f.current_code {
        let _ = writeln!(
            b,
            "<h4>Current Code</h4>\n<pre><code>{}</code></pre>",
            text(code.trim_end())
        );
    }
    let _ = writeln!(
        b,
        "<h4>Fix ({})</h4>\n<pre><code>{}</code></pre>",
        text(&f.fix_title),
        text(f.fix.trim_end())
    );
    let _ = writeln!(
        b,
        "<dl class=\"rec\">\n<dt>Why</dt><dd>{}</dd>\n<dt>Verification</dt><dd>{}</dd>\n<dt>Resources</dt><dd>See performance/memory-management.md for patterns.</dd>\n</dl>\n</article>",
        prose(&f.why),
        prose(&f.verification)
    );
}

/// The top lines and the memory_profiler tables.
fn lines_section(b: &mut String, r: &Report, prefix: &str, src: Missing) {
    let _ = writeln!(b, "<h2 id=\"{prefix}lines\">Lines</h2>");
    let _ = writeln!(b, "<h3>Top lines by increment (own lines, sampled)</h3>");
    if r.top_lines.is_empty() {
        b.push_str("<p class=\"muted\">No Python line was sampled.</p>\n");
    } else {
        top_lines_table(b, &r.top_lines, src);
    }
    let key = |l: &LineRow| (l.file.clone(), l.line);
    let same = r.top_user_lines.len() == r.top_lines.len()
        && r.top_user_lines
            .iter()
            .map(key)
            .eq(r.top_lines.iter().map(key));
    if !r.top_user_lines.is_empty() && !same {
        b.push_str("<h3>Top lines of the program's own code</h3>\n<p class=\"muted\">Library calls charged to the line that made them.</p>\n");
        top_lines_table(b, &r.top_user_lines, src);
    }
    for f in r.functions.iter().take(MAX_ROWS) {
        function_table(b, f, src);
    }
    let _ = writeln!(b, "<p class=\"muted\">{}</p>", text(r.legend));
}

fn top_lines_table(b: &mut String, rows: &[LineRow], src: Missing) {
    b.push_str("<div class=\"table-wrap\"><table class=\"lines\">\n<thead><tr><th class=\"n\">#</th><th class=\"n\">Increment</th><th class=\"n\">Mem usage</th><th class=\"n\">Occurrences</th><th>Location (function)</th><th>Line Contents</th></tr></thead><tbody>\n");
    for (i, l) in rows.iter().enumerate().take(MAX_ROWS) {
        let (inc, class) = mib_signed(l.increment_bytes);
        let _ = writeln!(
            b,
            "<tr><td class=\"n\">{}</td><td class=\"n {class}\">{inc}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td><span class=\"mono\">{}:{}</span> ({})</td>{}</tr>",
            i + 1,
            units::mib(l.mem_usage_bytes as f64 / 1024.0),
            units::count(l.occurrences),
            text(short_file(&l.file)),
            l.line,
            text(&l.function),
            match &l.contents {
                Some(c) => format!("<td class=\"src\">{}</td>", text(c.trim())),
                None => src.cell().to_string(),
            }
        );
    }
    b.push_str("</tbody></table></div>\n");
    more(b, rows.len(), rows.len().min(MAX_ROWS), "lines");
}

/// Which rows of a memory_profiler table to show: all of them, or for a long function the
/// first, the sampled ones and two lines around each (None marks a gap), at most
/// [`MAX_TABLE_LINES`].
fn table_rows(rows: &[TableRow]) -> Vec<Option<&TableRow>> {
    if rows.len() <= FULL_TABLE_LINES {
        return rows.iter().map(Some).collect();
    }
    let sampled = |r: &TableRow| r.occurrences > 0 || r.increment_bytes.is_some();
    let mut keep = vec![false; rows.len()];
    keep[0] = true;
    for (i, r) in rows.iter().enumerate() {
        if sampled(r) {
            for k in keep
                .iter_mut()
                .take((i + 3).min(rows.len()))
                .skip(i.saturating_sub(2))
            {
                *k = true;
            }
        }
    }
    let mut out = Vec::new();
    let mut shown = 0;
    for (i, r) in rows.iter().enumerate() {
        if shown >= MAX_TABLE_LINES {
            out.push(None);
            break;
        }
        if keep[i] {
            out.push(Some(r));
            shown += 1;
        } else if out.last().is_some_and(Option::is_some) {
            out.push(None);
        }
    }
    out
}

/// One memory_profiler table: `Line # | Mem usage | Increment | Occurrences | Line Contents`.
fn function_table(b: &mut String, f: &FunctionTable, src: Missing) {
    let (inc, inc_class) = mib_signed(f.increment_bytes);
    let (own, own_class) = mib_signed(f.own_increment_bytes);
    let _ = writeln!(
        b,
        "<h3>Function <code>{}</code> in <span class=\"mono\">{}</span> (lines {}–{})</h3>\n<p><span class=\"{inc_class}\">{inc}</span> while on the stack, <span class=\"{own_class}\">{own}</span> in its own lines, {} samples.</p>",
        text(&f.function),
        text(&f.file),
        f.first_line,
        f.last_line,
        units::count(f.occurrences)
    );
    b.push_str("<div class=\"table-wrap\"><table class=\"mprof\">\n<thead><tr><th class=\"n\">Line #</th><th class=\"n\">Mem usage</th><th class=\"n\">Increment</th><th class=\"n\">Occurrences</th><th>Line Contents</th></tr></thead><tbody>\n");
    let rows = table_rows(&f.lines);
    let mut prev = f.first_line.saturating_sub(1);
    for (i, row) in rows.iter().enumerate() {
        let Some(r) = row else {
            // the lines up to the next one shown, or to the function's end
            let next = rows[i + 1..]
                .iter()
                .flatten()
                .next()
                .map_or(f.last_line.saturating_add(1), |r| r.line);
            let _ = writeln!(
                b,
                "<tr class=\"gap\"><td colspan=\"5\">⋮ {} line(s) not sampled</td></tr>",
                next.saturating_sub(prev).saturating_sub(1)
            );
            continue;
        };
        prev = r.line;
        let mem = r
            .mem_usage_bytes
            .map(|m| units::mib(m as f64 / 1024.0))
            .unwrap_or_default();
        let (inc, class) = r.increment_bytes.map(mib_signed).unwrap_or_default();
        let occ = if r.increment_bytes.is_some() || r.occurrences > 0 {
            units::count(r.occurrences)
        } else {
            String::new()
        };
        let hot = class == "grow";
        let contents = match &r.contents {
            Some(c) => format!("<td class=\"src\">{}</td>", text(c)),
            None if f.source_available => "<td class=\"src\"></td>".into(),
            None => src.cell().into(),
        };
        let _ = writeln!(
            b,
            "<tr{}><td class=\"n\">{}</td><td class=\"n\">{mem}</td><td class=\"n {class}\">{inc}</td><td class=\"n\">{occ}</td>{contents}</tr>",
            if hot { " class=\"hot\"" } else { "" },
            r.line
        );
    }
    b.push_str("</tbody></table></div>\n");
}

/// The censuses: named containers and types with their history, why they are alive, the
/// largest objects, cyclic garbage.
fn heap_section(b: &mut String, a: &Analyzer, h: &HeapReport, prefix: &str) {
    let _ = writeln!(b, "<h2 id=\"{prefix}heap\">Heap</h2>");
    let (od, oc) = delta_count(h.objects_first, h.objects_last);
    let (bd, bc) = delta_bytes(h.bytes_first, h.bytes_last);
    let _ = writeln!(
        b,
        "<p>{} census(es) from {:.1} s to {:.1} s: objects {} → {} (<span class=\"{oc}\">{od}</span>), {} → {} (<span class=\"{bc}\">{bd}</span>); gc {}, thresholds {}/{}/{}, generations {} / {} / {}.</p>",
        units::count(h.censuses),
        h.first_at_s,
        h.last_at_s,
        units::count(h.objects_first),
        units::count(h.objects_last),
        units::bytes(h.bytes_first as f64),
        units::bytes(h.bytes_last as f64),
        if h.gc.enabled {
            "enabled"
        } else {
            "<strong>DISABLED</strong>"
        },
        h.gc.thresholds[0],
        h.gc.thresholds[1],
        h.gc.thresholds[2],
        units::count(h.gc.generation_objects[0]),
        units::count(h.gc.generation_objects[1]),
        units::count(h.gc.generation_objects[2]),
    );
    for n in h.notes.iter().take(MAX_LIST) {
        let _ = writeln!(b, "<p class=\"callout\">{}</p>", text(n));
    }

    // growing first: what a leak report is about
    let mut containers: Vec<_> = h.containers.iter().collect();
    containers.sort_by_key(|c| {
        std::cmp::Reverse((
            c.bytes_last as i128 - c.bytes_first as i128,
            c.len_last as i128 - c.len_first as i128,
        ))
    });
    if !containers.is_empty() {
        let _ = writeln!(
            b,
            "<h3>Named containers</h3>\n<p class=\"muted\">Globals, class attributes and defaults that hold containers, the {} largest at the last census, those that grew most first; the sparkline is the length at each census (and between them).</p>",
            containers.len()
        );
        b.push_str("<div class=\"table-wrap\"><table class=\"containers\">\n<thead><tr><th class=\"n\">Length</th><th class=\"n\">Δ</th><th class=\"n\">Bytes</th><th class=\"n\">Δ</th><th>History</th><th>Named container</th></tr></thead><tbody>\n");
        for c in containers.iter().take(MAX_ROWS) {
            let (ld, lc) = delta_count(c.len_first, c.len_last);
            let (bd, bc) = delta_bytes(c.bytes_first, c.bytes_last);
            let hist = a
                .heap
                .containers
                .get(&c.name)
                .map(|h| {
                    let v: Vec<f64> = h.count.points().iter().map(|p| p.last).collect();
                    svg::sparkline(
                        &v,
                        &format!(
                            "{}: length {} → {}",
                            c.name,
                            units::count(c.len_first),
                            units::count(c.len_last)
                        ),
                    )
                })
                .unwrap_or_default();
            let mut name = format!("<code>{}</code> ({})", text(&c.name), text(&c.type_name));
            if let Some(bound) = c.bound {
                let _ = write!(name, ", bounded at {}", units::count(bound));
            }
            if let Some(f) = &c.file {
                let _ = write!(name, " <span class=\"muted mono\">{}</span>", text(f));
            }
            let _ = writeln!(
                b,
                "<tr><td class=\"n\">{}</td><td class=\"n {lc}\">{ld}</td><td class=\"n\">{}</td><td class=\"n {bc}\">{bd}</td><td>{hist}</td><td>{name}</td></tr>",
                units::count(c.len_last),
                units::bytes(c.bytes_last as f64)
            );
        }
        b.push_str("</tbody></table></div>\n");
        more(
            b,
            containers.len(),
            containers.len().min(MAX_ROWS),
            "containers",
        );
    }

    let mut types: Vec<_> = h.types.iter().collect();
    types.sort_by_key(|t| {
        std::cmp::Reverse((
            t.bytes_last as i128 - t.bytes_first as i128,
            t.count_last as i128 - t.count_first as i128,
        ))
    });
    if !types.is_empty() {
        let _ = writeln!(
            b,
            "<h3>Types</h3>\n<p class=\"muted\">The {} largest types at the last census, those that grew most first; the sparkline is the number of objects at each census.</p>",
            types.len()
        );
        b.push_str("<div class=\"table-wrap\"><table class=\"types\">\n<thead><tr><th class=\"n\">Objects</th><th class=\"n\">Δ</th><th class=\"n\">Bytes</th><th class=\"n\">Δ</th><th>History</th><th>Type</th></tr></thead><tbody>\n");
        for t in types.iter().take(MAX_ROWS) {
            let (cd, cc) = delta_count(t.count_first, t.count_last);
            let (bd, bc) = delta_bytes(t.bytes_first, t.bytes_last);
            let hist = a
                .heap
                .types
                .get(&t.name)
                .map(|h| {
                    let v: Vec<f64> = h.count.points().iter().map(|p| p.last).collect();
                    svg::sparkline(
                        &v,
                        &format!(
                            "{}: {} → {} objects",
                            t.name,
                            units::count(t.count_first),
                            units::count(t.count_last)
                        ),
                    )
                })
                .unwrap_or_default();
            let _ = writeln!(
                b,
                "<tr><td class=\"n\">{}</td><td class=\"n {cc}\">{cd}</td><td class=\"n\">{}</td><td class=\"n {bc}\">{bd}</td><td>{hist}</td><td><code>{}</code>{}</td></tr>",
                units::count(t.count_last),
                units::bytes(t.bytes_last as f64),
                text(&t.name),
                if t.size_exact {
                    ""
                } else {
                    " <span class=\"muted\">(size approximate)</span>"
                }
            );
        }
        b.push_str("</tbody></table></div>\n");
        more(b, types.len(), types.len().min(MAX_ROWS), "types");

        // why the types that grew are alive: the census history's latest chain for each
        let chains: Vec<(&str, &String)> = types
            .iter()
            .filter(|t| t.count_last > t.count_first)
            .filter_map(|t| Some((t.name.as_str(), a.heap.why_alive.get(&t.name)?)))
            .take(MAX_LIST)
            .collect();
        if !chains.is_empty() {
            b.push_str("<h3>Why alive</h3>\n<p class=\"muted\">For the types that grew, the latest back-reference chain a census found: what holds them.</p>\n<ul>\n");
            for (name, chain) in chains {
                let _ = writeln!(
                    b,
                    "<li class=\"chain\"><code>{}</code> ← {}</li>",
                    text(name),
                    text(chain)
                );
            }
            b.push_str("</ul>\n");
        }
    }

    if let Some((_, cy, _)) = &a.heap.last_cycles
        && cy.objects > 0
    {
        let _ = writeln!(
            b,
            "<h3>Cyclic garbage</h3>\n<p>{} objects ({}) unreachable except through cycles at the last look:</p>",
            units::count(cy.objects),
            units::bytes(cy.bytes as f64)
        );
        b.push_str("<div class=\"table-wrap\"><table>\n<thead><tr><th class=\"n\">Objects</th><th class=\"n\">Bytes</th><th>Pattern</th><th>Edges</th></tr></thead><tbody>\n");
        for p in cy.patterns.iter().take(MAX_ROWS) {
            let _ = writeln!(
                b,
                "<tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td><code>{}</code></td><td class=\"mono\">{}</td></tr>",
                units::count(p.objects),
                units::bytes(p.bytes as f64),
                text(&p.name),
                text(
                    &p.edges
                        .iter()
                        .take(MAX_LIST)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            );
        }
        b.push_str("</tbody></table></div>\n");
        more(
            b,
            cy.patterns.len(),
            cy.patterns.len().min(MAX_ROWS),
            "patterns",
        );
    }

    if !h.largest.is_empty() {
        b.push_str("<h3>Largest objects</h3>\n<div class=\"table-wrap\"><table>\n<thead><tr><th class=\"n\">Bytes</th><th>Type</th><th class=\"n\">Length</th><th>Name</th></tr></thead><tbody>\n");
        for o in h.largest.iter().take(MAX_ROWS) {
            let _ = writeln!(
                b,
                "<tr><td class=\"n\">{}</td><td><code>{}</code></td><td class=\"n\">{}</td><td>{}</td></tr>",
                units::bytes(o.bytes as f64),
                text(&o.type_name),
                o.len.map(units::count).unwrap_or_default(),
                o.name
                    .as_deref()
                    .map(|n| format!("<code>{}</code>", text(n)))
                    .unwrap_or_default()
            );
        }
        b.push_str("</tbody></table></div>\n");
        more(b, h.largest.len(), h.largest.len().min(MAX_ROWS), "objects");
    }
}

// ---------------------------------------------------------------------------------------
// a process tree

fn tree(t: &TreeAnalyzer, r: &TreeReport, src: Missing) -> String {
    let mut b = String::new();
    let root = r.processes.first();
    let sampled = r
        .processes
        .iter()
        .filter(|p| p.python_version.is_some() && p.not_sampled.is_none())
        .count();
    let _ = writeln!(b, "<header>\n<h1>Memory report: process tree</h1>");
    if let Some(p) = root {
        let _ = writeln!(
            b,
            "<p class=\"cmd\"><code>{}</code></p>",
            text(&p.command_line)
        );
    }
    b.push_str("<dl class=\"facts\">\n");
    let _ = writeln!(
        b,
        "<dt>Processes</dt><dd>{}: {sampled} sampled, {} listed only{}</dd>",
        units::count(r.processes.len() as u64),
        units::count((r.processes.len() - sampled) as u64),
        if r.unlisted > 0 {
            format!(
                ", {} more seen past the cap and not listed",
                units::count(r.unlisted)
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        b,
        "<dt>Duration</dt><dd>{}</dd>",
        units::duration(r.duration_s)
    );
    if let (Some(first), Some(last)) = (r.total_rss.first(), r.total_rss.last()) {
        let (d, class) = delta_bytes(first.1, last.1);
        let _ = writeln!(
            b,
            "<dt>Total RSS</dt><dd>{} → {} <span class=\"{class}\">({d})</span>; peak {}</dd>",
            units::bytes(first.1 as f64),
            units::bytes(last.1 as f64),
            units::bytes(r.total_rss_peak_bytes as f64)
        );
    }
    if let Some(f) = &r.session_file {
        let _ = writeln!(b, "<dt>Session</dt><dd><code>{}</code></dd>", text(f));
    }
    b.push_str("</dl>\n</header>\n");
    warnings(&mut b, &r.warnings);
    // the tree's total RSS: its first point is the origin of the tree's times
    let step = (t.now / TREE_POINTS).max(100_000);
    let total = group::total_rss(t, step);
    let t0 = total.first().map(|p| p.0).unwrap_or(0);
    let heap_examined = r.reports.iter().any(|p| p.report.heap.is_some());
    verdict(&mut b, &r.findings, heap_examined, "", t0);
    let full = crate::report::tree::full_reports(r);
    b.push_str(
        "<nav class=\"toc\"><a href=\"#memory\">Total RSS</a><a href=\"#processes\">Processes</a>",
    );
    if !r.findings.is_empty() {
        b.push_str("<a href=\"#findings\">Findings</a>");
    }
    for p in full.iter().take(MAX_PROCESS_SECTIONS) {
        // `worker 4312`: the label without its command
        let short = p.label.split(" (").next().unwrap_or(&p.label);
        let _ = write!(b, "<a href=\"#p{}\">{}</a>", p.proc, text(short));
    }
    b.push_str("</nav>\n");

    // the tree's total RSS, its findings marked
    let secs = |at: u64| at.saturating_sub(t0) as f64 / 1e6;
    let chart = svg::chart(&Chart {
        title: "Total RSS of the tree over time",
        lines: vec![Line {
            class: "total",
            points: total
                .iter()
                .map(|(at, kib)| (secs(*at), *kib as f64 * 1024.0))
                .collect(),
        }],
        censuses: Vec::new(),
        marks: marks(&r.findings, "", secs),
    });
    let _ = writeln!(
        b,
        "<h2 id=\"memory\">Total RSS over time</h2>\n<div class=\"figure\">{chart}<p class=\"keys\"><span class=\"total\">sum of the processes' RSS</span>{}</p></div>\n<p class=\"muted\">Time since the first sample of the tree.</p>",
        if r.findings.is_empty() {
            ""
        } else {
            "<span class=\"mark\">finding first supported (links to it)</span>"
        }
    );

    process_table(&mut b, r);

    if !r.findings.is_empty() {
        let _ = writeln!(
            b,
            "<h2 id=\"findings\">Findings</h2>\n<p class=\"muted\">One finding for a leak seen in several processes of one kind, naming them.</p>"
        );
        findings_full(&mut b, &r.findings, "", t0);
    }

    for p in full.iter().take(MAX_PROCESS_SECTIONS) {
        let Some(a) = t.get(p.proc).and_then(|v| v.analyzer.as_ref()) else {
            continue;
        };
        let prefix = format!("p{}-", p.proc);
        let _ = writeln!(
            b,
            "<section class=\"proc\" id=\"p{}\">\n<h2>{}</h2>\n<p class=\"cmd\"><code>{}</code></p>",
            p.proc,
            text(&p.label),
            text(&p.report.summary.command_line)
        );
        facts(&mut b, &p.report.summary, p.report.heap.as_ref());
        toc(&mut b, &p.report, &prefix);
        body(&mut b, a, &p.report, &prefix, false, src);
        b.push_str("</section>\n");
    }
    more(
        &mut b,
        full.len(),
        full.len().min(MAX_PROCESS_SECTIONS),
        "processes that grew",
    );
    let steady = r.reports.len().saturating_sub(full.len());
    if steady > 0 {
        let _ = writeln!(
            b,
            "<p class=\"muted\">{steady} steady process(es) not shown in full (the table above has their figures; <code>--format json</code> has every report).</p>"
        );
    }
    page(
        &format!(
            "memwatch report — process tree of {}",
            root.map(|p| p.command_line.as_str()).unwrap_or("")
        ),
        &b,
    )
}

/// Every process (up to [`MAX_PROCESS_ROWS`], the rest counted) and the groups.
fn process_table(b: &mut String, r: &TreeReport) {
    let _ = writeln!(b, "<h2 id=\"processes\">Processes</h2>");
    if !r.groups.is_empty() {
        b.push_str("<ul class=\"groups\">\n");
        for g in r.groups.iter().take(MAX_LIST) {
            let _ = writeln!(b, "<li>{}</li>", prose(&g.summary));
        }
        b.push_str("</ul>\n");
    }
    let (shown, rest) = crate::report::tree::listed_rows(r, MAX_PROCESS_ROWS);
    let full: Vec<u32> = crate::report::tree::full_reports(r)
        .iter()
        .take(MAX_PROCESS_SECTIONS)
        .map(|p| p.proc)
        .collect();
    b.push_str("<div class=\"table-wrap\"><table class=\"procs\">\n<thead><tr><th class=\"n\">PID</th><th class=\"n\">PPID</th><th class=\"n\">RSS start</th><th class=\"n\">RSS end</th><th class=\"n\">Δ/min</th><th class=\"n\">Findings</th><th>Process</th><th>State</th></tr></thead><tbody>\n");
    for p in shown {
        let state = match (&p.not_sampled, p.ended_at_s) {
            (Some(why), _) => text(why),
            (None, Some(e)) => format!("ended at {e:.1} s"),
            (None, None) => String::new(),
        };
        let rate = p
            .rss_per_min_bytes
            .filter(|v| v.is_finite())
            .map(|v| {
                let class = if v > 0.0 { "grow" } else { "" };
                format!(
                    "<td class=\"n {class}\">{}{}</td>",
                    if v >= 0.0 { "+" } else { "-" },
                    units::bytes(v.abs())
                )
            })
            .unwrap_or_else(|| "<td class=\"n\">n/a</td>".into());
        let label = if full.contains(&p.proc) {
            format!("<a href=\"#p{}\">{}</a>", p.proc, text(&p.label))
        } else {
            text(&p.label)
        };
        let _ = writeln!(
            b,
            "<tr{}><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>{rate}<td class=\"n\">{}</td><td>{label}{}</td><td class=\"muted\">{state}</td></tr>",
            if p.grew { " class=\"hot\"" } else { "" },
            p.pid,
            p.ppid,
            opt_bytes(p.rss_start_bytes),
            opt_bytes(p.rss_end_bytes),
            if p.not_sampled.is_some() {
                "–".to_string()
            } else {
                p.findings.to_string()
            },
            if p.grew {
                " <span class=\"badge important\">grew</span>"
            } else {
                ""
            }
        );
    }
    b.push_str("</tbody></table></div>\n");
    if !rest.is_empty() {
        let _ = writeln!(
            b,
            "<p class=\"muted\">… and {} more (steady or listed only; <code>--format json</code> lists them all):</p>\n<ul>",
            units::count(rest.len() as u64)
        );
        for ((listed, cmd), n) in crate::report::tree::rest_by_command(&rest).iter().take(10) {
            let _ = writeln!(
                b,
                "<li>{n} × <code>{}</code>{}</li>",
                text(cmd),
                if *listed { " (listed only)" } else { "" }
            );
        }
        b.push_str("</ul>\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Format;
    use crate::event::{
        EndReason, Event, FrameDef, MemRollup, Sample, SessionInfo, ThreadDef, ThreadSample,
    };
    use crate::heap::census::{Census, ContainerRow, TypeRow, WhyAlive};
    use crate::share::RenderOpts;

    const PLANTED: &str = "CACHE[key] = '<b>' + 'https://planted.invalid/' + key  # planted";

    /// An hour of a leaking service at 100 Hz: a sample every 10 ms, fds every second, a
    /// rollup and a census every 10 s (60 types, 40 containers, some growing, with why-alive
    /// chains), a note every minute; its command line and source carry markup and URLs.
    fn hour_long_session() -> &'static Analyzer {
        static SESSION: std::sync::OnceLock<Analyzer> = std::sync::OnceLock::new();
        SESSION.get_or_init(make_hour_long_session)
    }

    fn make_hour_long_session() -> Analyzer {
        let mut a = Analyzer::new();
        let mut put = |e: Event| a.apply(&e);
        put(Event::Start(Box::new(SessionInfo {
            pid: 4242,
            command_line: "python3 app.py --upstream https://api.invalid/<script>".into(),
            python_version: "3.12.1".into(),
            python_binary: "/usr/bin/python3.12".into(),
            start_unix: 1.8e9,
            rate_hz: 100.0,
            page_size: 4096,
            ..SessionInfo::default()
        })));
        put(Event::Thread(ThreadDef {
            id: 0,
            python_thread_id: 1,
            os_thread_id: Some(4242),
            name: Some("MainThread".into()),
            is_main: true,
        }));
        let mut source: Vec<String> = (1..=60).map(|n| format!("    work({n})")).collect();
        source[0] = "def handle(key):".into();
        source[24] = format!("    {PLANTED}");
        put(Event::Source {
            file: "/srv/app.py".into(),
            text: Some(source.join("\n")),
        });
        for i in 0..50u32 {
            put(Event::Frame(
                i,
                FrameDef {
                    function: "handle".into(),
                    file: "/srv/app.py".into(),
                    line: i + 2,
                },
            ));
            put(Event::Stack(i, vec![i]));
        }
        let mut census_i = 0u64;
        for i in 0..=360_000u64 {
            let t = i * 10_000;
            put(Event::Sample(Sample {
                t,
                rss_kib: 100 * 1024 + i / 10 + (i % 7) * 3,
                threads: vec![ThreadSample {
                    thread: 0,
                    stack: (i % 50) as u32,
                    gil: true,
                    active: true,
                }],
            }));
            if i % 100 == 0 {
                put(Event::Fds { t, count: 12 });
            }
            if i % 1000 == 0 {
                put(Event::Rollup {
                    t,
                    mem: MemRollup {
                        rss_kib: 100 * 1024 + i / 10,
                        pss_kib: 90 * 1024 + i / 10,
                        uss_kib: 80 * 1024 + i / 10,
                        heap_kib: 40 * 1024 + i / 20,
                        anon_kib: 30 * 1024 + i / 20,
                        file_kib: 20 * 1024,
                        stack_kib: 132,
                        ..MemRollup::default()
                    },
                });
                let grow = |k: u64| if k < 8 { census_i * 100 * (k + 1) } else { 0 };
                put(Event::Census(Box::new(Census {
                    t,
                    gc_objects: 50_000 + census_i * 900,
                    gc_bytes: 8_000_000 + census_i * 90_000,
                    types: (0..60)
                        .map(|k| TypeRow {
                            name: format!("app.models.Type{k}"),
                            gc_count: 100 + grow(k),
                            gc_bytes: (100 + grow(k)) * 64,
                            size_exact: true,
                            ..TypeRow::default()
                        })
                        .collect(),
                    containers: (0..40)
                        .map(|k| ContainerRow {
                            name: format!("app.registry.CACHE_{k}"),
                            type_name: "dict".into(),
                            len: 10 + grow(k),
                            shallow_bytes: (10 + grow(k)) * 100,
                            file: Some("/srv/app.py".into()),
                            ..ContainerRow::default()
                        })
                        .collect(),
                    why_alive: (0..8)
                        .map(|k| WhyAlive {
                            type_name: format!("app.models.Type{k}"),
                            chain: format!("app.registry.CACHE_{k} (dict) → [\"https://x.invalid/{k}\"] app.models.Type{k}"),
                        })
                        .collect(),
                    ..Census::default()
                })));
                census_i += 1;
            }
            if i % 6000 == 0 {
                put(Event::Note {
                    t,
                    text: format!("note {i}: <see https://status.invalid>"),
                });
            }
        }
        put(Event::End {
            t: 3_600_000_000,
            reason: EndReason::Duration,
        });
        a
    }

    fn html_of(a: &Analyzer, top: usize, no_source: bool) -> String {
        let opts = RenderOpts {
            top,
            no_source,
            session_file: Some("/tmp/session <1>.db".into()),
            warnings: vec!["a warning with http://example.invalid".into()],
            ..RenderOpts::default()
        };
        String::from_utf8(crate::share::render(View::Single(a), Format::Html, &opts).unwrap())
            .unwrap()
    }

    #[test]
    fn an_hour_long_session_makes_a_bounded_self_contained_page() {
        let a = hour_long_session();
        assert!(!a.findings.is_empty(), "the fixture leaks");
        let html = html_of(a, 10, false);
        assert!(html.len() < 300_000, "{} bytes", html.len());
        let lower = html.to_ascii_lowercase();
        assert!(!lower.contains("http:") && !lower.contains("https:"));
        assert!(
            !lower.contains("<script"),
            "no script, and none from the target"
        );
        assert!(html.contains("&lt;script&gt;"), "the command line, escaped");
        assert!(html.contains("<svg class=\"chart\""));
        assert!(html.contains(&escape(PLANTED)), "the planted source line");
        for f in &a.findings {
            assert!(html.contains(&text(&f.title)), "{}", f.title);
        }
        // every series of the chart is bounded
        for pl in html.split("<polyline").skip(1) {
            let pts = pl.split('"').nth(3).unwrap_or("");
            assert!(pts.split(' ').count() <= svg::MAX_CHART_POINTS, "{pl:.200}");
        }
        // a large -n is bounded too
        let html = html_of(a, 100_000, false);
        assert!(html.len() < 1_500_000, "{} bytes", html.len());
        assert!(html.matches("<tr").count() < 8 * MAX_ROWS, "rows bounded");
    }

    #[test]
    fn no_source_leaves_the_program_source_out() {
        let a = hour_long_session();
        let with = html_of(a, 10, false);
        let without = html_of(a, 10, true);
        assert!(with.contains(&escape(PLANTED)));
        assert!(
            !without.contains("planted"),
            "no source line with --no-source"
        );
        assert!(without.contains("source left out"));
    }

    #[test]
    fn markup_and_urls_from_the_target_are_neutralised() {
        let s = escape(
            "<script>fetch('https://evil.invalid/?a=1&b=2')</script> \"x\" HTTP://up.invalid ok:1",
        );
        assert_eq!(
            s,
            "&lt;script&gt;fetch(&#39;https&#58;//evil.invalid/?a=1&amp;b=2&#39;)&lt;/script&gt; &quot;x&quot; HTTP&#58;//up.invalid ok:1"
        );
        assert!(!s.contains('<') && !s.contains('>'));
        assert!(!s.to_ascii_lowercase().contains("http:"));
        assert!(!s.to_ascii_lowercase().contains("https:"));
    }

    #[test]
    fn control_characters_do_not_reach_the_page() {
        assert_eq!(escape("a\0b\u{1b}[31mc\r\n"), "a\u{FFFD}b\u{FFFD}[31mc\n");
        assert_eq!(escape("tab\there"), "tab\there");
    }

    #[test]
    fn long_target_text_is_cut() {
        let long = "é".repeat(MAX_TEXT * 3);
        let t = text(&long);
        assert_eq!(t.chars().count(), MAX_TEXT + 1);
        assert!(t.ends_with('…'));
    }

    #[test]
    fn backquoted_names_become_code_and_stay_escaped() {
        assert_eq!(
            prose("`a<b>` grows; `c`"),
            "<code>a&lt;b&gt;</code> grows; <code>c</code>"
        );
        // an odd backquote is left as text
        assert_eq!(prose("it`s <x>"), "it`s &lt;x&gt;");
    }

    #[test]
    fn a_long_function_table_keeps_its_sampled_lines_and_is_bounded() {
        let rows: Vec<TableRow> = (1..=5000u32)
            .map(|n| TableRow {
                line: n,
                mem_usage_bytes: None,
                increment_bytes: (n == 4000 || n % 7 == 0).then_some(1024),
                occurrences: u64::from(n == 4000 || n % 7 == 0),
                fd_increment: 0,
                contents: Some(format!("line {n}")),
            })
            .collect();
        let shown = table_rows(&rows);
        assert!(shown.iter().flatten().count() <= MAX_TABLE_LINES);
        assert_eq!(shown[0].map(|r| r.line), Some(1));
        // every 7th line sampled: too many for the bound, cut with a gap at the end
        assert!(shown.last().unwrap().is_none());
        let sparse: Vec<TableRow> = rows
            .into_iter()
            .map(|mut r| {
                if r.line != 4000 {
                    r.increment_bytes = None;
                    r.occurrences = 0;
                }
                r
            })
            .collect();
        let shown = table_rows(&sparse);
        let lines: Vec<Option<u32>> = shown.iter().map(|r| r.map(|r| r.line)).collect();
        assert_eq!(
            lines,
            vec![
                Some(1),
                None,
                Some(3998),
                Some(3999),
                Some(4000),
                Some(4001),
                Some(4002),
                None
            ]
        );
    }
}
