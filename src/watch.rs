//! A live watch, end to end: attach → sampler (own thread) → event stream → analyzer →
//! sinks (session writer, status line). `memwatch --pid` and `memwatch run` both land here.
//!
//! The analyzer lives behind a mutex ([`SharedAnalyzer`]) so that the dashboard
//! (`crate::tui::live`) can read it from its own thread: the hub locks it once per batch of
//! events, the renderer briefly once per frame. The sampler never waits on either.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::analyzer::Analyzer;
use crate::cli::WatchOpts;
use crate::event::{Event, SessionInfo};
use crate::failure::{Failure, Result};
use crate::heap::CensusOptions;
use crate::report;
use crate::sampler::census::CensusClock;
use crate::sampler::stacks::StackReader;
use crate::sampler::{CHANNEL_BATCHES, Liveness, Sampler, SamplerConfig};
use crate::session::writer::SessionWriter;
use crate::status::StatusLine;
use crate::target::Target;
use crate::{interrupt, session, timefmt};

/// What a finished watch leaves behind.
pub struct Outcome {
    pub analyzer: Analyzer,
    pub session: Option<PathBuf>,
    pub session_error: Option<String>,
    /// A failure of memwatch's own that still let the watch finish (the dashboard thread
    /// panicked): the report is printed, then memwatch exits with the internal-error code.
    pub internal_error: Option<String>,
}

impl Outcome {
    /// After the report: the internal error, if any, as the command's failure.
    pub fn into_result(self) -> Result<()> {
        self.internal_error
            .map_or(Ok(()), |m| Err(Failure::Internal(m)))
    }
}

fn memwatch_command() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

/// The analyzer of a live watch, shared between the hub and the dashboard.
pub type SharedAnalyzer = Arc<Mutex<Analyzer>>;

/// Lock the shared analyzer; a panic on another thread does not make its state unusable.
pub fn lock(a: &Mutex<Analyzer>) -> MutexGuard<'_, Analyzer> {
    a.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a watch's session went, once it is finalised.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    pub session: Option<PathBuf>,
    pub session_error: Option<String>,
}

/// A headless watch: status lines on stderr, the analyzer handed back at the end.
pub fn watch(target: Target, liveness: Liveness, opts: &WatchOpts) -> Result<Outcome> {
    let shared: SharedAnalyzer = Arc::new(Mutex::new(Analyzer::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let status = StatusLine::new(Duration::from_secs_f64(opts.status_interval));
    let done = watch_shared(target, liveness, opts, &shared, stop, Some(status))?;
    let analyzer = std::mem::take(&mut *lock(&shared));
    Ok(Outcome {
        analyzer,
        session: done.session,
        session_error: done.session_error,
        internal_error: None,
    })
}

/// Run a watch into `shared` until the target exits, `--duration` passes, Ctrl-C/SIGTERM
/// ([`interrupt::requested`]) or `stop` is set; then finalise the session. `status` prints
/// the headless status lines (None: a dashboard shows the state instead).
pub fn watch_shared(
    target: Target,
    liveness: Liveness,
    opts: &WatchOpts,
    shared: &Mutex<Analyzer>,
    stop: Arc<AtomicBool>,
    mut status: Option<StatusLine>,
) -> Result<Finished> {
    let spawned = matches!(liveness, Liveness::Child(_));
    let info = session_info(&target, opts, spawned);
    let mut writer = if opts.no_record {
        None
    } else {
        let path = opts
            .record
            .clone()
            .unwrap_or_else(|| session::default_path(target.pid, info.start_unix));
        let mut w = SessionWriter::create(&path, opts.force)?;
        w.set_retention(opts.retention);
        Some(w)
    };
    let mut exporter = opts.serve.map(crate::export::Exporter::start).transpose()?;

    let (tx, rx) = sync_channel::<Vec<Event>>(CHANNEL_BATCHES);
    let cfg = SamplerConfig {
        rate_hz: opts.rate,
        probe_hz: opts.line_rate,
        duration: opts.duration.map(Duration::from_secs_f64),
        ..SamplerConfig::default()
    };
    let pid = target.pid;
    let start = Instant::now();
    // the census clock runs on its own thread (it pauses the target with ptrace)
    let census_stop = Arc::new(AtomicBool::new(false));
    let (census, mut notes) = census_clock(&target, opts, None);
    let census_tx = tx.clone();
    let probe = line_probe(&target, census.as_ref().map(|c| &c.heap.layout), &mut notes);
    let stacks = StackReader::new(target.spy, pid);
    let mut sampler = Sampler::new(pid, stacks, liveness, cfg, tx, stop.clone()).map_err(|e| {
        if crate::target::is_alive(pid) {
            Failure::internal(format!("cannot read /proc/{pid}/statm: {e}"))
        } else {
            Failure::TargetExitedDuringAttach(pid)
        }
    })?;
    if let Some(p) = probe
        && opts.line_rate > 0.0
    {
        sampler = sampler.with_line_probe(p);
    }
    let handle = sampler
        .spawn(info, start)
        .map_err(|e| Failure::internal(format!("cannot start the sampler thread: {e}")))?;
    let census_handle = match census {
        Some(clock) => Some(
            clock
                .spawn(start, census_tx, census_stop.clone())
                .map_err(|e| Failure::internal(format!("cannot start the census thread: {e}")))?,
        ),
        None => {
            drop(census_tx);
            None
        }
    };

    let mut ended = false;
    while !ended {
        if interrupt::requested() {
            stop.store(true, Ordering::Relaxed);
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(mut batch) => {
                // the notes about the watch itself go right after the start of the stream
                if !notes.is_empty()
                    && let Some(i) = batch.iter().position(|e| matches!(e, Event::Start(_)))
                {
                    let ns: Vec<Event> = notes
                        .drain(..)
                        .map(|text| Event::Note { t: 0, text })
                        .collect();
                    batch.splice(i + 1..i + 1, ns);
                }
                ended = batch.iter().any(|e| matches!(e, Event::End { .. }));
                sink(shared, &mut writer, &batch);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(w) = writer.as_mut() {
            w.tick();
        }
        if let Some(status) = status.as_mut() {
            let a = lock(shared);
            status.tick(&a);
            status.new_findings(&a);
        }
        if let Some(e) = exporter.as_mut() {
            e.refresh(shared);
        }
    }
    let _ = handle.join();
    // a census under way is finished and recorded
    census_stop.store(true, Ordering::Relaxed);
    if let Some(h) = census_handle {
        let _ = h.join();
    }
    while let Ok(batch) = rx.try_recv() {
        let late: Vec<Event> = batch
            .into_iter()
            .filter(|ev| matches!(ev, Event::Census(_) | Event::Note { .. }))
            .collect();
        sink(shared, &mut writer, &late);
    }

    Ok(match writer {
        None => Finished::default(),
        Some(w) => {
            let path = w.path().to_path_buf();
            match w.finish(&lock(shared)) {
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

/// The header of a process's stream.
pub fn session_info(target: &Target, opts: &WatchOpts, spawned: bool) -> SessionInfo {
    SessionInfo {
        pid: target.pid,
        command_line: target.command_line.clone(),
        python_version: target.version.to_string(),
        python_binary: target.python_binary.clone(),
        start_unix: timefmt::now_unix(),
        rate_hz: opts.rate,
        memwatch_command: memwatch_command(),
        memwatch_version: env!("CARGO_PKG_VERSION").to_string(),
        spawned,
        page_size: crate::sampler::proc::page_size(),
        debug_build: target.debug_build,
        target_root: (!target.root.is_ours()).then(|| target.root.clone()),
    }
}

/// The census clock of a target, or the note saying why there is none. `sharing`: the
/// counter of a tree's clocks that share the census CPU budget.
pub fn census_clock(
    target: &Target,
    opts: &WatchOpts,
    sharing: Option<crate::sampler::census::TreeShare>,
) -> (Option<CensusClock>, Vec<String>) {
    if opts.no_heap {
        return (None, vec!["no heap census: --no-heap".to_string()]);
    }
    match target.heap() {
        Ok(heap) => (
            Some(CensusClock {
                heap,
                opts: CensusOptions {
                    nonblocking: opts.nonblocking,
                    soft_dirty: opts.soft_dirty,
                    ..CensusOptions::default()
                },
                interval: Duration::from_secs_f64(opts.heap_interval),
                pause_budget: opts.pause_budget / 100.0,
                sharing,
            }),
            Vec::new(),
        ),
        Err(e) => (None, vec![format!("no heap census: {e}")]),
    }
}

/// The line probe of `target`, with the census's layout (checked at attach) or, without a
/// census, the table's for its version; None, with a note, when there is neither.
pub fn line_probe(
    target: &Target,
    layout: Option<&crate::heap::layout::Layout>,
    notes: &mut Vec<String>,
) -> Option<crate::sampler::lineprobe::LineProbe> {
    let runtime = target.runtime?;
    let layout = match layout {
        Some(l) => l.clone(),
        None => match target.heap() {
            Ok(h) => h.layout,
            Err(e) => {
                notes.push(format!(
                    "no line clock (lines are sampled at the fast clock's rate only): {e}"
                ));
                return None;
            }
        },
    };
    Some(crate::sampler::lineprobe::LineProbe::new(
        target.pid, layout, runtime,
    ))
}

/// Hand a batch of events to the analyzer (one lock for the batch) and then to the session
/// writer (outside the lock).
fn sink(shared: &Mutex<Analyzer>, writer: &mut Option<SessionWriter>, batch: &[Event]) {
    if batch.is_empty() {
        return;
    }
    {
        let mut a = lock(shared);
        for ev in batch {
            a.apply(ev);
        }
    }
    if let Some(w) = writer.as_mut() {
        for ev in batch {
            w.write(ev);
        }
    }
}

/// The summary printed when a headless watch ends: the report of what was seen, and where
/// the session went.
pub fn print_summary(o: &Outcome) {
    let file = o.session.as_ref().map(|p| p.display().to_string());
    let r = report::build(
        &o.analyzer,
        &report::Options {
            top: 10,
            function: None,
        },
        file.clone(),
        Vec::new(),
    );
    print_report_and_session(&report::text::render(&r), file.as_deref(), &o.session_error);
}

/// Print a finished watch's report, then where its session went.
pub fn print_report_and_session(report: &str, file: Option<&str>, error: &Option<String>) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{report}");
    match (file, error) {
        (Some(f), None) => {
            let _ = writeln!(
                out,
                "\nsession recorded to {f} (read it with: memwatch report {f})"
            );
        }
        (Some(f), Some(e)) => {
            let _ = writeln!(out, "\nsession {f} is incomplete: {e}");
        }
        (None, _) => {}
    }
    let _ = out.flush();
}
