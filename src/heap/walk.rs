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

use rustc_hash::FxHashSet;

use super::layout::Layout;
use super::memory::{MAX_ADDR, Memory, MemoryExt};
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

/// A set of object addresses: one bit per 8 bytes of each local range (a few MB for a heap
/// of hundreds, cache-friendly), a hash set for addresses outside them.
struct AddrSet {
    ranges: Vec<(u64, u64, usize)>,
    bits: Vec<u64>,
    other: FxHashSet<u64>,
    last: usize,
    len: usize,
}

impl AddrSet {
    fn new(mut ranges: Vec<(u64, u64)>) -> AddrSet {
        ranges.sort_unstable();
        let mut out = Vec::with_capacity(ranges.len());
        let mut words = 0usize;
        for (start, len) in ranges {
            out.push((start, len, words));
            words += (len as usize / 8).div_ceil(64);
        }
        AddrSet {
            ranges: out,
            bits: vec![0; words],
            other: FxHashSet::default(),
            last: 0,
            len: 0,
        }
    }

    #[inline]
    fn slot(&mut self, addr: u64) -> Option<(usize, u64)> {
        let hit = |r: &(u64, u64, usize)| addr >= r.0 && addr < r.0 + r.1;
        let i = match self.ranges.get(self.last) {
            Some(r) if hit(r) => self.last,
            _ => {
                let i = self
                    .ranges
                    .partition_point(|r| r.0 <= addr)
                    .checked_sub(1)?;
                if !hit(&self.ranges[i]) {
                    return None;
                }
                self.last = i;
                i
            }
        };
        let (start, _, base) = self.ranges[i];
        let bit = (addr - start) / 8;
        Some((base + (bit / 64) as usize, 1u64 << (bit % 64)))
    }

    /// Insert; false if it was there already.
    #[inline]
    fn insert(&mut self, addr: u64) -> bool {
        let fresh = match self.slot(addr) {
            Some((w, mask)) => {
                let fresh = self.bits[w] & mask == 0;
                self.bits[w] |= mask;
                fresh
            }
            None => self.other.insert(addr),
        };
        self.len += fresh as usize;
        fresh
    }

    #[inline]
    fn contains(&mut self, addr: u64) -> bool {
        match self.slot(addr) {
            Some((w, mask)) => self.bits[w] & mask != 0,
            None => self.other.contains(&addr),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct GcObject {
    pub addr: u64,
    pub generation: u8,
    pub ty: TypeId,
    pub size: u64,
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
    /// Every object on the GC lists, for the graph: address, generation (3: permanent),
    /// type and size.
    pub gc_objects: Vec<GcObject>,
}

impl HeapIndex {
    fn tally(&mut self, ty: TypeId) -> &mut Tally {
        let i = ty as usize;
        if self.tallies.len() <= i {
            self.tallies.resize(i + 1, Tally::default());
        }
        &mut self.tallies[i]
    }
}

/// Keeps the `k` largest (size, addr, type) seen.
struct Largest {
    k: usize,
    heap: BinaryHeap<Reverse<(u64, u64, TypeId)>>,
}

impl Largest {
    fn push(&mut self, size: u64, addr: u64, ty: TypeId) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Reverse((size, addr, ty)));
        } else if self.heap.peek().is_some_and(|Reverse(m)| size > m.0) {
            self.heap.pop();
            self.heap.push(Reverse((size, addr, ty)));
        }
    }
    fn into_sorted(self) -> Vec<(u64, u64, TypeId)> {
        let mut v: Vec<_> = self.heap.into_iter().map(|Reverse(x)| x).collect();
        v.sort_by(|a, b| b.cmp(a));
        v
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
        let m = self.m;
        let Some(first) = m.u64_at(head) else {
            return false;
        };
        let mut node = first & MASK;
        let mut prev = head;
        let mut n = 0u64;
        while node != head {
            if node == 0 || node >= MAX_ADDR || n >= MAX_LIST_OBJECTS {
                return false;
            }
            // the node must link back to where we came from
            let Some(back) = node.checked_add(8).and_then(|a| m.u64_at(a)) else {
                return false;
            };
            if back & MASK != prev {
                return false;
            }
            let Some(obj) = node.checked_add(self.l.gc_head_size) else {
                return false;
            };
            f(obj);
            n += 1;
            let Some(next) = m.u64_at(node) else {
                return false;
            };
            prev = node;
            node = next & MASK;
        }
        true
    }

    /// Walk the heap: each GC list, and for each tracked container the untracked objects it
    /// holds. `top` largest objects are kept.
    pub fn index(&mut self, it: &Interpreter, top: usize) -> HeapIndex {
        let mut idx = HeapIndex {
            tallies: Vec::new(),
            generation_objects: [0; 4],
            largest: Vec::new(),
            invalid: 0,
            broken_lists: Vec::new(),
            gc_objects: Vec::new(),
        };
        let mut largest = Largest {
            k: top,
            heap: BinaryHeap::new(),
        };
        let mut lists: [Vec<u64>; 4] = Default::default();
        for (g, list) in lists.iter_mut().enumerate() {
            let head = it.generation_head(self.l, g);
            let ok = self.walk_list(head, |obj| list.push(obj));
            idx.generation_objects[g] = list.len() as u64;
            if !ok {
                idx.broken_lists.push(if g == 3 {
                    "permanent generation".to_string()
                } else {
                    format!("generation {g}")
                });
            }
        }
        let mut seen = AddrSet::new(self.m.local_ranges());
        let mut refs: Vec<u64> = Vec::new();
        // containers whose referents are being read: (object, type, depth, next item)
        let mut work: Vec<(u64, TypeId, u8, u64)> = Vec::new();
        for (g, gc_objects) in lists.iter().enumerate() {
            for (i, &addr) in gc_objects.iter().enumerate() {
                // the objects a few steps ahead are fetched into the cache meanwhile
                if let Some(&ahead) = gc_objects.get(i + 8) {
                    self.m.prefetch(ahead.wrapping_sub(self.l.gc_head_size));
                    self.m.prefetch(ahead.wrapping_add(16));
                }
                let Some(ty) = self.type_of(addr) else {
                    idx.invalid += 1;
                    continue;
                };
                let t = self.types.get(ty);
                let size = objects::getsizeof(self.m, self.l, addr, t);
                let tally = idx.tally(ty);
                if g == 3 {
                    tally.frozen_count += 1;
                    tally.frozen_bytes = tally.frozen_bytes.saturating_add(size);
                } else {
                    tally.gc_count += 1;
                    tally.gc_bytes = tally.gc_bytes.saturating_add(size);
                }
                largest.push(size, addr, ty);
                if self.keep_objects {
                    idx.gc_objects.push(GcObject {
                        addr,
                        generation: g as u8,
                        ty,
                        size,
                    });
                }

                // the untracked objects this container holds, a bounded chunk at a time;
                // untracked tuples and dicts among them are expanded in turn
                work.push((addr, ty, 0u8, 0u64));
                while let Some((obj, oty, depth, start)) = work.pop() {
                    refs.clear();
                    let next = objects::referents_chunk(
                        self.m,
                        self.l,
                        obj,
                        self.types.get(oty),
                        self.set_dummy,
                        start,
                        objects::REFERENT_CHUNK,
                        &mut |r| refs.push(r),
                    );
                    if let Some(n) = next {
                        work.push((obj, oty, depth, n));
                    }
                    for &r in &refs {
                        self.m.prefetch(r);
                    }
                    for &r in &refs {
                        if seen.len >= MAX_OTHER_OBJECTS || seen.contains(r) {
                            continue;
                        }
                        let Some(rty) = self.type_of(r) else {
                            continue;
                        };
                        if self.is_tracked(r, rty) {
                            continue;
                        }
                        seen.insert(r);
                        let rt = self.types.get(rty);
                        let size = objects::getsizeof(self.m, self.l, r, rt);
                        // (and a numpy view's base, which the GC does not know)
                        let expand = matches!(rt.kind, Kind::Tuple | Kind::Dict | Kind::NdArray)
                            && depth < MAX_UNTRACKED_DEPTH;
                        let tally = idx.tally(rty);
                        tally.other_count += 1;
                        tally.other_bytes = tally.other_bytes.saturating_add(size);
                        largest.push(size, r, rty);
                        if expand {
                            work.push((r, rty, depth + 1, 0));
                        }
                    }
                }
            }
        }
        idx.largest = largest.into_sorted();
        idx
    }
}
