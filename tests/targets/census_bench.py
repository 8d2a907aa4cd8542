"""A target for scripts/bench_census.py: holds about N GC-tracked objects (and optionally
array data beside them) and, on request, counts them by type in-process the way one would
without memwatch.

usage: census_bench.py N [ARRAY_GIB]

Builds N/2 instances of a small class and N/2 one-item lists, and ARRAY_GIB GiB of bytearray
data in 256 MiB pieces, collects, then prints "ready <objects on the GC lists> <object memory
bytes> <RSS bytes>": object memory is the pymalloc arenas in use plus the objects larger than
pymalloc's 512 bytes (whose blocks come from malloc). Each line "census" on stdin makes it time
Counter(type(o).__name__ for o in gc.get_objects()) and print "<seconds> <objects counted>";
"touch SECONDS" makes it write to every Node for that long and print passes per second.
"""
import collections
import gc
import os
import re
import sys
import tempfile
import time


class Node:
    def __init__(self, i):
        self.i = i


def arena_bytes():
    """Bytes of the pymalloc arenas in use, from sys._debugmallocstats (written to fd 2)."""
    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        text = f.read().decode()
    m = re.search(r"(\d+) arenas \* (\d+) bytes/arena", text)
    return int(m.group(1)) * int(m.group(2)) if m else 0


def object_memory():
    big = sum(s for s in map(sys.getsizeof, gc.get_objects()) if s > 512)
    return arena_bytes() + big


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main():
    n = int(sys.argv[1])
    array_gib = float(sys.argv[2]) if len(sys.argv) > 2 else 0
    nodes = [Node(i) for i in range(n // 2)]
    lists = [[i] for i in range(n // 2)]
    piece = 256 << 20
    arrays = [bytearray(b"\x01" * piece) for _ in range(int(array_gib * (1 << 30)) // piece)]
    gc.collect()
    print("ready %d %d %d" % (len(gc.get_objects()), object_memory(), rss()), flush=True)
    for line in sys.stdin:
        words = line.split()
        if words[:1] == ["touch"]:
            # write to every Node for SECONDS: passes per second
            t0 = time.perf_counter()
            end = t0 + float(words[1])
            passes = 0
            while time.perf_counter() < end:
                for node in nodes:
                    node.i += 1
                passes += 1
            print("%.6f" % (passes / (time.perf_counter() - t0)), flush=True)
            continue
        if words[:1] != ["census"]:
            continue
        t0 = time.perf_counter()
        counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
        dt = time.perf_counter() - t0
        print("%.6f %d" % (dt, sum(counts.values())), flush=True)
        del counts
    del nodes, lists, arrays


main()
