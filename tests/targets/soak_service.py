"""A long-running service for scripts/bench_soak.py: steady CPU-bound work (the loop of
steady_counter.py), its iterations logged per window, and with --leak N a module-level dict
that gains N entries a second and is never trimmed.

usage: soak_service.py OUTFILE [--window SECS] [--leak N] [--duty FRACTION]

--duty: the share of the time it works (it sleeps the rest, in 10-ms slices), like a service
that is not saturated; iterations per window measure its speed.
"""
import sys
import time

_SEEN = {}


def work(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
    return acc


def main(argv):
    out = argv[1]
    opts = dict(zip(argv[2::2], argv[3::2]))
    window = float(opts.get("--window", "1"))
    leak = float(opts.get("--leak", "0"))
    duty = min(max(float(opts.get("--duty", "1")), 0.01), 1.0)
    print("ready", flush=True)
    added = 0
    start = time.monotonic()
    with open(out, "a", buffering=1) as f:
        while True:
            t0 = time.monotonic()
            iterations = 0
            while time.monotonic() - t0 < window:
                slice_end = time.monotonic() + 0.01 * duty
                while time.monotonic() < slice_end:
                    work(1000)
                    iterations += 1
                if duty < 1:
                    time.sleep(0.01 * (1 - duty))
                due = int((time.monotonic() - start) * leak)
                while added < due:
                    _SEEN["order-%d" % added] = ("x" * 40, added)
                    added += 1
            f.write(f"{time.monotonic():.3f} {iterations}\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
