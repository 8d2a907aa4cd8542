//! The heap walk: every object on the GC lists (generations 0–2 and the permanent one), then
//! the untracked objects (str, bytes, int, float, untracked tuples and dicts, …) reached as
//! items or attributes of tracked containers, de-duplicated by address. The result is an
//! index of objects (address, type, size) from which the census and later analyses are made.
//!
//! The memory walked is hostile: a list that does not link back (`next.prev != node`), a
//! NULL link or an unreadable node ends that list and marks the walk inconsistent; every
//! loop is bounded; an object whose type pointer is not a type is counted as invalid.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::{FxHashMap, FxHashSet};

use super::graph::{Nodes, Seed};
use super::layout::Layout;
use super::memory::{CopyData, MAX_ADDR, Memory, MemoryExt};
use super::objects;
use super::types::{Kind, TypeId, TypeTable};

/// Most objects taken from one GC list.
pub const MAX_LIST_OBJECTS: u64 = 200_000_000;
/// Most untracked objects counted.
pub const MAX_OTHER_OBJECTS: usize = 400_000_000;
/// How deep untracked containers are followed (an untracked tuple of untracked tuples …).
const MAX_UNTRACKED_DEPTH: u8 = 8;

/// The interpreter's roots, found from `_PyRuntime`.
#[derive(Debug, Clone, Copy)]
pub struct Interpreter {
    pub interp: u64,
    pub gcstate: u64,
    pub modules: u64,
}

impl Interpreter {
    pub fn find<M: Memory + ?Sized>(m: &M, l: &Layout, runtime: u64) -> Option<Interpreter> {
        let interp = m.ptr_at(runtime + l.runtime_interpreters_head)?;
        let gcstate = match (l.runtime_gc, l.interp_gc) {
            (Some(off), _) => runtime + off,
            (None, Some(off)) => interp + off,
            _ => return None,
        };
        let modules = m.ptr_at(interp + l.interp_modules)?;
        Some(Interpreter {
            interp,
            gcstate,
            modules,
        })
    }

    /// Address of generation `i`'s list head (3 = the permanent generation).
    pub fn generation_head(&self, l: &Layout, i: usize) -> u64 {
        l.generation_head(self.gcstate, i)
    }
}

/// A set of object addresses: one bit per 8 bytes of each of the copy's regions (a few MB
/// for a heap of hundreds, cache-friendly; its pages are zero until written, so a region of
/// gigabytes of array data costs only where objects are), a hash set for addresses outside
/// them. Shared by the threads of a walk: an insert says which of them got there first.
struct AddrSet {
    ranges: Vec<(u64, u64, usize)>,
    bits: Vec<AtomicU64>,
    other: Mutex<FxHashSet<u64>>,
}

/// `n` zero words from the allocator's zeroed memory (fresh pages for a big set: only those
/// written cost memory), not written one by one; `None` if the allocator refuses them.
fn zeroed_bits(n: usize) -> Option<Vec<AtomicU64>> {
    if n == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<AtomicU64>(n).ok()?;
    // SAFETY: a non-zero-sized layout; all-zero bytes are a valid AtomicU64 (0); the vector
    // owns the allocation, made by the global allocator with the layout of `n` AtomicU64s
    unsafe {
        let p = std::alloc::alloc_zeroed(layout) as *mut AtomicU64;
        (!p.is_null()).then(|| Vec::from_raw_parts(p, n, n))
    }
}

/// Most address space an [`AddrSet`]'s bits cover (2 GiB of bitmap, never written whole):
/// past it, the copy's ranges only.
const MAX_SET_SPAN: u64 = 128 << 30;

impl AddrSet {
    /// Bits over `ranges` (else, if they span too much or the memory is refused, over
    /// `fallback`).
    fn new(ranges: Vec<(u64, u64)>, fallback: Vec<(u64, u64)>) -> AddrSet {
        let span: u64 = ranges.iter().map(|r| r.1).sum();
        if span <= MAX_SET_SPAN
            && let Some(set) = AddrSet::over(ranges)
        {
            set.fault_in(&fallback);
            return set;
        }
        AddrSet::over(fallback.clone())
            .inspect(|set| set.fault_in(&fallback))
            .unwrap_or_else(|| AddrSet {
                ranges: Vec::new(),
                bits: Vec::new(),
                other: Mutex::new(FxHashSet::default()),
            })
    }

    fn over(mut ranges: Vec<(u64, u64)>) -> Option<AddrSet> {
        ranges.sort_unstable();
        let mut out = Vec::with_capacity(ranges.len());
        let mut words = 0usize;
        for (start, len) in ranges {
            out.push((start, len, words));
            words += (len as usize / 8).div_ceil(64);
        }
        Some(AddrSet {
            ranges: out,
            bits: zeroed_bits(words)?,
            other: Mutex::new(FxHashSet::default()),
        })
    }

    /// Fault in, writable, the pages of bits over `copied` (where the walk finds objects)
    /// before the walk's threads start. A page of zeroed bits first read maps the kernel's
    /// zero page, and the write after it replaces that mapping, which flushes the TLB of
    /// every CPU running the walk: an interrupt to the other CPUs per page (4 % of a 5M
    /// census's samples here, in a VM). Faulted in by its first write, a page costs no flush.
    fn fault_in(&self, copied: &[(u64, u64)]) {
        const PAGE_WORDS: usize = 4096 / 8;
        let mut last = 0;
        for &(start, len) in copied {
            let (Some((w0, _)), Some((w1, _))) = (
                self.slot(start, &mut last),
                self.slot(start + len.saturating_sub(1), &mut last),
            ) else {
                continue;
            };
            let Some(words) = self.bits.get(w0..=w1) else {
                continue;
            };
            // whole pages in one call; the partial pages at the ends by a write
            let base = words.as_ptr() as usize;
            let end = base + std::mem::size_of_val(words);
            let (lo, hi) = (base.next_multiple_of(4096), end & !4095);
            let populated = hi > lo
                && std::ptr::NonNull::new(lo as *mut std::ffi::c_void).is_some_and(|p| {
                    // SAFETY: [lo, hi) is whole pages inside `bits`' allocation; populating
                    // faults them in without changing their contents
                    unsafe {
                        nix::sys::mman::madvise(
                            p,
                            hi - lo,
                            nix::sys::mman::MmapAdvise::MADV_POPULATE_WRITE,
                        )
                    }
                    .is_ok()
                });
            let step = if populated { words.len() } else { PAGE_WORDS };
            for w in words.iter().step_by(step).chain(words.last()) {
                // (zero already, and no thread reads the set yet: the store only makes the
                // page present and writable; an idempotent read-modify-write would be
                // compiled to a load)
                w.store(0, Ordering::Relaxed);
            }
        }
    }

    /// The word and bit of `addr`; `last` is the caller's guess of its range (updated).
    #[inline]
    fn slot(&self, addr: u64, last: &mut usize) -> Option<(usize, u64)> {
        let hit = |r: &(u64, u64, usize)| addr >= r.0 && addr < r.0 + r.1;
        let i = match self.ranges.get(*last) {
            Some(r) if hit(r) => *last,
            _ => {
                let i = self
                    .ranges
                    .partition_point(|r| r.0 <= addr)
                    .checked_sub(1)?;
                if !hit(&self.ranges[i]) {
                    return None;
                }
                *last = i;
                i
            }
        };
        let (start, _, base) = self.ranges[i];
        let bit = (addr - start) / 8;
        Some((base + (bit / 64) as usize, 1u64 << (bit % 64)))
    }

    /// Insert; false if it was there already.
    #[inline]
    fn insert(&self, addr: u64, last: &mut usize) -> bool {
        match self.slot(addr, last) {
            Some((w, mask)) => self.bits[w].fetch_or(mask, Ordering::Relaxed) & mask == 0,
            None => self
                .other
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(addr),
        }
    }

    #[inline]
    fn contains(&self, addr: u64, last: &mut usize) -> bool {
        match self.slot(addr, last) {
            Some((w, mask)) => self.bits[w].load(Ordering::Relaxed) & mask != 0,
            None => self
                .other
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&addr),
        }
    }
}

/// Per type: what the walk found of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    pub gc_count: u64,
    pub gc_bytes: u64,
    pub frozen_count: u64,
    pub frozen_bytes: u64,
    pub other_count: u64,
    pub other_bytes: u64,
}

/// Everything the walk found, aggregated (no per-object storage: a census of millions of
/// objects keeps only the dedupe set of untracked addresses while it runs).
pub struct HeapIndex {
    /// Indexed by [`TypeId`].
    pub tallies: Vec<Tally>,
    pub generation_objects: [u64; 4],
    /// The largest objects: (size, address, type), largest first.
    pub largest: Vec<(u64, u64, TypeId)>,
    /// Objects whose type pointer was not a type.
    pub invalid: u64,
    /// Lists that ended early (torn or garbage links).
    pub broken_lists: Vec<String>,
    /// The objects on the GC lists, for the graph (if the walker keeps them).
    pub graph: Option<Seed>,
}

impl HeapIndex {
    fn tally(&mut self, ty: TypeId) -> &mut Tally {
        tally_of(&mut self.tallies, ty)
    }
}

/// The tally of type `ty` in `tallies` (indexed by type id), made if new.
fn tally_of(tallies: &mut Vec<Tally>, ty: TypeId) -> &mut Tally {
    let i = ty as usize;
    if tallies.len() <= i {
        tallies.resize(i + 1, Tally::default());
    }
    &mut tallies[i]
}

/// Keeps the `k` largest (size, addr, type) seen; of equal sizes, the lowest addresses
/// (a strict order: the same whatever order they are seen in, by however many threads).
struct Largest {
    k: usize,
    heap: BinaryHeap<Reverse<(u64, Reverse<u64>, TypeId)>>,
}

impl Largest {
    fn push(&mut self, size: u64, addr: u64, ty: TypeId) {
        if self.k == 0 {
            return;
        }
        let item = (size, Reverse(addr), ty);
        if self.heap.len() < self.k {
            self.heap.push(Reverse(item));
        } else if self
            .heap
            .peek()
            .is_some_and(|Reverse(m)| (item.0, item.1) > (m.0, m.1))
        {
            self.heap.pop();
            self.heap.push(Reverse(item));
        }
    }
    /// Largest first; of equal sizes, lowest address first.
    fn into_sorted(self) -> Vec<(u64, u64, TypeId)> {
        let mut v: Vec<_> = self.heap.into_iter().map(|Reverse(x)| x).collect();
        v.sort_by(|a, b| b.cmp(a));
        v.into_iter().map(|(s, Reverse(a), t)| (s, a, t)).collect()
    }
}

pub struct Walker<'a, M: Memory + ?Sized> {
    pub m: &'a M,
    pub l: &'a Layout,
    pub types: TypeTable,
    /// Keep the GC objects' addresses in the index (for the object graph).
    pub keep_objects: bool,
    /// A small direct-mapped cache of (type address → id) in front of the type table.
    type_cache: [(u64, Option<TypeId>); 64],
    /// The set's dummy key (`_PySet_Dummy`), skipped in set tables.
    pub set_dummy: u64,
    /// Threads of [`Walker::index`] (None: by the heap's size and the CPUs).
    pub threads: Option<usize>,
}

const MASK: u64 = !3;

impl<'a, M: Memory + ?Sized> Walker<'a, M> {
    pub fn new(m: &'a M, l: &'a Layout, set_dummy: u64) -> Walker<'a, M> {
        Walker {
            m,
            l,
            types: TypeTable::default(),
            type_cache: [(0, None); 64],
            keep_objects: false,
            set_dummy,
            threads: None,
        }
    }

    /// The type id of the object at `addr` (its `ob_type`), if valid.
    #[inline]
    pub fn type_of(&mut self, addr: u64) -> Option<TypeId> {
        let t = self.m.ptr_at(addr.checked_add(self.l.ob_type)?)?;
        let slot = ((t >> 4) ^ (t >> 10)) as usize % 64;
        if self.type_cache[slot].0 == t {
            return self.type_cache[slot].1;
        }
        let id = self.types.lookup(self.m, self.l, t);
        self.type_cache[slot] = (t, id);
        id
    }

    /// Is the object (of type `ty`) on a GC list? As CPython's `_PyObject_GC_IS_TRACKED`: a GC
    /// type (static type objects excepted) and a non-zero `_gc_next` in the header before it.
    pub fn is_tracked(&self, addr: u64, ty: TypeId) -> bool {
        let t = self.types.get(ty);
        if !t.is_gc() {
            return false;
        }
        if t.kind == Kind::Type
            && self
                .m
                .u64_at(addr + self.l.tp_flags)
                .is_none_or(|f| f & super::layout::flags::HEAPTYPE == 0)
        {
            return false;
        }
        addr.checked_sub(self.l.gc_head_size)
            .and_then(|h| self.m.u64_at(h))
            .is_some_and(|next| next != 0)
    }

    /// Does the list at `head` close properly (links only, nothing decoded)?
    pub fn list_closes(&self, head: u64) -> bool {
        self.walk_list(head, |_| {})
    }

    /// Walk one circular GC list from its head, calling `f(object address)` for each node.
    /// Returns false if the list did not close properly.
    fn walk_list(&self, head: u64, mut f: impl FnMut(u64)) -> bool {
        let mut list = ListStep::new(self.m, head);
        loop {
            match list.next(self.m, self.l) {
                Step::Object(obj) => f(obj),
                Step::End => return true,
                Step::Broken => return false,
            }
        }
    }

    /// Walk the heap: each GC list, and for each tracked container the untracked objects it
    /// holds. `top` largest objects are kept. A big heap in a copy is walked on several
    /// threads (each with its own type table, merged into this walker's after), each
    /// following the lists for the next unit of objects when it needs one.
    pub fn index(&mut self, it: &Interpreter, top: usize) -> HeapIndex {
        let mut idx = HeapIndex {
            tallies: Vec::new(),
            generation_objects: [0; 4],
            largest: Vec::new(),
            invalid: 0,
            broken_lists: Vec::new(),
            graph: None,
        };
        let t_walk = std::time::Instant::now();
        let ranges = self.m.local_ranges();
        // (the lists' length is not known before they are walked: the copy's size tells)
        let threads =
            (self.threads).unwrap_or_else(|| walk_threads(ranges.iter().map(|r| r.1).sum()));
        let seen = AddrSet::new(self.m.region_ranges(), ranges);
        let nodes = self.keep_objects.then(|| Nodes::new(self.m.local_ranges()));
        let shared = self.m.shared_copy().filter(|_| threads > 1);
        let (parts, lists) = match shared {
            Some(copy) => self.index_parallel(copy, threads, it, &seen, nodes.as_ref(), top),
            None => {
                let mut lists = Lists::new(it, self.l);
                let (m, l) = (self.m, self.l);
                let part = self.walk_units(
                    || lists.next_unit(m, l),
                    &seen,
                    nodes.as_ref(),
                    top,
                    MAX_OTHER_OBJECTS,
                );
                (vec![part], lists.found())
            }
        };
        drop(seen);
        idx.generation_objects = lists.0;
        idx.broken_lists = lists.1;
        crate::timing!("walk: on {threads} thread(s) {:?}", t_walk.elapsed());
        let mut largest = Largest {
            k: top,
            heap: BinaryHeap::new(),
        };
        let mut frozen = Vec::new();
        let mut youngest: FxHashMap<TypeId, (usize, u64)> = FxHashMap::default();
        let mut count = 0;
        for part in parts {
            for (ty, t) in part.tallies.iter().enumerate() {
                if t.gc_count + t.frozen_count + t.other_count == 0 {
                    continue;
                }
                let tally = idx.tally(part.ids[ty]);
                tally.gc_count += t.gc_count;
                tally.gc_bytes = tally.gc_bytes.saturating_add(t.gc_bytes);
                tally.frozen_count += t.frozen_count;
                tally.frozen_bytes = tally.frozen_bytes.saturating_add(t.frozen_bytes);
                tally.other_count += t.other_count;
                tally.other_bytes = tally.other_bytes.saturating_add(t.other_bytes);
            }
            for (size, addr, ty) in part.largest {
                largest.push(size, addr, part.ids[ty as usize]);
            }
            idx.invalid += part.invalid;
            frozen.extend(part.frozen);
            count += part.nodes;
            for (ty, &(no, addr)) in part.youngest.iter().enumerate() {
                if no > 0 {
                    let at = youngest.entry(part.ids[ty]).or_default();
                    // (unit numbers + 1: 0 is none) furthest along the lists, whichever
                    // thread took it
                    *at = (*at).max((no - 1, addr));
                }
            }
        }
        idx.graph = nodes.map(|nodes| Seed {
            nodes,
            count,
            frozen,
            youngest,
        });
        idx.largest = largest.into_sorted();
        idx
    }

    /// The heap walked on `threads` threads, each over its own view of `copy`, each taking the
    /// next unit of the lists as it needs one (see [`Lists`]); their type ids mapped to this
    /// walker's. (A thread that followed the lists ahead of the walkers, a few units ahead,
    /// kept three threads on two CPUs and left walkers waiting for it to be woken: 1M
    /// objects, 15 runs interleaved, e2e median 108.4 / 106.9 ms vs 116.1 / 114.5 ms; 5M,
    /// 401 / 409 ms vs 433 / 419 ms.)
    #[allow(clippy::type_complexity)]
    fn index_parallel(
        &mut self,
        copy: &CopyData,
        threads: usize,
        it: &Interpreter,
        seen: &AddrSet,
        nodes: Option<&Nodes>,
        top: usize,
    ) -> (Vec<Part>, ([u64; 4], Vec<String>)) {
        let lists = Mutex::new(Lists::new(it, self.l));
        let done: Mutex<Vec<(TypeTable, Part)>> = Mutex::new(Vec::new());
        let (l, set_dummy, keep) = (self.l, self.set_dummy, self.keep_objects);
        let native = self.types.native.clone();
        super::copy::on_threads(threads, || {
            let view = copy.view();
            // (the lists are read through a view of their own: the walker's is borrowed)
            let follow = copy.view();
            let mut w = Walker::new(&view, l, set_dummy);
            w.keep_objects = keep;
            w.types.native = native.clone();
            let next = || {
                lists
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .next_unit(&follow, l)
            };
            let part = w.walk_units(next, seen, nodes, top, MAX_OTHER_OBJECTS / threads);
            let types = std::mem::take(&mut w.types);
            done.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((types, part));
        });
        let done = done.into_inner().unwrap_or_else(|e| e.into_inner());
        let parts = done
            .into_iter()
            .map(|(types, mut part)| {
                part.ids = types
                    .types
                    .into_iter()
                    .map(|t| self.types.adopt(t))
                    .collect();
                part
            })
            .collect();
        let lists = lists
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .found();
        (parts, lists)
    }

    /// Walk the units taken from `next` in turn: the objects on the lists, and the untracked
    /// objects they hold (each counted by the thread that inserts it into `seen` first).
    fn walk_units(
        &mut self,
        mut next: impl FnMut() -> Option<Unit>,
        seen: &AddrSet,
        nodes: Option<&Nodes>,
        top: usize,
        other_cap: usize,
    ) -> Part {
        let mut part = Part {
            largest: Vec::new(),
            tallies: Vec::new(),
            invalid: 0,
            nodes: 0,
            frozen: Vec::new(),
            youngest: Vec::new(),
            ids: Vec::new(),
        };
        let mut largest = Largest {
            k: top,
            heap: BinaryHeap::new(),
        };
        let mut u = Untracked {
            work: Vec::new(),
            pending: Vec::new(),
            batch: Vec::new(),
            others: 0,
            cap: other_cap,
            seen,
            last: 0,
        };
        while let Some(Unit { no, g, objects }) = next() {
            for (i, &addr) in objects.iter().enumerate() {
                // the objects a few steps ahead are fetched into the cache meanwhile
                if let Some(&ahead) = objects.get(i + 8) {
                    self.m.prefetch(ahead.wrapping_sub(self.l.gc_head_size));
                    self.m.prefetch(ahead.wrapping_add(16));
                }
                let Some(ty) = self.type_of(addr) else {
                    part.invalid += 1;
                    continue;
                };
                let t = self.types.get(ty);
                let size = objects::getsizeof(self.m, self.l, addr, t);
                let tally = part.tally(ty);
                if g == 3 {
                    tally.frozen_count += 1;
                    tally.frozen_bytes = tally.frozen_bytes.saturating_add(size);
                } else {
                    tally.gc_count += 1;
                    tally.gc_bytes = tally.gc_bytes.saturating_add(size);
                }
                largest.push(size, addr, ty);
                if let Some(nodes) = nodes {
                    nodes.insert(addr);
                    part.nodes += 1;
                    if g == 3 {
                        part.frozen.push(addr);
                    }
                    let i = ty as usize;
                    if part.youngest.len() <= i {
                        part.youngest.resize(i + 1, (0, 0));
                    }
                    part.youngest[i] = (no + 1, addr);
                }

                // the untracked objects this container holds are read in batches, a
                // bounded chunk of a container at a time, so that the objects of a batch
                // can be fetched into the cache ahead of their turn
                u.work.push((addr, ty, 0u8, 0u64));
                self.referents_of(&mut u);
                if u.pending.len() >= BATCH {
                    self.count_untracked(&mut u, &mut part, &mut largest);
                }
            }
            self.count_untracked(&mut u, &mut part, &mut largest);
        }
        part.largest = largest.into_sorted();
        // (one walker: its ids are the table's)
        part.ids = (0..self.types.types.len() as TypeId).collect();
        part
    }

    /// Read the referents of the containers on `u.work` (each a bounded chunk at a time) into
    /// `u.pending`, with the depth of their container.
    fn referents_of(&self, u: &mut Untracked) {
        let (work, pending) = (&mut u.work, &mut u.pending);
        while let Some((obj, oty, depth, start)) = work.pop() {
            let next = objects::referents_chunk(
                self.m,
                self.l,
                obj,
                self.types.get(oty),
                self.set_dummy,
                start,
                objects::REFERENT_CHUNK,
                &mut |r| pending.push((r, depth)),
            );
            if let Some(n) = next {
                work.push((obj, oty, depth, n));
                if pending.len() >= BATCH {
                    // (a big container is read a chunk at a time between batches)
                    return;
                }
            }
        }
    }

    /// Count the untracked objects among the referents in `u.pending` (each by the thread
    /// that inserts it into `u.seen` first), fetching each a few places ahead of its turn;
    /// untracked tuples and dicts among them (and numpy views' bases) are expanded in turn,
    /// until nothing is left to read.
    fn count_untracked(&mut self, u: &mut Untracked, part: &mut Part, largest: &mut Largest) {
        const AHEAD: usize = 16;
        loop {
            std::mem::swap(&mut u.pending, &mut u.batch);
            if u.batch.is_empty() {
                if u.work.is_empty() {
                    return;
                }
                self.referents_of(u);
                continue;
            }
            for &(r, _) in u.batch.iter().take(AHEAD) {
                self.m.prefetch(r.wrapping_add(self.l.ob_type));
            }
            for j in 0..u.batch.len() {
                let (r, depth) = u.batch[j];
                if let Some(&(ahead, _)) = u.batch.get(j + AHEAD) {
                    self.m.prefetch(ahead.wrapping_add(self.l.ob_type));
                }
                if u.others >= u.cap || u.seen.contains(r, &mut u.last) {
                    continue;
                }
                let Some(rty) = self.type_of(r) else {
                    continue;
                };
                if self.is_tracked(r, rty) || !u.seen.insert(r, &mut u.last) {
                    continue;
                }
                u.others += 1;
                let rt = self.types.get(rty);
                let size = objects::getsizeof(self.m, self.l, r, rt);
                // (and a numpy view's base, which the GC does not know)
                let expand = matches!(rt.kind, Kind::Tuple | Kind::Dict | Kind::NdArray)
                    && depth < MAX_UNTRACKED_DEPTH;
                let tally = part.tally(rty);
                tally.other_count += 1;
                tally.other_bytes = tally.other_bytes.saturating_add(size);
                largest.push(size, r, rty);
                if expand {
                    u.work.push((r, rty, depth + 1, 0));
                }
            }
            u.batch.clear();
            self.referents_of(u);
        }
    }
}

/// What a thread of the walk keeps while it counts untracked objects.
struct Untracked<'s> {
    /// Containers whose referents are being read.
    work: Vec<Expand>,
    /// Referents read and not yet counted (address, depth of their container), and the
    /// batch being counted.
    pending: Vec<(u64, u8)>,
    batch: Vec<(u64, u8)>,
    /// Untracked objects this thread counted, and the most it may.
    others: usize,
    cap: usize,
    /// The walk's set of objects seen, and this thread's guess of the range in it.
    seen: &'s AddrSet,
    last: usize,
}

/// A container whose referents are being read: (object, type, depth, next item).
type Expand = (u64, TypeId, u8, u64);

/// Referents read before they are counted in one batch.
const BATCH: usize = 2048;

/// One step along a circular GC list: the next object, the list's end (back at its head), or
/// a link that does not hold (the node does not link back, points nowhere, or the list is
/// longer than any heap).
enum Step {
    Object(u64),
    End,
    Broken,
}

/// A GC list being followed from its head, a step at a time.
struct ListStep {
    head: u64,
    prev: u64,
    /// The node to visit next (`None` if the head was unreadable).
    node: Option<u64>,
    n: u64,
}

impl ListStep {
    fn new<M: Memory + ?Sized>(m: &M, head: u64) -> ListStep {
        ListStep {
            head,
            prev: head,
            node: m.u64_at(head).map(|first| first & MASK),
            n: 0,
        }
    }

    fn next<M: Memory + ?Sized>(&mut self, m: &M, l: &Layout) -> Step {
        let Some(node) = self.node else {
            return Step::Broken;
        };
        if node == self.head {
            return Step::End;
        }
        if node == 0 || node >= MAX_ADDR || self.n >= MAX_LIST_OBJECTS {
            return Step::Broken;
        }
        // the node must link back to where we came from
        let Some(back) = node.checked_add(8).and_then(|a| m.u64_at(a)) else {
            return Step::Broken;
        };
        if back & MASK != self.prev {
            return Step::Broken;
        }
        let (Some(obj), Some(next)) = (node.checked_add(l.gc_head_size), m.u64_at(node)) else {
            return Step::Broken;
        };
        self.n += 1;
        self.prev = node;
        self.node = Some(next & MASK);
        Step::Object(obj)
    }
}

/// The four GC lists followed a unit of [`UNIT`] objects at a time, by whichever thread of
/// the walk needs one next: what it just followed is in its cache when it walks it, and no
/// thread beside the walkers waits to be woken.
struct Lists {
    heads: [u64; 4],
    /// The list being followed (4: all done) and where in it.
    g: usize,
    at: Option<ListStep>,
    counts: [u64; 4],
    broken: Vec<String>,
    /// Units handed out so far.
    no: usize,
}

impl Lists {
    fn new(it: &Interpreter, l: &Layout) -> Lists {
        Lists {
            heads: std::array::from_fn(|g| it.generation_head(l, g)),
            g: 0,
            at: None,
            counts: [0; 4],
            broken: Vec::new(),
            no: 0,
        }
    }

    /// The next unit: up to [`UNIT`] objects of one list, in list order; `None` once every
    /// list was followed to its end (or to where it broke).
    fn next_unit<M: Memory + ?Sized>(&mut self, m: &M, l: &Layout) -> Option<Unit> {
        while self.g < 4 {
            let g = self.g;
            let list = self
                .at
                .get_or_insert_with(|| ListStep::new(m, self.heads[g]));
            let mut objects = Vec::with_capacity(UNIT);
            let ended = loop {
                if objects.len() == UNIT {
                    break false;
                }
                match list.next(m, l) {
                    Step::Object(obj) => objects.push(obj),
                    Step::End => break true,
                    Step::Broken => {
                        self.broken.push(if g == 3 {
                            "permanent generation".to_string()
                        } else {
                            format!("generation {g}")
                        });
                        break true;
                    }
                }
            };
            self.counts[g] += objects.len() as u64;
            if ended {
                self.g += 1;
                self.at = None;
            }
            if !objects.is_empty() {
                self.no += 1;
                return Some(Unit {
                    no: self.no - 1,
                    g: g as u8,
                    objects,
                });
            }
        }
        None
    }

    /// Objects per list, and the names of the lists that did not close.
    fn found(self) -> ([u64; 4], Vec<String>) {
        (self.counts, self.broken)
    }
}

/// Objects of one GC list handed to a thread of the walk: the `no`th unit of the walk.
struct Unit {
    no: usize,
    g: u8,
    objects: Vec<u64>,
}

/// Objects per unit of a (parallel) walk: followed, then walked while in the walker's cache
/// (1M objects, walk medians over 10 interleaved runs: 47.8 ms at 2048, 48.7 at 4096, 49.7
/// and 50.1 at 8192).
const UNIT: usize = 2048;
/// A copy smaller than this is walked by one thread (about 100 k objects).
const PARALLEL_MIN_BYTES: u64 = 16 << 20;
/// Most threads a walk uses.
const MAX_WALK_THREADS: usize = 4;

/// Threads for a walk of a copy of `bytes`: the CPUs (up to [`MAX_WALK_THREADS`]) for a big
/// heap, else one. `MEMWATCH_WALK_THREADS` overrides (for benchmarks and tests).
fn walk_threads(bytes: u64) -> usize {
    if let Some(n) = std::env::var("MEMWATCH_WALK_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return n.clamp(1, MAX_WALK_THREADS);
    }
    if bytes < PARALLEL_MIN_BYTES {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_WALK_THREADS)
}

/// What one thread of a walk found, by its own type ids; `ids` maps them to the walker's.
struct Part {
    tallies: Vec<Tally>,
    largest: Vec<(u64, u64, TypeId)>,
    invalid: u64,
    /// GC objects put into the graph's nodes, the frozen ones among them, and per type (by
    /// this part's ids) the one furthest along the lists: (unit number + 1, address).
    nodes: usize,
    frozen: Vec<u64>,
    youngest: Vec<(usize, u64)>,
    ids: Vec<TypeId>,
}

impl Part {
    fn tally(&mut self, ty: TypeId) -> &mut Tally {
        tally_of(&mut self.tallies, ty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_set_over_regions_too_big_falls_back_to_the_copy() {
        let copied = vec![(0x10_0000u64, 0x1000u64)];
        // a region of a terabyte: its bits would be 16 GiB; the copied range's are used
        let set = AddrSet::new(vec![(0x10_0000, 1 << 40)], copied.clone());
        assert_eq!(set.ranges.len(), 1);
        assert_eq!(set.ranges[0].1, 0x1000);
        let mut last = 0;
        for addr in [0x10_0008u64, 0x10_0ff8, 0x20_0000, 0x10_0000 + (1 << 39)] {
            assert!(!set.contains(addr, &mut last));
            assert!(set.insert(addr, &mut last), "{addr:#x} first insert");
            assert!(!set.insert(addr, &mut last), "{addr:#x} second insert");
            assert!(set.contains(addr, &mut last));
        }
        // (inside the bits, and outside them in the hash set)
        assert_eq!(set.other.lock().unwrap().len(), 2);
        // regions of a sane size: bits over them whole
        let set = AddrSet::new(vec![(0x10_0000, 64 << 20)], copied);
        assert_eq!(set.ranges[0].1, 64 << 20);
        assert_eq!(set.bits.len(), (64 << 20) / 8 / 64);
        assert!(set.bits.iter().all(|b| b.load(Ordering::Relaxed) == 0));
    }

    #[test]
    fn the_bits_over_the_copy_are_faulted_in_before_the_walk() {
        // a region of 4 GiB (64 MiB of bits), of which 256 MiB at its middle are copied
        let (start, len) = (1u64 << 40, 4u64 << 30);
        let copied = (start + (2 << 30), 256u64 << 20);
        let set = AddrSet::new(vec![(start, len)], vec![copied]);
        assert_eq!(set.ranges.len(), 1);
        let bits = |a: u64, b: u64| {
            let (mut last, mut last2) = (0, 0);
            let w0 = set.slot(a, &mut last).unwrap().0;
            let w1 = set.slot(b, &mut last2).unwrap().0;
            let p = set.bits[w0..=w1].as_ptr() as u64;
            (p, (w1 + 1 - w0) as u64 * 8)
        };
        let me = std::process::id() as i32;
        let present = |(p, n): (u64, u64)| -> u64 {
            crate::heap::dirty::resident(me, &[(p & !4095, (p + n).next_multiple_of(4096))])
                .unwrap()
                .iter()
                .map(|r| r.1 - r.0)
                .sum()
        };
        // the bits over the copy: 4 MiB, all in (written, not the zero page)
        let over = bits(copied.0, copied.0 + copied.1 - 1);
        assert_eq!(over.1, 4 << 20);
        assert!(
            present(over) >= over.1,
            "{} of {} bytes in",
            present(over),
            over.1
        );
        // the bits over the first GiB, not copied: not in
        let before = bits(start, start + (1 << 30) - 1);
        assert!(present(before) < 64 << 10, "{} bytes in", present(before));
        assert!(set.bits.iter().all(|b| b.load(Ordering::Relaxed) == 0));
    }
}
