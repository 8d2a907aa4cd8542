//! The live dashboard beside a watch. The watch's hub runs on the calling thread as it does
//! headless ([`watch::watch_shared`]) and applies each batch of events to the shared analyzer
//! under one lock; the dashboard runs on its own thread, takes the lock once per frame only
//! to render into ratatui's buffer, and writes the terminal after releasing it. The sampler
//! hands batches to the hub over a channel it never waits on, so neither a slow terminal
//! nor a paused display can hold sampling or recording back.
//!
//! Endings: `q` (or Ctrl-C, SIGTERM) sets the watch's stop flag — the orderly stop of a
//! headless Ctrl-C, and like it `q` and Ctrl-C send SIGINT to a command memwatch started —
//! and the dashboard closes once the session is finalised; `--duration`
//! closes it by itself; when the target exits it stays open, saying so, until `q`. The
//! report is printed after the terminal is restored.

use std::collections::VecDeque;
use std::io::Read;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent};
use ratatui::style::Color;

use super::app::{App, Effect, Mode};
use super::terminal::{self, Term};
use super::tree::Focus;
use super::views::{self, Ctx};
use super::{FRAME, input, widgets};
use crate::analyzer::Analyzer;
use crate::cli::WatchOpts;
use crate::event::EndReason;
use crate::failure::Result;
use crate::sampler::Liveness;
use crate::target::Target;
use crate::tree::TreeAnalyzer;
use crate::tree::watch::{Roots, TreeOutcome};
use crate::watch::{self, Finished, Outcome, SharedAnalyzer, lock};

/// Lines of the target's output kept.
const TAIL_LINES: usize = 200;
/// Longest line kept, characters.
const LINE_CHARS: usize = 2000;

/// The last lines a started command wrote on stdout and stderr (`memwatch run` gives it no
/// terminal while the dashboard has one).
#[derive(Debug, Clone, Default)]
pub struct OutputTail(Arc<Mutex<VecDeque<String>>>);

impl OutputTail {
    /// Drain the child's piped stdout and stderr into a tail, each on a thread of its own.
    pub fn capture(child: &mut Child) -> OutputTail {
        let tail = OutputTail::default();
        if let Some(out) = child.stdout.take() {
            tail.drain(out);
        }
        if let Some(err) = child.stderr.take() {
            tail.drain(err);
        }
        tail
    }

    fn drain(&self, mut r: impl Read + Send + 'static) {
        let tail = self.clone();
        let _ = std::thread::Builder::new()
            .name("memwatch-output".into())
            .spawn(move || {
                let mut buf = [0u8; 8192];
                let mut line: Vec<u8> = Vec::new();
                loop {
                    let n = match r.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    for &b in &buf[..n] {
                        if b == b'\n' || b == b'\r' {
                            if !line.is_empty() {
                                tail.push(&String::from_utf8_lossy(&line));
                            }
                            line.clear();
                        } else if line.len() < LINE_CHARS {
                            line.push(b);
                        }
                    }
                }
                if !line.is_empty() {
                    tail.push(&String::from_utf8_lossy(&line));
                }
            });
    }

    pub fn push(&self, line: &str) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if t.len() >= TAIL_LINES {
            t.pop_front();
        }
        t.push_back(widgets::sanitize(line));
    }

    /// The last `n` lines, oldest first.
    pub fn last(&self, n: usize) -> Vec<String> {
        let t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        t.iter().skip(t.len().saturating_sub(n)).cloned().collect()
    }
}

/// What the watch tells the dashboard thread.
#[derive(Default)]
struct Control {
    /// The watch returned: its session, or its error.
    finished: Option<std::result::Result<Finished, String>>,
    /// Close the dashboard now (`--duration`, an error).
    close: bool,
}

/// Sets the stop flag when dropped: however the dashboard ends (even by a panic), the watch
/// stops in order.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A watch with the dashboard. Falls back to the headless watch when the terminal cannot be
/// taken.
pub fn watch(
    target: Target,
    liveness: Liveness,
    opts: &WatchOpts,
    output: Option<OutputTail>,
) -> Result<Outcome> {
    let age = crate::tree::scan::age_secs(target.pid);
    // a command memwatch started gets the Ctrl-C of the terminal when the user quits, as it
    // would without the dashboard (which keeps the terminal's Ctrl-C for itself)
    let child = matches!(liveness, Liveness::Child(_)).then_some(target.pid);
    let term = match terminal::enter() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("memwatch: cannot open the dashboard ({e}); printing status lines instead");
            return watch::watch(target, liveness, opts);
        }
    };
    let shared: SharedAnalyzer = Arc::new(Mutex::new(Analyzer::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let control = Arc::new(Mutex::new(Control::default()));
    let ui = {
        let (shared, stop, control, output) = (
            shared.clone(),
            stop.clone(),
            control.clone(),
            output.clone(),
        );
        std::thread::Builder::new()
            .name("memwatch-tui".into())
            .spawn(move || {
                let _stop = StopOnDrop(stop.clone());
                let finished = dashboard(
                    term,
                    Source::One(&shared),
                    &stop,
                    &control,
                    age,
                    output,
                    child,
                );
                terminal::restore();
                if !finished {
                    eprintln!("memwatch: dashboard closed; finalising the session…");
                }
            })
    };
    let ui = match ui {
        Ok(h) => h,
        Err(e) => {
            terminal::restore();
            eprintln!("memwatch: cannot start the dashboard ({e}); printing status lines instead");
            return watch::watch(target, liveness, opts);
        }
    };
    let result = watch::watch_shared(target, liveness, opts, &shared, stop, None);
    {
        let exited = matches!(lock(&shared).end, Some((_, EndReason::TargetExited { .. })));
        let mut c = control.lock().unwrap_or_else(|e| e.into_inner());
        c.close = result.is_err() || !exited;
        c.finished = Some(result.clone().map_err(|e| e.to_string()));
    }
    let ui_panicked = ui.join().is_err();
    terminal::restore();
    if let Some(out) = &output {
        let lines = out.last(10);
        if !lines.is_empty() {
            eprintln!("memwatch: the last lines the command wrote:");
            for l in lines {
                eprintln!("  {l}");
            }
        }
    }
    let done = result?;
    let analyzer = std::mem::take(&mut *lock(&shared));
    Ok(Outcome {
        analyzer,
        session: done.session,
        session_error: done.session_error,
        internal_error: ui_panicked.then(|| {
            "the dashboard failed (the message above); the watch was stopped and its session \
             finalised"
                .to_string()
        }),
    })
}

/// The status of the watch for the status bar.
fn status(
    a: &Analyzer,
    quitting: bool,
    finished: &Option<std::result::Result<Finished, String>>,
) -> Option<(String, Color)> {
    let saved = match finished {
        Some(Ok(Finished {
            session: Some(p),
            session_error: None,
        })) => format!("; session saved to {}", p.display()),
        Some(Ok(Finished {
            session_error: Some(e),
            ..
        })) => format!("; session incomplete: {e}"),
        _ => String::new(),
    };
    match (&a.end, finished) {
        (Some((_, r @ EndReason::TargetExited { .. })), Some(_)) => {
            Some((format!("{r}{saved} — q quits"), Color::Red))
        }
        (Some((_, r @ EndReason::TargetExited { .. })), None) => {
            Some((format!("{r} — finalising the session…"), Color::Red))
        }
        _ if quitting => Some((
            "stopping… finalising the session".to_string(),
            Color::Yellow,
        )),
        _ => None,
    }
}

/// The dashboard loop, until `q` or the watch says to close. Returns whether the watch had
/// finished when it closed.
/// What the dashboard shows: one process's analyzer, or a tree's (one process at a time).
enum Source<'a> {
    One(&'a Mutex<Analyzer>),
    Tree(&'a Mutex<TreeAnalyzer>, Focus),
}

/// A copy of what the dashboard shows, while paused.
enum Frozen {
    One(Box<Analyzer>),
    Tree(TreeAnalyzer),
}

fn dashboard(
    mut term: Term,
    mut source: Source,
    stop: &AtomicBool,
    control: &Mutex<Control>,
    age: Option<f64>,
    output: Option<OutputTail>,
    child: Option<i32>,
) -> bool {
    let mut app = App::new(Mode::Live);
    let mut frozen: Option<Frozen> = None;
    let empty = Analyzer::new();
    let mut quitting = false;
    let mut dirty = true;
    let mut next = Instant::now();
    loop {
        let (finished, close) = {
            let c = control.lock().unwrap_or_else(|e| e.into_inner());
            (c.finished.clone(), c.close)
        };
        if close || (quitting && finished.is_some()) {
            return finished.is_some();
        }
        if crate::interrupt::requested() && !quitting {
            // SIGTERM or SIGINT from outside: the hub stops the watch, we wait for it
            quitting = true;
        }
        let now = Instant::now();
        if dirty || now >= next {
            let session = match &finished {
                Some(Ok(f)) => f.session.as_ref().map(|p| p.display().to_string()),
                _ => None,
            };
            let out = output.as_ref().map(|o| o.last(40));
            let paused = frozen.is_some();
            let drawn = terminal::draw(&mut term, |f| match &mut source {
                Source::One(shared) => {
                    let guard;
                    let a: &Analyzer = match &frozen {
                        Some(Frozen::One(p)) => p,
                        _ => {
                            guard = lock(shared);
                            &guard
                        }
                    };
                    let mut ctx = Ctx::live(a.now);
                    ctx.paused = paused;
                    ctx.status = status(a, quitting, &finished);
                    ctx.target_age_s = age;
                    ctx.output = out;
                    ctx.session = session;
                    views::draw(f, &mut app, a, &ctx);
                }
                Source::Tree(shared, focus) => {
                    let guard;
                    let t: &TreeAnalyzer = match &frozen {
                        Some(Frozen::Tree(p)) => p,
                        _ => {
                            guard = super::tree::lock(shared);
                            &guard
                        }
                    };
                    let mut ctx = Ctx::live(t.now);
                    ctx.paused = paused;
                    // the watch's state is the first target's
                    let root = t
                        .procs
                        .first()
                        .and_then(|p| p.analyzer.as_ref())
                        .unwrap_or(&empty);
                    ctx.status = status(root, quitting, &finished);
                    ctx.target_age_s = age;
                    ctx.output = out;
                    ctx.session = session;
                    super::tree::draw(f, &mut app, t, focus, ctx, &empty);
                }
            });
            if drawn.is_err() {
                // the terminal is gone (hung up): stop the watch
                return finished.is_some();
            }
            next = now + FRAME;
            dirty = false;
            if std::env::var_os("MEMWATCH_TEST_TUI_PANIC").is_some() {
                // tests only: the terminal must come back and the watch end in order
                panic!("MEMWATCH_TEST_TUI_PANIC is set: a panic in the dashboard thread");
            }
        }
        let wait = next
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        match event::poll(wait) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return finished.is_some(),
        }
        match event::read() {
            Ok(TermEvent::Key(k)) => {
                if let Source::Tree(shared, focus) = &mut source
                    && !app.typing
                    && !app.help
                {
                    let taken = match &frozen {
                        Some(Frozen::Tree(t)) => focus.key(k, t),
                        _ => focus.key(k, &super::tree::lock(shared)),
                    };
                    if taken {
                        dirty = true;
                        continue;
                    }
                }
                for action in input::actions(k, Mode::Live, app.typing) {
                    match app.handle(action) {
                        Effect::Quit => {
                            if finished.is_some() || quitting {
                                return finished.is_some();
                            }
                            quitting = true;
                            stop.store(true, Ordering::Relaxed);
                            if let Some(pid) = child {
                                let _ = nix::sys::signal::kill(
                                    nix::unistd::Pid::from_raw(pid),
                                    nix::sys::signal::Signal::SIGINT,
                                );
                            }
                        }
                        Effect::TogglePause => {
                            frozen = match (frozen.take(), &source) {
                                (Some(_), _) => None,
                                (None, Source::One(shared)) => {
                                    Some(Frozen::One(Box::new(lock(shared).clone())))
                                }
                                (None, Source::Tree(shared, _)) => {
                                    Some(Frozen::Tree(super::tree::lock(shared).clone()))
                                }
                            };
                        }
                        Effect::None | Effect::Time(_) => {}
                    }
                }
                dirty = true;
            }
            Ok(TermEvent::Resize(..)) => dirty = true,
            Ok(_) => {}
            Err(_) => return finished.is_some(),
        }
    }
}

/// A process tree's watch, with the dashboard (`dashboard`) or status lines.
pub fn watch_tree(
    roots: Roots,
    opts: &WatchOpts,
    output: Option<OutputTail>,
    dashboard_wanted: bool,
) -> Result<TreeOutcome> {
    if !dashboard_wanted {
        return crate::tree::watch::watch_headless(roots, opts);
    }
    let first = roots.targets.first().map(|(t, _)| t.pid);
    let age = first.and_then(crate::tree::scan::age_secs);
    let child = roots
        .targets
        .iter()
        .find(|(_, l)| matches!(l, Liveness::Child(_)))
        .map(|(t, _)| t.pid);
    let term = match terminal::enter() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("memwatch: cannot open the dashboard ({e}); printing status lines instead");
            return crate::tree::watch::watch_headless(roots, opts);
        }
    };
    let shared = Arc::new(Mutex::new(TreeAnalyzer::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let control = Arc::new(Mutex::new(Control::default()));
    let ui = {
        let (shared, stop, control, output) = (
            shared.clone(),
            stop.clone(),
            control.clone(),
            output.clone(),
        );
        std::thread::Builder::new()
            .name("memwatch-tui".into())
            .spawn(move || {
                let _stop = StopOnDrop(stop.clone());
                let finished = dashboard(
                    term,
                    Source::Tree(&shared, Focus::new()),
                    &stop,
                    &control,
                    age,
                    output,
                    child,
                );
                terminal::restore();
                if !finished {
                    eprintln!("memwatch: dashboard closed; finalising the session…");
                }
            })
    };
    let ui = match ui {
        Ok(h) => h,
        Err(e) => {
            terminal::restore();
            eprintln!("memwatch: cannot start the dashboard ({e}); printing status lines instead");
            return crate::tree::watch::watch_headless(roots, opts);
        }
    };
    let result = crate::tree::watch::watch_tree(roots, opts, &shared, stop, None);
    {
        let exited = matches!(
            crate::tree::watch::lock(&shared).end(),
            Some((_, EndReason::TargetExited { .. }))
        );
        let mut c = control.lock().unwrap_or_else(|e| e.into_inner());
        c.close = result.is_err() || !exited;
        c.finished = Some(result.clone().map_err(|e| e.to_string()));
    }
    let ui_panicked = ui.join().is_err();
    terminal::restore();
    let done = result?;
    let tree = std::mem::take(&mut *crate::tree::watch::lock(&shared));
    Ok(TreeOutcome {
        tree,
        session: done.session,
        session_error: done.session_error,
        internal_error: ui_panicked.then(|| {
            "the dashboard failed (the message above); the watch was stopped and its session \
             finalised"
                .to_string()
        }),
    })
}
