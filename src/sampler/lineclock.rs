//! The fast line clock: between the full samples (py-spy, every thread, 100 Hz), the line
//! probe ([`super::lineprobe`]) reads the running thread's stack and the RSS at 1 kHz, so that
//! a change of RSS is seen within a millisecond together with the line at both ends of it.
//!
//! What it sends: nothing while RSS stands still; when RSS moved since the previous probe,
//! that probe (the start of the change, unless it was sent already) and this one, each an
//! [`Event::Probe`]. The analyzer charges the change with what both ends saw, as it does
//! between full samples. At most [`EVENTS_PER_S`] probes a second are sent (a token bucket;
//! a change past it is charged at the next sample sent, so no memory is lost to the table).
//!
//! Which thread: the one the last full sample charges (the GIL holder, else the only running
//! one, else the main thread). Whether it runs is the OS's word, as for py-spy's samples
//! (`/proc/PID/task/TID/stat`, kept open: one `pread`), where its OS thread is known.
//!
//! Its cost is measured: the probe rate is lowered so that probes take at most
//! [`CPU_SHARE`] of a core (deep stacks, a slow machine).

use std::time::Instant;

use super::lineprobe::{LineProbe, ProbeFrame};
use super::proc::TaskStat;
use super::stacks::{Interner, MAX_FRAMES};
use crate::event::{Event, Micros, ThreadId};

/// Probes sent per second at most, on average.
pub const EVENTS_PER_S: f64 = 200.0;
/// Burst of the token bucket.
const BURST: f64 = 40.0;
/// Share of a core the probes may take.
pub const CPU_SHARE: f64 = 0.02;

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
    scratch: Vec<ProbeFrame>,
    tokens: f64,
    refilled: Option<Instant>,
    /// Seconds a probe takes, smoothed.
    cost: f64,
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
            scratch: Vec::new(),
            tokens: BURST,
            refilled: None,
            cost: 0.0,
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
        self.last = Some(Last {
            t,
            rss_kib,
            stack: Vec::new(),
            active: true,
            sent: true,
        });
    }

    /// Is a thread being probed now?
    pub fn probing(&self) -> bool {
        self.thread.is_some() && self.hz >= 1.0
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
            self.failed += 1;
            self.last_error = Some(e.to_string());
            self.scratch = frames;
            self.last = None;
            self.account(started);
            return;
        }
        let moved = self.last.as_ref().is_some_and(|l| l.rss_kib != rss_kib);
        let mut sent = false;
        if moved && !frames.is_empty() && self.take_tokens(started) {
            if let Some(l) = self.last.as_mut()
                && !l.sent
                && !l.stack.is_empty()
            {
                let stack = interner.intern_probe(&l.stack, |c| self.probe.names(c), out);
                out.push(Event::Probe {
                    t: l.t,
                    rss_kib: l.rss_kib,
                    thread,
                    stack,
                    active: l.active,
                });
                self.sent += 1;
            }
            let stack = interner.intern_probe(&frames, |c| self.probe.names(c), out);
            out.push(Event::Probe {
                t,
                rss_kib,
                thread,
                stack,
                active,
            });
            self.sent += 1;
            sent = true;
        }
        if let Some(old) = self.last.replace(Last {
            t,
            rss_kib,
            stack: frames,
            active,
            sent,
        }) {
            self.scratch = old.stack;
        }
        self.account(started);
    }

    /// Two tokens (the start and the end of a change), if the bucket has them.
    fn take_tokens(&mut self, now: Instant) -> bool {
        if let Some(at) = self.refilled {
            let dt = now.duration_since(at).as_secs_f64();
            self.tokens = (self.tokens + dt * EVENTS_PER_S).min(BURST);
        }
        self.refilled = Some(now);
        if self.tokens >= 2.0 {
            self.tokens -= 2.0;
            true
        } else {
            false
        }
    }

    /// Fold this probe's cost into the average and lower the rate if probes cost too much.
    fn account(&mut self, started: Instant) {
        let took = started.elapsed().as_secs_f64();
        self.cost = if self.probes <= 1 {
            took
        } else {
            self.cost * 0.98 + took * 0.02
        };
        if self.cost > 0.0 {
            self.hz = (CPU_SHARE / self.cost).min(self.wanted_hz);
        }
    }
}
