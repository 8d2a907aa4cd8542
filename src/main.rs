//! The `memwatch` command: parses the command line, runs the command, maps failures to exit
//! codes. Everything else is in the library (`src/lib.rs`).

use memwatch::{
    ci, cli, failure, heap, interrupt, report, sampler, session, share, target, timefmt, tree, tui,
    watch,
};

use std::io::Write;
use std::path::Path;

use clap::Parser;

use cli::{Cli, Command, Format, WatchOpts};
use failure::{Failure, Result};
use sampler::Liveness;

fn main() {
    memwatch::timing::start();
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
    share::file::set_mode(cli.file_mode);
    // Ctrl-Z waits for a target's pause to end (src/interrupt.rs)
    interrupt::install_job_control();
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
            soft_dirty,
            no_graph,
            hold_pause_ms,
        }) => snapshot_command(
            pid,
            format,
            top,
            nonblocking,
            soft_dirty,
            no_graph,
            hold_pause_ms,
        ),
        Some(Command::Report {
            file,
            format,
            output,
            no_source,
            top,
            function,
        }) => report_command(
            &file,
            format,
            output.as_deref(),
            share::RenderOpts {
                top,
                function,
                no_source,
                ..Default::default()
            },
        ),
        Some(Command::Replay { file }) => replay_command(&file),
        Some(Command::Diff {
            a,
            b,
            format,
            output,
            top,
        }) => diff_command(&a, &b, format, output.as_deref(), top),
        Some(Command::Layout { pid, format }) => layout_command(pid, format),
        None => match cli.pid.as_slice() {
            [pid] if !cli.watch.subprocesses => watch_pid(*pid, &cli.watch),
            [] => Err(Failure::Usage(
                "nothing to do: give --pid PID, or `memwatch run -- CMD`, or `memwatch report FILE` (see --help)"
                    .into(),
            )),
            pids => watch_pids(pids, &cli.watch),
        },
    }
}

/// Checks of the watch options that must fail before anything is attached or started.
fn check_watch_opts(opts: &WatchOpts) -> Result<()> {
    opts.check().map_err(Failure::Usage)?;
    if let (Some(path), false) = (&opts.record, opts.no_record) {
        session::writer::SessionWriter::check_path(path, opts.force)?;
    }
    // a metrics address that cannot be had is said before anything is attached or started
    if let Some(addr) = opts.serve {
        std::net::TcpListener::bind(addr).map_err(|e| Failure::Serve {
            addr: addr.to_string(),
            detail: e.to_string(),
        })?;
    }
    // a report that could not be written at the end would lose a CI run's artifact
    if let Some(path) = &opts.report {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(Failure::OutputWrite {
                path: path.display().to_string(),
                detail: format!("no such folder {}", dir.display()),
            });
        }
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
    conclude(outcome, opts)
}

/// The end of a single process's watch: the report printed, then CI mode's files and exit
/// code (an internal error of memwatch's own comes first).
fn conclude(outcome: watch::Outcome, opts: &WatchOpts) -> Result<()> {
    watch::print_summary(&outcome);
    let ci = ci::finish(
        share::View::Single(&outcome.analyzer),
        opts,
        outcome.session.as_deref(),
        outcome.analyzer.end.as_ref().map(|e| &e.1),
    );
    outcome.into_result()?;
    ci
}

/// The end of a tree's watch: as [`conclude`]; the command's exit code is the root's.
fn conclude_tree(outcome: tree::watch::TreeOutcome, opts: &WatchOpts) -> Result<()> {
    tree_summary(&outcome);
    let root_end = outcome
        .tree
        .procs
        .iter()
        .find(|p| p.is_root())
        .and_then(|p| p.analyzer.as_ref())
        .and_then(|a| a.end.as_ref().map(|e| e.1.clone()));
    let ci = ci::finish(
        share::View::Tree(&outcome.tree),
        opts,
        outcome.session.as_deref(),
        root_end.as_ref(),
    );
    outcome.into_result()?;
    ci
}

/// Several PIDs, or `--subprocesses`: one session for the tree.
fn watch_pids(pids: &[i32], opts: &WatchOpts) -> Result<()> {
    check_watch_opts(opts)?;
    let mut targets = Vec::new();
    let mut others = Vec::new();
    for &pid in pids {
        if targets
            .iter()
            .any(|(t, _): &(target::Target, Liveness)| t.pid == pid)
        {
            continue;
        }
        match target::attach(pid) {
            Ok(t) => targets.push((t, Liveness::Pid)),
            // with --subprocesses, a root that is not Python is followed, not sampled
            Err(Failure::NotPython { .. }) if opts.subprocesses => {
                eprintln!(
                    "memwatch: PID {pid} is not a Python process; watching the CPython processes below it"
                );
                others.push((pid, None));
            }
            Err(e) => return Err(e),
        }
    }
    interrupt::install();
    let dashboard = tui::wanted(opts.no_tui);
    let names: Vec<String> = targets
        .iter()
        .map(|(t, _)| format!("PID {} (CPython {})", t.pid, t.version))
        .collect();
    eprintln!(
        "memwatch: attached to {}{}; press {} to stop",
        names.join(", "),
        if opts.subprocesses {
            " and following its subprocesses"
        } else {
            ""
        },
        if dashboard { "q" } else { "Ctrl-C" }
    );
    let roots = tree::watch::Roots {
        targets,
        others,
        follow: opts.subprocesses,
    };
    let outcome = tui::live::watch_tree(roots, opts, None, dashboard)?;
    conclude_tree(outcome, opts)
}

/// The report printed when a tree's watch ends.
fn tree_summary(o: &tree::watch::TreeOutcome) {
    let file = o.session.as_ref().map(|p| p.display().to_string());
    let r = report::tree::build(
        &o.tree,
        &report::Options {
            top: 10,
            function: None,
        },
        file.clone(),
        Vec::new(),
    );
    watch::print_report_and_session(
        &report::tree::render_text(&r),
        file.as_deref(),
        &o.session_error,
    );
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
    if opts.subprocesses {
        return run_tree(opts, command, spawned, output, dashboard);
    }
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
    conclude(outcome, opts)
}

fn snapshot_command(
    pid: i32,
    format: Format,
    top: usize,
    nonblocking: bool,
    soft_dirty: bool,
    no_graph: bool,
    hold_pause_ms: u64,
) -> Result<()> {
    text_or_json(format, "snapshot")?;
    let max_copy = heap::CensusOptions::default().max_copy;
    let attaching = heap::AttachAllocator::set();
    // the copy's buffers are faulted in while memwatch attaches, and attaching helps once
    // done (a blocking census only: a non-blocking one copies no more than it reads)
    let warm = (!nonblocking).then(|| heap::copy::warm(pid, max_copy));
    let target = target::inspect(pid)?;
    memwatch::timing!("snapshot: attached");
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
    if let Some(warm) = warm {
        heap.give_buffers(warm.finish());
    }
    drop(attaching);
    let opts = heap::CensusOptions {
        nonblocking,
        soft_dirty,
        keep_buffers: false,
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
        _ => report::census::render_json(
            &census,
            &report::census::SnapshotTarget {
                pid,
                command_line: target.command_line.clone(),
                python_version: target.version.to_string(),
                taken_unix: timefmt::now_unix(),
                rss_bytes: sampler::proc::Statm::open(pid)
                    .ok()
                    .and_then(|s| s.rss_kib().ok())
                    .map(|kib| kib * 1024),
            },
        )
        .map_err(Failure::internal)?,
    };
    memwatch::timing!("snapshot: rendered");
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

/// `snapshot` and `layout` print text or JSON (Markdown, as before, is JSON).
fn text_or_json(format: Format, command: &str) -> Result<()> {
    match format {
        Format::Text | Format::Json | Format::Markdown => Ok(()),
        _ => Err(Failure::Usage(format!(
            "memwatch {command} prints --format text or json; html, flamegraph and speedscope are formats of `memwatch report`"
        ))),
    }
}

/// `memwatch layout --pid PID`: the layout memwatch uses for the target, and what the checks
/// at attach found; when they refuse it, the table as it stands and why (exit 16).
fn layout_command(pid: i32, format: Format) -> Result<()> {
    text_or_json(format, "layout")?;
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
        _ => serde_json::to_string_pretty(&view).map_err(Failure::internal)? + "\n",
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

/// `memwatch run --subprocesses -- CMD`: the command and every CPython process below it. A
/// command that is not Python itself (a shell script starting workers) is followed, not
/// sampled.
fn run_tree(
    opts: &WatchOpts,
    command: &[String],
    mut spawned: target::spawn::Spawned,
    output: Option<tui::live::OutputTail>,
    dashboard: bool,
) -> Result<()> {
    let pid = spawned.pid();
    // a command that is not Python after a second (a shell, a launcher) is followed: the
    // workers it starts are what to watch, from their first moments
    let patience = std::time::Duration::from_secs(1);
    let roots = match spawned.attach_within(&interrupt::requested, patience) {
        Ok(t) => {
            eprintln!(
                "memwatch: watching `{}` (PID {pid}, CPython {}) and its subprocesses",
                command.join(" "),
                t.version
            );
            tree::watch::Roots {
                targets: vec![(t, Liveness::Child(spawned.child))],
                others: Vec::new(),
                follow: true,
            }
        }
        Err(Failure::NotPython { .. }) if target::is_alive(pid) => {
            eprintln!(
                "memwatch: `{}` (PID {pid}) is not Python itself; watching the CPython processes it starts",
                command.join(" ")
            );
            tree::watch::Roots {
                targets: Vec::new(),
                others: vec![(pid, Some(spawned.child))],
                follow: true,
            }
        }
        Err(e) => {
            spawned.terminate();
            return Err(e);
        }
    };
    let outcome = tui::live::watch_tree(roots, opts, output, dashboard)?;
    stop_tree_started(pid, command);
    conclude_tree(outcome, opts)
}

/// A command memwatch started with its workers does not outlive the watch: the command is
/// stopped (SIGTERM, then SIGKILL), and its descendants that are still there after it.
fn stop_tree_started(pid: i32, command: &[String]) {
    let rest: Vec<i32> = tree::scan::tree(&[pid], 4096)
        .into_iter()
        .map(|m| m.pid)
        .filter(|&p| p != pid)
        .collect();
    if target::spawn::stop_started(pid) {
        eprintln!(
            "memwatch: stopped `{}` (PID {pid}), which it had started",
            command.join(" ")
        );
    }
    for p in rest {
        if target::is_alive(p) {
            target::spawn::stop_started(p);
        }
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
    report_command(
        file,
        Format::Text,
        None,
        share::RenderOpts {
            top: 10,
            ..Default::default()
        },
    )
}

/// `memwatch report FILE`: the session read back through the analyzer, rendered in `format`,
/// to standard output or to `output` (owner-only).
fn report_command(
    file: &Path,
    format: Format,
    output: Option<&Path>,
    opts: share::RenderOpts,
) -> Result<()> {
    let read = share::read_session(file)?;
    let opts = share::RenderOpts {
        session_file: Some(file.display().to_string()),
        warnings: read.warnings.clone(),
        ..opts
    };
    let bytes = share::render(read.view(), format, &opts)?;
    share::file::write_output(output.unwrap_or(Path::new("-")), &bytes)
}

/// `memwatch diff A B`: what changed from A to B (sessions or snapshot JSONs), in `format`,
/// to standard output or to `output` (owner-only).
fn diff_command(
    a: &Path,
    b: &Path,
    format: Format,
    output: Option<&Path>,
    top: usize,
) -> Result<()> {
    if !matches!(format, Format::Text | Format::Json | Format::Markdown) {
        return Err(Failure::Usage(
            "memwatch diff writes --format text, json or markdown; html, flamegraph and speedscope are formats of `memwatch report`".into(),
        ));
    }
    if !(1..=share::diff::MAX_TOP).contains(&top) {
        return Err(Failure::Usage(format!(
            "--top must be between 1 and {}, not {top}",
            share::diff::MAX_TOP
        )));
    }
    let side_a = share::diff::load(a)?;
    let side_b = share::diff::load(b)?;
    let d = share::diff::compare(&side_a, &side_b, top);
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&d).map_err(Failure::internal)? + "\n",
        Format::Markdown => share::diff::render::markdown(&d),
        _ => share::diff::render::text(&d),
    };
    share::file::write_output(output.unwrap_or(Path::new("-")), text.as_bytes())
}
