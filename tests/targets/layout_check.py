"""Checks memwatch's heap layout table against this interpreter's own memory.

usage: layout_check.py
Prints "ready", then reads ONE line from stdin: the JSON of `memwatch layout --pid PID
--format json` run against this process. Every figure of its "layout" is compared with what
this process can see of itself (type attributes, sys.getsizeof / __sizeof__, id() addresses and
reads of its own memory), and one line of JSON is printed:
{"checked": {field: "ok" | "what was read, what was expected"}, "unchecked": [[field, why]]}.

Runs under CPython 3.8 to 3.15, release and debug builds; standard library only. Memory is read
with process_vm_readv on this process, so a wrong offset that leads to a wild pointer is an
error (EFAULT), never a crash. Used by tests/heap_layout.rs.
"""

import builtins
import collections
import ctypes
import functools
import gc
import json
import os
import sys
import tempfile
import traceback

VERSION = sys.version_info[:3]
MINOR = VERSION[1]

# tp_flags bits
INLINE_VALUES = 1 << 2
MANAGED_WEAKREF = 1 << 3
MANAGED_DICT = 1 << 4
HEAPTYPE = 1 << 9
HAVE_GC = 1 << 14

T_OBJECT_EX = 16
BLOCKLEN = 64  # collections.deque


class Unreadable(Exception):
    pass


class Memory:
    """Reads of this process's own memory that fail cleanly on a bad address."""

    def __init__(self):
        libc = ctypes.CDLL(None, use_errno=True)

        class iovec(ctypes.Structure):
            _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

        self._read = libc.process_vm_readv
        self._read.restype = ctypes.c_ssize_t
        # plain integers in and out: a read makes no object the GC tracks (the GC lists are
        # walked with it)
        self._read.argtypes = [
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.c_void_p,
            ctypes.c_ulong,
            ctypes.c_ulong,
        ]
        self._size = 4096
        self._buf = ctypes.create_string_buffer(self._size)
        self._local = iovec(ctypes.addressof(self._buf), 0)
        self._remote = iovec(0, 0)
        self._local_at = ctypes.addressof(self._local)
        self._remote_at = ctypes.addressof(self._remote)
        self._pid = os.getpid()

    def bytes(self, addr, n):
        if n > self._size:
            return b"".join(
                self.bytes(addr + i, min(self._size, n - i)) for i in range(0, n, self._size)
            )
        if addr <= 0 or addr + n > 1 << 64:
            raise Unreadable("address %#x is not readable" % addr)
        self._local.len = n
        self._remote.base = addr
        self._remote.len = n
        got = self._read(self._pid, self._local_at, 1, self._remote_at, 1, 0)
        if got != n:
            raise Unreadable("address %#x is not readable (errno %d)" % (addr, ctypes.get_errno()))
        return self._buf.raw[:n]

    def u8(self, a):
        return self.bytes(a, 1)[0]

    def u32(self, a):
        return int.from_bytes(self.bytes(a, 4), "little")

    def i32(self, a):
        return int.from_bytes(self.bytes(a, 4), "little", signed=True)

    def u64(self, a):
        return int.from_bytes(self.bytes(a, 8), "little")

    def i64(self, a):
        return int.from_bytes(self.bytes(a, 8), "little", signed=True)

    def cstr(self, a, limit=256):
        out = b""
        while len(out) < limit:
            try:
                chunk = self.bytes(a + len(out), 64)
            except Unreadable:
                chunk = self.bytes(a + len(out), 1)
            if b"\0" in chunk:
                return out + chunk[: chunk.index(b"\0")]
            out += chunk
        return out


M = Memory()
API = ctypes.pythonapi


def api(name, restype, *argtypes):
    f = getattr(API, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


class Failed(Exception):
    pass


class Checker:
    def __init__(self, layout):
        self.L = layout
        self.results = {}
        self.unchecked = {}

    def __getitem__(self, field):
        return self.L[field]

    def passed(self, field):
        self.results.setdefault(field, "ok")

    def fail(self, field, msg):
        if self.results.get(field, "ok") == "ok":
            self.results[field] = msg

    def expect(self, field, what, got, want):
        """`got` read at the table's offset; `want` known independently."""
        if got == want:
            self.passed(field)
        else:
            self.fail(field, "%s: read %s, expected %s" % (what, show(got), show(want)))
        return got == want

    def require(self, what, cond):
        """A precondition of a check (not itself the figure under test)."""
        if not cond:
            raise Failed(what)

    def na(self, field, why):
        self.unchecked[field] = why


def show(v):
    if isinstance(v, int) and not isinstance(v, bool) and v > 4096:
        return "%#x" % v
    return repr(v)


CHECKS = []


def covers(*fields):
    def wrap(fn):
        CHECKS.append((fn, fields))
        return fn

    return wrap


# ---------------------------------------------------------------- objects used by the checks


class Plain:
    def __init__(self, a, b):
        self.alpha = a
        self.beta = b


class Slotted:
    __slots__ = ("first", "second")


class WeakOnly:
    __slots__ = ("__weakref__",)


class Outer:
    class Inner:
        pass


class StrSub(str):
    pass


class IntSub(int):
    pass


def fresh(text):
    """A str object made at run time (not a constant, not interned)."""
    return "".join([text[:1], text[1:]])


# ---------------------------------------------------------------- header, version, refcounts


@covers("version")
def check_version(c):
    c.expect("version", "version", tuple(c["version"]), tuple(VERSION))


@covers("ob_type", "ob_size")
def check_header(c):
    objs = [[1, 2, 3], (object(), object()), Plain(1, 2), 2**100, bytearray(b"xyz")]
    for o in objs:
        c.expect(
            "ob_type", "type of %s" % type(o).__name__, M.u64(id(o) + c["ob_type"]), id(type(o))
        )
    for o in ([1, 2, 3, 4], (None,) * 7, b"12345", bytearray(b"123456")):
        c.expect(
            "ob_size", "ob_size of a %s" % type(o).__name__, M.i64(id(o) + c["ob_size"]), len(o)
        )


def decode_refcnt(kind, raw):
    """The refcount as memwatch decodes it; None for immortal."""
    if kind == "Full":
        return raw
    low = raw & 0xFFFFFFFF
    if kind == "Low32":
        return None if low & 0x80000000 else low
    if kind == "Low32Signed":
        return None if low >= 0x80000000 else low
    raise Failed("unknown refcnt kind %r" % kind)


@covers("refcnt")
def check_refcnt(c):
    kind = c["refcnt"]
    # does this interpreter have immortal objects? (None's count does not move.) Full is the
    # whole word, the Low32 kinds the low 32 bits with bit 31 for immortal: Low32 and
    # Low32Signed decode every word alike, there is nothing to tell them apart by
    counted = sys.getrefcount(None)
    keep = [None] * 1000
    immortal = sys.getrefcount(None) == counted
    del keep
    c.expect(
        "refcnt",
        "kind of refcount, None being %s" % ("immortal" if immortal else "mortal"),
        "Full" if kind == "Full" else "Low32*",
        "Low32*" if immortal else "Full",
    )
    for name, obj in (("a fresh list", [1]), ("None", None)):
        addr = id(obj)
        before = decode_refcnt(kind, M.u64(addr))
        keep = [obj, obj, obj, obj, obj]
        after = decode_refcnt(kind, M.u64(addr))
        del keep
        if name == "None" and immortal:
            c.expect("refcnt", "None decoded (immortal)", before, None)
        else:
            ok = before is not None and after is not None and after - before == 5
            c.expect(
                "refcnt",
                "%s: decoded count after 5 more references (before %r)" % (name, before),
                after,
                None if before is None else before + 5,
            )
            if not ok:
                return


# ---------------------------------------------------------------- runtime, interpreter, gc


def runtime_address():
    return ctypes.addressof(ctypes.c_char.in_dll(API, "_PyRuntime"))


def interp_main():
    return api("PyInterpreterState_Main", ctypes.c_void_p)()


def interp_head():
    return api("PyInterpreterState_Head", ctypes.c_void_p)()


def gc_state(c):
    if c["runtime_gc"] is not None:
        return runtime_address() + c["runtime_gc"]
    return M.u64(runtime_address() + c["runtime_interpreters_head"]) + c["interp_gc"]


@covers("runtime_interpreters_head", "interp_modules", "interp_sysdict", "interp_builtins")
def check_interpreter(c):
    rt = runtime_address()
    interp = M.u64(rt + c["runtime_interpreters_head"])
    c.expect("runtime_interpreters_head", "interpreters.head", interp, interp_head())
    c.require("the runtime's first interpreter is the main one", interp == interp_main())
    c.expect(
        "interp_modules", "interp->modules", M.u64(interp + c["interp_modules"]), id(sys.modules)
    )
    c.expect(
        "interp_sysdict", "interp->sysdict", M.u64(interp + c["interp_sysdict"]), id(sys.__dict__)
    )
    c.expect(
        "interp_builtins",
        "interp->builtins",
        M.u64(interp + c["interp_builtins"]),
        id(builtins.__dict__),
    )


@covers("interp_next", "runtime_interpreters_head")
def check_interp_next(c):
    rt = runtime_address()
    main = interp_main()
    c.expect(
        "interp_next", "main interpreter's next (the only one)", M.u64(main + c["interp_next"]), 0
    )
    try:
        import _interpreters as xi
    except ImportError:
        import _xxsubinterpreters as xi
    sub = xi.create()
    try:
        head = M.u64(rt + c["runtime_interpreters_head"])
        c.expect(
            "runtime_interpreters_head",
            "interpreters.head with a subinterpreter",
            head,
            interp_head(),
        )
        c.require("a new interpreter goes first", head != main)
        c.expect(
            "interp_next",
            "a subinterpreter's next (the main interpreter)",
            M.u64(head + c["interp_next"]),
            main,
        )
    finally:
        xi.destroy(sub)


def gc_list(head, limit, stop_at=None):
    """Walk a GC list from its head: (nodes seen before `stop_at` or the end, found)."""
    n = 0
    node = M.u64(head) & ~3
    while node != head:
        if node == stop_at:
            return n, True
        n += 1
        if n > limit:
            raise Failed("list at %#x does not close within %d nodes" % (head, limit))
        node = M.u64(node) & ~3
    return n, False


def head_links(head):
    nxt = M.u64(head) & ~3
    prv = M.u64(head + 8) & ~3
    return (M.u64(nxt + 8) & ~3) == head and (M.u64(prv) & ~3) == head


def generation_head(c, gcstate, i):
    if i == 3:
        return gcstate + c["gc_permanent"]
    return gcstate + c["gc_generations"] + i * c["gc_generation_stride"]


@covers("runtime_gc", "interp_gc", "gc_enabled")
def check_gc_enabled(c):
    gcstate = gc_state(c)
    was = gc.isenabled()
    try:
        for state in (True, False, True):
            (gc.enable if state else gc.disable)()
            for f in ("runtime_gc", "interp_gc", "gc_enabled"):
                c.expect(
                    f,
                    "gc state's enabled with gc.isenabled() %s" % state,
                    M.u32(gcstate + c["gc_enabled"]),
                    int(state),
                )
    finally:
        (gc.enable if was else gc.disable)()
    if c["runtime_gc"] is not None and c["interp_gc"] is not None:
        c.fail("interp_gc", "both runtime_gc and interp_gc are set")


@covers(
    "gc_generations",
    "gc_generation_stride",
    "gc_generations_candidates",
    "gc_generation_threshold",
    "gc_generation_count",
    "gc_head_size",
)
def check_gc_generations(c):
    gcstate = gc_state(c)
    c.expect(
        "gc_generations_candidates",
        "gc_generations among the candidates",
        c["gc_generations"] in c["gc_generations_candidates"],
        True,
    )
    old = gc.get_threshold()
    try:
        gc.set_threshold(1013, 17, 11)
        want = gc.get_threshold()
        for i in range(3):
            head = generation_head(c, gcstate, i)
            threshold = M.i32(head + c["gc_generation_threshold"])
            for f in ("gc_generations", "gc_generation_stride", "gc_generation_threshold"):
                c.expect(f, "generation %d threshold" % i, threshold, want[i])
            for f in ("gc_generations", "gc_generation_stride"):
                c.expect(f, "generation %d head links up" % i, head_links(head), True)
    finally:
        gc.set_threshold(*old)
    # the older generations' counts move only at collections: read them while none runs
    was = gc.isenabled()
    gc.disable()
    try:
        counts = gc.get_count()
        for i in (1, 2):
            head = generation_head(c, gcstate, i)
            c.expect(
                "gc_generation_count",
                "generation %d count (gc.get_count())" % i,
                M.i32(head + c["gc_generation_count"]),
                counts[i],
            )
    finally:
        gc.set_threshold(*old)
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        probe = [object()]
        node = id(probe) - c["gc_head_size"]
        n, found = gc_list(generation_head(c, gcstate, 0), 1000000, node)
        for f in ("gc_generations", "gc_head_size"):
            c.expect(f, "a new list on generation 0's list (after %d nodes)" % n, found, True)
    finally:
        if was:
            gc.enable()


@covers("incremental_gc")
def check_incremental_gc(c):
    gcstate = gc_state(c)
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        probe = [object()]
        node = id(probe) - 16
        # incremental GC (3.14.0-3.14.4) keeps an old-space flag in bit 0 of _gc_next: new
        # objects get the space not being visited, the visited ones the other, so after a full
        # collection some node carries it; a generational GC sets it only during a collection
        flagged = M.u64(node) & 1
        for i in (1, 2):
            head = generation_head(c, gcstate, i)
            at = M.u64(head)
            for _ in range(10000000):
                if at & ~3 == head:
                    break
                flagged += at & 1
                at = M.u64(at & ~3)
        gc.collect(0)
        # (generation 0 gets this function's own temporaries meanwhile: it is not walked; a
        # node is on one list only)
        older = [gc_list(generation_head(c, gcstate, i), 1000000, node)[1] for i in (1, 2)]
        if c["incremental_gc"]:
            c.expect(
                "incremental_gc",
                "nodes with the old-space flag after gc.collect()",
                flagged > 0,
                True,
            )
            # young survivors go to one of the two old spaces
            c.expect(
                "incremental_gc", "after gc.collect(0): on lists (old0, old1)", any(older), True
            )
        else:
            c.expect(
                "incremental_gc", "nodes with bit 0 of _gc_next set after gc.collect()", flagged, 0
            )
            c.expect(
                "incremental_gc",
                "after gc.collect(0): on generation lists (1, 2)",
                older,
                [True, False],
            )
    finally:
        if was:
            gc.enable()


@covers("gc_permanent")
def check_gc_permanent(c):
    gcstate = gc_state(c)
    head = generation_head(c, gcstate, 3)
    c.expect("gc_permanent", "permanent generation head links up", head_links(head), True)
    c.expect(
        "gc_permanent",
        "permanent generation before gc.freeze()",
        gc_list(head, 10000000)[0],
        gc.get_freeze_count(),
    )
    was = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        c.require("gc.freeze() froze something", frozen > 0)
        c.expect(
            "gc_permanent",
            "permanent generation after gc.freeze()",
            gc_list(head, 10000000)[0],
            frozen,
        )
    finally:
        gc.unfreeze()
        if was:
            gc.enable()
    c.expect(
        "gc_permanent",
        "permanent generation after gc.unfreeze()",
        gc_list(head, 10000000)[0],
        gc.get_freeze_count(),
    )


@covers("gc_collecting")
def check_gc_collecting(c):
    gcstate = gc_state(c)
    seen = []

    def callback(phase, info):
        if phase == "start":
            seen.append(M.u32(gcstate + c["gc_collecting"]))

    c.expect(
        "gc_collecting", "collecting outside a collection", M.u32(gcstate + c["gc_collecting"]), 0
    )
    gc.callbacks.append(callback)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(callback)
    c.expect("gc_collecting", "collecting inside a gc.callbacks 'start' callback", seen, [1])
    c.expect(
        "gc_collecting", "collecting after the collection", M.u32(gcstate + c["gc_collecting"]), 0
    )


@covers("sizeof_gc_state")
def check_sizeof_gc_state(c):
    gcstate = gc_state(c)
    end = gcstate + c["sizeof_gc_state"]
    if MINOR >= 14:
        # the struct ends with PyGC_Head *generation0 (= &generations[0].head)
        c.expect(
            "sizeof_gc_state",
            "last word of the gc state (generation0)",
            M.u64(end - 8),
            gcstate + c["gc_generations"],
        )
        return
    # ≤3.13 it ends with long_lived_total and long_lived_pending, which a full collection sets
    # to the survivors in the oldest generation and to 0
    was = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        pending = M.i64(end - 8)
        total = M.i64(end - 16)
        oldest = gc_list(generation_head(c, gcstate, 2), 10000000)[0]
    finally:
        if was:
            gc.enable()
    c.expect("sizeof_gc_state", "long_lived_pending (last word) after gc.collect()", pending, 0)
    # (objects freed between the collection and the walk leave the oldest generation)
    c.expect(
        "sizeof_gc_state",
        "long_lived_total (last word but one, %d) after gc.collect() within 1%% of the objects"
        " of the oldest generation (%d)" % (total, oldest),
        abs(total - oldest) <= max(50, oldest // 100),
        True,
    )


# ---------------------------------------------------------------- type objects


def type_dict(t):
    return gc.get_referents(t.__dict__)[0]


@covers("tp_name", "tp_basicsize", "tp_itemsize", "tp_flags", "tp_base", "tp_dict", "tp_dictoffset")
def check_type_fields(c):
    types = [
        int,
        list,
        dict,
        str,
        tuple,
        type,
        bool,
        Plain,
        Slotted,
        IntSub,
        StrSub,
        Outer.Inner,
        type(check_type_fields),
    ]
    for t in types:
        a = id(t)
        c.expect(
            "tp_name",
            "tp_name of %s" % t.__name__,
            M.cstr(M.u64(a + c["tp_name"])),
            t.__name__.encode(),
        )
        c.expect(
            "tp_basicsize",
            "tp_basicsize of %s" % t.__name__,
            M.i64(a + c["tp_basicsize"]),
            t.__basicsize__,
        )
        c.expect(
            "tp_itemsize",
            "tp_itemsize of %s" % t.__name__,
            M.i64(a + c["tp_itemsize"]),
            t.__itemsize__,
        )
        c.expect("tp_flags", "tp_flags of %s" % t.__name__, M.u64(a + c["tp_flags"]), t.__flags__)
        c.expect(
            "tp_dictoffset",
            "tp_dictoffset of %s" % t.__name__,
            M.i64(a + c["tp_dictoffset"]),
            t.__dictoffset__,
        )
        c.expect("tp_base", "tp_base of %s" % t.__name__, M.u64(a + c["tp_base"]), id(t.__base__))
        if t.__flags__ & HEAPTYPE:
            c.expect(
                "tp_dict", "tp_dict of %s" % t.__name__, M.u64(a + c["tp_dict"]), id(type_dict(t))
            )


@covers("tp_members", "member_size", "member_type", "member_offset")
def check_members(c):
    s = Slotted()
    s.first = object()
    s.second = object()
    members = M.u64(id(Slotted) + c["tp_members"])
    c.expect(
        "tp_members",
        "tp_members of a heap type (after the type object)",
        members,
        id(Slotted) + type.__basicsize__,
    )
    for i, name in enumerate(("first", "second")):
        entry = members + i * c["member_size"]
        for f in ("tp_members", "member_size"):
            c.expect(f, "name of member %d" % i, M.cstr(M.u64(entry)), name.encode())
        c.expect(
            "member_type", "type of member %r" % name, M.i32(entry + c["member_type"]), T_OBJECT_EX
        )
        off = M.i64(entry + c["member_offset"])
        c.expect(
            "member_offset",
            "the slot %r at the member's offset (%d)" % (name, off),
            M.u64(id(s) + off) if 0 < off < 4096 else off,
            id(getattr(s, name)),
        )
    c.expect(
        "member_size",
        "name of the entry after the last (NULL)",
        M.u64(members + 2 * c["member_size"]),
        0,
    )


def pre_header_rule(c, obj):
    """What sys.getsizeof adds to __sizeof__ for `obj`, by the table's rule."""
    t = type(obj)
    static_type = isinstance(obj, type) and not obj.__flags__ & HEAPTYPE
    gcsize = 16 if t.__flags__ & HAVE_GC else 0
    rule = c["pre_header"]
    if rule == "Gc310":
        return 0 if static_type else gcsize
    if rule == "Managed311":
        return gcsize + (16 if t.__flags__ & MANAGED_DICT else 0)
    if rule == "Managed312":
        return gcsize + (16 if t.__flags__ & (MANAGED_DICT | MANAGED_WEAKREF) else 0)
    if rule == "Managed313":
        if static_type:
            return 0
        return gcsize + (16 if t.__flags__ & (MANAGED_DICT | MANAGED_WEAKREF) else 0)
    raise Failed("unknown pre_header rule %r" % rule)


@covers("pre_header")
def check_pre_header(c):
    objs = [
        [1],
        Plain(1, 2),
        WeakOnly(),
        Slotted(),
        int,
        Plain,
        12345678901,
        "text",
        (1, [2]),
        {1: 2},
        object(),
    ]
    for o in objs:
        name = o.__name__ if isinstance(o, type) else type(o).__name__
        size = type(o).__sizeof__(o)
        c.expect(
            "pre_header",
            "getsizeof - __sizeof__ of %s" % name,
            sys.getsizeof(o) - size,
            pre_header_rule(c, o),
        )


@covers("sizeof_type", "sizeof_heap_type")
def check_type_sizes(c):
    c.expect("sizeof_type", "type.__sizeof__(int)", c["sizeof_type"], type.__sizeof__(int))
    c.expect(
        "sizeof_type",
        "sys.getsizeof(int) less the pre-header",
        c["sizeof_type"],
        sys.getsizeof(int) - pre_header_rule(c, int),
    )
    c.expect("sizeof_heap_type", "type.__basicsize__", c["sizeof_heap_type"], type.__basicsize__)
    c.expect(
        "sizeof_heap_type",
        "type.__sizeof__ of a class without cached keys",
        c["sizeof_heap_type"],
        type.__sizeof__(Slotted),
    )


@covers("ht_qualname")
def check_qualname(c):
    for t in (Outer.Inner, Plain, Outer):
        c.expect(
            "ht_qualname",
            "ht_qualname of %s" % t.__qualname__,
            M.u64(id(t) + c["ht_qualname"]),
            id(t.__qualname__),
        )


# ---------------------------------------------------------------- dicts


def read_keys(c, keys):
    """(size, index_bytes, kind, usable, nentries, entries address, entry size, key offset)"""
    if c["dict_keys_311"]:
        log2 = M.u8(keys + c["keys_size"])
        log2_index = M.u8(keys + c["keys_size"] + 1)
        kind = M.u8(keys + c["keys_size"] + 2)
        if log2 > 40 or log2_index > 43 or kind > 2:
            raise Failed(
                "keys object at %#x: log2 size %d, log2 index bytes %d, kind %d"
                % (keys, log2, log2_index, kind)
            )
        size = 1 << log2
        index_bytes = 1 << log2_index
        general = kind == 0
    else:
        size = M.i64(keys + c["keys_size"])
        if size <= 0 or size & (size - 1) or size > 1 << 40:
            raise Failed("keys object at %#x: dk_size %d" % (keys, size))
        ix = 1 if size <= 0xFF else 2 if size <= 0xFFFF else 4 if size <= 0xFFFFFFFF else 8
        index_bytes = size * ix
        kind = None
        general = True
    usable = M.i64(keys + c["keys_usable"])
    nentries = M.i64(keys + c["keys_nentries"])
    entries = keys + c["keys_indices"] + index_bytes
    return (
        size,
        index_bytes,
        kind,
        usable,
        nentries,
        entries,
        24 if general else 16,
        8 if general else 0,
    )


def keys_bytes(c, size, index_bytes, entry_size):
    return c["keys_indices"] + index_bytes + (size * 2 // 3) * entry_size


@covers(
    "dict_used",
    "dict_keys",
    "dict_values",
    "dict_keys_311",
    "keys_size",
    "keys_usable",
    "keys_nentries",
    "keys_indices",
)
def check_dict(c):
    fields = (
        "dict_keys",
        "dict_keys_311",
        "keys_size",
        "keys_usable",
        "keys_nentries",
        "keys_indices",
    )
    for label, keys_list in (
        ("str keys", [fresh("kone"), fresh("ktwo"), fresh("kthree")]),
        ("int keys", [10**20, 10**21, 10**22]),
    ):
        d = {}
        values = [object(), object(), object()]
        for k, v in zip(keys_list, values):
            d[k] = v
        c.expect("dict_used", "ma_used of a dict of 3", M.i64(id(d) + c["dict_used"]), 3)
        c.expect("dict_values", "ma_values of a combined dict", M.u64(id(d) + c["dict_values"]), 0)
        keys = M.u64(id(d) + c["dict_keys"])
        size, index_bytes, kind, usable, nentries, entries, esize, key_at = read_keys(c, keys)
        if c["dict_keys_311"]:
            c.expect(
                "dict_keys_311",
                "dk_kind of a dict with %s" % label,
                kind,
                1 if label == "str keys" else 0,
            )
        c.expect("keys_size", "table size of a dict of 3 (%s)" % label, size, 8)
        c.expect("keys_nentries", "dk_nentries (%s)" % label, nentries, 3)
        c.expect("keys_usable", "dk_usable (%s)" % label, usable, size * 2 // 3 - 3)
        idx = M.bytes(keys + c["keys_indices"], index_bytes)
        c.expect(
            "keys_indices",
            "the index table (%s): indices in use" % label,
            sorted(b for b in idx if b != 0xFF),
            [0, 1, 2],
        )
        for i, (k, v) in enumerate(zip(keys_list, values)):
            for f in fields:
                c.expect(
                    f,
                    "key of entry %d (%s)" % (i, label),
                    M.u64(entries + i * esize + key_at),
                    id(k),
                )
            c.expect(
                "keys_indices",
                "value of entry %d (%s)" % (i, label),
                M.u64(entries + i * esize + key_at + 8),
                id(v),
            )
        for f in ("keys_indices", "keys_size"):
            c.expect(
                f,
                "dict.__sizeof__ (%s)" % label,
                dict.__basicsize__ + keys_bytes(c, size, index_bytes, esize),
                d.__sizeof__(),
            )


@covers("ht_cached_keys", "split_values_start", "dict_values", "dict_keys")
def check_cached_keys(c):
    a, b = object(), object()
    p = Plain(a, b)
    keys = M.u64(id(Plain) + c["ht_cached_keys"])
    c.require("Plain has cached keys", keys != 0)
    size, index_bytes, kind, usable, nentries, entries, esize, key_at = read_keys(c, keys)
    if c["dict_keys_311"]:
        c.expect("ht_cached_keys", "dk_kind of the cached keys (split)", kind, 2)
    c.expect("ht_cached_keys", "entries of the cached keys", nentries, 2)
    for i, name in enumerate(("alpha", "beta")):
        c.expect(
            "ht_cached_keys",
            "key %d of the cached keys" % i,
            M.u64(entries + i * esize + key_at),
            id(sys.intern(name)),
        )
    c.expect(
        "ht_cached_keys",
        "type.__sizeof__(Plain)",
        c["sizeof_heap_type"] + keys_bytes(c, size, index_bytes, esize),
        type.__sizeof__(Plain),
    )
    c.expect(
        "ht_cached_keys",
        "cached keys of a class without a __dict__",
        M.u64(id(Slotted) + c["ht_cached_keys"]),
        0,
    )
    d = p.__dict__
    c.expect(
        "dict_keys",
        "keys of a materialised instance dict (the class's cached keys)",
        M.u64(id(d) + c["dict_keys"]),
        keys,
    )
    values = M.u64(id(d) + c["dict_values"])
    c.require("the instance dict is split", values != 0)
    for i, v in enumerate((a, b)):
        for f in ("split_values_start", "dict_values"):
            c.expect(
                f,
                "values[%d] of a split dict" % i,
                M.u64(values + c["split_values_start"] + 8 * i),
                id(v),
            )


@covers("instance_dicts", "managed_dict_before", "managed_values_before", "values_valid")
def check_instance_dicts(c):
    regime = c["instance_dicts"]
    flags = Plain.__flags__
    a, b = object(), object()
    p = Plain(a, b)
    o = id(p)

    def values_hold(values, what, field):
        for i, v in enumerate((a, b)):
            c.expect(
                field,
                "%s: values[%d]" % (what, i),
                M.u64(values + c["split_values_start"] + 8 * i),
                id(v),
            )

    if regime == "DictOffset":
        c.expect("instance_dicts", "MANAGED_DICT flag of a plain class", flags & MANAGED_DICT, 0)
        c.require("tp_dictoffset of a plain class is positive", Plain.__dictoffset__ > 0)
        c.expect(
            "instance_dicts",
            "the dict at tp_dictoffset",
            M.u64(o + Plain.__dictoffset__),
            id(p.__dict__),
        )
        for f in ("managed_dict_before", "managed_values_before", "values_valid"):
            c.na(f, "no managed dicts before 3.11: instance dicts are at tp_dictoffset")
    elif regime == "Managed311":
        c.expect(
            "instance_dicts",
            "MANAGED_DICT flag of a plain class",
            flags & MANAGED_DICT,
            MANAGED_DICT,
        )
        c.expect(
            "managed_dict_before",
            "dict pointer before materialising",
            M.u64(o - c["managed_dict_before"]),
            0,
        )
        values = M.u64(o - c["managed_values_before"])
        c.require("a values pointer before materialising", values != 0)
        values_hold(values, "values pointer before materialising", "managed_values_before")
        d = p.__dict__
        c.expect(
            "managed_dict_before",
            "dict pointer after materialising",
            M.u64(o - c["managed_dict_before"]),
            id(d),
        )
        c.expect(
            "managed_values_before",
            "values pointer after materialising (moved to the dict)",
            M.u64(o - c["managed_values_before"]),
            0,
        )
        c.expect(
            "instance_dicts",
            "the materialised dict's values",
            M.u64(id(d) + c["dict_values"]),
            values,
        )
        c.na("values_valid", "no inline values before 3.13")
    elif regime == "Tagged312":
        c.expect(
            "instance_dicts",
            "MANAGED_DICT flag of a plain class",
            flags & MANAGED_DICT,
            MANAGED_DICT,
        )
        word = M.u64(o - c["managed_dict_before"])
        c.expect(
            "managed_dict_before",
            "low bit of the dict-or-values word before materialising",
            word & 1,
            1,
        )
        values_hold(
            (word + 1) & (2**64 - 1), "tagged values before materialising", "managed_dict_before"
        )
        d = p.__dict__
        c.expect(
            "managed_dict_before",
            "dict-or-values word after materialising",
            M.u64(o - c["managed_dict_before"]),
            id(d),
        )
        c.expect(
            "instance_dicts",
            "the materialised dict's values",
            M.u64(id(d) + c["dict_values"]),
            (word + 1) & (2**64 - 1),
        )
        c.na("managed_values_before", "no values pointer before the object since 3.12 (3.11 only)")
        c.na("values_valid", "no inline values before 3.13")
    elif regime == "Inline313":
        c.expect(
            "instance_dicts",
            "MANAGED_DICT | INLINE_VALUES flags of a plain class",
            flags & (MANAGED_DICT | INLINE_VALUES),
            MANAGED_DICT | INLINE_VALUES,
        )
        c.expect(
            "managed_dict_before",
            "dict pointer before materialising",
            M.u64(o - c["managed_dict_before"]),
            0,
        )
        values = o + Plain.__basicsize__
        c.expect(
            "values_valid", "valid byte of the inline values", M.u8(values + c["values_valid"]), 1
        )
        values_hold(values, "inline values", "instance_dicts")
        d = p.__dict__
        c.expect(
            "managed_dict_before",
            "dict pointer after materialising",
            M.u64(o - c["managed_dict_before"]),
            id(d),
        )
        c.expect(
            "instance_dicts",
            "the materialised dict's values (the inline ones)",
            M.u64(id(d) + c["dict_values"]),
            values,
        )
        p.__dict__ = {"gamma": 1}
        c.expect(
            "managed_dict_before",
            "dict pointer after replacing __dict__",
            M.u64(o - c["managed_dict_before"]),
            id(p.__dict__),
        )
        c.expect(
            "values_valid",
            "valid byte after replacing __dict__",
            M.u8(values + c["values_valid"]),
            0,
        )
        c.na("managed_values_before", "no values pointer before the object since 3.12 (3.11 only)")
    else:
        raise Failed("unknown instance_dicts regime %r" % regime)
    # an int subclass (var-sized): ≤3.11 its dict is at a negative tp_dictoffset from the end;
    # 3.12+ it has a managed dict, but no inline values
    i = IntSub(-(2**100))
    i.attr = 1
    d = i.__dict__
    if regime in ("DictOffset", "Managed311"):
        off = IntSub.__dictoffset__
        c.expect(
            "instance_dicts",
            "MANAGED_DICT flag of an int subclass",
            IntSub.__flags__ & MANAGED_DICT,
            0,
        )
        c.require("IntSub has a negative dictoffset", off < 0)
        n = abs(M.i64(id(i) + c["ob_size"]))
        end = (IntSub.__basicsize__ + n * IntSub.__itemsize__ + 7) & ~7
        c.expect(
            "instance_dicts",
            "the dict of an int subclass instance at its end + tp_dictoffset",
            M.u64(id(i) + end + off),
            id(d),
        )
    else:
        c.expect(
            "instance_dicts",
            "MANAGED_DICT | INLINE_VALUES flags of an int subclass",
            IntSub.__flags__ & (MANAGED_DICT | INLINE_VALUES),
            MANAGED_DICT,
        )
        c.expect(
            "managed_dict_before",
            "the managed dict of an int subclass instance",
            M.u64(id(i) - c["managed_dict_before"]),
            id(d),
        )


# ---------------------------------------------------------------- sets, lists, tuples, bytes


@covers("set_used", "set_mask", "set_table", "set_smalltable", "set_entry")
def check_set(c):
    elems = [fresh("sa"), fresh("sb"), fresh("sc")]
    s = set(elems)
    s.add(fresh("sd"))
    s.discard("sd")
    # (fill stays 4: the deleted entry is a dummy)
    c.expect(
        "set_used", "used of a set of 3 (4 added, 1 discarded)", M.i64(id(s) + c["set_used"]), 3
    )
    c.expect("set_mask", "mask of a small set", M.i64(id(s) + c["set_mask"]), 7)
    table = M.u64(id(s) + c["set_table"])
    for f in ("set_table", "set_smalltable"):
        c.expect(f, "table of a small set (its smalltable)", table, id(s) + c["set_smalltable"])
    found = {}
    for i in range(8):
        key = M.u64(table + i * c["set_entry"])
        found[key] = M.i64(table + i * c["set_entry"] + 8)
    for e in elems:
        c.expect("set_entry", "hash of a key found in the table", found.get(id(e)), hash(e))
    big = set(range(1000))
    mask = M.i64(id(big) + c["set_mask"])
    c.expect("set_used", "used of a set of 1000", M.i64(id(big) + c["set_used"]), 1000)
    c.require(
        "a big set's table is not its smalltable",
        M.u64(id(big) + c["set_table"]) != id(big) + c["set_smalltable"],
    )
    for f in ("set_mask", "set_entry"):
        c.expect(
            f,
            "set.__sizeof__ of a set of 1000",
            set.__basicsize__ + (mask + 1) * c["set_entry"],
            big.__sizeof__(),
        )
    key5 = M.u64(M.u64(id(big) + c["set_table"]) + (hash(5) & mask) * c["set_entry"])
    c.expect("set_table", "key of a big set's slot hash(5) & mask", key5, id(5))


@covers("list_items", "list_allocated", "tuple_items")
def check_list_tuple(c):
    items = [object(), object(), object()]
    L = list(items)
    L.append(object())
    items.append(L[3])
    arr = M.u64(id(L) + c["list_items"])
    for i, o in enumerate(items):
        c.expect("list_items", "list item %d" % i, M.u64(arr + 8 * i), id(o))
    c.expect(
        "list_allocated",
        "allocated of a list",
        M.i64(id(L) + c["list_allocated"]),
        (L.__sizeof__() - list.__basicsize__) // 8,
    )
    t = tuple(items)
    for i, o in enumerate(items):
        c.expect("tuple_items", "tuple item %d" % i, M.u64(id(t) + c["tuple_items"] + 8 * i), id(o))


@covers("bytes_sval", "bytearray_alloc", "bytearray_bytes_header")
def check_bytes(c):
    b = bytes(range(1, 41))
    c.expect("bytes_sval", "ob_sval of a bytes", M.bytes(id(b) + c["bytes_sval"], 41), b + b"\0")
    ba = bytearray(b"x" * 100)
    ba.extend(b"y" * 50)
    del ba[-40:]
    c.require("more allocated than used", ba.__alloc__() > len(ba) + 1)
    alloc = ba.__alloc__()
    if MINOR >= 15:
        # 3.15 keeps the bytes in a bytes object (ob_bytes_object): ob_alloc is its size,
        # __alloc__ that object's whole allocation
        alloc -= bytes.__basicsize__
    c.expect(
        "bytearray_alloc", "ob_alloc of a bytearray", M.i64(id(ba) + c["bytearray_alloc"]), alloc
    )
    empty = bytearray()
    c.expect(
        "bytearray_alloc",
        "ob_alloc of an empty bytearray",
        M.i64(id(empty) + c["bytearray_alloc"]),
        0,
    )
    # __sizeof__ = basicsize + ob_alloc (+ the header of its own bytes object, 3.15+)
    header = c["bytearray_bytes_header"] or 0
    for what, b in (("a bytearray", ba), ("an empty bytearray", empty)):
        extra = header if M.i64(id(b) + c["bytearray_alloc"]) > 0 else 0
        c.expect(
            "bytearray_bytes_header",
            "__sizeof__ of %s" % what,
            bytearray.__basicsize__ + M.i64(id(b) + c["bytearray_alloc"]) + extra,
            b.__sizeof__(),
        )


# ---------------------------------------------------------------- int


@covers("int_size", "long_tag", "long_digits")
def check_int(c):
    size = c["int_size"]
    for x in (2**100, -(2**100), 12345678901234567890, 0):
        ndigits = 0
        y = abs(x)
        while y:
            ndigits += 1
            y >>= 30
        if size == "LvTag":
            tag = M.u64(id(x) + c["long_tag"])
            sign = tag & 3
            c.expect("long_tag", "digits of %d (lv_tag >> 3)" % x, tag >> 3, ndigits)
            c.expect("int_size", "sign bits of %d" % x, sign, 1 if x == 0 else 2 if x < 0 else 0)
            counted = max(1, tag >> 3)
        elif isinstance(size, dict) and "ObSize" in size:
            ob = M.i64(id(x) + c["ob_size"])
            c.expect("int_size", "ob_size of %d" % x, ob, ndigits if x >= 0 else -ndigits)
            c.expect(
                "long_tag",
                "the digit count at long_tag (ob_size before 3.12)",
                M.i64(id(x) + c["long_tag"]),
                ob,
            )
            counted = max(1, abs(ob)) if size["ObSize"]["zero_is_one_digit"] else abs(ob)
        else:
            raise Failed("unknown int_size %r" % (size,))
        digits = M.bytes(id(x) + c["long_digits"], 4 * ndigits)
        value = sum(
            (int.from_bytes(digits[4 * i : 4 * i + 4], "little") & (2**30 - 1)) << (30 * i)
            for i in range(ndigits)
        )
        c.expect("long_digits", "magnitude of %d from its digits" % x, value, abs(x))
        for f in ("int_size", "long_digits"):
            c.expect(f, "int.__sizeof__(%d)" % x, c["long_digits"] + 4 * counted, x.__sizeof__())


# ---------------------------------------------------------------- str


def state_bits(c, s):
    st = M.u32(id(s) + c["str_state"])
    return {
        "interned": st & 3,
        "kind": (st >> 2) & 7,
        "compact": (st >> 5) & 1,
        "ascii": (st >> 6) & 1,
    }


@covers("str_length", "str_state", "str_ascii_data", "str_compact_data", "str_legacy_data")
def check_str(c):
    cases = [
        (fresh("hello, layout"), 1, 1, "ascii"),
        (fresh("caf\u00e9 cr\u00e8me"), 1, 0, "latin-1"),
        (fresh("\u20ac uro \u0416"), 2, 0, "utf-16-le"),
        (fresh("\U0001f600 smile"), 4, 0, "utf-32-le"),
    ]
    for s, kind, ascii_, codec in cases:
        c.expect("str_length", "length of %r" % s, M.i64(id(s) + c["str_length"]), len(s))
        c.expect(
            "str_state",
            "state of %r" % s,
            state_bits(c, s),
            {"interned": 0, "kind": kind, "compact": 1, "ascii": ascii_},
        )
        data = s.encode(codec) + b"\0" * kind
        if ascii_:
            c.expect(
                "str_ascii_data",
                "data of %r" % s,
                M.bytes(id(s) + c["str_ascii_data"], len(data)),
                data,
            )
            c.expect(
                "str_ascii_data",
                "str.__sizeof__ of %r" % s,
                c["str_ascii_data"] + len(s) + 1,
                s.__sizeof__(),
            )
        else:
            c.expect(
                "str_compact_data",
                "data of %r" % s,
                M.bytes(id(s) + c["str_compact_data"], len(data)),
                data,
            )
            c.expect(
                "str_compact_data",
                "str.__sizeof__ of %r" % s,
                c["str_compact_data"] + (len(s) + 1) * kind,
                s.__sizeof__(),
            )
    name = sys.intern(fresh("an_interned_name_for_layout_check"))
    c.expect(
        "str_state", "interned bits of an interned str", state_bits(c, name)["interned"] != 0, True
    )
    legacy = StrSub("\u20ac legacy")
    c.expect(
        "str_state",
        "state of a str subclass instance",
        state_bits(c, legacy),
        {"interned": 0, "kind": 2, "compact": 0, "ascii": 0},
    )
    data = M.u64(id(legacy) + c["str_legacy_data"])
    want = str(legacy).encode("utf-16-le") + b"\0\0"
    c.expect(
        "str_legacy_data",
        "data of a legacy (subclass) str",
        M.bytes(data, len(want)) if data else None,
        want,
    )
    c.expect(
        "str_legacy_data",
        "str.__sizeof__ of a legacy str",
        c["str_legacy_data"] + 8 + (len(legacy) + 1) * 2,
        str.__sizeof__(legacy),
    )


@covers("str_utf8", "str_utf8_length", "str_wstr")
def check_str_caches(c):
    s = fresh("\u20ac and \u0416 in utf-8")
    c.expect("str_utf8", "utf8 of a fresh non-ASCII str", M.u64(id(s) + c["str_utf8"]), 0)
    utf8 = api("PyUnicode_AsUTF8", ctypes.c_void_p, ctypes.py_object)(s)
    c.require("PyUnicode_AsUTF8 worked", utf8)
    c.expect("str_utf8", "utf8 after PyUnicode_AsUTF8", M.u64(id(s) + c["str_utf8"]), utf8)
    encoded = s.encode("utf-8")
    c.expect(
        "str_utf8_length",
        "utf8_length after PyUnicode_AsUTF8",
        M.i64(id(s) + c["str_utf8_length"]),
        len(encoded),
    )
    c.expect(
        "str_utf8",
        "the utf8 bytes",
        M.bytes(M.u64(id(s) + c["str_utf8"]), len(encoded) + 1),
        encoded + b"\0",
    )
    has_wstr_api = hasattr(API, "PyUnicode_AsUnicode")
    if c["str_wstr"] is None:
        c.expect("str_wstr", "no wstr: PyUnicode_AsUnicode is gone (3.12+)", has_wstr_api, False)
        c.expect(
            "str_utf8_length",
            "str.__sizeof__ with utf8 cached",
            c["str_compact_data"] + (len(s) + 1) * 2 + len(encoded) + 1,
            s.__sizeof__(),
        )
        return
    wstr, wlen = c["str_wstr"]
    w = fresh("\u20ac wide \u0416")
    c.expect("str_wstr", "wstr of a fresh non-ASCII str", M.u64(id(w) + wstr), 0)
    p = api("PyUnicode_AsUnicode", ctypes.c_void_p, ctypes.py_object)(w)
    c.require("PyUnicode_AsUnicode worked", p)
    c.expect("str_wstr", "wstr after PyUnicode_AsUnicode", M.u64(id(w) + wstr), p)
    c.expect("str_wstr", "wstr_length after PyUnicode_AsUnicode", M.i64(id(w) + wlen), len(w))
    c.expect("str_wstr", "the wstr characters", M.bytes(p, 4 * len(w)), w.encode("utf-32-le"))


# ---------------------------------------------------------------- small objects, functions


@covers("cell_ref", "method_func", "method_self", "module_dict", "module_state")
def check_small_objects(c):
    inside = object()

    def closure():
        return inside

    cell = closure.__closure__[0]
    c.expect(
        "cell_ref", "ob_ref of a cell", M.u64(id(cell) + c["cell_ref"]), id(cell.cell_contents)
    )
    p = Plain(1, 2)
    method = p.__init__
    c.expect(
        "method_func",
        "im_func of a bound method",
        M.u64(id(method) + c["method_func"]),
        id(method.__func__),
    )
    c.expect(
        "method_self",
        "im_self of a bound method",
        M.u64(id(method) + c["method_self"]),
        id(method.__self__),
    )
    import _io

    main = sys.modules[__name__]
    for mod in (main, _io, sys, json):
        c.expect(
            "module_dict",
            "md_dict of %s" % mod.__name__,
            M.u64(id(mod) + c["module_dict"]),
            id(mod.__dict__),
        )
    get_state = api("PyModule_GetState", ctypes.c_void_p, ctypes.py_object)
    state = get_state(_io)
    c.require("_io has module state", state)
    c.expect(
        "module_state",
        "md_state of _io (PyModule_GetState)",
        M.u64(id(_io) + c["module_state"]),
        state,
    )
    c.expect("module_state", "md_state of a Python module", M.u64(id(main) + c["module_state"]), 0)


@covers(
    "func_code",
    "func_globals",
    "func_name",
    "func_qualname",
    "func_defaults",
    "func_kwdefaults",
    "func_closure",
    "func_module",
    "func_others",
)
def check_function(c):
    captured = object()

    def make():
        def target_fn(a: int, b=(1, 2), *, c=3) -> str:
            return captured

        return target_fn

    f = make()
    f.__doc__ = fresh("a docstring")
    f.attribute = 1
    known = {
        "func_code": f.__code__,
        "func_globals": f.__globals__,
        "func_name": f.__name__,
        "func_qualname": f.__qualname__,
        "func_defaults": f.__defaults__,
        "func_kwdefaults": f.__kwdefaults__,
        "func_closure": f.__closure__,
        "func_module": f.__module__,
    }
    for field, obj in known.items():
        c.expect(field, "%s of a function" % field, M.u64(id(f) + c[field]), id(obj))
    others = {"__doc__": f.__doc__, "__dict__": f.__dict__, "__annotations__": f.__annotations__}
    if MINOR >= 10:
        others["__builtins__"] = f.__builtins__
    if MINOR >= 12:
        f.__type_params__ = (object(),)
        others["__type_params__"] = f.__type_params__
    if MINOR >= 14:
        others["__annotate__"] = f.__annotate__
    by_id = {}
    for name, obj in others.items():
        by_id.setdefault(id(obj), name)
    for name, obj in known.items():
        by_id.setdefault(id(obj), "(%s)" % name)
    seen = []
    for off in c["func_others"]:
        p = M.u64(id(f) + off)
        seen.append(by_id.get(p, "NULL" if p == 0 else "%#x" % p))
    c.expect(
        "func_others",
        "what func_others point at (offsets %s)" % c["func_others"],
        sorted(seen),
        sorted(others),
    )


# ---------------------------------------------------------------- frames, generators, code


def strip_tag(c, raw):
    return raw & ~3 if c["stackref_code"] else raw


def frame_probe(x1, x2):
    local_none = None
    local_obj = x2
    fr = sys._getframe()
    seen = {
        "locals": (x1, x2, local_none, local_obj),
        "f_frame": (
            M.u64(id(fr) + LAYOUT["frame_f_frame"])
            if LAYOUT["frame_sizes"] != "VarObject"
            else None
        ),
    }
    return fr, seen


LAYOUT = {}


def frame_slots(c, code):
    """Slots of a frame of `code` as memwatch computes them: (slots, how)."""
    if c["frame_sizes"] == "FrameSize":
        if c["code_framesize"] is None:
            raise Failed("frame_sizes FrameSize without code_framesize")
        fs = M.i32(id(code) + c["code_framesize"])
        return fs - c["frame_specials"], "co_framesize %d - frame_specials %d" % (
            fs,
            c["frame_specials"],
        )
    n = M.i32(id(code) + c["code_nlocalsplus"])
    return n + M.i32(id(code) + c["code_stacksize"]), "nlocalsplus %d + stacksize" % n


def nlocalsplus(code):
    """3.11+: arguments that are also cells have one slot."""
    cells = [n for n in code.co_cellvars if n not in code.co_varnames]
    return len(code.co_varnames) + len(cells) + len(code.co_freevars)


@covers("code_stacksize", "code_nlocalsplus", "code_framesize", "frame_specials")
def check_code(c):
    code = frame_probe.__code__
    c.require("a stack deeper than 1", code.co_stacksize > 1)
    c.expect(
        "code_stacksize", "co_stacksize", M.i32(id(code) + c["code_stacksize"]), code.co_stacksize
    )
    code2 = check_function.__code__
    c.expect(
        "code_stacksize",
        "co_stacksize of another function",
        M.i32(id(code2) + c["code_stacksize"]),
        code2.co_stacksize,
    )
    if c["frame_sizes"] == "VarObject":
        for f in ("code_nlocalsplus", "frame_specials"):
            c.na(f, "no interpreter frames before 3.11")
        c.expect("code_framesize", "co_framesize (none before 3.12)", c["code_framesize"], None)
        return
    for co in (code, code2):
        c.expect(
            "code_nlocalsplus",
            "co_nlocalsplus of %s" % co.co_name,
            M.i32(id(co) + c["code_nlocalsplus"]),
            nlocalsplus(co),
        )
        if c["code_framesize"] is not None:
            for f in ("code_framesize", "frame_specials"):
                c.expect(
                    f,
                    "co_framesize of %s" % co.co_name,
                    M.i32(id(co) + c["code_framesize"]),
                    nlocalsplus(co) + co.co_stacksize + c["frame_specials"],
                )
    if c["frame_sizes"] == "Interp311":
        c.expect("code_framesize", "co_framesize (none before 3.12)", c["code_framesize"], None)
        c.na("frame_specials", "unused before 3.12: 3.11's frame slots are nlocalsplus + stacksize")


@covers("code_localsplusnames", "code_nfreevars")
def check_free_vars(c):
    """A closure's cells are named by the code's free variables (memwatch names a container in
    a closure by its variable: `outer.<locals>.var`)."""
    first = second = ()

    def nested(x):
        local = x
        return first, second, local

    code = nested.__code__
    if c["frame_sizes"] == "VarObject":
        for f in ("code_localsplusnames", "code_nfreevars"):
            c.expect(f, "none before 3.11 (co_freevars is a field)", c[f], None)
        return
    free = code.co_freevars
    c.require("two free variables", len(free) == 2)
    c.expect("code_nfreevars", "co_nfreevars", M.i32(id(code) + c["code_nfreevars"]), len(free))
    names = M.u64(id(code) + c["code_localsplusnames"])
    n = M.i64(names + 16)
    c.expect("code_localsplusnames", "co_localsplusnames is a tuple", M.u64(names + 8), id(tuple))
    c.expect(
        "code_localsplusnames",
        "its length: locals, cells and free variables",
        n,
        len(code.co_varnames) + len(code.co_cellvars) + len(free),
    )
    tail = [M.u64(names + c["tuple_items"] + 8 * i) for i in range(max(0, n - len(free)), n)]
    c.expect(
        "code_localsplusnames",
        "its last co_nfreevars names are co_freevars",
        tail,
        [id(v) for v in free],
    )


@covers(
    "frame_sizes",
    "sizeof_frame",
    "frame_f_code",
    "code_nlocals",
    "code_cellvars",
    "code_freevars",
    "frame_data",
    "frame_f_frame",
    "iframe_code",
    "iframe_localsplus",
    "stackref_code",
)
def check_frames(c):
    marker = object()
    fr, seen = frame_probe(marker, object())
    code = fr.f_code
    c.expect(
        "frame_sizes", "getsizeof(frame) - __sizeof__", sys.getsizeof(fr) - fr.__sizeof__(), 16
    )
    if c["frame_sizes"] == "VarObject":
        # a var-sized object of stack + locals + cells + frees slots; ob_size is what was
        # allocated, which is more for a frame taken from the free list (frame.__sizeof__
        # counts what the code needs)
        extras = code.co_stacksize + code.co_nlocals + len(code.co_cellvars) + len(code.co_freevars)
        c.expect("frame_sizes", "frame's __itemsize__", type(fr).__itemsize__, 8)
        n = M.i64(id(fr) + c["ob_size"])
        c.expect(
            "frame_sizes",
            "ob_size of a frame at least the code's %d slots" % extras,
            n >= extras,
            True,
        )
        c.expect(
            "frame_sizes",
            "frame.__sizeof__",
            type(fr).__basicsize__ + (extras - 1) * 8,
            fr.__sizeof__(),
        )
        # what memwatch reads for that: sizeof(PyFrameObject), f_code and the code's counts
        c.expect("sizeof_frame", "sizeof(PyFrameObject)", c["sizeof_frame"], type(fr).__basicsize__)
        c.expect("frame_f_code", "f_code of a frame", M.u64(id(fr) + c["frame_f_code"]), id(code))
        def many_locals(a, b, c_, d, e, f, g, h):
            i = j = k = 0
            return i + j + k

        c.require(
            "a code whose co_nlocals differs from its co_stacksize",
            many_locals.__code__.co_nlocals != many_locals.__code__.co_stacksize,
        )
        for co in (code, many_locals.__code__):
            c.expect(
                "code_nlocals",
                "co_nlocals of %s" % co.co_name,
                M.i32(id(co) + c["code_nlocals"]),
                co.co_nlocals,
            )
        def outer():
            x = 1

            def inner():
                y = x  # a free variable of inner

                def innermost():
                    return y  # ... which makes y a cell variable of inner

                return innermost

            return inner

        closure = outer().__code__
        c.require(
            "a code with distinct cell and free variables",
            closure.co_cellvars and closure.co_freevars and closure.co_cellvars != closure.co_freevars,
        )
        for co in (code, closure):
            for f, tup in (("code_cellvars", co.co_cellvars), ("code_freevars", co.co_freevars)):
                c.expect(f, "%s tuple of %s" % (f[5:], co.co_name), M.u64(id(co) + c[f]), id(tup))
        for f in ("frame_data", "frame_f_frame", "iframe_code", "iframe_localsplus"):
            c.na(f, "no interpreter frames before 3.11: frames are var-sized objects")
        if c["stackref_code"]:
            c.fail("stackref_code", "set, but there are no interpreter frames before 3.11")
        else:
            c.na("stackref_code", "no interpreter frames before 3.11")
        return
    for f in ("sizeof_frame", "frame_f_code", "code_nlocals", "code_cellvars", "code_freevars"):
        c.na(f, "frames are interpreter frames since 3.11")
    # while it ran, f_frame pointed at the interpreter frame on the thread's stack
    live = seen["f_frame"]
    c.require("a live frame's interpreter frame is elsewhere", live != id(fr) + c["frame_data"])
    # once returned, the frame object owns the interpreter frame, copied into it
    iframe = M.u64(id(fr) + c["frame_f_frame"])
    for f in ("frame_f_frame", "frame_data"):
        c.expect(
            f, "f_frame of a finished frame (its own frame data)", iframe, id(fr) + c["frame_data"]
        )
    raw_code = M.u64(iframe + c["iframe_code"])
    c.expect("iframe_code", "code of the interpreter frame", strip_tag(c, raw_code), id(code))
    slots = [M.u64(iframe + c["iframe_localsplus"] + 8 * i) for i in range(4)]
    want = [id(o) for o in seen["locals"]]
    c.expect(
        "iframe_localsplus",
        "locals of the interpreter frame",
        [strip_tag(c, s) for s in slots],
        want,
    )
    none_tagged = slots[2] & 3 != 0
    if c["stackref_code"]:
        c.expect("stackref_code", "a local None is a tagged stack reference", none_tagged, True)
    else:
        c.expect(
            "stackref_code",
            "untagged pointers in the frame (code, None)",
            (raw_code & 3, slots[2] & 3),
            (0, 0),
        )
    nslots, how = frame_slots(c, code)
    c.expect(
        "frame_sizes",
        "frame.__sizeof__ = frame_data + iframe_localsplus + (%s) * 8" % how,
        c["frame_data"] + c["iframe_localsplus"] + nslots * 8,
        fr.__sizeof__(),
    )
    c.expect(
        "frame_sizes",
        "frame slots = nlocalsplus + stacksize",
        nslots,
        nlocalsplus(code) + code.co_stacksize,
    )


def wait_in_a_thread():
    """A thread blocked in Event.wait, its thread state's address, and a way to end it."""
    import threading

    state = {}
    started = threading.Event()
    release = threading.Event()

    def waiter():
        state["tstate"] = api("PyThreadState_Get", ctypes.c_void_p)()
        started.set()
        release.wait()  # the waiter's frames stand still here

    t = threading.Thread(target=waiter, name="layout-waiter")
    t.start()
    started.wait()
    return t, state["tstate"], release


@covers(
    "interp_threads_head",
    "tstate_next",
    "tstate_thread_id",
    "tstate_frame",
    "cframe_current_frame",
    "frame_back",
    "frame_instr",
    "frame_owner",
    "code_filename",
    "code_name",
    "code_firstlineno",
    "code_linetable",
    "code_adaptive",
)
def check_thread_frames(c):
    """The line probe's path: the thread list, a thread's innermost frame, the frame chain
    with each frame's code and instruction, and the code fields it names lines by."""
    import threading

    me = api("PyThreadState_Get", ctypes.c_void_p)()
    t, other, release = wait_in_a_thread()
    try:
        interp = M.u64(runtime_address() + c["runtime_interpreters_head"])
        seen = []
        at = M.u64(interp + c["interp_threads_head"])
        while at and len(seen) < 64:
            seen.append(at)
            at = M.u64(at + c["tstate_next"])
        for f in ("interp_threads_head", "tstate_next"):
            c.expect(f, "thread states on the list", sorted({me, other} & set(seen)), sorted({me, other}))
        for who, ts, ident in (("this thread", me, threading.get_ident()), ("the waiter", other, t.ident)):
            c.expect("tstate_thread_id", "thread_id of %s" % who, M.u64(ts + c["tstate_thread_id"]), ident)
        # the waiter's frames, as Python sees them: code, and last instruction in bytes
        want = []
        f = sys._current_frames()[t.ident]
        while f is not None and len(want) < 32:
            want.append((id(f.f_code), f.f_lasti))
            f = f.f_back
        # ... and as the probe reads them
        fr = M.u64(other + c["tstate_frame"])
        if c["cframe_current_frame"] is not None:
            fr = M.u64(fr + c["cframe_current_frame"])
        got = []
        code_at = c["frame_f_code"] if MINOR <= 10 else c["iframe_code"]
        steps = 0
        while fr and len(got) < len(want) and steps < 64:
            steps += 1
            back = M.u64(fr + c["frame_back"])
            if c["frame_owner"] is not None and M.u8(fr + c["frame_owner"]) >= 3:
                fr = back  # a shim or C-stack frame: not Python code
                continue
            code = strip_tag(c, M.u64(fr + code_at))
            if MINOR <= 10:
                lasti = M.i32(fr + c["frame_instr"])
                lasti = lasti * 2 if MINOR == 10 and lasti >= 0 else lasti
            else:
                lasti = M.u64(fr + c["frame_instr"]) - (code + c["code_adaptive"])
            got.append((code, lasti))
            fr = back
        for fld in ("tstate_frame", "frame_back", "frame_instr"):
            c.expect(fld, "the waiter's frames (code, f_lasti)", got, want)

        def versioned(fld, used, why):
            """A field of some versions: checked by the frames where used, else unset."""
            if used:
                c.expect(fld, "the waiter's frames (code, f_lasti)", got, want)
            elif c[fld] is not None:
                c.fail(fld, "set, but %s" % why)
            else:
                c.na(fld, why)

        versioned("cframe_current_frame", MINOR in (11, 12),
                  "no _PyCFrame on the way to the frame in 3.%d" % MINOR)
        versioned("frame_owner", MINOR >= 12, "no C-stack frames on the chain before 3.12")
        versioned("code_adaptive", MINOR >= 11, "f_lasti is an index before 3.11")
    finally:
        release.set()
        t.join()
    table = "co_lnotab" if MINOR <= 9 else "co_linetable"
    for co in (check_thread_frames.__code__, wait_in_a_thread.__code__, Plain.__init__.__code__):
        c.expect("code_filename", "co_filename", M.u64(id(co) + c["code_filename"]), id(co.co_filename))
        c.expect("code_name", "co_name", M.u64(id(co) + c["code_name"]), id(co.co_name))
        c.expect("code_firstlineno", "co_firstlineno", M.i32(id(co) + c["code_firstlineno"]), co.co_firstlineno)
        c.expect("code_linetable", table, M.u64(id(co) + c["code_linetable"]), id(getattr(co, table)))


def gen_fn(first):
    second = first
    yield second
    yield first


@covers("gen_iframe", "gen_code", "frame_sizes")
def check_generators(c):
    first = object()
    g = gen_fn(first)
    next(g)
    code = g.gi_code
    if c["frame_sizes"] == "VarObject":
        c.expect(
            "frame_sizes",
            "generator.__sizeof__ (its basicsize: the frame is apart)",
            type(g).__basicsize__,
            g.__sizeof__(),
        )
        for f in ("gen_iframe", "gen_code"):
            c.na(f, "no embedded interpreter frames before 3.11")
        return
    iframe = id(g) + c["gen_iframe"]
    c.expect(
        "gen_iframe",
        "code of the generator's frame",
        strip_tag(c, M.u64(iframe + c["iframe_code"])),
        id(code),
    )
    c.expect(
        "gen_iframe",
        "first local of the generator's frame",
        strip_tag(c, M.u64(iframe + c["iframe_localsplus"])),
        id(first),
    )
    # the code object memwatch sizes the generator by
    if c["frame_sizes"] == "Interp311":
        sized = M.u64(id(g) + c["gen_code"])
        for f in ("gen_code", "frame_sizes"):
            c.expect(f, "gi_code", sized, id(code))
    else:
        sized = strip_tag(c, M.u64(iframe + c["iframe_code"]))
        c.expect("frame_sizes", "code of the generator's frame", sized, id(code))
        c.na("gen_code", "no gi_code since 3.12: the code is read from the embedded frame")
    nslots, how = frame_slots(c, code)
    for f in ("gen_iframe", "frame_sizes"):
        c.expect(
            f,
            "generator.__sizeof__ = gen_iframe + iframe_localsplus + (%s) * 8" % how,
            c["gen_iframe"] + c["iframe_localsplus"] + nslots * 8,
            g.__sizeof__(),
        )


# ---------------------------------------------------------------- standard library C types


@covers("deque_leftblock", "deque_leftindex", "deque_maxlen")
def check_deque(c):
    objs = [object() for _ in range(100)]
    d = collections.deque(objs[1:], maxlen=77)
    d.appendleft(objs[0])
    c.expect("deque_maxlen", "maxlen", M.i64(id(d) + c["deque_maxlen"]), 77)
    left = M.i64(id(d) + c["deque_leftindex"])
    c.require("leftindex inside a block", 0 <= left < BLOCKLEN)
    block = M.u64(id(d) + c["deque_leftblock"])
    for f in ("deque_leftblock", "deque_leftindex"):
        c.expect(
            f,
            "d[0] in the left block at leftindex %d" % left,
            M.u64(block + 8 + 8 * left),
            id(d[0]),
        )
    blocks = (left + len(d) + BLOCKLEN - 1) // BLOCKLEN
    c.expect(
        "deque_leftindex",
        "deque.__sizeof__",
        type(d).__basicsize__ + blocks * (BLOCKLEN * 8 + 16),
        d.__sizeof__(),
    )
    unbounded = collections.deque([1])
    c.expect(
        "deque_maxlen", "maxlen of an unbounded deque", M.i64(id(unbounded) + c["deque_maxlen"]), -1
    )


@covers("odict_fast_nodes_size")
def check_odict(c):
    od = collections.OrderedDict()
    for i in range(20):
        od[fresh("key%d" % i)] = i
    od[fresh("key3")]
    fast = (od.__sizeof__() - dict.__sizeof__(od) - 32 * len(od)) // 8
    c.require("the fast node table is in use", fast > 0)
    c.expect(
        "odict_fast_nodes_size",
        "od_fast_nodes_size",
        M.i64(id(od) + c["odict_fast_nodes_size"]),
        fast,
    )


@covers("lru_cache", "lru_maxsize")
def check_lru(c):
    @functools.lru_cache(maxsize=33)
    def square(x):
        return x * x

    for x in (1, 2, 3, 2):
        square(x)
    cache = M.u64(id(square) + c["lru_cache"])
    c.expect(
        "lru_cache",
        "type of the object at lru_cache",
        M.u64(cache + c["ob_type"]) if cache else 0,
        id(dict),
    )
    c.expect(
        "lru_cache",
        "entries of the cache dict",
        M.i64(cache + c["dict_used"]),
        square.cache_info().currsize,
    )
    c.expect("lru_maxsize", "maxsize", M.i64(id(square) + c["lru_maxsize"]), 33)


@covers("partial_args", "partial_kw")
def check_partial(c):
    p = functools.partial(max, [1], [2], key=len)
    c.expect("partial_args", "the args tuple", M.u64(id(p) + c["partial_args"]), id(p.args))
    c.expect("partial_kw", "the keywords dict", M.u64(id(p) + c["partial_kw"]), id(p.keywords))


@covers("buffered_buffer", "buffered_size")
def check_buffered(c):
    content = bytes(range(256)) * 200
    fd, path = tempfile.mkstemp()
    try:
        os.write(fd, content)
        os.close(fd)
        with open(path, "rb", buffering=12345) as f:
            f.read(10)
            c.expect(
                "buffered_size",
                "buffer_size of open(..., buffering=12345)",
                M.i64(id(f) + c["buffered_size"]),
                12345,
            )
            buf = M.u64(id(f) + c["buffered_buffer"])
            c.expect(
                "buffered_buffer",
                "the buffer's first bytes",
                M.bytes(buf, 64) if buf else None,
                content[:64],
            )
            for fld in ("buffered_buffer", "buffered_size"):
                c.expect(
                    fld, "BufferedReader.__sizeof__", type(f).__basicsize__ + 12345, f.__sizeof__()
                )
    finally:
        os.unlink(path)


# ---------------------------------------------------------------- main


def run(layout):
    c = Checker(layout)
    LAYOUT.update(layout)
    for fn, fields in CHECKS:
        try:
            fn(c)
        except Exception as e:
            where = traceback.extract_tb(sys.exc_info()[2])[-1]
            msg = "%s raised %s: %s (line %d)" % (fn.__name__, type(e).__name__, e, where.lineno)
            for f in fields:
                if f not in c.unchecked:
                    c.fail(f, msg)
    unchecked = dict(c.unchecked)
    for f in layout:
        if f not in c.results and f not in unchecked:
            unchecked[f] = "no check covers it"
    for f in list(unchecked):
        if f in c.results:
            # a field both checked and set aside: the check wins, or its failure does
            del unchecked[f]
    return {"checked": c.results, "unchecked": sorted([f, why] for f, why in unchecked.items())}


def main():
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    line = sys.stdin.readline()
    try:
        doc = json.loads(line)
        layout = doc["layout"]
        if not isinstance(layout, dict):
            raise ValueError("no layout in memwatch's output")
        result = run(layout)
    except Exception as e:
        result = {"error": "%s: %s" % (type(e).__name__, e), "checked": {}, "unchecked": []}
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
