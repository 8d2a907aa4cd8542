//! The fast line clock: between the full samples (py-spy, every thread, 100 Hz), the line
//! probe ([`super::lineprobe`]) reads the running thread's stack and the RSS at 1 kHz, so that
//! a change of RSS is seen within a millisecond together with the line at both ends of it.
//!
//! What it sends: nothing while RSS stands still; around a change of RSS, the probes at both
//! ends of it, each an [`Event::Probe`] — of a run of probes that saw the same stack, only its
//! first and last (see [`LineClock::decide`]). The analyzer charges a change with what both
//! ends saw, as it does between full samples. At most [`EVENTS_PER_S`] probes a second are sent (a token bucket;
//! a change past it is charged at the next sample sent, so no memory is lost to the table).
//!
//! Which thread: the one the last full sample charges (the GIL holder, else the only running
//! one, else the main thread). Whether it runs is the OS's word, as for py-spy's samples
//! (`/proc/PID/task/TID/stat`, kept open: one `pread`), where its OS thread is known.
//!
//! Its cost is measured: the probe rate is lowered while the sampler thread takes more than
//! [`SAMPLER_SHARE`] of a core (a wakeup costs most; deep stacks, a slow machine), and is a
//! quarter of it while RSS stands still.

use std::time::{Duration, Instant};

use super::lineprobe::{LineProbe, ProbeFrame};
use super::proc::TaskStat;
use super::stacks::{Interner, MAX_FRAMES};
use crate::event::{Event, Micros, ThreadId};

/// Probes sent per second at most, on average.
pub const EVENTS_PER_S: f64 = 200.0;
/// Burst of the token bucket.
const BURST: f64 = 40.0;
/// Share of a core the sampler thread may take, full samples and probes together: the probe
/// rate is lowered (down to [`MIN_HZ`]) while it takes more. A wakeup is most of a probe's
/// cost (35 µs of CPU in the VM this was measured on, against ~10 µs of reads).
pub const SAMPLER_SHARE: f64 = 0.03;
/// The lowest rate the governor lowers the probes to.
pub const MIN_HZ: f64 = 50.0;
/// RSS still this long: probes at a quarter of the rate until it moves (a change is then
/// seen within 4 ms and followed at the full rate).
const QUIET: Duration = Duration::from_millis(200);
/// The governor's window.
const WINDOW: Duration = Duration::from_secs(1);

struct Last {
    t: Micros,
    rss_kib: u64,
    stack: Vec<ProbeFrame>,
    active: bool,
    sent: bool,
}

/// The thread probed: our id, its `tstate->thread_id`, and its OS thread's state file.
pub struct Probed {
    pub thread: ThreadId,
    pub python_id: u64,
    pub os_tid: Option<u64>,
}

pub struct LineClock {
    probe: LineProbe,
    /// The rate asked for (Hz) and the rate the cost allows.
    pub wanted_hz: f64,
    pub hz: f64,
    /// The thread probed; None: none now.
    thread: Option<Probed>,
    task: Option<TaskStat>,
    pid: i32,
    last: Option<Last>,
    /// A probe of the current run (same stack as the last) was sent.
    run_sent: bool,
    /// RSS moved in the current run since its last probe sent.
    dirty: bool,
    scratch: Vec<ProbeFrame>,
    tokens: f64,
    refilled: Option<Instant>,
    /// When RSS last moved (between two probes or a sample and a probe).
    moved_at: Option<Instant>,
    /// The governor's window: its start and the sampler thread's CPU time then.
    window: Option<(Instant, Duration)>,
    pub probes: u64,
    pub sent: u64,
    pub failed: u64,
    pub last_error: Option<String>,
}

impl LineClock {
    pub fn new(pid: i32, probe: LineProbe, hz: f64) -> LineClock {
        LineClock {
            probe,
            wanted_hz: hz,
            hz,
            thread: None,
            task: None,
            pid,
            last: None,
            run_sent: false,
            dirty: false,
            scratch: Vec::new(),
            tokens: BURST,
            refilled: None,
            moved_at: None,
            window: None,
            probes: 0,
            sent: 0,
            failed: 0,
            last_error: None,
        }
    }

    /// A full sample was taken at `t`: it is the start of the next change; `thread` is the
    /// thread it charges.
    pub fn after_sample(&mut self, t: Micros, rss_kib: u64, thread: Option<Probed>) {
        let tid = thread.as_ref().and_then(|p| p.os_tid);
        if self.task.as_ref().map(|t| t.tid) != tid {
            self.task = tid.and_then(|tid| TaskStat::open(self.pid, tid).ok());
        }
        self.thread = thread;
        if self.last.as_ref().is_some_and(|l| l.rss_kib != rss_kib) {
            self.moved_at = Some(Instant::now());
        }
        self.last = Some(Last {
            t,
            rss_kib,
            stack: Vec::new(),
            active: true,
            sent: true,
        });
        self.run_sent = true;
        self.dirty = false;
    }

    /// Is a thread being probed now?
    pub fn probing(&self) -> bool {
        self.thread.is_some() && self.hz >= 1.0
    }

    /// The time to the next probe at `now`: a quarter of the rate while RSS stands still.
    pub fn period(&self, now: Instant) -> Duration {
        let quiet = self
            .moved_at
            .is_none_or(|at| now.duration_since(at) >= QUIET);
        let hz = if quiet { self.hz / 4.0 } else { self.hz };
        Duration::from_secs_f64(1.0 / hz.clamp(1.0, 10_000.0))
    }

    /// Called at every full sample: once a window has passed, compare the sampler thread's
    /// CPU over it with [`SAMPLER_SHARE`] and move the rate toward what fits (at most halved
    /// or raised by a quarter a window).
    pub fn govern(&mut self, now: Instant) {
        let Some(cpu) = super::census::thread_cpu() else {
            return;
        };
        let Some((began, cpu_began)) = self.window else {
            self.window = Some((now, cpu));
            return;
        };
        let wall = now.duration_since(began);
        if wall < WINDOW {
            return;
        }
        let used = cpu.saturating_sub(cpu_began).as_secs_f64() / wall.as_secs_f64();
        if used > 0.0 {
            let ratio = (SAMPLER_SHARE / used).clamp(0.5, 1.25);
            self.hz = (self.hz * ratio).clamp(MIN_HZ.min(self.wanted_hz), self.wanted_hz);
        }
        self.window = Some((now, cpu));
    }

    /// One probe at `t` with RSS `rss_kib`; events to send are appended to `out` (new frame
    /// and stack definitions first).
    pub fn tick(&mut self, t: Micros, rss_kib: u64, interner: &mut Interner, out: &mut Vec<Event>) {
        let Some(Probed {
            thread, python_id, ..
        }) = self.thread
        else {
            return;
        };
        let started = Instant::now();
        let active = self
            .task
            .as_ref()
            .and_then(TaskStat::running)
            .unwrap_or(true);
        let mut frames = std::mem::take(&mut self.scratch);
        let read = self.probe.probe(python_id, MAX_FRAMES, &mut frames);
        self.probes += 1;
        if let Err(e) = read {
            if e == super::lineprobe::ProbeError::NoThread {
                // the thread ended: none is probed until a full sample names the next
                self.thread = None;
            } else {
                self.failed += 1;
                self.last_error = Some(e.to_string());
            }
            self.scratch = frames;
            self.last = None;
            return;
        }
        let probe = Last {
            t,
            rss_kib,
            stack: frames,
            active,
            sent: false,
        };
        if self.last.as_ref().is_some_and(|l| l.rss_kib != rss_kib) {
            self.moved_at = Some(started);
        }
        self.decide(probe, thread, started, interner, out);
    }

    /// Send what the analyzer needs of `probe` and the one before it, and keep it as the last.
    ///
    /// Probes in a row with the same stack (and running state) form a run: the analyzer
    /// charges what RSS did between two of them to that stack whichever way it went, so a run
    /// needs only its ends sent. A change of RSS sends the probe before it and this one, unless
    /// the run already has a member sent (then the change is noted, `dirty`, and the run's last
    /// probe is sent when the stack changes); a change of stack after such changes sends the
    /// old run's last probe, so that what it did is charged to it.
    fn decide(
        &mut self,
        mut probe: Last,
        thread: ThreadId,
        now: Instant,
        interner: &mut Interner,
        out: &mut Vec<Event>,
    ) {
        let Some(mut last) = self.last.take() else {
            self.run_sent = false;
            self.dirty = false;
            self.last = Some(probe);
            return;
        };
        let moved = last.rss_kib != probe.rss_kib;
        let same =
            !probe.stack.is_empty() && last.stack == probe.stack && last.active == probe.active;
        if same {
            if moved && self.run_sent {
                self.dirty = true;
            } else if moved {
                self.send(&mut last, thread, now, interner, out);
                self.send(&mut probe, thread, now, interner, out);
                self.run_sent = last.sent || probe.sent;
                self.dirty = false;
            }
        } else {
            if self.dirty {
                // close the run that moved RSS since its last member sent
                self.send(&mut last, thread, now, interner, out);
                self.dirty = false;
            }
            if moved {
                self.send(&mut last, thread, now, interner, out);
                self.send(&mut probe, thread, now, interner, out);
            }
            self.run_sent = probe.sent;
        }
        self.scratch = std::mem::take(&mut last.stack);
        self.last = Some(probe);
    }

    /// Send `p` (once, with a stack, if the bucket has a token).
    fn send(
        &mut self,
        p: &mut Last,
        thread: ThreadId,
        now: Instant,
        interner: &mut Interner,
        out: &mut Vec<Event>,
    ) {
        if p.sent || p.stack.is_empty() || !self.take_token(now) {
            return;
        }
        let stack = interner.intern_probe(&p.stack, |c| self.probe.names(c), out);
        out.push(Event::Probe {
            t: p.t,
            rss_kib: p.rss_kib,
            thread,
            stack,
            active: p.active,
        });
        p.sent = true;
        self.sent += 1;
    }

    /// A token of the bucket, if it has one.
    fn take_token(&mut self, now: Instant) -> bool {
        if let Some(at) = self.refilled {
            let dt = now.duration_since(at).as_secs_f64();
            self.tokens = (self.tokens + dt * EVENTS_PER_S).min(BURST);
        }
        self.refilled = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}
