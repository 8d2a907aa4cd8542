//! The object graph of a census copy, for two questions the gc itself answers:
//!
//! * **What is cyclic garbage?** The gc's own reasoning: `gc_refs = refcount − references
//!   from other tracked objects`; objects with `gc_refs > 0` are referenced from outside the
//!   heap (frames, C code) and so reachable, with everything they reach; the rest is garbage
//!   that only a collection can free. Objects whose references memwatch cannot enumerate
//!   (frames, generators, C extension types, classes) are treated as reachable, so garbage is
//!   never reported wrongly — only possibly missed.
//! * **Why is this alive?** A back-reference chain from a root (a module global, a class
//!   attribute, an object referenced from outside the heap) to a representative object.
//!
//! Nodes are the objects on the GC lists; edges are labelled strong references between them.
//! Memory: a few dozen bytes per object, freed with the census.

use std::collections::VecDeque;

use rustc_hash::{FxHashMap, FxHashSet};

use super::census::{CyclePattern, CycleReport, WhyAlive};
use super::dicts::Table;
use super::layout::Layout;
use super::memory::{Memory, MemoryExt, read_array};
use super::objects::{self, is_python_class};
use super::strings;
use super::types::{Kind, TypeId, TypeInfo};
use super::walk::{GcObject, Walker};

/// Graphs above this many nodes are not built (the census stays within its budget).
pub const MAX_NODES: usize = 4_000_000;
/// Nodes a why-alive search may visit.
const MAX_SEARCH: usize = 2_000_000;
const MAX_PATTERNS: usize = 10;

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

/// Address → node: a bitmap over the copy's regions (one bit per 16 bytes: GC objects are
/// 16-byte aligned) with the rank of each word, and the node ids by rank (~1 % of the copy,
/// where a slot per 16 bytes took a quarter); a hash map for anything else.
struct NodeIndex {
    /// (start, len, first word) of each local range.
    ranges: Vec<(u64, u64, usize)>,
    /// One bit per 16 bytes of the ranges: a node starts there.
    bits: Vec<u64>,
    /// Per word of `bits`: the nodes in the words before it (after [`NodeIndex::seal`]).
    ranks: Vec<u32>,
    /// Node id + 1, by the rank of its address among the nodes in the ranges.
    ids: Vec<u32>,
    other: FxHashMap<u64, u32>,
    last: std::cell::Cell<usize>,
}

impl NodeIndex {
    fn new(mut ranges: Vec<(u64, u64)>) -> NodeIndex {
        ranges.sort_unstable();
        let mut out = Vec::with_capacity(ranges.len());
        let mut words = 0usize;
        for (start, len) in ranges {
            out.push((start, len, words));
            words += ((len / 16) as usize).div_ceil(64);
        }
        NodeIndex {
            ranges: out,
            bits: vec![0; words],
            ranks: Vec::new(),
            ids: Vec::new(),
            other: FxHashMap::default(),
            last: std::cell::Cell::new(0),
        }
    }

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

    /// The node id + 1 at `addr` (after [`NodeIndex::seal`]).
    #[inline]
    fn get(&self, addr: &u64) -> Option<u32> {
        match self.slot(*addr) {
            Some((w, mask)) => {
                let word = *self.bits.get(w)?;
                if word & mask == 0 {
                    return None;
                }
                let rank = *self.ranks.get(w)? + (word & (mask - 1)).count_ones();
                self.ids.get(rank as usize).copied()
            }
            None => self.other.get(addr).copied(),
        }
    }

    /// Insert `id + 1`; false if the address was there already. Ids of addresses in the
    /// ranges are given by [`NodeIndex::seal`].
    fn insert(&mut self, addr: u64, id: u32) -> bool {
        match self.slot(addr) {
            Some((w, mask)) => {
                if self.bits[w] & mask != 0 {
                    return false;
                }
                self.bits[w] |= mask;
                true
            }
            None => self.other.insert(addr, id + 1).is_none(),
        }
    }

    /// Ready for lookups: `addrs[id]` is the address of node `id`.
    fn seal(&mut self, addrs: &[u64]) {
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
        self.ids = vec![0; total as usize];
        for (id, &a) in addrs.iter().enumerate() {
            if let Some((w, mask)) = self.slot(a) {
                let rank = self.ranks[w] + (self.bits[w] & (mask - 1)).count_ones();
                if let Some(slot) = self.ids.get_mut(rank as usize) {
                    *slot = id as u32 + 1;
                }
            }
        }
    }
}

pub struct Graph {
    pub addrs: Vec<u64>,
    pub types: Vec<TypeId>,
    /// Roots: referenced from outside the heap, immortal, frozen, or opaque.
    pub root: Vec<bool>,
    index: NodeIndex,
    edge_start: Vec<u32>,
    edge_to: Vec<u32>,
    edge_via: Vec<Via>,
}

impl Graph {
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

    /// The label of the edge `from → to` of kind `via`, read again from the copy (the first
    /// such reference, if `from` holds `to` more than once).
    fn label<M: Memory + ?Sized>(
        &self,
        w: &Walker<M>,
        from: u32,
        to: u32,
        via: Via,
    ) -> Option<Label> {
        let target = *self.addrs.get(to as usize)?;
        let t = w.types.get(self.types[from as usize]);
        let mut found = None;
        labelled(
            w.m,
            w.l,
            self.addrs[from as usize],
            t,
            w.set_dummy,
            &mut |l, a| {
                if found.is_none() && a == target && Via::of(&l) == via {
                    found = Some(l);
                }
            },
        );
        found
    }

    /// The size of node `n` (as `sys.getsizeof`), read again from the copy: only garbage
    /// is weighed, so the graph keeps no size per node.
    fn size<M: Memory + ?Sized>(&self, w: &Walker<M>, n: u32) -> u64 {
        let t = w.types.get(self.types[n as usize]);
        objects::getsizeof(w.m, w.l, self.addrs[n as usize], t)
    }

    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }
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

/// Build the graph of the objects on the GC lists (`objects`: address and generation).
/// The list of objects is given up as soon as the nodes are made (before the edges, the
/// bulk of the graph's memory, are).
pub fn build<M: Memory + ?Sized>(w: &mut Walker<M>, objects: Vec<Vec<GcObject>>) -> Option<Graph> {
    let n: usize = objects.iter().map(Vec::len).sum();
    if n > MAX_NODES {
        return None;
    }
    let mut g = Graph {
        addrs: Vec::with_capacity(n),
        types: Vec::with_capacity(n),
        root: Vec::with_capacity(n),
        index: NodeIndex::new(w.m.local_ranges()),
        edge_start: Vec::with_capacity(n + 1),
        edge_to: Vec::new(),
        edge_via: Vec::new(),
    };
    let mut refcnt: Vec<i64> = Vec::with_capacity(n);
    g.edge_to.reserve(n * 2);
    g.edge_via.reserve(n * 2);
    // each unit of objects given up once its nodes are made
    for o in objects.into_iter().flatten() {
        let (addr, generation, ty) = (o.addr, o.generation, o.ty);
        if !g.index.insert(addr, g.addrs.len() as u32) {
            continue;
        }
        g.addrs.push(addr);
        g.types.push(ty);
        let rc = objects::refcount(w.m, w.l, addr);
        // frozen (permanent generation) and immortal objects are roots
        g.root.push(generation == 3 || rc.is_none());
        refcnt.push(
            rc.map(|r| r.min(i64::MAX as u64) as i64)
                .unwrap_or(i64::MAX),
        );
    }
    g.index.seal(&g.addrs);
    for i in 0..g.addrs.len() {
        g.edge_start.push(g.edge_to.len() as u32);
        let t = w.types.get(g.types[i]);
        let (index, edge_to, edge_via) = (&g.index, &mut g.edge_to, &mut g.edge_via);
        // (edges taken as they are read: a list of a million items costs no list of labels)
        let complete = labelled(
            w.m,
            w.l,
            g.addrs[i],
            t,
            w.set_dummy,
            &mut |label, target| {
                if let Some(j1) = index.get(&target) {
                    let j = j1 - 1;
                    edge_to.push(j);
                    edge_via.push(Via::of(&label));
                    // every enumerated edge is a strong reference held inside the heap
                    refcnt[j as usize] -= 1;
                }
            },
        );
        if !complete {
            g.root[i] = true;
        }
        if g.edge_to.len() > u32::MAX as usize - 1 {
            return None;
        }
    }
    g.edge_start.push(g.edge_to.len() as u32);
    // referenced from outside the heap (a frame, C code, a non-GC object)
    for (i, &rc) in refcnt.iter().enumerate() {
        if rc != 0 {
            g.root[i] = true;
        }
    }
    Some(g)
}

/// The objects not reachable from any root.
fn unreachable(g: &Graph) -> Vec<bool> {
    let mut reached = g.root.clone();
    let mut queue: VecDeque<u32> = (0..g.len() as u32)
        .filter(|&i| reached[i as usize])
        .collect();
    while let Some(i) = queue.pop_front() {
        for (j, _) in g.edges(i) {
            if !reached[j as usize] {
                reached[j as usize] = true;
                queue.push_back(j);
            }
        }
    }
    reached.into_iter().map(|r| !r).collect()
}

/// The cyclic garbage of the graph, grouped by shape.
pub fn cycles<M: Memory + ?Sized>(w: &Walker<M>, g: &Graph) -> CycleReport {
    let garbage = unreachable(g);
    let mut report = CycleReport {
        opaque: 0,
        ..CycleReport::default()
    };
    // components of the garbage (edges taken both ways)
    let mut undirected: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for i in 0..g.len() as u32 {
        if !garbage[i as usize] {
            continue;
        }
        report.objects += 1;
        report.bytes += g.size(w, i);
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
        let (edges, attrs, types) = shape(w, g, &comp, &garbage);
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

fn type_label<M: Memory + ?Sized>(w: &Walker<M>, g: &Graph, i: u32) -> String {
    let name = &w.types.get(g.types[i as usize]).name;
    name.rsplit('.').next().unwrap_or(name).to_string()
}

/// The attribute name of an edge, if it is one.
fn attr_name<M: Memory + ?Sized>(
    w: &Walker<M>,
    g: &Graph,
    from: u32,
    label: Label,
) -> Option<String> {
    match label {
        Label::Attr(k) | Label::Value(k) => strings::read_str(w.m, w.l, k, 128),
        Label::Slot(off) => w
            .types
            .get(g.types[from as usize])
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
    g: &Graph,
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
            let Some(attr) = attr_name(w, g, i, label) else {
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

/// For each type name, a chain from a root to one of its objects (the one found first,
/// searching from the youngest objects).
pub fn why_alive<M: Memory + ?Sized>(
    w: &mut Walker<M>,
    g: &Graph,
    wanted: &[String],
    module_dicts: &FxHashMap<u64, String>,
) -> Vec<WhyAlive> {
    if wanted.is_empty() {
        return Vec::new();
    }
    // reverse edges
    let n = g.len();
    // (a counting sort: each node's bucket filled from its end, the holders taken in
    // descending order, so that a bucket ends up in ascending order and `rev_start` at the
    // buckets' starts; no second array of cursors)
    let mut rev_start = vec![0u32; n + 1];
    for &j in &g.edge_to {
        rev_start[j as usize] += 1;
    }
    for i in 1..=n {
        rev_start[i] += rev_start[i - 1];
    }
    let mut rev = Reverse {
        from: vec![0; g.edge_to.len()],
        via: vec![Via::Other; g.edge_to.len()],
    };
    for i in (0..n as u32).rev() {
        let (a, b) = (
            g.edge_start[i as usize] as usize,
            g.edge_start[i as usize + 1] as usize,
        );
        for k in (a..b).rev() {
            let j = g.edge_to[k] as usize;
            rev_start[j] -= 1;
            rev.from[rev_start[j] as usize] = i;
            rev.via[rev_start[j] as usize] = g.edge_via[k];
        }
    }
    let mut module_of: FxHashMap<u32, String> = module_dicts
        .iter()
        .filter_map(|(addr, name)| Some((g.index.get(addr)? - 1, format!("module {name}"))))
        .collect();
    // a class's attribute dict stands for the class
    for i in 0..n {
        if w.types.get(g.types[i]).kind != Kind::Type {
            continue;
        }
        let (m, l) = (w.m, w.l);
        if let Some(id) = w.types.lookup(m, l, g.addrs[i])
            && let Some(dict) = m.ptr_at(g.addrs[i] + l.tp_dict)
            && let Some(d) = g.index.get(&dict)
        {
            module_of.insert(d - 1, format!("class {}", w.types.get(id).name));
        }
    }
    let mut out = Vec::new();
    for name in wanted {
        // the youngest object of the type (the end of the list is where new ones go)
        let Some(target) = (0..n as u32)
            .rev()
            .find(|&i| &w.types.get(g.types[i as usize]).name == name)
        else {
            continue;
        };
        if let Some(chain) = chain_to(w, g, &rev_start, &rev, target, &module_of) {
            out.push(WhyAlive {
                type_name: name.clone(),
                chain,
            });
        }
    }
    out
}

/// The graph's edges the other way: for each node (by `rev_start`), who holds it and how.
struct Reverse {
    from: Vec<u32>,
    via: Vec<Via>,
}

/// Breadth-first search backwards from `target` to the nearest root; the path, read forwards.
fn chain_to<M: Memory + ?Sized>(
    w: &Walker<M>,
    g: &Graph,
    rev_start: &[u32],
    rev: &Reverse,
    target: u32,
    module_of: &FxHashMap<u32, String>,
) -> Option<String> {
    let mut parent: FxHashMap<u32, (u32, Via)> = FxHashMap::default();
    let mut queue = VecDeque::from([target]);
    let mut found = None;
    let mut visited = 0;
    while let Some(x) = queue.pop_front() {
        visited += 1;
        if visited > MAX_SEARCH {
            break;
        }
        // a module's globals, or something referenced from outside the heap
        if module_of.contains_key(&x) || (g.root[x as usize] && x != target) {
            found = Some(x);
            break;
        }
        let (a, b) = (
            rev_start[x as usize] as usize,
            rev_start[x as usize + 1] as usize,
        );
        for (&from, &via) in rev.from[a..b].iter().zip(&rev.via[a..b]) {
            if via == Via::Type || from == target || parent.contains_key(&from) {
                continue;
            }
            parent.insert(from, (x, via));
            queue.push_back(from);
        }
    }
    let root = found?;
    let mut text = match module_of.get(&root) {
        Some(m) => m.clone(),
        None => {
            let t = w.types.get(g.types[root as usize]);
            if t.kind == Kind::Type {
                "class".to_string()
            } else {
                format!("{} (referenced from a frame or C code)", t.name)
            }
        }
    };
    let mut x = root;
    let mut steps = 0;
    while x != target && steps < 64 {
        let (mut next, via) = *parent.get(&x)?;
        // `obj.__dict__['name']` reads better as `obj.name`
        if via == Via::InstanceDict
            && next != target
            && let Some(&(after, Via::Value)) = parent.get(&next)
            && let Some(Label::Value(k)) = g.label(w, next, after, Via::Value)
        {
            let key = strings::read_str(w.m, w.l, k, 64).unwrap_or_else(|| "…".into());
            let t = &w.types.get(g.types[after as usize]).name;
            text.push_str(&format!(" → .{key} {t}"));
            x = after;
            next = after;
            let _ = next;
            steps += 1;
            continue;
        }
        let hop = match g.label(w, x, next, via) {
            // (not found again: the copy does not change, so this is not expected)
            None => "?".into(),
            Some(Label::Item(i)) => format!("[{i}]"),
            Some(Label::Value(k)) => {
                let key = strings::read_str(w.m, w.l, k, 64).unwrap_or_else(|| "…".into());
                if module_of.contains_key(&x) {
                    format!(".{key}")
                } else {
                    format!("['{key}']")
                }
            }
            Some(label @ (Label::Attr(_) | Label::Slot(_))) => {
                format!(
                    ".{}",
                    attr_name(w, g, x, label).unwrap_or_else(|| "?".into())
                )
            }
            Some(Label::Key) => "(key)".into(),
            Some(Label::InstanceDict) => ".__dict__".into(),
            Some(Label::Type) => "(class)".into(),
            Some(Label::Field(f)) => format!(".{f}"),
        };
        let t = &w.types.get(g.types[next as usize]).name;
        text.push_str(&format!(" → {hop} {t}"));
        x = next;
        steps += 1;
    }
    Some(text)
}
