//! The command line. Parsing only: what each command does lives in its own module.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "memwatch",
    version,
    about = "Watch a running CPython process's memory from outside: what grows, where, and why.",
    long_about = "Watch a running CPython process's memory from outside: what grows, where, and why.\n\n\
memwatch attaches read-only to a live CPython 3.8–3.15 process by PID (nothing is injected, \
the target is not restarted), samples its RSS and Python stacks, and records the session to a \
file that `memwatch report` reads later.\n\n\
On a terminal, a watch opens a live dashboard (press ? in it for the keys; q stops the watch, \
finalises the session and prints the report); with --no-tui or without a terminal it prints \
status lines. `memwatch replay FILE` opens the same dashboard over a recorded session.\n\n\
With --subprocesses, memwatch also watches every descendant that runs CPython (gunicorn and \
Celery workers, multiprocessing pools), as they come and go, into one session; --pid A,B \
watches several processes.",
    args_conflicts_with_subcommands = true,
    after_help = "Exit codes: 0 ok, 1 internal error, 2 usage, 10 no such process, 11 not a Python \
process, 12 permission denied, 13 unsupported interpreter, 14 target exited during attach, \
15 command could not be started, 16 heap layout not understood, 20 session file not found, 21 not a session file \
(for diff: not a session or snapshot), \
22 session file not writable, 23 report file not writable, 24 --serve address unusable, 30 findings at or above --fail-on \
(with --fail-on, otherwise the exit code of the command `run` started)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Attach to this running Python process; several PIDs (`--pid 4242,4243`) are watched
    /// as one session.
    #[arg(long, short = 'p', value_name = "PID", value_delimiter = ',', num_args = 1..)]
    pub pid: Vec<i32>,

    #[command(flatten)]
    pub watch: WatchOpts,

    /// Permission bits of the files memwatch creates (sessions, reports, exports), octal.
    /// They hold the target's source, paths, command line and heap names: owner-only by
    /// default, whatever the umask.
    #[arg(long, global = true, value_name = "MODE", default_value = "600",
          value_parser = crate::share::file::parse_mode)]
    pub file_mode: u32,
}

/// Options of a live watch (`--pid` and `run`).
#[derive(Debug, Clone, Args)]
pub struct WatchOpts {
    /// Fast-clock sampling rate (RSS and stacks), samples per second.
    #[arg(long, short = 'r', value_name = "HZ", default_value_t = 100.0)]
    pub rate: f64,

    /// Line-clock rate: between full samples, the running thread's stack and RSS are probed
    /// this many times a second, so that a change of RSS is charged to the lines running at
    /// both ends of it within a millisecond (0: off; off in a process tree; lowered by itself
    /// if probes would take more than 2 % of a core).
    #[arg(long, value_name = "HZ", default_value_t = crate::sampler::DEFAULT_PROBE_HZ)]
    pub line_rate: f64,

    /// Stop watching after this many seconds (default: until Ctrl-C, `q` or the target exits).
    /// The dashboard then closes by itself and the report is printed.
    #[arg(long, short = 'd', value_name = "SECS")]
    pub duration: Option<f64>,

    /// Record the session to FILE (default: memwatch-<pid>-<YYYYmmdd-HHMMSS>.db here).
    #[arg(long, value_name = "FILE", conflicts_with = "no_record")]
    pub record: Option<PathBuf>,

    /// Do not record a session file.
    #[arg(long)]
    pub no_record: bool,

    /// Overwrite the --record file if it exists.
    #[arg(long)]
    pub force: bool,

    /// Print status lines instead of the dashboard (the dashboard needs stdin and stdout to
    /// be a terminal; without one, memwatch prints status lines anyway).
    #[arg(long)]
    pub no_tui: bool,

    /// Seconds between status lines in headless mode.
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub status_interval: f64,

    /// Shortest time between two heap censuses, seconds (longer when pauses need it).
    #[arg(long, value_name = "SECS", default_value_t = 2.0)]
    pub heap_interval: f64,

    /// Largest share of wall time the target may spend paused by censuses, percent.
    #[arg(long, value_name = "PCT", default_value_t = 1.0)]
    pub pause_budget: f64,

    /// Take censuses without pausing the target (figures become approximate).
    #[arg(long)]
    pub nonblocking: bool,

    /// Copy a census's memory while the target runs, and during the pause only the pages it
    /// wrote meanwhile (the kernel's soft-dirty bits, /proc/PID/clear_refs and pagemap; needs
    /// CONFIG_MEM_SOFT_DIRTY): shorter pauses, a minor fault in the target at its first write
    /// to each page after every census. Not for targets another tool also tracks that way
    /// (CRIU).
    #[arg(long)]
    pub soft_dirty: bool,

    /// No heap censuses: RSS, stacks and fds only.
    #[arg(long)]
    pub no_heap: bool,

    /// Also watch every descendant process that runs CPython (workers of gunicorn, Celery,
    /// multiprocessing, …), found as they start; the others are listed, not sampled.
    #[arg(long)]
    pub subprocesses: bool,

    /// Most processes sampled at once with --subprocesses; further ones are listed only.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_processes: usize,

    /// CI mode: when the watch ends with a finding of this severity or above, exit with code
    /// 30 (else with the command's own exit code, for `memwatch run`).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,

    /// Also write the report to FILE when the watch ends (for a CI artifact).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// The format of --report (default: from its extension, .md markdown, .json, .html, .svg
    /// flamegraph; else text).
    #[arg(long, short = 'f', value_enum, requires = "report")]
    pub format: Option<Format>,

    /// Leave the program's source lines out of --report (for a report meant for sharing).
    #[arg(long)]
    pub no_source: bool,

    /// Keep every row of the session file for this long (seconds, or 90s, 30m, 1h, 2d); older
    /// ones are thinned: samples to 1 a second (to 1 a minute past 24 × this), censuses to 1 a
    /// minute (1 per 10 minutes), so a watch of days stays small and quick to read.
    #[arg(long, value_name = "DURATION", default_value = "1h",
          value_parser = crate::session::retention::parse_window)]
    pub retention: f64,

    /// Serve Prometheus/OpenMetrics metrics at http://ADDR/metrics while watching: PORT
    /// (loopback) or HOST:PORT. The endpoint shows names from the target's heap.
    #[arg(long, value_name = "[HOST:]PORT", value_parser = crate::export::parse_addr)]
    pub serve: Option<std::net::SocketAddr>,
}

/// The lowest severity that fails a CI run (`--fail-on`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Important findings (leaks) only.
    Important,
    /// Any finding, Suggestions too.
    Suggestion,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a command and watch it from its first moment: memwatch run [OPTIONS] -- CMD [ARGS...]
    Run {
        #[command(flatten)]
        watch: WatchOpts,
        /// The command to run, after `--`.
        #[arg(required = true, last = true, value_name = "CMD")]
        command: Vec<String>,
    },
    /// One heap census of a running process: objects by type, named containers, largest objects.
    Snapshot {
        /// The running Python process.
        #[arg(long, short = 'p', value_name = "PID")]
        pid: i32,
        #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Rows per table.
        #[arg(long, short = 'n', default_value_t = 20)]
        top: usize,
        /// Do not pause the target: copy its memory while it runs (figures are approximate).
        #[arg(long)]
        nonblocking: bool,
        /// Copy while the target runs, and during the pause only the pages it wrote meanwhile
        /// (soft-dirty page bits; see `memwatch --help`).
        #[arg(long)]
        soft_dirty: bool,
        /// Skip the object-graph analysis (cyclic garbage, why-alive chains): counts only.
        #[arg(long)]
        no_graph: bool,
        /// Tests only: keep the target paused this many milliseconds after the copy.
        #[arg(long, hide = true, default_value_t = 0)]
        hold_pause_ms: u64,
    },
    /// What memwatch reads of a running interpreter's layout: its version and build, where
    /// the target lives (root, namespaces), every offset memwatch uses (after the checks
    /// against the interpreter's own _Py_DebugOffsets and the GC list probe) and what those
    /// checks said. For diagnosing a new or unusual CPython build.
    Layout {
        /// The running Python process.
        #[arg(long, short = 'p', value_name = "PID")]
        pid: i32,
        #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// The dashboard over a recorded session, with a timeline (←/→ step, space play, End).
    /// Without a terminal, prints the report instead.
    Replay {
        /// The session file.
        file: PathBuf,
    },
    /// Postmortem of a recorded session: header, top lines, memory_profiler tables. Also as
    /// one self-contained HTML file, a flamegraph (SVG) or a speedscope profile.
    Report {
        /// The session file.
        file: PathBuf,
        #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Write to FILE (owner-only, see --file-mode) instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Leave the program's source lines out (a report meant for sharing).
        #[arg(long)]
        no_source: bool,
        /// How many lines to list.
        #[arg(long, short = 'n', default_value_t = 10)]
        top: usize,
        /// Show the table of this function (`name` or `Class.name`) instead of the top ones.
        #[arg(long, value_name = "NAME")]
        function: Option<String>,
    },
    /// What changed between two sessions, or a session and a snapshot (`memwatch snapshot
    /// --format json`), each at its end: named containers and types of the last census, the
    /// sampled increment per line (two sessions), RSS. A process tree's session is summed
    /// over its processes.
    Diff {
        /// The earlier side: a session file or a snapshot JSON.
        a: PathBuf,
        /// The later side: a session file or a snapshot JSON.
        b: PathBuf,
        /// text, json or markdown (tables for a GitHub job summary).
        #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Write to FILE (owner-only, see --file-mode) instead of standard output.
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
        /// Rows per table (the most grown first), 1 to 10,000.
        #[arg(long, short = 'n', default_value_t = 20)]
        top: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// The findings in the Recommendations Format (report); tables (diff).
    Markdown,
    /// One self-contained HTML file: charts, findings, line tables (report only).
    Html,
    /// A flamegraph SVG of the sampled memory increments per stack (report only).
    Flamegraph,
    /// A speedscope profile: bytes charged per stack, and samples (report only).
    Speedscope,
}

impl Format {
    /// The format a report file's name asks for: .md, .json, .html, .svg; else text.
    pub fn from_extension(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("md" | "markdown") => Format::Markdown,
            Some("json") => Format::Json,
            Some("html" | "htm") => Format::Html,
            Some("svg") => Format::Flamegraph,
            _ => Format::Text,
        }
    }
}

impl WatchOpts {
    /// Validate values clap cannot check by itself.
    pub fn check(&self) -> Result<(), String> {
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= 1000.0) {
            return Err(format!(
                "--rate must be between 0 and 1000 samples per second, not {}",
                self.rate
            ));
        }
        if !(self.line_rate.is_finite() && (0.0..=10_000.0).contains(&self.line_rate)) {
            return Err(format!(
                "--line-rate must be between 0 and 10000 probes per second, not {}",
                self.line_rate
            ));
        }
        if let Some(d) = self.duration
            && !(d.is_finite() && d > 0.0)
        {
            return Err(format!(
                "--duration must be a positive number of seconds, not {d}"
            ));
        }
        if !(self.status_interval.is_finite() && self.status_interval > 0.0) {
            return Err("--status-interval must be positive".into());
        }
        if !(self.heap_interval.is_finite() && self.heap_interval >= 0.1) {
            return Err(format!(
                "--heap-interval must be at least 0.1 seconds, not {}",
                self.heap_interval
            ));
        }
        if !(1..=256).contains(&self.max_processes) {
            return Err(format!(
                "--max-processes must be between 1 and 256, not {}",
                self.max_processes
            ));
        }
        if !(self.pause_budget.is_finite() && self.pause_budget > 0.0 && self.pause_budget <= 50.0)
        {
            return Err(format!(
                "--pause-budget must be a percentage between 0 and 50, not {}",
                self.pause_budget
            ));
        }
        Ok(())
    }
}
