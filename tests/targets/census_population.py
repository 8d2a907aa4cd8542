"""A target that builds known populations and counts its own heap, for memwatch's exactness tests.

usage: census_population.py OUTFILE [--scale N] [--churn THREADS] [--arrays N]

It builds instances of a class with a __dict__ and of a __slots__ class, lists, dicts, sets,
tuples, strings, ints and nested structures, plus named containers (module globals, a class
attribute, an instance attribute, a mutable default argument, deque, lru_cache, defaultdict,
Counter, OrderedDict, bytearray). Then, in the frame that will idle afterwards, it computes
its own census exactly as memwatch defines one, writes it to OUTFILE as JSON, drops every
temporary, prints "ready" and idles (with --churn, THREADS threads allocate and free objects
meanwhile, and the census is not meant to be exact).

The census, as memwatch defines it:
  * tracked: every object of gc.get_objects() (generations 0-2), by type name, with its
    count and sum of sys.getsizeof;
  * untracked: objects that are not GC-tracked, reached as referents of tracked objects:
    items of lists and tuples, keys and values of dicts, items of sets and frozensets, and
    for instances of Python classes (heap types that are not immutable) what gc.get_referents
    gives besides the class; untracked tuples and dicts are followed in turn; each object
    counted once (by id);
  * type names: QualName for the builtins module, else module.QualName.
"""
import collections
import functools
import gc
import json
import sys
import threading
import time

HEAPTYPE = 1 << 9
IMMUTABLETYPE = 1 << 8


def type_name(t):
    module = t.__module__
    return t.__qualname__ if module == "builtins" else "%s.%s" % (module, t.__qualname__)


def python_class(t):
    f = t.__flags__
    return bool(f & HEAPTYPE) and not (f & IMMUTABLETYPE) and not issubclass(t, type)


def referents(o):
    out = []
    if isinstance(o, list):
        out.extend(list.__iter__(o))
    elif isinstance(o, tuple):
        out.extend(tuple.__iter__(o))
    elif isinstance(o, dict):
        for k, v in dict.items(o):
            out.append(k)
            out.append(v)
    elif isinstance(o, (set, frozenset)):
        out.extend(iter(o))
    t = type(o)
    if python_class(t):
        out.extend(r for r in gc.get_referents(o) if r is not t)
    return out


# --- populations ---------------------------------------------------------------------------

class Plain:
    def __init__(self, i):
        self.i = i
        self.label = "plain-%d" % i


class Slotted:
    __slots__ = ("x", "tag")

    def __init__(self, i):
        self.x = i * 7
        self.tag = ("slot", i)


class Registry:
    items = []


class Service:
    def __init__(self):
        self.sessions = {}


def remember(x, seen=[]):
    seen.append(x)
    return seen


@functools.lru_cache(maxsize=256)
def square(x):
    return x * x


SCALE = int(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv else 1
PLAINS = [Plain(i) for i in range(20000 * SCALE)]
SLOTS = [Slotted(i) for i in range(10000 * SCALE)]
LISTS = [[i, i + 1, str(i)] for i in range(3000 * SCALE)]
DICTS = [{"k": i, "v": [i]} for i in range(3000 * SCALE)]
SETS = [{i, i + 1, i + 2} for i in range(1000 * SCALE)]
TUPLES = [(i, "t%d" % i, (i, i)) for i in range(5000 * SCALE)]
STRINGS = ["string number %d" % i for i in range(10000 * SCALE)]
INTS = [10 ** 6 + i for i in range(10000 * SCALE)]
BIG_INTS = [2 ** 100 + i for i in range(1000)]
FLOATS = [i / 3 for i in range(1000)]
NESTED = {"a": {"b": {"c": [list(range(10)) for _ in range(100)]}}}
CACHE = {"key-%d" % i: i for i in range(5000 * SCALE)}
UNIQUE = set(range(2000))
RING = collections.deque(range(700), maxlen=1000)
DEFAULTS = collections.defaultdict(list)
COUNTS = collections.Counter("abracadabra" * 10)
ORDERED = collections.OrderedDict((i, str(i)) for i in range(300))
BUFFER = bytearray(100000)
# --arrays N: N × 256 MiB of array data beside the objects (written, so resident)
ARRAYS = [bytearray(b"\x01") * (256 << 20)
          for _ in range(int(sys.argv[sys.argv.index("--arrays") + 1]) if "--arrays" in sys.argv else 0)]
SERVICE = Service()
for i in range(123):
    Registry.items.append(i)
    SERVICE.sessions["s%d" % i] = {"user": i}
    remember(i)
    square(i)
    DEFAULTS[i % 10].append(i)


# --- the census -----------------------------------------------------------------------------

def census(objs):
    tracked = {}
    for o in objs:
        name = type_name(type(o))
        entry = tracked.setdefault(name, [0, 0])
        entry[0] += 1
        entry[1] += sys.getsizeof(o)
    untracked = {}
    seen = set()
    stack = []
    for o in objs:
        stack.extend(referents(o))
        while stack:
            r = stack.pop()
            if gc.is_tracked(r) or id(r) in seen:
                continue
            seen.add(id(r))
            name = type_name(type(r))
            entry = untracked.setdefault(name, [0, 0])
            entry[0] += 1
            entry[1] += sys.getsizeof(r)
            if isinstance(r, (tuple, dict)):
                stack.extend(referents(r))
    result = {
        "version": list(sys.version_info[:3]),
        "tracked": tracked,
        "untracked": untracked,
        "generations": [len(gc.get_objects(g)) for g in range(3)] if sys.version_info >= (3, 8) else [],
        "freeze_count": gc.get_freeze_count(),
        "gc_enabled": gc.isenabled(),
        "gc_threshold": list(gc.get_threshold()),
        "custom_sizeof": sorted(
            {
                type_name(type(o))
                for o in objs
                if type(type(o)).__sizeof__ is type.__sizeof__
                and type(o).__sizeof__ is not object.__sizeof__
                and getattr(type(o).__sizeof__, "__objclass__", None) not in (
                    list, dict, set, frozenset, type, int, str, bytes, bytearray, tuple,
                    collections.OrderedDict, collections.deque, type(gc.get_objects),
                )
            }
        ),
        "containers": {
            "__main__.PLAINS": len(PLAINS),
            "__main__.SLOTS": len(SLOTS),
            "__main__.CACHE": len(CACHE),
            "__main__.UNIQUE": len(UNIQUE),
            "__main__.RING": len(RING),
            "__main__.DEFAULTS": len(DEFAULTS),
            "__main__.COUNTS": len(COUNTS),
            "__main__.ORDERED": len(ORDERED),
            "__main__.BUFFER": len(BUFFER),
            "__main__.Registry.items": len(Registry.items),
            "__main__.SERVICE.sessions": len(SERVICE.sessions),
            "__main__.remember.__defaults__[0]": len(remember.__defaults__[0]),
            "__main__.square": square.cache_info().currsize,
        },
    }
    del tracked, untracked, seen, stack
    return result


def churn(stop):
    keep = []
    while not stop.is_set():
        keep.append([Plain(i) for i in range(100)])
        keep.append({i: str(i) for i in range(100)})
        if len(keep) > 50:
            del keep[:25]


def write(path, result):
    # json.dumps (the C encoder): json.dump's Python encoder leaves cyclic closures behind
    text = json.dumps(result)
    with open(path, "w") as f:
        f.write(text)


def main():
    out = sys.argv[1]
    warmup = out + ".warmup"
    threads = int(sys.argv[sys.argv.index("--churn") + 1]) if "--churn" in sys.argv else 0
    if threads:
        stop = threading.Event()
        workers = [threading.Thread(target=churn, args=(stop,), daemon=True) for _ in range(threads)]
    # print() with keywords caches its keyword tuple on first use (3.11 and older)
    print("", end="", flush=True)
    # A first round settles lazy imports and caches; the second is the one written. Both run
    # in this frame, which is also the one that idles (no frame object comes or goes).
    gc.collect()
    objs = gc.get_objects()
    result = census(objs)
    del objs
    write(warmup, result)
    del result
    gc.collect()
    objs = gc.get_objects()
    result = census(objs)
    del objs
    write(out, result)
    del result
    gc.collect()  # garbage the census made itself (none expected; cheap insurance)
    if threads:
        for w in workers:
            w.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


main()
