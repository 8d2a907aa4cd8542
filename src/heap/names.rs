//! Named containers: from `sys.modules`, every module's globals that are containers (dict,
//! list, set, deque, OrderedDict, defaultdict, Counter, bytearray, an lru_cache's cache), or
//! instances, classes and functions holding such containers in their attributes or default
//! arguments (to a small depth). Each gets a qualified name (`package.module.NAME`,
//! `module.Class.attr`, `module.func.__defaults__[0]`), its length and sizes.
//!
//! One container reachable under several names (`from a import CACHE` in module b) is reported
//! once; the name kept is the one from the module imported last (importers usually come before
//! the modules they import), the others are listed as aliases; multiprocessing's second name
//! for the main module (`__mp_main__`) never wins over `__main__`.

use rustc_hash::FxHashMap;

use super::census::{ContainerRow, Origin};
use super::dicts::Table;
use super::layout::Layout;
use super::memory::{Memory, MemoryExt};
use super::objects;
use super::strings;
use super::types::{Kind, TypeInfo};
use super::walk::{Interpreter, Walker};

const MAX_MODULES: usize = 100_000;
const MAX_GLOBALS_PER_MODULE: usize = 100_000;
/// How deep attributes are followed from a global (obj.attr.attr).
const MAX_DEPTH: usize = 2;
/// Most items whose sizes are summed, over all containers of one census.
const MAX_ITEMS_SIZED: u64 = 50_000_000;
const MAX_NAME: usize = 256;

struct Candidate {
    name: String,
    /// Position of the module in sys.modules.
    module_order: usize,
    file: Option<String>,
    origin: Origin,
    /// A name for the reader only (a closure variable's `outer.<locals>.var`), never the
    /// container's primary name.
    alias_only: bool,
}

pub struct Namer<'w, 'a, M: Memory + ?Sized> {
    w: &'w mut Walker<'a, M>,
    found: FxHashMap<u64, Vec<Candidate>>,
    items_budget: u64,
    /// Every module's name and `__file__`.
    pub modules: Vec<(String, String)>,
    /// Every module's globals dict and name (roots of why-alive chains).
    pub module_dicts: Vec<(u64, String)>,
    /// The names of the modules in `sys.modules` (for canonical class names).
    module_names: rustc_hash::FxHashSet<String>,
    /// Classes looked into under their canonical name, by (address, depth, found in
    /// `__main__`): the candidates their visit noted. A class imported by fifty modules is
    /// looked into once; its other sightings only raise those candidates' module order, so the
    /// names come out as if each sighting had been walked.
    visited: FxHashMap<(u64, usize, bool), Vec<(u64, usize)>>,
    /// The candidates noted by the class visits under way (innermost last).
    recording: Vec<Vec<(u64, usize)>>,
}

/// The few names under which holders are not looked for: import machinery (a module's
/// `__builtins__` is the builtins module, named as itself; `__loader__` and `__spec__` are
/// importlib's objects, named under importlib; `__all__` and `__path__` are a module's
/// declared exports and a package's search path, fixed at import) and the class plumbing of
/// every instance (`__class__`, `__dict__`, `__weakref__`). Every other name is looked at,
/// dunders too (`__warningregistry__`, a class's `__slots__` or `_registry`).
const NOT_HOLDERS: &[&str] = &[
    "__builtins__",
    "__loader__",
    "__spec__",
    "__all__",
    "__path__",
    "__class__",
    "__dict__",
    "__weakref__",
];

fn not_a_holder_name(s: &str) -> bool {
    NOT_HOLDERS.contains(&s)
}

/// Weak containers: they keep nothing alive, so what they hold is never theirs to report
/// (the strong holder of the same objects is). Their inner `data` is not looked at.
pub const WEAK_CONTAINERS: &[&str] = &[
    "_weakrefset.WeakSet",
    "weakref.WeakSet",
    "weakref.WeakKeyDictionary",
    "weakref.WeakValueDictionary",
    "weakref.WeakMethod",
    "weakref.finalize",
];

/// Types of weak references: a container whose items are these holds nothing alive.
pub const WEAK_REFERENCES: &[&str] = &[
    "weakref",
    "weakref.ReferenceType",
    "weakref.KeyedRef",
    "weakref.ProxyType",
    "weakref.CallableProxyType",
    "weakproxy",
    "weakcallableproxy",
];

impl<'w, 'a, M: Memory + ?Sized> Namer<'w, 'a, M> {
    pub fn new(w: &'w mut Walker<'a, M>) -> Self {
        Namer {
            w,
            found: FxHashMap::default(),
            items_budget: MAX_ITEMS_SIZED,
            modules: Vec::new(),
            module_dicts: Vec::new(),
            module_names: Default::default(),
            visited: FxHashMap::default(),
            recording: Vec::new(),
        }
    }

    /// Whether `classify` could find anything under this object: a container, or something
    /// that holds one by name (functions, classes and instances within the depth, partials).
    /// The rest (strs, ints, modules...) is passed by before its name is read.
    fn worth_naming(&mut self, obj: u64, depth: usize) -> bool {
        let Some(ty) = self.w.type_of(obj) else {
            return false;
        };
        let t = self.w.types.get(ty);
        match t.kind {
            k if k.is_container() => true,
            Kind::Function => true,
            Kind::Type => depth < MAX_DEPTH,
            Kind::Other => {
                t.name == "functools.partial"
                    || (t.heap && depth < MAX_DEPTH && !WEAK_CONTAINERS.contains(&t.name.as_str()))
            }
            _ => false,
        }
    }

    /// Add a candidate name for the container at `addr`, recorded in the class visits under
    /// way.
    fn push_candidate(&mut self, addr: u64, c: Candidate) {
        let list = self.found.entry(addr).or_default();
        list.push(c);
        let at = (addr, list.len() - 1);
        for r in &mut self.recording {
            r.push(at);
        }
    }

    fn m(&self) -> &'a M {
        self.w.m
    }
    fn l(&self) -> &'a Layout {
        self.w.l
    }

    fn type_info(&mut self, addr: u64) -> Option<std::sync::Arc<TypeInfo>> {
        let ty = self.w.type_of(addr)?;
        Some(self.w.types.shared(ty))
    }

    fn str_at(&self, addr: u64) -> Option<String> {
        strings::read_str(self.m(), self.l(), addr, MAX_NAME)
    }

    /// Visit every module's globals and return the named containers, longest first.
    pub fn run(&mut self, it: &Interpreter) -> Vec<ContainerRow> {
        let (m, l) = (self.m(), self.l());
        let Some(modules) = Table::of_dict(m, l, it.modules) else {
            return Vec::new();
        };
        let mut mods: Vec<(String, u64)> = Vec::new();
        modules.for_each(m, |k, v| {
            if mods.len() < MAX_MODULES
                && let Some(name) = strings::read_str(m, l, k, MAX_NAME)
            {
                mods.push((name, v));
            }
        });
        self.module_names = mods.iter().map(|(n, _)| n.clone()).collect();
        for (order, (modname, module)) in mods.into_iter().enumerate() {
            let Some(t) = self.type_info(module) else {
                continue;
            };
            if t.kind != Kind::Module {
                continue;
            }
            let Some(md_dict) = m.ptr_at(module + l.module_dict) else {
                continue;
            };
            self.module_dicts.push((md_dict, modname.clone()));
            let Some(globals) = Table::of_dict(m, l, md_dict) else {
                continue;
            };
            let mut entries: Vec<(u64, u64)> = Vec::new();
            globals.for_each(m, |k, v| {
                if entries.len() < MAX_GLOBALS_PER_MODULE {
                    entries.push((k, v));
                }
            });
            let module_file = entries
                .iter()
                .find(|(k, _)| strings::str_equals(m, l, *k, "__file__"))
                .and_then(|(_, v)| strings::read_str(m, l, *v, 4096));
            if let Some(f) = &module_file {
                self.modules.push((modname.clone(), f.clone()));
            }
            let file = if modname == "__main__" {
                module_file
            } else {
                None
            };
            for (k, v) in entries {
                if !self.worth_naming(v, 0) {
                    continue;
                }
                let Some(gname) = self.str_at(k) else {
                    continue;
                };
                if not_a_holder_name(&gname) {
                    continue;
                }
                let name = format!("{modname}.{gname}");
                self.classify(v, name, 0, order, &file, Origin::Global);
            }
        }
        self.finish()
    }

    fn note(
        &mut self,
        addr: u64,
        name: String,
        order: usize,
        file: &Option<String>,
        origin: Origin,
    ) {
        self.push_candidate(
            addr,
            Candidate {
                name,
                module_order: order,
                file: file.clone(),
                origin,
                alias_only: false,
            },
        );
    }

    /// `module.outer.<locals>`: the scope a nested function's free variables live in (from
    /// its `__module__` and `__qualname__`); None for a function that is not nested.
    fn enclosing_scope(&self, func: u64) -> Option<String> {
        let (m, l) = (self.m(), self.l());
        let module = m
            .ptr_at(func + l.func_module)
            .and_then(|p| self.str_at(p))?;
        let qualname = m
            .ptr_at(func + l.func_qualname)
            .and_then(|p| self.str_at(p))?;
        let (outer, _) = qualname.rsplit_once('.')?;
        Some(format!("{module}.{outer}"))
    }

    /// The names of a function's free variables, in the order of its `__closure__` cells
    /// (`co_freevars` before 3.11; the last `co_nfreevars` of `co_localsplusnames` since).
    fn free_var_names(&self, func: u64) -> Vec<String> {
        let (m, l) = (self.m(), self.l());
        let Some(code) = m.ptr_at(func + l.func_code) else {
            return Vec::new();
        };
        let (tuple, from, to) =
            if let (Some(names), Some(nfree)) = (l.code_localsplusnames, l.code_nfreevars) {
                let Some(t) = m.ptr_at(code + names) else {
                    return Vec::new();
                };
                let n = objects::ob_size(m, t).unwrap_or(0);
                let free = m.u32_at(code + nfree).unwrap_or(u32::MAX) as u64;
                if n > 4096 || free > n || free > 64 {
                    return Vec::new();
                }
                (t, n - free, n)
            } else {
                let Some(t) = m.ptr_at(code + l.code_freevars) else {
                    return Vec::new();
                };
                let n = objects::ob_size(m, t).unwrap_or(0).min(64);
                (t, 0, n)
            };
        (from..to)
            .map(|i| {
                m.ptr_at(tuple + l.tuple_items + 8 * i)
                    .and_then(|p| self.str_at(p))
                    .unwrap_or_default()
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn classify(
        &mut self,
        obj: u64,
        name: String,
        depth: usize,
        order: usize,
        file: &Option<String>,
        origin: Origin,
    ) {
        let (m, l) = (self.m(), self.l());
        let Some(t) = self.type_info(obj) else {
            return;
        };
        // frozensets cannot grow: not worth naming
        if t.kind.is_container() && t.name != "frozenset" {
            self.note(obj, name.clone(), order, file, origin);
            // a container subclass instance may also hold containers in its attributes
            if !t.heap {
                return;
            }
        }
        match t.kind {
            Kind::Function => {
                if let Some(defaults) = m.ptr_at(obj + l.func_defaults)
                    && let Some(n) = objects::ob_size(m, defaults)
                {
                    for i in 0..n.min(256) {
                        if let Some(item) = m.ptr_at(defaults + l.tuple_items + 8 * i)
                            && self.type_info(item).is_some_and(|t| t.kind.is_container())
                        {
                            self.note(
                                item,
                                format!("{name}.__defaults__[{i}]"),
                                order,
                                file,
                                Origin::Default,
                            );
                        }
                    }
                }
                if let Some(kw) = m.ptr_at(obj + l.func_kwdefaults)
                    && let Some(table) = Table::of_dict(m, l, kw)
                {
                    let mut items = Vec::new();
                    table.for_each(m, |k, v| items.push((k, v)));
                    for (k, v) in items.into_iter().take(256) {
                        if self.type_info(v).is_some_and(|t| t.kind.is_container())
                            && let Some(key) = self.str_at(k)
                        {
                            self.note(
                                v,
                                format!("{name}.__kwdefaults__['{key}']"),
                                order,
                                file,
                                Origin::Default,
                            );
                        }
                    }
                }
                // a closure's variables live as long as the function: a list or dict in one
                // is a holder (`module.handler.__closure__[0]`, its `cell_contents`)
                // (also known by its variable: `module.outer.<locals>.var`)
                if let Some(closure) = m.ptr_at(obj + l.func_closure)
                    && let Some(n) = objects::ob_size(m, closure)
                {
                    let mut vars: Option<(Vec<String>, Option<String>)> = None;
                    for i in 0..n.min(64) {
                        if let Some(cell) = m.ptr_at(closure + l.tuple_items + 8 * i)
                            && let Some(v) = m.ptr_at(cell + l.cell_ref)
                            && self.type_info(v).is_some_and(|t| t.kind.is_container())
                        {
                            self.note(
                                v,
                                format!("{name}.__closure__[{i}]"),
                                order,
                                file,
                                Origin::Global,
                            );
                            let (names, scope) = vars.get_or_insert_with(|| {
                                (self.free_var_names(obj), self.enclosing_scope(obj))
                            });
                            if let (Some(var), Some(scope)) =
                                (names.get(i as usize).filter(|v| !v.is_empty()), scope)
                            {
                                let alias = format!("{scope}.{var}");
                                self.push_candidate(
                                    v,
                                    Candidate {
                                        name: alias,
                                        module_order: order,
                                        file: file.clone(),
                                        origin: Origin::Global,
                                        alias_only: true,
                                    },
                                );
                            }
                        }
                    }
                }
            }
            Kind::Type if depth < MAX_DEPTH => {
                // a class defined in Python: its attributes (class-level containers, methods)
                let heap_type = m
                    .u64_at(obj + l.tp_flags)
                    .is_some_and(|f| f & super::layout::flags::HEAPTYPE != 0);
                if !heap_type {
                    return;
                }
                let Some(table) = m
                    .ptr_at(obj + l.tp_dict)
                    .and_then(|d| Table::of_dict(m, l, d))
                else {
                    return;
                };
                // named where it is defined (`__module__` + `__qualname__`), not where it was
                // found (a module that imported it), unless that name leads nowhere (a class
                // made inside a function)
                let canonical = self
                    .w
                    .types
                    .lookup(m, l, obj)
                    .map(|id| self.w.types.get(id).name.clone())
                    .filter(|n| n.contains('.') && !n.contains("<locals>"))
                    .filter(|n| {
                        n.match_indices('.')
                            .any(|(i, _)| self.module_names.contains(&n[..i]))
                    });
                // under its canonical name a class's visit comes out the same wherever it
                // is seen: looked into once (at this depth or a shallower one)
                let key = (obj, depth, file.is_some());
                if canonical.is_some() {
                    let seen = (0..=depth).find_map(|d| self.visited.get(&(obj, d, key.2)));
                    if let Some(noted) = seen {
                        for &(addr, i) in noted {
                            if let Some(c) = self.found.get_mut(&addr).and_then(|v| v.get_mut(i)) {
                                c.module_order = c.module_order.max(order);
                            }
                        }
                        return;
                    }
                    self.recording.push(Vec::new());
                }
                let name = canonical.as_deref().unwrap_or(&name);
                let mut items = Vec::new();
                table.for_each(m, |k, v| items.push((k, v)));
                for (k, v) in items.into_iter().take(4096) {
                    if !self.worth_naming(v, depth + 1) {
                        continue;
                    }
                    if let Some(attr) = self.str_at(k).filter(|a| !not_a_holder_name(a)) {
                        self.classify(
                            v,
                            format!("{name}.{attr}"),
                            depth + 1,
                            order,
                            file,
                            Origin::ClassAttribute,
                        );
                    }
                }
                if canonical.is_some() {
                    let noted = self.recording.pop().unwrap_or_default();
                    self.visited.insert(key, noted);
                }
            }
            // a partial's bound arguments live as long as it does: a list or dict among them
            // is a holder (`module.handler.args[0]`, `module.handler.keywords['seen']`)
            Kind::Other if t.name == "functools.partial" => {
                if let Some(args) = m.ptr_at(obj + l.partial_args)
                    && self.type_info(args).is_some_and(|a| a.kind == Kind::Tuple)
                    && let Some(n) = objects::ob_size(m, args)
                {
                    for i in 0..n.min(64) {
                        if let Some(v) = m.ptr_at(args + l.tuple_items + 8 * i)
                            && self.type_info(v).is_some_and(|t| t.kind.is_container())
                        {
                            self.note(v, format!("{name}.args[{i}]"), order, file, origin);
                        }
                    }
                }
                if let Some(kw) = m.ptr_at(obj + l.partial_kw)
                    && let Some(table) = Table::of_dict(m, l, kw)
                {
                    let mut items = Vec::new();
                    table.for_each(m, |k, v| items.push((k, v)));
                    for (k, v) in items.into_iter().take(256) {
                        if self.type_info(v).is_some_and(|t| t.kind.is_container())
                            && let Some(key) = self.str_at(k)
                        {
                            self.note(v, format!("{name}.keywords['{key}']"), order, file, origin);
                        }
                    }
                }
            }
            // a weak container's `data` holds weak references only
            Kind::Other if WEAK_CONTAINERS.contains(&t.name.as_str()) => {}
            Kind::Other if t.heap && depth < MAX_DEPTH => {
                let mut items = Vec::new();
                objects::attributes(m, l, obj, &t, |k, v| items.push((k, v)));
                for (k, v) in items.into_iter().take(4096) {
                    if !self.worth_naming(v, depth + 1) {
                        continue;
                    }
                    if let Some(attr) = self.str_at(k).filter(|a| !not_a_holder_name(a)) {
                        self.classify(
                            v,
                            format!("{name}.{attr}"),
                            depth + 1,
                            order,
                            file,
                            Origin::InstanceAttribute,
                        );
                    }
                }
            }
            _ => {}
        }
    }

    fn size_of(&mut self, addr: u64) -> u64 {
        match self.w.type_of(addr) {
            Some(ty) => objects::getsizeof(self.m(), self.l(), addr, self.w.types.get(ty)),
            None => 0,
        }
    }

    /// What holding `item` costs its container: its own size and, when it shows another
    /// object's memory (a numpy view, a memoryview), that owner's size unless `charged`
    /// already has it (0 for an owner charged before through a view).
    fn charge(&mut self, item: u64, charged: &mut rustc_hash::FxHashSet<u64>) -> (u64, u64) {
        let Some(t) = self.type_info(item) else {
            return (0, 0);
        };
        if !matches!(
            t.kind,
            Kind::NdArray | Kind::MemoryView | Kind::ArrayArray | Kind::BytesIO | Kind::Mmap
        ) {
            return (self.size_of(item), 0);
        }
        let w = &mut *self.w;
        let owner = super::native::owner(w.m, item, &t, &mut |o| {
            w.type_of(o).map(|ty| w.types.get(ty).kind)
        });
        match owner {
            Some(o) => {
                let kept = if charged.insert(o) {
                    self.size_of(o)
                } else {
                    0
                };
                (self.size_of(item), kept)
            }
            None if charged.insert(item) => (self.size_of(item), 0),
            None => (0, 0),
        }
    }

    /// The items of a container whose sizes make `items_bytes`, at most `cap` of them.
    fn items(&mut self, addr: u64, t: &TypeInfo, cap: u64) -> Vec<u64> {
        let (m, l) = (self.m(), self.l());
        let cap = cap as usize;
        let mut out: Vec<u64> = Vec::new();
        let mut push = |p: u64| {
            if out.len() < cap {
                out.push(p);
            }
        };
        match t.kind {
            Kind::Deque => deque_items(m, l, addr, cap as u64, &mut push),
            Kind::LruCache => {
                if let Some(cache) = m.ptr_at(addr + l.lru_cache)
                    && let Some(ct) = self.type_info(cache)
                {
                    push(cache);
                    objects::referents(m, l, cache, &ct, self.w.set_dummy, &mut push);
                }
            }
            Kind::ByteArray => {}
            _ => {
                let mut start = 0;
                while let Some(next) = objects::referents_chunk(
                    m,
                    l,
                    addr,
                    t,
                    self.w.set_dummy,
                    start,
                    objects::REFERENT_CHUNK,
                    &mut push,
                ) {
                    start = next;
                    if start as usize >= cap {
                        break;
                    }
                }
            }
        }
        out
    }

    fn finish(&mut self) -> Vec<ContainerRow> {
        let found = std::mem::take(&mut self.found);
        let mut rows = Vec::with_capacity(found.len());
        for (addr, mut cands) in found {
            // multiprocessing puts the main module in sys.modules a second time, as
            // `__mp_main__`: the program's own name for it wins
            let mp_alias = |n: &str| n.starts_with("__mp_main__.");
            cands.sort_by(|a, b| {
                a.alias_only
                    .cmp(&b.alias_only)
                    .then(mp_alias(&a.name).cmp(&mp_alias(&b.name)))
                    .then(b.module_order.cmp(&a.module_order))
                    .then(a.name.len().cmp(&b.name.len()))
                    .then(a.name.cmp(&b.name))
            });
            cands.dedup_by(|a, b| a.name == b.name);
            let Some(t) = self.type_info(addr) else {
                continue;
            };
            let (m, l) = (self.m(), self.l());
            let (len, bound) = match t.kind {
                Kind::LruCache => {
                    let cache = m.ptr_at(addr + l.lru_cache);
                    let len = cache.and_then(|c| super::dicts::len(m, l, c)).unwrap_or(0);
                    let max = m
                        .i64_at(addr + l.lru_maxsize)
                        .filter(|&v| v >= 0)
                        .map(|v| v as u64);
                    (len, max)
                }
                Kind::Deque => {
                    let max = m
                        .i64_at(addr + l.deque_maxlen)
                        .filter(|&v| v >= 0)
                        .map(|v| v as u64);
                    (objects::length(m, l, addr, &t).unwrap_or(0), max)
                }
                _ => (objects::length(m, l, addr, &t).unwrap_or(0), None),
            };
            let shallow = self.size_of(addr);
            let mut items_bytes = 0;
            let mut views_keep = 0;
            let mut item_types: FxHashMap<u32, u64> = FxHashMap::default();
            if self.items_budget > 0 {
                let items = self.items(addr, &t, self.items_budget);
                self.items_budget = self.items_budget.saturating_sub(items.len() as u64);
                // for dicts the values say what is kept (keys come first in each pair)
                let dict_like = matches!(t.kind, Kind::Dict | Kind::OrderedDict);
                // the memory of a view is its owner's: charged once, however many views
                let mut charged: rustc_hash::FxHashSet<u64> = Default::default();
                for (n, i) in items.into_iter().enumerate() {
                    let (own, kept) = self.charge(i, &mut charged);
                    items_bytes += own + kept;
                    views_keep += kept;
                    if (!dict_like || n % 2 == 1)
                        && let Some(ty) = self.w.type_of(i)
                    {
                        *item_types.entry(ty).or_default() += 1;
                    }
                }
            }
            // (a tie goes to the first name in order: type ids depend on the walk's threads)
            let item_type = item_types
                .into_iter()
                .map(|(ty, n)| (n, &self.w.types.get(ty).name))
                .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)))
                .map(|(_, name)| name.clone());
            let first = cands.remove(0);
            rows.push(ContainerRow {
                name: first.name,
                origin: first.origin,
                item_type,
                type_name: t.name.clone(),
                len,
                shallow_bytes: shallow,
                items_bytes,
                bound,
                file: first.file,
                aliases: cands.into_iter().map(|c| c.name).collect(),
                addr,
                views_keep_bytes: views_keep,
                probe: super::probe::LenProbe::of(self.l(), addr, &t),
            });
        }
        rows.sort_by(|a, b| b.len.cmp(&a.len).then(a.name.cmp(&b.name)));
        rows
    }
}

/// The items of a deque (at most `cap`): blocks of 64 slots linked by `rightlink`; a block
/// that links back to itself ends the walk.
fn deque_items<M: Memory + ?Sized>(
    m: &M,
    l: &Layout,
    addr: u64,
    cap: u64,
    out: &mut dyn FnMut(u64),
) {
    const BLOCKLEN: u64 = 64;
    let Some(n) = objects::ob_size(m, addr) else {
        return;
    };
    let (Some(mut block), Some(left)) = (
        m.ptr_at(addr + l.deque_leftblock),
        m.i64_at(addr + l.deque_leftindex),
    ) else {
        return;
    };
    if !(0..BLOCKLEN as i64).contains(&left) {
        return;
    }
    let mut i = left as u64;
    let mut taken = 0;
    while taken < n.min(cap) {
        if let Some(p) = m.ptr_at(block + 8 + 8 * i) {
            out(p);
        }
        taken += 1;
        i += 1;
        if i == BLOCKLEN {
            i = 0;
            match m.ptr_at(block + 8 + 8 * BLOCKLEN) {
                Some(next) if next != block => block = next,
                _ => return,
            }
        }
    }
}
