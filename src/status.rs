//! Headless output: a compact status line every few seconds on stderr (elapsed, RSS and its
//! change, fds, samples, the top line so far). Used with `--no-tui` or without a terminal.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::analyzer::Analyzer;
use crate::units;

pub struct StatusLine {
    every: Duration,
    last: Instant,
    /// RSS (KiB) and time at the previous line, for the rate.
    prev: Option<(u64, f64)>,
    /// Findings already printed.
    printed: std::collections::HashSet<String>,
}

impl StatusLine {
    pub fn new(every: Duration) -> StatusLine {
        StatusLine {
            every,
            last: Instant::now(),
            prev: None,
            printed: Default::default(),
        }
    }

    /// Print each finding once, as soon as the analyzer supports it.
    pub fn new_findings(&mut self, a: &Analyzer) {
        for f in &a.findings {
            if self.printed.insert(f.id.clone()) {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(
                    err,
                    "memwatch {:>7}  finding {}",
                    units::duration(
                        f.first_seen
                            .saturating_sub(a.rss.first.map(|p| p.0).unwrap_or(0))
                            as f64
                            / 1e6
                    ),
                    crate::report::text::finding_line(f)
                );
            }
        }
    }

    /// Print a line if it is time.
    pub fn tick(&mut self, a: &Analyzer) {
        if self.last.elapsed() >= self.every && a.samples > 0 {
            self.last = Instant::now();
            let line = self.line(a);
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{line}");
        }
    }

    pub fn line(&mut self, a: &Analyzer) -> String {
        let elapsed = a.duration_secs();
        let rss = a.rss.last.map(|(_, v)| v).unwrap_or(0.0);
        let start = a.rss.first.map(|(_, v)| v).unwrap_or(0.0);
        let rate = match self.prev {
            Some((r, t)) if elapsed > t => {
                format!(
                    ", {}/s",
                    units::signed_kib((rss - r as f64) / (elapsed - t))
                )
            }
            _ => String::new(),
        };
        self.prev = Some((rss as u64, elapsed));
        let fds = a
            .fds
            .last
            .map(|(_, v)| format!("  fds {v:.0}"))
            .unwrap_or_default();
        // the program's own line (a library call charged to the line that made it), else the
        // innermost line when no growth was charged to the program's code
        let top = crate::report::top_user_lines(a, 1)
            .into_iter()
            .next()
            .filter(|l| l.increment_bytes > 0)
            .or_else(|| {
                crate::report::top_lines(a, 1)
                    .into_iter()
                    .next()
                    .filter(|l| l.increment_bytes > 0)
            })
            .map(|l| {
                let file = std::path::Path::new(&l.file)
                    .file_name()
                    .map(|f| f.to_string_lossy().to_string())
                    .unwrap_or(l.file.clone());
                format!(
                    "  top {}:{} {}() {}",
                    file,
                    l.line,
                    l.function,
                    units::signed_kib(l.increment_bytes as f64 / 1024.0)
                )
            })
            .unwrap_or_default();
        format!(
            "memwatch {:>7}  RSS {} ({}{}){}  samples {} ({} dropped){}",
            units::duration(elapsed),
            units::kib(rss),
            units::signed_kib(rss - start),
            rate,
            fds,
            units::count(a.samples),
            units::count(a.dropped),
            top
        )
    }
}
