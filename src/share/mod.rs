//! Results people share: a session's report rendered in the format asked for, to standard
//! output or to a file (`memwatch report FILE --format … -o OUT`, and `memwatch run --report`
//! at the end of a watch), and the owner-only creation of every file memwatch writes
//! ([`file`]), sessions included, since they carry the target's source, paths, command line
//! and heap names.
//!
//! Every format reads the same analyzer state a live watch, `report` and `replay` build
//! (a [`View`]): text, JSON and Markdown through [`crate::report`]; one self-contained HTML
//! page through [`html`] (its charts drawn by [`svg`]).

pub mod file;
pub mod html;
pub mod svg;

use crate::analyzer::Analyzer;
use crate::cli::Format;
use crate::failure::{Failure, Result};
use crate::report;
use crate::tree::TreeAnalyzer;

/// What a report is made from: one process's analyzer, or a tree's.
#[derive(Clone, Copy)]
pub enum View<'a> {
    Single(&'a Analyzer),
    Tree(&'a TreeAnalyzer),
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
    let built = Built::new(view, opts);
    let text = match (format, &built) {
        (Format::Text, Built::Single(r)) => report::text::render(r),
        (Format::Text, Built::Tree(r)) => report::tree::render_text(r),
        (Format::Json, Built::Single(r)) => {
            serde_json::to_string_pretty(r).map_err(Failure::internal)? + "\n"
        }
        (Format::Json, Built::Tree(r)) => {
            serde_json::to_string_pretty(r).map_err(Failure::internal)? + "\n"
        }
        (Format::Markdown, Built::Single(r)) => report::markdown::render(r),
        (Format::Markdown, Built::Tree(r)) => report::tree::render_markdown(r),
        (Format::Html, _) => html::render(view, &built, opts.no_source)?,
        (Format::Flamegraph | Format::Speedscope, _) => {
            return Err(Failure::Usage(format!(
                "--format {} is not available yet",
                format!("{format:?}").to_lowercase()
            )));
        }
    };
    Ok(text.into_bytes())
}
