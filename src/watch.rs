//! A live watch, end to end: attach → sampler (own thread) → event stream → analyzer →
//! sinks (session writer, status line). `memwatch --pid` and `memwatch run` both land here.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
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
}

fn memwatch_command() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

pub fn watch(target: Target, liveness: Liveness, opts: &WatchOpts) -> Result<Outcome> {
    let spawned = matches!(liveness, Liveness::Child(_));
    let info = SessionInfo {
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
    };
    let mut writer = if opts.no_record {
        None
    } else {
        let path = opts
            .record
            .clone()
            .unwrap_or_else(|| session::default_path(target.pid, info.start_unix));
        Some(SessionWriter::create(&path, opts.force)?)
    };

    let (tx, rx) = sync_channel::<Vec<Event>>(CHANNEL_BATCHES);
    let stop = Arc::new(AtomicBool::new(false));
    let cfg = SamplerConfig {
        rate_hz: opts.rate,
        duration: opts.duration.map(Duration::from_secs_f64),
        ..SamplerConfig::default()
    };
    let pid = target.pid;
    let start = Instant::now();
    // the census clock runs on its own thread (it pauses the target with ptrace)
    let census_stop = Arc::new(AtomicBool::new(false));
    let mut notes: Vec<String> = Vec::new();
    let census = if opts.no_heap {
        None
    } else {
        match target.heap() {
            Ok(heap) => {
                let clock = CensusClock {
                    heap,
                    opts: CensusOptions {
                        nonblocking: opts.nonblocking,
                        ..CensusOptions::default()
                    },
                    interval: Duration::from_secs_f64(opts.heap_interval),
                    pause_budget: opts.pause_budget / 100.0,
                };
                Some(clock)
            }
            Err(e) => {
                notes.push(format!("no heap census: {e}"));
                None
            }
        }
    };
    let census_tx = tx.clone();
    let stacks = StackReader::new(target.spy, pid);
    let sampler = Sampler::new(pid, stacks, liveness, cfg, tx, stop.clone()).map_err(|e| {
        if crate::target::is_alive(pid) {
            Failure::internal(format!("cannot read /proc/{pid}/statm: {e}"))
        } else {
            Failure::TargetExitedDuringAttach(pid)
        }
    })?;
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

    let mut analyzer = Analyzer::new();
    let mut status = StatusLine::new(Duration::from_secs_f64(opts.status_interval));
    let mut ended = false;
    while !ended {
        if interrupt::requested() {
            stop.store(true, Ordering::Relaxed);
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(batch) => {
                for ev in &batch {
                    sink(&mut analyzer, &mut writer, ev);
                    if matches!(ev, Event::Start(_)) {
                        for text in notes.drain(..) {
                            sink(&mut analyzer, &mut writer, &Event::Note { t: 0, text });
                        }
                    }
                    if matches!(ev, Event::End { .. }) {
                        ended = true;
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(w) = writer.as_mut() {
            w.tick();
        }
        status.tick(&analyzer);
        status.new_findings(&analyzer);
    }
    let _ = handle.join();
    // a census under way is finished and recorded
    census_stop.store(true, Ordering::Relaxed);
    if let Some(h) = census_handle {
        let _ = h.join();
    }
    while let Ok(batch) = rx.try_recv() {
        for ev in &batch {
            if matches!(ev, Event::Census(_) | Event::Note { .. }) {
                sink(&mut analyzer, &mut writer, ev);
            }
        }
    }

    let (session, session_error) = match writer {
        None => (None, None),
        Some(w) => {
            let path = w.path().to_path_buf();
            match w.finish(&analyzer) {
                Ok(p) => (Some(p), None),
                Err(e) => (Some(path), Some(e.to_string())),
            }
        }
    };
    Ok(Outcome {
        analyzer,
        session,
        session_error,
    })
}

/// Hand one event to the analyzer and the session writer.
fn sink(analyzer: &mut Analyzer, writer: &mut Option<SessionWriter>, ev: &Event) {
    analyzer.apply(ev);
    if let Some(w) = writer.as_mut() {
        w.write(ev);
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
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}", report::text::render(&r));
    match (&file, &o.session_error) {
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
