//! Hostile memory for the heap walker: fake address spaces (a [`FakeMemory`]) holding a small
//! but well-formed CPython heap — `_PyRuntime` → interpreter → gc state → generation lists,
//! `sys.modules` → `__main__` → globals — that each case then damages: generation lists that
//! cycle without returning to their head or run into unmapped memory, types that are their
//! own type and base, containers claiming 2^28 or 2^60 items, dict keys objects with absurd
//! sizes, strs with lengths near 2^62, deques whose blocks link to themselves, module dicts
//! full of garbage, pointers at the top of the address space, and (proptest) random pages at
//! random addresses and random words written over a valid heap.
//!
//! Every case drives the public API — `Interpreter::find`, `Walker::index`, `Namer::run`,
//! `objects::{getsizeof, referents, attributes, length}`, `strings::read_str`,
//! `dicts::{Keys, Table, lookup_str, sizeof}` — for every layout 3.8 … 3.14, on its own thread,
//! and asserts that it neither panics, nor runs past [`CASE_TIME`], nor allocates more than
//! [`CASE_MEMORY`] (a counting global allocator, per thread, measures the peak). The memory is
//! wrapped in a guard that stops a case cleanly (a panic with a [`Stop`] payload, caught by
//! the case's thread) the moment it passes either bound, so that a runaway case fails fast
//! instead of hanging or exhausting the machine.
//!
//! Inputs that currently break a bound are kept as `#[ignore]`d tests named after the bug,
//! each with the exact input: run them with `cargo test --lib hostile -- --ignored`.

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::dicts::{self, Keys, Table};
use super::graph;
use super::layout::{Layout, flags};
use super::memory::{CHUNK, FakeMemory, HeapCopy, Memory, MemoryExt, Region, RegionData};
use super::names::Namer;
use super::objects;
use super::strings;
use super::walk::{Interpreter, Walker};

/// Most wall time one case (all API calls on one fake heap) may take, in a debug build.
const CASE_TIME: Duration = Duration::from_secs(2);
/// Most bytes one case may have allocated at any moment (its inputs excluded).
const CASE_MEMORY: usize = 256 << 20;

// --- a counting allocator: bytes live and their peak, per thread ---------------------------

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grew(n: usize) {
    let _ = LIVE.try_with(|live| {
        let v = live.get().saturating_add(n);
        live.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
}

fn shrank(n: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(n)));
}

fn live_bytes() -> usize {
    LIVE.try_with(Cell::get).unwrap_or(0)
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters (plain
// thread-local cells, no allocation, no destructor) are updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

// --- the guard: stops a case that passes its time or memory bound ---------------------------

/// Why the guard stopped a case (the payload of its panic).
#[derive(Debug)]
enum Stop {
    Time,
    Memory(usize),
}

/// A memory that counts reads and stops the case past its bounds.
struct Guarded<M> {
    inner: M,
    deadline: Instant,
    reads: Cell<u64>,
}

impl<M: Memory> Memory for Guarded<M> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let n = self.reads.get() + 1;
        self.reads.set(n);
        if n.is_multiple_of(64) {
            if Instant::now() > self.deadline {
                std::panic::panic_any(Stop::Time);
            }
            let live = live_bytes();
            if live > CASE_MEMORY {
                std::panic::panic_any(Stop::Memory(live));
            }
        }
        self.inner.read(addr, buf)
    }
    fn local_ranges(&self) -> Vec<(u64, u64)> {
        self.inner.local_ranges()
    }
}

/// What one case did.
#[derive(Debug)]
struct CaseReport {
    elapsed: Duration,
    peak: usize,
    reads: u64,
}

/// Run every API call on `mem` (a heap built for layout `l`, `_PyRuntime` at `runtime`, and
/// `probes`: object addresses to size, decode and iterate one by one) on a thread of its own.
/// `Err` says which bound was broken, or what panicked.
fn check_case<M: Memory + Send + 'static>(
    mem: M,
    l: &Layout,
    runtime: u64,
    probes: Vec<u64>,
) -> Result<CaseReport, String> {
    let l = l.clone();
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    std::thread::Builder::new()
        .name("hostile-case".into())
        .spawn(move || {
            let guarded = Guarded {
                inner: mem,
                deadline: Instant::now() + CASE_TIME,
                reads: Cell::new(0),
            };
            // the inputs were allocated by the caller's thread: count from here
            LIVE.with(|c| c.set(0));
            PEAK.with(|c| c.set(0));
            let result = catch_unwind(AssertUnwindSafe(|| drive(&guarded, &l, runtime, &probes)));
            let peak = PEAK.with(Cell::get);
            let reads = guarded.reads.get();
            let outcome = match result {
                Ok(_) => Ok(()),
                Err(payload) => Err(match payload.downcast::<Stop>() {
                    Ok(stop) => match *stop {
                        Stop::Time => format!("ran over {CASE_TIME:?} ({reads} reads so far)"),
                        Stop::Memory(n) => format!(
                            "allocated {} MiB (bound {} MiB) after {reads} reads",
                            n >> 20,
                            CASE_MEMORY >> 20
                        ),
                    },
                    Err(payload) => format!(
                        "panicked: {}",
                        payload
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_default()
                    ),
                }),
            };
            let _ = tx.send((outcome, peak, reads));
        })
        .expect("spawn a case thread");
    // a loop that never reads memory is not stopped by the guard: give up on it here
    let (outcome, peak, reads) = rx
        .recv_timeout(CASE_TIME + Duration::from_secs(3))
        .map_err(|_| format!("hung: no answer after {:?}", started.elapsed()))?;
    let elapsed = started.elapsed();
    outcome?;
    if peak > CASE_MEMORY {
        return Err(format!("peak allocation {} MiB", peak >> 20));
    }
    if elapsed > CASE_TIME + Duration::from_millis(500) {
        return Err(format!("took {elapsed:?}"));
    }
    Ok(CaseReport {
        elapsed,
        peak,
        reads,
    })
}

/// Every public entry point of the walk, on whatever the memory holds.
fn drive<M: Memory + ?Sized>(m: &M, l: &Layout, runtime: u64, probes: &[u64]) -> u64 {
    let mut sink = 0u64;
    if let Some(it) = Interpreter::find(m, l, runtime) {
        let mut w = Walker::new(m, l, 0);
        w.keep_objects = true;
        let mut idx = w.index(&it, 10);
        sink = sink.wrapping_add(idx.invalid + idx.tallies.len() as u64);
        let rows = Namer::new(&mut w).run(&it);
        sink = sink.wrapping_add(rows.len() as u64);
        // the object graph over the same memory: cycles, and why-alive chains
        let wanted: Vec<String> = ["list", "dict", "tuple", "Thing"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        if let Some(g) = idx
            .graph
            .take()
            .and_then(|seed| graph::build(&mut w, seed, &wanted))
        {
            let c = graph::cycles(&w, &g);
            sink = sink.wrapping_add(c.objects + c.patterns.len() as u64);
            let why = graph::why_alive(&mut w, &g, &wanted, &Default::default());
            sink = sink.wrapping_add(why.iter().map(|w| w.chain.len() as u64).sum::<u64>());
        }
    }
    let mut w = Walker::new(m, l, 0);
    for &p in probes {
        if let Some(ty) = w.type_of(p) {
            let t = w.types.get(ty).clone();
            sink = sink.wrapping_add(objects::getsizeof(m, l, p, &t));
            let mut n = 0u64;
            objects::referents(m, l, p, &t, 0, &mut |_| n += 1);
            sink = sink.wrapping_add(n);
            objects::attributes(m, l, p, &t, |k, v| sink = sink.wrapping_add(k ^ v));
            sink = sink.wrapping_add(objects::length(m, l, p, &t).unwrap_or(0));
        }
        sink = sink.wrapping_add(strings::read_str(m, l, p, 4096).map_or(0, |s| s.len() as u64));
        if let Some(k) = Keys::read(m, l, p) {
            sink = sink.wrapping_add(k.nentries);
        }
        if let Some(t) = Table::of_dict(m, l, p) {
            t.for_each(m, |k, v| sink = sink.wrapping_add(k ^ v));
        }
        sink = sink.wrapping_add(dicts::lookup_str(m, l, p, "__module__").unwrap_or(0));
        sink = sink.wrapping_add(dicts::sizeof(m, l, p, 48));
    }
    sink
}

// --- fake heaps -------------------------------------------------------------------------

/// The layouts every case runs against (3.14.2: incremental GC; 3.14.7: generational).
fn layouts() -> Vec<Layout> {
    [
        (8, 18),
        (9, 18),
        (10, 13),
        (11, 7),
        (12, 1),
        (13, 0),
        (13, 18),
        (14, 2),
        (14, 7),
        (15, 2),
    ]
    .iter()
    .map(|&(minor, patch)| Layout::new(3, minor, patch).unwrap())
    .collect()
}

/// Addresses nothing is mapped at.
const UNMAPPED: u64 = 0x7f00_dead_0000;
const HEAP_BASE: u64 = 0x5555_0000_0000;

struct Types {
    meta: u64,
    list: u64,
    tuple: u64,
    dict: u64,
    set: u64,
    str_: u64,
    int: u64,
    module: u64,
    deque: u64,
    /// A class defined in Python, instances with a `__dict__`.
    evil: u64,
    /// A class with `__slots__` at offsets 16 and 24.
    slotted: u64,
}

/// A small, well-formed CPython heap in a fake address space.
struct Fake {
    m: FakeMemory,
    l: Layout,
    next: u64,
    runtime: u64,
    gcstate: u64,
    t: Types,
    /// GC-tracked objects per generation (3: permanent), linked by [`Fake::link`].
    gens: [Vec<u64>; 4],
    /// Every object made, for the probes.
    objects: Vec<u64>,
    // handles on interesting objects
    list: u64,
    tuple: u64,
    dict: u64,
    set: u64,
    deque: u64,
    instance: u64,
    slotted_instance: u64,
    globals: u64,
    modules: u64,
    module: u64,
}

impl Fake {
    fn w(&mut self, addr: u64, v: u64) {
        self.m.put_u64(addr, v);
    }
    fn w32(&mut self, addr: u64, v: u32) {
        self.m.put(addr, &v.to_le_bytes());
    }
    /// Zero-filled, 16-aligned, never reused.
    fn alloc(&mut self, size: u64) -> u64 {
        let at = self.next;
        self.m.put(at, &vec![0u8; size as usize]);
        self.next = (at + size + 15 + 64) & !15;
        at
    }
    /// A GC object: room for the pre-header (managed dict and weakref words, PyGC_Head).
    fn gc_alloc(&mut self, size: u64, ty: u64) -> u64 {
        let obj = self.alloc(size + 32) + 32;
        self.w(obj, 1);
        self.w(obj + 8, ty);
        self.objects.push(obj);
        obj
    }
    fn plain_alloc(&mut self, size: u64, ty: u64) -> u64 {
        let obj = self.alloc(size);
        self.w(obj, 1);
        self.w(obj + 8, ty);
        self.objects.push(obj);
        obj
    }
    fn track(&mut self, obj: u64, generation: usize) {
        self.gens[generation].push(obj);
    }
    fn cstr(&mut self, s: &str) -> u64 {
        let at = self.alloc(s.len() as u64 + 1);
        self.m.put(at, s.as_bytes());
        at
    }

    fn static_type(&mut self, name: &str, tflags: u64, basicsize: u64, itemsize: u64) -> u64 {
        let size = self.l.sizeof_heap_type + 64;
        let t = self.alloc(size);
        let name = self.cstr(name);
        let l = self.l.clone();
        self.w(t, 1);
        self.w(t + 8, self.t.meta);
        self.w(t + l.tp_name, name);
        self.w(t + l.tp_basicsize, basicsize);
        self.w(t + l.tp_itemsize, itemsize);
        self.w(t + l.tp_flags, tflags | 1 << 12);
        t
    }

    fn str(&mut self, s: &str) -> u64 {
        let l = self.l.clone();
        let obj = self.plain_alloc(l.str_ascii_data + s.len() as u64 + 1, self.t.str_);
        self.w(obj + 16, s.len() as u64);
        self.w(obj + 24, u64::MAX);
        let ready = if l.version.1 <= 11 { 0x80 } else { 0 };
        self.w32(obj + 32, 0x40 | 0x20 | (1 << 2) | ready);
        self.m.put(obj + l.str_ascii_data, s.as_bytes());
        obj
    }

    fn int(&mut self, v: u32) -> u64 {
        let obj = self.plain_alloc(32, self.t.int);
        let size_word = if self.l.version.1 >= 12 { 1 << 3 } else { 1 };
        self.w(obj + 16, size_word);
        self.w32(obj + 24, v & 0x3fff_ffff);
        obj
    }

    fn list(&mut self, items: &[u64]) -> u64 {
        let obj = self.gc_alloc(40, self.t.list);
        let arr = self.alloc(8 * items.len().max(1) as u64);
        for (i, &it) in items.iter().enumerate() {
            self.w(arr + 8 * i as u64, it);
        }
        self.w(obj + 16, items.len() as u64);
        self.w(obj + 24, arr);
        self.w(obj + 32, items.len() as u64);
        obj
    }

    fn tuple(&mut self, items: &[u64]) -> u64 {
        let ti = self.l.tuple_items;
        let obj = self.gc_alloc(ti + 8 * items.len() as u64, self.t.tuple);
        self.w(obj + 16, items.len() as u64);
        for (i, &it) in items.iter().enumerate() {
            self.w(obj + ti + 8 * i as u64, it);
        }
        obj
    }

    /// A combined keys object of the "general" kind holding `entries`.
    fn keys(&mut self, entries: &[(u64, u64)]) -> u64 {
        let mut log2 = 3u64;
        while (1u64 << log2) * 2 / 3 < entries.len() as u64 {
            log2 += 1;
        }
        let size = 1u64 << log2;
        let n = entries.len() as u64;
        let usable = size * 2 / 3 - n;
        if self.l.dict_keys_311 {
            // index bytes: 1 per slot (size ≤ 128 here)
            let keys = self.alloc(32 + size + 24 * size);
            self.w(keys, 1);
            self.m.put(keys + 8, &[log2 as u8, log2 as u8, 0]);
            self.w(keys + 16, usable);
            self.w(keys + 24, n);
            let entries_at = keys + 32 + size;
            for (i, &(k, v)) in entries.iter().enumerate() {
                let e = entries_at + 24 * i as u64;
                self.w(e, i as u64);
                self.w(e + 8, k);
                self.w(e + 16, v);
            }
            keys
        } else {
            let keys = self.alloc(40 + size + 24 * size);
            self.w(keys, 1);
            self.w(keys + 8, size);
            self.w(keys + 24, usable);
            self.w(keys + 32, n);
            let entries_at = keys + 40 + size;
            for (i, &(k, v)) in entries.iter().enumerate() {
                let e = entries_at + 24 * i as u64;
                self.w(e, i as u64);
                self.w(e + 8, k);
                self.w(e + 16, v);
            }
            keys
        }
    }

    fn dict(&mut self, entries: &[(u64, u64)]) -> u64 {
        let obj = self.gc_alloc(48, self.t.dict);
        let keys = self.keys(entries);
        self.w(obj + 16, entries.len() as u64);
        self.w(obj + 32, keys);
        obj
    }

    fn str_dict(&mut self, entries: &[(&str, u64)]) -> u64 {
        let e: Vec<(u64, u64)> = entries.iter().map(|&(k, v)| (self.str(k), v)).collect();
        self.dict(&e)
    }

    fn set(&mut self, items: &[u64]) -> u64 {
        assert!(items.len() <= 4);
        let obj = self.gc_alloc(200, self.t.set);
        self.w(obj + 16, items.len() as u64);
        self.w(obj + 24, items.len() as u64);
        self.w(obj + 32, 7);
        self.w(obj + 40, obj + 64);
        for (i, &it) in items.iter().enumerate() {
            self.w(obj + 64 + 16 * i as u64, it);
            self.w(obj + 72 + 16 * i as u64, i as u64);
        }
        obj
    }

    /// A deque of `items` (at most 64) in one block.
    fn deque(&mut self, items: &[u64]) -> u64 {
        let obj = self.gc_alloc(96, self.t.deque);
        let block = self.alloc(8 + 64 * 8 + 8);
        for (i, &it) in items.iter().enumerate() {
            self.w(block + 8 + 8 * i as u64, it);
        }
        self.w(obj + 16, items.len() as u64);
        self.w(obj + 24, block);
        self.w(obj + 32, block);
        self.w(obj + 40, 0);
        self.w(obj + 48, items.len() as u64);
        self.w(obj + 64, u64::MAX); // maxlen -1: unbounded
        obj
    }

    fn heap_type(
        &mut self,
        qualname: &str,
        tflags: u64,
        basicsize: u64,
        dictoffset: i64,
        slots: &[u64],
    ) -> u64 {
        let l = self.l.clone();
        let t = self.gc_alloc(l.sizeof_heap_type + 64, self.t.meta);
        let name = self.str(qualname);
        let module = self.str("__main__");
        let tp_dict = self.str_dict(&[("__module__", module)]);
        let members = self.alloc(40 * (slots.len() as u64 + 1));
        for (i, &off) in slots.iter().enumerate() {
            let mname = self.cstr(&format!("slot{i}"));
            let at = members + 40 * i as u64;
            self.w(at, mname);
            self.w32(at + 8, 16); // T_OBJECT_EX
            self.w(at + 16, off);
        }
        self.w(t + l.tp_name, name + l.str_ascii_data);
        self.w(t + l.tp_basicsize, basicsize);
        self.w(t + l.tp_flags, tflags | flags::HEAPTYPE | 1 << 10 | 1 << 12);
        self.w(t + l.tp_members, members);
        self.w(t + l.tp_dict, tp_dict);
        self.w(t + l.tp_dictoffset, dictoffset as u64);
        self.w(t + l.ht_qualname, name);
        self.track(t, 2);
        self.track(tp_dict, 2);
        t
    }

    /// A heap for layout `l`: a few of every kind, reachable from `__main__`'s globals.
    fn new(l: &Layout) -> Fake {
        let mut f = Fake {
            m: FakeMemory::default(),
            l: l.clone(),
            next: HEAP_BASE,
            runtime: 0,
            gcstate: 0,
            t: Types {
                meta: 0,
                list: 0,
                tuple: 0,
                dict: 0,
                set: 0,
                str_: 0,
                int: 0,
                module: 0,
                deque: 0,
                evil: 0,
                slotted: 0,
            },
            gens: Default::default(),
            objects: Vec::new(),
            list: 0,
            tuple: 0,
            dict: 0,
            set: 0,
            deque: 0,
            instance: 0,
            slotted_instance: 0,
            globals: 0,
            modules: 0,
            module: 0,
        };
        // the runtime (and the 3.8 gc state in it), then the interpreter
        f.runtime = f.alloc(1024);
        let interp = f.next;
        f.next = (f.next + l.interp_modules.max(l.interp_gc.unwrap_or(0) + 300) + 64) & !15;
        f.w(f.runtime + l.runtime_interpreters_head, interp);
        f.gcstate = match (l.runtime_gc, l.interp_gc) {
            (Some(off), _) => f.runtime + off,
            (_, Some(off)) => interp + off,
            _ => unreachable!(),
        };
        f.m.put(f.gcstate, &[0u8; 272]);
        f.w32(f.gcstate + l.gc_enabled, 1);

        let gc = flags::HAVE_GC;
        f.t.meta = f.alloc(l.sizeof_heap_type + 64);
        let type_name = f.cstr("type");
        let meta = f.t.meta;
        f.w(meta, 1);
        f.w(meta + 8, meta);
        f.w(meta + l.tp_name, type_name);
        f.w(meta + l.tp_basicsize, l.sizeof_heap_type);
        f.w(meta + l.tp_itemsize, 40);
        f.w(meta + l.tp_flags, flags::TYPE_SUBCLASS | gc | 1 << 12);
        f.t.list = f.static_type("list", flags::LIST_SUBCLASS | gc, 40, 0);
        f.t.tuple = f.static_type("tuple", flags::TUPLE_SUBCLASS | gc, l.tuple_items, 8);
        f.t.dict = f.static_type("dict", flags::DICT_SUBCLASS | gc, 48, 0);
        f.t.set = f.static_type("set", gc, 200, 0);
        f.t.str_ = f.static_type("str", flags::UNICODE_SUBCLASS, l.str_compact_data + 8, 0);
        f.t.int = f.static_type("int", flags::LONG_SUBCLASS, 24, 4);
        f.t.module = f.static_type("module", gc, 72, 0);
        f.t.deque = f.static_type("collections.deque", gc, 632, 0);

        // classes defined in Python
        let managed = if l.version.1 >= 11 {
            flags::MANAGED_DICT
        } else {
            0
        };
        let (basicsize, dictoffset) = match l.version.1 {
            8..=10 => (32, 16),
            11 => (24, -48),
            _ => (16, -1),
        };
        f.t.evil = f.heap_type("Evil", gc | managed, basicsize, dictoffset, &[]);
        f.t.slotted = f.heap_type("Slotted", gc, 32, 0, &[16, 24]);

        // objects
        let (i1, i2, s1) = (f.int(1), f.int(2), f.str("hello"));
        f.tuple = f.tuple(&[i1, s1]);
        let inner = f.list(&[i2]);
        f.list = f.list(&[i1, s1, f.tuple, inner]);
        f.dict = f.str_dict(&[("a", i1), ("b", f.list)]);
        f.set = f.set(&[i1, i2, s1]);
        f.deque = f.deque(&[i1, s1, f.tuple]);
        f.instance = f.gc_alloc(basicsize, f.t.evil);
        let attrs = f.str_dict(&[("x", i1), ("items", inner)]);
        let dict_slot = if l.version.1 >= 11 {
            f.instance - 24
        } else {
            f.instance + 16
        };
        f.w(dict_slot, attrs);
        f.slotted_instance = f.gc_alloc(32, f.t.slotted);
        f.w(f.slotted_instance + 16, i2);
        f.w(f.slotted_instance + 24, f.dict);
        for o in [f.tuple, inner, f.list, f.dict, f.set, f.deque, attrs] {
            f.track(o, 2);
        }
        f.track(f.instance, 0);
        f.track(f.slotted_instance, 1);

        f.globals = f.str_dict(&[
            ("LIST", f.list),
            ("D", f.dict),
            ("S", f.set),
            ("Q", f.deque),
            ("T", f.tuple),
            ("E", f.instance),
            ("SL", f.slotted_instance),
            ("Evil", f.t.evil),
        ]);
        f.module = f.gc_alloc(72, f.t.module);
        f.w(f.module + 16, f.globals);
        f.modules = f.str_dict(&[("__main__", f.module)]);
        f.w(interp + l.interp_modules, f.modules);
        for o in [f.globals, f.module, f.modules] {
            f.track(o, 2);
        }
        f
    }

    /// Write the generation lists: circular, doubly linked through their heads.
    fn link(&mut self) {
        for g in 0..4 {
            let head = if g == 3 {
                self.gcstate + self.l.gc_permanent
            } else {
                self.gcstate + self.l.gc_generations + 24 * g as u64
            };
            let nodes: Vec<u64> = self.gens[g].iter().map(|o| o - 16).collect();
            let mut prev = head;
            for &n in &nodes {
                self.w(prev, n);
                self.w(n + 8, prev);
                prev = n;
            }
            self.w(prev, head);
            self.w(head + 8, prev);
            self.w32(head + 16, 700);
        }
    }

    /// GC list node (PyGC_Head) of the `i`th object of generation `g`.
    fn node(&self, g: usize, i: usize) -> u64 {
        self.gens[g][i] - 16
    }

    fn head(&self, g: usize) -> u64 {
        self.gcstate + self.l.gc_generations + 24 * g as u64
    }

    /// Run the case: every API entry point on this heap, with every object as a probe.
    fn check(self, extra_probes: &[u64]) -> Result<CaseReport, String> {
        let mut probes = self.objects.clone();
        probes.extend_from_slice(extra_probes);
        probes.push(self.runtime);
        check_case(self.m, &self.l, self.runtime, probes)
    }
}

/// Build a fake heap for every layout, damage it with `damage` (which returns extra probes),
/// and check the bounds; panics naming the case and version.
fn survive(case: &str, damage: impl Fn(&mut Fake) -> Vec<u64>) {
    let mut failures = Vec::new();
    for l in layouts() {
        let mut f = Fake::new(&l);
        f.link();
        let probes = damage(&mut f);
        if let Err(e) = f.check(&probes) {
            failures.push(format!("{case} on {:?}: {e}", l.version));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

// --- the well-formed heap, as a baseline ------------------------------------------------------

#[test]
fn hostile_baseline_heap_is_walked_completely() {
    for l in layouts() {
        let mut f = Fake::new(&l);
        f.link();
        let expected_tracked: u64 = f.gens.iter().map(|g| g.len() as u64).sum();
        let (runtime, list, deque) = (f.runtime, f.list, f.deque);
        let m = &f.m;
        let it = Interpreter::find(m, &l, runtime).expect("interpreter");
        let mut w = Walker::new(m, &l, 0);
        let idx = w.index(&it, 5);
        assert!(idx.broken_lists.is_empty(), "{:?}", l.version);
        assert_eq!(idx.invalid, 0, "{:?}", l.version);
        let tracked: u64 = idx.tallies.iter().map(|t| t.gc_count).sum();
        assert_eq!(tracked, expected_tracked, "{:?}", l.version);
        let other: u64 = idx.tallies.iter().map(|t| t.other_count).sum();
        // int 1, int 2, "hello", and the strs of dict keys and type names reached
        assert!(other >= 3, "{:?}: {other} untracked", l.version);
        let rows = Namer::new(&mut w).run(&it);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        for want in ["__main__.LIST", "__main__.D", "__main__.S", "__main__.Q"] {
            assert!(
                names.contains(&want),
                "{:?}: {want} not in {names:?}",
                l.version
            );
        }
        let lens: Vec<(String, u64)> = rows.iter().map(|r| (r.name.clone(), r.len)).collect();
        assert!(lens.contains(&("__main__.LIST".into(), 4)), "{lens:?}");
        assert!(lens.contains(&("__main__.Q".into(), 3)), "{lens:?}");
        assert!(
            lens.contains(&("__main__.E.items".into(), 1)),
            "{:?}: instance attribute: {lens:?}",
            l.version
        );
        let lt = w.type_of(list).unwrap();
        assert_eq!(w.types.get(lt).name, "list");
        let dt = w.type_of(deque).unwrap();
        assert_eq!(w.types.get(dt).name, "collections.deque");
        let report = f.check(&[]).unwrap();
        assert!(report.peak < 1 << 20, "{report:?}");
        assert!(
            report.reads > 100 && report.elapsed < CASE_TIME,
            "{report:?}"
        );
    }
}

// --- a layout that does not match the heap ------------------------------------------------------

/// The GC list probe of attach finds the generation heads where they are, tries the layout's
/// other candidates (3.13's patch releases moved them by 4 bytes), and refuses a layout whose
/// heads do not link up; a walk at a wrong offset finds nothing, and that census is refused
/// instead of reported as zero objects.
#[test]
fn hostile_wrong_generation_offsets_are_found_out() {
    for l in layouts() {
        let mut f = Fake::new(&l);
        f.link();
        let (m, runtime) = (&f.m, f.runtime);
        assert_eq!(
            super::probe_gc_lists(m, &l, runtime),
            Ok(l.gc_generations),
            "{:?}",
            l.version
        );
        let mut wrong = l.clone();
        wrong.gc_generations_candidates = vec![l.gc_generations + 4, l.gc_generations + 8];
        let e = super::probe_gc_lists(m, &wrong, runtime).unwrap_err();
        assert!(e.contains("no generation list heads link up"), "{e}");
        wrong.gc_generations_candidates = vec![l.gc_generations + 4, l.gc_generations];
        assert_eq!(
            super::probe_gc_lists(m, &wrong, runtime),
            Ok(l.gc_generations),
            "{:?}",
            l.version
        );
        // what a census at the wrong offset would have walked: nothing, or torn lists
        wrong.gc_generations = l.gc_generations + 4;
        let it = Interpreter::find(m, &wrong, runtime).unwrap();
        let mut w = Walker::new(m, &wrong, 0);
        let idx = w.index(&it, 5);
        let tracked: u64 = idx.tallies.iter().map(|t| t.gc_count).sum();
        let consistent = idx.broken_lists.is_empty();
        assert!(tracked == 0 || !consistent, "{:?}: {tracked}", l.version);
        let verdict = super::census_verdict("CPython test", tracked, consistent, false, 5);
        assert!(
            matches!(&verdict, Err(super::HeapError::NotUnderstood(e)) if e.contains("GC list layout not understood")),
            "{verdict:?}"
        );
    }
    assert!(super::census_verdict("x", 10, true, false, 1).is_ok());
    assert!(super::census_verdict("x", 10, false, true, 1).is_ok());
}

// --- damaged generation lists -------------------------------------------------------------------

#[test]
fn hostile_generation_list_cycles_without_its_head() {
    survive("gen2 cycles back to its 3rd node", |f| {
        let n = f.gens[2].len();
        let (last, third) = (f.node(2, n - 1), f.node(2, 2));
        f.w(last, third);
        vec![]
    });
    survive("gen2 node links to itself", |f| {
        let node = f.node(2, 1);
        f.w(node, node);
        f.w(node + 8, node);
        vec![]
    });
    survive("gen1 head's next is a gen2 node", |f| {
        let (head, node) = (f.head(1), f.node(2, 0));
        f.w(head, node);
        vec![]
    });
    survive("flag bits set on every link", |f| {
        for g in 0..3 {
            for i in 0..f.gens[g].len() {
                let n = f.node(g, i);
                let (next, prev) = (f.m.u64_at(n).unwrap(), f.m.u64_at(n + 8).unwrap());
                f.w(n, next | 3);
                f.w(n + 8, prev | 3);
            }
        }
        vec![]
    });
}

#[test]
fn hostile_generation_list_nodes_point_into_unmapped_memory() {
    survive("gen0 head points at an unmapped node", |f| {
        let head = f.head(0);
        f.w(head, UNMAPPED);
        vec![]
    });
    survive("gen2 node's next is unmapped", |f| {
        let node = f.node(2, 3);
        f.w(node, UNMAPPED | 1);
        vec![]
    });
    survive(
        "gen2 node's next is 0xffff_ffff_ffff_fff0 (unmapped, no overflow)",
        |f| {
            let node = f.node(2, 3);
            f.w(node, 0xffff_ffff_ffff_fff0);
            vec![]
        },
    );
    survive("gen2 node's next is NULL", |f| {
        let node = f.node(2, 3);
        f.w(node, 0);
        vec![]
    });
    survive(
        "objects whose type pointer is unmapped, NULL, or odd",
        |f| {
            let (a, b, c) = (f.gens[2][0], f.gens[2][1], f.gens[2][2]);
            f.w(a + 8, UNMAPPED);
            f.w(b + 8, 0);
            f.w(c + 8, f.t.list + 3);
            vec![]
        },
    );
    survive("the interpreter pointer is unmapped", |f| {
        let at = f.runtime + f.l.runtime_interpreters_head;
        f.w(at, UNMAPPED);
        vec![]
    });
    survive("the gc state's heads are unmapped", |f| {
        let gcstate = f.gcstate;
        for off in (0..272).step_by(8) {
            f.m.bytes.remove(&(gcstate + off));
        }
        vec![]
    });
}

// --- damaged types ------------------------------------------------------------------------

#[test]
fn hostile_types_that_are_their_own_type_and_base() {
    survive(
        "a heap type that is its own type, base and dict entry",
        |f| {
            let t = f.t.evil;
            let l = f.l.clone();
            f.w(t + 8, t);
            f.w(t + l.tp_base, t);
            let old = f.m.u64_at(t + l.tp_flags).unwrap();
            f.w(t + l.tp_flags, old | flags::TYPE_SUBCLASS);
            let d = f.dict(&[(t, t)]);
            f.w(t + l.tp_dict, d);
            vec![t, d]
        },
    );
    survive("two types each other's base", |f| {
        let l = f.l.clone();
        let (a, b) = (f.t.evil, f.t.slotted);
        f.w(a + l.tp_base, b);
        f.w(b + l.tp_base, a);
        vec![]
    });
    survive("a metatype without the type flag", |f| {
        let l = f.l.clone();
        let meta = f.t.meta;
        f.w(meta + l.tp_flags, flags::HAVE_GC);
        vec![]
    });
    survive(
        "type names: unterminated, huge qualname, garbage __module__",
        |f| {
            let l = f.l.clone();
            let page = f.alloc(4096);
            f.m.put(page, &[b'A'; 4096]);
            let list = f.t.list;
            f.w(list + l.tp_name, page);
            let q = f.m.u64_at(f.t.evil + l.ht_qualname).unwrap();
            f.w(q + 16, 1 << 62);
            let d = f.list(&[]);
            f.w(f.t.slotted + l.tp_dict, d);
            vec![page]
        },
    );
    survive("tp_members runs on for 2,000 entries", |f| {
        let l = f.l.clone();
        let members = f.alloc(40 * 2000);
        let name = f.cstr("m");
        for i in 0..2000u64 {
            f.w(members + 40 * i, name);
            f.w32(members + 40 * i + 8, 16);
            f.w(members + 40 * i + 16, 8 * (i % 512) + 16);
        }
        f.w(f.t.slotted + l.tp_members, members);
        vec![]
    });
    survive("basicsize, itemsize and dictoffset at their limits", |f| {
        let l = f.l.clone();
        let t = f.t.evil;
        f.w(t + l.tp_basicsize, 1 << 20);
        f.w(t + l.tp_itemsize, 1 << 16);
        f.w(t + l.tp_dictoffset, i64::MIN as u64);
        let s = f.t.slotted;
        f.w(s + l.tp_dictoffset, (-(1i64 << 40)) as u64);
        vec![]
    });
}

// --- containers with absurd lengths -----------------------------------------------------------

#[test]
fn hostile_containers_claiming_2_pow_60_items() {
    survive("list, tuple, deque, set and dict sizes of 2^60", |f| {
        for o in [f.list, f.tuple, f.deque] {
            f.w(o + 16, 1 << 60);
        }
        f.w(f.list + 32, 1 << 60); // allocated
        f.w(f.set + 32, 1 << 60); // mask
        f.w(f.set + 24, 1 << 60); // used
        f.w(f.dict + 16, 1 << 60); // ma_used
        vec![]
    });
    survive("negative sizes", |f| {
        for o in [f.list, f.tuple, f.deque] {
            f.w(o + 16, i64::MIN as u64);
        }
        f.w(f.list + 32, u64::MAX);
        f.w(f.set + 32, u64::MAX);
        f.w(f.dict + 16, u64::MAX);
        vec![]
    });
    survive("a list whose items are the list itself", |f| {
        let list = f.list;
        let arr = f.alloc(8 * 64);
        for i in 0..64 {
            f.w(arr + 8 * i, list);
        }
        f.w(list + 24, arr);
        f.w(list + 16, 64);
        vec![]
    });
}

#[test]
fn hostile_dict_keys_objects_with_absurd_sizes() {
    survive("keys: size 2^40, index bytes 2^43, nentries 2^60", |f| {
        let keys = f.m.u64_at(f.dict + 32).unwrap();
        if f.l.dict_keys_311 {
            f.m.put(keys + 8, &[40, 43, 0]);
            f.w(keys + 24, 1 << 60);
        } else {
            f.w(keys + 8, 1 << 40);
            f.w(keys + 32, 1 << 60);
        }
        vec![keys]
    });
    survive(
        "keys: kind 7, log2 size 200, size not a power of two",
        |f| {
            let keys = f.m.u64_at(f.dict + 32).unwrap();
            if f.l.dict_keys_311 {
                f.m.put(keys + 8, &[200, 7, 7]);
            } else {
                f.w(keys + 8, 12345);
            }
            vec![keys]
        },
    );
    survive("split values pointing into unmapped memory", |f| {
        let (dict, globals) = (f.dict, f.globals);
        f.w(dict + 40, UNMAPPED);
        f.w(globals + 40, 8);
        vec![]
    });
    survive("ma_keys is the dict itself", |f| {
        let dict = f.dict;
        f.w(dict + 32, dict);
        vec![]
    });
}

#[test]
fn hostile_strs_with_odd_states() {
    survive("strs: length -1, kind 0, legacy with unmapped data", |f| {
        let l = f.l.clone();
        let (a, b, c) = (f.str("aaaa"), f.str("bbbb"), f.str("cccc"));
        f.w(a + 16, u64::MAX);
        f.w32(b + 32, 0x20); // compact, kind 0
        f.w32(c + 32, 2 << 2); // legacy UCS-2
        f.w(c + l.str_compact_data, UNMAPPED);
        let list = f.list(&[a, b, c]);
        f.track(list, 2);
        f.link();
        vec![a, b, c]
    });
    survive("a str of 2^40 characters", |f| {
        let s = f.str("short");
        f.w(s + 16, 1 << 40);
        let list = f.list(&[s]);
        f.track(list, 2);
        f.link();
        vec![s]
    });
}

#[test]
fn hostile_deques_with_broken_blocks() {
    survive("deque: block link unmapped", |f| {
        let q = f.deque;
        let block = f.m.u64_at(q + 24).unwrap();
        f.w(q + 16, 200);
        f.w(block + 8 + 8 * 64, UNMAPPED);
        vec![]
    });
    survive("deque: leftindex out of range, NULL block", |f| {
        let q = f.deque;
        f.w(q + 40, 1 << 40);
        let d2 = f.deque(&[]);
        f.w(d2 + 24, 0);
        f.w(d2 + 16, 1000);
        f.track(d2, 2);
        f.link();
        vec![d2]
    });
}

#[test]
fn hostile_module_dicts_with_garbage() {
    survive(
        "sys.modules holds non-str keys and non-module values",
        |f| {
            let (a, b) = (f.int(7), f.list);
            let l = f.l.clone();
            let modules = f.dict(&[(a, f.module), (f.module, b), (UNMAPPED, UNMAPPED)]);
            let interp = f.m.u64_at(f.runtime + l.runtime_interpreters_head).unwrap();
            f.w(interp + l.interp_modules, modules);
            vec![]
        },
    );
    survive(
        "a module whose md_dict is a list, another's is unmapped",
        |f| {
            let m2 = f.gc_alloc(72, f.t.module);
            f.w(m2 + 16, UNMAPPED);
            let (list, module, modules) = (f.list, f.module, f.modules);
            f.w(module + 16, list);
            let keys = f.m.u64_at(modules + 32).unwrap();
            // point the one entry of sys.modules at the broken module
            let entry = if f.l.dict_keys_311 {
                keys + 32 + 8
            } else {
                keys + 40 + 8
            };
            f.w(entry + 16, m2);
            vec![m2]
        },
    );
    survive("globals whose keys are unmapped or huge strs", |f| {
        let s = f.str("NAME");
        f.w(s + 16, 1 << 61);
        let (list, dict) = (f.list, f.dict);
        let g = f.dict(&[(UNMAPPED, list), (s, dict), (0, list), (8, 8)]);
        let module = f.module;
        f.w(module + 16, g);
        vec![g]
    });
    survive("sys.modules is not a dict", |f| {
        let l = f.l.clone();
        let interp = f.m.u64_at(f.runtime + l.runtime_interpreters_head).unwrap();
        f.w(interp + l.interp_modules, f.list);
        vec![]
    });
}

#[test]
fn hostile_instance_dicts_in_every_regime() {
    survive("managed dict and values words hold garbage", |f| {
        let (e, t) = (f.instance, f.t.evil);
        let l = f.l.clone();
        f.w(e - 24, UNMAPPED | 1); // 3.12: tagged values; others: an odd pointer
        f.w(e - 32, UNMAPPED);
        f.w(e + 16, UNMAPPED); // ≤3.10: the dict slot
        // the class's shared keys claim 2^28 entries
        let keys = f.keys(&[]);
        if l.dict_keys_311 {
            f.m.put(keys + 8, &[30, 30, 1]);
            f.w(keys + 24, 1 << 28);
        } else {
            f.w(keys + 8, 1 << 29);
            f.w(keys + 32, 1 << 28);
        }
        f.w(t + l.ht_cached_keys, keys);
        let old = f.m.u64_at(t + l.tp_flags).unwrap();
        f.w(t + l.tp_flags, old | flags::INLINE_VALUES);
        f.m.put(e + 16 + 3, &[1]); // inline values "valid"
        vec![]
    });
}

// --- inputs that once broke a bound (fixed: chunked reads that stop at unreadable memory, ------
// --- callbacks instead of collected item lists, saturating sizes, pointers above user space) ---

/// Most hostile lengths below the caps (`MAX_ITEMS` = 2^28, `MAX_ENTRIES` = 2^28) are trusted:
/// one damaged header costs up to 2^28 reads, each of which, in a real census, is a live
/// `process_vm_readv` once it falls outside the copy.
#[test]
fn hostile_was_bug_list_of_2_pow_28_unreadable_items() {
    survive("list: ob_size 2^28, ob_item unmapped", |f| {
        let list = f.list;
        f.w(list + 16, 1 << 28);
        f.w(list + 24, UNMAPPED);
        vec![]
    });
}

#[test]
fn hostile_was_bug_set_with_mask_2_pow_28() {
    survive("set: mask 2^28-1, table unmapped", |f| {
        let set = f.set;
        f.w(set + 32, (1 << 28) - 1);
        f.w(set + 40, UNMAPPED);
        vec![]
    });
}

#[test]
fn hostile_was_bug_dict_of_2_pow_28_entries() {
    survive("dict keys: 2^28 entries in a table of 2^29 slots", |f| {
        let keys = f.m.u64_at(f.dict + 32).unwrap();
        if f.l.dict_keys_311 {
            f.m.put(keys + 8, &[29, 29, 0]);
            f.w(keys + 24, 1 << 28);
        } else {
            f.w(keys + 8, 1 << 29);
            f.w(keys + 32, 1 << 28);
        }
        vec![]
    });
}

#[test]
fn hostile_was_bug_deque_block_linked_to_itself() {
    survive(
        "deque: ob_size 2^28, one block whose rightlink is itself",
        |f| {
            let q = f.deque;
            let block = f.m.u64_at(q + 24).unwrap();
            let item = f.int(5);
            for i in 0..64 {
                f.w(block + 8 + 8 * i, item);
            }
            f.w(block + 8 + 8 * 64, block);
            f.w(q + 16, 1 << 28);
            vec![]
        },
    );
}

#[test]
fn hostile_was_bug_str_length_2_pow_62() {
    // found by hostile_random_words_over_a_valid_heap: objects.rs `(wchars + 1) * 4`
    survive(
        "str (3.8-3.11): length 2^62, compact ASCII, wstr set",
        |f| {
            let s = f.str("x");
            f.w(s + 16, 1 << 62);
            if let Some((wstr, _)) = f.l.str_wstr {
                f.w(s + wstr, UNMAPPED);
            }
            let list = f.list(&[s]);
            f.track(list, 2);
            f.link();
            vec![s]
        },
    );
    survive("str: length 2^62, compact, kind 4", |f| {
        let s = f.str("x");
        f.w(s + 16, 1 << 62);
        f.w32(s + 32, 0x20 | (4 << 2));
        let list = f.list(&[s]);
        f.track(list, 2);
        f.link();
        vec![s]
    });
}

#[test]
fn hostile_was_bug_dict_usable_2_pow_62() {
    survive("split dict: dk_usable 2^62", |f| {
        let dict = f.dict;
        let keys = f.m.u64_at(dict + 32).unwrap();
        let usable_at = if f.l.dict_keys_311 { 16 } else { 24 };
        f.w(keys + usable_at, 1 << 62);
        let values = f.alloc(64);
        f.w(dict + 40, values);
        vec![]
    });
}

#[test]
fn hostile_was_bug_pointers_at_the_top_of_the_address_space() {
    survive(
        "a list item at 0xffff_ffff_ffff_fff8 (walk.rs type_of: addr + 8)",
        |f| {
            let list = f.list;
            let arr = f.m.u64_at(list + 24).unwrap();
            f.w(arr, 0xffff_ffff_ffff_fff8);
            vec![0xffff_ffff_ffff_fff8]
        },
    );
    survive(
        "a gc link at 0xffff_ffff_ffff_fff8 (walk.rs: node + 8)",
        |f| {
            let node = f.node(2, 1);
            f.w(node, 0xffff_ffff_ffff_fff8);
            vec![]
        },
    );
}

/// A list header claiming 2^28 items over a large readable region (a real copy holds the
/// whole heap): `referents` collects every word of the region as an item, 8 bytes each, up to
/// 2^28 of them (2 GiB), and the walk then pushes each onto its stack.
#[test]
fn hostile_was_bug_list_over_a_large_readable_copy() {
    let l = Layout::new(3, 11, 7).unwrap();
    let mut f = Fake::new(&l);
    f.link();
    let base = 0x6000_0000_0000u64;
    let size = 320usize << 20;
    let mut data = vec![0u8; size];
    let words = size as u64 / 8;
    for (i, w) in data.chunks_exact_mut(8).enumerate() {
        w.copy_from_slice(&(base + 8 * ((i as u64 * 7919) % words)).to_le_bytes());
    }
    let list = f.list;
    f.w(list + 16, 1 << 28);
    f.w(list + 24, base);
    let (runtime, mut probes) = (f.runtime, f.objects.clone());
    probes.push(list);
    // the big region as the copy, the fake heap as what a live read would reach
    let copy = HeapCopy::new(
        vec![Region::whole(base, RegionData::Vec(data))],
        Some(Box::new(f.m)),
    );
    let r = check_case(copy, &l, runtime, probes);
    assert!(r.is_ok(), "{}", r.unwrap_err());
}

/// The walk on two threads finds what it finds on one: counts by type, the GC objects (for
/// the graph, and the youngest of each type), the largest objects; untracked objects shared by containers
/// that different threads walk are counted once.
#[test]
fn a_walk_on_two_threads_finds_what_one_finds() {
    let l = Layout::new(3, 11, 7).unwrap();
    let mut f = Fake::new(&l);
    let shared: Vec<u64> = (0..500).map(|i| f.int(1000 + i)).collect();
    for i in 0..30_000u32 {
        let own = f.int(i);
        let item = match i % 3 {
            0 => f.list(&[own, shared[i as usize % 500]]),
            1 => {
                let t = f.tuple(&[shared[(i as usize * 7) % 500], own]);
                f.list(&[t])
            }
            _ => f.list(&[own; 3]),
        };
        f.track(item, (i % 3) as usize);
    }
    f.link();
    let (runtime, end, m) = (f.runtime, f.next, f.m);
    // the fake heap's second half copied (a copy threads can share), its first half read
    // through the fallback: both ways of de-duplicating untracked objects are taken
    let mid = (HEAP_BASE + (end - HEAP_BASE) / 2) & !(CHUNK - 1);
    let data = bytes_of(&m, mid, end);
    let copy = HeapCopy::new(
        vec![Region::whole(mid, RegionData::Vec(data))],
        Some(Box::new(m)),
    );
    let it = Interpreter::find(&copy, &l, runtime).expect("interpreter");
    let walk = |threads: usize| {
        let mut w = Walker::new(&copy, &l, 0);
        w.keep_objects = true;
        w.threads = Some(threads);
        let mut idx = w.index(&it, 20);
        let name = |ty: super::types::TypeId| w.types.get(ty).name.clone();
        let mut tallies: Vec<(String, u64, u64, u64, u64)> = idx
            .tallies
            .iter()
            .enumerate()
            .map(|(ty, t)| {
                (
                    name(ty as u32),
                    t.gc_count,
                    t.gc_bytes,
                    t.other_count,
                    t.other_bytes,
                )
            })
            .filter(|t| t.1 + t.3 > 0)
            .collect();
        tallies.sort();
        let seed = idx.graph.take().expect("the nodes");
        let youngest: std::collections::BTreeMap<String, u64> = seed
            .youngest
            .iter()
            .map(|(&ty, &(_, addr))| (name(ty), addr))
            .collect();
        let objects = (seed.nodes.addrs(), seed.frozen, youngest);
        let largest: Vec<(u64, u64, String)> = idx
            .largest
            .iter()
            .map(|&(size, addr, ty)| (size, addr, name(ty)))
            .collect();
        (
            tallies,
            objects,
            largest,
            idx.generation_objects,
            idx.invalid,
        )
    };
    let one = walk(1);
    let two = walk(2);
    assert_eq!(one.0, two.0, "counts by type");
    assert_eq!(one.3, two.3, "objects per generation");
    assert!(
        one.1 == two.1,
        "GC objects, the frozen or the youngest of a type differ"
    );
    assert_eq!(one.2, two.2, "largest objects");
    assert_eq!(one.4, two.4, "invalid objects");
    let ints = one.0.iter().find(|t| t.0 == "int").expect("ints counted");
    // (and the couple of ints of the fake heap's own objects)
    assert!(
        (30_500..30_510).contains(&ints.3),
        "each int once: {}",
        ints.3
    );
    assert!(one.1.0.len() > 30_000, "{}", one.1.0.len());
}

// --- proptest: random pages, random words over a valid heap ----------------------------------------

/// Words that make interesting garbage: NULL, small and huge counts (below and above the
/// caps), flag patterns, and pointers into the heap, to its objects' headers, and nowhere.
///
/// Two bands are left to the ignored tests above, which pin them as bugs: counts between 2^20
/// and the caps (2^28: that many reads each), and values past 2^56 (as str lengths or
/// dk_usable they overflow the size arithmetic; near 2^64, the address arithmetic).
fn word(heap_lo: u64, heap_hi: u64, pages: Vec<u64>) -> impl Strategy<Value = u64> {
    let span = heap_hi - heap_lo;
    prop_oneof![
        Just(0u64),
        0u64..256,
        (0u32..20).prop_map(|s| 1u64 << s),
        (29u32..57).prop_map(|s| 1u64 << s),
        Just(u64::MAX >> 8),
        (0..span / 8).prop_map(move |i| heap_lo + 8 * i),
        (0..span / 8, 0u64..4).prop_map(move |(i, bits)| (heap_lo + 8 * i) | bits),
        (0..pages.len().max(1), 0u64..512)
            .prop_map(move |(p, i)| pages.get(p).map_or(UNMAPPED, |&b| b + 8 * i)),
        Just(UNMAPPED),
        any::<u64>().prop_map(|v| v >> 8),
    ]
}

fn minors() -> impl Strategy<Value = Layout> {
    prop::sample::select(layouts())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        max_shrink_iters: 64,
        ..ProptestConfig::default()
    })]

    /// Random words written over a valid heap's objects, types, dicts and GC links.
    #[test]
    fn hostile_random_words_over_a_valid_heap(
        l in minors(),
        writes in prop::collection::vec((any::<prop::sample::Index>(), 0u64..64, any::<prop::sample::Index>()), 1..40),
        seed_words in prop::collection::vec(any::<u64>(), 64),
    ) {
        let mut f = Fake::new(&l);
        f.link();
        let (lo, hi) = (HEAP_BASE, f.next);
        // the words to write: drawn from the interesting set by the seed
        let mut targets: Vec<u64> = f.objects.clone();
        targets.extend(f.gens.iter().flatten().map(|o| o - 16));
        targets.push(f.t.evil);
        targets.push(f.t.list);
        targets.push(f.gcstate);
        let mut done = Vec::new();
        for (i, (target, field, pick)) in writes.iter().enumerate() {
            let at = *target.get(&targets) + 8 * field;
            let seed = seed_words[i % seed_words.len()];
            let value = match pick.index(8) {
                0 => 0,
                1 => seed % 256,
                // small, or past the caps and below 2^56 (see `word`)
                2 => 1 << [seed % 20, 29 + seed % 28][(seed >> 40) as usize % 2],
                3 => lo + 8 * (seed % ((hi - lo) / 8)),
                4 => *pick.get(&targets),
                5 => UNMAPPED,
                6 => seed >> 8,
                _ => (lo + 8 * (seed % ((hi - lo) / 8))) | (seed & 3),
            };
            f.w(at, value);
            done.push((at, value));
        }
        let version = l.version;
        let r = f.check(&[]);
        prop_assert!(r.is_ok(), "{:?} after writes {:x?}: {}", version, done, r.unwrap_err());
    }

    /// Random pages mapped at random addresses next to a valid heap, with the GC lists,
    /// sys.modules and a list's items pointing into them.
    #[test]
    fn hostile_random_pages_at_random_addresses(
        l in minors(),
        page_slots in prop::collection::vec(0u64..4096, 1..6),
        contents in prop::collection::vec(prop::collection::vec(any::<u64>(), 512), 1..6),
        words in prop::collection::vec(any::<prop::sample::Index>(), 512),
        redirect in 0usize..5,
    ) {
        let mut f = Fake::new(&l);
        f.link();
        let region = 0x7000_0000_0000u64;
        let pages: Vec<u64> = page_slots.iter().map(|s| region + 4096 * s).collect();
        let (lo, hi) = (HEAP_BASE, f.next);
        // a page's words: half pure noise, half from the interesting set
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strat = word(lo, hi, pages.clone());
        for (p, &page) in pages.iter().enumerate() {
            let noise = &contents[p % contents.len()];
            for i in 0..512 {
                let v = if words[i].index(2) == 0 {
                    noise[i] >> 8
                } else {
                    strat.new_tree(&mut runner).unwrap().current()
                };
                f.w(page + 8 * i as u64, v);
            }
        }
        let into = pages[redirect % pages.len()] + 16 + 8 * (redirect as u64);
        match redirect {
            0 => { let h = f.head(2); f.w(h, into); }
            1 => { let n = f.node(2, 2); f.w(n, into); }
            2 => { let m = f.modules; f.w(m + 32, into); }
            3 => { let a = f.m.u64_at(f.list + 24).unwrap(); f.w(a, into); }
            _ => {
                let at = f.runtime + f.l.runtime_interpreters_head;
                f.w(at, into);
            }
        }
        let version = l.version;
        let r = f.check(&pages);
        prop_assert!(r.is_ok(), "{:?}, pages at {:x?}, redirect {}: {}", version, pages, redirect, r.unwrap_err());
    }
}

/// The fake memory's bytes in `[lo, hi)` as a copy would hold them, unwritten bytes zero
/// (byte by byte: a word read fails where any of its bytes is unwritten, as past the end of
/// a type's name, and would drop the name's last bytes).
fn bytes_of(m: &FakeMemory, lo: u64, hi: u64) -> Vec<u8> {
    (lo..hi)
        .map(|a| m.bytes.get(&a).copied().unwrap_or(0))
        .collect()
}

/// The graph finds exactly the cyclic garbage, also past its search's stack: a list held from
/// outside the heap holds 100k lists (more than the depth-first search's stack takes: the rest
/// are found by its sweeps), each in a cycle with another list; beside them, 1000 pairs of
/// lists that hold only each other. The heap not copied, half copied (nodes there in the
/// index's bitmap, the others in its map) and copied whole.
#[test]
fn the_graph_finds_the_cyclic_garbage_past_its_search_stack() {
    let l = Layout::new(3, 11, 7).unwrap();
    let garbage = |extra: bool, copied: u8| -> u64 {
        let mut f = Fake::new(&l);
        if extra {
            // a list whose one item is set after: a ↔ b
            let pair = |f: &mut Fake, held: bool| {
                let a = f.list(&[0]);
                let b = f.list(&[a]);
                let arr = f.m.u64_at(a + 24).unwrap();
                f.w(arr, b);
                // a: held by b and, if `held`, by the root list
                f.w(a, 1 + held as u64);
                f.track(a, 0);
                f.track(b, 1);
                a
            };
            let held: Vec<u64> = (0..100_000).map(|_| pair(&mut f, true)).collect();
            let root = f.list(&held);
            f.track(root, 2);
            for _ in 0..1000 {
                pair(&mut f, false);
            }
        }
        f.link();
        let (runtime, end, m) = (f.runtime, f.next, f.m);
        let it_mem: Box<dyn Memory> = if copied > 0 {
            // the heap's second half (or all of it) copied, the rest read through the fallback
            let mid = if copied == 2 {
                HEAP_BASE
            } else {
                (HEAP_BASE + (end - HEAP_BASE) / 2) & !(CHUNK - 1)
            };
            let data = bytes_of(&m, mid, end);
            Box::new(HeapCopy::new(
                vec![Region::whole(mid, RegionData::Vec(data))],
                Some(Box::new(m)),
            ))
        } else {
            Box::new(m)
        };
        let mem = it_mem.as_ref();
        let it = Interpreter::find(mem, &l, runtime).expect("interpreter");
        let mut w = Walker::new(mem, &l, 0);
        w.keep_objects = true;
        let mut idx = w.index(&it, 0);
        let seed = idx.graph.take().expect("the nodes");
        let g = graph::build(&mut w, seed, &[]).expect("a graph");
        assert!(
            g.len() > if extra { 201_000 } else { 0 },
            "{} nodes",
            g.len()
        );
        graph::cycles(&w, &g).objects
    };
    for copied in [0, 1, 2] {
        let base = garbage(false, copied);
        let found = garbage(true, copied);
        assert_eq!(found, base + 2000, "copied: {copied}");
    }
}
