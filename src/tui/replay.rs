//! `memwatch replay FILE`: the dashboard over a recorded session, with a timeline.
//!
//! The views show the state as of the cursor: the session's events with time ≤ cursor
//! applied, in stream order, to the same [`Analyzer`] a live watch and `memwatch report` use.
//! [`SessionReader::replay`] produces the stream (in time order) on a worker thread, which
//! applies events while their time is ≤ the cursor and then waits inside the stream for the
//! cursor to move on: moving forward (→, play, End) continues where it stopped.
//!
//! Moving back restarts the stream from the nearest checkpoint at or before the cursor:
//! analyzer snapshots taken during the first pass (which reads the whole session to learn its
//! end) on a grid of session time. The grid starts at 1 s and doubles whenever there would be
//! more than [`MAX_CHECKPOINTS`] snapshots or their estimated size would pass
//! [`CHECKPOINT_BUDGET`], so memory stays bounded however long the session; the final state
//! is kept too (End is instant). A restart reads the file again up to the checkpoint without
//! applying anything, then applies from there; the pass it replaces is abandoned by unwinding
//! out of the reader with a private payload (no panic message).

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent};
use ratatui::style::Color;

use super::FRAME;
use super::app::{App, Effect, Mode};
use super::input::{self, Action};
use super::terminal::{self, Term};
use super::tree::Focus;
use super::views::{self, Ctx, Timeline};
use crate::analyzer::Analyzer;
use crate::analyzer::series::Series;
use crate::event::{Event, Micros, ProcId};
use crate::failure::{Failure, Result};
use crate::session::reader::SessionReader;
use crate::tree::TreeAnalyzer;
use crate::watch::{SharedAnalyzer, lock};

/// Most analyzer snapshots kept for moving back in time.
pub const MAX_CHECKPOINTS: usize = 64;
/// Estimated memory the snapshots may take, bytes.
pub const CHECKPOINT_BUDGET: usize = 256 << 20;
/// The first checkpoint interval.
const FIRST_INTERVAL: Micros = 1_000_000;

struct Checkpoint {
    /// The snapshot holds every event with time ≤ `t`.
    t: Micros,
    analyzer: Arc<Analyzer>,
    bytes: usize,
}

#[derive(Debug, Clone, Copy)]
struct Job {
    generation: u64,
    /// Skip events up to this time (the checkpoint the pass starts from holds them).
    skip_until: Option<Micros>,
    /// The first pass: learn the timeline and take the checkpoints.
    first: bool,
}

/// The worker abandons a pass by unwinding with this.
struct Abort;

#[derive(Default)]
struct State {
    generation: u64,
    /// A pass for the worker to start.
    job: Option<Job>,
    /// Apply events with time ≤ target.
    target: Micros,
    quit: bool,
    /// The shared analyzer holds every event with time ≤ applied.
    applied: Micros,
    /// The current pass has reached the end of the stream.
    stream_done: bool,
    loaded: bool,
    checkpoints: Vec<Checkpoint>,
    interval: Micros,
    final_state: Option<Arc<Analyzer>>,
    start: Option<Micros>,
    end: Micros,
    censuses: Vec<Micros>,
    frozen_censuses: Arc<Vec<Micros>>,
    findings: Arc<Vec<Micros>>,
    warnings: Vec<String>,
}

type Ctl = Arc<(Mutex<State>, Condvar)>;

fn guard(ctl: &(Mutex<State>, Condvar)) -> MutexGuard<'_, State> {
    ctl.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the replay stands, for the timeline.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub loaded: bool,
    pub start: Micros,
    pub end: Micros,
    pub applied: Micros,
    /// The state shown is behind the cursor (the worker is catching up).
    pub seeking: bool,
    pub censuses: Arc<Vec<Micros>>,
    pub findings: Arc<Vec<Micros>>,
    pub checkpoints: usize,
}

/// The replay worker and the analyzer it drives.
pub struct Engine {
    ctl: Ctl,
    pub analyzer: SharedAnalyzer,
    worker: Option<JoinHandle<()>>,
}

/// A rough size of an analyzer's own memory (source texts are shared between snapshots).
pub fn approx_bytes(a: &Analyzer) -> usize {
    let series = |s: &Series| s.points().len() * 24 + 128;
    let census = |c: &crate::heap::census::Census| {
        c.types.len() * 96
            + c.containers.len() * 256
            + c.largest.len() * 96
            + c.modules.len() * 96
            + 1024
    };
    let mut n = 4096 + series(&a.rss) + series(&a.fds) + series(&a.uss);
    for h in a.heap.types.values().chain(a.heap.containers.values()) {
        n += series(&h.count) + series(&h.bytes) + 64;
    }
    n += a.heap.first.as_ref().map_or(0, census) + a.heap.last.as_ref().map_or(0, census);
    n += (a.lines.lines.len() + a.frames.len()) * 128;
    n += a.stacks.values().map(|s| s.len() * 4 + 64).sum::<usize>();
    n += a.stack_totals.len() * 40;
    n += a.findings.len() * 2048 + a.notes.len() * 128;
    n
}

/// Drop every other checkpoint (the first stays) and double the interval.
fn thin(s: &mut State) {
    let kept: Vec<Checkpoint> = std::mem::take(&mut s.checkpoints)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
        .map(|(_, c)| c)
        .collect();
    s.checkpoints = kept;
    s.interval *= 2;
}

impl Engine {
    /// Start reading the session on a worker thread.
    pub fn start(reader: SessionReader) -> Result<Engine> {
        Engine::start_proc(reader, 0)
    }

    /// Start reading the stream of process `proc` of a tree's session.
    pub fn start_proc(reader: SessionReader, proc: ProcId) -> Result<Engine> {
        let ctl: Ctl = Arc::new((
            Mutex::new(State {
                job: Some(Job {
                    generation: 0,
                    skip_until: None,
                    first: true,
                }),
                target: Micros::MAX,
                interval: FIRST_INTERVAL,
                ..State::default()
            }),
            Condvar::new(),
        ));
        let analyzer: SharedAnalyzer = Arc::new(Mutex::new(Analyzer::new()));
        let worker = {
            let (ctl, analyzer) = (ctl.clone(), analyzer.clone());
            std::thread::Builder::new()
                .name("memwatch-replay".into())
                .spawn(move || worker(reader, proc, &ctl, &analyzer))
                .map_err(|e| Failure::internal(format!("cannot start the replay thread: {e}")))?
        };
        Ok(Engine {
            ctl,
            analyzer,
            worker: Some(worker),
        })
    }

    pub fn progress(&self) -> Progress {
        let s = guard(&self.ctl);
        Progress {
            loaded: s.loaded,
            start: s.start.unwrap_or(0),
            end: s.end,
            applied: s.applied,
            seeking: !s.stream_done && s.applied < s.target,
            censuses: if s.loaded {
                s.frozen_censuses.clone()
            } else {
                Arc::new(s.censuses.clone())
            },
            findings: s.findings.clone(),
            checkpoints: s.checkpoints.len(),
        }
    }

    /// Show the state as of `t` (ignored until the first pass is over).
    pub fn seek(&self, t: Micros) {
        let mut s = guard(&self.ctl);
        if !s.loaded {
            return;
        }
        let t = t.min(s.end);
        if t >= s.end
            && let Some(fin) = s.final_state.clone()
        {
            if !(s.stream_done && s.applied >= s.end) {
                // the final state is kept: no need to read anything
                *lock(&self.analyzer) = (*fin).clone();
                s.generation += 1;
                s.job = None;
                s.stream_done = true;
                s.applied = s.end;
            }
            s.target = t;
            self.ctl.1.notify_all();
            return;
        }
        if t >= s.target {
            // forward: the pass under way goes on (or the stream is already done)
            s.target = t;
            self.ctl.1.notify_all();
            return;
        }
        // back: restart from the nearest checkpoint at or before t
        let (from, start) = match s.checkpoints.iter().rev().find(|c| c.t <= t) {
            Some(c) => (Some(c.t), (*c.analyzer).clone()),
            None => (None, Analyzer::new()),
        };
        *lock(&self.analyzer) = start;
        s.generation += 1;
        s.job = Some(Job {
            generation: s.generation,
            skip_until: from,
            first: false,
        });
        s.target = t;
        s.applied = from.unwrap_or(0);
        s.stream_done = false;
        self.ctl.1.notify_all();
    }

    /// Stop the worker; the reader's warnings about the session.
    pub fn stop(mut self) -> Vec<String> {
        {
            let mut s = guard(&self.ctl);
            s.quit = true;
            self.ctl.1.notify_all();
        }
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        std::mem::take(&mut guard(&self.ctl).warnings)
    }

    /// Wait until the first pass is over (tests).
    pub fn wait_loaded(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut s = guard(&self.ctl);
        while !s.loaded {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            s = self
                .ctl
                .1
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Wait until the state shown is the cursor's (tests).
    pub fn wait_settled(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if !self.progress().seeking {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let mut s = guard(&self.ctl);
        s.quit = true;
        self.ctl.1.notify_all();
    }
}

fn worker(
    mut reader: SessionReader,
    proc: ProcId,
    ctl: &(Mutex<State>, Condvar),
    shared: &Mutex<Analyzer>,
) {
    loop {
        let job = {
            let mut s = guard(ctl);
            loop {
                if s.quit {
                    return;
                }
                if let Some(j) = s.job.take() {
                    break j;
                }
                s = ctl.1.wait(s).unwrap_or_else(|e| e.into_inner());
            }
        };
        let mut skipping = job.skip_until.is_some();
        let mut skipped = 0u64;
        let mut next_grid: Micros = 0;
        let pass = catch_unwind(AssertUnwindSafe(|| {
            reader.replay_proc(proc, &mut |ev: &Event| {
                let t = ev.time();
                if skipping {
                    match (t, job.skip_until) {
                        (Some(t), Some(skip)) if t > skip => skipping = false,
                        _ => {
                            // now and then, see whether this pass is still wanted
                            skipped += 1;
                            if skipped.is_multiple_of(4096) {
                                let s = guard(ctl);
                                if s.quit || s.generation != job.generation {
                                    drop(s);
                                    resume_unwind(Box::new(Abort));
                                }
                            }
                            return;
                        }
                    }
                }
                let mut s = guard(ctl);
                loop {
                    if s.quit || s.generation != job.generation {
                        drop(s);
                        resume_unwind(Box::new(Abort));
                    }
                    match t {
                        Some(t) if t > s.target => {
                            // caught up with the cursor: wait for it to move on
                            s.applied = s.target;
                            ctl.1.notify_all();
                            s = ctl.1.wait(s).unwrap_or_else(|e| e.into_inner());
                        }
                        _ => break,
                    }
                }
                if job.first
                    && let Some(t) = t
                {
                    if t > next_grid {
                        // a snapshot of every event ≤ g, the last grid point before t
                        let g = next_grid + (t - 1 - next_grid) / s.interval * s.interval;
                        let snap = lock(shared).clone();
                        let bytes = approx_bytes(&snap);
                        s.checkpoints.push(Checkpoint {
                            t: g,
                            analyzer: Arc::new(snap),
                            bytes,
                        });
                        next_grid = g + s.interval;
                        while s.checkpoints.len() > 2
                            && (s.checkpoints.len() > MAX_CHECKPOINTS
                                || s.checkpoints.iter().map(|c| c.bytes).sum::<usize>()
                                    > CHECKPOINT_BUDGET)
                        {
                            thin(&mut s);
                            next_grid = next_grid.max(g + s.interval);
                        }
                    }
                    if s.start.is_none() && matches!(ev, Event::Sample(_)) {
                        s.start = Some(t);
                    }
                    if matches!(ev, Event::Census(_)) {
                        s.censuses.push(t);
                    }
                    s.end = s.end.max(t);
                }
                lock(shared).apply(ev);
                if let Some(t) = t {
                    s.applied = s.applied.max(t);
                }
            })
        }));
        reader.warnings.clear();
        match pass {
            Ok(warnings) => {
                let mut s = guard(ctl);
                if s.generation == job.generation {
                    s.stream_done = true;
                    if job.first {
                        let fin = lock(shared).clone();
                        let mut f: Vec<Micros> =
                            fin.findings.iter().map(|f| f.first_seen).collect();
                        f.sort_unstable();
                        s.findings = Arc::new(f);
                        s.final_state = Some(Arc::new(fin));
                        s.frozen_censuses = Arc::new(std::mem::take(&mut s.censuses));
                        s.warnings = warnings;
                        s.target = s.end;
                        s.applied = s.end;
                        s.loaded = true;
                    }
                    ctl.1.notify_all();
                }
            }
            Err(payload) if payload.is::<Abort>() => {}
            Err(payload) => resume_unwind(payload),
        }
    }
}

/// A step of about a sixtieth of the session, rounded to a readable figure.
fn step_for(span: Micros) -> Micros {
    const STEPS_S: [f64; 15] = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
    ];
    let want = span as f64 / 1e6 / 60.0;
    let s = STEPS_S
        .iter()
        .copied()
        .find(|s| *s >= want)
        .unwrap_or(3600.0);
    (s * 1e6) as Micros
}

const SPEEDS: [f64; 9] = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// The replay's timeline state (cursor, playback) and what the timeline keys do to it.
#[derive(Debug, Clone)]
pub struct Player {
    pub cursor: Micros,
    pub playing: bool,
    pub speed: f64,
}

impl Default for Player {
    fn default() -> Self {
        Player {
            cursor: 0,
            playing: false,
            speed: 1.0,
        }
    }
}

impl Player {
    /// Apply a timeline key.
    pub fn key(&mut self, action: Action, p: &Progress) {
        let step = step_for(p.end.saturating_sub(p.start));
        match action {
            Action::StepBack => self.cursor = self.cursor.saturating_sub(step),
            Action::StepForward => self.cursor = self.cursor.saturating_add(step),
            Action::BigStepBack => self.cursor = self.cursor.saturating_sub(step * 10),
            Action::BigStepForward => self.cursor = self.cursor.saturating_add(step * 10),
            Action::PrevCensus => {
                if let Some(&t) = p.censuses.iter().rev().find(|&&t| t < self.cursor) {
                    self.cursor = t;
                }
            }
            Action::NextCensus => {
                if let Some(&t) = p.censuses.iter().find(|&&t| t > self.cursor) {
                    self.cursor = t;
                }
            }
            Action::PlayPause => {
                if !self.playing && self.cursor >= p.end {
                    // at the end, play starts over
                    self.cursor = p.start;
                }
                self.playing = !self.playing;
            }
            Action::Faster => {
                self.speed = SPEEDS
                    .iter()
                    .copied()
                    .find(|s| *s > self.speed)
                    .unwrap_or(64.0)
            }
            Action::Slower => {
                self.speed = SPEEDS
                    .iter()
                    .rev()
                    .copied()
                    .find(|s| *s < self.speed)
                    .unwrap_or(0.25)
            }
            Action::Start => self.cursor = p.start,
            Action::End => self.cursor = p.end,
            _ => {}
        }
        if !matches!(action, Action::PlayPause | Action::Faster | Action::Slower) {
            self.playing = false;
        }
        self.cursor = self.cursor.clamp(p.start, p.end.max(p.start));
    }

    /// Advance playback by `dt` of wall time.
    pub fn tick(&mut self, dt: Duration, p: &Progress) {
        if self.playing {
            self.cursor = self
                .cursor
                .saturating_add((dt.as_micros() as f64 * self.speed) as Micros)
                .min(p.end);
            if self.cursor >= p.end {
                self.playing = false;
            }
        }
    }

    pub fn timeline(&self, p: &Progress) -> Timeline {
        Timeline {
            start: p.start,
            end: p.end.max(p.start),
            cursor: if p.loaded { self.cursor } else { p.applied },
            playing: self.playing,
            speed: self.speed,
            step: step_for(p.end.saturating_sub(p.start)),
            loading: !p.loaded,
            seeking: p.seeking,
            censuses: p.censuses.clone(),
            findings: p.findings.clone(),
        }
    }
}

/// The replay context of one frame.
pub fn ctx(a: &Analyzer, player: &Player, p: &Progress, file: &str) -> Ctx {
    let tl = player.timeline(p);
    let status = if !p.loaded {
        Some(("REPLAY — reading the session…".to_string(), Color::Cyan))
    } else {
        match &a.end {
            Some((_, r)) if tl.cursor >= p.end => {
                Some((format!("REPLAY — session end: {r}"), Color::Cyan))
            }
            _ => None,
        }
    };
    Ctx {
        mode: Mode::Replay,
        now: tl.cursor,
        paused: false,
        status,
        target_age_s: None,
        output: None,
        session: Some(file.to_string()),
        timeline: Some(tl),
    }
}

/// `memwatch replay FILE` on a terminal. A tree's session gets the process list (`w`);
/// choosing another process replays that process's stream.
pub fn run(path: &Path) -> Result<()> {
    let reader = SessionReader::open(path)?;
    let mut tree = reader.is_tree().then(|| {
        let mut t = TreeAnalyzer::new();
        if let Ok(mut r) = SessionReader::open(path) {
            crate::tree::replay(&mut r, &mut t);
        }
        (t, Focus::new())
    });
    let mut proc = tree.as_ref().and_then(|(t, f)| f.shown(t)).unwrap_or(0);
    let mut engine = Engine::start_proc(reader, proc)?;
    let mut term = terminal::enter()
        .map_err(|e| Failure::internal(format!("cannot open the dashboard: {e}")))?;
    let file = path.display().to_string();
    let mut warnings = Vec::new();
    loop {
        let next = dashboard(&mut term, &engine, &file, tree.as_mut(), proc);
        warnings.extend(engine.stop());
        match next {
            Some(p) => {
                proc = p;
                engine = Engine::start_proc(SessionReader::open(path)?, proc)?;
            }
            None => break,
        }
    }
    terminal::restore();
    warnings.dedup();
    for w in warnings {
        eprintln!("memwatch: warning: {w}");
    }
    Ok(())
}

/// The replay dashboard until `q` (None) or until another process of the tree is chosen.
fn dashboard(
    term: &mut Term,
    engine: &Engine,
    file: &str,
    mut tree: Option<&mut (TreeAnalyzer, Focus)>,
    proc: ProcId,
) -> Option<ProcId> {
    let mut app = App::new(Mode::Replay);
    let mut player = Player::default();
    let mut was_loaded = false;
    let mut dirty = true;
    let mut next = Instant::now();
    let mut last_tick = Instant::now();
    let mut shown: Option<(bool, Micros)> = None;
    loop {
        if crate::interrupt::requested() {
            return None;
        }
        let p = engine.progress();
        // redraw as soon as the replay catches up with the cursor
        if p.loaded && !player.playing && shown != Some((p.seeking, p.applied)) {
            shown = Some((p.seeking, p.applied));
            dirty = true;
        }
        if p.loaded && !was_loaded {
            // a postmortem starts at the end: the final state, the findings
            was_loaded = true;
            player.cursor = p.end;
            dirty = true;
        }
        let now = Instant::now();
        player.tick(now - last_tick, &p);
        last_tick = now;
        if player.playing {
            engine.seek(player.cursor);
        }
        if dirty || now >= next {
            let drawn = terminal::draw(term, |f| {
                let a = lock(&engine.analyzer);
                let mut c = ctx(&a, &player, &p, file);
                if let Some((t, _)) = tree.as_deref() {
                    // which process of the tree is shown, whatever else the status says
                    let label = t.get(proc).map(|v| v.label()).unwrap_or_default();
                    let n = t.procs.len();
                    c.status = Some(match c.status.take() {
                        None => (
                            format!("REPLAY — {label} — w: processes ({n})"),
                            Color::Cyan,
                        ),
                        Some((s, col)) => (
                            format!(
                                "REPLAY — {label} — {} — w: processes ({n})",
                                s.trim_start_matches("REPLAY — ")
                            ),
                            col,
                        ),
                    });
                }
                views::draw(f, &mut app, &a, &c);
                if let Some((t, focus)) = tree.as_deref_mut()
                    && focus.list_open
                    && !app.help
                {
                    super::tree::draw_list(f, t, focus, Some(proc));
                }
            });
            if drawn.is_err() {
                return None;
            }
            next = now + FRAME;
            dirty = false;
        }
        let wait = next
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(if p.seeking { 20 } else { 100 }));
        match event::poll(wait) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return None,
        }
        match event::read() {
            Ok(TermEvent::Key(k)) => {
                if let Some((t, focus)) = tree.as_deref_mut()
                    && !app.typing
                    && !app.help
                    && focus.key(k, t)
                {
                    if let Some(chosen) = focus.proc
                        && chosen != proc
                    {
                        return Some(chosen);
                    }
                    dirty = true;
                    continue;
                }
                for action in input::actions(k, Mode::Replay, app.typing) {
                    match app.handle(action) {
                        Effect::Quit => return None,
                        Effect::Time(action) => {
                            if p.loaded {
                                player.key(action, &p);
                                engine.seek(player.cursor);
                            }
                        }
                        Effect::TogglePause | Effect::None => {}
                    }
                }
                dirty = true;
            }
            Ok(TermEvent::Resize(..)) => dirty = true,
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}
