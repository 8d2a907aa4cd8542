//! Memory that objects own outside themselves: a numpy array's data buffer, an `array.array`'s
//! items, a `BytesIO`'s buffer, an `mmap`'s mapping. The census charges each object its true
//! size (for ndarray, array.array and BytesIO that is what their own `__sizeof__`, and so
//! `sys.getsizeof`, says; for mmap it is the mapped length), and an object that only shows
//! another's memory (a numpy view, a memoryview) is charged its header, its memory to the
//! object that owns it ([`owner`]).
//!
//! numpy is not CPython: its layouts come from the numpy version loaded in the target
//! (`numpy.__version__`, read from `sys.modules`). `PyArrayObject` has kept its fields since
//! numpy 1.7; `PyArray_Descr.elsize` moved in numpy 2 (an `int` after `type_num` in 1.x, an
//! `npy_intp` after a 64-bit `flags` in 2.x). A numpy whose major version memwatch does not
//! know, or whose descriptors do not read as that version's, is counted by its headers only,
//! with a note. Every length and pointer read here is bounded like every other remote read.
//!
//! To add a type: give it a [`Kind`](super::types::Kind) by name in `types.rs`, its size in
//! [`true_size`] and, if it shows another object's memory, its [`owner`].

use super::dicts;
use super::layout::Layout;
use super::memory::{MAX_ADDR, Memory, MemoryExt};
use super::strings;
use super::types::{Kind, TypeInfo};

/// `PyArrayObject` (numpy ≥ 1.7, also 2.x): after the object header.
const ND_DATA: u64 = 16;
const ND_NDIM: u64 = 24;
const ND_DIMS: u64 = 32;
const ND_BASE: u64 = 48;
const ND_DESCR: u64 = 56;
const ND_FLAGS: u64 = 64;
/// `NPY_ARRAY_OWNDATA`.
const OWNDATA: u32 = 0x0004;
/// `NPY_MAXDIMS` is 32 in numpy 1, 64 in numpy 2.
const MAX_NDIM: u64 = 64;
/// Largest figure believed for one object's memory (64 TiB): more is a damaged header.
const MAX_BYTES: u64 = 1 << 46;
/// Views of views are followed this far to the array that owns the data.
const MAX_BASE_CHAIN: usize = 32;

/// `array.array` (`arrayobject`, unchanged 3.8–3.15): `allocated` and `ob_descr`, whose
/// `itemsize` is an `int` after the `char typecode`.
const ARRAY_ALLOCATED: u64 = 32;
const ARRAY_DESCR: u64 = 40;
const ARRAYDESCR_ITEMSIZE: u64 = 4;
/// `_io.BytesIO` (`bytesio`, 3.8–3.15): `PyObject *buf`, a bytes object it owns unless shared.
const BYTESIO_BUF: u64 = 16;
/// `bytes`: `PyBytesObject_SIZE` (header, hash, one byte) plus one byte per item.
const BYTES_BASICSIZE: u64 = 33;
/// `mmap.mmap` (`mmap_object`, POSIX): `char *data`, `Py_ssize_t size`.
const MMAP_SIZE: u64 = 24;
/// `memoryview` (`PyMemoryViewObject`): `view.obj`, the exporter (after the var header, mbuf,
/// hash, flags, exports and `view.buf`).
const MEMORYVIEW_OBJ: u64 = 64;

/// Where a numpy descriptor keeps `elsize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elsize {
    /// numpy 1.x: `int elsize` at 32.
    Int32At32,
    /// numpy 2.x: `npy_intp elsize` at 40.
    IntpAt40,
}

/// What is known of the native layouts of one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Native {
    /// The numpy loaded, if any: its version and the descriptor layout (None: not understood).
    pub numpy: Option<(String, Option<Elsize>)>,
}

impl Native {
    /// Look for numpy in `sys.modules` (the dict at `modules`).
    pub fn detect<M: Memory + ?Sized>(m: &M, l: &Layout, modules: u64) -> Native {
        let version = dicts::lookup_str(m, l, modules, "numpy")
            .and_then(|module| m.ptr_at(module.checked_add(l.module_dict)?))
            .and_then(|d| dicts::lookup_str(m, l, d, "__version__"))
            .and_then(|v| strings::read_str(m, l, v, 64));
        let Some(version) = version else {
            // numpy imported under no name, or not at all
            return Native::default();
        };
        let elsize = match version
            .split('.')
            .next()
            .and_then(|v| v.parse::<u32>().ok())
        {
            Some(1) => Some(Elsize::Int32At32),
            Some(2) => Some(Elsize::IntpAt40),
            _ => None,
        };
        Native {
            numpy: Some((version, elsize)),
        }
    }

    /// The layout ndarrays are read with (None: counted by their header).
    pub fn elsize(&self) -> Option<Elsize> {
        self.numpy.as_ref().and_then(|n| n.1)
    }

    /// The note a census carries when numpy's layout is not understood.
    pub fn note(&self) -> Option<String> {
        match &self.numpy {
            Some((v, None)) => Some(format!(
                "numpy {v}: ndarray layout not known to this memwatch; arrays are counted by their headers, not their data"
            )),
            _ => None,
        }
    }
}

/// A numpy descriptor's item size, checked: the other layout's reading must not also look
/// like a descriptor of that version (numpy 1 keeps `alignment` ≥ 1 in the word's high half,
/// numpy 2 keeps its flags there, all below 2³²).
pub fn descr_elsize<M: Memory + ?Sized>(m: &M, descr: u64, e: Elsize) -> Option<u64> {
    if descr >= MAX_ADDR {
        return None;
    }
    let w32 = m.u64_at(descr + 32)?;
    let size = match e {
        Elsize::Int32At32 => {
            // alignment (high half) is a small power of two
            let align = w32 >> 32;
            if align == 0 || align > 4096 || !align.is_power_of_two() {
                return None;
            }
            w32 & 0x7fff_ffff
        }
        Elsize::IntpAt40 => {
            if w32 >> 32 != 0 {
                return None;
            }
            m.u64_at(descr + 40)?
        }
    };
    (size <= 1 << 30).then_some(size)
}

/// `arr.nbytes`: the product of the dimensions times the item size.
fn ndarray_nbytes<M: Memory + ?Sized>(m: &M, obj: u64, e: Elsize) -> Option<u64> {
    let nd = m.u32_at(obj + ND_NDIM)? as u64;
    if nd > MAX_NDIM {
        return None;
    }
    let elsize = descr_elsize(m, m.ptr_at(obj + ND_DESCR)?, e)?;
    let mut n: u64 = 1;
    if nd > 0 {
        let dims = m.ptr_at(obj + ND_DIMS)?;
        for i in 0..nd {
            let d = m.i64_at(dims + 8 * i).filter(|&d| d >= 0)? as u64;
            n = n.checked_mul(d)?;
        }
    }
    n.checked_mul(elsize).filter(|&b| b <= MAX_BYTES)
}

/// Whether the numpy array at `obj` owns its data (`NPY_ARRAY_OWNDATA`).
fn owns_data<M: Memory + ?Sized>(m: &M, obj: u64) -> bool {
    m.u32_at(obj + ND_FLAGS).is_some_and(|f| f & OWNDATA != 0)
}

/// The true size of an object of one of the native kinds (None: not one, or unreadable: the
/// caller falls back to its header size).
pub fn true_size<M: Memory + ?Sized>(m: &M, l: &Layout, obj: u64, t: &TypeInfo) -> Option<u64> {
    if obj >= MAX_ADDR {
        return None;
    }
    let size = match t.kind {
        // numpy's array_sizeof: the object, its shape and strides, and its data if it owns it
        Kind::NdArray => {
            let e = t.numpy?;
            let nd = m.u32_at(obj + ND_NDIM).filter(|&n| n as u64 <= MAX_NDIM)? as u64;
            let own = if owns_data(m, obj) && m.ptr_at(obj + ND_DATA).is_some() {
                ndarray_nbytes(m, obj, e)?
            } else {
                0
            };
            t.basicsize + nd * 16 + own
        }
        Kind::ArrayArray => {
            let alloc = m.i64_at(obj + ARRAY_ALLOCATED).filter(|&a| a >= 0)? as u64;
            let descr = m.ptr_at(obj + ARRAY_DESCR)?;
            let item = m.u32_at(descr + ARRAYDESCR_ITEMSIZE).filter(|&s| s <= 16)? as u64;
            t.basicsize + alloc.checked_mul(item)?
        }
        Kind::BytesIO => {
            let buf = m.u64_at(obj + BYTESIO_BUF)?;
            let owned = if buf != 0 && buf % 8 == 0 && buf < MAX_ADDR {
                // a buffer shared with a bytes object handed out (getvalue) is not its own
                match (super::objects::refcount(m, l, buf), m.i64_at(buf + 16)) {
                    (Some(1), Some(n)) if n >= 0 => BYTES_BASICSIZE + n as u64,
                    _ => 0,
                }
            } else {
                0
            };
            t.basicsize + owned
        }
        Kind::Mmap => {
            let n = m.i64_at(obj + MMAP_SIZE).filter(|&n| n >= 0)? as u64;
            t.basicsize + n
        }
        _ => return None,
    };
    (size <= MAX_BYTES).then_some(size)
}

/// The object whose memory `obj` shows (a numpy view's owning base, a memoryview's exporter),
/// if it is not its own.
pub fn owner<M: Memory + ?Sized>(
    m: &M,
    obj: u64,
    t: &TypeInfo,
    type_kind: &mut dyn FnMut(u64) -> Option<Kind>,
) -> Option<u64> {
    match t.kind {
        Kind::NdArray => {
            let mut at = obj;
            for _ in 0..MAX_BASE_CHAIN {
                if owns_data(m, at) {
                    return (at != obj).then_some(at);
                }
                let base = m.ptr_at(at + ND_BASE)?;
                // the base may be any exporter (bytes, mmap, a memoryview's object): it owns
                if type_kind(base) != Some(Kind::NdArray) {
                    return Some(base);
                }
                at = base;
            }
            None
        }
        Kind::MemoryView => m.ptr_at(obj + MEMORYVIEW_OBJ).filter(|&o| o != obj),
        _ => None,
    }
}

/// The object a native kind refers to that the GC may not (a numpy view's base): the walk
/// counts it when nothing else leads there.
pub fn referent<M: Memory + ?Sized>(m: &M, obj: u64, t: &TypeInfo) -> Option<u64> {
    match t.kind {
        Kind::NdArray => m.ptr_at(obj + ND_BASE),
        Kind::MemoryView => m.ptr_at(obj + MEMORYVIEW_OBJ),
        _ => None,
    }
}
