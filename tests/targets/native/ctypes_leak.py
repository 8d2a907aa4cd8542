"""Native memory that no Python object holds: malloc'd through ctypes, touched, never freed.

usage: ctypes_leak.py [--seconds SECS]

Prints "ready", then leaks 1 MiB 8 times a second (until --seconds pass; default: until
killed). Python objects stay flat. Each frame is decoded in passes over its buffer (about 3 ms
in C, like a real decoder's work), so that samples can catch the line at work: a call of a few
microseconds between sleeps is too quick for any sampler to name.
"""
import ctypes
import ctypes.util
import sys
import time

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]


def decode_frame(n):
    p = libc.malloc(n)
    for _ in range(32): libc.memset(p, 1, n)  # LEAK:native
    return p is not None


def main(argv):
    seconds = float(argv[argv.index("--seconds") + 1]) if "--seconds" in argv else 0.0
    print("ready", flush=True)
    start = time.monotonic()
    while seconds <= 0 or time.monotonic() - start < seconds:
        decode_frame(1 << 20)
        time.sleep(0.125)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
