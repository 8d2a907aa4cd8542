"""A control: numeric work on a 32 MiB temporary per request, freed each time; memory flat.

usage: numpy_temporaries.py [--seconds SECS]
"""
import sys
import time

import numpy as np


def handle(i):
    work = np.ones(4 << 20) * float(i)  # 32 MiB temporary
    return float(work.sum())


def main(argv):
    seconds = float(argv[argv.index("--seconds") + 1]) if "--seconds" in argv else 0.0
    print("ready", flush=True)
    start = time.monotonic()
    i = 0
    while seconds <= 0 or time.monotonic() - start < seconds:
        i += 1
        handle(i)
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
