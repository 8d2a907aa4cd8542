"""A steady CPU-bound target: counts loop iterations and appends one line per window to a file.

usage: steady_counter.py OUTFILE [--window SECS] [--seconds SECS]

Each line of OUTFILE is "<monotonic time> <iterations in the window>". Runs --seconds (default:
until killed). Used to check that memwatch never slows or stops its target.
"""
import sys
import time


def work(n):
    # pure-Python arithmetic: steady, allocation-free in the steady state
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
    return acc


def main(argv):
    out = argv[1]
    opts = dict(zip(argv[2::2], argv[3::2]))
    window = float(opts.get("--window", "0.25"))
    seconds = float(opts.get("--seconds", "0"))
    start = time.monotonic()
    print("ready", flush=True)
    with open(out, "a", buffering=1) as f:
        while seconds <= 0 or time.monotonic() - start < seconds:
            t0 = time.monotonic()
            iterations = 0
            while time.monotonic() - t0 < window:
                work(1000)
                iterations += 1
            f.write(f"{time.monotonic():.3f} {iterations}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
