//! Results people share: a session's report rendered in the format asked for, to standard
//! output or to a file (`memwatch report FILE --format … -o OUT`, and `memwatch run --report`
//! at the end of a watch), and the owner-only creation of every file memwatch writes
//! ([`file`]), sessions included, since they carry the target's source, paths, command line
//! and heap names.
//!
//! Every format reads the same analyzer state a live watch, `report` and `replay` build
//! (a [`View`]): text, JSON and Markdown through [`crate::report`]; one self-contained HTML
//! page through [`html`] (its charts drawn by [`svg`]); the memory charged to whole stacks as
//! a flamegraph ([`flame`]) or a speedscope profile ([`speedscope`]), both from the stacks of
//! [`folded`]. A recorded session is read back into that state once, here
//! ([`read_session`]), for `report` and `diff` alike; what changed between two sessions or
//! snapshots is [`diff`]'s.

pub mod diff;
pub mod file;
pub mod flame;
pub mod folded;
pub mod html;
pub mod speedscope;
pub mod svg;

use std::path::Path;

use crate::analyzer::Analyzer;
use crate::cli::Format;
use crate::failure::{Failure, Result};
use crate::report;
use crate::session::reader::SessionReader;
use crate::tree::TreeAnalyzer;

/// What a report is made from: one process's analyzer, or a tree's.
#[derive(Clone, Copy)]
pub enum View<'a> {
    Single(&'a Analyzer),
    Tree(&'a TreeAnalyzer),
}

/// A recorded session read back through the analyzer: one process's state, or a tree's.
pub enum Session {
    Single(Box<Analyzer>),
    Tree(Box<TreeAnalyzer>),
}

/// A session as [`read_session`] returns it, with what was damaged or read from elsewhere.
pub struct ReadSession {
    pub session: Session,
    /// Damaged or missing parts, and sources read from this machine (`warning:` lines).
    pub warnings: Vec<String>,
}

impl ReadSession {
    pub fn view(&self) -> View<'_> {
        match &self.session {
            Session::Single(a) => View::Single(a),
            Session::Tree(t) => View::Tree(t),
        }
    }
}

/// Read the session in `file` through the analyzer (a tree's through one analyzer per
/// process), its findings as of its last event and the sources it lacks filled in from this
/// machine where the same path exists: the state `memwatch report` renders. A missing file is
/// [`Failure::SessionNotFound`], a file that is not a session [`Failure::NotASession`]; a
/// damaged one is read as far as it is intact, with warnings.
pub fn read_session(file: &Path) -> Result<ReadSession> {
    let mut reader = SessionReader::open(file)?;
    if reader.is_tree() {
        let mut t = TreeAnalyzer::new();
        crate::tree::replay(&mut reader, &mut t);
        for p in t.procs.iter_mut() {
            if let Some(a) = p.analyzer.as_mut() {
                report::source::fill_missing_sources(a);
            }
        }
        return Ok(ReadSession {
            session: Session::Tree(Box::new(t)),
            warnings: reader.warnings.clone(),
        });
    }
    let mut analyzer = Analyzer::new();
    reader.replay(&mut |ev| analyzer.apply(ev));
    let mut warnings = reader.warnings.clone();
    let local = report::source::fill_missing_sources(&mut analyzer);
    // the findings as of the last event (a session cut short has no end to prompt them),
    // with the sources just filled in
    analyzer.update_findings();
    if !local.is_empty() {
        warnings.push(format!(
            "source text of {} file(s) read from this machine, not from the session (it may have changed since)",
            local.len()
        ));
    }
    Ok(ReadSession {
        session: Session::Single(Box::new(analyzer)),
        warnings,
    })
}

/// How to render.
#[derive(Debug, Clone, Default)]
pub struct RenderOpts {
    pub top: usize,
    pub function: Option<String>,
    /// Leave the program's source lines out (a report meant for sharing).
    pub no_source: bool,
    pub session_file: Option<String>,
    pub warnings: Vec<String>,
}

impl RenderOpts {
    fn report_options(&self) -> report::Options {
        report::Options {
            top: self.top,
            function: self.function.clone(),
        }
    }
}

/// One process's report, or a tree's, built once for every format that reads it.
pub enum Built {
    Single(Box<report::Report>),
    Tree(report::tree::TreeReport),
}

impl Built {
    pub fn new(view: View, opts: &RenderOpts) -> Built {
        match view {
            View::Single(a) => {
                let mut r = report::build(
                    a,
                    &opts.report_options(),
                    opts.session_file.clone(),
                    opts.warnings.clone(),
                );
                if opts.no_source {
                    report::strip_source(&mut r, &|file, n| {
                        a.line_text(file, n).map(str::to_string)
                    });
                }
                Built::Single(Box::new(r))
            }
            View::Tree(t) => {
                let mut r = report::tree::build(
                    t,
                    &opts.report_options(),
                    opts.session_file.clone(),
                    opts.warnings.clone(),
                );
                if opts.no_source {
                    // a line as any process that ran the file saw it
                    let line_text = |file: &str, n: u32| {
                        t.sampled()
                            .find_map(|(_, a)| a.line_text(file, n))
                            .map(str::to_string)
                    };
                    for f in r.findings.iter_mut() {
                        report::strip_finding_source(f, &line_text);
                    }
                    for p in r.reports.iter_mut() {
                        report::strip_source(&mut p.report, &line_text);
                    }
                }
                Built::Tree(r)
            }
        }
    }

    /// The findings of the report (a tree's: one per leak, naming its processes).
    pub fn findings(&self) -> &[crate::findings::Finding] {
        match self {
            Built::Single(r) => &r.findings,
            Built::Tree(r) => &r.findings,
        }
    }
}

/// The report of `view` in `format`, as the bytes to write.
pub fn render(view: View, format: Format, opts: &RenderOpts) -> Result<Vec<u8>> {
    let built = || Built::new(view, opts);
    let text = match format {
        Format::Text => match built() {
            Built::Single(r) => report::text::render(&r),
            Built::Tree(r) => report::tree::render_text(&r),
        },
        Format::Json => match built() {
            Built::Single(r) => serde_json::to_string_pretty(&r).map_err(Failure::internal)? + "\n",
            Built::Tree(r) => serde_json::to_string_pretty(&r).map_err(Failure::internal)? + "\n",
        },
        Format::Markdown => match built() {
            Built::Single(r) => report::markdown::render(&r),
            Built::Tree(r) => report::tree::render_markdown(&r),
        },
        Format::Html => html::render(view, &built(), opts.no_source)?,
        // the stack formats read the analyzer's per-stack totals, not the report
        Format::Flamegraph => return flame::render(view),
        Format::Speedscope => return speedscope::render(view),
    };
    Ok(text.into_bytes())
}
