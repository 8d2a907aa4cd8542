//! The analyzer: consumes the event stream and keeps everything the views need. It knows
//! nothing about where events come from, so a live watch, `memwatch report` and
//! `memwatch replay` all see the same state for the same events.
//!
//! Memory is bounded: series are fixed-size ([`series::Series`]), tables are keyed by
//! interned ids whose number the sampler caps.

pub mod heap;
pub mod lines;
pub mod series;
pub mod stacks;
pub mod trend;

use std::collections::HashMap;
use std::sync::Arc;

use crate::event::{
    EndReason, Event, FrameDef, FrameId, MemRollup, Micros, SessionInfo, StackId, ThreadDef,
    ThreadId,
};
use lines::LineTable;
use series::Series;

/// Source text, split in lines, as the target saw it (`None`: unreadable).
pub type SourceLines = Option<Arc<Vec<String>>>;

#[derive(Debug, Default, Clone)]
pub struct Analyzer {
    pub info: Option<SessionInfo>,
    pub frames: HashMap<FrameId, FrameDef>,
    pub stacks: HashMap<StackId, Vec<FrameId>>,
    pub threads: HashMap<ThreadId, ThreadDef>,
    pub sources: HashMap<String, SourceLines>,
    /// RSS in KiB over time.
    pub rss: Series,
    /// Open fds over time.
    pub fds: Series,
    /// USS in KiB over time (slow clock).
    pub uss: Series,
    pub last_rollup: Option<(Micros, MemRollup)>,
    /// The latest grouping of the open fds.
    pub fd_targets: Option<(Micros, Vec<crate::event::FdGroup>)>,
    /// The stack of the main thread (or the attributed one) at the latest sample.
    pub last_stack: Option<StackId>,
    /// Current findings, recomputed as evidence arrives (first-seen times kept).
    pub findings: Vec<crate::findings::Finding>,
    /// Session time the findings were last computed at.
    findings_at: Option<Micros>,
    pub lines: LineTable,
    /// What the line table charged to each whole stack (flamegraph, speedscope).
    pub stack_totals: stacks::StackTotals,
    pub heap: heap::HeapHistory,
    /// Notes about the watch itself, newest last (bounded).
    pub notes: Vec<(Micros, String)>,
    pub samples: u64,
    /// Samples that came with at least one Python stack.
    pub samples_with_stack: u64,
    /// Probes of the line clock (sent around changes of RSS, between samples).
    pub probes: u64,
    pub dropped: u64,
    /// Time of the latest event.
    pub now: Micros,
    pub end: Option<(Micros, EndReason)>,
}

/// Sample-driven findings (RSS, fds, hot lines) are re-examined this often.
const FINDINGS_EVERY_US: Micros = 5_000_000;

impl Analyzer {
    pub fn new() -> Analyzer {
        Analyzer::default()
    }

    /// Recompute the findings, keeping when each was first supported.
    pub fn update_findings(&mut self) {
        self.findings_at = Some(self.now);
        let mut fresh = crate::findings::detect(self);
        for f in fresh.iter_mut() {
            if let Some(old) = self.findings.iter().find(|o| o.id == f.id) {
                f.first_seen = old.first_seen;
            }
        }
        // A finding the evidence no longer supports goes (a dict that filled up to its key
        // space is a plateau, not a leak); the report is made from the final state.
        self.findings = fresh;
    }

    pub fn apply(&mut self, ev: &Event) {
        if let Some(t) = ev.time() {
            self.now = self.now.max(t);
        }
        match ev {
            Event::Start(info) => self.info = Some((**info).clone()),
            Event::Frame(id, def) => {
                self.frames.insert(*id, def.clone());
            }
            Event::Stack(id, frames) => {
                self.stacks.insert(*id, frames.clone());
            }
            Event::Thread(def) => {
                self.threads.insert(def.id, def.clone());
            }
            Event::Source { file, text } => {
                let lines = text
                    .as_ref()
                    .map(|t| Arc::new(t.lines().map(str::to_string).collect::<Vec<_>>()));
                self.sources.insert(file.clone(), lines);
            }
            Event::Sample(s) => {
                if self
                    .findings_at
                    .is_none_or(|at| s.t.saturating_sub(at) >= FINDINGS_EVERY_US)
                {
                    self.update_findings();
                }
                self.samples += 1;
                if !s.threads.is_empty() {
                    self.samples_with_stack += 1;
                }
                self.rss.push(s.t, s.rss_kib as f64);
                let main = s
                    .threads
                    .iter()
                    .find(|t| self.threads.get(&t.thread).is_some_and(|d| d.is_main));
                if let Some(t) = main.or_else(|| s.attributed()) {
                    self.last_stack = Some(t.stack);
                }
                let done = self.lines.apply_sample(s, &self.stacks, &self.frames);
                self.stack_totals.apply(&done);
            }
            Event::Probe {
                t,
                rss_kib,
                stack,
                active,
                ..
            } => {
                self.probes += 1;
                let done = self.lines.apply_probe(
                    *t,
                    *rss_kib,
                    *stack,
                    *active,
                    &self.stacks,
                    &self.frames,
                );
                self.stack_totals.apply(&done);
            }
            Event::Fds { t, count } => {
                self.fds.push(*t, *count as f64);
                self.lines.apply_fds(*count, &self.stacks, &self.frames);
            }
            Event::Rollup { t, mem } => {
                self.uss.push(*t, mem.uss_kib as f64);
                self.last_rollup = Some((*t, *mem));
            }
            Event::Dropped { count, .. } => self.dropped += count,
            Event::Census(c) => {
                self.heap.apply(c);
                self.update_findings();
            }
            Event::Lengths { t, rows } => self.heap.apply_lengths(*t, rows),
            Event::FdTargets { t, groups } => self.fd_targets = Some((*t, groups.clone())),
            Event::Note { t, text } => {
                if self.notes.len() >= 200 {
                    self.notes.remove(0);
                }
                self.notes.push((*t, text.clone()));
            }
            Event::End { t, reason } => {
                self.end = Some((*t, reason.clone()));
                let done = self.lines.flush(&self.stacks, &self.frames);
                self.stack_totals.apply(&done);
                // the report is made from the final state, not from the last periodic look
                self.update_findings();
            }
        }
    }

    /// Seconds covered by samples so far.
    pub fn duration_secs(&self) -> f64 {
        match (self.rss.first, self.end.as_ref()) {
            (Some((t0, _)), Some((t1, _))) => (*t1 - t0) as f64 / 1e6,
            (Some((t0, _)), None) => (self.now.saturating_sub(t0)) as f64 / 1e6,
            _ => 0.0,
        }
    }

    /// Lines of `file` as the target saw them.
    pub fn source(&self, file: &str) -> Option<&Arc<Vec<String>>> {
        self.sources.get(file).and_then(|s| s.as_ref())
    }

    /// Text of one line, trimmed at the end, if known.
    pub fn line_text(&self, file: &str, line: u32) -> Option<&str> {
        let src = self.source(file)?;
        src.get((line as usize).checked_sub(1)?)
            .map(|l| l.trim_end())
    }
}
