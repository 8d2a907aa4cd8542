//! The supervisor: a thread that scans the tree twice a second and attaches each new CPython
//! process (attaching reads the interpreter's binary, tens of milliseconds: never on the hub's
//! thread, whose work is to keep up with the samplers). It tells the hub what it found; the
//! hub starts the pipelines and tells it back which PIDs are sampled.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::scan;
use crate::failure::Failure;
use crate::target::Target;

/// How often the tree is scanned for new and gone processes.
const SCAN_EVERY: Duration = Duration::from_millis(500);
/// A process this young may still be between fork and exec: tried at the next scan.
const MIN_AGE_S: f64 = 0.3;
/// How long a new process may stay unattachable (interpreter starting) before it is listed
/// as not sampled.
const ATTACH_PATIENCE: Duration = Duration::from_secs(3);
/// Most processes in one scan.
const MAX_SCANNED: usize = 4096;

/// What the supervisor found.
pub enum Found {
    /// A CPython process to sample.
    Python { target: Box<Target>, ppid: i32 },
    /// A process to list, not sample.
    Listed {
        pid: i32,
        ppid: i32,
        command_line: String,
        why: String,
    },
    /// A listed process went away or runs another program now.
    Gone { pid: i32 },
    /// A sampled process runs another program now (exec): its pipeline must end.
    Exec { pid: i32 },
}

/// What the hub tells the supervisor.
#[derive(Default)]
pub struct Sampled {
    /// PIDs whose pipelines run.
    pub live: Mutex<HashSet<i32>>,
    /// Processes sampled in this session so far.
    pub total: AtomicUsize,
}

pub struct Limits {
    /// Most processes sampled at once (`--max-processes`).
    pub live: usize,
    /// Most processes sampled in one session (a pool that recycles workers for hours, a fork
    /// storm): later ones are listed only.
    pub total: usize,
}

struct Candidate {
    first_try: Instant,
    image: Option<String>,
    /// Listed already (it is not tried again unless its program changes).
    listed: bool,
}

struct Supervisor {
    roots: Vec<i32>,
    limits: Limits,
    tx: SyncSender<Found>,
    sampled: Arc<Sampled>,
    candidates: HashMap<i32, Candidate>,
    /// The program each sampled PID ran when attached (exec detection).
    images: HashMap<i32, Option<String>>,
}

pub fn spawn(
    roots: Vec<i32>,
    limits: Limits,
    tx: SyncSender<Found>,
    sampled: Arc<Sampled>,
    stop: Arc<AtomicBool>,
    scale: super::governor::Scale,
) -> std::io::Result<JoinHandle<()>> {
    let mut s = Supervisor {
        roots,
        limits,
        tx,
        sampled,
        candidates: HashMap::new(),
        images: HashMap::new(),
    };
    std::thread::Builder::new()
        .name("memwatch-tree".into())
        .spawn(move || {
            let mut next = Instant::now() + SCAN_EVERY;
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    if s.scan(&stop).is_err() {
                        return; // the hub is gone
                    }
                    // while every CPU is busy, half as often (still within about a second)
                    let every = if scale.get() < 1.0 {
                        SCAN_EVERY * 2
                    } else {
                        SCAN_EVERY
                    };
                    next = Instant::now() + every;
                }
                // until the next scan, looking at the stop flag now and then
                let left = next.saturating_duration_since(Instant::now());
                std::thread::sleep(left.min(Duration::from_millis(100)));
            }
        })
}

type Sent = Result<(), ()>;

impl Supervisor {
    fn send(&self, f: Found) -> Sent {
        self.tx.send(f).map_err(|_| ())
    }

    fn live(&self) -> HashSet<i32> {
        self.sampled
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn list(&mut self, m: scan::Member, why: String) -> Sent {
        if let Some(c) = self.candidates.get_mut(&m.pid) {
            c.listed = true;
        }
        self.send(Found::Listed {
            pid: m.pid,
            ppid: m.ppid,
            command_line: crate::target::read_cmdline(m.pid),
            why,
        })
    }

    fn scan(&mut self, stop: &AtomicBool) -> Sent {
        let attached = self.sampled.total.load(Ordering::Relaxed);
        let r = self.scan_once(stop);
        if self.sampled.total.load(Ordering::Relaxed) != attached {
            // an attach reads the interpreter's binary: give that memory back at once
            crate::heap::release_freed_memory();
        }
        r
    }

    fn scan_once(&mut self, stop: &AtomicBool) -> Sent {
        let members = scan::tree(&self.roots, MAX_SCANNED);
        let present: HashSet<i32> = members.iter().map(|m| m.pid).collect();
        let live = self.live();
        // listed processes that went; sampled ones that ended are the hub's to know
        let gone: Vec<i32> = self
            .candidates
            .iter()
            .filter(|(pid, c)| c.listed && !present.contains(pid))
            .map(|(pid, _)| *pid)
            .collect();
        for pid in gone {
            self.send(Found::Gone { pid })?;
        }
        self.candidates.retain(|pid, _| present.contains(pid));
        self.images.retain(|pid, _| live.contains(pid));
        for m in members {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            // a root that is not sampled is not Python: the hub listed it; its children are
            // what the scan is for
            if self.roots.contains(&m.pid) && !live.contains(&m.pid) {
                continue;
            }
            let image = scan::image(m.pid);
            if live.contains(&m.pid) {
                // the roots were attached before the supervisor started: what they run now
                let was = self
                    .images
                    .entry(m.pid)
                    .or_insert_with(|| image.clone())
                    .clone();
                if image.is_some() && was != image {
                    // the same PID runs another program now: a new process of the tree once
                    // its pipeline has ended
                    self.images.remove(&m.pid);
                    self.send(Found::Exec { pid: m.pid })?;
                }
                continue;
            }
            if let Some(c) = self.candidates.get(&m.pid) {
                let same = image.is_none() || c.image == image;
                if c.listed && same {
                    continue;
                }
                if c.listed && !same {
                    self.candidates.remove(&m.pid);
                    self.send(Found::Gone { pid: m.pid })?;
                }
            }
            if scan::age_secs(m.pid).is_some_and(|a| a < MIN_AGE_S) {
                continue;
            }
            let first_try = self
                .candidates
                .entry(m.pid)
                .or_insert_with(|| Candidate {
                    first_try: Instant::now(),
                    image: image.clone(),
                    listed: false,
                })
                .first_try;
            let total = self.sampled.total.load(Ordering::Relaxed);
            // counted afresh: this scan's own attaches count too
            let live_now = self.sampled.live.lock().map_or(0, |l| l.len());
            if live_now >= self.limits.live {
                let why = format!(
                    "not sampled: {} processes are sampled already (--max-processes)",
                    self.limits.live
                );
                self.list(m, why)?;
                continue;
            }
            if total >= self.limits.total {
                let why = format!(
                    "not sampled: {} processes were sampled in this session already",
                    self.limits.total
                );
                self.list(m, why)?;
                continue;
            }
            match crate::target::attach(m.pid) {
                Ok(mut target) => {
                    // the interpreter may be mapped before its first thread state exists
                    if target.spy.get_stack_traces().is_err() {
                        self.retry_or_list(m, first_try, "its interpreter is still starting")?;
                        continue;
                    }
                    self.candidates.remove(&m.pid);
                    self.images.insert(m.pid, image);
                    // counted now, so the next ones see the cap
                    self.sampled.total.fetch_add(1, Ordering::Relaxed);
                    self.sampled
                        .live
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(m.pid);
                    self.send(Found::Python {
                        target: Box::new(target),
                        ppid: m.ppid,
                    })?;
                }
                Err(Failure::NotPython { .. }) => {
                    // it may exec Python later: kept as a candidate by its program
                    self.list(m, "not a Python process".to_string())?;
                }
                Err(e @ Failure::UnsupportedInterpreter { .. }) => {
                    self.list(m, format!("not sampled: {e}"))?;
                }
                Err(Failure::TargetExitedDuringAttach(_) | Failure::NoSuchProcess(_)) => {
                    self.candidates.remove(&m.pid);
                }
                Err(e) => self.retry_or_list(m, first_try, &e.to_string())?,
            }
        }
        Ok(())
    }

    fn retry_or_list(&mut self, m: scan::Member, first_try: Instant, why: &str) -> Sent {
        if first_try.elapsed() < ATTACH_PATIENCE {
            return Ok(());
        }
        self.list(m, format!("not sampled: {why}"))
    }
}
