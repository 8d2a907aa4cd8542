"""A numpy service that leaks: every batch appends a 1 MiB array to a module-level list.

usage: numpy_holder.py [--seconds SECS]

Prints "ready" once running, then appends 5 arrays a second to _BATCHES (until --seconds
pass; default: until killed).
"""
import sys
import time

import numpy as np

_BATCHES = []


def process_batch(i):
    frame = np.full(1 << 17, float(i))  # 1 MiB of float64
    _BATCHES.append(frame)  # LEAK:numpy
    return float(frame[0])


def main(argv):
    seconds = float(argv[argv.index("--seconds") + 1]) if "--seconds" in argv else 0.0
    print("ready", flush=True)
    start = time.monotonic()
    i = 0
    while seconds <= 0 or time.monotonic() - start < seconds:
        i += 1
        process_batch(i)
        time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
