//! The census clock: a thread of its own that takes a heap census now and then and sends it
//! down the event stream. The interval adapts: never shorter than `--heap-interval`, and long
//! enough that the target's pauses stay under the pause budget (default 1% of wall time) and
//! memwatch's own census work under 5% of a core.
//!
//! All ptrace calls of a census happen on this thread (the tracer is a thread).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::micros;
use crate::event::Event;
use crate::heap::census::Census;
use crate::heap::{CensusOptions, HeapTarget};

/// Shortest time between two object-graph analyses (cycles, why-alive chains).
const GRAPH_EVERY: Duration = Duration::from_secs(10);

/// When the first census is taken after the watch starts.
const FIRST_CENSUS: Duration = Duration::from_secs(1);

/// Share of one core the census work may take on average (or the pause budget, if larger).
const CPU_BUDGET: f64 = 0.05;

#[derive(Debug, Clone)]
pub struct CensusClock {
    pub heap: HeapTarget,
    pub opts: CensusOptions,
    /// Shortest time between two censuses.
    pub interval: Duration,
    /// Largest share of wall time the target may spend paused (0.01 = 1%).
    pub pause_budget: f64,
}

impl CensusClock {
    /// The wait before the next census, given how long the last one paused and took.
    pub fn next_interval(&self, pause: Duration, total: Duration) -> Duration {
        let by_pause = pause.as_secs_f64() / self.pause_budget.max(1e-4);
        // a user who allows longer pauses allows the census work that comes with them
        let by_cpu = total.as_secs_f64() / CPU_BUDGET.max(self.pause_budget);
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
        // Not niced: a census thread starved while it holds the target paused would stretch
        // the pause (priority inversion); the interval bounds its average CPU instead.
        let mut failures = 0u32;
        // the types that grew most at the last census get a why-alive chain at the next
        let mut previous: std::collections::HashMap<String, u64> = Default::default();
        let mut wanted: Vec<String> = Vec::new();
        let mut last_graph: Option<Instant> = None;
        // the first census once the target has settled a little (a `run` target is still
        // importing at its first moment)
        let mut next = Instant::now() + FIRST_CENSUS.min(self.interval);
        loop {
            while Instant::now() < next {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20).min(next - Instant::now()));
            }
            if stop.load(Ordering::Relaxed) || !crate::target::is_alive(self.heap.pid) {
                return;
            }
            let began = Instant::now();
            let t = micros(began - start);
            // the object graph (cycles, why-alive) costs about as much again as the census:
            // at most every GRAPH_EVERY
            let graph = last_graph.is_none_or(|g: Instant| g.elapsed() >= GRAPH_EVERY);
            let mut opts = self.opts.clone();
            opts.cycles &= graph;
            opts.why_alive = if graph { wanted.clone() } else { Vec::new() };
            if graph {
                last_graph = Some(Instant::now());
            }
            let result = self.heap.census(&opts);
            release_freed_memory();
            match result {
                Ok(mut c) => {
                    failures = 0;
                    wanted = growing_types(&previous, &c);
                    previous = c
                        .types
                        .iter()
                        .map(|r| (r.name.clone(), r.count()))
                        .collect();
                    c.t = t;
                    let wait =
                        self.next_interval(Duration::from_micros(c.pause_us), began.elapsed());
                    next = Instant::now() + wait;
                    if tx.send(vec![Event::Census(Box::new(c))]).is_err() {
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
                    next = Instant::now() + self.interval * 2u32.pow(failures);
                }
            }
        }
    }
}

/// Hand the census's freed memory back to the system: glibc keeps freed heap memory for reuse,
/// and a census of millions of objects frees hundreds of MB at once.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the kernel
    unsafe {
        nix::libc::malloc_trim(0);
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
            (d >= 100).then_some((r.name.contains('.'), d, r.name.as_str()))
        })
        .collect();
    grew.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    grew.into_iter().take(3).map(|g| g.2.to_string()).collect()
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
            },
            opts: CensusOptions::default(),
            interval: Duration::from_secs(10),
            pause_budget: 0.01,
        };
        // a short census: the base interval
        assert_eq!(
            clock.next_interval(Duration::from_millis(5), Duration::from_millis(50)),
            Duration::from_secs(10)
        );
        // a 300 ms pause needs 30 s at 1%
        assert_eq!(
            clock.next_interval(Duration::from_millis(300), Duration::from_millis(400)),
            Duration::from_secs(30)
        );
        // 1 s of work needs 20 s at 5% of a core
        assert_eq!(
            clock.next_interval(Duration::from_millis(10), Duration::from_secs(1)),
            Duration::from_secs(20)
        );
    }
}
