//! The heap census: what the target's memory is made of, counted from outside.
//!
//! Pause the target (ptrace, all threads) only while its writable memory is copied in a few
//! large reads, resume it, then walk the copy: every object on the GC lists and the untracked
//! objects they hold, by type, with `sys.getsizeof` sizes; the named containers reachable from
//! `sys.modules`; the largest objects. Version-specific layouts live in [`layout`] only.
//!
//! Never: write to the target, leave it stopped (the pause guard resumes it on every path, and
//! the kernel does if memwatch dies), or trust a pointer or length read from it.

pub mod census;
pub mod copy;
pub mod dicts;
pub mod dirty;
pub mod freeze;
pub mod graph;
pub mod layout;
pub mod memory;
pub mod names;
pub mod native;
pub mod objects;
pub mod probe;
pub mod strings;
pub mod types;
pub mod walk;

#[cfg(test)]
mod hostile_tests;

use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use census::{Census, GcState, LargeObject, TypeRow};
use layout::Layout;
use memory::{HeapCopy, LiveMemory, Memory, MemoryExt};
use walk::{HeapIndex, Interpreter, Walker};

/// How a census is taken.
#[derive(Debug, Clone)]
pub struct CensusOptions {
    /// Copy without pausing the target; the result is marked approximate.
    pub nonblocking: bool,
    /// Largest objects to list.
    pub top: usize,
    /// Most bytes copied per census; mappings past it are read live.
    pub max_copy: u64,
    /// Attempts when the copy caught a collection in progress.
    pub attempts: u32,
    /// Tests only: keep the target paused this long after the copy (to kill memwatch during
    /// a pause and see the target resume).
    pub hold_pause: Duration,
    /// Run the gc's reasoning on the copy: cyclic garbage.
    pub cycles: bool,
    /// Keep the copy's buffers for the next census (no faulting in and zeroing them again;
    /// memwatch then holds about the object memory between censuses). Off in a process tree,
    /// where it would hold every worker's.
    pub keep_buffers: bool,
    /// Copy while the target runs and, paused, only the pages it wrote meanwhile (soft-dirty
    /// bits, where the kernel keeps them); else the whole copy is made in the pause.
    pub soft_dirty: bool,
    /// Types to find a why-alive chain for.
    pub why_alive: Vec<String>,
    /// Also this many of the most numerous types defined in Python (a one-off snapshot has
    /// no growth to choose by).
    pub why_alive_top: usize,
}

impl Default for CensusOptions {
    fn default() -> Self {
        CensusOptions {
            nonblocking: false,
            top: 20,
            max_copy: 16 << 30,
            attempts: 5,
            hold_pause: Duration::ZERO,
            cycles: true,
            keep_buffers: true,
            soft_dirty: false,
            why_alive: Vec::new(),
            why_alive_top: 0,
        }
    }
}

/// What a census needs to know about the target, found once at attach.
#[derive(Debug, Clone)]
pub struct HeapTarget {
    pub pid: i32,
    pub layout: Layout,
    /// Address of `_PyRuntime`.
    pub runtime: u64,
    /// Address of the `_PySet_Dummy` variable (it holds the dummy key's address).
    pub set_dummy_var: Option<u64>,
    /// What the checks at attach found worth saying (figures taken from the interpreter's own
    /// debug offsets, a patch release newer than any checked): one line each, for the report.
    pub notes: Vec<String>,
    /// What the last census learned about where the objects are, and its copy buffers.
    pub copy: CopyCache,
}

/// What a target's censuses keep from one to the next: where the last one found objects (the
/// chunks its walk read) and its copy buffers. A clone starts afresh.
#[derive(Default)]
pub struct CopyCache(std::sync::Mutex<CopyState>);

#[derive(Default)]
struct CopyState {
    learned: Option<copy::Learned>,
    kept: copy::Kept,
}

impl Clone for CopyCache {
    fn clone(&self) -> Self {
        CopyCache::default()
    }
}

impl std::fmt::Debug for CopyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("CopyCache")
            .field("learned", &state.learned.as_ref().map(copy::Learned::bytes))
            .field("kept", &state.kept.bytes())
            .finish()
    }
}

/// Why there is no heap census of a target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeapError {
    /// memwatch has no layout for this version at all.
    NoLayout(String),
    /// It has one, but the target's memory does not match it: a census would be wrong.
    NotUnderstood(String),
    /// This census failed (the target vanished, its memory map could not be read, …); the
    /// next may work.
    Failed(String),
    /// `MEMWATCH_LAYOUT_OVERRIDE` does not parse.
    BadOverride(String),
}

impl std::fmt::Display for HeapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeapError::NoLayout(e)
            | HeapError::NotUnderstood(e)
            | HeapError::Failed(e)
            | HeapError::BadOverride(e) => write!(f, "{e}"),
        }
    }
}

/// `MEMWATCH_LAYOUT_OVERRIDE='field=value;field=value'`: figures of the layout table replaced
/// before the checks at attach (values in JSON: `gc_generations_candidates=[20,24]`). For
/// trying a figure on a release memwatch does not know yet (`memwatch layout` shows the
/// result), and for the tests that show a wrong table is caught.
pub const LAYOUT_OVERRIDE: &str = "MEMWATCH_LAYOUT_OVERRIDE";

/// Apply an override spec to `layout`; the fields changed, or what is wrong with the spec.
fn override_layout(layout: &mut Layout, spec: &str) -> Result<Vec<String>, String> {
    let mut v = serde_json::to_value(&*layout).map_err(|e| e.to_string())?;
    let fields = v.as_object_mut().ok_or("layout is not an object")?;
    let mut changed = Vec::new();
    for item in spec.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| format!("{item:?} is not field=value"))?;
        let name = name.trim();
        let value: serde_json::Value = serde_json::from_str(value.trim())
            .map_err(|e| format!("{name}: {value:?} is not a JSON value ({e})"))?;
        let slot = fields
            .get_mut(name)
            .ok_or_else(|| format!("no layout field {name:?}"))?;
        *slot = value;
        changed.push(item.to_string());
    }
    *layout = serde_json::from_value(v).map_err(|e| format!("{spec:?}: {e}"))?;
    Ok(changed)
}

/// Tries of the GC list probe at attach (the target runs meanwhile: a head caught half-way
/// through a link is read again).
const PROBE_TRIES: u32 = 8;

impl HeapTarget {
    /// Prepare for censuses of CPython `version` whose `_PyRuntime` is at `runtime`: pick the
    /// layout, check it against the target's own debug offsets (3.13+), and find the GC
    /// generation lists where the layout says, in the live target, before any census runs.
    pub fn new(
        pid: i32,
        version: (u32, u32, u32),
        runtime: u64,
        set_dummy_var: Option<u64>,
    ) -> Result<HeapTarget, HeapError> {
        let (major, minor, patch) = version;
        let name = format!("CPython {major}.{minor}.{patch}");
        let mut layout = Layout::new(major, minor, patch)
            .map_err(|layout::LayoutError::Unsupported(e)| HeapError::NoLayout(e))?;
        let live = LiveMemory::new(pid);
        let mut notes = Vec::new();
        if let Some(spec) = std::env::var_os(LAYOUT_OVERRIDE) {
            let changed = override_layout(&mut layout, &spec.to_string_lossy())
                .map_err(|e| HeapError::BadOverride(format!("{LAYOUT_OVERRIDE}: {e}")))?;
            notes.push(format!(
                "{name}: layout figures replaced by {LAYOUT_OVERRIDE} before the checks: {}",
                changed.join(", ")
            ));
        }
        if let Some(table) = layout.debug_offsets_fields() {
            let block = live.bytes_at(runtime, table.size).ok_or_else(|| {
                HeapError::NotUnderstood(format!("{name}: _Py_DebugOffsets unreadable"))
            })?;
            let hex = (major as u64) << 24 | (minor as u64) << 16 | (patch as u64) << 8;
            let mismatches = layout
                .check_debug_offsets(&block, hex)
                .map_err(|e| HeapError::NotUnderstood(format!("{name}: {e}")))?;
            if !mismatches.is_empty() {
                let list: Vec<String> = mismatches
                    .iter()
                    .map(|m| format!("{} {} → {}", m.field, m.table, m.interpreter))
                    .collect();
                notes.push(format!(
                    "{name}: memwatch's layout table differs from the interpreter's _Py_DebugOffsets \
                     ({}); the interpreter's figures are used, and fields it does not describe may \
                     have moved too",
                    list.join(", ")
                ));
            }
        }
        let chosen = probe_gc_lists(&live, &layout, runtime).map_err(|e| {
            HeapError::NotUnderstood(format!("{name}: GC list layout not understood ({e})"))
        })?;
        if chosen != layout.gc_generations {
            notes.push(format!(
                "{name}: the GC generation lists are at +{chosen} of the gc state, not at +{} as \
                 expected for this release",
                layout.gc_generations
            ));
            layout.gc_generations = chosen;
        }
        if let Some(newest) = layout::newest_checked_patch(minor)
            && patch > newest
        {
            notes.push(format!(
                "{name} is newer than the newest {major}.{minor} release memwatch was checked on \
                 ({major}.{minor}.{newest}): its layout is taken on trust of {}",
                if layout.debug_offsets_fields().is_some() {
                    "its own _Py_DebugOffsets and a probe of its GC lists"
                } else {
                    "the table of earlier releases and a probe of its GC lists"
                }
            ));
        }
        Ok(HeapTarget {
            pid,
            layout,
            runtime,
            set_dummy_var,
            notes,
            copy: CopyCache::default(),
        })
    }

    /// Buffers made ready for this target's first census (see [`copy::warm`]).
    pub fn give_buffers(&self, kept: copy::Kept) {
        let mut cache = self.copy.0.lock().unwrap_or_else(|e| e.into_inner());
        cache.kept.absorb(kept);
    }

    fn interpreter_name(&self) -> String {
        let (a, b, c) = self.layout.version;
        format!("CPython {a}.{b}.{c}")
    }

    /// Take one census.
    pub fn census(&self, opts: &CensusOptions) -> Result<Census, HeapError> {
        let started = Instant::now();
        let mut notes = Vec::new();
        let mut attempt = 0;
        let mut cache = self.copy.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut mode = None;
        let mut discovered = false;
        loop {
            attempt += 1;
            let maps = copy::writable_mappings(self.pid).map_err(|e| {
                HeapError::Failed(format!("cannot read the target's memory map: {e}"))
            })?;
            let m = *mode
                .get_or_insert_with(|| copy::choose(&maps, cache.learned.as_ref(), opts.max_copy));
            // memory for the copy is made ready before the target is paused
            let t_prep = Instant::now();
            let warmed = (m == copy::Mode::Full)
                .then(|| cache.kept.take_plan(&maps))
                .flatten();
            let wants = warmed.unwrap_or_else(|| {
                let mut wants = copy::plan(&maps, cache.learned.as_ref(), m, opts.max_copy);
                copy::drop_untouched(self.pid, &mut wants);
                wants
            });
            let buffers = copy::prepare(&wants, &mut cache.kept);
            if crate::timing::on() {
                let planned: u64 = wants.iter().map(copy::Want::bytes).sum();
                crate::timing!(
                    "prepare {:?} for {} mappings, {m:?}, {} MiB to copy",
                    t_prep.elapsed(),
                    maps.len(),
                    planned >> 20
                );
            }
            let (regions, copied, rewritten, pause) = if opts.nonblocking {
                let (r, c) = copy::fill(self.pid, &wants, buffers);
                (r, c, 0, Duration::ZERO)
            } else {
                self.copy_paused(opts, &maps, wants, buffers, &cache, m)?
            };
            // chunks not copied are read when the walk needs them (late, the target running)
            let mem = HeapCopy::new(regions, Some(Box::new(LiveMemory::new(self.pid))))
                .with_late_reads(self.pid);
            let l = &self.layout;
            let Some(interp) = Interpreter::find(&mem, l, self.runtime) else {
                cache.kept.keep(mem.into_regions());
                return Err(HeapError::NotUnderstood(format!(
                    "{}: cannot find the interpreter state in the target's memory",
                    self.interpreter_name()
                )));
            };
            if m == copy::Mode::Discover {
                // a walk of the running target, only to learn where the objects are
                let mut quick = opts.clone();
                quick.cycles = false;
                quick.why_alive.clear();
                quick.why_alive_top = 0;
                let _ = self.walk(&mem, &interp, &quick, &mut Vec::new());
                cache.learned = Some(copy::Learned::from_regions(mem.regions()));
                cache.kept.keep(mem.into_regions());
                mode = Some(copy::Mode::Learned);
                discovered = true;
                attempt -= 1;
                continue;
            }
            let collecting = mem
                .u32_at(interp.gcstate + l.gc_collecting)
                .is_some_and(|c| c != 0);
            if collecting && attempt < opts.attempts.max(1) {
                cache.learned = Some(copy::Learned::from_regions(mem.regions()));
                cache.kept.keep(mem.into_regions());
                std::thread::sleep(Duration::from_millis(20 * attempt as u64));
                continue;
            }
            if collecting {
                notes.push(
                    "a garbage collection was running in the copy: objects it held are missing"
                        .to_string(),
                );
            }
            let walk_start = Instant::now();
            let (mut census, consistent) = self.walk(&mem, &interp, opts, &mut notes);
            let late = mem.late_bytes();
            // a thread stopped half-way through linking an object leaves a list torn, and a
            // walk that read much memory late may find lists torn too: copy again (with what
            // was read late now copied during the pause)
            let torn = !consistent || (census.approximate && late > copied / 8);
            if !opts.nonblocking && torn && attempt < opts.attempts.max(1) {
                cache.learned = Some(copy::Learned::from_regions(mem.regions()));
                cache.kept.keep(mem.into_regions());
                notes.clear();
                std::thread::sleep(Duration::from_millis(10 * attempt as u64));
                continue;
            }
            census.live_reads = mem.fallback_reads();
            census.late_bytes = late;
            cache.learned = Some(copy::Learned::from_regions(mem.regions()));
            if opts.keep_buffers {
                cache.kept.keep(mem.into_regions());
            } else {
                copy::release(mem.into_regions());
            }
            crate::timing!("census: copy given back");
            drop(cache);
            census_verdict(
                &self.interpreter_name(),
                census.gc_objects,
                consistent,
                opts.nonblocking,
                attempt,
            )?;
            if !opts.nonblocking && late > (copied / 10).max(4 << 20) {
                notes.push(format!(
                    "{} MiB of the heap were read after the pause (memory new since the last \
                     census): objects there are counted as they were a moment later",
                    late >> 20
                ));
            }
            census.gc.collecting = collecting;
            census.walk_us = walk_start.elapsed().as_micros() as u64;
            census.pause_us = pause.as_micros() as u64;
            census.copy_bytes = copied;
            census.rewritten_bytes = rewritten;
            census.attempts = attempt;
            census.discovered = discovered;
            census.approximate = opts.nonblocking || collecting || census.approximate;
            if opts.nonblocking {
                notes.insert(
                    0,
                    "taken without pausing the target (--nonblocking): figures are approximate"
                        .into(),
                );
            }
            census.notes = self.notes.iter().cloned().chain(notes).collect();
            census.total_us = started.elapsed().as_micros() as u64;
            return Ok(census);
        }
    }

    /// Copy `wants` with the target paused: (regions, bytes copied, bytes copied again in the
    /// pause, pause). With soft-dirty bits (see [`dirty`]), the copy is made while the target
    /// runs and the pause copies again only the pages it wrote meanwhile; else the whole copy
    /// is made in the pause.
    fn copy_paused(
        &self,
        opts: &CensusOptions,
        maps: &[copy::Mapping],
        wants: Vec<copy::Want>,
        buffers: copy::Buffers,
        cache: &CopyState,
        mode: copy::Mode,
    ) -> Result<(Vec<memory::Region>, u64, u64, Duration), HeapError> {
        let precopy = opts.soft_dirty && dirty::supported() && dirty::clear(self.pid).is_ok();
        let (mut regions, copied, buffers) = if precopy {
            let (r, c) = copy::fill(self.pid, &wants, buffers);
            (r, c, None)
        } else {
            (Vec::new(), 0, Some(buffers))
        };
        // a Ctrl-Z of memwatch waits until the target runs again
        let stops = crate::interrupt::defer_stops();
        let frozen =
            freeze::Frozen::freeze(self.pid).map_err(|e| HeapError::Failed(e.to_string()))?;
        // the mappings as they are now that the target stands still
        let now = copy::writable_mappings(self.pid).ok();
        let changed = now
            .as_deref()
            .is_some_and(|now| !copy::same_mappings(now, maps));
        let mut wants = match now {
            Some(now) if changed => copy::plan(&now, cache.learned.as_ref(), mode, opts.max_copy),
            _ => wants,
        };
        let t_frozen = frozen.stopped_at.elapsed();
        let touched = copy::add_touched_since(self.pid, &mut wants);
        let t_touched = frozen.stopped_at.elapsed();
        let (regions, copied, rewritten) = match buffers {
            Some(buffers) => {
                let (r, c) = copy::fill(self.pid, &wants, buffers);
                (r, c, 0)
            }
            None if changed => {
                // the map changed since the copy: all of it again
                let (r, c) = copy::fill(self.pid, &wants, copy::Buffers::from_regions(regions));
                (r, copied + c, c)
            }
            None => {
                let runs: Vec<(u64, u64)> =
                    wants.iter().flat_map(|w| w.runs.iter().copied()).collect();
                let mut written = dirty::written(self.pid, &runs).unwrap_or(runs);
                if !touched.is_empty() {
                    // (pages first written before the bits were cleared, not copied yet)
                    written.extend(touched);
                    written.sort_unstable();
                }
                let c = copy::recopy(self.pid, &mut regions, &written);
                (regions, copied + c, c)
            }
        };
        if opts.hold_pause > Duration::ZERO {
            std::thread::sleep(opts.hold_pause);
        }
        let pause = frozen.stopped_at.elapsed();
        drop(frozen);
        drop(stops);
        crate::timing!(
            "pause: maps re-read by {t_frozen:?}, untouched pages re-checked by {t_touched:?}, {} MiB copied by {pause:?}",
            copied >> 20
        );
        Ok((regions, copied, rewritten, pause))
    }

    fn walk<M: Memory + ?Sized>(
        &self,
        mem: &M,
        interp: &Interpreter,
        opts: &CensusOptions,
        notes: &mut Vec<String>,
    ) -> (Census, bool) {
        let l = &self.layout;
        let set_dummy = self.set_dummy_var.and_then(|v| mem.ptr_at(v)).unwrap_or(0);
        let mut w = Walker::new(mem, l, set_dummy);
        w.types.native = native::Native::detect(mem, l, interp.modules);
        notes.extend(w.types.native.note());
        w.keep_objects = opts.cycles || !opts.why_alive.is_empty() || opts.why_alive_top > 0;
        let t_index = Instant::now();
        let mut idx = w.index(interp, opts.top);
        let indexed = t_index.elapsed();
        let consistent = idx.broken_lists.is_empty();
        let mut approximate = false;
        if !idx.broken_lists.is_empty() {
            approximate = true;
            notes.push(format!(
                "inconsistent GC list(s): {} (the heap changed during the copy)",
                idx.broken_lists.join(", ")
            ));
        }
        if idx.invalid > 0 {
            approximate = true;
            notes.push(format!(
                "{} object(s) with an unreadable type were skipped",
                idx.invalid
            ));
        }
        let gc = gc_state(mem, l, interp, &idx);
        let mut namer = names::Namer::new(&mut w);
        let t_names = Instant::now();
        let containers = namer.run(interp);
        crate::timing!("index {indexed:?}, names {:?}", t_names.elapsed());
        let modules = std::mem::take(&mut namer.modules);
        let module_dicts: FxHashMap<u64, String> = namer.module_dicts.drain(..).collect();
        let seed = idx.graph.take();
        let (types, totals) = type_rows(&w, &idx);
        let mut wanted = opts.why_alive.clone();
        // the most numerous classes defined in Python
        let mut python: Vec<(u64, &str)> = idx
            .tallies
            .iter()
            .enumerate()
            .filter(|(ty, tally)| {
                tally.gc_count > 0 && objects::is_python_class(w.types.get(*ty as u32))
            })
            .map(|(ty, tally)| (tally.gc_count, w.types.get(ty as u32).name.as_str()))
            .collect();
        python.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        for (_, name) in python.into_iter().take(opts.why_alive_top) {
            if !wanted.iter().any(|n| n == name) {
                wanted.push(name.to_string());
            }
        }
        if seed.is_some() {
            // (the graph's memory is added to the copy's: the census's peak)
            let given = mem.give_back_unread();
            crate::timing!("copy: {} MiB the walk did not read given back", given >> 20);
        }
        let t_graph = Instant::now();
        let (cycles, why_alive) = match seed.map(|seed| graph::build(&mut w, seed, &wanted)) {
            Some(Some(g)) => {
                let built = t_graph.elapsed();
                let cy = opts.cycles.then(|| graph::cycles(&w, &g));
                let found = t_graph.elapsed();
                let why = graph::why_alive(&mut w, &g, &wanted, &module_dicts);
                crate::timing!(
                    "graph: build {built:?}, cycles {:?}, why-alive {:?}",
                    found - built,
                    t_graph.elapsed() - found
                );
                (cy, why)
            }
            Some(None) => {
                notes.push(format!(
                    "more than {} tracked objects: no cycle analysis in this census",
                    graph::MAX_NODES
                ));
                (None, Vec::new())
            }
            None => (None, Vec::new()),
        };
        let largest = largest_objects(&mut w, &idx, &containers);
        let census = Census {
            approximate,
            gc,
            gc_objects: totals.0,
            gc_bytes: totals.1,
            other_objects: totals.2,
            other_bytes: totals.3,
            types,
            containers,
            modules,
            largest,
            cycles,
            why_alive,
            ..Census::default()
        };
        (census, consistent)
    }
}

/// A layout that does not match gives lists torn in every paused copy, or nothing at all: the
/// census is refused then, never handed on as a census of zero objects. (A copy taken without
/// pausing may be torn by the running target: it is kept, marked approximate.)
fn census_verdict(
    interpreter: &str,
    gc_objects: u64,
    consistent: bool,
    nonblocking: bool,
    copies: u32,
) -> Result<(), HeapError> {
    if gc_objects == 0 {
        return Err(HeapError::NotUnderstood(format!(
            "{interpreter}: GC list layout not understood: the census found no objects on the GC \
             lists{}",
            if consistent {
                ""
            } else {
                " (their links do not close)"
            }
        )));
    }
    if !consistent && !nonblocking {
        return Err(HeapError::NotUnderstood(format!(
            "{interpreter}: GC list layout not understood: the lists did not link up in any of \
             {copies} paused copies"
        )));
    }
    Ok(())
}

/// Does the list head at `head` link both ways (an empty list to itself)? The first and last
/// nodes only: a cheap check of a layout in a running target.
fn head_links<M: Memory + ?Sized>(m: &M, head: u64) -> bool {
    const MASK: u64 = !3;
    let (Some(next), Some(prev)) = (m.u64_at(head), m.u64_at(head + 8)) else {
        return false;
    };
    let (next, prev) = (next & MASK, prev & MASK);
    if next == head || prev == head {
        return next == head && prev == head;
    }
    let ok = |p: u64| p != 0 && p.is_multiple_of(8) && p < memory::MAX_ADDR;
    ok(next)
        && ok(prev)
        && m.u64_at(next + 8).is_some_and(|b| b & MASK == head)
        && m.u64_at(prev).is_some_and(|f| f & MASK == head)
}

/// Find the GC generation lists of the live target: the first offset of the layout's candidates
/// at which all three generation heads and the permanent one link up (and `enabled` reads as a
/// flag). The target runs meanwhile, so each candidate gets a few tries.
fn probe_gc_lists<M: Memory + ?Sized>(m: &M, l: &Layout, runtime: u64) -> Result<u64, String> {
    let interp = Interpreter::find(m, l, runtime)
        .ok_or("no interpreter state where _PyRuntime says".to_string())?;
    let enabled = m.u32_at(interp.gcstate + l.gc_enabled);
    if !matches!(enabled, Some(0 | 1)) {
        return Err(format!(
            "the gc state's enabled flag reads {enabled:?} at +{}",
            l.gc_enabled
        ));
    }
    for attempt in 0..PROBE_TRIES {
        for &cand in &l.gc_generations_candidates {
            let mut at = l.clone();
            at.gc_generations = cand;
            if (0..4).all(|g| head_links(m, at.generation_head(interp.gcstate, g))) {
                return Ok(cand);
            }
        }
        std::thread::sleep(Duration::from_millis(2 + 5 * attempt as u64));
    }
    let tried: Vec<String> = l
        .gc_generations_candidates
        .iter()
        .map(|c| format!("+{c}"))
        .collect();
    Err(format!(
        "no generation list heads link up at {} of the gc state",
        tried.join(" or ")
    ))
}

fn gc_state<M: Memory + ?Sized>(m: &M, l: &Layout, it: &Interpreter, idx: &HeapIndex) -> GcState {
    let mut gc = GcState {
        enabled: m.u32_at(it.gcstate + l.gc_enabled).is_some_and(|v| v != 0),
        generation_objects: idx.generation_objects,
        ..GcState::default()
    };
    for g in 0..3 {
        let head = it.generation_head(l, g);
        let int_at = |off: u64| m.u32_at(head + off).map(|v| v as i32 as i64).unwrap_or(0);
        gc.thresholds[g] = int_at(l.gc_generation_threshold);
        gc.counts[g] = int_at(l.gc_generation_count);
    }
    gc
}

/// Per type name: counts and bytes; and (gc objects, gc bytes, other objects, other bytes).
fn type_rows<M: Memory + ?Sized>(
    w: &Walker<M>,
    idx: &HeapIndex,
) -> (Vec<TypeRow>, (u64, u64, u64, u64)) {
    let mut by_name: FxHashMap<&str, TypeRow> = FxHashMap::default();
    let mut totals = (0, 0, 0, 0);
    for (ty, tally) in idx.tallies.iter().enumerate() {
        if tally.gc_count + tally.frozen_count + tally.other_count == 0 {
            continue;
        }
        let t = w.types.get(ty as u32);
        let row = by_name.entry(t.name.as_str()).or_insert_with(|| TypeRow {
            name: t.name.clone(),
            size_exact: true,
            ..TypeRow::default()
        });
        row.size_exact &= t.size_exact;
        row.gc_count += tally.gc_count;
        row.gc_bytes += tally.gc_bytes;
        row.frozen_count += tally.frozen_count;
        row.frozen_bytes += tally.frozen_bytes;
        row.other_count += tally.other_count;
        row.other_bytes += tally.other_bytes;
        totals.0 += tally.gc_count + tally.frozen_count;
        totals.1 += tally.gc_bytes + tally.frozen_bytes;
        totals.2 += tally.other_count;
        totals.3 += tally.other_bytes;
    }
    let mut rows: Vec<TypeRow> = by_name.into_values().collect();
    rows.sort_by(|a, b| b.bytes().cmp(&a.bytes()).then(a.name.cmp(&b.name)));
    (rows, totals)
}

fn largest_objects<M: Memory + ?Sized>(
    w: &mut Walker<M>,
    idx: &HeapIndex,
    containers: &[census::ContainerRow],
) -> Vec<LargeObject> {
    let names: FxHashMap<u64, &str> = containers
        .iter()
        .map(|c| (c.addr, c.name.as_str()))
        .collect();
    idx.largest
        .iter()
        .map(|&(size, addr, ty)| {
            let t = w.types.get(ty);
            LargeObject {
                addr,
                type_name: t.name.clone(),
                bytes: size,
                len: objects::length(w.m, w.l, addr, t),
                name: names.get(&addr).map(|s| s.to_string()),
            }
        })
        .collect()
}

/// glibc's allocator set for an attach beside the copy's buffers being faulted in
/// ([`copy::warm`], `memwatch snapshot`), until dropped. Faulting them in holds memwatch's
/// memory map for reading, and every `brk`, `mmap` and `munmap` the attach's allocations make
/// waits until the piece being faulted in is done (32 such waits seen in one attach here,
/// which took 10-45 ms beside the faulting against ~5.5 ms alone). Meanwhile allocations of up
/// to 32 MiB come from the heap, grown 64 MiB at a time and not shrunk; after, the thresholds
/// are glibc's defaults again (fixed) and the heap is trimmed, or the census's peak would
/// hold what the attach freed (a snapshot of 1M objects beside 2 GiB of arrays: 188 MB where
/// it is 153 MB). 1M-object snapshot, 12 runs interleaved: median 105.5 ms vs 116.9 / 115.6
/// ms without (an A/A pair).
pub struct AttachAllocator(());

impl AttachAllocator {
    pub fn set() -> AttachAllocator {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes glibc's thresholds
        unsafe {
            nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, 32 << 20);
            nix::libc::mallopt(nix::libc::M_TOP_PAD, 64 << 20);
            nix::libc::mallopt(nix::libc::M_TRIM_THRESHOLD, 256 << 20);
        }
        AttachAllocator(())
    }
}

impl Drop for AttachAllocator {
    fn drop(&mut self) {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: as above; malloc_trim only returns free memory to the kernel
        unsafe {
            nix::libc::mallopt(nix::libc::M_MMAP_THRESHOLD, 128 << 10);
            nix::libc::mallopt(nix::libc::M_TOP_PAD, 128 << 10);
            nix::libc::mallopt(nix::libc::M_TRIM_THRESHOLD, 128 << 10);
            nix::libc::malloc_trim(0);
        }
    }
}

/// Hand the census's freed memory back to the system: glibc keeps freed heap memory for reuse,
/// and a census of millions of objects frees hundreds of MB at once.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the kernel
    unsafe {
        nix::libc::malloc_trim(0);
    }
}
