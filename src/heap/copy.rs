//! Copying the target's memory in a few large `process_vm_readv` calls (GB/s) while it is
//! paused, instead of the millions of small reads a walk makes (1–2 µs each).
//!
//! What is copied: private writable mappings (pymalloc arenas, the malloc heap, the
//! interpreter's data and bss); not shared mappings, not guard pages. A census learns which
//! 64 KiB chunks its walk read (the memory that holds objects) and the next one copies only
//! those, and memory new since; a chunk the walk needs that was not copied is read then, while
//! the target runs ("late", counted). So memwatch's memory follows the object heap, not the
//! target's RSS: gigabytes of array data beside a few hundred MB of objects are not copied.
//! Without anything learned, a heap of up to [`FULL_COPY_MAX`] is copied whole; past it, a
//! first walk of the running target finds where the objects are (see [`Mode::Discover`]).
//!
//! The buffers are kept from one census to the next (their pages are faulted in and charged
//! already), within [`KEEP_MAX`] for all the targets of a tree.

use std::io::IoSliceMut;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

use memmap2::{Advice, MmapMut, MmapOptions, RemapOptions, UncheckedAdvice};

use super::memory::{CHUNK, CHUNK_SHIFT, Region, RegionData};

/// Largest single `process_vm_readv`.
const READ_MAX: u64 = 64 << 20;

/// Mappings at most this large are copied whole in every mode (the interpreter's and the
/// extensions' data and bss: static types, the runtime state).
const SMALL_MAPPING: u64 = 1 << 20;

/// Without a previous census to learn from, writable memory up to this much is copied whole
/// (also within half the machine's available memory); past it, [`Mode::Discover`].
pub const FULL_COPY_MAX: u64 = 1 << 30;

/// Memory new since the last census (not among its mappings) copied during the pause: this
/// much, or a quarter of what was learned if more; the rest is read late if the walk needs it.
const NEW_MIN: u64 = 64 << 20;

/// Copy buffers kept between censuses, in bytes of copied data, for all targets together.
pub const KEEP_MAX: u64 = 2 << 30;
static KEPT_BYTES: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone, Copy)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// Anonymous memory (no file behind it): a page never written reads as zeros.
    pub anon: bool,
}

/// Are two memory maps the same mappings (same spans, in the same order)?
pub fn same_mappings(a: &[Mapping], b: &[Mapping]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.start == y.start && x.end == y.end)
}

/// Private writable readable mappings of `pid`, from `/proc/PID/maps`.
pub fn writable_mappings(pid: i32) -> std::io::Result<Vec<Mapping>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let path = line.split_whitespace().nth(5).unwrap_or("");
        if !perms.starts_with("rw") || perms.as_bytes().get(3) != Some(&b'p') {
            continue;
        }
        if path.starts_with("[v") {
            continue; // [vvar], [vsyscall]: not ordinary memory
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        if end > start {
            let anon = path.is_empty() || path == "[heap]";
            out.push(Mapping { start, end, anon });
        }
    }
    Ok(out)
}

/// How a census's copy is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every writable mapping during the pause (nothing learned yet, and not too much).
    Full,
    /// The chunks the last census read and the memory new since, during the pause; the rest
    /// late, if needed.
    Learned,
    /// Only the small mappings during the pause; the walk reads the rest late (the target
    /// running), which tells where the objects are, and the census is then taken again in
    /// `Learned` mode. For heaps too big to copy whole.
    Discover,
}

/// What a census learned for the next one's copy.
#[derive(Debug, Clone, Default)]
pub struct Learned {
    /// The mappings it saw, sorted: memory outside them is new to the next census.
    covered: Vec<(u64, u64)>,
    /// Chunk numbers (address >> CHUNK_SHIFT) its walk read, sorted.
    chunks: Vec<u64>,
}

impl Learned {
    pub fn from_regions(regions: &[Region]) -> Learned {
        let mut covered: Vec<(u64, u64)> =
            regions.iter().map(|r| (r.start, r.start + r.len)).collect();
        covered.sort_unstable();
        let mut chunks: Vec<u64> = regions.iter().flat_map(|r| r.touched_chunks()).collect();
        chunks.sort_unstable();
        chunks.dedup();
        Learned { covered, chunks }
    }

    /// Bytes of the chunks learned.
    pub fn bytes(&self) -> u64 {
        self.chunks.len() as u64 * CHUNK
    }

    fn covers(&self, addr: u64) -> bool {
        let i = self.covered.partition_point(|&(s, _)| s <= addr);
        i > 0 && addr < self.covered[i - 1].1
    }
}

/// What to copy of one mapping during the pause: absolute address ranges, sorted.
#[derive(Debug, Clone)]
pub struct Want {
    pub m: Mapping,
    pub runs: Vec<(u64, u64)>,
    /// Spans left out of `runs` as never written when they were planned (see
    /// [`drop_untouched`]), checked again once the target is paused.
    pub untouched: Vec<(u64, u64)>,
}

impl Want {
    pub fn bytes(&self) -> u64 {
        self.runs.iter().map(|(a, b)| b - a).sum()
    }
}

/// Which mode a census starts in: `Learned` if there is something learned, else `Full` if the
/// writable memory is small enough (also within half of the machine's available memory),
/// else `Discover`.
pub fn choose(maps: &[Mapping], learned: Option<&Learned>, cap: u64) -> Mode {
    if learned.is_some() {
        return Mode::Learned;
    }
    let total: u64 = maps.iter().map(|m| m.end - m.start).sum();
    let available = mem_available().map_or(u64::MAX, |a| a / 2);
    if total <= FULL_COPY_MAX.min(cap).min(available) {
        Mode::Full
    } else {
        Mode::Discover
    }
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What to copy of each mapping during the pause, within `cap` bytes in all (small mappings
/// first, then by address).
pub fn plan(maps: &[Mapping], learned: Option<&Learned>, mode: Mode, cap: u64) -> Vec<Want> {
    let mut out: Vec<Want> = maps
        .iter()
        .map(|&m| Want {
            m,
            runs: Vec::new(),
            untouched: Vec::new(),
        })
        .collect();
    let mut budget = cap;
    // small mappings whole, in every mode
    for w in out.iter_mut() {
        let len = w.m.end - w.m.start;
        if len <= SMALL_MAPPING && len <= budget {
            budget -= len;
            w.runs.push((w.m.start, w.m.end));
        }
    }
    match (mode, learned) {
        (Mode::Discover, _) => {}
        (Mode::Full, _) | (Mode::Learned, None) => {
            let mut big: Vec<&mut Want> = out
                .iter_mut()
                .filter(|w| w.m.end - w.m.start > SMALL_MAPPING)
                .collect();
            big.sort_by_key(|w| w.m.end - w.m.start);
            for w in big {
                let len = w.m.end - w.m.start;
                if len <= budget {
                    budget -= len;
                    w.runs.push((w.m.start, w.m.end));
                }
            }
        }
        (Mode::Learned, Some(l)) => {
            let mut new_budget = NEW_MIN.max(l.bytes() / 4);
            for w in out.iter_mut() {
                if w.m.end - w.m.start <= SMALL_MAPPING {
                    continue;
                }
                let first = w.m.start >> CHUNK_SHIFT;
                let last = (w.m.end - 1) >> CHUNK_SHIFT;
                let mut k = l.chunks.partition_point(|&c| c < first);
                for c in first..=last {
                    while k < l.chunks.len() && l.chunks[k] < c {
                        k += 1;
                    }
                    let lo = (c << CHUNK_SHIFT).max(w.m.start);
                    let hi = ((c + 1) << CHUNK_SHIFT).min(w.m.end);
                    let len = hi - lo;
                    let wanted = if l.chunks.get(k) == Some(&c) {
                        true
                    } else if !l.covers(lo) && len <= new_budget {
                        new_budget -= len;
                        true
                    } else {
                        false
                    };
                    if !wanted || len > budget {
                        continue;
                    }
                    budget -= len;
                    match w.runs.last_mut() {
                        Some(run) if run.1 == lo => run.1 = hi,
                        _ => w.runs.push((lo, hi)),
                    }
                }
            }
        }
    }
    out
}

/// Narrow what is to be copied of big anonymous mappings to the pages that hold data
/// (resident or swapped, from pagemap): a page never written holds no object, and copying it
/// costs a page of memwatch's memory and of the pause all the same (a page the walk reads
/// after all is read late). Small mappings and file-backed ones are left whole; nothing is
/// changed if pagemap cannot be read.
pub fn drop_untouched(pid: i32, wants: &mut [Want]) {
    for w in wants.iter_mut() {
        if !w.m.anon || w.m.end - w.m.start <= SMALL_MAPPING || w.runs.is_empty() {
            continue;
        }
        let Ok(pages) = super::dirty::resident(pid, &w.runs) else {
            return;
        };
        // gaps of a few pages are copied over rather than split into more pieces
        let mut runs: Vec<(u64, u64)> = Vec::with_capacity(pages.len());
        for (lo, hi) in pages {
            match runs.last_mut() {
                Some(run) if lo - run.1 <= GAP_KEPT => run.1 = hi,
                _ => runs.push((lo, hi)),
            }
        }
        w.untouched = minus(&w.runs, &runs);
        w.runs = runs;
    }
}

/// With the target paused: the pages of `untouched` spans written since they were planned
/// (new memory the target took meanwhile) copied too (and returned, sorted). Where pagemap
/// cannot be read, the spans are copied whole.
pub fn add_touched_since(pid: i32, wants: &mut [Want]) -> Vec<(u64, u64)> {
    let mut added = Vec::new();
    for w in wants.iter_mut() {
        if w.untouched.is_empty() {
            continue;
        }
        let untouched = std::mem::take(&mut w.untouched);
        let touched = super::dirty::resident(pid, &untouched).unwrap_or(untouched);
        if touched.is_empty() {
            continue;
        }
        added.extend_from_slice(&touched);
        let mut all: Vec<(u64, u64)> = w.runs.iter().chain(&touched).copied().collect();
        all.sort_unstable();
        w.runs.clear();
        for (lo, hi) in all {
            match w.runs.last_mut() {
                Some(run) if lo <= run.1 => run.1 = run.1.max(hi),
                _ => w.runs.push((lo, hi)),
            }
        }
    }
    added.sort_unstable();
    added
}

/// Untouched pages between touched ones copied over rather than skipped.
const GAP_KEPT: u64 = 16 << 10;

/// Memory for the copy of each mapping, made ready (faulted in where it will be written)
/// *before* the target is paused, so that the pause costs only the copy itself.
pub struct Buffers {
    maps: Vec<(u64, MmapMut)>,
}

impl Buffers {
    /// The buffers of a copy, to copy into again.
    pub fn from_regions(regions: Vec<Region>) -> Buffers {
        let maps = regions
            .into_iter()
            .filter_map(|r| {
                let start = r.start;
                match r.into_data() {
                    RegionData::Map(m) => Some((start, m)),
                    RegionData::Vec(_) => None,
                }
            })
            .collect();
        Buffers { maps }
    }
}

/// Copy `runs` (absolute, sorted) again into the regions that hold them; bytes read.
pub fn recopy(pid: i32, regions: &mut [Region], runs: &[(u64, u64)]) -> u64 {
    copy_runs(Pid::from_raw(pid), regions, runs)
}

/// Buffers kept from one census to the next, by the start of the mapping they copied.
#[derive(Default)]
pub struct Kept {
    bufs: Vec<KeptBuffer>,
    /// The warm-up's plan (see [`Warming`]): the mappings it was made for and what it
    /// planned to copy of them, pages never written left out.
    planned: Option<(Vec<Mapping>, Vec<Want>)>,
}

/// A buffer kept: the mapping it copied, the bytes of copied data it holds, and the spans
/// `[lo, hi)` of it (offsets) whose pages are in already (nothing to fault in again).
struct KeptBuffer {
    start: u64,
    map: MmapMut,
    held: u64,
    present: Vec<(u64, u64)>,
}

impl Kept {
    /// The buffer kept for the mapping at `start`, at least `len` long, and the spans of it
    /// whose pages are in.
    fn take(&mut self, start: u64, len: u64) -> Option<(MmapMut, Vec<(u64, u64)>)> {
        let i = self.bufs.iter().position(|b| b.start == start)?;
        let KeptBuffer {
            mut map,
            held,
            present,
            ..
        } = self.bufs.swap_remove(i);
        KEPT_BYTES.fetch_sub(held, Ordering::Relaxed);
        if (map.len() as u64) < len {
            // the mapping grew: grow the buffer, its pages kept
            // SAFETY: nothing borrows the buffer; it may move
            unsafe { map.remap(len as usize, RemapOptions::new().may_move(true)) }.ok()?;
        }
        Some((map, present))
    }

    /// Give every kept buffer back to the system.
    pub fn clear(&mut self) {
        for b in self.bufs.drain(..) {
            KEPT_BYTES.fetch_sub(b.held, Ordering::Relaxed);
        }
    }

    /// Bytes of copied data the kept buffers hold.
    pub fn bytes(&self) -> u64 {
        self.bufs.iter().map(|b| b.held).sum()
    }

    /// Keep the buffers of a census's copy for the next one, as far as [`KEEP_MAX`] allows
    /// (the rest is unmapped). Pages of chunks this census did not copy are given back.
    pub fn keep(&mut self, regions: Vec<Region>) {
        for r in regions {
            let present: Vec<(u64, u64)> = r
                .valid_spans()
                .into_iter()
                .map(|(off, len)| (off, off + len))
                .collect();
            let mut spans = r.invalid_spans();
            let held = r.len - spans.iter().map(|s| s.1).sum::<u64>();
            let (start, len) = (r.start, r.len);
            let RegionData::Map(map) = r.into_data() else {
                continue;
            };
            if KEPT_BYTES.load(Ordering::Relaxed) + held > KEEP_MAX {
                continue;
            }
            // a buffer longer than its mapping (which shrank): its tail too
            if map.len() as u64 > len {
                spans.push((len, map.len() as u64 - len));
            }
            for (off, n) in spans {
                // SAFETY: those bytes hold nothing (no copy was made into them this time); they
                // read as zero afterwards, which nothing relies on either way
                let _ = unsafe {
                    map.unchecked_advise_range(UncheckedAdvice::DontNeed, off as usize, n as usize)
                };
            }
            KEPT_BYTES.fetch_add(held, Ordering::Relaxed);
            self.bufs.push(KeptBuffer {
                start,
                map,
                held,
                present,
            });
        }
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Anonymous memory for a copy of `len` bytes. Not advised to huge pages: faulting 144 MiB
/// in took 20–340 ms with them (the kernel compacting memory for each 2 MiB page), 35–50 ms
/// without (scripts/bench_census.py, 1M objects).
fn buffer(len: u64) -> Option<MmapMut> {
    // (no swap reserved: a buffer spans its whole mapping, of which often little is copied)
    MmapOptions::new()
        .len(len.max(1) as usize)
        .no_reserve_swap()
        .map_anon()
        .ok()
}

/// Buffers for `wants`, the pages of what will be copied faulted in (on several threads:
/// the kernel zeroes each page it faults in, 35–50 ms per 144 MiB on one thread here).
pub fn prepare(wants: &[Want], kept: &mut Kept) -> Buffers {
    let p = Populate::new(wants, kept);
    let threads = if p.total < PARALLEL_MIN { 1 } else { threads() };
    on_threads(threads, || p.work());
    p.done()
}

/// Buffers whose pages are being faulted in, in pieces that any number of threads take in
/// turn.
struct Populate {
    maps: Vec<(u64, MmapMut)>,
    pieces: Vec<(usize, u64, u64)>,
    total: u64,
    next: std::sync::atomic::AtomicUsize,
    failed: std::sync::atomic::AtomicBool,
}

impl Populate {
    fn new(wants: &[Want], kept: &mut Kept) -> Populate {
        let mut maps = Vec::new();
        let mut pieces: Vec<(usize, u64, u64)> = Vec::new();
        for w in wants {
            let len = w.m.end - w.m.start;
            let Some((map, present)) = kept
                .take(w.m.start, len)
                .or_else(|| buffer(len).map(|m| (m, Vec::new())))
            else {
                continue;
            };
            let runs: Vec<(u64, u64)> = w
                .runs
                .iter()
                .map(|&(lo, hi)| (lo - w.m.start, hi - w.m.start))
                .collect();
            // pages a kept buffer has in already are not faulted in again
            for (lo, hi) in minus(&runs, &present) {
                cut(maps.len(), lo, hi, &mut pieces);
            }
            // and those this copy will not need are given back before it is made (the first
            // census copies more than the objects' chunks, which the next ones learn): the
            // census's peak is the copy it makes, not that and the last one's leftovers
            let mut planned: Vec<(u64, u64)> = runs
                .iter()
                .copied()
                .chain(
                    w.untouched
                        .iter()
                        .map(|&(lo, hi)| (lo - w.m.start, hi - w.m.start)),
                )
                .collect();
            planned.sort_unstable();
            for (lo, hi) in minus(&present, &planned) {
                // SAFETY: no copy is in those bytes for this census (they are outside its
                // plan); they read as zero afterwards, and are copied into again if a later
                // plan holds them
                let _ = unsafe {
                    map.unchecked_advise_range(
                        UncheckedAdvice::DontNeed,
                        lo as usize,
                        (hi.min(map.len() as u64).saturating_sub(lo)) as usize,
                    )
                };
            }
            maps.push((w.m.start, map));
        }
        kept.clear();
        let total = pieces.iter().map(|p| p.2).sum();
        Populate {
            maps,
            pieces,
            total,
            next: std::sync::atomic::AtomicUsize::new(0),
            failed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Fault pieces in until none is left.
    fn work(&self) {
        while let Some(&(i, off, len)) = self.pieces.get(self.next.fetch_add(1, Ordering::Relaxed))
        {
            if self.maps[i]
                .1
                .advise_range(Advice::PopulateWrite, off as usize, len as usize)
                .is_err()
            {
                self.failed.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The buffers, once every piece is in.
    fn done(mut self) -> Buffers {
        if self.failed.load(Ordering::Relaxed) {
            // kernels before 5.14: touch every page
            for &(i, off, len) in &self.pieces {
                let map = &mut self.maps[i].1;
                let end = ((off + len) as usize).min(map.len());
                for p in (off as usize..end).step_by(4096) {
                    map[p] = 0;
                }
            }
        }
        Buffers { maps: self.maps }
    }
}

/// `[lo, hi)` of buffer `i`, as pieces `(i, offset, length)` of at most [`PIECE`] bytes.
fn cut(i: usize, lo: u64, hi: u64, pieces: &mut Vec<(usize, u64, u64)>) {
    let mut at = lo;
    while at < hi {
        let n = PIECE.min(hi - at);
        pieces.push((i, at, n));
        at += n;
    }
}

/// Give a copy's buffers back to the kernel, a big copy's on several threads: freeing the
/// pages is the kernel's work (each uncharged and returned), 20-28 ms for 624 MiB by one
/// `munmap` here, 12-14 ms when two threads first drop the pages of half each.
pub fn release(regions: Vec<Region>) {
    let mut maps = Vec::new();
    let mut pieces: Vec<(usize, u64, u64)> = Vec::new();
    for r in regions {
        let spans = r.valid_spans();
        let RegionData::Map(map) = r.into_data() else {
            continue;
        };
        for (off, len) in spans {
            cut(
                maps.len(),
                off,
                (off + len).min(map.len() as u64),
                &mut pieces,
            );
        }
        maps.push(map);
    }
    let total: u64 = pieces.iter().map(|p| p.2).sum();
    let threads = threads();
    if threads >= 2 && total >= PARALLEL_MIN {
        let next = std::sync::atomic::AtomicUsize::new(0);
        on_threads(threads, || {
            while let Some(&(i, off, n)) = pieces.get(next.fetch_add(1, Ordering::Relaxed)) {
                // SAFETY: the buffer is unmapped right after and nothing reads it meanwhile
                let _ = unsafe {
                    maps[i].unchecked_advise_range(
                        UncheckedAdvice::DontNeed,
                        off as usize,
                        n as usize,
                    )
                };
            }
        });
    }
    drop(maps);
}

/// Buffers for a first census of `pid` being made ready before anything else is known of
/// it (a one-off snapshot, while it attaches): what a `Full` copy of its writable mappings
/// would need now, or nothing if that is not the mode its census would choose. A thread
/// plans them and faults their pages in; [`Warming::finish`] helps it and takes them, for
/// the census to use as kept buffers (pages already in). Attaching takes one core ~5 ms
/// alone (more beside the faulting, 6-50 ms here); once it is done its thread takes pieces
/// too, so the work ends when both cores have done their part, where two faulting threads
/// beside it kept three threads on two CPUs to the end.
pub struct Warming {
    planned: std::sync::mpsc::Receiver<Option<WarmPlan>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type WarmPlan = (std::sync::Arc<Populate>, Vec<Mapping>, Vec<Want>);

/// Start making the buffers for a first census of `pid` ready (see [`Warming`]).
pub fn warm(pid: i32, cap: u64) -> Warming {
    let (tx, planned) = std::sync::mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name("memwatch-warm".into())
        .spawn(move || {
            let planned = writable_mappings(pid)
                .ok()
                .filter(|maps| choose(maps, None, cap) == Mode::Full)
                .map(|maps| {
                    let mut wants = plan(&maps, None, Mode::Full, cap);
                    drop_untouched(pid, &mut wants);
                    let p = std::sync::Arc::new(Populate::new(&wants, &mut Kept::default()));
                    crate::timing!("warm: planned");
                    (p, maps, wants)
                });
            let work = planned.as_ref().map(|(p, _, _)| p.clone());
            let _ = tx.send(planned);
            if let Some(p) = work {
                p.work();
            }
        })
        .ok();
    Warming { planned, thread }
}

impl Warming {
    /// Help fault the rest in, then the buffers (none if planning failed).
    pub fn finish(mut self) -> Kept {
        let mut kept = Kept::default();
        let planned = self.planned.recv().ok().flatten();
        if let Some((p, _, _)) = &planned {
            p.work();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        crate::timing!("warm: buffers faulted in");
        let Some((p, maps, wants)) = planned else {
            return kept;
        };
        let Ok(p) = std::sync::Arc::try_unwrap(p) else {
            return kept;
        };
        for (start, map) in p.done().maps {
            let Some(w) = wants.iter().find(|w| w.m.start == start) else {
                continue;
            };
            let held = w.bytes();
            if KEPT_BYTES.load(Ordering::Relaxed) + held > KEEP_MAX {
                continue;
            }
            KEPT_BYTES.fetch_add(held, Ordering::Relaxed);
            kept.bufs.push(KeptBuffer {
                start,
                map,
                held,
                present: w
                    .runs
                    .iter()
                    .map(|&(a, b)| (a - start, b - start))
                    .collect(),
            });
        }
        kept.planned = Some((maps, wants));
        kept
    }
}

impl Kept {
    /// Take `other`'s buffers (and plan) too.
    pub fn absorb(&mut self, mut other: Kept) {
        self.bufs.append(&mut other.bufs);
        if other.planned.is_some() {
            self.planned = other.planned.take();
        }
    }

    /// The warm-up's plan, if it was made for the mappings `maps` (the census's first, in
    /// `Full` mode) — what `plan` and `drop_untouched` would find again a moment later, the
    /// pages written since found in the pause (as for any plan) — and forgotten either way.
    pub fn take_plan(&mut self, maps: &[Mapping]) -> Option<Vec<Want>> {
        let (planned_for, wants) = self.planned.take()?;
        same_mappings(&planned_for, maps).then_some(wants)
    }
}

/// The parts of the sorted, disjoint spans `runs` outside the sorted, disjoint spans
/// `present` (both `[lo, hi)`).
fn minus(runs: &[(u64, u64)], present: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut k = 0;
    for &(lo, hi) in runs {
        let mut at = lo;
        while k < present.len() && present[k].1 <= at {
            k += 1;
        }
        let mut j = k;
        while at < hi {
            match present.get(j) {
                Some(&(plo, phi)) if plo < hi => {
                    if plo > at {
                        out.push((at, plo));
                    }
                    at = at.max(phi);
                    j += 1;
                }
                _ => {
                    out.push((at, hi));
                    at = hi;
                }
            }
        }
    }
    out
}

/// Threads a copy uses: the CPUs, up to [`MAX_THREADS`].
fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
}

/// Copy what `wants` says (made for the mappings as they are now, with the target paused)
/// into `buffers`, allocating for mappings that appeared since [`prepare`]. Returns the
/// regions (one per mapping; what was not copied is marked so) and the bytes copied.
pub fn fill(pid: i32, wants: &[Want], mut buffers: Buffers) -> (Vec<Region>, u64) {
    let mut regions = Vec::new();
    for w in wants {
        let len = w.m.end - w.m.start;
        let ready = buffers
            .maps
            .iter()
            .position(|(s, b)| *s == w.m.start && b.len() as u64 >= len)
            .map(|i| buffers.maps.swap_remove(i).1);
        let Some(buf) = ready.or_else(|| buffer(len)) else {
            continue;
        };
        regions.push(Region::new(w.m.start, len, RegionData::Map(buf), false));
    }
    let runs: Vec<(u64, u64)> = wants.iter().flat_map(|w| w.runs.iter().copied()).collect();
    let copied = copy_runs(Pid::from_raw(pid), &mut regions, &runs);
    (regions, copied)
}

thread_local! {
    /// CPU time of the threads that helped this thread's copies (counted into the census's
    /// cost by the census clock).
    static HELPER_CPU: std::cell::Cell<std::time::Duration> =
        const { std::cell::Cell::new(std::time::Duration::ZERO) };
}

/// CPU time spent so far by the helper threads of this thread's copies.
pub fn helper_cpu() -> std::time::Duration {
    HELPER_CPU.with(|c| c.get())
}

/// Run `work` on `n` scoped threads and add their CPU time to [`helper_cpu`].
pub(crate) fn on_threads(n: usize, work: impl Fn() + Sync) {
    let spent = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                let cpu = || {
                    nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
                        .map(std::time::Duration::from)
                        .unwrap_or_default()
                };
                let t0 = cpu();
                work();
                let ns = cpu().saturating_sub(t0).as_nanos() as u64;
                spent.fetch_add(ns, Ordering::Relaxed);
            });
        }
    });
    let spent = std::time::Duration::from_nanos(spent.load(Ordering::Relaxed));
    HELPER_CPU.with(|c| c.set(c.get() + spent));
}

/// Pieces a copy is cut into, for the threads that make it.
const PIECE: u64 = 8 << 20;
/// A copy smaller than this is made by one thread.
const PARALLEL_MIN: u64 = 16 << 20;
/// Most threads a copy uses.
const MAX_THREADS: usize = 4;

/// Copy `runs` (absolute, sorted) into the regions holding them, on as many threads as there
/// are CPUs (up to [`MAX_THREADS`]): the target is paused meanwhile, its CPUs idle, and one
/// thread's `process_vm_readv` does not use the memory bandwidth. Bytes read.
fn copy_runs(pid: Pid, regions: &mut [Region], runs: &[(u64, u64)]) -> u64 {
    // (region, lo, hi), cut at chunk-aligned PIECE boundaries
    let mut pieces: Vec<(usize, u64, u64)> = Vec::new();
    for &(lo, hi) in runs {
        let i = regions.partition_point(|r| r.start <= lo);
        let Some(ri) = i.checked_sub(1) else {
            continue;
        };
        if hi > regions[ri].start + regions[ri].len {
            continue;
        }
        let mut at = lo;
        while at < hi {
            let end = (((at / PIECE) + 1) * PIECE).min(hi);
            pieces.push((ri, at, end));
            at = end;
        }
    }
    let total: u64 = pieces.iter().map(|p| p.2 - p.1).sum();
    let threads = threads();
    if threads < 2 || total < PARALLEL_MIN {
        return pieces
            .iter()
            .map(|&(ri, lo, hi)| copy_run(pid, &mut regions[ri], lo, hi))
            .sum();
    }
    // each piece is written by one thread only, into its own bytes of a buffer
    let bases: Vec<(u64, usize, u64)> = regions
        .iter_mut()
        .map(|r| (r.start, r.data_mut().as_mut_ptr() as usize, r.len))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done: Vec<AtomicU64> = pieces.iter().map(|_| AtomicU64::new(0)).collect();
    on_threads(threads, || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(&(ri, lo, hi)) = pieces.get(i) else {
                break;
            };
            let (start, base, len) = bases[ri];
            if hi > start + len {
                continue;
            }
            // SAFETY: [lo, hi) lies inside region ri's buffer (checked above), the buffers
            // outlive the threads, and no two pieces overlap
            let dst = unsafe {
                std::slice::from_raw_parts_mut(
                    (base + (lo - start) as usize) as *mut u8,
                    (hi - lo) as usize,
                )
            };
            let remote = [RemoteIoVec {
                base: lo as usize,
                len: (hi - lo) as usize,
            }];
            let mut local = [IoSliceMut::new(dst)];
            let n = process_vm_readv(pid, &mut local, &remote).map_or(0, |n| n as u64);
            done[i].store(n, Ordering::Relaxed);
        }
    });
    let mut copied = 0;
    for (i, &(ri, lo, hi)) in pieces.iter().enumerate() {
        if done[i].load(Ordering::Relaxed) == hi - lo {
            regions[ri].mark_valid(lo, hi - lo);
            copied += hi - lo;
        } else {
            // a page failed: this piece again, chunk by chunk
            copied += copy_run(pid, &mut regions[ri], lo, hi);
        }
    }
    copied
}

/// Copy `[lo, hi)` into its place in `region`; the chunks wholly read are marked copied (a
/// failed read is tried again chunk by chunk; what cannot be read stays uncopied). Returns the
/// bytes read.
fn copy_run(pid: Pid, region: &mut Region, lo: u64, hi: u64) -> u64 {
    let mut at = lo;
    let mut total = 0;
    while at < hi {
        // reads end on chunk boundaries: a chunk is marked copied only once wholly read
        let len = (((at >> CHUNK_SHIFT) << CHUNK_SHIFT) + READ_MAX).min(hi) - at;
        let n = read_into(pid, region, at, len);
        if n == len {
            region.mark_valid(at, len);
            total += n;
            at += len;
            continue;
        }
        // a page failed: chunk by chunk from here
        let end = at + len;
        while at < end {
            let step = ((at | (CHUNK - 1)) + 1).min(end) - at;
            let n = read_into(pid, region, at, step);
            if n == step {
                region.mark_valid(at, step);
                total += n;
            }
            at += step;
        }
    }
    total
}

/// One `process_vm_readv` of `[at, at + len)` into `region`'s buffer; bytes read.
fn read_into(pid: Pid, region: &mut Region, at: u64, len: u64) -> u64 {
    let start = region.start;
    let off = (at - start) as usize;
    let Some(dst) = region.data_mut().get_mut(off..off + len as usize) else {
        return 0;
    };
    let remote = [RemoteIoVec {
        base: at as usize,
        len: len as usize,
    }];
    let mut local = [IoSliceMut::new(dst)];
    process_vm_readv(pid, &mut local, &remote).map_or(0, |n| n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_pages_are_left_out_until_written() {
        const P: u64 = 4096;
        let mut map = memmap2::MmapOptions::new()
            .len(2 * SMALL_MAPPING as usize)
            .map_anon()
            .unwrap();
        let (lo, hi) = (map.as_ptr() as u64, map.as_ptr() as u64 + map.len() as u64);
        map[0] = 1;
        map[100 * P as usize] = 1;
        let me = std::process::id() as i32;
        // the whole mapping planned, as a first census plans it
        let whole = |anon| {
            vec![Want {
                m: Mapping {
                    start: lo,
                    end: hi,
                    anon,
                },
                runs: vec![(lo, hi)],
                untouched: Vec::new(),
            }]
        };
        let mut wants = whole(true);
        drop_untouched(me, &mut wants);
        assert_eq!(
            wants[0].runs,
            vec![(lo, lo + P), (lo + 100 * P, lo + 101 * P)]
        );
        assert_eq!(
            wants[0].untouched,
            vec![(lo + P, lo + 100 * P), (lo + 101 * P, hi)]
        );
        // written after the plan (before the pause): copied after all
        map[200 * P as usize + 5] = 1;
        let added = add_touched_since(me, &mut wants);
        assert_eq!(added, vec![(lo + 200 * P, lo + 201 * P)]);
        assert_eq!(
            wants[0].runs,
            vec![
                (lo, lo + P),
                (lo + 100 * P, lo + 101 * P),
                (lo + 200 * P, lo + 201 * P)
            ]
        );
        // a file-backed mapping is left whole
        let mut file = whole(false);
        drop_untouched(me, &mut file);
        assert_eq!(file[0].runs, vec![(lo, hi)]);
        std::hint::black_box(&map);
    }

    /// A kept buffer's pages outside the next plan (its runs and its untouched spans) are
    /// given back by `prepare`, before that census copies: the census holds its own copy, not
    /// that and the last one's leftovers; the planned ones stay in.
    #[test]
    fn kept_pages_outside_the_plan_are_given_back_before_the_copy() {
        const K: u64 = 64 << 10;
        let len = 16 * K;
        let start = 0x7000_0000_0000u64;
        let mut map = buffer(len).unwrap();
        map.fill(1);
        let mut kept = Kept::default();
        kept.bufs.push(KeptBuffer {
            start,
            map,
            held: len,
            present: vec![(0, len)],
        });
        let wants = vec![Want {
            m: Mapping {
                start,
                end: start + len,
                anon: true,
            },
            runs: vec![(start, start + K), (start + 8 * K, start + 9 * K)],
            untouched: vec![(start + K, start + 2 * K)],
        }];
        let buffers = prepare(&wants, &mut kept);
        let at = buffers.maps[0].1.as_ptr() as u64;
        let me = std::process::id() as i32;
        let resident = super::super::dirty::resident(me, &[(at, at + len)]).unwrap();
        assert_eq!(
            resident,
            vec![(at, at + 2 * K), (at + 8 * K, at + 9 * K)],
            "(offsets: {:?})",
            resident
                .iter()
                .map(|&(a, b)| (a - at, b - at))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn spans_minus_spans() {
        let present = [(10, 20), (30, 40), (50, 60)];
        assert_eq!(
            minus(&[(0, 100)], &present),
            vec![(0, 10), (20, 30), (40, 50), (60, 100)]
        );
        assert_eq!(minus(&[(12, 18), (35, 55)], &present), vec![(40, 50)]);
        assert_eq!(minus(&[(0, 5), (60, 70)], &present), vec![(0, 5), (60, 70)]);
        assert_eq!(minus(&[(0, 5)], &[]), vec![(0, 5)]);
        assert_eq!(minus(&[(15, 35)], &present), vec![(20, 30)]);
    }

    const M: u64 = 1 << 20;

    fn learned(covered: &[(u64, u64)], chunks: &[u64]) -> Learned {
        Learned {
            covered: covered.to_vec(),
            chunks: chunks.to_vec(),
        }
    }

    #[test]
    fn plans_by_mode() {
        let small = Mapping {
            start: 0x1000,
            end: 0x3000,
            anon: true,
        };
        let big = Mapping {
            start: 0x100 * M,
            end: 0x140 * M,
            anon: true,
        };
        let maps = [small, big];
        // full: everything, within the cap (small mappings first)
        let full = plan(&maps, None, Mode::Full, u64::MAX);
        assert_eq!(full[0].runs, vec![(small.start, small.end)]);
        assert_eq!(full[1].runs, vec![(big.start, big.end)]);
        let capped = plan(&maps, None, Mode::Full, 32 * M);
        assert_eq!(capped[0].bytes(), 0x2000);
        assert!(capped[1].runs.is_empty(), "the big mapping is past the cap");
        // discover: only the small mappings
        let disc = plan(&maps, None, Mode::Discover, u64::MAX);
        assert_eq!(disc[0].bytes(), 0x2000);
        assert!(disc[1].runs.is_empty());
        // learned: the chunks read last time, adjacent ones in one run; memory that was
        // covered and not read is left out
        let c0 = big.start >> CHUNK_SHIFT;
        let l = learned(
            &[(small.start, small.end), (big.start, big.end)],
            &[c0, c0 + 1, c0 + 5],
        );
        let lp = plan(&maps, Some(&l), Mode::Learned, u64::MAX);
        assert_eq!(lp[0].bytes(), 0x2000);
        assert_eq!(
            lp[1].runs,
            vec![
                (big.start, big.start + 2 * CHUNK),
                (big.start + 5 * CHUNK, big.start + 6 * CHUNK)
            ]
        );
        // the mapping grew by 1 GiB: the new memory is copied up to the new-memory budget
        let grown = Mapping {
            start: big.start,
            end: big.end + 1024 * M,
            anon: true,
        };
        let gp = plan(&[small, grown], Some(&l), Mode::Learned, u64::MAX);
        assert_eq!(gp[1].bytes(), 3 * CHUNK + NEW_MIN);
        assert_eq!(gp[1].runs.last().unwrap().0, big.end);
    }

    #[test]
    fn full_unless_too_big_or_learned() {
        let maps = [Mapping {
            start: 0,
            end: 64 * M,
            anon: true,
        }];
        assert_eq!(choose(&maps, None, u64::MAX), Mode::Full);
        assert_eq!(choose(&maps, None, 32 * M), Mode::Discover);
        let huge = [Mapping {
            start: 0,
            end: FULL_COPY_MAX + M,
            anon: true,
        }];
        assert_eq!(choose(&huge, None, u64::MAX), Mode::Discover);
        assert_eq!(
            choose(&huge, Some(&Learned::default()), u64::MAX),
            Mode::Learned
        );
    }
}
