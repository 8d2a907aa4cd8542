//! Process trees: `--subprocesses` (the target and every descendant) and several `--pid`s.
//!
//! Data flow, one level above a single watch: the supervisor ([`supervisor`], a thread of its
//! own) scans the tree ([`scan`]) twice a second and attaches to each new CPython process; the
//! hub ([`watch`]) gives it a pipeline of its own (sampler thread, census clock, as for one
//! process) and tags each pipeline's
//! events with the process ([`TreeEvent::Of`]) and hands them to the [`TreeAnalyzer`] (one
//! [`Analyzer`] per process) and to the one session writer (a `proc` column in every table).
//! A session read back goes through the same [`TreeAnalyzer`]; the report ([`crate::report::tree`])
//! and the dashboard's process list read it.
//!
//! Budgets: the fast clock's rate is the tree's — with N sampled processes each is sampled at
//! `--rate / N`, so memwatch reads at most `--rate` stacks a second whatever the tree's size
//! and its CPU is that of one watched process (coarser line tables per worker are the price;
//! the census clocks, which find the leaks, are not slowed by it); census clocks share the census CPU budget (3 % of a core) and pause one target
//! at a time ([`crate::heap::freeze`]); the pause budget (`--pause-budget`) holds for each
//! process. At most `--max-processes` (default 32) are sampled at once, 256 in a session and
//! 1024 listed; past that a fork bomb of short-lived children is counted, not followed, so
//! memwatch's memory is bounded whatever the tree does.

pub mod governor;
pub mod group;
pub mod scan;
pub mod supervisor;
pub mod watch;

use crate::analyzer::Analyzer;
use crate::event::{EndReason, Event, Micros, ProcId, ProcessDef};

/// The tree's event stream: process definitions and each process's own stream.
#[derive(Debug, Clone)]
pub enum TreeEvent {
    /// A process was first seen (sampled or only listed).
    Process(ProcessDef),
    /// A listed (not sampled) process has gone.
    Gone { proc: ProcId, t: Micros },
    /// An event of a sampled process's stream (ids already shifted, [`Event::shift_ids`]).
    Of(ProcId, Event),
}

/// One process as the tree analyzer knows it.
#[derive(Debug, Clone, Default)]
pub struct ProcView {
    pub def: ProcessDef,
    /// The analyzer of its stream (None: listed, not sampled).
    pub analyzer: Option<Analyzer>,
    /// When it was seen gone (listed processes; sampled ones end with their stream).
    pub gone: Option<Micros>,
}

impl ProcView {
    /// `worker 4312 (gunicorn: worker [app])`, `main 4300 (python app.py)`.
    pub fn label(&self) -> String {
        format!(
            "{} {} ({})",
            if self.is_root() { "main" } else { "worker" },
            self.def.pid,
            group::short_command(&self.def.command_line)
        )
    }

    /// A process the user named (`--pid`, `run`), not one found below them.
    pub fn is_root(&self) -> bool {
        self.def.root
    }

    pub fn ended(&self) -> Option<Micros> {
        self.gone.or_else(|| {
            self.analyzer
                .as_ref()
                .and_then(|a| a.end.as_ref().map(|e| e.0))
        })
    }
}

/// Every process of the tree, in the order first seen.
#[derive(Debug, Clone, Default)]
pub struct TreeAnalyzer {
    pub procs: Vec<ProcView>,
    /// Time of the latest event.
    pub now: Micros,
    /// Processes seen but neither listed nor sampled (past the listing cap).
    pub unlisted: u64,
}

impl TreeAnalyzer {
    pub fn new() -> TreeAnalyzer {
        TreeAnalyzer::default()
    }

    fn index(&self, proc: ProcId) -> Option<usize> {
        // processes are numbered in the order first seen: the index is the number, unless a
        // session lost some rows
        match self.procs.get(proc as usize) {
            Some(p) if p.def.proc == proc => Some(proc as usize),
            _ => self.procs.iter().position(|p| p.def.proc == proc),
        }
    }

    pub fn get(&self, proc: ProcId) -> Option<&ProcView> {
        self.index(proc).map(|i| &self.procs[i])
    }

    pub fn apply(&mut self, ev: &TreeEvent) {
        match ev {
            TreeEvent::Process(def) => {
                self.now = self.now.max(def.seen_t);
                if self.index(def.proc).is_none() {
                    self.procs.push(ProcView {
                        def: def.clone(),
                        analyzer: None,
                        gone: None,
                    });
                }
            }
            TreeEvent::Gone { proc, t } => {
                self.now = self.now.max(*t);
                if let Some(i) = self.index(*proc) {
                    self.procs[i].gone.get_or_insert(*t);
                }
            }
            TreeEvent::Of(proc, ev) => {
                let i = match self.index(*proc) {
                    Some(i) => i,
                    None => {
                        // a stream whose process row was lost: name it from its header
                        let Event::Start(info) = ev else { return };
                        self.procs.push(ProcView {
                            def: ProcessDef {
                                proc: *proc,
                                pid: info.pid,
                                command_line: info.command_line.clone(),
                                python_version: Some(info.python_version.clone()),
                                ..ProcessDef::default()
                            },
                            ..ProcView::default()
                        });
                        self.procs.len() - 1
                    }
                };
                let a = self.procs[i].analyzer.get_or_insert_with(Analyzer::new);
                a.apply(ev);
                self.now = self.now.max(a.now);
            }
        }
    }

    /// The sampled processes with their analyzers.
    pub fn sampled(&self) -> impl Iterator<Item = (&ProcView, &Analyzer)> {
        self.procs
            .iter()
            .filter_map(|p| p.analyzer.as_ref().map(|a| (p, a)))
    }

    /// Why the whole watch ended: the first target's end.
    pub fn end(&self) -> Option<&(Micros, EndReason)> {
        self.procs
            .first()
            .and_then(|p| p.analyzer.as_ref())
            .and_then(|a| a.end.as_ref())
    }
}

/// Read a recorded session into `t`: every process row, then each sampled process's stream
/// (the same events its pipeline produced live).
pub fn replay(reader: &mut crate::session::reader::SessionReader, t: &mut TreeAnalyzer) {
    let rows = reader.processes.clone();
    for r in &rows {
        t.apply(&TreeEvent::Process(r.def.clone()));
        if r.info.is_some() {
            reader.replay_proc(r.def.proc, &mut |ev| {
                t.apply(&TreeEvent::Of(r.def.proc, ev.clone()))
            });
            // the findings as of its last event (a session cut short has no end to prompt them)
            if let Some(a) = t
                .procs
                .iter_mut()
                .find(|p| p.def.proc == r.def.proc)
                .and_then(|p| p.analyzer.as_mut())
            {
                a.update_findings();
            }
        } else if let Some((end, _)) = r.end {
            t.apply(&TreeEvent::Gone {
                proc: r.def.proc,
                t: end,
            });
        }
    }
}
