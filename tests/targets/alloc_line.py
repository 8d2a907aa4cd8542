"""A target with one known allocating line, for memwatch's integration tests.

usage: alloc_line.py MODE [--delay SECS] [--seconds SECS] [--exit CODE]

MODE bytearray: allocate 50 MiB four times at the line marked ALLOC:bytearray.
MODE list:      grow a module-level list at the line marked ALLOC:list for --seconds.
MODE slowlist:  grow the same list steadily (about 100,000 items a second) for --seconds.
MODE library:   grow the same list for --seconds with what json.loads (the standard library,
                innermost while it allocates) returns, called at the line marked ALLOC:library.
MODE idle:      allocate nothing.
Prints "ready" once started, waits --delay seconds, works, idles a moment, exits with --exit.
"""
import json
import sys
import time

KEEP = []


def big_buffers(count):
    for _ in range(count):
        KEEP.append(bytearray(50 * 1024 * 1024))  # ALLOC:bytearray
        time.sleep(0.2)


def grow_list(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for i in range(5000):
            KEEP.append("payload-" * 20 + str(i))  # ALLOC:list


def grow_slowly(seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for i in range(1000):
            KEEP.append("slow-%d" % i)
        time.sleep(0.01)


def grow_via_library(seconds):
    # each loads takes ~11 ms (longer than a sample interval) and keeps ~14 MiB, so samples see
    # the growth happen inside it rather than only in the sleep that follows
    doc = json.dumps(["item-%d" % i for i in range(200000)])
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and len(KEEP) < 10:  # about 140 MiB in all
        KEEP.append(json.loads(doc))  # ALLOC:library
        time.sleep(0.015)
    while time.monotonic() < deadline:
        time.sleep(0.05)


def main(argv):
    mode = argv[1]
    opts = dict(zip(argv[2::2], argv[3::2]))
    delay = float(opts.get("--delay", "0.3"))
    seconds = float(opts.get("--seconds", "3"))
    code = int(opts.get("--exit", "0"))
    print("ready", flush=True)
    time.sleep(delay)
    if mode == "bytearray":
        big_buffers(4)
    elif mode == "list":
        grow_list(seconds)
    elif mode == "slowlist":
        grow_slowly(seconds)
    elif mode == "library":
        grow_via_library(seconds)
    time.sleep(0.5)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
