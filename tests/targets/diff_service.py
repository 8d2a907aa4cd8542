"""A service for the `memwatch diff` tests: ORDERS, a module-level dict, grows by about 400
entries a second (one order line each, ~100 bytes), while CONFIG, another module-level dict,
keeps its 500 entries, rewritten in place with values of the same size. Two runs of different
lengths differ in ORDERS only.

usage: diff_service.py [--seconds SECS] [--workers N]

Prints "ready" once running, then serves until --seconds pass (default: until killed). With
--workers N it first forks N workers that serve alike (each its own ORDERS), and that exit
when the parent is gone.
"""
import os
import sys
import time

ORDERS = {}
CONFIG = {"key-%03d" % i: "value-%05d" % i for i in range(500)}


def take_order(i):
    ORDERS[i] = "order %08d: 3 x widget, shipped to customer %08d" % (i, i * 7)  # GROWS


def refresh_config(i):
    CONFIG["key-%03d" % (i % 500)] = "value-%05d" % (i % 500)


def serve(seconds, parent):
    start = time.monotonic()
    i = 0
    while seconds <= 0 or time.monotonic() - start < seconds:
        if parent is not None and os.getppid() != parent:
            return
        for _ in range(20):
            i += 1
            take_order(i)
            refresh_config(i)
        time.sleep(0.05)


def main(argv):
    opts = dict(zip(argv[1::2], argv[2::2]))
    seconds = float(opts.get("--seconds", "0"))
    workers = int(opts.get("--workers", "0"))
    me = os.getpid()
    for _ in range(workers):
        if os.fork() == 0:
            serve(seconds, me)
            os._exit(0)
    print("ready", flush=True)
    serve(seconds, None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
