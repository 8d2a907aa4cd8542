//! The census clock: a thread of its own that takes a heap census now and then and sends it
//! down the event stream. The interval adapts: never shorter than `--heap-interval`, and long
//! enough that the target's pauses stay under the pause budget (default 1% of wall time) and
//! memwatch as a whole (censuses and the rest) under 5% of a core, the censuses getting at least
//! 1 % (2 % in the watch's first 30 s). In a process tree the clocks share 3 % of a core,
//! and a process whose heap stands still is counted less often (down to every 8th interval).
//!
//! All ptrace calls of a census happen on this thread (the tracer is a thread).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::micros;
use crate::event::Event;
use crate::heap::census::Census;
use crate::heap::memory::LiveMemory;
use crate::heap::probe::Prober;
use crate::heap::{CensusOptions, HeapTarget};

/// Shortest time between two object-graph analyses (cycles, why-alive chains).
const GRAPH_EVERY: Duration = Duration::from_secs(10);
/// The same in a watch's first [`EARLY`]: verdicts on cycles come from at least two looks, and
/// a look can fall just after a collection, so a short watch looks more often.
const GRAPH_EVERY_EARLY: Duration = Duration::from_secs(4);
const EARLY: Duration = Duration::from_secs(30);

/// How many of the types that grew most get a why-alive chain at the next census (the chains
/// also tell which growing types a reported holder keeps alive).
const WHY_ALIVE_TYPES: usize = 6;

/// Longest sleep of a census clock between two looks at its stop flag.
const IDLE_WAIT: Duration = Duration::from_millis(100);

/// When the first census is taken after the watch starts.
const FIRST_CENSUS: Duration = Duration::from_secs(1);

/// A census that failed (a thread that did not stop in time, a map that could not be read) is
/// tried again after this, doubled at each failure in a row, whatever `--heap-interval` is: a
/// watch with a long interval must not go without any census because its first try failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Share of one core memwatch aims at while it watches one process, censuses included (or
/// the pause budget, if larger): the censuses get what memwatch's other work leaves of it.
/// 0.4 % below the promised 5 %: each census also costs work the census clock does not see
/// (the analyzer reading it, its session rows; a 120-s watch of 1M objects came out at 5.1 %
/// when the clock aimed at 5 %).
const CPU_BUDGET: f64 = 0.046;
/// The least share of a core a single target's censuses get, however busy memwatch's other
/// work is.
const MIN_CENSUS_SHARE: f64 = 0.01;
/// The same in a watch's first [`EARLY`]: a short job (a CI test suite of 15 s, sampled at
/// 100 Hz through 40-frame stacks, which alone takes ~3 % of a core) still gets a baseline and
/// a few looks to judge growth by, not two censuses.
const MIN_CENSUS_SHARE_EARLY: f64 = 0.02;
/// The same for all the census clocks of a process tree together: with the sampling (about
/// 1.5 %), memwatch stays near its 5 % of a core however many processes it watches.
const TREE_CPU_BUDGET: f64 = 0.03;

/// How often the named containers of the latest census have their lengths read in between
/// (see [`crate::heap::probe`]; a few hundred words in one or two system calls, no pause). In
/// a process tree, each process's clock reads them less often.
const PROBE_EVERY: Duration = Duration::from_millis(500);
const TREE_PROBE_EVERY: Duration = Duration::from_secs(2);

/// A tree's clock backed off because its heap stood still comes back early once RSS grew by
/// this much (or 5 %) since its last census.
const WAKE_KIB: u64 = 4 * 1024;

/// A census whose object count moved less than this (or 0.2 %) since the last one finds the
/// heap standing still.
const STEADY_OBJECTS: u64 = 100;

/// Files whose source a census reads for the lines that fill its holders, at most.
const MAX_HOLDER_SOURCES: usize = 32;
const MAX_HOLDER_SOURCE_BYTES: u64 = 4 << 20;
const MAX_HOLDER_SOURCES_TOTAL: u64 = 16 << 20;

/// The source text of the files the named holders were found in, each read once: a holder's
/// filling line is searched there (`cls._listeners.append(fn)` in the module that defines the
/// class), and the stack sampler reads only the files its samples land in.
#[derive(Default)]
struct HolderSources {
    read: std::collections::HashSet<String>,
    bytes: u64,
}

impl HolderSources {
    fn read_new(&mut self, pid: i32, c: &Census) -> Vec<Event> {
        let mut out = Vec::new();
        let files = c
            .containers
            .iter()
            .filter_map(|r| r.file.as_deref().or_else(|| c.module_file(&r.name)));
        for file in files {
            if self.read.len() >= MAX_HOLDER_SOURCES || self.read.contains(file) {
                continue;
            }
            self.read.insert(file.to_string());
            if !file.starts_with('/') {
                continue;
            }
            let budget =
                MAX_HOLDER_SOURCE_BYTES.min(MAX_HOLDER_SOURCES_TOTAL.saturating_sub(self.bytes));
            let Some(text) = crate::target::read_target_file(pid, file, budget) else {
                continue;
            };
            self.bytes += text.len() as u64;
            out.push(Event::Source {
                file: file.to_string(),
                text: Some(text),
            });
        }
        out
    }
}

#[derive(Debug, Clone)]
pub struct CensusClock {
    pub heap: HeapTarget,
    pub opts: CensusOptions,
    /// Shortest time between two censuses.
    pub interval: Duration,
    /// Largest share of wall time the target may spend paused (0.01 = 1%).
    pub pause_budget: f64,
    /// The number of census clocks of a process tree that share memwatch's census CPU budget,
    /// each counted while its heap moves (None: this clock has it alone). The pause budget is
    /// each target's own.
    pub sharing: Option<TreeShare>,
}

/// What the census clocks of a process tree share: the count of those whose heap moves (they
/// divide the census CPU budget) and the governor's scale of it (see
/// [`crate::tree::governor`]).
#[derive(Debug, Clone, Default)]
pub struct TreeShare {
    pub clocks: Arc<AtomicUsize>,
    /// All the tree's running census clocks, moving or not.
    pub live: Arc<AtomicUsize>,
    pub scale: crate::tree::governor::Scale,
}

impl CensusClock {
    /// The wait before the next census, given how long the last one paused and took and
    /// whether its heap stood still (in a tree, such a clock's share of the budget is that of
    /// one clock among all, not among those that move).
    pub fn next_interval(&self, pause: Duration, total: Duration, still: bool) -> Duration {
        self.next_interval_beside(pause, total, still, 0.0, false)
    }

    /// The same, when memwatch's other work (sampling, analysis, recording, the dashboard)
    /// takes `others` of a core: a single target's censuses get what is left of
    /// [`CPU_BUDGET`] (at least [`MIN_CENSUS_SHARE`], or [`MIN_CENSUS_SHARE_EARLY`] in the
    /// watch's first [`EARLY`]), so that memwatch as a whole stays within it.
    pub fn next_interval_beside(
        &self,
        pause: Duration,
        total: Duration,
        still: bool,
        others: f64,
        early: bool,
    ) -> Duration {
        let by_pause = pause.as_secs_f64() / self.pause_budget.max(1e-4);
        // a user who allows longer pauses allows the census work that comes with them
        let (budget, clocks) = match &self.sharing {
            None => {
                let floor = if early {
                    MIN_CENSUS_SHARE_EARLY
                } else {
                    MIN_CENSUS_SHARE
                };
                ((CPU_BUDGET - others.max(0.0)).max(floor), 1)
            }
            Some(n) => (
                TREE_CPU_BUDGET * n.scale.get(),
                if still { &n.live } else { &n.clocks }
                    .load(Ordering::Relaxed)
                    .max(1),
            ),
        };
        let by_cpu = total.as_secs_f64() / (budget.max(self.pause_budget) / clocks as f64);
        self.interval
            .max(Duration::from_secs_f64(by_pause.max(by_cpu).min(3600.0)))
    }

    pub fn spawn(
        self,
        start: Instant,
        tx: SyncSender<Vec<Event>>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new()
            .name("memwatch-census".into())
            .spawn(move || self.run(start, tx, stop))
    }

    fn run(self, start: Instant, tx: SyncSender<Vec<Event>>, stop: Arc<AtomicBool>) {
        // counted among the tree's clocks that share the census budget while its heap moves
        let mut share = Share::new(self.sharing.as_ref().map(|s| s.clocks.clone()));
        let _live = Share::new(self.sharing.as_ref().map(|s| s.live.clone()));
        // Not niced: a census thread starved while it holds the target paused would stretch
        // the pause (priority inversion); the interval bounds its average CPU instead.
        let mut failures = 0u32;
        // the types that grew most at the last census get a why-alive chain at the next
        let mut previous: std::collections::HashMap<String, u64> = Default::default();
        let mut wanted: Vec<String> = Vec::new();
        let mut last_graph: Option<Instant> = None;
        // censuses in a row whose object count stood still, and the last count
        let mut steady = 0u32;
        let mut last_objects: Option<u64> = None;
        // the first census once the target has settled a little (a `run` target is still
        // importing at its first moment)
        let mut next = Instant::now() + FIRST_CENSUS.min(self.interval);
        // the named containers of the latest census, read again between censuses
        let mut prober = Prober::default();
        let live = LiveMemory::new(self.heap.pid);
        let probe_every = match self.sharing {
            None => PROBE_EVERY,
            Some(_) => TREE_PROBE_EVERY,
        };
        let mut next_probe = next;
        // RSS at the last census: in a tree, a clock backed off because its heap stood still
        // comes back early when the process grows (see WAKE_KIB)
        let statm = crate::sampler::proc::Statm::open(self.heap.pid).ok();
        let rss_now = || statm.as_ref().and_then(|s| s.rss_kib().ok());
        let mut census_rss: Option<u64> = None;
        let mut earliest = next;
        let mut holder_sources = HolderSources::default();
        // when the last census ended, and memwatch's CPU time then
        let mut last_end: Option<(Instant, Option<Duration>)> = None;
        loop {
            while Instant::now() < next {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let now = Instant::now();
                let due = now >= next_probe;
                if due {
                    next_probe = now + probe_every;
                }
                if due
                    && steady > 0
                    && let (Some(was), Some(rss)) = (census_rss, rss_now())
                    && rss >= was + WAKE_KIB.max(was / 20)
                {
                    next = earliest.max(now);
                }
                if due && !prober.is_empty() {
                    let rows = prober.changed(&|a: &[u64]| live.words(a));
                    if !rows.is_empty() {
                        let t = micros(now - start);
                        if tx.send(vec![Event::Lengths { t, rows }]).is_err() {
                            return;
                        }
                    }
                }
                let until = if prober.is_empty() && steady == 0 {
                    next
                } else {
                    next.min(next_probe)
                };
                // (looking at the stop flag every IDLE_WAIT: a clock that waits seconds need
                // not wake 50 times a second)
                std::thread::sleep(IDLE_WAIT.min(until.saturating_duration_since(Instant::now())));
            }
            if stop.load(Ordering::Relaxed) || !crate::target::is_alive(self.heap.pid) {
                return;
            }
            let began = Instant::now();
            let cpu_began = thread_cpu();
            let helpers_began = crate::heap::copy::helper_cpu();
            // memwatch's other work since the last census, as a share of a core
            let proc_began = process_cpu();
            // (before the first census ends, what the sampler thread holds itself to: the
            // line clock's governor keeps it within that)
            let others = match (last_end, proc_began) {
                (Some((t, Some(c))), Some(now)) if began > t && now >= c => {
                    (now - c).as_secs_f64() / (began - t).as_secs_f64()
                }
                _ => crate::sampler::lineclock::SAMPLER_SHARE,
            };
            census_rss = rss_now();
            let t = micros(began - start);
            // the object graph (cycles, why-alive) costs about as much again as the census:
            // at most every GRAPH_EVERY
            let every = if began.duration_since(start) < EARLY {
                GRAPH_EVERY_EARLY
            } else {
                GRAPH_EVERY
            };
            let mut graph = last_graph.is_none_or(|g: Instant| g.elapsed() >= every);
            if self.sharing.is_some() {
                // in a tree, the graph of a heap that stands still is not looked at again,
                // and the first census of each process only counts (cheaper: the next one
                // comes sooner, and with it the verdicts)
                graph &= last_objects.is_some() && steady == 0;
            }
            let mut opts = self.opts.clone();
            opts.cycles &= graph;
            opts.keep_buffers = self.sharing.is_none();
            opts.why_alive = if graph { wanted.clone() } else { Vec::new() };
            if graph {
                last_graph = Some(Instant::now());
            }
            let result = self.heap.census(&opts);
            crate::heap::release_freed_memory();
            last_end = Some((Instant::now(), process_cpu()));
            match result {
                Ok(mut c) => {
                    failures = 0;
                    let objects = c.gc_objects + c.other_objects;
                    steady = match last_objects {
                        Some(was) if objects.abs_diff(was) < STEADY_OBJECTS.max(was / 500) => {
                            steady + 1
                        }
                        _ => 0,
                    };
                    last_objects = Some(objects);
                    share.set(steady == 0);
                    wanted = growing_types(&previous, &c);
                    previous = c
                        .types
                        .iter()
                        .map(|r| (r.name.clone(), r.count()))
                        .collect();
                    c.t = t;
                    prober = Prober::from_census(&c.containers);
                    next_probe = Instant::now() + probe_every;
                    let cost = work(cpu_began, began)
                        + crate::heap::copy::helper_cpu().saturating_sub(helpers_began);
                    let mut wait = self.next_interval_beside(
                        Duration::from_micros(c.pause_us),
                        cost,
                        steady > 0,
                        others,
                        began.duration_since(start) < EARLY,
                    );
                    crate::timing!(
                        "census clock: cost {:.0} ms, others {:.2} %, next in {:.1} s",
                        cost.as_secs_f64() * 1e3,
                        others * 100.0,
                        wait.as_secs_f64()
                    );
                    if self.sharing.is_some() {
                        // in a tree, a process whose heap stands still is counted less often
                        // (every 2nd, 4th, then 8th time) and leaves its share of the budget
                        // to those that move; one that moves is back at once
                        wait *= 1 << steady.min(3);
                    }
                    next = Instant::now() + wait;
                    earliest = Instant::now() + self.interval;
                    let mut events = holder_sources.read_new(self.heap.pid, &c);
                    events.push(Event::Census(Box::new(c)));
                    if tx.send(events).is_err() {
                        return;
                    }
                }
                Err(crate::heap::HeapError::NotUnderstood(e)) => {
                    // the same layout gives the same wrong census every time: stop, loudly
                    let text = format!("no heap census: {e}");
                    let _ = tx.send(vec![Event::Note { t, text }]);
                    return;
                }
                Err(e) => {
                    if !crate::target::is_alive(self.heap.pid) {
                        return;
                    }
                    failures += 1;
                    let text = format!("heap census failed: {e}");
                    if tx.send(vec![Event::Note { t, text }]).is_err() {
                        return;
                    }
                    if failures >= 5 {
                        let text = "heap census stopped after 5 failures in a row".to_string();
                        let _ = tx.send(vec![Event::Note { t, text }]);
                        return;
                    }
                    next = Instant::now() + self.interval.min(RETRY_AFTER) * 2u32.pow(failures);
                }
            }
        }
    }
}

/// A census clock's place among the tree's clocks that share the census CPU budget: counted
/// while its heap moves, not while it stands still, and no more once the clock ends.
struct Share {
    count: Option<Arc<AtomicUsize>>,
    counted: bool,
}

impl Share {
    fn new(count: Option<Arc<AtomicUsize>>) -> Share {
        let mut s = Share {
            count,
            counted: false,
        };
        s.set(true);
        s
    }

    fn set(&mut self, counted: bool) {
        if let Some(n) = &self.count
            && counted != self.counted
        {
            if counted {
                n.fetch_add(1, Ordering::Relaxed);
            } else {
                n.fetch_sub(1, Ordering::Relaxed);
            }
            self.counted = counted;
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// This thread's CPU time so far (None where the clock is not available).
pub fn thread_cpu() -> Option<Duration> {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
        .ok()
        .map(Duration::from)
}

/// memwatch's CPU time, all threads.
fn process_cpu() -> Option<Duration> {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .ok()
        .map(Duration::from)
}

/// What a census cost: this thread's CPU time since `cpu_began` (not the wall time: in a
/// process tree a census may wait for another target's pause to end), else the wall time.
fn work(cpu_began: Option<Duration>, began: Instant) -> Duration {
    match (cpu_began, thread_cpu()) {
        (Some(a), Some(b)) if b >= a => b - a,
        _ => began.elapsed(),
    }
}

/// The types that grew most since the previous census (user classes first), for why-alive.
fn growing_types(previous: &std::collections::HashMap<String, u64>, c: &Census) -> Vec<String> {
    if previous.is_empty() {
        return Vec::new();
    }
    let mut grew: Vec<(bool, u64, &str)> = c
        .types
        .iter()
        .filter_map(|r| {
            let before = previous.get(&r.name).copied().unwrap_or(0);
            let d = r.count().saturating_sub(before);
            // (weak references grow with what they refer to and are never reported)
            // (a program's own or a library's class counts from a few: a handful of sockets
            // or files a second is a leak; builtins from a hundred)
            let dotted = r.name.contains('.');
            let enough = if dotted { 8 } else { 100 };
            (d >= enough && !crate::heap::names::WEAK_REFERENCES.contains(&r.name.as_str()))
                .then_some((dotted, d, r.name.as_str()))
        })
        .collect();
    grew.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    grew.into_iter()
        .take(WHY_ALIVE_TYPES)
        .map(|g| g.2.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::layout::Layout;

    #[test]
    fn interval_keeps_pauses_and_work_within_budget() {
        let clock = CensusClock {
            heap: HeapTarget {
                pid: 1,
                layout: Layout::new(3, 12, 0).unwrap(),
                runtime: 0,
                set_dummy_var: None,
                notes: Vec::new(),
                copy: Default::default(),
            },
            opts: CensusOptions::default(),
            interval: Duration::from_secs(10),
            pause_budget: 0.01,
            sharing: None,
        };
        // a short census: the base interval
        assert_eq!(
            clock.next_interval(Duration::from_millis(5), Duration::from_millis(50), false),
            Duration::from_secs(10)
        );
        // a 300 ms pause needs 30 s at 1%
        assert_eq!(
            clock.next_interval(
                Duration::from_millis(300),
                Duration::from_millis(400),
                false
            ),
            Duration::from_secs(30)
        );
        // 1 s of work needs 1 / 0.046 s at 4.6% of a core
        let secs = |d: Duration| (d.as_secs_f64() * 10.0).round() / 10.0;
        assert_eq!(
            secs(clock.next_interval(Duration::from_millis(10), Duration::from_secs(1), false)),
            21.7
        );
        // with sampling taking 2.6 % of a core, censuses get the other 2 %: 50 s
        assert_eq!(
            secs(clock.next_interval_beside(
                Duration::from_millis(10),
                Duration::from_secs(1),
                false,
                0.026,
                false
            )),
            50.0
        );
        // never less than 1 %, however busy the rest is
        assert_eq!(
            clock.next_interval_beside(
                Duration::from_millis(10),
                Duration::from_secs(1),
                false,
                0.2,
                false
            ),
            Duration::from_secs(100)
        );
        // 2 % in a watch's first 30 s
        assert_eq!(
            clock.next_interval_beside(
                Duration::from_millis(10),
                Duration::from_secs(1),
                false,
                0.2,
                true
            ),
            Duration::from_secs(50)
        );
        // four clocks of a tree share 3%
        let shared = CensusClock {
            sharing: Some(TreeShare {
                clocks: Arc::new(AtomicUsize::new(4)),
                ..TreeShare::default()
            }),
            ..clock
        };
        assert_eq!(
            shared.next_interval(Duration::from_millis(10), Duration::from_millis(600), false),
            Duration::from_secs(80)
        );
        // a clock whose heap stands still counts among all the tree's clocks, not only among
        // those that move (here one of eight): the still ones together stay within the budget
        let tree = TreeShare {
            clocks: Arc::new(AtomicUsize::new(1)),
            live: Arc::new(AtomicUsize::new(8)),
            ..TreeShare::default()
        };
        let still = CensusClock {
            sharing: Some(tree.clone()),
            ..shared.clone()
        };
        assert_eq!(
            still.next_interval(Duration::from_millis(10), Duration::from_millis(600), true),
            Duration::from_secs(160)
        );
        assert_eq!(
            still.next_interval(Duration::from_millis(10), Duration::from_millis(600), false),
            Duration::from_secs(20)
        );
        // the governor's scale of a saturated machine scales the budget
        tree.scale.set_for_test(0.5);
        assert_eq!(
            still.next_interval(Duration::from_millis(10), Duration::from_millis(600), false),
            Duration::from_secs(40)
        );
    }
}
