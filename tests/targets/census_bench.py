"""A target for scripts/bench_census.py: holds about N GC-tracked objects and, on request,
counts them by type in-process the way one would without memwatch.

usage: census_bench.py N

Builds N/2 instances of a small class and N/2 one-item lists, collects, then prints
"ready <objects on the GC lists>". Each line "census" on stdin makes it time
Counter(type(o).__name__ for o in gc.get_objects()) and print "<seconds> <objects counted>".
"""
import collections
import gc
import sys
import time


class Node:
    def __init__(self, i):
        self.i = i


def main():
    n = int(sys.argv[1])
    nodes = [Node(i) for i in range(n // 2)]
    lists = [[i] for i in range(n // 2)]
    gc.collect()
    print("ready %d" % len(gc.get_objects()), flush=True)
    for line in sys.stdin:
        if line.strip() != "census":
            continue
        t0 = time.perf_counter()
        counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
        dt = time.perf_counter() - t0
        print("%.6f %d" % (dt, sum(counts.values())), flush=True)
        del counts
    del nodes, lists


main()
