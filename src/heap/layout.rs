//! Every version-specific fact about CPython's heap, in one table.
//!
//! [`Layout::new`] picks the numbers for an interpreter version (3.8 to 3.15, with 3.14.0–3.14.4's
//! incremental GC apart from 3.14.5+). For 3.13+ the target describes itself: its
//! `_Py_DebugOffsets` (the first bytes of `_PyRuntime`) carries many of the same figures, and
//! [`Layout::check_debug_offsets`] compares each of them with the table, takes the interpreter's
//! figure and names every one that differed, so a patch release that moves a field is used
//! correctly and said out loud. What the debug offsets do not carry (the GC generation heads
//! inside the gc state, dict keys, managed dicts, …) stays in this table; the generation heads
//! are also probed in the live target before the first census (see `heap::HeapTarget::new`).
//!
//! Nothing outside this module knows an offset. Provenance of the figures:
//! `../shared/design/cpython-heap.md`; compiled against each release's headers by
//! `scripts/layout/probe.c`, and checked against every interpreter of the test matrix, live,
//! by `tests/heap_layout.rs`.

use serde::{Deserialize, Serialize};

/// The newest minor version with a layout.
pub const NEWEST_MINOR: u32 = 15;
/// The oldest minor version with a layout.
pub const OLDEST_MINOR: u32 = 8;

/// The newest patch release of each minor version this table was checked on (live, by
/// `tests/heap_layout.rs`); a newer patch gets a note that its layout is taken on trust of its
/// debug offsets and probes.
pub fn newest_checked_patch(minor: u32) -> Option<u32> {
    Some(match minor {
        8 => 18,
        9 => 18,
        10 => 13,
        11 => 7,
        12 => 1,
        13 => 18,
        14 => 10,
        15 => 2,
        _ => return None,
    })
}

/// How a refcount is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefcntKind {
    /// ≤3.11: the whole i64.
    Full,
    /// 3.12/3.13: low 32 bits; immortal when bit 31 is set.
    Low32,
    /// 3.14+: low 32 bits; immortal when negative as i32.
    Low32Signed,
}

/// Where an instance's attributes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceDicts {
    /// ≤3.10: `tp_dictoffset` (negative: from the end of the var-sized object).
    DictOffset,
    /// 3.11: MANAGED_DICT: dict pointer at obj−24, values pointer at obj−32.
    Managed311,
    /// 3.12: a tagged dict-or-values word at obj−24 (low bit set: values + 1... stored as −1).
    Tagged312,
    /// 3.13+: dict pointer at obj−24; INLINE_VALUES after `tp_basicsize`.
    Inline313,
}

/// What `sys.getsizeof` adds for the GC pre-header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PreHeader {
    /// ≤3.10: 16 if the object is GC (for type objects: heap types only).
    Gc310,
    /// 3.11: 16 × HAVE_GC + 16 × MANAGED_DICT (static type objects included).
    Managed311,
    /// 3.12: 16 × HAVE_GC + 16 × (MANAGED_DICT | MANAGED_WEAKREF) (static types included).
    Managed312,
    /// 3.13+: as 3.12, but static (non-heap) type objects get none.
    Managed313,
}

/// The int object's size field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntSize {
    /// ≤3.11: signed digit count in ob_size. `zero_is_one_digit`: getsizeof(0) is 28
    /// (3.11.2+), else 24.
    ObSize { zero_is_one_digit: bool },
    /// 3.12+: `lv_tag`: digits = tag >> 3.
    LvTag,
}

/// How frame and generator sizes are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FrameSizes {
    /// ≤3.10: the frame is a var-sized object; a generator is its basicsize.
    VarObject,
    /// 3.11: slots from the code's nlocalsplus + stacksize; a generator's code in `gi_code`.
    Interp311,
    /// 3.12+: slots from `co_framesize`; a generator's code in its embedded frame.
    FrameSize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    pub version: (u32, u32, u32),

    // object header
    pub ob_type: u64,
    pub ob_size: u64,
    pub refcnt: RefcntKind,

    // _PyRuntime → interpreter → gc state / sys.modules
    pub runtime_interpreters_head: u64,
    /// Offset of the gc state in `_PyRuntime` (3.8 only).
    pub runtime_gc: Option<u64>,
    /// Offset of the gc state in the interpreter (3.9+).
    pub interp_gc: Option<u64>,
    pub interp_modules: u64,
    pub interp_next: u64,
    pub interp_sysdict: u64,
    pub interp_builtins: u64,

    // gc state
    pub gc_enabled: u64,
    /// Offset of `generations[0]` in the gc state: the first of [`Layout::gc_generations_candidates`]
    /// that the live target's list heads confirm.
    pub gc_generations: u64,
    /// Offsets `generations[0]` has had in this minor version's patch releases, the one expected
    /// for this patch first (3.13: `PyGC_Head` became 4-aligned in a patch release, which moved
    /// the generations from +24 to +20 of the gc state).
    pub gc_generations_candidates: Vec<u64>,
    pub gc_generation_stride: u64,
    /// `struct gc_generation`: `threshold` and `count` after the list head.
    pub gc_generation_threshold: u64,
    pub gc_generation_count: u64,
    /// `sizeof(PyGC_Head)`: the `{_gc_next, _gc_prev}` pair right before every GC object.
    pub gc_head_size: u64,
    pub gc_permanent: u64,
    pub gc_collecting: u64,
    /// `sizeof(struct _gc_runtime_state)` (checked against the debug offsets' `gc.size`).
    pub sizeof_gc_state: u64,
    /// 3.14.0–3.14.4: bit 0 of `_gc_next` is the old-space flag in normal operation.
    pub incremental_gc: bool,

    // type objects
    pub tp_name: u64,
    pub tp_basicsize: u64,
    pub tp_itemsize: u64,
    pub tp_flags: u64,
    pub tp_members: u64,
    pub tp_base: u64,
    pub tp_dict: u64,
    pub tp_dictoffset: u64,
    pub sizeof_type: u64,
    pub sizeof_heap_type: u64,
    pub ht_qualname: u64,
    pub ht_cached_keys: u64,
    /// `PyMemberDef`: its size and where name, type and offset sit in it.
    pub member_size: u64,
    pub member_type: u64,
    pub member_offset: u64,

    // list, tuple
    pub list_items: u64,
    pub list_allocated: u64,
    pub tuple_items: u64,

    // dict
    pub dict_used: u64,
    pub dict_keys: u64,
    pub dict_values: u64,
    /// dict keys layout: ≤3.10 (dk_size, 24-byte entries) or 3.11+ (log2 sizes, kinds).
    pub dict_keys_311: bool,
    /// ≤3.10: `dk_size`; 3.11+: `dk_log2_size` (u8), then `dk_log2_index_bytes` and `dk_kind`.
    pub keys_size: u64,
    pub keys_usable: u64,
    pub keys_nentries: u64,
    pub keys_indices: u64,
    /// Offset of values[0] inside a split dict's values block.
    pub split_values_start: u64,
    /// 3.13+: the `valid` byte of a `PyDictValues` block (inline values in use).
    pub values_valid: u64,
    /// 3.11+: how far before the object its managed dict pointer (3.12: the tagged
    /// dict-or-values word) sits; 3.11: and its values pointer.
    pub managed_dict_before: u64,
    pub managed_values_before: u64,
    pub instance_dicts: InstanceDicts,
    pub pre_header: PreHeader,

    // set
    pub set_used: u64,
    pub set_mask: u64,
    pub set_table: u64,
    pub set_smalltable: u64,
    pub set_entry: u64,

    // scalars and buffers
    pub int_size: IntSize,
    /// 3.12+: `lv_tag` (≤3.11: the digit count is `ob_size`).
    pub long_tag: u64,
    pub long_digits: u64,
    pub bytes_sval: u64,
    pub bytearray_alloc: u64,
    /// 3.15+: a non-empty bytearray keeps its bytes in a bytes object of its own
    /// (`ob_bytes_object`), whose header (`PyBytesObject` and the NUL, 33 bytes) its
    /// `__sizeof__` counts beside `ob_alloc`.
    pub bytearray_bytes_header: Option<u64>,

    // str (PEP 393)
    pub str_length: u64,
    pub str_state: u64,
    pub str_ascii_data: u64,
    pub str_compact_data: u64,
    /// Non-compact (legacy) strings, str subclasses among them: the data pointer.
    pub str_legacy_data: u64,
    pub str_utf8_length: u64,
    pub str_utf8: u64,
    /// ≤3.11: `wstr` pointer and `wstr_length` offsets.
    pub str_wstr: Option<(u64, u64)>,

    // small objects
    pub cell_ref: u64,
    pub method_func: u64,
    pub method_self: u64,
    pub module_dict: u64,
    pub module_state: u64,

    // functions
    pub func_code: u64,
    pub func_globals: u64,
    pub func_name: u64,
    pub func_qualname: u64,
    pub func_defaults: u64,
    pub func_kwdefaults: u64,
    pub func_closure: u64,
    pub func_module: u64,
    /// Further strong references of a function (doc, dict, annotations, builtins 3.10+,
    /// typeparams 3.12+, annotate 3.14).
    pub func_others: Vec<u64>,

    // frames and generators (for their sizes)
    pub frame_sizes: FrameSizes,
    /// ≤3.10: `sizeof(PyFrameObject)`, `f_code`, and the code fields `frame.__sizeof__`
    /// counts (`co_nlocals`, `co_cellvars`, `co_freevars`; `co_stacksize` is below).
    pub sizeof_frame: u64,
    pub frame_f_code: u64,
    pub code_nlocals: u64,
    pub code_cellvars: u64,
    pub code_freevars: u64,
    /// 3.11+: offset of `_f_frame_data` in PyFrameObject.
    pub frame_data: u64,
    /// 3.11+: offset of `f_frame` (pointer to the interpreter frame).
    pub frame_f_frame: u64,
    /// 3.11+: offset of the code pointer in `_PyInterpreterFrame`.
    pub iframe_code: u64,
    /// 3.11+: offset of `localsplus` in `_PyInterpreterFrame`.
    pub iframe_localsplus: u64,
    /// 3.11+: offset of the embedded interpreter frame in a generator.
    pub gen_iframe: u64,
    /// 3.11: `gi_code` offset (3.12+ reads the code from the embedded frame).
    pub gen_code: u64,
    /// 3.14+: the frame's code pointer is a tagged `_PyStackRef`.
    pub stackref_code: bool,
    pub code_stacksize: u64,
    pub code_nlocalsplus: u64,
    /// 3.11+: `co_localsplusnames` (a tuple: locals, cells, then free variables) and
    /// `co_nfreevars` (a closure's cells are the last that many); ≤3.10: `code_freevars`.
    pub code_localsplusnames: Option<u64>,
    pub code_nfreevars: Option<u64>,
    /// 3.12+: `co_framesize`.
    pub code_framesize: Option<u64>,
    pub frame_specials: u64,

    // threads and their frames (the line probe, `sampler::probe`)
    /// `interp->tstate_head` (≤3.10) / `interp->threads.head`.
    pub interp_threads_head: u64,
    pub tstate_next: u64,
    /// `tstate->thread_id` (the pthread id, py-spy's thread id).
    pub tstate_thread_id: u64,
    /// Where the innermost frame pointer is: `tstate->frame` (≤3.10), `tstate->cframe`
    /// (3.11/3.12: then `cframe_current_frame` inside the `_PyCFrame`), `tstate->current_frame`
    /// (3.13+).
    pub tstate_frame: u64,
    pub cframe_current_frame: Option<u64>,
    /// `f_back` (≤3.10) / `previous` (3.11+).
    pub frame_back: u64,
    /// `f_lasti` (≤3.10: an int; bytes ≤3.9, code units 3.10) / `prev_instr` (3.11/3.12) /
    /// `instr_ptr` (3.13+): pointers into the code's `co_code_adaptive`.
    pub frame_instr: u64,
    /// 3.12+: `owner` (a char): frames owned by the C stack or the interpreter (shims,
    /// ≥ [`FRAME_OWNER_NOT_PYTHON`]) are not Python code.
    pub frame_owner: Option<u64>,
    pub code_filename: u64,
    pub code_name: u64,
    /// An int.
    pub code_firstlineno: u64,
    /// `co_lnotab` (≤3.9) / `co_linetable` (3.10+): a bytes object.
    pub code_linetable: u64,
    /// 3.11+: offset of `co_code_adaptive` (the instructions) in the code object.
    pub code_adaptive: Option<u64>,

    // C types of the standard library whose structs are not in the installed headers
    // (Modules/*.c); their figures are checked live by tests/heap_layout.rs.
    /// `collections.deque`: leftblock, leftindex, maxlen.
    pub deque_leftblock: u64,
    pub deque_leftindex: u64,
    pub deque_maxlen: u64,
    /// `collections.OrderedDict`: `od_fast_nodes_size`.
    pub odict_fast_nodes_size: u64,
    /// `functools._lru_cache_wrapper`: the cache dict and maxsize.
    pub lru_cache: u64,
    pub lru_maxsize: u64,
    /// `functools.partial`: its bound positional arguments (a tuple) and keywords (a dict).
    pub partial_args: u64,
    pub partial_kw: u64,
    /// `_io.Buffered*`: the buffer pointer and its size.
    pub buffered_buffer: u64,
    pub buffered_size: u64,
}

/// What [`Layout::new`] can say about a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    Unsupported(String),
}

impl Layout {
    /// The layout of CPython `major.minor.patch` (release or debug build with the GIL and
    /// without `Py_TRACE_REFS`: their object layouts are the same).
    pub fn new(major: u32, minor: u32, patch: u32) -> Result<Layout, LayoutError> {
        if major != 3 || !(OLDEST_MINOR..=NEWEST_MINOR).contains(&minor) {
            return Err(LayoutError::Unsupported(format!(
                "no heap layout for Python {major}.{minor}"
            )));
        }
        let m = minor;
        let incremental = m == 14 && patch < 5;
        // (interpreters.head, runtime gc, interp gc, modules, next, sysdict, builtins)
        let (rt_head, rt_gc, interp_gc, modules, next, sysdict, builtins) = match m {
            8 => (32, Some(344), None, 56, 0, 72, 80),
            9 | 10 => (32, None, Some(616), 856, 0, 872, 880),
            11 => (40, None, Some(648), 888, 0, 904, 912),
            12 => (40, None, Some(112), 944, 0, 352, 360),
            13 => (632, None, Some(7400), 7656, 7264, 7640, 7648),
            14 if incremental => (808, None, Some(7408), 7664, 7272, 7648, 7656),
            14 => (808, None, Some(7408), 7688, 7272, 7672, 7680),
            _ => (936, None, Some(7400), 7592, 7264, 7576, 7584),
        };
        // gc state: (enabled, generations candidates, permanent, collecting, sizeof)
        let (gc_enabled, gens, gc_permanent, gc_collecting, sizeof_gc) = match m {
            8..=12 => (12, vec![24], 104, 200, 240),
            // PyGC_Head went from 8- to 4-byte alignment in a 3.13 patch release (the
            // headers of 3.13.18 have it; 3.13.0's do not), which moved generations[0]
            13 if patch >= 18 => (12, vec![20, 24], 104, 200, 240),
            13 => (12, vec![24, 20], 104, 200, 240),
            14 if incremental => (12, vec![24], 96, 192, 240),
            14 => (12, vec![24], 96, 192, 264),
            // 3.15 dropped trash_delete_later from the gc state and moved the stats out
            _ => (0, vec![8], 80, 112, 176),
        };
        let (ht_qualname, ht_cached_keys) = match m {
            8 => (864, 872),
            9 => (856, 864),
            10 | 11 => (864, 872),
            12..=14 => (872, 880),
            _ => (880, 888),
        };
        let sizeof_type = match m {
            8 => 416,
            9..=11 => 408,
            12..=14 => 416,
            _ => 424,
        };
        let sizeof_heap_type = match m {
            8 | 9 => 880,
            10 => 888,
            11 => 904,
            12 => 920,
            13 => 928,
            14 => 936,
            _ => 944,
        };
        let (func_code, func_globals, func_name, func_qualname) = if m <= 9 {
            (16, 24, 64, 104)
        } else {
            (48, 16, 32, 40)
        };
        let (func_defaults, func_kwdefaults, func_closure, func_module) = if m <= 9 {
            (32, 40, 48, 88)
        } else {
            (56, 64, 72, 104)
        };
        let keys_311 = m >= 11;
        Ok(Layout {
            version: (major, minor, patch),
            ob_type: 8,
            ob_size: 16,
            refcnt: match m {
                8..=11 => RefcntKind::Full,
                12 | 13 => RefcntKind::Low32,
                _ => RefcntKind::Low32Signed,
            },
            runtime_interpreters_head: rt_head,
            runtime_gc: rt_gc,
            interp_gc,
            interp_modules: modules,
            interp_next: next,
            interp_sysdict: sysdict,
            interp_builtins: builtins,
            gc_enabled,
            gc_generations: gens[0],
            gc_generations_candidates: gens,
            gc_generation_stride: 24,
            gc_generation_threshold: 16,
            gc_generation_count: 20,
            gc_head_size: 16,
            gc_permanent,
            gc_collecting,
            sizeof_gc_state: sizeof_gc,
            incremental_gc: incremental,
            tp_name: 24,
            tp_basicsize: 32,
            tp_itemsize: 40,
            tp_flags: 168,
            tp_members: 240,
            tp_base: 256,
            tp_dict: 264,
            tp_dictoffset: 288,
            sizeof_type,
            sizeof_heap_type,
            ht_qualname,
            ht_cached_keys,
            member_size: 40,
            member_type: 8,
            member_offset: 16,
            list_items: 24,
            list_allocated: 32,
            tuple_items: if m >= 14 { 32 } else { 24 },
            dict_used: 16,
            dict_keys: 32,
            dict_values: 40,
            dict_keys_311: keys_311,
            keys_size: 8,
            keys_usable: if keys_311 { 16 } else { 24 },
            keys_nentries: if keys_311 { 24 } else { 32 },
            keys_indices: if keys_311 { 32 } else { 40 },
            split_values_start: if m >= 13 { 8 } else { 0 },
            values_valid: 3,
            managed_dict_before: 24,
            managed_values_before: 32,
            instance_dicts: match m {
                8..=10 => InstanceDicts::DictOffset,
                11 => InstanceDicts::Managed311,
                12 => InstanceDicts::Tagged312,
                _ => InstanceDicts::Inline313,
            },
            pre_header: match m {
                8..=10 => PreHeader::Gc310,
                11 => PreHeader::Managed311,
                12 => PreHeader::Managed312,
                _ => PreHeader::Managed313,
            },
            set_used: 24,
            set_mask: 32,
            set_table: 40,
            set_smalltable: 64,
            set_entry: 16,
            int_size: if m >= 12 {
                IntSize::LvTag
            } else {
                IntSize::ObSize {
                    zero_is_one_digit: m == 11 && patch >= 2,
                }
            },
            long_tag: 16,
            long_digits: 24,
            bytes_sval: 32,
            bytearray_alloc: 24,
            bytearray_bytes_header: (m >= 15).then_some(33),
            str_length: 16,
            str_state: 32,
            str_ascii_data: if m <= 11 { 48 } else { 40 },
            str_compact_data: if m <= 11 { 72 } else { 56 },
            str_legacy_data: if m <= 11 { 72 } else { 56 },
            str_utf8_length: if m <= 11 { 48 } else { 40 },
            str_utf8: if m <= 11 { 56 } else { 48 },
            str_wstr: if m <= 11 { Some((40, 64)) } else { None },
            cell_ref: 16,
            method_func: 16,
            method_self: 24,
            module_dict: 16,
            // 3.15 dropped md_def from PyModuleObject: md_state moved up to where it was
            module_state: if m >= 15 { 24 } else { 32 },
            func_code,
            func_globals,
            func_name,
            func_qualname,
            func_defaults,
            func_kwdefaults,
            func_closure,
            func_module,
            func_others: match m {
                8 | 9 => vec![56, 72, 96],
                10 | 11 => vec![80, 88, 112, 24],
                12 | 13 => vec![80, 88, 112, 24, 120],
                _ => vec![80, 88, 112, 24, 120, 128],
            },
            frame_sizes: match m {
                8..=10 => FrameSizes::VarObject,
                11 => FrameSizes::Interp311,
                _ => FrameSizes::FrameSize,
            },
            sizeof_frame: if m == 10 { 360 } else { 368 },
            frame_f_code: 32,
            code_nlocals: 28,
            code_cellvars: 88,
            code_freevars: 80,
            frame_data: match m {
                8..=12 => 48,
                13 => 64,
                _ => 72,
            },
            frame_f_frame: 24,
            iframe_code: if m == 11 { 32 } else { 0 },
            iframe_localsplus: if m >= 14 { 80 } else { 72 },
            gen_iframe: if m == 11 { 80 } else { 72 },
            gen_code: 16,
            stackref_code: m >= 14,
            code_stacksize: match m {
                8..=10 => 32,
                11 => 68,
                _ => 64,
            },
            code_nlocalsplus: if m == 11 { 76 } else { 72 },
            code_localsplusnames: (m >= 11).then_some(96),
            code_nfreevars: match m {
                8..=10 => None,
                11 => Some(92),
                _ => Some(88),
            },
            code_framesize: if m >= 12 { Some(76) } else { None },
            frame_specials: if m >= 14 { 10 } else { 9 },
            interp_threads_head: match m {
                8..=10 => 8,
                11 => 16,
                12 => 72,
                13 | 14 => 7344,
                _ => 7336,
            },
            tstate_next: 8,
            tstate_thread_id: match m {
                8..=10 | 15 => 176,
                12 => 136,
                _ => 152,
            },
            tstate_frame: match m {
                8..=10 => 24,
                11 | 12 => 56,
                _ => 72,
            },
            cframe_current_frame: match m {
                11 => Some(8),
                12 => Some(0),
                _ => None,
            },
            frame_back: match m {
                8..=10 => 24,
                11 => 48,
                _ => 8,
            },
            frame_instr: match m {
                8 | 9 => 104,
                10 => 96,
                _ => 56,
            },
            frame_owner: match m {
                8..=11 => None,
                12 | 13 => Some(70),
                _ => Some(74),
            },
            code_filename: if m <= 10 { 104 } else { 112 },
            code_name: if m <= 10 { 112 } else { 120 },
            code_firstlineno: match m {
                8..=10 => 40,
                11 => 72,
                _ => 68,
            },
            code_linetable: if m <= 10 { 120 } else { 136 },
            code_adaptive: match m {
                8..=10 => None,
                11 => Some(184),
                12 => Some(192),
                13 => Some(200),
                _ => Some(208),
            },
            deque_leftblock: 24,
            deque_leftindex: 40,
            deque_maxlen: 64,
            odict_fast_nodes_size: 72,
            lru_cache: 72,
            lru_maxsize: 96,
            partial_args: 24,
            partial_kw: 32,
            buffered_buffer: 56,
            buffered_size: 120,
        })
    }

    /// The address of generation `i`'s list head (3 = the permanent generation) in the gc
    /// state at `gcstate`.
    pub fn generation_head(&self, gcstate: u64, i: usize) -> u64 {
        if i == 3 {
            gcstate + self.gc_permanent
        } else {
            gcstate + self.gc_generations + i as u64 * self.gc_generation_stride
        }
    }

    /// Where each field of `_Py_DebugOffsets` that this table also has sits in the debug
    /// struct of this minor version, and the struct's size (3.13+; `None` before).
    pub fn debug_offsets_fields(&self) -> Option<&'static DebugStruct> {
        match self.version.1 {
            13 => Some(&DEBUG_313),
            14 => Some(&DEBUG_314),
            15 => Some(&DEBUG_315),
            _ => None,
        }
    }

    /// 3.13+: compare the table with the target's own `_Py_DebugOffsets` (`debug`: the first
    /// bytes of `_PyRuntime`) and take the interpreter's figure for every field it carries.
    /// Returns what differed; an error if the block is not the debug offsets of this version
    /// (wrong cookie, another version, free-threaded, or implausible figures).
    pub fn check_debug_offsets(
        &mut self,
        debug: &[u8],
        version_hex: u64,
    ) -> Result<Vec<Mismatch>, String> {
        let Some(table) = self.debug_offsets_fields() else {
            return Ok(Vec::new());
        };
        if debug.len() < table.size {
            return Err(format!(
                "_Py_DebugOffsets unreadable ({} of {} bytes)",
                debug.len(),
                table.size
            ));
        }
        if &debug[..8] != b"xdebugpy" {
            return Err("_PyRuntime does not start with _Py_DebugOffsets (no cookie)".into());
        }
        let word = |off: usize| -> u64 {
            u64::from_le_bytes(debug[off..off + 8].try_into().unwrap_or([0; 8]))
        };
        let (major, minor, _) = self.version;
        if word(8) >> 16 != version_hex >> 16 || word(8) >> 24 != major as u64 {
            return Err(format!(
                "_Py_DebugOffsets describe version {:#x}, not {major}.{minor}",
                word(8)
            ));
        }
        if word(16) != 0 {
            return Err("_Py_DebugOffsets say the build is free-threaded".into());
        }
        let mut mismatches = Vec::new();
        let mut updates = Vec::new();
        for &(name, at) in table.fields {
            let value = word(at);
            // offsets and sizes of structures of a few KiB at most
            if value >= 1 << 16 {
                return Err(format!(
                    "_Py_DebugOffsets field {name} is implausible ({value})"
                ));
            }
            let Some(ours) = self.debug_field(name) else {
                continue;
            };
            if ours != value {
                mismatches.push(Mismatch {
                    field: name,
                    table: ours,
                    interpreter: value,
                });
            }
            updates.push((name, value));
        }
        for (name, value) in updates {
            self.set_debug_field(name, value);
        }
        Ok(mismatches)
    }

    /// The table's figure for a field the debug offsets also carry.
    fn debug_field(&self, name: &str) -> Option<u64> {
        Some(match name {
            "runtime_interpreters_head" => self.runtime_interpreters_head,
            "interp_next" => self.interp_next,
            "interp_gc" => self.interp_gc?,
            "interp_modules" => self.interp_modules,
            "interp_sysdict" => self.interp_sysdict,
            "interp_builtins" => self.interp_builtins,
            "iframe_code" => self.iframe_code,
            "iframe_localsplus" => self.iframe_localsplus,
            "sizeof_pyobject" => 16,
            "ob_type" => self.ob_type,
            "sizeof_type" => self.sizeof_type,
            "tp_name" => self.tp_name,
            "tp_flags" => self.tp_flags,
            "tp_basicsize" => self.tp_basicsize,
            "tp_dictoffset" => self.tp_dictoffset,
            "sizeof_heap_type" => self.sizeof_heap_type,
            "ht_cached_keys" => self.ht_cached_keys,
            "tuple_items" => self.tuple_items,
            "list_items" => self.list_items,
            "set_used" => self.set_used,
            "set_table" => self.set_table,
            "set_mask" => self.set_mask,
            "dict_keys" => self.dict_keys,
            "dict_values" => self.dict_values,
            "long_tag" => self.long_tag,
            "long_digits" => self.long_digits,
            "bytes_sval" => self.bytes_sval,
            "str_state" => self.str_state,
            "str_length" => self.str_length,
            "str_ascii_data" => self.str_ascii_data,
            "str_compact_data" => self.str_compact_data,
            "sizeof_gc_state" => self.sizeof_gc_state,
            "gc_collecting" => self.gc_collecting,
            "gen_iframe" => self.gen_iframe,
            "interp_threads_head" => self.interp_threads_head,
            "tstate_next" => self.tstate_next,
            "tstate_thread_id" => self.tstate_thread_id,
            "tstate_frame" => self.tstate_frame,
            "frame_back" => self.frame_back,
            "frame_instr" => self.frame_instr,
            "frame_owner" => self.frame_owner?,
            "code_filename" => self.code_filename,
            "code_name" => self.code_name,
            "code_linetable" => self.code_linetable,
            "code_firstlineno" => self.code_firstlineno,
            "code_adaptive" => self.code_adaptive?,
            _ => return None,
        })
    }

    fn set_debug_field(&mut self, name: &str, v: u64) {
        match name {
            "runtime_interpreters_head" => self.runtime_interpreters_head = v,
            "interp_next" => self.interp_next = v,
            "interp_gc" => self.interp_gc = Some(v),
            "interp_modules" => self.interp_modules = v,
            "interp_sysdict" => self.interp_sysdict = v,
            "interp_builtins" => self.interp_builtins = v,
            "iframe_code" => self.iframe_code = v,
            "iframe_localsplus" => self.iframe_localsplus = v,
            "ob_type" => self.ob_type = v,
            "sizeof_type" => self.sizeof_type = v,
            "tp_name" => self.tp_name = v,
            "tp_flags" => self.tp_flags = v,
            "tp_basicsize" => self.tp_basicsize = v,
            "tp_dictoffset" => self.tp_dictoffset = v,
            "sizeof_heap_type" => self.sizeof_heap_type = v,
            "ht_cached_keys" => self.ht_cached_keys = v,
            "tuple_items" => self.tuple_items = v,
            "list_items" => self.list_items = v,
            "set_used" => self.set_used = v,
            "set_table" => self.set_table = v,
            "set_mask" => self.set_mask = v,
            "dict_keys" => self.dict_keys = v,
            "dict_values" => self.dict_values = v,
            "long_tag" => self.long_tag = v,
            "long_digits" => self.long_digits = v,
            "bytes_sval" => self.bytes_sval = v,
            "str_state" => self.str_state = v,
            "str_length" => self.str_length = v,
            "str_ascii_data" => self.str_ascii_data = v,
            "str_compact_data" => self.str_compact_data = v,
            "sizeof_gc_state" => self.sizeof_gc_state = v,
            "gc_collecting" => self.gc_collecting = v,
            "gen_iframe" => self.gen_iframe = v,
            "interp_threads_head" => self.interp_threads_head = v,
            "tstate_next" => self.tstate_next = v,
            "tstate_thread_id" => self.tstate_thread_id = v,
            "tstate_frame" => self.tstate_frame = v,
            "frame_back" => self.frame_back = v,
            "frame_instr" => self.frame_instr = v,
            "frame_owner" => self.frame_owner = Some(v),
            "code_filename" => self.code_filename = v,
            "code_name" => self.code_name = v,
            "code_linetable" => self.code_linetable = v,
            "code_firstlineno" => self.code_firstlineno = v,
            "code_adaptive" => self.code_adaptive = Some(v),
            // the object header size is not a field: a header other than 16 bytes is a
            // build memwatch refuses (see HeapTarget::new)
            _ => {}
        }
    }
}

/// A field whose figure in the table differs from the interpreter's own debug offsets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub field: &'static str,
    pub table: u64,
    pub interpreter: u64,
}

/// The layout of one minor version's `_Py_DebugOffsets`: its size and, for each field memwatch
/// uses, `(layout field name, byte offset inside the debug struct)`.
pub struct DebugStruct {
    pub size: usize,
    pub fields: &'static [(&'static str, usize)],
}

// Compiled with scripts/layout/probe.c against the 3.13.0/3.13.18, 3.14.10 and 3.15.2 headers
// (the positions are the same in every patch release that was compiled).
static DEBUG_313: DebugStruct = DebugStruct {
    size: 584,
    fields: &[
        ("runtime_interpreters_head", 40),
        ("interp_next", 64),
        ("interp_gc", 80),
        ("interp_modules", 88),
        ("interp_sysdict", 96),
        ("interp_builtins", 104),
        ("iframe_code", 240),
        ("iframe_localsplus", 256),
        ("sizeof_pyobject", 352),
        ("ob_type", 360),
        ("sizeof_type", 368),
        ("tp_name", 376),
        ("tp_flags", 392),
        ("tuple_items", 408),
        ("list_items", 432),
        ("dict_keys", 456),
        ("dict_values", 464),
        ("long_tag", 496),
        ("long_digits", 504),
        ("bytes_sval", 528),
        ("str_state", 544),
        ("str_length", 552),
        ("str_ascii_data", 560),
        ("sizeof_gc_state", 568),
        ("gc_collecting", 576),
        ("interp_threads_head", 72),
        ("tstate_next", 168),
        ("tstate_thread_id", 192),
        ("tstate_frame", 184),
        ("frame_back", 232),
        ("frame_instr", 248),
        ("frame_owner", 264),
        ("code_filename", 280),
        ("code_name", 288),
        ("code_linetable", 304),
        ("code_firstlineno", 312),
        ("code_adaptive", 344),
    ],
};

static DEBUG_314: DebugStruct = DebugStruct {
    size: 760,
    fields: &[
        ("runtime_interpreters_head", 40),
        ("interp_next", 64),
        ("interp_gc", 88),
        ("interp_modules", 96),
        ("interp_sysdict", 104),
        ("interp_builtins", 112),
        ("iframe_code", 264),
        ("iframe_localsplus", 280),
        ("sizeof_pyobject", 400),
        ("ob_type", 408),
        ("sizeof_type", 416),
        ("tp_name", 424),
        ("tp_flags", 440),
        ("tuple_items", 456),
        ("list_items", 480),
        ("set_used", 504),
        ("set_table", 512),
        ("set_mask", 520),
        ("dict_keys", 536),
        ("dict_values", 544),
        ("long_tag", 576),
        ("long_digits", 584),
        ("bytes_sval", 608),
        ("str_state", 624),
        ("str_length", 632),
        ("str_ascii_data", 640),
        ("sizeof_gc_state", 648),
        ("gc_collecting", 656),
        ("interp_threads_head", 72),
        ("tstate_next", 192),
        ("tstate_thread_id", 216),
        ("tstate_frame", 208),
        ("frame_back", 256),
        ("frame_instr", 272),
        ("frame_owner", 288),
        ("code_filename", 320),
        ("code_name", 328),
        ("code_linetable", 344),
        ("code_firstlineno", 352),
        ("code_adaptive", 384),
    ],
};

static DEBUG_315: DebugStruct = DebugStruct {
    size: 888,
    fields: &[
        ("runtime_interpreters_head", 40),
        ("interp_next", 64),
        ("interp_gc", 88),
        ("interp_modules", 96),
        ("interp_sysdict", 104),
        ("interp_builtins", 112),
        ("iframe_code", 328),
        ("iframe_localsplus", 344),
        ("sizeof_pyobject", 464),
        ("ob_type", 472),
        ("sizeof_type", 480),
        ("tp_name", 488),
        ("tp_flags", 504),
        ("tp_basicsize", 512),
        ("tp_dictoffset", 520),
        ("sizeof_heap_type", 528),
        ("ht_cached_keys", 536),
        ("tuple_items", 552),
        ("list_items", 576),
        ("set_used", 600),
        ("set_table", 608),
        ("set_mask", 616),
        ("dict_keys", 632),
        ("dict_values", 640),
        ("long_tag", 672),
        ("long_digits", 680),
        ("bytes_sval", 704),
        ("str_state", 720),
        ("str_length", 728),
        ("str_ascii_data", 736),
        ("str_compact_data", 744),
        ("sizeof_gc_state", 752),
        ("gc_collecting", 760),
        ("gen_iframe", 808),
        ("interp_threads_head", 72),
        ("tstate_next", 192),
        ("tstate_thread_id", 240),
        ("tstate_frame", 208),
        ("frame_back", 320),
        ("frame_instr", 336),
        ("frame_owner", 352),
        ("code_filename", 384),
        ("code_name", 392),
        ("code_linetable", 408),
        ("code_firstlineno", 416),
        ("code_adaptive", 448),
    ],
};

/// 3.12+: a frame whose `owner` is at least this is not Python code (3.12/3.13
/// `FRAME_OWNED_BY_CSTACK`, 3.14+ `FRAME_OWNED_BY_INTERPRETER` and `_CSTACK`).
pub const FRAME_OWNER_NOT_PYTHON: u8 = 3;

/// `tp_flags` bits.
pub mod flags {
    pub const INLINE_VALUES: u64 = 1 << 2;
    pub const MANAGED_WEAKREF: u64 = 1 << 3;
    pub const MANAGED_DICT: u64 = 1 << 4;
    /// 3.10+ (the bit is unused before).
    pub const IMMUTABLETYPE: u64 = 1 << 8;
    pub const HEAPTYPE: u64 = 1 << 9;
    pub const HAVE_GC: u64 = 1 << 14;
    pub const LONG_SUBCLASS: u64 = 1 << 24;
    pub const LIST_SUBCLASS: u64 = 1 << 25;
    pub const TUPLE_SUBCLASS: u64 = 1 << 26;
    pub const BYTES_SUBCLASS: u64 = 1 << 27;
    pub const UNICODE_SUBCLASS: u64 = 1 << 28;
    pub const DICT_SUBCLASS: u64 = 1 << 29;
    pub const BASE_EXC_SUBCLASS: u64 = 1 << 30;
    pub const TYPE_SUBCLASS: u64 = 1 << 31;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_version_has_a_layout() {
        for minor in OLDEST_MINOR..=NEWEST_MINOR {
            assert!(Layout::new(3, minor, 0).is_ok());
        }
        assert!(Layout::new(3, 7, 0).is_err());
        assert!(Layout::new(3, 16, 0).is_err());
        assert!(Layout::new(2, 7, 18).is_err());
        assert!(Layout::new(3, 14, 4).unwrap().incremental_gc);
        assert!(!Layout::new(3, 14, 5).unwrap().incremental_gc);
        assert_eq!(Layout::new(3, 14, 7).unwrap().interp_modules, 7688);
        assert_eq!(Layout::new(3, 14, 2).unwrap().interp_modules, 7664);
        assert_eq!(Layout::new(3, 13, 18).unwrap().gc_generations, 20);
        assert_eq!(Layout::new(3, 13, 0).unwrap().gc_generations, 24);
        assert_eq!(Layout::new(3, 15, 2).unwrap().gc_generations, 8);
    }

    fn debug_block(minor: u32) -> (Layout, Vec<u8>) {
        let l = Layout::new(3, minor, 0).unwrap();
        let table = l.debug_offsets_fields().unwrap();
        let mut block = vec![0u8; table.size];
        block[..8].copy_from_slice(b"xdebugpy");
        block[8..16].copy_from_slice(&(0x030000f0u64 | (minor as u64) << 16).to_le_bytes());
        for &(name, at) in table.fields {
            let v = l.debug_field(name).unwrap();
            block[at..at + 8].copy_from_slice(&v.to_le_bytes());
        }
        (l, block)
    }

    #[test]
    fn debug_offsets_that_agree_change_nothing() {
        for minor in 13..=NEWEST_MINOR {
            let (mut l, block) = debug_block(minor);
            let before = l.clone();
            let hex = 0x030000f0u64 | (minor as u64) << 16;
            assert_eq!(l.check_debug_offsets(&block, hex), Ok(Vec::new()));
            assert_eq!(l, before);
        }
    }

    #[test]
    fn debug_offsets_win_and_are_named() {
        let (mut l, mut block) = debug_block(13);
        let at = |name: &str| {
            DEBUG_313
                .fields
                .iter()
                .find(|f| f.0 == name)
                .map(|f| f.1)
                .unwrap()
        };
        let put =
            |b: &mut Vec<u8>, off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
        put(&mut block, at("interp_gc"), 7408);
        put(&mut block, at("tuple_items"), 32);
        let got = l.check_debug_offsets(&block, 0x030d12f0).unwrap();
        assert_eq!(
            got,
            vec![
                Mismatch {
                    field: "interp_gc",
                    table: 7400,
                    interpreter: 7408
                },
                Mismatch {
                    field: "tuple_items",
                    table: 24,
                    interpreter: 32
                }
            ]
        );
        assert_eq!(l.interp_gc, Some(7408));
        assert_eq!(l.tuple_items, 32);
    }

    #[test]
    fn debug_offsets_of_something_else_are_refused() {
        let (mut l, block) = debug_block(14);
        let before = l.clone();
        // another minor version
        assert!(l.check_debug_offsets(&block, 0x030d00f0).is_err());
        // no cookie
        let mut b = block.clone();
        b[0] = b'y';
        assert!(l.check_debug_offsets(&b, 0x030e00f0).is_err());
        // free-threaded
        let mut b = block.clone();
        b[16] = 1;
        assert!(l.check_debug_offsets(&b, 0x030e00f0).is_err());
        // garbage in a field
        let mut b = block.clone();
        b[88..96].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(l.check_debug_offsets(&b, 0x030e00f0).is_err());
        // short
        assert!(l.check_debug_offsets(&block[..100], 0x030e00f0).is_err());
        assert_eq!(l, before);
    }
}
