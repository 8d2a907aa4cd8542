//! Sampled line attribution: the memory_profiler table built from samples instead of a trace.
//!
//! Between two consecutive fast-clock samples RSS changes by some delta. A growth is charged
//! to the stack of the attributed thread (see [`Sample::attributed`]) at the *end* of the
//! interval if that thread was running then; else to the stack at the *start* if it was running
//! then (a line that allocated and then went to sleep). A decrease goes to the stack at the
//! start first (memory is given back as the freeing statement ends, and the next sample finds
//! the next line running), then the end — but a decrease between two different running stacks
//! is held for one interval, and goes to the stack at its end if that one goes on freeing (a
//! large free caught in its first millisecond by the line clock's probes); else (idle at both ends, e.g. a loop
//! that works in short bursts between sleeps) to the last stack seen running in the last five
//! seconds, since the growth came from code that ran unseen between the samples; else to the
//! end stack. The charge goes
//! to the innermost line ("self") and to every line and function on the stack, each once
//! ("inclusive", like memory_profiler's increment of a line that calls a function).
//! The same attribution is applied to the open-fd count on the slow clock.
//!
//! Memory: one entry per distinct frame and per distinct function seen, both bounded by the
//! sampler's interning limits.

use std::collections::{HashMap, HashSet};

use crate::event::{FrameDef, FrameId, Micros, Sample, StackId};

/// How old the last running stack may be to take the charge of an idle-to-idle interval.
const RECENT_ACTIVE_US: Micros = 5_000_000;

/// Running totals for one line or one function.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counter {
    /// Sum of RSS deltas charged here, KiB (can be negative).
    pub increment_kib: i64,
    /// Samples seen here.
    pub occurrences: u64,
    /// RSS at the last sample seen here, KiB.
    pub last_rss_kib: u64,
    /// Sum of open-fd deltas charged here.
    pub fd_increment: i64,
    /// The largest single RSS rise charged here, KiB (one sample interval).
    pub max_jump_kib: i64,
    /// The part of `increment_kib` charged here only because the thread was idle here at both
    /// ends of the interval and no running stack was seen in the five seconds before (a
    /// sleeping line does not allocate: this part is a guess).
    pub idle_kib: i64,
    /// The part of `increment_kib` charged here because the thread was idle at both ends of
    /// the interval and this was the last stack seen running (in the five seconds before):
    /// the growth came from code that ran unseen, maybe this line, maybe a quick call after it.
    pub carried_kib: i64,
}

impl Counter {
    /// The increment charged on evidence: in an interval at one end of which this line was
    /// seen running (neither guessed from an idle stack nor carried over idle intervals).
    pub fn seen_running_kib(&self) -> i64 {
        self.increment_kib - self.idle_kib - self.carried_kib
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineStat {
    /// As the innermost frame.
    pub own: Counter,
    /// Anywhere on the stack.
    pub inclusive: Counter,
    /// As the innermost frame of the program's own code (the first frame that is not in the
    /// standard library, site-packages or frozen modules; the innermost frame when the stack
    /// has none): where "my code" allocated.
    pub user: Counter,
}

/// Is this file the program's own code (not the standard library, installed packages or
/// frozen modules)? Used to charge work done inside library calls to the line that made them.
pub fn is_user_file(file: &str) -> bool {
    !(file.starts_with('<')
        || file.contains("/lib/python3")
        || file.contains("/lib64/python3")
        || file.contains("/site-packages/")
        || file.contains("/dist-packages/"))
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FunctionKey {
    pub file: String,
    pub function: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunctionStat {
    pub own: Counter,
    pub inclusive: Counter,
    /// Smallest and largest line number seen in this function.
    pub lines: Option<(u32, u32)>,
}

/// What one sample did to the table: the stack it counted a sample on, and the stack charged
/// with the RSS change since the previous sample. The per-stack totals
/// ([`super::stacks::StackTotals`]) are fed from this, so that they follow the attribution
/// rules above without repeating them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attribution {
    /// The attributed thread's stack, when it has a known frame (its lines were counted).
    pub seen: Option<StackId>,
    /// The stack charged with the change, and the change in KiB (never 0).
    pub charged: Option<(StackId, i64)>,
    /// A decrease of the interval before, held until this one showed which end freed it.
    pub earlier: Option<(StackId, i64)>,
}

/// A decrease between two different running stacks, held for one interval: if the stack at
/// its end goes on freeing in the next interval, the free had begun there (a `del` of a
/// large buffer caught in its first millisecond); else it went with the statement that ended
/// at its start (the rule above).
#[derive(Debug, Clone, Copy)]
struct PendingFree {
    kib: i64,
    start: StackId,
    end: StackId,
}

/// Where the previous sample left off.
#[derive(Debug, Clone, Copy)]
struct Previous {
    rss_kib: u64,
    stack: Option<(StackId, bool)>,
}

#[derive(Debug, Default, Clone)]
pub struct LineTable {
    pub lines: HashMap<FrameId, LineStat>,
    functions: Vec<(FunctionKey, FunctionStat)>,
    function_index: HashMap<FunctionKey, usize>,
    frame_function: HashMap<FrameId, usize>,
    /// RSS change that could not be charged to any Python line (no stack was readable).
    pub unattributed_kib: i64,
    pub unattributed_fds: i64,
    prev: Option<Previous>,
    /// The stack the last delta was charged to.
    last_charged: Option<StackId>,
    /// When and where the attributed thread was last seen running.
    last_active: Option<(Micros, StackId)>,
    pending: Option<PendingFree>,
    prev_fds: Option<u32>,
}

fn charge(c: &mut Counter, kib: i64, fds: i64) {
    c.increment_kib += kib;
    c.fd_increment += fds;
    c.max_jump_kib = c.max_jump_kib.max(kib);
}

fn see(c: &mut Counter, rss: u64) {
    c.occurrences += 1;
    c.last_rss_kib = rss;
}

impl LineTable {
    /// Record one sample. `stacks` and `frames` resolve ids (unknown ids are skipped).
    /// Returns what was counted and charged, for the per-stack totals.
    pub fn apply_sample(
        &mut self,
        s: &Sample,
        stacks: &HashMap<StackId, Vec<FrameId>>,
        frames: &HashMap<FrameId, FrameDef>,
    ) -> Attribution {
        self.apply(s, stacks, frames, true)
    }

    /// Record a probe of the line clock: the charged thread's `stack` (running or not) and
    /// RSS between samples. It takes part in the charging as a sample of that one thread
    /// would, but counts no occurrence (occurrences stay a count of full samples, at the fast
    /// clock's rate).
    #[allow(clippy::too_many_arguments)]
    pub fn apply_probe(
        &mut self,
        t: Micros,
        rss_kib: u64,
        stack: StackId,
        active: bool,
        stacks: &HashMap<StackId, Vec<FrameId>>,
        frames: &HashMap<FrameId, FrameDef>,
    ) -> Attribution {
        let s = Sample {
            t,
            rss_kib,
            threads: vec![crate::event::ThreadSample {
                thread: 0,
                stack,
                gil: active,
                active,
            }],
        };
        self.apply(&s, stacks, frames, false)
    }

    fn apply(
        &mut self,
        s: &Sample,
        stacks: &HashMap<StackId, Vec<FrameId>>,
        frames: &HashMap<FrameId, FrameDef>,
        count: bool,
    ) -> Attribution {
        let mut done = Attribution::default();
        let cur = s.attributed().map(|t| (t.stack, t.active));
        if count
            && let Some((stack, _)) = cur
            && self.visit(stack, stacks, frames, |c| see(c, s.rss_kib))
        {
            done.seen = Some(stack);
        }
        let recent_active = self
            .last_active
            .filter(|(t, _)| s.t.saturating_sub(*t) <= RECENT_ACTIVE_US)
            .map(|(_, st)| st);
        // memory is given back when the statement that frees it ends (a `del`, a rebinding, a
        // call's return): by the next sample, the next line runs; the line running at the
        // start of the interval freed it
        let freed = self.prev.is_some_and(|p| s.rss_kib < p.rss_kib);
        let target = match (self.prev.and_then(|p| p.stack), cur) {
            (Some((st, true)), _) if freed => Some(st),
            (_, Some((st, true))) => Some(st),
            (Some((st, true)), _) => Some(st),
            // idle at both ends: the change happened while the thread ran code that no sample
            // saw; the last running stack is the best evidence of where it runs
            (_, Some((st, false))) => recent_active.or(Some(st)),
            (Some((st, false)), None) => recent_active.or(Some(st)),
            (None, None) => None,
        };
        let idle_both = !matches!(cur, Some((_, true)))
            && !matches!(self.prev.and_then(|p| p.stack), Some((_, true)));
        let guessed = idle_both && recent_active.is_none();
        let carried = idle_both && recent_active.is_some();
        if let Some((st, true)) = cur {
            self.last_active = Some((s.t, st));
        }
        if let Some(p) = self.pending {
            let still = freed && cur == Some((p.end, true));
            done.earlier = self.settle(still, stacks, frames);
        }
        if let Some(prev) = self.prev {
            let delta = s.rss_kib as i64 - prev.rss_kib as i64;
            if let (true, Some((start, true)), Some((end, true))) = (delta < 0, prev.stack, cur)
                && start != end
            {
                self.pending = Some(PendingFree {
                    kib: delta,
                    start,
                    end,
                });
            } else if delta != 0 {
                let charged = target.is_some_and(|st| {
                    self.visit(st, stacks, frames, |c| {
                        charge(c, delta, 0);
                        if guessed {
                            c.idle_kib += delta;
                        }
                        if carried {
                            c.carried_kib += delta;
                        }
                    })
                });
                match target {
                    Some(st) if charged => done.charged = Some((st, delta)),
                    _ => self.unattributed_kib += delta,
                }
            }
        }
        if target.is_some() {
            self.last_charged = target;
        }
        self.prev = Some(Previous {
            rss_kib: s.rss_kib,
            stack: cur,
        });
        done
    }

    /// Charge the held decrease to the stack at its end (`to_end`) or its start (else the
    /// other, if that one has no known frame).
    fn settle(
        &mut self,
        to_end: bool,
        stacks: &HashMap<StackId, Vec<FrameId>>,
        frames: &HashMap<FrameId, FrameDef>,
    ) -> Option<(StackId, i64)> {
        let p = self.pending.take()?;
        let (first, second) = if to_end {
            (p.end, p.start)
        } else {
            (p.start, p.end)
        };
        for st in [first, second] {
            if self.visit(st, stacks, frames, |c| charge(c, p.kib, 0)) {
                return Some((st, p.kib));
            }
        }
        self.unattributed_kib += p.kib;
        None
    }

    /// At the end of the stream: a decrease still held goes to the stack at its start.
    pub fn flush(
        &mut self,
        stacks: &HashMap<StackId, Vec<FrameId>>,
        frames: &HashMap<FrameId, FrameDef>,
    ) -> Attribution {
        Attribution {
            earlier: self.settle(false, stacks, frames),
            ..Attribution::default()
        }
    }

    /// Record an open-fd count reading (slow clock).
    pub fn apply_fds(
        &mut self,
        count: u32,
        stacks: &HashMap<StackId, Vec<FrameId>>,
        frames: &HashMap<FrameId, FrameDef>,
    ) {
        if let Some(prev) = self.prev_fds {
            let delta = count as i64 - prev as i64;
            if delta != 0 {
                let charged = self
                    .last_charged
                    .is_some_and(|st| self.visit(st, stacks, frames, |c| charge(c, 0, delta)));
                if !charged {
                    self.unattributed_fds += delta;
                }
            }
        }
        self.prev_fds = Some(count);
    }

    /// Apply `f` to the innermost line's and function's `own` counters and, once each, to the
    /// `inclusive` counters of every line and function on the stack. False when the stack
    /// has no known frame (nothing was charged).
    fn visit(
        &mut self,
        stack: StackId,
        stacks: &HashMap<StackId, Vec<FrameId>>,
        frames: &HashMap<FrameId, FrameDef>,
        f: impl Fn(&mut Counter),
    ) -> bool {
        let Some(ids) = stacks.get(&stack) else {
            return false;
        };
        let mut any = false;
        let mut seen_lines: HashSet<FrameId> = HashSet::with_capacity(ids.len());
        let mut seen_funcs: HashSet<usize> = HashSet::with_capacity(ids.len());
        let mut user_done = false;
        for (depth, id) in ids.iter().enumerate() {
            let Some(def) = frames.get(id) else { continue };
            any = true;
            let first_time = seen_lines.insert(*id);
            let user = !user_done && is_user_file(&def.file);
            if first_time || depth == 0 || user {
                let line = self.lines.entry(*id).or_default();
                if first_time {
                    f(&mut line.inclusive);
                }
                if depth == 0 {
                    f(&mut line.own);
                }
                if user {
                    f(&mut line.user);
                    user_done = true;
                }
            }
            let fi = self.function_of(*id, def);
            let func = &mut self.functions[fi].1;
            if depth == 0 {
                f(&mut func.own);
            }
            // recursion: a function counts once per stack in its inclusive total
            if seen_funcs.insert(fi) {
                f(&mut func.inclusive);
            }
        }
        // no frame of the program's own (a program run from site-packages, `python -m` of a
        // library module): its own lines are the innermost ones
        if !user_done && let Some(line) = ids.first().and_then(|id| self.lines.get_mut(id)) {
            f(&mut line.user);
        }
        any
    }

    /// The index of the function a frame belongs to, created on first sight.
    fn function_of(&mut self, id: FrameId, def: &FrameDef) -> usize {
        if let Some(&i) = self.frame_function.get(&id) {
            return i;
        }
        let key = FunctionKey {
            file: def.file.clone(),
            function: def.function.clone(),
        };
        let i = match self.function_index.get(&key) {
            Some(&i) => i,
            None => {
                self.functions.push((key.clone(), FunctionStat::default()));
                self.function_index.insert(key, self.functions.len() - 1);
                self.functions.len() - 1
            }
        };
        let func = &mut self.functions[i].1;
        if def.line > 0 {
            func.lines = Some(match func.lines {
                None => (def.line, def.line),
                Some((a, b)) => (a.min(def.line), b.max(def.line)),
            });
        }
        self.frame_function.insert(id, i);
        i
    }

    /// Every function seen, with its totals.
    pub fn functions(&self) -> impl Iterator<Item = (&FunctionKey, &FunctionStat)> {
        self.functions.iter().map(|(k, v)| (k, v))
    }

    pub fn function(&self, key: &FunctionKey) -> Option<&FunctionStat> {
        self.function_index.get(key).map(|&i| &self.functions[i].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ThreadSample;

    fn setup() -> (HashMap<StackId, Vec<FrameId>>, HashMap<FrameId, FrameDef>) {
        let mut frames = HashMap::new();
        let f = |function: &str, line| FrameDef {
            function: function.into(),
            file: "app.py".into(),
            line,
        };
        frames.insert(0, f("<module>", 10)); // main() call
        frames.insert(1, f("main", 20)); // load() call
        frames.insert(2, f("load", 30)); // data = f.read()
        frames.insert(3, f("main", 21)); // time.sleep()
        let mut stacks = HashMap::new();
        stacks.insert(0, vec![2, 1, 0]); // in load
        stacks.insert(1, vec![3, 0]); // sleeping in main
        (stacks, frames)
    }

    /// [`setup`], and stack 2: `del data` (line 31, frame 4) in load.
    fn setup_with_del() -> (HashMap<StackId, Vec<FrameId>>, HashMap<FrameId, FrameDef>) {
        let (mut stacks, mut frames) = setup();
        frames.insert(
            4,
            FrameDef {
                function: "load".into(),
                file: "app.py".into(),
                line: 31, // del data
            },
        );
        stacks.insert(2, vec![4, 1, 0]);
        (stacks, frames)
    }

    fn sample(t: u64, rss: u64, stack: StackId, active: bool) -> Sample {
        Sample {
            t,
            rss_kib: rss,
            threads: vec![ThreadSample {
                thread: 0,
                stack,
                gil: active,
                active,
            }],
        }
    }

    #[test]
    fn charges_running_line_and_callers() {
        let (stacks, frames) = setup();
        let mut lt = LineTable::default();
        lt.apply_sample(&sample(0, 1000, 1, false), &stacks, &frames);
        lt.apply_sample(&sample(1, 1500, 0, true), &stacks, &frames); // +500 while in load
        lt.apply_sample(&sample(2, 1800, 1, false), &stacks, &frames); // +300: load then slept
        lt.apply_sample(&sample(3, 1800, 1, false), &stacks, &frames);
        // growth between two idle samples goes to the last running stack (load)
        lt.apply_sample(&sample(4, 1900, 1, false), &stacks, &frames);
        // unless that was seen too long ago
        lt.apply_sample(&sample(10_000_000, 1950, 1, false), &stacks, &frames);
        let load = lt.lines[&2];
        assert_eq!(load.own.increment_kib, 900);
        assert_eq!(load.own.occurrences, 1);
        assert_eq!(load.own.last_rss_kib, 1500);
        // the 100 carried over idle samples is charged, but not as seen running
        assert_eq!(load.own.carried_kib, 100);
        assert_eq!(load.own.seen_running_kib(), 800);
        // the caller line in main and the module line include it
        assert_eq!(lt.lines[&1].inclusive.increment_kib, 900);
        assert_eq!(lt.lines[&0].inclusive.increment_kib, 950);
        assert_eq!(lt.lines[&0].inclusive.occurrences, 6);
        assert_eq!(lt.lines[&0].own.occurrences, 0);
        // the sleep line saw samples, and only the growth nothing else could explain
        assert_eq!(lt.lines[&3].own.increment_kib, 50);
        assert_eq!(lt.lines[&3].own.occurrences, 5);
        let main = lt
            .function(&FunctionKey {
                file: "app.py".into(),
                function: "main".into(),
            })
            .unwrap();
        assert_eq!(main.inclusive.increment_kib, 950);
        assert_eq!(main.own.increment_kib, 50);
        assert_eq!(main.lines, Some((20, 21)));
    }

    #[test]
    fn a_free_goes_to_the_line_running_before_it() {
        let (stacks, frames) = setup_with_del();
        let mut lt = LineTable::default();
        lt.apply_sample(&sample(0, 1000, 0, true), &stacks, &frames);
        lt.apply_sample(&sample(1, 5000, 0, true), &stacks, &frames); // +4000 on line 30
        lt.apply_sample(&sample(2, 5000, 2, true), &stacks, &frames); // `del data` runs
        lt.apply_sample(&sample(3, 1000, 1, true), &stacks, &frames); // freed; main runs on
        // held until the next interval shows that main does not go on freeing
        lt.apply_sample(&sample(4, 1500, 0, true), &stacks, &frames);
        assert_eq!(
            lt.lines[&4].own.increment_kib, -4000,
            "the del line freed it"
        );
        assert_eq!(lt.lines[&3].own.increment_kib, 0);
        // growth still goes to the line running at the end
        assert_eq!(lt.lines[&2].own.increment_kib, 4500);
    }

    #[test]
    fn probes_between_samples_charge_a_quick_free_to_its_line_without_occurrences() {
        let (stacks, frames) = setup_with_del();
        let mut lt = LineTable::default();
        lt.apply_sample(&sample(0, 1000, 0, true), &stacks, &frames);
        lt.apply_sample(&sample(10, 5000, 0, true), &stacks, &frames); // +4000 on line 30
        // between two samples that both see line 30, the probes see `del data` free it
        let seen = lt.apply_probe(11, 5000, 2, true, &stacks, &frames);
        assert_eq!(seen, Attribution::default(), "no change, no occurrence");
        let done = lt.apply_probe(12, 2000, 2, true, &stacks, &frames);
        assert_eq!(done.charged, Some((2, -3000)));
        assert_eq!(done.seen, None);
        lt.apply_probe(13, 1000, 0, true, &stacks, &frames); // freed as it ended: still the del's
        lt.apply_sample(&sample(20, 1000, 0, true), &stacks, &frames);
        assert_eq!(lt.lines[&4].own.increment_kib, -4000);
        assert_eq!(lt.lines[&4].own.occurrences, 0);
        assert_eq!(lt.lines[&2].own.increment_kib, 4000);
        assert_eq!(lt.lines[&2].own.occurrences, 3);
    }

    #[test]
    fn a_free_that_goes_on_at_the_end_of_an_interval_began_there() {
        let (stacks, frames) = setup_with_del();
        let mut lt = LineTable::default();
        lt.apply_sample(&sample(0, 5000, 0, true), &stacks, &frames);
        // line 30 runs, then `del data` is caught a millisecond into its free...
        let held = lt.apply_probe(1, 4500, 2, true, &stacks, &frames);
        assert_eq!((held.charged, held.earlier), (None, None));
        // ... and goes on freeing: the first part was its too
        let done = lt.apply_probe(2, 1000, 2, true, &stacks, &frames);
        assert_eq!(done.earlier, Some((2, -500)));
        assert_eq!(done.charged, Some((2, -3500)));
        assert_eq!(lt.lines[&4].own.increment_kib, -4000);
        assert_eq!(lt.lines[&2].own.increment_kib, 0);
        // a decrease still held at the end of the stream goes to its start
        lt.apply_sample(&sample(3, 900, 0, true), &stacks, &frames);
        let end = lt.flush(&stacks, &frames);
        assert_eq!(end.earlier, Some((2, -100)));
        assert_eq!(lt.lines[&4].own.increment_kib, -4100);
        assert!(lt.flush(&stacks, &frames).earlier.is_none());
    }

    #[test]
    fn library_growth_goes_to_the_calling_line_of_the_program() {
        let (mut stacks, mut frames) = setup();
        let lib = |function: &str, file: &str, line| FrameDef {
            function: function.into(),
            file: file.into(),
            line,
        };
        frames.insert(4, lib("decode", "/usr/lib/python3.11/json/decoder.py", 353));
        frames.insert(
            5,
            lib("serve", "/srv/venv/lib/site-packages/svc/main.py", 7),
        );
        stacks.insert(2, vec![4, 2, 1, 0]); // json inside load
        stacks.insert(3, vec![4, 5]); // json inside a program installed as a package
        let mut lt = LineTable::default();
        lt.apply_sample(&sample(0, 1000, 2, true), &stacks, &frames);
        lt.apply_sample(&sample(1, 1400, 2, true), &stacks, &frames); // +400
        lt.apply_sample(&sample(2, 1500, 3, true), &stacks, &frames); // +100
        // innermost: the library line; the program's: load's line, not its callers
        assert_eq!(lt.lines[&4].own.increment_kib, 500);
        assert_eq!(lt.lines[&2].own.increment_kib, 0);
        assert_eq!(lt.lines[&2].user.increment_kib, 400);
        assert_eq!(lt.lines[&2].user.occurrences, 2);
        assert_eq!(lt.lines[&1].user.increment_kib, 0);
        // a stack with no frame of the program's own: the innermost line takes it
        assert_eq!(lt.lines[&4].user.increment_kib, 100);
        assert_eq!(lt.lines[&5].user.increment_kib, 0);
    }

    #[test]
    fn fds_follow_the_last_charged_stack() {
        let (stacks, frames) = setup();
        let mut lt = LineTable::default();
        lt.apply_fds(3, &stacks, &frames);
        lt.apply_sample(&sample(0, 1000, 0, true), &stacks, &frames);
        lt.apply_sample(&sample(1, 1000, 0, true), &stacks, &frames);
        lt.apply_fds(5, &stacks, &frames);
        assert_eq!(lt.lines[&2].own.fd_increment, 2);
        assert_eq!(lt.unattributed_fds, 0);
    }

    #[test]
    fn no_stack_means_unattributed() {
        let (stacks, frames) = setup();
        let mut lt = LineTable::default();
        let empty = |t, rss| Sample {
            t,
            rss_kib: rss,
            threads: vec![],
        };
        lt.apply_sample(&empty(0, 100), &stacks, &frames);
        lt.apply_sample(&empty(1, 300), &stacks, &frames);
        assert_eq!(lt.unattributed_kib, 200);
        assert!(lt.lines.is_empty());
    }
}
