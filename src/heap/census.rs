//! The result of one heap census: plain data, carried in the event stream, stored in the
//! session and shown by `snapshot` and `report`.

use serde::{Deserialize, Serialize};

use crate::event::Micros;

/// The garbage collector's state as read from the target.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GcState {
    pub enabled: bool,
    /// `gc.get_threshold()`.
    pub thresholds: [i64; 3],
    /// `gc.get_count()`.
    pub counts: [i64; 3],
    /// Objects on each generation list, then the permanent generation (`gc.freeze()`).
    pub generation_objects: [u64; 4],
    /// A collection was running in the copy (the census was retried or is approximate).
    pub collecting: bool,
}

/// Objects of one type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TypeRow {
    /// `module.QualName` (heap types), `tp_name` (static types).
    pub name: String,
    /// On the GC lists (generations 0–2).
    pub gc_count: u64,
    pub gc_bytes: u64,
    /// In the permanent generation (`gc.freeze()`).
    pub frozen_count: u64,
    pub frozen_bytes: u64,
    /// Not GC-tracked, reached as items or attributes of tracked containers.
    pub other_count: u64,
    pub other_bytes: u64,
    /// Sizes follow `sys.getsizeof` exactly (false: the type has a `__sizeof__` memwatch
    /// cannot emulate, and its bytes are a lower bound).
    pub size_exact: bool,
}

impl TypeRow {
    pub fn count(&self) -> u64 {
        self.gc_count + self.frozen_count + self.other_count
    }
    pub fn bytes(&self) -> u64 {
        self.gc_bytes + self.frozen_bytes + self.other_bytes
    }
}

/// Where a named container hangs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A module global (`module.NAME`).
    #[default]
    Global,
    /// A class attribute (`module.Class.attr`).
    ClassAttribute,
    /// An attribute of an instance held in a global (`module.obj.attr`).
    InstanceAttribute,
    /// A function's default argument (`module.func.__defaults__[0]`, `__kwdefaults__`).
    Default,
}

/// A named container: a module global, a class or instance attribute, or a function default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerRow {
    /// `package.module.NAME`, `module.Class.attr`, `module.func.__defaults__[0]`, …
    pub name: String,
    #[serde(default)]
    pub origin: Origin,
    /// The most common type among its items (dict values).
    #[serde(default)]
    pub item_type: Option<String>,
    /// The type of the container (`dict`, `list`, `collections.deque`, …).
    pub type_name: String,
    pub len: u64,
    /// `sys.getsizeof` of the container itself.
    pub shallow_bytes: u64,
    /// Sum of `sys.getsizeof` of its direct items (keys and values for dicts), with the true
    /// sizes of native buffers and, for items that are views (numpy views, memoryviews), the
    /// objects whose memory they show, each counted once.
    pub items_bytes: u64,
    /// The part of `items_bytes` that views among the items keep alive in other objects.
    #[serde(default)]
    pub views_keep_bytes: u64,
    /// `deque(maxlen=…)` or `lru_cache(maxsize=…)`: the container cannot grow past this.
    pub bound: Option<u64>,
    /// The source file of the module (for `__main__`, the script).
    pub file: Option<String>,
    /// Other names the same object is reachable by.
    pub aliases: Vec<String>,
    pub addr: u64,
    /// How to read its length again between censuses (live watches only: not recorded).
    #[serde(skip)]
    pub probe: Option<super::probe::LenProbe>,
}

/// One of the largest objects.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LargeObject {
    pub addr: u64,
    pub type_name: String,
    pub bytes: u64,
    pub len: Option<u64>,
    pub name: Option<String>,
}

/// A shape of cyclic garbage: objects that only refer to each other, grouped by the types
/// and edges that link them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CyclePattern {
    /// `Node ↔ list via .parent/.children`.
    pub name: String,
    /// The edges, `Node.parent → Node`, `Node.children → list → Node`.
    pub edges: Vec<String>,
    /// Attribute names on the cycle (`parent`, `children`).
    pub attributes: Vec<String>,
    pub objects: u64,
    pub bytes: u64,
}

/// The gc's own reasoning, run on the census copy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CycleReport {
    /// Objects that are unreachable except through cycles (what the next full collection
    /// would free).
    pub objects: u64,
    pub bytes: u64,
    pub patterns: Vec<CyclePattern>,
    /// Objects treated as reachable because memwatch cannot enumerate their references.
    pub opaque: u64,
}

/// How a representative object of a type is kept alive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WhyAlive {
    pub type_name: String,
    /// `app.events.Bus.listeners (list) → [3] method → __self__ Handler → .session Session`.
    pub chain: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Census {
    /// When it was taken, in session time (0 for a one-off snapshot).
    pub t: Micros,
    /// How long the target was stopped (0 in non-blocking mode).
    pub pause_us: u64,
    pub copy_bytes: u64,
    /// Of `copy_bytes`, copied again during the pause: pages the target wrote while the rest
    /// was copied (soft-dirty), or everything if the copy was made in the pause.
    #[serde(default)]
    pub rewritten_bytes: u64,
    /// Reads that fell outside the copy (read-only data such as type names) and were read live.
    #[serde(default)]
    pub live_reads: u64,
    /// Bytes of the heap not copied during the pause but read after it, when the walk needed
    /// them (memory new since the last census that was not copied).
    #[serde(default)]
    pub late_bytes: u64,
    /// The copy was planned by a first walk of the running target (a heap too big to copy
    /// whole, with no census before to learn from).
    #[serde(default)]
    pub discovered: bool,
    pub walk_us: u64,
    pub total_us: u64,
    /// Attempts it took (a collection in progress makes memwatch retry).
    pub attempts: u32,
    /// Taken without pausing the target, or the walk met inconsistencies: figures may be off.
    pub approximate: bool,
    pub notes: Vec<String>,
    pub gc: GcState,
    pub gc_objects: u64,
    pub gc_bytes: u64,
    pub other_objects: u64,
    pub other_bytes: u64,
    /// By bytes, largest first.
    pub types: Vec<TypeRow>,
    /// By length, longest first.
    pub containers: Vec<ContainerRow>,
    /// Every module with a file: (name, `__file__`).
    #[serde(default)]
    pub modules: Vec<(String, String)>,
    pub largest: Vec<LargeObject>,
    /// Cyclic garbage (None: not analysed in this census).
    #[serde(default)]
    pub cycles: Option<CycleReport>,
    /// Back-reference chains for the types that grew most since the previous census.
    #[serde(default)]
    pub why_alive: Vec<WhyAlive>,
}

impl Census {
    /// The file of the module a qualified name (`pkg.mod.NAME`, `mod.Class.attr`) lives in:
    /// the longest module name it starts with.
    pub fn module_file(&self, name: &str) -> Option<&str> {
        self.modules
            .iter()
            .filter(|(m, _)| {
                name.len() > m.len()
                    && name.starts_with(m.as_str())
                    && name.as_bytes()[m.len()] == b'.'
            })
            .max_by_key(|(m, _)| m.len())
            .map(|(_, f)| f.as_str())
    }
}
