//! The sampler: its own thread, two clocks, one outgoing event stream.
//!
//! Fast clock (`--rate`, default 100 Hz): RSS from `/proc/PID/statm` and the Python stacks of
//! every thread (py-spy, non-blocking: the target is never paused). Slow clock: open-fd count
//! (1 Hz) and smaps_rollup (every 5 s; it takes the target's mmap lock).
//!
//! The sampler never waits for its consumers: events go out in batches over a bounded channel
//! with `try_send`; a batch that does not fit is dropped and counted, and the count is sent in a
//! [`Event::Dropped`] as soon as there is room again. Definitions (frames, stacks, threads)
//! of a dropped batch are kept and sent with the next one, so later samples stay decodable.

pub mod census;
pub mod lineclock;
pub mod lineprobe;
pub mod linetable;
pub mod proc;
pub mod stacks;

use std::collections::HashSet;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::event::{EndReason, Event, Micros, Sample, SessionInfo};
use lineclock::LineClock;
use lineprobe::LineProbe;
use proc::Statm;
use stacks::StackReader;

/// Longest source file the sampler will read, bytes.
const MAX_SOURCE_BYTES: u64 = 4 << 20;
/// Most source files read in one session, and most bytes of source in all.
const MAX_SOURCES: usize = 4096;
const MAX_SOURCE_TOTAL: u64 = 64 << 20;
/// Most fds whose targets are read at one slow-clock tick.
const MAX_FDS_GROUPED: usize = 100_000;
/// How long a started target may take to exit after Ctrl-C before memwatch stops anyway.
const CHILD_EXIT_GRACE: Duration = Duration::from_secs(2);
/// In a process tree, a process whose RSS stood still for this many ticks in a row has its
/// stacks read at every [`STILL_EVERY`]th tick only (and no sample sent in between), until its
/// RSS moves again: with no memory moving there is nothing to charge to a line, and the tree's
/// stack reads (py-spy's, about 150 µs each) go where memory moves.
const STILL_AFTER: u32 = 20;
const STILL_EVERY: u32 = 4;
/// Batches the channel holds before the sampler starts dropping.
pub const CHANNEL_BATCHES: usize = 1024;

/// The line clock's default rate, Hz.
pub const DEFAULT_PROBE_HZ: f64 = 1000.0;

#[derive(Debug, Clone)]
pub struct SamplerConfig {
    pub rate_hz: f64,
    /// The line clock's rate (`--line-rate`, Hz; 0: off): probes of the running thread's
    /// stack and RSS between full samples ([`lineclock`]). Off in a process tree.
    pub probe_hz: f64,
    /// A rate set from outside while the sampler runs (f64 bits, Hz): a process tree shares
    /// its fast-clock budget among its processes. None: `rate_hz` throughout.
    pub shared_rate: Option<Arc<std::sync::atomic::AtomicU64>>,
    pub duration: Option<Duration>,
    pub fd_interval: Duration,
    pub rollup_interval: Duration,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            rate_hz: 100.0,
            probe_hz: DEFAULT_PROBE_HZ,
            shared_rate: None,
            duration: None,
            fd_interval: Duration::from_secs(1),
            rollup_interval: Duration::from_secs(5),
        }
    }
}

/// How the sampler learns that the target ended.
pub enum Liveness {
    /// memwatch started it: reap it and report its exit status.
    Child(Child),
    /// Someone else's process: it is gone when /proc says so; its exit code is unknowable.
    Pid,
}

pub struct Sampler {
    pid: i32,
    statm: Statm,
    stacks: StackReader,
    lines: Option<LineClock>,
    liveness: Liveness,
    cfg: SamplerConfig,
    out: Outbox,
    stop: Arc<AtomicBool>,
    sources: HashSet<String>,
    source_bytes: u64,
}

/// The sampler's end of the channel: never blocks (but for the final batch), counts what it
/// had to drop, and keeps undelivered definitions for the next batch.
pub struct Outbox {
    tx: SyncSender<Vec<Event>>,
    /// Definitions not yet delivered.
    pending: Vec<Event>,
    pub dropped: u64,
    dropped_reported: u64,
}

impl Outbox {
    pub fn new(tx: SyncSender<Vec<Event>>) -> Outbox {
        Outbox {
            tx,
            pending: Vec::new(),
            dropped: 0,
            dropped_reported: 0,
        }
    }

    fn with_backlog(&mut self, mut batch: Vec<Event>, t: Micros) -> Vec<Event> {
        if self.dropped > self.dropped_reported {
            batch.push(Event::Dropped {
                t,
                count: self.dropped - self.dropped_reported,
            });
        }
        if !self.pending.is_empty() {
            let mut all = std::mem::take(&mut self.pending);
            all.append(&mut batch);
            batch = all;
        }
        batch
    }

    /// Hand a batch over without waiting; if it does not fit, count its timed events as
    /// dropped and keep its definitions.
    pub fn offer(&mut self, batch: Vec<Event>, t: Micros) {
        let batch = self.with_backlog(batch, t);
        match self.tx.try_send(batch) {
            Ok(()) => self.dropped_reported = self.dropped,
            Err(TrySendError::Full(batch)) | Err(TrySendError::Disconnected(batch)) => {
                self.dropped += batch
                    .iter()
                    .filter(|e| e.time().is_some() && !matches!(e, Event::Dropped { .. }))
                    .count() as u64;
                self.pending = batch.into_iter().filter(|e| e.time().is_none()).collect();
            }
        }
    }

    /// The last batch of a stream: waits for room, since the end must arrive.
    pub fn finish(&mut self, batch: Vec<Event>, t: Micros) {
        let batch = self.with_backlog(batch, t);
        let _ = self.tx.send(batch);
    }
}

pub fn micros(d: Duration) -> Micros {
    d.as_micros().min(u64::MAX as u128) as u64
}

impl Sampler {
    pub fn new(
        pid: i32,
        stacks: StackReader,
        liveness: Liveness,
        cfg: SamplerConfig,
        tx: SyncSender<Vec<Event>>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<Sampler> {
        Ok(Sampler {
            pid,
            statm: Statm::open(pid)?,
            stacks,
            lines: None,
            liveness,
            cfg,
            out: Outbox::new(tx),
            stop,
            sources: HashSet::new(),
            source_bytes: 0,
        })
    }

    /// Probe lines between full samples with `probe` at the configured rate (not in a
    /// process tree, whose stack reads are shared out by its governor).
    pub fn with_line_probe(mut self, probe: LineProbe) -> Sampler {
        if self.cfg.probe_hz > self.cfg.rate_hz && self.cfg.shared_rate.is_none() {
            self.lines = Some(LineClock::new(self.pid, probe, self.cfg.probe_hz));
        }
        self
    }

    /// What the line clock did, for the status and the tests: (probes, sent, failed, rate).
    pub fn line_clock(&self) -> Option<&LineClock> {
        self.lines.as_ref()
    }

    /// Definitions in `batch` first, then the sources of files they name for the first time,
    /// then the rest.
    fn with_sources(&mut self, mut batch: Vec<Event>) -> Vec<Event> {
        if !batch.iter().any(|e| matches!(e, Event::Frame(..))) {
            return batch;
        }
        let mut sources = Vec::new();
        self.read_new_sources(&batch, &mut sources);
        let defs = batch
            .iter()
            .position(|e| !matches!(e, Event::Frame(..) | Event::Stack(..) | Event::Thread(..)))
            .unwrap_or(batch.len());
        batch.splice(defs..defs, sources);
        batch
    }

    /// One probe of the line clock at `now`; the time of the next.
    fn probe_tick(&mut self, now: Instant, start: Instant) -> Option<Duration> {
        let clock = self.lines.as_mut()?;
        let t = micros(now - start);
        if let Ok(rss) = self.statm.rss_kib() {
            let mut batch = Vec::new();
            clock.tick(t, rss, &mut self.stacks.interner, &mut batch);
            if !batch.is_empty() {
                let batch = self.with_sources(batch);
                self.out.offer(batch, t);
            }
        }
        let clock = self.lines.as_ref()?;
        clock.probing().then(|| clock.period(now))
    }

    /// Run on a thread of its own until stopped, the duration passes or the target ends.
    /// `info` becomes the first event of the stream.
    /// `start` is the session's time zero (shared with the census clock).
    pub fn spawn(self, info: SessionInfo, start: Instant) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("memwatch-sampler".into())
            .spawn(move || self.run(info, start))
    }

    fn exited(&mut self) -> Option<EndReason> {
        match &mut self.liveness {
            // Not Child::try_wait: a waitpid from this process also reports (and consumes) the
            // ptrace stops of a census pausing the child; ask for exits only.
            Liveness::Child(_) => {
                use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
                let pid = nix::unistd::Pid::from_raw(self.pid);
                match waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG) {
                    Ok(WaitStatus::Exited(_, code)) => Some(EndReason::TargetExited {
                        code: Some(code),
                        signal: None,
                    }),
                    Ok(WaitStatus::Signaled(_, sig, _)) => Some(EndReason::TargetExited {
                        code: None,
                        signal: Some(sig as i32),
                    }),
                    Ok(_) => None,
                    // reaped already: by a census that held the target as it ended
                    Err(_) => {
                        let (code, signal) =
                            crate::heap::freeze::take_reaped(self.pid).unwrap_or((None, None));
                        Some(EndReason::TargetExited { code, signal })
                    }
                }
            }
            Liveness::Pid => {
                if crate::target::is_alive(self.pid) {
                    None
                } else {
                    Some(EndReason::TargetExited {
                        code: None,
                        signal: None,
                    })
                }
            }
        }
    }

    /// The target's memory is gone: it is exiting. A child of ours becomes reapable a moment
    /// later; wait for that briefly so its exit status is recorded.
    fn await_exit(&mut self) -> EndReason {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            if let Some(r) = self.exited() {
                return r;
            }
            if Instant::now() >= deadline {
                return EndReason::TargetExited {
                    code: None,
                    signal: None,
                };
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Read the source text of files seen for the first time in `defs`.
    fn read_new_sources(&mut self, defs: &[Event], out: &mut Vec<Event>) {
        for ev in defs {
            let Event::Frame(_, f) = ev else { continue };
            if self.sources.len() >= MAX_SOURCES || self.sources.contains(&f.file) {
                continue;
            }
            self.sources.insert(f.file.clone());
            if f.file.is_empty() || f.file.starts_with('<') {
                continue;
            }
            let budget = MAX_SOURCE_BYTES.min(MAX_SOURCE_TOTAL.saturating_sub(self.source_bytes));
            let text = crate::target::read_target_file(self.pid, &f.file, budget);
            self.source_bytes += text.as_ref().map_or(0, |t| t.len() as u64);
            out.push(Event::Source {
                file: f.file.clone(),
                text,
            });
        }
    }

    fn run(mut self, info: SessionInfo, start: Instant) {
        self.out.finish(vec![Event::Start(Box::new(info))], 0);
        let period_of = |hz: f64| Duration::from_secs_f64(1.0 / hz.clamp(0.1, 10_000.0));
        let mut period = period_of(self.cfg.rate_hz);
        let mut next_tick = start;
        let mut next_fd = start;
        let mut next_rollup = start;
        let mut stop_grace: Option<Instant> = None;
        // ticks in a row whose RSS was the previous tick's
        let mut still_ticks = 0u32;
        let mut last_rss: Option<u64> = None;
        let mut told_still = false;
        // the line clock's next probe (None: no probes until the next full sample)
        let mut next_probe: Option<Instant> = None;
        let reason = loop {
            let now = Instant::now();
            let wake = next_probe.map_or(next_tick, |p| p.min(next_tick));
            if now < wake {
                std::thread::sleep(wake - now);
            }
            let now = Instant::now();
            if now < next_tick {
                // a probe between full samples
                next_probe = self.probe_tick(now, start).map(|p| {
                    let next = next_probe.unwrap_or(now) + p;
                    // behind (a slow read, a busy machine): skip the probes missed
                    if next < now { now + p } else { next }
                });
                continue;
            }
            if self.stop.load(Ordering::Relaxed) {
                // A target we started got the same Ctrl-C from the terminal: give it a
                // moment to exit so its exit status is recorded, sampling meanwhile.
                match (&self.liveness, stop_grace) {
                    (Liveness::Child(_), None) => stop_grace = Some(now + CHILD_EXIT_GRACE),
                    (Liveness::Child(_), Some(deadline)) if now < deadline => {}
                    _ => break EndReason::Interrupted,
                }
            }
            let t = micros(now - start);
            if let Some(d) = self.cfg.duration
                && now - start >= d
            {
                break EndReason::Duration;
            }
            if let Some(r) = self.exited() {
                break r;
            }
            let rss_kib = match self.statm.rss_kib() {
                Ok(r) => r,
                Err(_) => break self.await_exit(),
            };
            still_ticks = if last_rss == Some(rss_kib) {
                still_ticks.saturating_add(1)
            } else {
                0
            };
            last_rss = Some(rss_kib);
            let mut batch = Vec::new();
            let skip = self.cfg.shared_rate.is_some()
                && still_ticks >= STILL_AFTER
                && !still_ticks.is_multiple_of(STILL_EVERY);
            if skip && !told_still {
                told_still = true;
                batch.push(Event::Note {
                    t,
                    text: format!(
                        "RSS stood still for {STILL_AFTER} samples in a row: while it does, this \
                         process's stacks are read at every {STILL_EVERY}th tick only (the tree's \
                         stack reads go where memory moves)"
                    ),
                });
            }
            if !skip {
                let threads = self.stacks.read(&mut batch).unwrap_or_default();
                if !batch.is_empty() {
                    let defs = std::mem::take(&mut batch);
                    self.read_new_sources(&defs, &mut batch);
                    batch.splice(0..0, defs);
                }
                let sample = Sample {
                    t,
                    rss_kib,
                    threads,
                };
                if let Some(clock) = self.lines.as_mut() {
                    // the next probes read the thread this sample charges
                    let probed = sample.attributed().and_then(|th| {
                        let (python_id, os_tid) = self.stacks.python_thread_id(th.thread)?;
                        Some(lineclock::Probed {
                            thread: th.thread,
                            python_id,
                            os_tid,
                        })
                    });
                    clock.after_sample(t, rss_kib, probed);
                    clock.govern(now);
                    // a probe already due keeps its time (a rate the governor lowered below
                    // the fast clock's still probes, and so still measures its cost)
                    next_probe = clock.probing().then(|| {
                        next_probe
                            .filter(|&p| p > now)
                            .unwrap_or_else(|| now + clock.period(now))
                    });
                }
                batch.push(Event::Sample(sample));
            }
            if now >= next_fd {
                if let Some(count) = proc::fd_count(self.pid) {
                    batch.push(Event::Fds { t, count });
                }
                next_fd = now + self.cfg.fd_interval;
            }
            if now >= next_rollup {
                if let Some(mem) = proc::rollup(self.pid) {
                    batch.push(Event::Rollup { t, mem });
                }
                if let Some(groups) = proc::fd_groups(self.pid, MAX_FDS_GROUPED) {
                    batch.push(Event::FdTargets { t, groups });
                }
                next_rollup = now + self.cfg.rollup_interval;
            }
            if !batch.is_empty() {
                self.out.offer(batch, t);
            }
            if let Some(r) = &self.cfg.shared_rate {
                period = period_of(f64::from_bits(r.load(Ordering::Relaxed)));
            }
            // next tick on the fixed grid; if we fell behind, skip the missed ticks
            next_tick += period;
            let after = Instant::now();
            if next_tick < after {
                let behind = (after - next_tick).as_nanos() / period.as_nanos().max(1);
                next_tick += period * (behind as u32 + 1);
            }
        };
        let t = micros(start.elapsed());
        let mut last = Vec::new();
        if let Some(c) = &self.lines
            && c.failed * 10 > c.probes
        {
            last.push(Event::Note {
                t,
                text: format!(
                    "the line clock could not read {} of {} probes of the running thread's stack \
                     (last: {}): lines were charged at the fast clock's rate where it failed",
                    c.failed,
                    c.probes,
                    c.last_error.as_deref().unwrap_or("?")
                ),
            });
        }
        last.push(Event::End { t, reason });
        self.out.finish(last, t);
        if let Liveness::Child(mut child) = self.liveness {
            // a target we started and that still runs is left running (Ctrl-C reaches it
            // through the terminal's process group); reap it if it already ended
            let _ = child.try_wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{FrameDef, Sample};
    use std::sync::mpsc::sync_channel;

    fn sample(t: Micros) -> Event {
        Event::Sample(Sample {
            t,
            rss_kib: 1,
            threads: vec![],
        })
    }

    #[test]
    fn a_full_channel_drops_samples_but_keeps_definitions() {
        let (tx, rx) = sync_channel(1);
        let mut out = Outbox::new(tx);
        out.offer(vec![sample(1)], 1);
        let frame = Event::Frame(
            7,
            FrameDef {
                function: "f".into(),
                file: "a.py".into(),
                line: 1,
            },
        );
        // the channel is full: this batch is dropped, its frame kept
        out.offer(vec![frame.clone(), sample(2)], 2);
        out.offer(vec![sample(3)], 3);
        assert_eq!(out.dropped, 2);
        assert_eq!(rx.recv().unwrap(), vec![sample(1)]);
        // room again: the kept definition comes first, the drop count last
        out.offer(vec![sample(4)], 4);
        assert_eq!(
            rx.recv().unwrap(),
            vec![frame, sample(4), Event::Dropped { t: 4, count: 2 }]
        );
        out.offer(vec![sample(5)], 5);
        assert_eq!(rx.recv().unwrap(), vec![sample(5)]);
    }
}
