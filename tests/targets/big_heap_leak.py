"""A service with a big steady heap and a small leak: N GC-tracked objects (half instances of a
small class, half one-item lists) that stay, then requests that each add an entry to
`_SESSIONS`, never removed (100 a second). For scripts/eval_big_heap.py.

usage: big_heap_leak.py N
"""
import gc
import sys
import time


class Node:
    def __init__(self, i):
        self.i = i


_SESSIONS = {}


def main():
    n = int(sys.argv[1])
    nodes = [Node(i) for i in range(n // 2)]  # noqa: F841  (the steady heap)
    lists = [[i] for i in range(n // 2)]  # noqa: F841
    gc.collect()
    objects = len(gc.get_objects())
    gc.freeze()  # a long-lived service's usual start-up (the census walks the frozen too)
    print("ready %d" % objects, flush=True)
    request = 0
    while True:
        for _ in range(10):
            request += 1
            _SESSIONS["session-%d" % request] = {"id": request, "items": []}  # never removed
        time.sleep(0.1)


main()
