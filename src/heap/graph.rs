//! The object graph of a census copy, for two questions the gc itself answers:
//!
//! * **What is cyclic garbage?** The gc's own reasoning: `gc_refs = refcount − references
//!   from other tracked objects`; objects with `gc_refs > 0` are referenced from outside the
//!   heap (frames, C code) and so reachable, with everything they reach; the rest is garbage
//!   that only a collection can free. Objects whose references memwatch cannot enumerate
//!   (frames, generators, C extension types, classes) are treated as reachable, so garbage is
//!   never reported wrongly — only possibly missed.
//! * **Why is this alive?** A chain from a root (a module global, a class attribute, an
//!   object referenced from outside the heap) to a representative object: the shortest, found
//!   by a breadth-first search from all roots at once.
//!
//! Nodes are the objects on the GC lists, numbered by address; their edges (labelled strong
//! references) are not stored but read again from the copy, which is in memory anyway, at
//! each pass over the graph: the graph costs about 9 bytes an object (its type, a counter while
//! it is built, a few bits), where storing the edges both ways took over 50. Only the
//! garbage found is made into a graph with its edges (see [`Sub`]).

use std::collections::VecDeque;
use std::ops::ControlFlow;

use rustc_hash::{FxHashMap, FxHashSet};

use super::census::{CyclePattern, CycleReport, WhyAlive};
use super::dicts::Table;
use super::layout::Layout;
use super::memory::{Memory, MemoryExt, read_array};
use super::objects::{self, is_python_class};
use super::strings;
use super::types::{Kind, TypeId, TypeInfo};
use super::walk::Walker;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Graphs above this many nodes are not built (the census stays within its budget).
pub const MAX_NODES: usize = 4_000_000;
const MAX_PATTERNS: usize = 10;
/// Garbage nodes made into a graph with their edges (the rest is counted only).
const MAX_GARBAGE: usize = 1_000_000;
/// The type of a node whose type could not be read.
const NO_TYPE: TypeId = TypeId::MAX;
/// No node (a parent not set).
const NO_NODE: u32 = u32::MAX;

/// A labelled edge: what the reference is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Label {
    /// Item `i` of a list or tuple.
    Item(u32),
    /// Value under a str key (the key's address) of a dict; or a module global.
    Value(u64),
    /// A dict key (a GC object used as key) or a set member.
    Key,
    /// An instance attribute (name str address).
    Attr(u64),
    /// A `__slots__` member (offset into the object).
    Slot(u64),
    /// The instance's `__dict__` object.
    InstanceDict,
    /// `type(obj)`.
    Type,
    /// A cell's content, a bound method's `__self__` / `__func__`, a function's field…
    Field(&'static str),
}

/// What the graph keeps of an edge's label: a byte, what the analyses decide by; the label
/// itself is read again for the few edges a report names (see [`Graph::label`]), so a
/// million edges cost 5 MB, not 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Via {
    Type,
    InstanceDict,
    Value,
    Other,
}

impl Via {
    fn of(label: &Label) -> Via {
        match label {
            Label::Type => Via::Type,
            Label::InstanceDict => Via::InstanceDict,
            Label::Value(_) => Via::Value,
            _ => Via::Other,
        }
    }
}

/// One bit per node.
#[derive(Clone)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }

    #[inline]
    fn get(&self, i: u32) -> bool {
        self.0
            .get(i as usize / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn clear(&mut self, i: u32) {
        if let Some(w) = self.0.get_mut(i as usize / 64) {
            *w &= !(1 << (i % 64));
        }
    }

    #[inline]
    fn set(&mut self, i: u32) {
        if let Some(w) = self.0.get_mut(i as usize / 64) {
            *w |= 1 << (i % 64);
        }
    }
}

/// The objects on the GC lists as a walk finds them, for the graph: a bit per 16 bytes of the
/// copy's local ranges, set by the walk's threads (~1 % of the copy, where a list of their
/// addresses took 8 bytes an object), and a list of those outside them.
pub struct Nodes {
    ranges: Vec<(u64, u64, usize)>,
    bits: Vec<AtomicU64>,
    other: Mutex<Vec<u64>>,
}

impl Nodes {
    pub fn new(mut ranges: Vec<(u64, u64)>) -> Nodes {
        ranges.sort_unstable();
        let mut out = Vec::with_capacity(ranges.len());
        let mut words = 0usize;
        for (start, len) in ranges {
            out.push((start, len, words));
            words += ((len / 16) as usize).div_ceil(64);
        }
        Nodes {
            ranges: out,
            bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
            other: Mutex::new(Vec::new()),
        }
    }

    pub fn insert(&self, addr: u64) {
        if addr.is_multiple_of(16)
            && let Some(i) = self.ranges.partition_point(|r| r.0 <= addr).checked_sub(1)
            && let (start, len, base) = self.ranges[i]
            && addr < start + len
        {
            let bit = (addr - start) / 16;
            if let Some(w) = self.bits.get(base + (bit / 64) as usize) {
                w.fetch_or(1 << (bit % 64), Ordering::Relaxed);
                return;
            }
        }
        self.other
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(addr);
    }

    /// Their addresses, ascending (for tests).
    #[cfg(test)]
    pub fn addrs(self) -> Vec<u64> {
        let index = NodeIndex::of(self);
        let mut out = Vec::new();
        index.for_each(|_, a| {
            out.push(a);
            ControlFlow::Continue(())
        });
        out.sort_unstable();
        out
    }
}

/// What a walk gives the graph: the nodes, the frozen ones among them (the permanent
/// generation's), and per type the object furthest along the lists (the youngest: new objects
/// go to the end), as (unit of the walk, address).
pub struct Seed {
    pub nodes: Nodes,
    pub count: usize,
    pub frozen: Vec<u64>,
    pub youngest: FxHashMap<TypeId, (usize, u64)>,
}

/// The type of each node: two bytes each while the census knows fewer than 65 535 types.
enum NodeTypes {
    Small(Vec<u16>),
    Large(Vec<TypeId>),
}

impl NodeTypes {
    fn new(len: usize, types: usize) -> NodeTypes {
        if types < u16::MAX as usize {
            NodeTypes::Small(vec![u16::MAX; len])
        } else {
            NodeTypes::Large(vec![NO_TYPE; len])
        }
    }

    #[inline]
    fn get(&self, id: u32) -> TypeId {
        match self {
            NodeTypes::Small(v) => match v.get(id as usize) {
                Some(&u16::MAX) | None => NO_TYPE,
                Some(&t) => t as TypeId,
            },
            NodeTypes::Large(v) => v.get(id as usize).copied().unwrap_or(NO_TYPE),
        }
    }

    fn set(&mut self, id: u32, ty: TypeId) {
        match self {
            NodeTypes::Small(v) => {
                if let Some(slot) = v.get_mut(id as usize) {
                    *slot = if ty < u16::MAX as TypeId {
                        ty as u16
                    } else {
                        u16::MAX
                    };
                }
            }
            NodeTypes::Large(v) => {
                if let Some(slot) = v.get_mut(id as usize) {
                    *slot = ty;
                }
            }
        }
    }
}

/// A signed count per node, two bytes each; counts that leave that range are kept exactly in
/// a map (a node held from tens of thousands of places is rare).
struct Counts {
    small: Vec<i16>,
    big: FxHashMap<u32, i64>,
}

impl Counts {
    /// In `small`: the count is in `big`.
    const BIG: i16 = i16::MIN;

    fn new(len: usize) -> Counts {
        Counts {
            small: vec![0; len],
            big: FxHashMap::default(),
        }
    }

    #[inline]
    fn add(&mut self, id: u32, delta: i64) {
        let Some(c) = self.small.get_mut(id as usize) else {
            return;
        };
        if *c != Counts::BIG {
            let v = *c as i64 + delta;
            if v > Counts::BIG as i64 && v <= i16::MAX as i64 {
                *c = v as i16;
                return;
            }
            self.big.insert(id, *c as i64);
            *c = Counts::BIG;
        }
        let v = self.big.entry(id).or_default();
        *v = v.saturating_add(delta);
    }

    fn is_zero(&self, id: u32) -> bool {
        match self.small.get(id as usize) {
            Some(&Counts::BIG) => self.big.get(&id).is_none_or(|&v| v == 0),
            Some(&c) => c == 0,
            None => true,
        }
    }
}

/// Address → node: a bitmap over the copy's regions (one bit per 16 bytes: GC objects are
/// 16-byte aligned) with the rank of each word — a node's id is the rank of its address (~1 %
/// of the copy, and no id per node) — and a hash map for anything else (ids after those).
struct NodeIndex {
    /// (start, len, first word) of each local range.
    ranges: Vec<(u64, u64, usize)>,
    /// One bit per 16 bytes of the ranges: a node starts there.
    bits: Vec<u64>,
    /// Per word of `bits`: the nodes in the words before it (after [`NodeIndex::seal`]).
    ranks: Vec<u32>,
    /// Nodes in the ranges (after [`NodeIndex::seal`]).
    local: u32,
    /// Addresses outside the ranges → their place in `other_addrs`.
    other: FxHashMap<u64, u32>,
    other_addrs: Vec<u64>,
    last: std::cell::Cell<usize>,
}

impl NodeIndex {
    /// The word and bit of `addr` in `bits`.
    #[inline]
    fn slot(&self, addr: u64) -> Option<(usize, u64)> {
        if !addr.is_multiple_of(16) {
            return None;
        }
        let hit = |r: &(u64, u64, usize)| addr >= r.0 && addr < r.0 + r.1;
        let i = match self.ranges.get(self.last.get()) {
            Some(r) if hit(r) => self.last.get(),
            _ => {
                let i = self
                    .ranges
                    .partition_point(|r| r.0 <= addr)
                    .checked_sub(1)?;
                if !hit(&self.ranges[i]) {
                    return None;
                }
                self.last.set(i);
                i
            }
        };
        let (start, _, base) = self.ranges[i];
        let bit = (addr - start) / 16;
        Some((base + (bit / 64) as usize, 1u64 << (bit % 64)))
    }

    /// The node at `addr` (after [`NodeIndex::seal`]).
    #[inline]
    fn get(&self, addr: u64) -> Option<u32> {
        match self.slot(addr) {
            Some((w, mask)) => {
                let word = *self.bits.get(w)?;
                if word & mask == 0 {
                    return None;
                }
                Some(*self.ranks.get(w)? + (word & (mask - 1)).count_ones())
            }
            None => self.other.get(&addr).map(|&k| self.local + k),
        }
    }

    /// The index of the nodes a walk found, sealed.
    fn of(nodes: Nodes) -> NodeIndex {
        let Nodes {
            ranges,
            bits,
            other,
        } = nodes;
        let mut index = NodeIndex {
            ranges,
            bits: bits.into_iter().map(AtomicU64::into_inner).collect(),
            ranks: Vec::new(),
            local: 0,
            other: FxHashMap::default(),
            other_addrs: Vec::new(),
            last: std::cell::Cell::new(0),
        };
        for a in other.into_inner().unwrap_or_else(|e| e.into_inner()) {
            index.insert(a);
        }
        index.seal();
        index
    }

    /// Make `addr` a node (before [`NodeIndex::seal`]).
    fn insert(&mut self, addr: u64) {
        match self.slot(addr) {
            Some((w, mask)) => self.bits[w] |= mask,
            None => {
                let k = self.other_addrs.len() as u32;
                if let std::collections::hash_map::Entry::Vacant(e) = self.other.entry(addr) {
                    e.insert(k);
                    self.other_addrs.push(addr);
                }
            }
        }
    }

    /// Ready for lookups: the ids are given.
    fn seal(&mut self) {
        let mut total = 0u32;
        self.ranks = self
            .bits
            .iter()
            .map(|w| {
                let r = total;
                total += w.count_ones();
                r
            })
            .collect();
        self.local = total;
    }

    fn len(&self) -> usize {
        self.local as usize + self.other_addrs.len()
    }

    /// Each node, by id (addresses in ascending order, then the others), until `f` breaks.
    fn for_each(&self, mut f: impl FnMut(u32, u64) -> ControlFlow<()>) {
        let mut id = 0u32;
        for &(start, len, base) in &self.ranges {
            let words = ((len / 16) as usize).div_ceil(64);
            for (k, &word) in self.bits[base..base + words].iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let b = bits.trailing_zeros() as u64;
                    bits &= bits - 1;
                    if f(id, start + (k as u64 * 64 + b) * 16).is_break() {
                        return;
                    }
                    id += 1;
                }
            }
        }
        for &a in &self.other_addrs {
            if f(id, a).is_break() {
                return;
            }
            id += 1;
        }
    }

    /// The address of node `id` (a search over the ranks: for the few nodes a report names).
    fn addr_of(&self, id: u32) -> Option<u64> {
        if id >= self.local {
            return self.other_addrs.get((id - self.local) as usize).copied();
        }
        let w = self.ranks.partition_point(|&r| r <= id).checked_sub(1)?;
        let mut word = *self.bits.get(w)?;
        for _ in 0..(id - self.ranks[w]) {
            word &= word.wrapping_sub(1);
        }
        if word == 0 {
            return None;
        }
        let r = self.ranges.partition_point(|r| r.2 <= w).checked_sub(1)?;
        let (start, _, base) = self.ranges[r];
        Some(start + (((w - base) as u64) * 64 + word.trailing_zeros() as u64) * 16)
    }
}

/// The objects on the GC lists: which are roots, and of what type. Edges are read from the
/// copy as they are needed ([`labelled`]).
pub struct Graph {
    index: NodeIndex,
    types: NodeTypes,
    /// Referenced from outside the heap, immortal, frozen, or opaque.
    root: Bits,
    /// The youngest object of each type asked about (the last in list order: where new ones
    /// go), by the name's place in the list asked with.
    youngest: Vec<Option<u32>>,
}

impl Graph {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    /// The nodes node `id` (at `addr`) holds, with how (each as often as it is held); false
    /// if its references are not (all) known.
    fn edges_of<M: Memory + ?Sized>(
        &self,
        w: &Walker<M>,
        id: u32,
        addr: u64,
        out: &mut dyn FnMut(u32, u64, Via),
    ) -> bool {
        edges_of(w, &self.index, &self.types, id, addr, out)
    }

    fn type_of(&self, id: u32) -> TypeId {
        self.types.get(id)
    }
}

fn edges_of<M: Memory + ?Sized>(
    w: &Walker<M>,
    index: &NodeIndex,
    types: &NodeTypes,
    id: u32,
    addr: u64,
    out: &mut dyn FnMut(u32, u64, Via),
) -> bool {
    let ty = types.get(id);
    if ty == NO_TYPE {
        return false;
    }
    labelled(
        w.m,
        w.l,
        addr,
        w.types.get(ty),
        w.set_dummy,
        &mut |label, target| {
            if let Some(j) = index.get(target) {
                out(j, target, Via::of(&label));
            }
        },
    )
}

/// Build the graph of the objects a walk found on the GC lists (`seed`), and note the
/// youngest object of each type named in `wanted` (for [`why_alive`]). Roots are found as the
/// gc finds them: a pass over every node's references counts those held inside the heap
/// against its reference count.
pub fn build<M: Memory + ?Sized>(
    w: &mut Walker<M>,
    seed: Seed,
    wanted: &[String],
) -> Option<Graph> {
    let Seed {
        nodes,
        count,
        frozen,
        youngest: last,
    } = seed;
    if count > MAX_NODES {
        return None;
    }
    let index = NodeIndex::of(nodes);
    let len = index.len();
    if len > MAX_NODES {
        return None;
    }
    let mut types = NodeTypes::new(len, w.types.types.len());
    let mut root = Bits::new(len);
    index.for_each(|id, addr| {
        match w.type_of(addr) {
            Some(ty) => types.set(id, ty),
            // (not expected: the walk typed it in the same copy)
            None => root.set(id),
        }
        ControlFlow::Continue(())
    });
    for a in frozen {
        if let Some(id) = index.get(a) {
            root.set(id);
        }
    }
    // the youngest of each name asked about, of whichever type of that name
    let youngest = wanted
        .iter()
        .map(|name| {
            last.iter()
                .filter(|(ty, _)| w.types.get(**ty).name == *name)
                .map(|(_, &at)| at)
                .max()
                .and_then(|(_, addr)| index.get(addr))
        })
        .collect();
    // gc_refs: the reference count less the references from other nodes
    let mut refs = Counts::new(len);
    let (m, l) = (w.m, w.l);
    index.for_each(|id, addr| {
        match objects::refcount(m, l, addr) {
            Some(rc) => refs.add(id, rc.min(i64::MAX as u64) as i64),
            // immortal
            None => root.set(id),
        }
        if !edges_of(w, &index, &types, id, addr, &mut |j, _, _| refs.add(j, -1)) {
            // references not (all) known: it must count as reachable
            root.set(id);
        }
        ControlFlow::Continue(())
    });
    // referenced from outside the heap (a frame, C code, a non-GC object)
    for id in 0..len as u32 {
        if !refs.is_zero(id) {
            root.set(id);
        }
    }
    drop(refs);
    Some(Graph {
        index,
        types,
        root,
        youngest,
    })
}

/// Most entries of the depth-first search's stack: past it, a node reached is marked to be
/// scanned by a later sweep (a list of a million items pushes no million entries).
const MAX_STACK: usize = 1 << 16;

/// The nodes not reachable from any root.
fn unreachable<M: Memory + ?Sized>(w: &Walker<M>, g: &Graph) -> Bits {
    let mut reached = g.root.clone();
    // reached, references not read yet: the roots first
    let mut pending = g.root.clone();
    let mut stack: Vec<(u32, u64)> = Vec::new();
    loop {
        let mut any = false;
        g.index.for_each(|id, addr| {
            if !pending.get(id) {
                return ControlFlow::Continue(());
            }
            any = true;
            pending.clear(id);
            stack.push((id, addr));
            while let Some((i, a)) = stack.pop() {
                g.edges_of(w, i, a, &mut |j, target, _| {
                    if !reached.get(j) {
                        reached.set(j);
                        if stack.len() < MAX_STACK {
                            stack.push((j, target));
                        } else {
                            pending.set(j);
                        }
                    }
                });
            }
            ControlFlow::Continue(())
        });
        if !any {
            break;
        }
    }
    for word in &mut reached.0 {
        *word = !*word;
    }
    reached
}

/// Labelled strong references of `obj` to any object; false if its type's references are not
/// (all) known, so the object must count as reachable.
fn labelled<M: Memory + ?Sized>(
    m: &M,
    l: &Layout,
    obj: u64,
    t: &TypeInfo,
    set_dummy: u64,
    out: &mut dyn FnMut(Label, u64),
) -> bool {
    let python = is_python_class(t);
    let complete_base = matches!(
        t.static_base.as_str(),
        "object" | "list" | "tuple" | "dict" | "set" | "frozenset"
    );
    let mut complete = match t.kind {
        Kind::List => {
            let alloc = m.i64_at(obj + l.list_allocated).unwrap_or(0).max(0) as u64;
            if let (Some(n), Some(items)) = (objects::ob_size(m, obj), m.ptr_at(obj + l.list_items))
                && n <= alloc
            {
                items_of(m, items, n, out);
            }
            !t.heap || python
        }
        Kind::Tuple => {
            if let Some(n) = objects::ob_size(m, obj) {
                items_of(m, obj + l.tuple_items, n, out);
            }
            !t.heap || python
        }
        Kind::Dict | Kind::OrderedDict => {
            if let Some(table) = Table::of_dict(m, l, obj) {
                let split = table.values.is_some();
                table.for_each(m, |k, v| {
                    // a split table's keys belong to the shared keys, not to the dict
                    if !split {
                        out(Label::Key, k);
                    }
                    out(Label::Value(k), v);
                });
            }
            t.name == "dict" || (python && t.static_base == "dict")
        }
        Kind::Set => {
            objects::set_entries(m, l, obj, set_dummy, 0, 1 << 28, &mut |k| {
                out(Label::Key, k)
            });
            !t.heap || python
        }
        Kind::Cell => {
            if let Some(p) = m.ptr_at(obj + l.cell_ref) {
                out(Label::Field("cell_contents"), p);
            }
            true
        }
        Kind::Method => {
            if let Some(p) = m.ptr_at(obj + l.method_func) {
                out(Label::Field("__func__"), p);
            }
            if let Some(p) = m.ptr_at(obj + l.method_self) {
                out(Label::Field("__self__"), p);
            }
            true
        }
        Kind::Function => {
            let fields: [(&'static str, u64); 8] = [
                ("__code__", l.func_code),
                ("__globals__", l.func_globals),
                ("__name__", l.func_name),
                ("__qualname__", l.func_qualname),
                ("__defaults__", l.func_defaults),
                ("__kwdefaults__", l.func_kwdefaults),
                ("__closure__", l.func_closure),
                ("__module__", l.func_module),
            ];
            for (name, off) in fields {
                if let Some(p) = m.ptr_at(obj + off) {
                    out(Label::Field(name), p);
                }
            }
            for &off in &l.func_others {
                if let Some(p) = m.ptr_at(obj + off) {
                    out(Label::Field("function field"), p);
                }
            }
            true
        }
        Kind::Module => {
            if let Some(p) = m.ptr_at(obj + l.module_dict) {
                out(Label::Field("__dict__"), p);
            }
            // a C module with per-module state may hold more
            m.u64_at(obj + l.module_state) == Some(0)
        }
        // instances of Python classes: their attributes, below; classes, frames,
        // generators, C objects: not (fully) known
        _ => python,
    };
    if python {
        complete &= complete_base;
        // the instance refers to its class
        if let Some(ty) = m.ptr_at(obj + l.ob_type) {
            out(Label::Type, ty);
        }
        for &off in &t.slots {
            if let Some(p) = m.ptr_at(obj + off) {
                out(Label::Slot(off), p);
            }
        }
        match objects::instance_dict(m, l, obj, t) {
            Some(d) => out(Label::InstanceDict, d),
            None => objects::attributes(m, l, obj, t, |k, v| out(Label::Attr(k), v)),
        }
    }
    complete
}

/// List or tuple items, chunked (a damaged length costs a failed read, not one per item).
fn items_of<M: Memory + ?Sized>(m: &M, at: u64, n: u64, out: &mut dyn FnMut(Label, u64)) {
    let mut i: u64 = 0;
    read_array(m, at, n, 8, |e| {
        let p = u64::from_le_bytes(e.try_into().unwrap_or([0; 8]));
        if p != 0 && p.is_multiple_of(8) {
            out(Label::Item(i.min(u32::MAX as u64) as u32), p);
        }
        i += 1;
    });
}

/// Part of the graph made whole: its nodes' addresses and types, and the edges between them
/// (the garbage, which [`cycles`] groups into shapes).
struct Sub {
    addrs: Vec<u64>,
    types: Vec<TypeId>,
    edge_start: Vec<u32>,
    edge_to: Vec<u32>,
    edge_via: Vec<Via>,
}

impl Sub {
    /// The garbage nodes of `g` (`garbage`, by id), as many as [`MAX_GARBAGE`], with the edges
    /// between them; all of them counted and weighed into `report`.
    fn of_garbage<M: Memory + ?Sized>(
        w: &Walker<M>,
        g: &Graph,
        garbage: &Bits,
        report: &mut CycleReport,
    ) -> Sub {
        let mut sub = Sub {
            addrs: Vec::new(),
            types: Vec::new(),
            edge_start: Vec::new(),
            edge_to: Vec::new(),
            edge_via: Vec::new(),
        };
        let mut local: FxHashMap<u32, u32> = FxHashMap::default();
        g.index.for_each(|id, addr| {
            if garbage.get(id) {
                report.objects += 1;
                let ty = g.type_of(id);
                if ty != NO_TYPE {
                    report.bytes += objects::getsizeof(w.m, w.l, addr, w.types.get(ty));
                }
                if sub.addrs.len() < MAX_GARBAGE && ty != NO_TYPE {
                    local.insert(id, sub.addrs.len() as u32);
                    sub.addrs.push(addr);
                    sub.types.push(ty);
                }
            }
            ControlFlow::Continue(())
        });
        for i in 0..sub.addrs.len() {
            sub.edge_start.push(sub.edge_to.len() as u32);
            let id = g.index.get(sub.addrs[i]).unwrap_or(NO_NODE);
            g.edges_of(w, id, sub.addrs[i], &mut |j, _, via| {
                if let Some(&k) = local.get(&j) {
                    sub.edge_to.push(k);
                    sub.edge_via.push(via);
                }
            });
        }
        sub.edge_start.push(sub.edge_to.len() as u32);
        sub
    }

    fn len(&self) -> usize {
        self.addrs.len()
    }

    fn edges(&self, n: u32) -> impl Iterator<Item = (u32, Via)> + '_ {
        let (a, b) = (
            self.edge_start[n as usize] as usize,
            self.edge_start[n as usize + 1] as usize,
        );
        self.edge_to[a..b]
            .iter()
            .copied()
            .zip(self.edge_via[a..b].iter().copied())
    }

    fn label<M: Memory + ?Sized>(
        &self,
        w: &Walker<M>,
        from: u32,
        to: u32,
        via: Via,
    ) -> Option<Label> {
        label_of(
            w,
            self.addrs[from as usize],
            self.types[from as usize],
            *self.addrs.get(to as usize)?,
            via,
        )
    }

    fn size<M: Memory + ?Sized>(&self, w: &Walker<M>, n: u32) -> u64 {
        match self.types[n as usize] {
            NO_TYPE => 0,
            ty => objects::getsizeof(w.m, w.l, self.addrs[n as usize], w.types.get(ty)),
        }
    }
}

/// The label of the reference `from → to` of kind `via`, read again from the copy (the first
/// such reference, if `from` holds `to` more than once).
fn label_of<M: Memory + ?Sized>(
    w: &Walker<M>,
    from: u64,
    from_type: TypeId,
    to: u64,
    via: Via,
) -> Option<Label> {
    if from_type == NO_TYPE {
        return None;
    }
    let mut found = None;
    labelled(
        w.m,
        w.l,
        from,
        w.types.get(from_type),
        w.set_dummy,
        &mut |l, a| {
            if found.is_none() && a == to && Via::of(&l) == via {
                found = Some(l);
            }
        },
    );
    found
}

/// The cyclic garbage of the graph, grouped by shape.
pub fn cycles<M: Memory + ?Sized>(w: &Walker<M>, graph: &Graph) -> CycleReport {
    let mut report = CycleReport {
        opaque: 0,
        ..CycleReport::default()
    };
    let g = Sub::of_garbage(w, graph, &unreachable(w, graph), &mut report);
    // (all of the subgraph is garbage)
    let garbage = vec![true; g.len()];
    // components of the garbage (edges taken both ways)
    let mut undirected: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for i in 0..g.len() as u32 {
        for (j, _) in g.edges(i) {
            if garbage[j as usize] {
                undirected.entry(i).or_default().push(j);
                undirected.entry(j).or_default().push(i);
            }
        }
    }
    let mut seen: FxHashSet<u32> = FxHashSet::default();
    let mut shapes: FxHashMap<Vec<String>, (CyclePattern, u64)> = FxHashMap::default();
    for i in 0..g.len() as u32 {
        if !garbage[i as usize] || seen.contains(&i) {
            continue;
        }
        let mut comp = vec![i];
        seen.insert(i);
        let mut k = 0;
        while k < comp.len() && comp.len() < 100_000 {
            let x = comp[k];
            k += 1;
            for &y in undirected.get(&x).map(Vec::as_slice).unwrap_or(&[]) {
                if seen.insert(y) {
                    comp.push(y);
                }
            }
        }
        let (edges, attrs, types) = shape(w, &g, &comp, &garbage);
        let bytes: u64 = comp.iter().map(|&x| g.size(w, x)).sum();
        let entry = shapes.entry(edges.clone()).or_insert_with(|| {
            let via = if attrs.is_empty() {
                String::new()
            } else {
                format!(" via .{}", attrs.join("/."))
            };
            (
                CyclePattern {
                    name: format!("{}{via}", types.join(" ↔ ")),
                    edges,
                    attributes: attrs,
                    objects: 0,
                    bytes: 0,
                },
                0,
            )
        });
        entry.0.objects += comp.len() as u64;
        entry.0.bytes += bytes;
        entry.1 += 1;
    }
    let mut patterns: Vec<CyclePattern> = shapes.into_values().map(|(p, _)| p).collect();
    patterns.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name)));
    patterns.truncate(MAX_PATTERNS);
    report.patterns = patterns;
    report
}

fn type_label<M: Memory + ?Sized>(w: &Walker<M>, g: &Sub, i: u32) -> String {
    let name = &w.types.get(g.types[i as usize]).name;
    name.rsplit('.').next().unwrap_or(name).to_string()
}

/// The attribute name of an edge, if it is one.
fn attr_name<M: Memory + ?Sized>(w: &Walker<M>, from_type: TypeId, label: Label) -> Option<String> {
    match label {
        Label::Attr(k) | Label::Value(k) => strings::read_str(w.m, w.l, k, 128),
        Label::Slot(off) if from_type != NO_TYPE => w
            .types
            .get(from_type)
            .slot_names
            .iter()
            .find(|s| s.0 == off)
            .map(|s| s.1.clone()),
        _ => None,
    }
}

/// Edges of a garbage component as `A.attr → B` and `A.attr → list → B` strings, the
/// attribute names, and the types involved (plain containers folded into the edges).
fn shape<M: Memory + ?Sized>(
    w: &Walker<M>,
    g: &Sub,
    comp: &[u32],
    garbage: &[bool],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let plain = |i: u32| {
        let t = w.types.get(g.types[i as usize]);
        !t.heap && matches!(t.kind, Kind::List | Kind::Tuple | Kind::Set | Kind::Dict)
    };
    // an instance's __dict__ stands for the instance: follow it through
    // (each edge with the node that holds it: the instance, or its dict)
    let through_dict = |i: u32| -> Vec<(u32, u32, Via)> {
        let mut out = Vec::new();
        for (j, via) in g.edges(i) {
            if via == Via::InstanceDict && garbage[j as usize] {
                out.extend(
                    g.edges(j)
                        .filter(|e| e.1 == Via::Value)
                        .map(|(k, via)| (k, j, via)),
                );
            } else {
                out.push((j, i, via));
            }
        }
        out
    };
    let mut edges: Vec<String> = Vec::new();
    let mut attrs: Vec<String> = Vec::new();
    let mut types: Vec<String> = Vec::new();
    for &i in comp.iter().take(2000) {
        if plain(i) || w.types.get(g.types[i as usize]).kind == Kind::Dict {
            continue;
        }
        types.push(type_label(w, g, i));
        for (j, holder, via) in through_dict(i) {
            if !garbage[j as usize] || via == Via::Type {
                continue;
            }
            let Some(label) = g.label(w, holder, j, via) else {
                continue;
            };
            let Some(attr) = attr_name(w, g.types[i as usize], label) else {
                continue;
            };
            let from = type_label(w, g, i);
            if plain(j) {
                types.push(type_label(w, g, j));
                for (k, _) in g.edges(j) {
                    if garbage[k as usize] && !plain(k) {
                        edges.push(format!(
                            "{from}.{attr} → {} → {}",
                            type_label(w, g, j),
                            type_label(w, g, k)
                        ));
                    }
                }
            } else {
                edges.push(format!("{from}.{attr} → {}", type_label(w, g, j)));
            }
            attrs.push(attr);
        }
    }
    for v in [&mut edges, &mut attrs, &mut types] {
        v.sort();
        v.dedup();
    }
    if types.is_empty() {
        // garbage made of containers only
        types = comp
            .iter()
            .take(2000)
            .map(|&i| type_label(w, g, i))
            .collect();
        types.sort();
        types.dedup();
    }
    (edges, attrs, types)
}

/// For each type name asked about at [`build`], a chain from a root to its youngest object:
/// the shortest from any root, where a module's or a class's attribute dict is a root too and
/// the object itself (perhaps held by a frame just now) is not. One breadth-first search from
/// all the roots at once, along references read from the copy, ending when every such object
/// is reached.
pub fn why_alive<M: Memory + ?Sized>(
    w: &mut Walker<M>,
    g: &Graph,
    wanted: &[String],
    module_dicts: &FxHashMap<u64, String>,
) -> Vec<WhyAlive> {
    let targets: FxHashSet<u32> = g.youngest.iter().flatten().copied().collect();
    if targets.is_empty() {
        return Vec::new();
    }
    let mut named: FxHashMap<u32, String> = module_dicts
        .iter()
        .filter_map(|(&addr, name)| Some((g.index.get(addr)?, format!("module {name}"))))
        .collect();
    // a class's attribute dict stands for the class
    let mut classes = Vec::new();
    g.index.for_each(|id, addr| {
        let ty = g.type_of(id);
        if ty != NO_TYPE && w.types.get(ty).kind == Kind::Type {
            classes.push(addr);
        }
        ControlFlow::Continue(())
    });
    for addr in classes {
        let (m, l) = (w.m, w.l);
        if let Some(ty) = w.types.lookup(m, l, addr)
            && let Some(dict) = m.ptr_at(addr + l.tp_dict)
            && let Some(d) = g.index.get(dict)
        {
            named
                .entry(d)
                .or_insert_with(|| format!("class {}", w.types.get(ty).name));
        }
    }
    // the search: modules' and classes' dicts first (at equal distance, a chain from a
    // module global reads best), then the other roots
    let len = g.len();
    let mut parent = vec![NO_NODE; len];
    let mut via = vec![Via::Other; len];
    let mut seen = Bits::new(len);
    // (addresses: 8 bytes an entry, the node found again by its address)
    let mut queue: VecDeque<u64> = VecDeque::new();
    let mut sources: Vec<u32> = named.keys().copied().collect();
    sources.sort_unstable();
    for &id in &sources {
        if let Some(addr) = g.index.addr_of(id) {
            seen.set(id);
            queue.push_back(addr);
        }
    }
    g.index.for_each(|id, addr| {
        if g.root.get(id) && !seen.get(id) && !targets.contains(&id) {
            seen.set(id);
            queue.push_back(addr);
        }
        ControlFlow::Continue(())
    });
    let mut left = targets.iter().filter(|t| !seen.get(**t)).count();
    while left > 0
        && let Some(a) = queue.pop_front()
    {
        let Some(x) = g.index.get(a) else {
            continue;
        };
        g.edges_of(w, x, a, &mut |j, target, how| {
            if how == Via::Type || seen.get(j) {
                return;
            }
            seen.set(j);
            parent[j as usize] = x;
            via[j as usize] = how;
            if targets.contains(&j) {
                left = left.saturating_sub(1);
            }
            queue.push_back(target);
        });
    }
    drop(queue);
    let mut out = Vec::new();
    for (name, target) in wanted.iter().zip(&g.youngest) {
        let Some(target) = *target else {
            continue;
        };
        // the path back to its root
        let mut path = vec![target];
        while path.len() <= 64 {
            let p = parent[*path.last().unwrap_or(&target) as usize];
            if p == NO_NODE {
                break;
            }
            path.push(p);
        }
        if parent[*path.last().unwrap_or(&target) as usize] != NO_NODE {
            // (a chain of over 64 steps is not told)
            continue;
        }
        path.reverse();
        let root = path[0];
        if root == target && !named.contains_key(&target) {
            // not reached from any root
            continue;
        }
        if let Some(chain) = chain_text(w, g, &path, &via, &named) {
            out.push(WhyAlive {
                type_name: name.clone(),
                chain,
            });
        }
    }
    out
}

/// A path of the search (a root first), as text: `module orders → ._CACHE dict → [3] Order`.
fn chain_text<M: Memory + ?Sized>(
    w: &Walker<M>,
    g: &Graph,
    path: &[u32],
    via: &[Via],
    named: &FxHashMap<u32, String>,
) -> Option<String> {
    let name = |id: u32| -> Option<&str> {
        let ty = g.type_of(id);
        (ty != NO_TYPE).then(|| w.types.get(ty).name.as_str())
    };
    let root = *path.first()?;
    let mut text = match named.get(&root) {
        Some(m) => m.clone(),
        None => {
            let ty = g.type_of(root);
            if ty != NO_TYPE && w.types.get(ty).kind == Kind::Type {
                "class".to_string()
            } else {
                format!(
                    "{} (referenced from a frame or C code)",
                    name(root).unwrap_or("?")
                )
            }
        }
    };
    let addr = |id: u32| g.index.addr_of(id).unwrap_or(0);
    let label =
        |from: u32, to: u32| label_of(w, addr(from), g.type_of(from), addr(to), via[to as usize]);
    let mut k = 0;
    while k + 1 < path.len() {
        let (x, next) = (path[k], path[k + 1]);
        // `obj.__dict__['name']` reads better as `obj.name`
        if via[next as usize] == Via::InstanceDict
            && let Some(&after) = path.get(k + 2)
            && via[after as usize] == Via::Value
            && let Some(Label::Value(key)) = label(next, after)
        {
            let key = strings::read_str(w.m, w.l, key, 64).unwrap_or_else(|| "…".into());
            text.push_str(&format!(" → .{key} {}", name(after).unwrap_or("?")));
            k += 2;
            continue;
        }
        let hop = match label(x, next) {
            // (not found again: the copy does not change, so this is not expected)
            None => "?".into(),
            Some(Label::Item(i)) => format!("[{i}]"),
            Some(Label::Value(key)) => {
                let key = strings::read_str(w.m, w.l, key, 64).unwrap_or_else(|| "…".into());
                if named.contains_key(&x) {
                    format!(".{key}")
                } else {
                    format!("['{key}']")
                }
            }
            Some(l @ (Label::Attr(_) | Label::Slot(_))) => {
                format!(
                    ".{}",
                    attr_name(w, g.type_of(x), l).unwrap_or_else(|| "?".into())
                )
            }
            Some(Label::Key) => "(key)".into(),
            Some(Label::InstanceDict) => ".__dict__".into(),
            Some(Label::Type) => "(class)".into(),
            Some(Label::Field(f)) => format!(".{f}"),
        };
        text.push_str(&format!(" → {hop} {}", name(next).unwrap_or("?")));
        k += 1;
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts past two bytes are kept exactly (a node held from 100k places, less 100k
    /// references found, is zero; one reference short of it is not), and small ones in place.
    #[test]
    fn counts_past_two_bytes_stay_exact() {
        let mut c = Counts::new(4);
        c.add(0, 100_000);
        for _ in 0..100_000 {
            c.add(0, -1);
        }
        assert!(c.is_zero(0));
        c.add(1, 40_000);
        for _ in 0..39_999 {
            c.add(1, -1);
        }
        assert!(!c.is_zero(1));
        c.add(1, -1);
        assert!(c.is_zero(1));
        for _ in 0..50_000 {
            c.add(2, -1);
        }
        assert!(!c.is_zero(2));
        c.add(2, 50_000);
        assert!(c.is_zero(2));
        c.add(3, 5);
        c.add(3, -5);
        assert!(c.is_zero(3) && c.big.len() == 3);
        c.add(9, 1);
        assert!(c.is_zero(9));
    }
}
