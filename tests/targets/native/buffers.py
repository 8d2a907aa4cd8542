"""Buffers whose memory is outside the object, held by named globals: the census must size
them as the target does (sys.getsizeof of the container plus of each item, or the mapped
length for mmap, and for views the arrays they keep alive, each once).

usage: buffers.py OUT.json   (numpy parts only when numpy imports)

Builds the globals, writes the expected bytes of each holder to OUT.json, prints "ready",
then sleeps until killed.
"""
import array
import io
import json
import mmap
import sys
import time

BYTEARRAYS = [bytearray(64 << 10) for _ in range(40)]
ARRAYS = [array.array("d", [0.0]) * 16384 for _ in range(40)]
BUFFERS = []
for _ in range(40):
    b = io.BytesIO()
    b.write(b"x" * (32 << 10))
    BUFFERS.append(b)
MAPS = [mmap.mmap(-1, 128 << 10) for _ in range(20)]


def held(container):
    return sys.getsizeof(container) + sum(sys.getsizeof(i) for i in container)


expected = {
    "__main__.BYTEARRAYS": held(BYTEARRAYS),
    "__main__.ARRAYS": held(ARRAYS),
    "__main__.BUFFERS": held(BUFFERS),
    "__main__.MAPS": sys.getsizeof(MAPS) + sum(len(m) for m in MAPS),
}

try:
    import numpy as np
except ImportError:
    np = None

if np is not None:
    # arrays that own their data (1 MiB each), and 32-element views of 2 MiB bases
    OWN = [np.ones(1 << 17) for _ in range(20)]
    _bases = [np.zeros(1 << 18) for _ in range(10)]
    VIEWS = [b[:32] for b in _bases for _ in range(3)]
    del _bases
    expected["__main__.OWN"] = held(OWN)
    expected["__main__.VIEWS"] = sys.getsizeof(VIEWS) + sum(
        sys.getsizeof(v) for v in VIEWS
    ) + sum(sys.getsizeof(b) for b in {id(v.base): v.base for v in VIEWS}.values())
    expected["numpy"] = np.__version__

with open(sys.argv[1], "w") as f:
    json.dump(expected, f)
print("ready", flush=True)
while True:
    time.sleep(1)
