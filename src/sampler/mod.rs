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
use crate::target::target_path;
use proc::Statm;
use stacks::StackReader;

/// Longest source file the sampler will read, bytes.
const MAX_SOURCE_BYTES: u64 = 4 << 20;
/// Most source files read in one session.
const MAX_SOURCES: usize = 4096;
/// How long a started target may take to exit after Ctrl-C before memwatch stops anyway.
const CHILD_EXIT_GRACE: Duration = Duration::from_secs(2);
/// Batches the channel holds before the sampler starts dropping.
pub const CHANNEL_BATCHES: usize = 1024;

#[derive(Debug, Clone)]
pub struct SamplerConfig {
    pub rate_hz: f64,
    pub duration: Option<Duration>,
    pub fd_interval: Duration,
    pub rollup_interval: Duration,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            rate_hz: 100.0,
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
    liveness: Liveness,
    cfg: SamplerConfig,
    tx: SyncSender<Vec<Event>>,
    stop: Arc<AtomicBool>,
    sources: HashSet<String>,
    /// Definitions not yet delivered.
    pending: Vec<Event>,
    dropped: u64,
    dropped_reported: u64,
}

fn micros(d: Duration) -> Micros {
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
            liveness,
            cfg,
            tx,
            stop,
            sources: HashSet::new(),
            pending: Vec::new(),
            dropped: 0,
            dropped_reported: 0,
        })
    }

    /// Run on a thread of its own until stopped, the duration passes or the target ends.
    /// `info` becomes the first event of the stream.
    pub fn spawn(self, info: SessionInfo) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("memwatch-sampler".into())
            .spawn(move || self.run(info))
    }

    fn exited(&mut self) -> Option<EndReason> {
        match &mut self.liveness {
            Liveness::Child(child) => match child.try_wait() {
                Ok(Some(status)) => {
                    use std::os::unix::process::ExitStatusExt;
                    Some(EndReason::TargetExited {
                        code: status.code(),
                        signal: status.signal(),
                    })
                }
                Ok(None) => None,
                Err(_) => Some(EndReason::TargetExited {
                    code: None,
                    signal: None,
                }),
            },
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
            let path = target_path(self.pid, &f.file);
            let text = std::fs::File::open(&path).ok().and_then(|file| {
                use std::io::Read;
                let mut s = String::new();
                file.take(MAX_SOURCE_BYTES).read_to_string(&mut s).ok()?;
                Some(s)
            });
            out.push(Event::Source {
                file: f.file.clone(),
                text,
            });
        }
    }

    /// Hand a batch over without waiting; keep its definitions if it does not fit.
    fn offer(&mut self, mut batch: Vec<Event>, t: Micros) {
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
        match self.tx.try_send(batch) {
            Ok(()) => self.dropped_reported = self.dropped,
            Err(TrySendError::Full(batch)) | Err(TrySendError::Disconnected(batch)) => {
                self.dropped += batch
                    .iter()
                    .filter(|e| e.time().is_some() && !matches!(e, Event::Dropped { .. }))
                    .count() as u64;
                self.pending = batch
                    .into_iter()
                    .filter(|e| e.time().is_none())
                    .collect();
            }
        }
    }

    fn run(mut self, info: SessionInfo) {
        let start = Instant::now();
        let _ = self.tx.send(vec![Event::Start(Box::new(info))]);
        let period = Duration::from_secs_f64(1.0 / self.cfg.rate_hz.clamp(0.1, 10_000.0));
        let mut next_tick = start;
        let mut next_fd = start;
        let mut next_rollup = start;
        let mut stop_grace: Option<Instant> = None;
        let reason = loop {
            let now = Instant::now();
            if now < next_tick {
                std::thread::sleep(next_tick - now);
            }
            let now = Instant::now();
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
                Err(_) => {
                    if let Some(r) = self.exited() {
                        break r;
                    }
                    break EndReason::TargetExited {
                        code: None,
                        signal: None,
                    };
                }
            };
            let mut batch = Vec::new();
            let threads = self.stacks.read(&mut batch).unwrap_or_default();
            if !batch.is_empty() {
                let defs = std::mem::take(&mut batch);
                self.read_new_sources(&defs, &mut batch);
                batch.splice(0..0, defs);
            }
            batch.push(Event::Sample(Sample {
                t,
                rss_kib,
                threads,
            }));
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
                next_rollup = now + self.cfg.rollup_interval;
            }
            self.offer(batch, t);
            // next tick on the fixed grid; if we fell behind, skip the missed ticks
            next_tick += period;
            let after = Instant::now();
            if next_tick < after {
                let behind = (after - next_tick).as_nanos() / period.as_nanos().max(1);
                next_tick += period * (behind as u32 + 1);
            }
        };
        let t = micros(start.elapsed());
        let mut last = std::mem::take(&mut self.pending);
        if self.dropped > self.dropped_reported {
            last.push(Event::Dropped {
                t,
                count: self.dropped - self.dropped_reported,
            });
        }
        last.push(Event::End { t, reason });
        // the end must arrive: this is the one blocking send
        let _ = self.tx.send(last);
        if let Liveness::Child(mut child) = self.liveness {
            // a target we started and that still runs is left running (Ctrl-C reaches it
            // through the terminal's process group); reap it if it already ended
            let _ = child.try_wait();
        }
    }
}
