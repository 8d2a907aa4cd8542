//! The `memwatch` command: parses the command line, runs the command, maps failures to exit
//! codes. Everything else is in the library (`src/lib.rs`).

use memwatch::{
    analyzer, cli, failure, heap, interrupt, report, sampler, session, target, tui, watch,
};

use std::io::Write;
use std::path::Path;

use clap::Parser;

use cli::{Cli, Command, Format, WatchOpts};
use failure::{Failure, Result};
use sampler::Liveness;

fn main() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("memwatch: internal error (a bug, please report it): {msg}{at}");
    }));
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("memwatch: {f}");
            f.exit_code()
        }
    };
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Some(Command::Run { watch, command }) => run_command(&watch, &command),
        Some(Command::Snapshot {
            pid,
            format,
            top,
            nonblocking,
            no_graph,
            hold_pause_ms,
        }) => snapshot_command(pid, format, top, nonblocking, no_graph, hold_pause_ms),
        Some(Command::Report {
            file,
            format,
            top,
            function,
        }) => report_command(&file, format, top, function),
        Some(Command::Replay { file }) => replay_command(&file),
        Some(Command::Layout { pid, format }) => layout_command(pid, format),
        None => match cli.pid {
            Some(pid) => watch_pid(pid, &cli.watch),
            None => Err(Failure::Usage(
                "nothing to do: give --pid PID, or `memwatch run -- CMD`, or `memwatch report FILE` (see --help)"
                    .into(),
            )),
        },
    }
}

/// Checks of the watch options that must fail before anything is attached or started.
fn check_watch_opts(opts: &WatchOpts) -> Result<()> {
    opts.check().map_err(Failure::Usage)?;
    if let (Some(path), false) = (&opts.record, opts.no_record) {
        session::writer::SessionWriter::check_path(path, opts.force)?;
    }
    Ok(())
}

fn watch_pid(pid: i32, opts: &WatchOpts) -> Result<()> {
    check_watch_opts(opts)?;
    let target = target::attach(pid)?;
    interrupt::install();
    let dashboard = tui::wanted(opts.no_tui);
    eprintln!(
        "memwatch: attached to PID {pid} (CPython {}); press {} to stop",
        target.version,
        if dashboard { "q" } else { "Ctrl-C" }
    );
    let outcome = if dashboard {
        tui::live::watch(target, Liveness::Pid, opts, None)?
    } else {
        watch::watch(target, Liveness::Pid, opts)?
    };
    watch::print_summary(&outcome);
    outcome.into_result()
}

fn run_command(opts: &WatchOpts, command: &[String]) -> Result<()> {
    check_watch_opts(opts)?;
    interrupt::install();
    let dashboard = tui::wanted(opts.no_tui);
    // with the dashboard on the terminal, the command gets no terminal input and its output
    // goes to the dashboard
    let mut spawned = if dashboard {
        target::spawn::Spawned::start_with(command, |c| {
            use std::process::Stdio;
            c.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        })?
    } else {
        target::spawn::Spawned::start(command)?
    };
    let output = dashboard.then(|| tui::live::OutputTail::capture(&mut spawned.child));
    let target = match spawned.attach(&interrupt::requested) {
        Ok(t) => t,
        Err(e) => {
            spawned.terminate();
            return Err(e);
        }
    };
    eprintln!(
        "memwatch: watching `{}` (PID {}, CPython {})",
        command.join(" "),
        target.pid,
        target.version
    );
    let pid = target.pid;
    let outcome = if dashboard {
        tui::live::watch(target, Liveness::Child(spawned.child), opts, output)?
    } else {
        watch::watch(target, Liveness::Child(spawned.child), opts)?
    };
    // the command runs under memwatch: it does not outlive the watch
    if target::spawn::stop_started(pid) {
        eprintln!(
            "memwatch: stopped `{}` (PID {pid}), which it had started",
            command.join(" ")
        );
    }
    watch::print_summary(&outcome);
    outcome.into_result()
}

fn snapshot_command(
    pid: i32,
    format: Format,
    top: usize,
    nonblocking: bool,
    no_graph: bool,
    hold_pause_ms: u64,
) -> Result<()> {
    let target = target::attach(pid)?;
    let heap = target.heap().map_err(|e| match e {
        heap::HeapError::NoLayout(e) => Failure::UnsupportedInterpreter {
            pid,
            what: format!("CPython {}: {e}", target.version),
        },
        heap::HeapError::NotUnderstood(what) | heap::HeapError::Failed(what) => {
            Failure::LayoutNotUnderstood { pid, what }
        }
        heap::HeapError::BadOverride(e) => Failure::Usage(e),
    })?;
    let opts = heap::CensusOptions {
        nonblocking,
        top,
        hold_pause: std::time::Duration::from_millis(hold_pause_ms),
        why_alive_top: if no_graph { 0 } else { 3 },
        cycles: !no_graph,
        ..heap::CensusOptions::default()
    };
    let census = heap.census(&opts).map_err(|e| {
        if !target::is_alive(pid) {
            Failure::TargetExitedDuringAttach(pid)
        } else if let heap::HeapError::NotUnderstood(what) = e {
            Failure::LayoutNotUnderstood { pid, what }
        } else {
            Failure::Internal(format!("heap census of PID {pid} failed: {e}"))
        }
    })?;
    let text = match format {
        Format::Text => report::census::render(
            &census,
            &target.command_line,
            &target.version.to_string(),
            pid,
            top,
        ),
        Format::Json | Format::Markdown => {
            serde_json::to_string_pretty(&census).map_err(Failure::internal)? + "\n"
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

/// `memwatch layout --pid PID`: the layout memwatch uses for the target, and what the checks
/// at attach found; when they refuse it, the table as it stands and why (exit 16).
fn layout_command(pid: i32, format: Format) -> Result<()> {
    let target = target::attach(pid)?;
    let v = &target.version;
    let (layout, refused) = match target.heap() {
        Ok(heap) => (Some((heap.layout, heap.notes)), None),
        Err(e) => (
            heap::layout::Layout::new(v.major as u32, v.minor as u32, v.patch as u32)
                .ok()
                .map(|l| (l, Vec::new())),
            Some(e),
        ),
    };
    let view = report::layout::LayoutView {
        pid,
        version: v.to_string(),
        debug_build: target.debug_build,
        python_binary: target.python_binary.clone(),
        command_line: target.command_line.clone(),
        root: target.root.clone(),
        error: refused.as_ref().map(|e| e.to_string()),
        notes: layout.as_ref().map(|l| l.1.clone()).unwrap_or_default(),
        layout: layout.map(|l| l.0),
    };
    let text = match format {
        Format::Text => report::layout::render(&view),
        Format::Json | Format::Markdown => {
            serde_json::to_string_pretty(&view).map_err(Failure::internal)? + "\n"
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    match refused {
        None => Ok(()),
        Some(heap::HeapError::NoLayout(e)) => Err(Failure::UnsupportedInterpreter {
            pid,
            what: format!("CPython {v}: {e}"),
        }),
        Some(heap::HeapError::NotUnderstood(what) | heap::HeapError::Failed(what)) => {
            Err(Failure::LayoutNotUnderstood { pid, what })
        }
        Some(heap::HeapError::BadOverride(e)) => Err(Failure::Usage(e)),
    }
}

/// `memwatch replay FILE`: the dashboard over the session; without a terminal, the report.
fn replay_command(file: &Path) -> Result<()> {
    if tui::terminal::is_tty() {
        interrupt::install();
        return tui::replay::run(file);
    }
    // a missing or foreign file is refused first
    session::reader::SessionReader::open(file)?;
    eprintln!(
        "memwatch: not a terminal: printing the report (memwatch report) instead of the dashboard"
    );
    report_command(file, Format::Text, 10, None)
}

fn report_command(file: &Path, format: Format, top: usize, function: Option<String>) -> Result<()> {
    let mut reader = session::reader::SessionReader::open(file)?;
    let mut analyzer = analyzer::Analyzer::new();
    reader.replay(&mut |ev| analyzer.apply(ev));
    let mut warnings = reader.warnings.clone();
    let local = report::source::fill_missing_sources(&mut analyzer);
    if !local.is_empty() {
        warnings.push(format!(
            "source text of {} file(s) read from this machine, not from the session (it may have changed since)",
            local.len()
        ));
    }
    let r = report::build(
        &analyzer,
        &report::Options { top, function },
        Some(file.display().to_string()),
        warnings,
    );
    let text = match format {
        Format::Text => report::text::render(&r),
        Format::Json => serde_json::to_string_pretty(&r).map_err(Failure::internal)? + "\n",
        Format::Markdown => report::markdown::render(&r),
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    Ok(())
}
