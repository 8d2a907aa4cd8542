//! memwatch's share of a saturated machine.
//!
//! A tree watch has its workers plus memwatch's threads on the same CPUs. While some CPU is
//! idle, memwatch's few percent of a core come from idle time and slow no worker. When every
//! CPU is busy (more busy workers than cores), each worker gets a share of the cores and every
//! cycle memwatch uses is taken from them: a worker then loses memwatch's CPU divided among the
//! busy processes. To keep each worker within 1 %, memwatch's whole use must stay within 1 % of
//! the machine (`ncpu / 100` cores) while the CPUs are saturated.
//!
//! The governor measures, every [`EVERY`], the machine's idle CPU (`/proc/stat`) and memwatch's
//! own CPU (`CLOCK_PROCESS_CPUTIME_ID`), and sets a scale in `[MIN_SCALE, 1]` that the tree's fast clock (its
//! shared stack-read rate) and its census clocks (their CPU budget) are multiplied by. It
//! moves down at once when saturated and back up gradually when CPU is idle again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the governor looks.
pub const EVERY: Duration = Duration::from_secs(2);
/// The lowest scale: below it the leaks of a tree would be named too late to be of use.
pub const MIN_SCALE: f64 = 0.3;
/// memwatch's goal while saturated, as a share of the machine (all its cores).
const SATURATED_SHARE: f64 = 0.01;
/// The machine counts as saturated while less than this much of a core is idle.
const IDLE_CORES: f64 = 0.15;
/// How fast the scale comes back while CPU is idle, per look.
const RECOVER: f64 = 1.5;

/// A scale shared with the clocks it governs (an `f64` in an atomic).
#[derive(Debug, Clone)]
pub struct Scale(Arc<AtomicU64>);

impl Default for Scale {
    fn default() -> Self {
        Scale(Arc::new(AtomicU64::new(1f64.to_bits())))
    }
}

impl Scale {
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed)).clamp(MIN_SCALE, 1.0)
    }

    fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    #[cfg(test)]
    pub fn set_for_test(&self, v: f64) {
        self.set(v);
    }
}

/// The scale after one look: `idle_cores` of the machine's `ncpu` were idle and memwatch
/// used `own_cores` at scale `scale`.
pub fn next_scale(scale: f64, idle_cores: f64, own_cores: f64, ncpu: usize) -> f64 {
    let goal = SATURATED_SHARE * ncpu.max(1) as f64;
    let next = if idle_cores < IDLE_CORES && own_cores > goal {
        // memwatch's use is about proportional to the scale
        scale * goal / own_cores
    } else if idle_cores >= IDLE_CORES + own_cores {
        // room again: what memwatch would take at full scale comes from idle time
        scale * RECOVER
    } else {
        scale
    };
    next.clamp(MIN_SCALE, 1.0)
}

/// CPU time counters of the whole machine: (idle, total), in clock ticks.
fn machine_ticks() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    parse_ticks(s.lines().next()?)
}

/// The first line of `/proc/stat`: `cpu user nice system idle iowait irq softirq steal …`.
fn parse_ticks(line: &str) -> Option<(u64, u64)> {
    let mut f = line.split_whitespace();
    if f.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = f.take(8).map(|x| x.parse().ok()).collect::<Option<_>>()?;
    if v.len() < 5 {
        return None;
    }
    let idle = v[3] + v[4];
    Some((idle, v.iter().sum()))
}

/// memwatch's own CPU time so far (all threads).
fn own_cpu() -> Option<Duration> {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
        .ok()
        .map(Duration::from)
}

pub struct Governor {
    pub scale: Scale,
    ncpu: usize,
    last: Option<(Instant, (u64, u64), Duration)>,
    /// The lowest scale so far and how long the scale was below 1.
    pub lowest: f64,
    pub reduced_for: Duration,
}

impl Default for Governor {
    fn default() -> Self {
        Governor {
            scale: Scale::default(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            last: None,
            lowest: 1.0,
            reduced_for: Duration::ZERO,
        }
    }
}

impl Governor {
    /// Look again if it is time; returns the new scale when it changed.
    pub fn tick(&mut self) -> Option<f64> {
        let now = Instant::now();
        if self.last.is_some_and(|(t, _, _)| now - t < EVERY) {
            return None;
        }
        let ticks = machine_ticks()?;
        let own = own_cpu()?;
        let last = self.last.replace((now, ticks, own));
        let (t0, (idle0, total0), own0) = last?;
        let wall = (now - t0).as_secs_f64();
        let total = ticks.1.saturating_sub(total0);
        if wall <= 0.0 || total == 0 {
            return None;
        }
        let idle_cores = ticks.0.saturating_sub(idle0) as f64 / total as f64 * self.ncpu as f64;
        let own_cores = own.saturating_sub(own0).as_secs_f64() / wall;
        let was = self.scale.get();
        if was < 1.0 {
            self.reduced_for += now - t0;
        }
        let next = next_scale(was, idle_cores, own_cores, self.ncpu);
        self.scale.set(next);
        self.lowest = self.lowest.min(next);
        ((next - was).abs() > 1e-9).then_some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturated_cpus_scale_memwatch_down_to_a_hundredth_of_the_machine() {
        // 2 cores, none idle, memwatch at 4 % of a core: half of it is the goal (2 %)
        let s = next_scale(1.0, 0.0, 0.04, 2);
        assert!((s - 0.5).abs() < 1e-9, "{s}");
        // never below the floor
        assert_eq!(next_scale(1.0, 0.0, 0.5, 2), MIN_SCALE);
        // within the goal already: stays
        assert_eq!(next_scale(0.5, 0.0, 0.015, 2), 0.5);
    }

    #[test]
    fn idle_cpu_brings_the_scale_back() {
        assert_eq!(next_scale(0.5, 1.0, 0.02, 2), 0.75);
        assert_eq!(next_scale(0.9, 1.0, 0.02, 2), 1.0);
        // a little idle time, not enough for memwatch's share at full scale: stays
        assert_eq!(next_scale(0.5, 0.16, 0.02, 2), 0.5);
    }

    #[test]
    fn reads_the_machine_line_of_proc_stat() {
        assert_eq!(
            parse_ticks("cpu  100 5 50 800 20 1 2 0 0 0"),
            Some((820, 978))
        );
        assert_eq!(parse_ticks("cpu0 1 2 3 4 5"), None);
        assert_eq!(parse_ticks("cpu 1 2 x"), None);
        assert!(machine_ticks().is_some());
        assert!(own_cpu().is_some());
    }
}
