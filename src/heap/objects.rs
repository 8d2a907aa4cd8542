//! One object of the target: its `sys.getsizeof`, its length, and the objects it refers to
//! as a container (list and tuple items, dict keys and values, set keys, instance attributes:
//! `__dict__`, managed dicts, inline values and `__slots__`).
//!
//! Every count read from the object is capped ([`MAX_ITEMS`]) before anything is read or
//! allocated for it.

use super::dicts::{self, Keys, Table};
use super::layout::{FrameSizes, InstanceDicts, IntSize, Layout, PreHeader, RefcntKind, flags};
use super::memory::{MAX_ADDR, Memory, MemoryExt, read_array};
use super::strings;
use super::types::{Kind, TypeInfo};

pub const MAX_ITEMS: u64 = 1 << 28;
/// `ob_size` of `PyVarObject`: the one offset shared by every CPython 3 (the object header is
/// checked to be the 16-byte release header at attach, `heap::HeapTarget::new`).
pub const OB_SIZE: u64 = 16;

/// `ob_size` of a var-sized object, capped.
pub fn ob_size<M: Memory + ?Sized>(m: &M, obj: u64) -> Option<u64> {
    if obj >= crate::heap::memory::MAX_ADDR {
        return None;
    }
    let n = m.i64_at(obj + OB_SIZE)?;
    let n = n.unsigned_abs();
    (n <= MAX_ITEMS).then_some(n)
}

/// The reference count, decoded for the version; `None` for immortal objects.
pub fn refcount<M: Memory + ?Sized>(m: &M, l: &Layout, obj: u64) -> Option<u64> {
    if obj >= crate::heap::memory::MAX_ADDR {
        return None;
    }
    let raw = m.u64_at(obj)?;
    match l.refcnt {
        RefcntKind::Full => Some(raw),
        RefcntKind::Low32 => {
            let low = raw as u32;
            (low & 0x8000_0000 == 0).then_some(low as u64)
        }
        RefcntKind::Low32Signed => {
            let low = raw as u32 as i32;
            (low >= 0).then_some(low as u64)
        }
    }
}

fn round8(v: u64) -> u64 {
    (v + 7) & !7
}

/// What `sys.getsizeof` adds to `__sizeof__` for the GC pre-header and managed fields.
pub fn pre_header(l: &Layout, t: &TypeInfo, obj_is_static_type: bool) -> u64 {
    let gc = if t.is_gc() { 16 } else { 0 };
    match l.pre_header {
        PreHeader::Gc310 => {
            // type objects are GC only when heap types (type_is_gc)
            if obj_is_static_type { 0 } else { gc }
        }
        PreHeader::Managed311 => gc + if t.has(flags::MANAGED_DICT) { 16 } else { 0 },
        PreHeader::Managed312 | PreHeader::Managed313 => {
            if l.pre_header == PreHeader::Managed313 && obj_is_static_type {
                return 0;
            }
            gc + if t.has(flags::MANAGED_DICT | flags::MANAGED_WEAKREF) {
                16
            } else {
                0
            }
        }
    }
}

/// `sys.getsizeof(obj)` for an object of type `t`.
pub fn getsizeof<M: Memory + ?Sized>(m: &M, l: &Layout, obj: u64, t: &TypeInfo) -> u64 {
    if obj >= MAX_ADDR {
        return 0;
    }
    let static_type_obj = t.kind == Kind::Type
        && m.u64_at(obj + l.tp_flags)
            .is_some_and(|f| f & flags::HEAPTYPE == 0);
    // no object is larger than the address space: a larger figure is a damaged header
    sizeof(m, l, obj, t, static_type_obj).min(MAX_ADDR) + pre_header(l, t, static_type_obj)
}

/// `__sizeof__` (without the pre-header).
fn sizeof<M: Memory + ?Sized>(
    m: &M,
    l: &Layout,
    obj: u64,
    t: &TypeInfo,
    static_type_obj: bool,
) -> u64 {
    let default = || {
        if t.itemsize > 0 {
            t.basicsize
                .saturating_add(ob_size(m, obj).unwrap_or(0).saturating_mul(t.itemsize))
        } else {
            t.basicsize
        }
    };
    match t.kind {
        Kind::List => {
            let alloc = m
                .i64_at(obj + l.list_allocated)
                .filter(|&a| a >= 0)
                .unwrap_or(0) as u64;
            t.basicsize.saturating_add(alloc.min(MAX_ITEMS) * 8)
        }
        Kind::Dict => dicts::sizeof(m, l, obj, t.basicsize),
        Kind::OrderedDict => {
            let base = dicts::sizeof(m, l, obj, t.basicsize);
            let fast = m
                .i64_at(obj + l.odict_fast_nodes_size)
                .filter(|&v| v >= 0)
                .unwrap_or(0) as u64;
            let n = dicts::len(m, l, obj).unwrap_or(0);
            base.saturating_add(8 * fast.min(MAX_ITEMS))
                .saturating_add(32u64.saturating_mul(n))
        }
        Kind::Set => {
            let table = m.u64_at(obj + l.set_table).unwrap_or(0);
            let mask = m.u64_at(obj + l.set_mask).unwrap_or(0).min(MAX_ITEMS);
            t.basicsize
                + if table != obj + l.set_smalltable {
                    (mask + 1) * l.set_entry
                } else {
                    0
                }
        }
        Kind::Str => str_sizeof(m, l, obj).unwrap_or(t.basicsize),
        Kind::Int => {
            let digits = match l.int_size {
                IntSize::ObSize { zero_is_one_digit } => {
                    let n = ob_size(m, obj).unwrap_or(0);
                    if zero_is_one_digit { n.max(1) } else { n }
                }
                IntSize::LvTag => {
                    (m.u64_at(obj + l.long_tag).unwrap_or(0) >> 3).clamp(1, MAX_ITEMS)
                }
            };
            // int.__sizeof__ ignores the subclass's basicsize (its dict is in the pre-header
            // or at the end)
            l.long_digits.saturating_add(digits.saturating_mul(4))
        }
        Kind::ByteArray => {
            let alloc = m
                .i64_at(obj + l.bytearray_alloc)
                .filter(|&a| a >= 0)
                .unwrap_or(0) as u64;
            let header = match l.bytearray_bytes_header {
                Some(h) if alloc > 0 => h,
                _ => 0,
            };
            t.basicsize
                .saturating_add(alloc.min(1 << 40))
                .saturating_add(header)
        }
        Kind::Type => {
            if static_type_obj {
                l.sizeof_type
            } else {
                let keys = m
                    .u64_at(obj + l.ht_cached_keys)
                    .filter(|&k| k != 0)
                    .and_then(|k| Keys::read(m, l, k));
                l.sizeof_heap_type + keys.map(|k| k.bytes(l)).unwrap_or(0)
            }
        }
        Kind::Deque => {
            let n = ob_size(m, obj).unwrap_or(0);
            let left = m
                .i64_at(obj + l.deque_leftindex)
                .filter(|&v| (0..64).contains(&v))
                .unwrap_or(0) as u64;
            t.basicsize
                .saturating_add((left + n).div_ceil(64).saturating_mul(64 * 8 + 16))
        }
        Kind::BufferedIo => {
            let buffer = m.u64_at(obj + l.buffered_buffer).unwrap_or(0);
            let size = m
                .i64_at(obj + l.buffered_size)
                .filter(|&v| v >= 0)
                .unwrap_or(0) as u64;
            t.basicsize
                .saturating_add(if buffer != 0 { size.min(1 << 40) } else { 0 })
        }
        // code_sizeof: _PyObject_VARSIZE, rounded to a pointer (co_extra not counted)
        Kind::Code => round8(default()),
        Kind::Frame => frame_sizeof(m, l, obj).unwrap_or(t.basicsize),
        Kind::Generator => generator_sizeof(m, l, obj, t).unwrap_or(t.basicsize),
        Kind::NdArray | Kind::ArrayArray | Kind::BytesIO | Kind::Mmap => {
            super::native::true_size(m, l, obj, t).unwrap_or_else(default)
        }
        _ => default(),
    }
}

fn str_sizeof<M: Memory + ?Sized>(m: &M, l: &Layout, obj: u64) -> Option<u64> {
    let len = m.i64_at(obj + l.str_length).filter(|&n| n >= 0)? as u64;
    let st = strings::state(m, l, obj)?;
    let kind = st.kind as u64;
    let chars = |n: u64, k: u64| n.saturating_add(1).saturating_mul(k);
    let mut size = if st.compact && st.ascii {
        l.str_ascii_data.saturating_add(chars(len, 1))
    } else if st.compact {
        l.str_compact_data.saturating_add(chars(len, kind))
    } else {
        let data = m.u64_at(obj + l.str_legacy_data).unwrap_or(0);
        (l.str_legacy_data + 8).saturating_add(if data != 0 { chars(len, kind) } else { 0 })
    };
    if !st.ascii {
        let utf8 = m.u64_at(obj + l.str_utf8).unwrap_or(0);
        let data = strings::data_address(m, l, obj, &st).unwrap_or(0);
        if utf8 != 0 && utf8 != data {
            size = size.saturating_add(chars(m.u64_at(obj + l.str_utf8_length).unwrap_or(0), 1));
        }
    }
    if let Some((wstr, wlen)) = l.str_wstr {
        let w = m.u64_at(obj + wstr).unwrap_or(0);
        let data = strings::data_address(m, l, obj, &st).unwrap_or(0);
        if w != 0 && w != data {
            let wchars = if st.compact && st.ascii {
                len
            } else {
                m.u64_at(obj + wlen).unwrap_or(0)
            };
            size = size.saturating_add(chars(wchars, 4));
        }
    }
    Some(size)
}

/// Slots a frame of this code object needs (3.11+).
fn code_slots<M: Memory + ?Sized>(m: &M, l: &Layout, code: u64) -> Option<u64> {
    let slots = match l.code_framesize {
        Some(off) => (m.u32_at(code + off)? as i32 as i64) - l.frame_specials as i64,
        None => {
            m.u32_at(code + l.code_nlocalsplus)? as i32 as i64
                + m.u32_at(code + l.code_stacksize)? as i32 as i64
        }
    };
    (0..1 << 20).contains(&slots).then_some(slots as u64)
}

/// The code object of an interpreter frame.
fn iframe_code<M: Memory + ?Sized>(m: &M, l: &Layout, iframe: u64) -> Option<u64> {
    let raw = m.u64_at(iframe + l.iframe_code)?;
    let p = if l.stackref_code { raw & !3 } else { raw };
    (p != 0 && p % 8 == 0).then_some(p)
}

fn frame_sizeof<M: Memory + ?Sized>(m: &M, l: &Layout, obj: u64) -> Option<u64> {
    if l.frame_sizes == FrameSizes::VarObject {
        // what the code needs (a frame from the free list may have more slots allocated)
        let code = m.ptr_at(obj + l.frame_f_code)?;
        let int = |off: u64| m.u32_at(code + off).map(|v| v as i32 as i64);
        let tuple_len = |off: u64| m.ptr_at(code + off).and_then(|tup| ob_size(m, tup));
        let extras = int(l.code_stacksize)?
            + int(l.code_nlocals)?
            + tuple_len(l.code_cellvars)? as i64
            + tuple_len(l.code_freevars)? as i64;
        if !(0..1 << 20).contains(&extras) {
            return None;
        }
        return Some(l.sizeof_frame + (extras.max(1) as u64 - 1) * 8);
    }
    let iframe = m.ptr_at(obj + l.frame_f_frame)?;
    let code = iframe_code(m, l, iframe)?;
    Some(l.frame_data + l.iframe_localsplus + code_slots(m, l, code)? * 8)
}

fn generator_sizeof<M: Memory + ?Sized>(m: &M, l: &Layout, obj: u64, t: &TypeInfo) -> Option<u64> {
    if l.frame_sizes == FrameSizes::VarObject {
        return Some(t.basicsize);
    }
    let code = if l.frame_sizes == FrameSizes::Interp311 {
        m.ptr_at(obj + l.gen_code)?
    } else {
        iframe_code(m, l, obj + l.gen_iframe)?
    };
    Some(l.gen_iframe + l.iframe_localsplus + code_slots(m, l, code)? * 8)
}

/// The length a user would see with `len()`, for containers.
pub fn length<M: Memory + ?Sized>(m: &M, l: &Layout, obj: u64, t: &TypeInfo) -> Option<u64> {
    if obj >= crate::heap::memory::MAX_ADDR {
        return None;
    }
    match t.kind {
        Kind::List | Kind::Tuple | Kind::Deque | Kind::ByteArray | Kind::Bytes => ob_size(m, obj),
        Kind::Dict | Kind::OrderedDict => dicts::len(m, l, obj),
        Kind::Set => m
            .i64_at(obj + l.set_used)
            .filter(|&n| n >= 0 && n as u64 <= MAX_ITEMS)
            .map(|n| n as u64),
        Kind::Str => m
            .i64_at(obj + l.str_length)
            .filter(|&n| n >= 0)
            .map(|n| n as u64),
        _ => None,
    }
}

/// The `n` pointers at `at` (NULLs and misaligned values skipped), handed to `out`.
fn pointers<M: Memory + ?Sized>(m: &M, at: u64, n: u64, out: &mut dyn FnMut(u64)) {
    // small arrays (most of them): word by word, no buffer
    if n <= 64 {
        for i in 0..n {
            if let Some(p) = at.checked_add(i * 8).and_then(|a| m.word(a))
                && p != 0
                && p.is_multiple_of(8)
                && p < MAX_ADDR
            {
                out(p);
            }
        }
        return;
    }
    read_array(m, at, n, 8, |e| {
        let p = u64::from_le_bytes(e.try_into().unwrap_or([0; 8]));
        if p != 0 && p.is_multiple_of(8) && p < MAX_ADDR {
            out(p);
        }
    });
}

/// The objects `obj` refers to as a container (see the module comment), handed to `out`.
pub fn referents<M: Memory + ?Sized>(
    m: &M,
    l: &Layout,
    obj: u64,
    t: &TypeInfo,
    set_dummy: u64,
    out: &mut dyn FnMut(u64),
) {
    let mut start = 0;
    while let Some(next) = referents_chunk(m, l, obj, t, set_dummy, start, REFERENT_CHUNK, out) {
        start = next;
    }
}

/// Items per call of [`referents_chunk`].
pub const REFERENT_CHUNK: u64 = 4096;

/// The referents of `obj` from item `start` on, at most `limit` items (its instance attributes
/// come with the first chunk). Returns where the next chunk starts, if anything is left: a
/// walker can take a container of millions of items a bounded chunk at a time.
#[allow(clippy::too_many_arguments)]
pub fn referents_chunk<M: Memory + ?Sized>(
    m: &M,
    l: &Layout,
    obj: u64,
    t: &TypeInfo,
    set_dummy: u64,
    start: u64,
    limit: u64,
    out: &mut dyn FnMut(u64),
) -> Option<u64> {
    if obj >= crate::heap::memory::MAX_ADDR {
        return None;
    }
    if start == 0 && is_python_class(t) {
        instance_attributes(m, l, obj, t, out);
    }
    let n = |n: u64| -> (u64, Option<u64>) {
        let end = n.min(start.saturating_add(limit));
        (end.saturating_sub(start), (end < n).then_some(end))
    };
    match t.kind {
        Kind::List => {
            let (Some(size), Some(items)) = (ob_size(m, obj), m.ptr_at(obj + l.list_items)) else {
                return None;
            };
            // a list never holds more items than it allocated
            let alloc = m.i64_at(obj + l.list_allocated).unwrap_or(0).max(0) as u64;
            if size > alloc {
                return None;
            }
            let (k, next) = n(size);
            pointers(m, items.saturating_add(start * 8), k, out);
            next
        }
        Kind::Tuple => {
            let size = ob_size(m, obj)?;
            let (k, next) = n(size);
            pointers(m, (obj + l.tuple_items).saturating_add(start * 8), k, out);
            next
        }
        Kind::Dict | Kind::OrderedDict => {
            let table = Table::of_dict(m, l, obj)?;
            let (_, next) = n(table.keys.nentries);
            table.for_each_range(m, start, limit, |k, v| {
                out(k);
                out(v);
            });
            next
        }
        Kind::Set => set_entries(m, l, obj, set_dummy, start, limit, out),
        Kind::NdArray | Kind::MemoryView => {
            if let Some(r) = super::native::referent(m, obj, t) {
                out(r);
            }
            None
        }
        _ => None,
    }
}

/// A set's keys from table slot `start` on, at most `limit` slots; the next start if more.
pub fn set_entries<M: Memory + ?Sized>(
    m: &M,
    l: &Layout,
    obj: u64,
    set_dummy: u64,
    start: u64,
    limit: u64,
    out: &mut dyn FnMut(u64),
) -> Option<u64> {
    if obj >= crate::heap::memory::MAX_ADDR {
        return None;
    }
    let mask = m.u64_at(obj + l.set_mask).unwrap_or(0);
    let table = m.ptr_at(obj + l.set_table)?;
    if mask >= MAX_ITEMS || !(mask + 1).is_power_of_two() {
        return None;
    }
    let slots = mask + 1;
    let end = slots.min(start.saturating_add(limit));
    read_array(
        m,
        table.saturating_add(start * l.set_entry),
        end.saturating_sub(start),
        l.set_entry,
        |e| {
            let key = u64::from_le_bytes(e[..8].try_into().unwrap_or([0; 8]));
            if key != 0 && key != set_dummy && key.is_multiple_of(8) {
                out(key);
            }
        },
    );
    (end < slots).then_some(end)
}

/// Instances of classes defined in Python: heap types that are neither immutable (the C
/// types of extension modules made with PyType_FromSpec) nor metaclasses.
pub fn is_python_class(t: &TypeInfo) -> bool {
    t.heap && !t.has(flags::IMMUTABLETYPE) && t.kind != Kind::Type
}

/// The `__dict__` (or the values that stand for it) and `__slots__` of an instance.
pub fn instance_attributes<M: Memory + ?Sized>(
    m: &M,
    l: &Layout,
    obj: u64,
    t: &TypeInfo,
    out: &mut dyn FnMut(u64),
) {
    if obj >= crate::heap::memory::MAX_ADDR {
        return;
    }
    for off in &t.slots {
        if let Some(p) = m.ptr_at(obj.saturating_add(*off)) {
            out(p);
        }
    }
    let managed = t.has(flags::MANAGED_DICT);
    match l.instance_dicts {
        InstanceDicts::Managed311 if managed => {
            if let Some(d) = m.ptr_at(obj.wrapping_sub(l.managed_dict_before)) {
                out(d);
            } else if let Some(values) = m.ptr_at(obj.wrapping_sub(l.managed_values_before)) {
                shared_values(m, l, t, values, out);
            }
        }
        InstanceDicts::Tagged312 if managed => {
            if let Some(word) = m
                .u64_at(obj.wrapping_sub(l.managed_dict_before))
                .filter(|&w| w != 0)
            {
                if word & 1 == 1 {
                    shared_values(m, l, t, word.wrapping_add(1), out);
                } else if word.is_multiple_of(8) {
                    out(word);
                }
            }
        }
        InstanceDicts::Inline313 if managed => {
            if let Some(d) = m.ptr_at(obj.wrapping_sub(l.managed_dict_before)) {
                out(d);
            } else if t.has(flags::INLINE_VALUES) {
                let values = obj + t.basicsize;
                if m.u8_at(values + l.values_valid)
                    .is_some_and(|valid| valid != 0)
                {
                    shared_values(m, l, t, values + l.split_values_start, out);
                }
            }
        }
        _ => {
            if let Some(d) = dict_at_offset(m, obj, t) {
                out(d);
            }
        }
    }
}

/// `values[i]` for each entry of the type's shared keys.
fn shared_values<M: Memory + ?Sized>(
    m: &M,
    l: &Layout,
    t: &TypeInfo,
    values: u64,
    out: &mut dyn FnMut(u64),
) {
    let _ = l;
    if t.shared_entries > 0 {
        pointers(m, values, t.shared_entries, out);
    }
}

/// The instance dict found through `tp_dictoffset` (the only regime before 3.11, and the one
/// of types without a managed dict after).
pub fn dict_at_offset<M: Memory + ?Sized>(m: &M, obj: u64, t: &TypeInfo) -> Option<u64> {
    if obj >= crate::heap::memory::MAX_ADDR {
        return None;
    }
    let off = t.dictoffset;
    if off == 0 || off == -1 {
        return None;
    }
    let at = if off > 0 {
        obj + off as u64
    } else {
        let n = if t.itemsize > 0 { ob_size(m, obj)? } else { 0 };
        let end = round8(t.basicsize + n * t.itemsize);
        (obj + end).checked_add_signed(off)?
    };
    m.ptr_at(at)
}

/// The instance dict of `obj`, if one exists (materialised), in any regime.
pub fn instance_dict<M: Memory + ?Sized>(m: &M, l: &Layout, obj: u64, t: &TypeInfo) -> Option<u64> {
    if obj >= crate::heap::memory::MAX_ADDR {
        return None;
    }
    let managed = t.has(flags::MANAGED_DICT);
    match l.instance_dicts {
        InstanceDicts::Managed311 | InstanceDicts::Inline313 if managed => {
            m.ptr_at(obj.wrapping_sub(l.managed_dict_before))
        }
        InstanceDicts::Tagged312 if managed => m
            .u64_at(obj.wrapping_sub(l.managed_dict_before))
            .filter(|&w| w != 0 && w & 1 == 0 && w % 8 == 0),
        _ => dict_at_offset(m, obj, t),
    }
}

/// The attributes of an instance as `(name, value)` pairs, whether they live in a dict or in
/// values that share the class's keys. Names are str object addresses.
pub fn attributes<M: Memory + ?Sized>(
    m: &M,
    l: &Layout,
    obj: u64,
    t: &TypeInfo,
    mut f: impl FnMut(u64, u64),
) {
    if obj >= crate::heap::memory::MAX_ADDR {
        return;
    }
    if let Some(d) = instance_dict(m, l, obj, t) {
        if let Some(table) = Table::of_dict(m, l, d) {
            table.for_each(m, &mut f);
        }
        return;
    }
    let values = match l.instance_dicts {
        InstanceDicts::Managed311 if t.has(flags::MANAGED_DICT) => {
            m.ptr_at(obj.wrapping_sub(l.managed_values_before))
        }
        InstanceDicts::Tagged312 if t.has(flags::MANAGED_DICT) => m
            .u64_at(obj.wrapping_sub(l.managed_dict_before))
            .filter(|&w| w & 1 == 1)
            .map(|w| w.wrapping_add(1)),
        InstanceDicts::Inline313 if t.has(flags::INLINE_VALUES) => {
            let v = obj + t.basicsize;
            m.u8_at(v + l.values_valid)
                .filter(|&valid| valid != 0)
                .map(|_| v + l.split_values_start)
        }
        _ => None,
    };
    let Some(values) = values else {
        return;
    };
    // the names are the class's shared keys, decoded once per census
    for (i, &k) in t.shared_keys.iter().enumerate() {
        if k != 0
            && let Some(v) = m.ptr_at(values + 8 * i as u64)
        {
            f(k, v);
        }
    }
}
