//! Type objects of the target: names, sizes, flags, the kind of object they make, and where
//! their instances keep attributes. Each type address is decoded once per census and cached.
//!
//! A "type" pointer read from an object is untrusted: it is accepted only if its own type has
//! the TYPE_SUBCLASS flag, its basicsize is sane and its name decodes.

use rustc_hash::FxHashMap;

use super::layout::{Layout, flags};
use super::memory::{Memory, MemoryExt};
use super::strings;

/// What memwatch knows how to decode about an object, by its type or nearest known base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Other,
    List,
    Tuple,
    Dict,
    OrderedDict,
    Set,
    Str,
    Bytes,
    ByteArray,
    Int,
    Float,
    Type,
    Module,
    Function,
    Method,
    Cell,
    Frame,
    Generator,
    Deque,
    LruCache,
    BufferedIo,
    Code,
    /// `numpy.ndarray` and subclasses (see [`super::native`]).
    NdArray,
    ArrayArray,
    BytesIO,
    Mmap,
    MemoryView,
}

impl Kind {
    /// Exact static type names (`tp_name`, or `module.qualname` of heap types) → kind.
    fn of_name(name: &str) -> Option<Kind> {
        Some(match name {
            "list" => Kind::List,
            "tuple" => Kind::Tuple,
            "dict" => Kind::Dict,
            "collections.OrderedDict" => Kind::OrderedDict,
            "set" | "frozenset" => Kind::Set,
            "str" => Kind::Str,
            "bytes" => Kind::Bytes,
            "bytearray" => Kind::ByteArray,
            "int" | "bool" => Kind::Int,
            "float" => Kind::Float,
            "type" => Kind::Type,
            "module" => Kind::Module,
            "function" => Kind::Function,
            "method" => Kind::Method,
            "cell" => Kind::Cell,
            "frame" => Kind::Frame,
            "generator" | "coroutine" | "async_generator" => Kind::Generator,
            "collections.deque" => Kind::Deque,
            "functools._lru_cache_wrapper" => Kind::LruCache,
            "_io.BufferedReader" | "_io.BufferedWriter" | "_io.BufferedRandom" => Kind::BufferedIo,
            "code" => Kind::Code,
            "numpy.ndarray" => Kind::NdArray,
            "array.array" => Kind::ArrayArray,
            "_io.BytesIO" => Kind::BytesIO,
            "mmap.mmap" => Kind::Mmap,
            "memoryview" => Kind::MemoryView,
            "object" => Kind::Other,
            _ => return None,
        })
    }

    /// Containers whose length memwatch reports for named globals.
    pub fn is_container(self) -> bool {
        matches!(
            self,
            Kind::List
                | Kind::Dict
                | Kind::OrderedDict
                | Kind::Set
                | Kind::Deque
                | Kind::ByteArray
                | Kind::LruCache
        )
    }
}

/// Static types with a C `__sizeof__` memwatch does not model: their sizes are the default
/// `basicsize + itemsize × ob_size` and so only approximate.
const UNMODELLED_SIZEOF: &[&str] = &[
    "_struct.Struct",
    "_io.StringIO",
    "mmap.mmap",
    "_io.BufferedRWPair",
    "_pickle.Pickler",
    "_pickle.Unpickler",
    "_hashlib.HASH",
    "_sre.SRE_Pattern",
    "re.Pattern",
    "_csv.writer",
    "itertools.tee",
    "_collections._tuplegetter",
    "xml.etree.ElementTree.Element",
    "_elementtree.Element",
    "select.epoll",
    "_decimal.Decimal",
    "decimal.Decimal",
    "_random.Random",
    "random.Random",
];

#[derive(Debug, Clone)]
pub struct TypeInfo {
    pub addr: u64,
    /// `module.QualName` for heap types (`QualName` in builtins), `tp_name` for static ones.
    pub name: String,
    pub flags: u64,
    pub basicsize: u64,
    pub itemsize: u64,
    pub dictoffset: i64,
    pub kind: Kind,
    pub heap: bool,
    /// Offsets of object slots (`__slots__`) of this type and its heap bases.
    pub slots: Vec<u64>,
    /// Their names, by offset.
    pub slot_names: Vec<(u64, String)>,
    /// The nearest static (C) type in the base chain: `object` for plain classes.
    pub static_base: String,
    /// `ht_cached_keys` (heap types), for split and inline instance values.
    pub cached_keys: u64,
    /// Entries of the cached keys (how many values an instance's split/inline values hold).
    pub shared_entries: u64,
    /// numpy arrays: where their descriptors keep the item size (None: not understood).
    pub numpy: Option<super::native::Elsize>,
    /// The attribute names (str addresses) of the cached keys, in entry order.
    pub shared_keys: Vec<u64>,
    /// Whether `sys.getsizeof` is computed exactly for its instances.
    pub size_exact: bool,
}

impl TypeInfo {
    pub fn has(&self, f: u64) -> bool {
        self.flags & f != 0
    }
    pub fn is_gc(&self) -> bool {
        self.has(flags::HAVE_GC)
    }
}

pub type TypeId = u32;

/// Decoded types of one census.
#[derive(Default)]
pub struct TypeTable {
    /// Shared: a reader that needs a type's details while it reads on (the namer) holds one
    /// without copying its strings and vectors.
    pub types: Vec<std::sync::Arc<TypeInfo>>,
    /// The native layouts of the target (numpy's), for the types that need them.
    pub native: super::native::Native,
    by_addr: FxHashMap<u64, Option<TypeId>>,
}

/// Bounds for hostile input.
const MAX_TYPES: usize = 1 << 20;
const MAX_BASES: usize = 64;
const MAX_MEMBERS: usize = 1024;
const MAX_NAME: usize = 512;

impl TypeTable {
    pub fn get(&self, id: TypeId) -> &TypeInfo {
        &self.types[id as usize]
    }

    /// The same, held apart from the table (a reference count, no copy).
    pub fn shared(&self, id: TypeId) -> std::sync::Arc<TypeInfo> {
        self.types[id as usize].clone()
    }

    /// The id of a type decoded by another table (a thread of a parallel walk): this
    /// table's own if it knows the address, else the record is added as it is.
    pub fn adopt(&mut self, info: std::sync::Arc<TypeInfo>) -> TypeId {
        if let Some(Some(id)) = self.by_addr.get(&info.addr) {
            return *id;
        }
        let id = self.types.len() as TypeId;
        self.by_addr.insert(info.addr, Some(id));
        self.types.push(info);
        id
    }

    /// The name of the type at `addr` if it was decoded already.
    pub fn lookup_known(&self, addr: u64) -> Option<&str> {
        let id = (*self.by_addr.get(&addr)?)?;
        Some(&self.types[id as usize].name)
    }

    /// The type at `addr`, decoded on first use; `None` if it is not a plausible type object.
    pub fn lookup<M: Memory + ?Sized>(&mut self, m: &M, l: &Layout, addr: u64) -> Option<TypeId> {
        self.lookup_depth(m, l, addr, 0)
    }

    fn lookup_depth<M: Memory + ?Sized>(
        &mut self,
        m: &M,
        l: &Layout,
        addr: u64,
        depth: usize,
    ) -> Option<TypeId> {
        if let Some(v) = self.by_addr.get(&addr) {
            return *v;
        }
        if self.types.len() >= MAX_TYPES || depth > MAX_BASES {
            return None;
        }
        // guard against cycles through tp_base while this type is being decoded
        self.by_addr.insert(addr, None);
        let info = self.decode(m, l, addr, depth);
        let id = info.map(|info| {
            self.types.push(std::sync::Arc::new(info));
            (self.types.len() - 1) as TypeId
        });
        self.by_addr.insert(addr, id);
        id
    }

    fn decode<M: Memory + ?Sized>(
        &mut self,
        m: &M,
        l: &Layout,
        addr: u64,
        depth: usize,
    ) -> Option<TypeInfo> {
        if addr == 0 || !addr.is_multiple_of(8) {
            return None;
        }
        // the type of a type must be a type (its flags carry TYPE_SUBCLASS)
        let meta = m.ptr_at(addr + l.ob_type)?;
        let meta_flags = m.u64_at(meta + l.tp_flags)?;
        if meta_flags & flags::TYPE_SUBCLASS == 0 {
            return None;
        }
        let tflags = m.u64_at(addr + l.tp_flags)?;
        let basicsize = m.u64_at(addr + l.tp_basicsize)?;
        let itemsize = m.u64_at(addr + l.tp_itemsize)?;
        if !(8..=1 << 20).contains(&basicsize) || itemsize > 1 << 16 {
            return None;
        }
        let dictoffset = m.i64_at(addr + l.tp_dictoffset)?;
        let heap = tflags & flags::HEAPTYPE != 0;
        let name = if heap {
            heap_type_name(m, l, addr)?
        } else {
            // a char*: any alignment
            let p = m.u64_at(addr + l.tp_name).filter(|&p| p != 0)?;
            m.cstr_at(p, MAX_NAME)?
        };
        let base = m.u64_at(addr + l.tp_base).unwrap_or(0);
        let base_id = if base != 0 && base != addr {
            self.lookup_depth(m, l, base, depth + 1)
        } else {
            None
        };
        let base_info = base_id.map(|b| self.types[b as usize].clone());
        let kind = Kind::of_name(&name)
            .or_else(|| base_info.as_ref().map(|b| b.kind))
            .unwrap_or(Kind::Other);
        let mut slot_names = base_info
            .as_ref()
            .map(|b| b.slot_names.clone())
            .unwrap_or_default();
        if heap {
            slot_names.extend(member_slots(m, l, addr));
            slot_names.sort();
            slot_names.dedup_by_key(|s| s.0);
        }
        let slots: Vec<u64> = slot_names.iter().map(|s| s.0).collect();
        let static_base = if heap {
            base_info
                .as_ref()
                .map(|b| b.static_base.clone())
                .unwrap_or_else(|| "object".into())
        } else {
            name.clone()
        };
        let cached_keys = if heap {
            m.u64_at(addr + l.ht_cached_keys).unwrap_or(0)
        } else {
            0
        };
        let keys = (cached_keys != 0)
            .then(|| super::dicts::Keys::read(m, l, cached_keys))
            .flatten();
        let shared_entries = keys.map(|k| k.nentries.min(1 << 16)).unwrap_or(0);
        let shared_keys: Vec<u64> = keys
            .map(|k| {
                (0..shared_entries)
                    .map(|i| k.key(m, i).unwrap_or(0))
                    .collect()
            })
            .unwrap_or_default();
        let size_exact = !UNMODELLED_SIZEOF.contains(&name.as_str())
            && base_info.as_ref().is_none_or(|b| b.size_exact)
            && !(heap && has_python_sizeof(m, l, addr));
        Some(TypeInfo {
            addr,
            name,
            flags: tflags,
            basicsize,
            itemsize,
            dictoffset,
            kind,
            heap,
            slots,
            slot_names,
            static_base,
            cached_keys,
            shared_entries,
            shared_keys,
            size_exact,
            numpy: if kind == Kind::NdArray {
                self.native.elsize()
            } else {
                None
            },
        })
    }
}

/// `module.QualName` of a heap type (just `QualName` when the module is builtins).
fn heap_type_name<M: Memory + ?Sized>(m: &M, l: &Layout, addr: u64) -> Option<String> {
    let qual = m.ptr_at(addr + l.ht_qualname)?;
    let qualname = strings::read_str(m, l, qual, MAX_NAME)?;
    let module = m
        .ptr_at(addr + l.tp_dict)
        .and_then(|d| super::dicts::lookup_str(m, l, d, "__module__"))
        .and_then(|v| strings::read_str(m, l, v, MAX_NAME));
    Some(match module {
        Some(module) if module != "builtins" => format!("{module}.{qualname}"),
        _ => qualname,
    })
}

/// A Python-level `__sizeof__` in the class body: memwatch cannot call it.
fn has_python_sizeof<M: Memory + ?Sized>(m: &M, l: &Layout, addr: u64) -> bool {
    m.ptr_at(addr + l.tp_dict)
        .and_then(|d| super::dicts::lookup_str(m, l, d, "__sizeof__"))
        .is_some()
}

/// Offsets and names of `T_OBJECT` / `T_OBJECT_EX` members (the `__slots__`) of a heap type.
fn member_slots<M: Memory + ?Sized>(m: &M, l: &Layout, addr: u64) -> Vec<(u64, String)> {
    const T_OBJECT: u32 = 6;
    const T_OBJECT_EX: u32 = 16;
    let mut out = Vec::new();
    let Some(members) = m.ptr_at(addr + l.tp_members) else {
        return out;
    };
    for i in 0..MAX_MEMBERS as u64 {
        let at = members + i * l.member_size;
        let name_ptr = match m.u64_at(at) {
            Some(0) | None => break,
            Some(p) => p,
        };
        let (Some(ty), Some(off)) = (m.u32_at(at + l.member_type), m.i64_at(at + l.member_offset))
        else {
            break;
        };
        if (ty == T_OBJECT || ty == T_OBJECT_EX) && off > 0 && off < 1 << 20 {
            let name = m
                .cstr_at(name_ptr, 128)
                .unwrap_or_else(|| format!("<slot {off}>"));
            out.push((off as u64, name));
        }
    }
    out
}
