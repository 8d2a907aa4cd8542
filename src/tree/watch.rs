//! The watch of a process tree: the supervisor that finds and attaches processes, their
//! pipelines (one sampler and one census clock each, as a single watch has), and the hub that
//! merges their streams into the tree analyzer and the session.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::governor::Governor;
use super::supervisor::{self, Found, Limits, Sampled};
use super::{TreeAnalyzer, TreeEvent};
use crate::cli::WatchOpts;
use crate::event::{Event, MAX_PROCS, ProcId, ProcessDef};
use crate::failure::{Failure, Result};
use crate::sampler::census::TreeShare;
use crate::sampler::stacks::StackReader;
use crate::sampler::{CHANNEL_BATCHES, Liveness, Sampler, SamplerConfig, micros};
use crate::session::writer::SessionWriter;
use crate::target::Target;
use crate::watch::{Finished, census_clock, session_info};
use crate::{interrupt, session};

/// Most processes listed in one session (sampled or not); past it they are only counted.
const MAX_LISTED: usize = 1024;
/// Most processes sampled in one session (each keeps its analyzer for the report).
const MAX_SAMPLED_TOTAL: usize = 256;
/// The tree reads at most this many times `--rate` stacks a second, shared among its sampled
/// processes: its CPU stays that of one watched process however many workers it has.
const RATE_SHARES: f64 = 1.0;

/// How long the hub sleeps when no pipeline sent anything.
const IDLE_WAIT: Duration = Duration::from_millis(100);
/// How often each process of a tree has its smaps read (5 s for a single process).
const TREE_ROLLUP_EVERY: Duration = Duration::from_secs(10);

/// Lock the shared tree analyzer; a panic elsewhere does not make it unusable.
pub fn lock(a: &Mutex<TreeAnalyzer>) -> MutexGuard<'_, TreeAnalyzer> {
    a.lock().unwrap_or_else(|e| e.into_inner())
}

/// What to watch: processes given by the user (already attached) and whether to follow their
/// descendants.
pub struct Roots {
    pub targets: Vec<(Target, Liveness)>,
    /// Roots that are not CPython themselves (a shell script, a C server embedding nothing):
    /// listed, and their descendants followed. A child of memwatch's is kept to be reaped.
    pub others: Vec<(i32, Option<std::process::Child>)>,
    pub follow: bool,
}

struct Pipeline {
    proc: ProcId,
    pid: i32,
    rx: Receiver<Vec<Event>>,
    stop: Arc<AtomicBool>,
    census_stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<()>>,
    census: Option<JoinHandle<()>>,
    /// Notes about this process's watch, sent after its Start.
    notes: Vec<String>,
    ended: bool,
}

impl Pipeline {
    fn finished(&self) -> bool {
        self.ended
            && self.sampler.as_ref().is_none_or(|h| h.is_finished())
            && self.census.as_ref().is_none_or(|h| h.is_finished())
    }

    fn join(&mut self) {
        self.census_stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.sampler.take() {
            let _ = h.join();
        }
        if let Some(h) = self.census.take() {
            let _ = h.join();
        }
    }
}

struct Hub<'a> {
    opts: &'a WatchOpts,
    shared: &'a Mutex<TreeAnalyzer>,
    writer: Option<SessionWriter>,
    start: Instant,
    stop: Arc<AtomicBool>,
    rate: Arc<AtomicU64>,
    /// What the census clocks share: their count (each counts itself while its heap moves)
    /// and the governor's scale of the budget.
    share: TreeShare,
    governor: Governor,
    pipes: Vec<Pipeline>,
    /// Processes listed, not sampled, by PID.
    listed: HashMap<i32, ProcId>,
    found: Option<Receiver<Found>>,
    sampled: Arc<Sampled>,
    next_proc: ProcId,
    roots: Vec<i32>,
    unlisted: u64,
}

impl Hub<'_> {
    fn t(&self) -> u64 {
        micros(self.start.elapsed())
    }

    fn emit(&mut self, evs: &[TreeEvent]) {
        if evs.is_empty() {
            return;
        }
        {
            let mut a = lock(self.shared);
            for e in evs {
                a.apply(e);
            }
            a.unlisted = self.unlisted;
        }
        if let Some(w) = self.writer.as_mut() {
            for e in evs {
                match e {
                    TreeEvent::Process(d) => w.write_process(d),
                    TreeEvent::Gone { proc, t } => w.write_process_gone(*proc, *t),
                    TreeEvent::Of(p, ev) => w.write_of(*p, ev),
                }
            }
        }
    }

    /// memwatch's share of a saturated machine (see [`super::governor`]).
    fn govern(&mut self) {
        let first = self.governor.lowest >= 1.0;
        if let Some(scale) = self.governor.tick() {
            self.reshare();
            if first && scale < 1.0 {
                self.note(format!(
                    "every CPU is busy: memwatch works at {:.0} % of its rate and census budget while that lasts, to keep each process within 1 %",
                    scale * 100.0
                ));
            }
        }
    }

    fn sampled_live(&self) -> usize {
        self.pipes.iter().filter(|p| !p.ended).count()
    }

    fn reshare(&self) {
        let n = self.sampled_live().max(1) as f64;
        let hz = self.opts.rate * (RATE_SHARES / n).min(1.0) * self.share.scale.get();
        self.rate.store(hz.to_bits(), Ordering::Relaxed);
    }

    fn new_proc(&mut self) -> Option<ProcId> {
        if self.next_proc as usize >= MAX_LISTED.min(MAX_PROCS as usize) {
            self.unlisted += 1;
            return None;
        }
        let p = self.next_proc;
        self.next_proc += 1;
        Some(p)
    }

    /// Start sampling `target` as process `proc`.
    fn start_pipeline(
        &mut self,
        proc: ProcId,
        target: Target,
        liveness: Liveness,
        ppid: i32,
    ) -> Result<()> {
        let spawned = matches!(liveness, Liveness::Child(_));
        let info = session_info(&target, self.opts, spawned);
        let pid = target.pid;
        let def = ProcessDef {
            proc,
            pid,
            ppid,
            command_line: target.command_line.clone(),
            seen_t: self.t(),
            python_version: Some(target.version.to_string()),
            not_sampled: None,
            root: self.roots.contains(&pid),
        };
        let (tx, rx) = sync_channel::<Vec<Event>>(CHANNEL_BATCHES);
        let cfg = SamplerConfig {
            rate_hz: self.opts.rate,
            shared_rate: Some(self.rate.clone()),
            duration: self.opts.duration.map(Duration::from_secs_f64),
            // the split of RSS by mapping reads the whole smaps of each process
            rollup_interval: TREE_ROLLUP_EVERY,
            ..SamplerConfig::default()
        };
        let (census, notes) = census_clock(&target, self.opts, Some(self.share.clone()));
        let stop = Arc::new(AtomicBool::new(self.stop.load(Ordering::Relaxed)));
        let census_stop = Arc::new(AtomicBool::new(false));
        let census_tx = tx.clone();
        let stacks = StackReader::new(target.spy, pid);
        let sampler = Sampler::new(pid, stacks, liveness, cfg, tx, stop.clone())
            .map_err(|_| Failure::TargetExitedDuringAttach(pid))?;
        let sampler = sampler
            .spawn(info, self.start)
            .map_err(|e| Failure::internal(format!("cannot start a sampler thread: {e}")))?;
        let census = match census {
            Some(clock) => Some(
                clock
                    .spawn(self.start, census_tx, census_stop.clone())
                    .map_err(|e| Failure::internal(format!("cannot start a census thread: {e}")))?,
            ),
            None => None,
        };
        self.emit(&[TreeEvent::Process(def)]);
        self.pipes.push(Pipeline {
            proc,
            pid,
            rx,
            stop,
            census_stop,
            sampler: Some(sampler),
            census,
            notes,
            ended: false,
        });
        self.reshare();
        Ok(())
    }

    fn list(&mut self, pid: i32, ppid: i32, command_line: String, why: String) {
        let Some(proc) = self.new_proc() else { return };
        let def = ProcessDef {
            proc,
            pid,
            ppid,
            command_line,
            seen_t: self.t(),
            python_version: None,
            not_sampled: Some(why),
            root: self.roots.contains(&pid),
        };
        self.listed.insert(pid, proc);
        self.emit(&[TreeEvent::Process(def)]);
    }

    /// What the supervisor found since the last look.
    fn take_found(&mut self) {
        let Some(rx) = self.found.as_ref() else {
            return;
        };
        let found: Vec<Found> = rx.try_iter().take(256).collect();
        for f in found {
            match f {
                Found::Python { target, ppid } => {
                    let pid = target.pid;
                    let started = match self.new_proc() {
                        Some(proc) => self
                            .start_pipeline(proc, *target, Liveness::Pid, ppid)
                            .map_err(|e| e.to_string()),
                        None => Err("past the listing cap".to_string()),
                    };
                    if let Err(e) = started {
                        self.unsample(pid);
                        if crate::target::is_alive(pid) {
                            self.note(format!("process {pid}: not sampled: {e}"));
                        }
                    }
                }
                Found::Listed {
                    pid,
                    ppid,
                    command_line,
                    why,
                } => self.list(pid, ppid, command_line, why),
                Found::Gone { pid } => {
                    if let Some(proc) = self.listed.remove(&pid) {
                        let t = self.t();
                        self.emit(&[TreeEvent::Gone { proc, t }]);
                    }
                }
                Found::Exec { pid } => {
                    for p in self.pipes.iter().filter(|p| p.pid == pid) {
                        p.stop.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// `pid` is no longer sampled (the supervisor may try it again).
    fn unsample(&self, pid: i32) {
        self.sampled
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pid);
    }

    /// A note about the tree's watch (recorded with the first process).
    fn note(&mut self, text: String) {
        let t = self.t();
        self.emit(&[TreeEvent::Of(0, Event::Note { t, text })]);
    }

    /// Hand over what the pipelines sent. Returns whether anything came.
    fn drain(&mut self) -> bool {
        let mut evs: Vec<TreeEvent> = Vec::new();
        let mut ended: Vec<i32> = Vec::new();
        for p in self.pipes.iter_mut() {
            // bounded per call: a busy pipeline does not starve the others
            for _ in 0..64 {
                match p.rx.try_recv() {
                    Ok(batch) => {
                        for mut ev in batch {
                            ev.shift_ids(p.proc);
                            let start = matches!(ev, Event::Start(_));
                            if matches!(ev, Event::End { .. }) {
                                p.ended = true;
                                ended.push(p.pid);
                                p.census_stop.store(true, Ordering::Relaxed);
                            }
                            evs.push(TreeEvent::Of(p.proc, ev));
                            if start {
                                for text in p.notes.drain(..) {
                                    evs.push(TreeEvent::Of(p.proc, Event::Note { t: 0, text }));
                                }
                            }
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        if !p.ended {
                            p.ended = true;
                            ended.push(p.pid);
                        }
                        break;
                    }
                }
            }
        }
        let any = !evs.is_empty();
        self.emit(&evs);
        if !ended.is_empty() {
            for pid in ended {
                self.unsample(pid);
            }
            self.reshare();
        }
        // pipelines whose threads are done are joined and dropped (a pool that recycles its
        // workers does not pile up threads)
        let mut i = 0;
        while i < self.pipes.len() {
            if self.pipes[i].finished() {
                let mut p = self.pipes.remove(i);
                p.join();
                // what the census clock sent last
                let mut late = Vec::new();
                while let Ok(batch) = p.rx.try_recv() {
                    for mut ev in batch {
                        if matches!(ev, Event::Census(_) | Event::Note { .. }) {
                            ev.shift_ids(p.proc);
                            late.push(TreeEvent::Of(p.proc, ev));
                        }
                    }
                }
                self.emit(&late);
            } else {
                i += 1;
            }
        }
        any
    }
}

/// Print the tree's status (headless watch): one line every interval, and each new finding.
pub struct TreeStatus {
    every: Duration,
    last: Instant,
    printed: std::collections::HashSet<String>,
}

impl TreeStatus {
    pub fn new(every: Duration) -> TreeStatus {
        TreeStatus {
            every,
            last: Instant::now(),
            printed: Default::default(),
        }
    }

    fn tick(&mut self, t: &TreeAnalyzer) {
        use std::io::Write;
        let mut err = std::io::stderr().lock();
        for f in super::group::findings(t) {
            // once per leak: the first process it is seen in names it; the report lists all
            let kind = f
                .processes
                .first()
                .and_then(|l| l.split_once(" ("))
                .map(|x| x.1);
            let key = format!("{}|{}", f.id, kind.unwrap_or(""));
            if self.printed.insert(key) {
                let _ = writeln!(
                    err,
                    "memwatch: finding: {}",
                    crate::report::text::finding_line(&f)
                );
            }
        }
        if self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        let sampled = t.sampled().count();
        let live = t.sampled().filter(|(p, _)| p.ended().is_none()).count();
        let rss: f64 = t
            .sampled()
            .filter(|(p, _)| p.ended().is_none())
            .filter_map(|(_, a)| a.rss.last.map(|l| l.1))
            .sum();
        let _ = writeln!(
            err,
            "memwatch: {:.0}s  {} process(es), {live} sampled now ({sampled} in all)  total RSS {}",
            t.now as f64 / 1e6,
            t.procs.len(),
            crate::units::bytes(rss * 1024.0),
        );
    }
}

/// Watch the tree until every sampled process has ended (the roots and, with `follow`, their
/// descendants), `--duration` passes, or a stop is asked (Ctrl-C, `stop`); then finalise the
/// session.
pub fn watch_tree(
    roots: Roots,
    opts: &WatchOpts,
    shared: &Mutex<TreeAnalyzer>,
    stop: Arc<AtomicBool>,
    mut status: Option<TreeStatus>,
) -> Result<Finished> {
    let first = roots
        .targets
        .first()
        .map(|(t, _)| t.pid)
        .or(roots.others.first().map(|o| o.0))
        .ok_or_else(|| Failure::Usage("no process to watch".into()))?;
    let writer = if opts.no_record {
        None
    } else {
        let path = opts
            .record
            .clone()
            .unwrap_or_else(|| session::default_path(first, crate::timefmt::now_unix()));
        let mut w = SessionWriter::create(&path, opts.force)?;
        w.set_retention(opts.retention);
        Some(w)
    };
    let mut exporter = opts.serve.map(crate::export::Exporter::start).transpose()?;
    // the governor's scale is the one the clocks read
    let governor = Governor::default();
    let mut hub = Hub {
        opts,
        shared,
        writer,
        start: Instant::now(),
        stop: stop.clone(),
        rate: Arc::new(AtomicU64::new(opts.rate.to_bits())),
        share: TreeShare {
            scale: governor.scale.clone(),
            ..TreeShare::default()
        },
        governor,
        pipes: Vec::new(),
        listed: HashMap::new(),
        found: None,
        sampled: Arc::new(Sampled::default()),
        next_proc: 0,
        roots: roots
            .targets
            .iter()
            .map(|(t, _)| t.pid)
            .chain(roots.others.iter().map(|o| o.0))
            .collect(),
        unlisted: 0,
    };
    for (target, liveness) in roots.targets {
        let pid = target.pid;
        let ppid = crate::sampler::proc::ppid(pid).unwrap_or(0);
        let Some(proc) = hub.new_proc() else { break };
        hub.start_pipeline(proc, target, liveness, ppid)?;
        hub.sampled.total.fetch_add(1, Ordering::Relaxed);
        hub.sampled
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pid);
    }
    let mut other_children = Vec::new();
    for (pid, child) in roots.others {
        let ppid = crate::sampler::proc::ppid(pid).unwrap_or(0);
        let cmd = crate::target::read_cmdline(pid);
        hub.list(
            pid,
            ppid,
            cmd,
            "not a Python process (the CPython processes below it are watched)".into(),
        );
        other_children.extend(child);
    }
    let supervisor_stop = Arc::new(AtomicBool::new(false));
    let supervisor = if roots.follow {
        let (tx, rx) = sync_channel::<Found>(256);
        hub.found = Some(rx);
        let limits = Limits {
            live: opts.max_processes,
            total: MAX_SAMPLED_TOTAL,
        };
        Some(
            supervisor::spawn(
                hub.roots.clone(),
                limits,
                tx,
                hub.sampled.clone(),
                supervisor_stop.clone(),
                hub.share.scale.clone(),
            )
            .map_err(|e| Failure::internal(format!("cannot start the tree's thread: {e}")))?,
        )
    } else {
        None
    };
    let mut stopping = false;
    loop {
        if interrupt::requested() {
            stop.store(true, Ordering::Relaxed);
        }
        if stop.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            for p in &hub.pipes {
                p.stop.store(true, Ordering::Relaxed);
            }
        }
        if stopping {
            supervisor_stop.store(true, Ordering::Relaxed);
        } else {
            hub.take_found();
        }
        let any = hub.drain();
        if !stopping {
            hub.govern();
        }
        if let Some(w) = hub.writer.as_mut() {
            w.tick();
        }
        if let Some(s) = status.as_mut() {
            s.tick(&lock(shared));
        }
        if let Some(e) = exporter.as_mut() {
            e.refresh_tree(shared);
        }
        let duration_over = opts
            .duration
            .is_some_and(|d| hub.start.elapsed().as_secs_f64() >= d);
        if duration_over && !stopping {
            stopping = true;
            for p in &hub.pipes {
                p.stop.store(true, Ordering::Relaxed);
            }
        }
        // the watch ends when nothing sampled runs any more and no root is left to follow
        let roots_alive = hub.roots.iter().any(|&r| crate::target::is_alive(r));
        if hub.pipes.is_empty() && (stopping || !roots.follow || !roots_alive) {
            break;
        }
        if !any {
            // the pipelines' channels hold seconds of events: no need to wake more often
            std::thread::sleep(IDLE_WAIT);
        }
    }
    supervisor_stop.store(true, Ordering::Relaxed);
    if hub.governor.lowest < 1.0 {
        let text = format!(
            "the CPUs were saturated for {:.0} s of the watch: memwatch worked at down to {:.0} % of its rate and census budget then, to keep each process within 1 %",
            hub.governor.reduced_for.as_secs_f64(),
            hub.governor.lowest * 100.0
        );
        hub.note(text);
    }
    for mut c in other_children {
        let _ = c.try_wait();
    }
    // what it attached meanwhile is let go (its py-spy handle is dropped, nothing was paused)
    drop(hub.found.take());
    if let Some(h) = supervisor {
        let _ = h.join();
    }
    let mut w = hub.writer.take();
    Ok(match w.take() {
        None => Finished::default(),
        Some(w) => {
            let path = w.path().to_path_buf();
            let a = lock(shared);
            let mut procs = a.sampled().map(|(p, a)| (p.def.proc, a));
            match w.finish_tree(&mut procs) {
                Ok(p) => Finished {
                    session: Some(p),
                    session_error: None,
                },
                Err(e) => Finished {
                    session: Some(path),
                    session_error: Some(e.to_string()),
                },
            }
        }
    })
}

/// What a finished tree watch leaves behind.
pub struct TreeOutcome {
    pub tree: TreeAnalyzer,
    pub session: Option<std::path::PathBuf>,
    pub session_error: Option<String>,
    /// A failure of memwatch's own that still let the watch finish (the dashboard failed).
    pub internal_error: Option<String>,
}

impl TreeOutcome {
    pub fn into_result(self) -> Result<()> {
        self.internal_error
            .map_or(Ok(()), |m| Err(Failure::Internal(m)))
    }
}

/// A headless tree watch: status lines on stderr.
pub fn watch_headless(roots: Roots, opts: &WatchOpts) -> Result<TreeOutcome> {
    let shared = Mutex::new(TreeAnalyzer::new());
    let stop = Arc::new(AtomicBool::new(false));
    let status = TreeStatus::new(Duration::from_secs_f64(opts.status_interval));
    let done = watch_tree(roots, opts, &shared, stop, Some(status))?;
    Ok(TreeOutcome {
        tree: std::mem::take(&mut *lock(&shared)),
        session: done.session,
        session_error: done.session_error,
        internal_error: None,
    })
}
