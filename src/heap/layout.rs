//! Every version-specific fact about CPython's heap, in one table.
//!
//! [`Layout::new`] picks the numbers for an interpreter version (3.8 to 3.14, with 3.14.0–3.14.4's
//! incremental GC apart from 3.14.5+); for 3.13+ [`Layout::apply_debug_offsets`] then takes the
//! interpreter-level offsets from the target's own `_Py_DebugOffsets`, so patch releases that
//! move interpreter fields keep working. Nothing outside this module knows an offset.
//!
//! Figures and provenance: `../shared/design/cpython-heap.md`; each one here is checked
//! against every installed interpreter by `tests/heap_layout.rs`.

/// How a refcount is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefcntKind {
    /// ≤3.11: the whole i64.
    Full,
    /// 3.12/3.13: low 32 bits; immortal when bit 31 is set.
    Low32,
    /// 3.14: low 32 bits; immortal when negative as i32.
    Low32Signed,
}

/// Where an instance's attributes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntSize {
    /// ≤3.11: signed digit count in ob_size. `zero_is_one_digit`: getsizeof(0) is 28
    /// (3.11.2+), else 24.
    ObSize { zero_is_one_digit: bool },
    /// 3.12+: `lv_tag`: digits = tag >> 3.
    LvTag,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub version: (u32, u32, u32),

    // _PyRuntime → interpreter → gc state / sys.modules
    pub runtime_interpreters_head: u64,
    /// Offset of the gc state in `_PyRuntime` (3.8 only).
    pub runtime_gc: Option<u64>,
    /// Offset of the gc state in the interpreter (3.9+).
    pub interp_gc: Option<u64>,
    pub interp_modules: u64,
    pub interp_next: u64,

    // gc state
    pub gc_enabled: u64,
    pub gc_generations: u64,
    pub gc_generation_stride: u64,
    pub gc_permanent: u64,
    pub gc_collecting: u64,
    /// 3.14.0–3.14.4: bit 0 of `_gc_next` is the old-space flag in normal operation.
    pub incremental_gc: bool,

    // object header
    pub refcnt: RefcntKind,

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

    // containers
    pub tuple_items: u64,
    /// dict keys layout: ≤3.10 (dk_size, 24-byte entries) or 3.11+ (log2 sizes, kinds).
    pub dict_keys_311: bool,
    /// Offset of values[0] inside a split dict's values block.
    pub split_values_start: u64,
    pub instance_dicts: InstanceDicts,
    pub pre_header: PreHeader,
    pub int_size: IntSize,

    // str (PEP 393)
    pub str_ascii_data: u64,
    pub str_compact_data: u64,
    pub str_utf8_length: u64,
    pub str_utf8: u64,
    /// ≤3.11: `wstr` pointer and `wstr_length` offsets.
    pub str_wstr: Option<(u64, u64)>,

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
    /// 3.14: the frame's code pointer is a tagged `_PyStackRef`.
    pub stackref_code: bool,
    pub code_stacksize: u64,
    pub code_nlocalsplus: u64,
    /// 3.12+: `co_framesize`.
    pub code_framesize: Option<u64>,
    pub frame_specials: u64,
}

/// What [`Layout::new`] can say about a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    Unsupported(String),
}

impl Layout {
    /// The layout of CPython `major.minor.patch` (release build with the GIL).
    pub fn new(major: u32, minor: u32, patch: u32) -> Result<Layout, LayoutError> {
        if major != 3 || !(8..=14).contains(&minor) {
            return Err(LayoutError::Unsupported(format!(
                "no heap layout for Python {major}.{minor}"
            )));
        }
        let m = minor;
        let incremental = m == 14 && patch < 5;
        let (rt_head, rt_gc, interp_gc, modules, next) = match m {
            8 => (32, Some(344), None, 56, 0),
            9 | 10 => (32, None, Some(616), 856, 0),
            11 => (40, None, Some(648), 888, 0),
            12 => (40, None, Some(112), 944, 0),
            13 => (632, None, Some(7400), 7656, 7264),
            _ if incremental => (808, None, Some(7408), 7664, 7272),
            _ => (808, None, Some(7408), 7688, 7272),
        };
        let (ht_qualname, ht_cached_keys) = match m {
            8 => (864, 872),
            9 => (856, 864),
            10 | 11 => (864, 872),
            _ => (872, 880),
        };
        let sizeof_type = match m {
            8 => 416,
            9..=11 => 408,
            _ => 416,
        };
        let sizeof_heap_type = match m {
            8 | 9 => 880,
            10 => 888,
            11 => 904,
            12 => 920,
            13 => 928,
            _ => 936,
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
        Ok(Layout {
            version: (major, minor, patch),
            runtime_interpreters_head: rt_head,
            runtime_gc: rt_gc,
            interp_gc,
            interp_modules: modules,
            interp_next: next,
            gc_enabled: 12,
            gc_generations: 24,
            gc_generation_stride: 24,
            gc_permanent: if m >= 14 { 96 } else { 104 },
            gc_collecting: if m >= 14 { 192 } else { 200 },
            incremental_gc: incremental,
            refcnt: match m {
                8..=11 => RefcntKind::Full,
                12 | 13 => RefcntKind::Low32,
                _ => RefcntKind::Low32Signed,
            },
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
            tuple_items: if m >= 14 { 32 } else { 24 },
            dict_keys_311: m >= 11,
            split_values_start: if m >= 13 { 8 } else { 0 },
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
            int_size: if m >= 12 {
                IntSize::LvTag
            } else {
                IntSize::ObSize {
                    zero_is_one_digit: m == 11 && patch >= 2,
                }
            },
            str_ascii_data: if m <= 11 { 48 } else { 40 },
            str_compact_data: if m <= 11 { 72 } else { 56 },
            str_utf8_length: if m <= 11 { 48 } else { 40 },
            str_utf8: if m <= 11 { 56 } else { 48 },
            str_wstr: if m <= 11 { Some((40, 64)) } else { None },
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
            frame_data: match m {
                11 | 12 => 112,
                _ => 128,
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
            code_framesize: if m >= 12 { Some(76) } else { None },
            frame_specials: if m >= 14 { 10 } else { 9 },
        })
    }

    /// 3.13+: take interpreter-level offsets from the target's `_Py_DebugOffsets` (the
    /// first `debug.len()` bytes of `_PyRuntime`), which patch releases keep truthful.
    /// Returns false (and changes nothing) if the block does not look like debug offsets.
    pub fn apply_debug_offsets(&mut self, debug: &[u8]) -> bool {
        let (_, minor, _) = self.version;
        if minor < 13 || debug.len() < 600 || &debug[..8] != b"xdebugpy" {
            return false;
        }
        let word = |off: usize| -> Option<u64> {
            debug
                .get(off..off + 8)
                .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
        };
        // the struct's own layout differs between 3.13 and 3.14 (3.14 inserted fields)
        let (head, next, gc, modules, collecting) = if minor == 13 {
            (40, 64, 80, 88, 576)
        } else {
            (40, 64, 88, 96, 656)
        };
        let (Some(head), Some(next), Some(gc), Some(modules), Some(collecting)) = (
            word(head),
            word(next),
            word(gc),
            word(modules),
            word(collecting),
        ) else {
            return false;
        };
        // sanity: offsets into structures of a few KiB at most
        let plausible = |v: u64| v > 0 && v < 1 << 16;
        if !(plausible(head) && plausible(next) && plausible(gc) && plausible(modules)) {
            return false;
        }
        if !(plausible(collecting) && collecting < 1024) {
            return false;
        }
        self.runtime_interpreters_head = head;
        self.interp_next = next;
        self.interp_gc = Some(gc);
        self.interp_modules = modules;
        self.gc_collecting = collecting;
        true
    }
}

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
        for minor in 8..=14 {
            assert!(Layout::new(3, minor, 0).is_ok());
        }
        assert!(Layout::new(3, 7, 0).is_err());
        assert!(Layout::new(3, 15, 0).is_err());
        assert!(Layout::new(2, 7, 18).is_err());
        assert!(Layout::new(3, 14, 4).unwrap().incremental_gc);
        assert!(!Layout::new(3, 14, 5).unwrap().incremental_gc);
        assert_eq!(Layout::new(3, 14, 7).unwrap().interp_modules, 7688);
        assert_eq!(Layout::new(3, 14, 2).unwrap().interp_modules, 7664);
    }

    #[test]
    fn debug_offsets_override_and_reject_garbage() {
        let mut l = Layout::new(3, 13, 0).unwrap();
        let mut block = vec![0u8; 700];
        assert!(!l.apply_debug_offsets(&block));
        block[..8].copy_from_slice(b"xdebugpy");
        let put =
            |b: &mut Vec<u8>, off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
        put(&mut block, 40, 640);
        put(&mut block, 64, 7264);
        put(&mut block, 80, 7408);
        put(&mut block, 88, 7664);
        put(&mut block, 576, 200);
        assert!(l.apply_debug_offsets(&block));
        assert_eq!(l.interp_gc, Some(7408));
        assert_eq!(l.runtime_interpreters_head, 640);
        put(&mut block, 88, u64::MAX);
        let before = l.clone();
        assert!(!l.apply_debug_offsets(&block));
        assert_eq!(l, before);
    }
}
