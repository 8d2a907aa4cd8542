"""Four steady CPU-bound fork workers (the loop of steady_counter.py) under a sleeping parent:
the tree case of scripts/bench_overhead.py.

usage: steady_workers.py OUTDIR [--workers 4] [--window SECS]

Worker k appends "<monotonic time> <iterations>" per window to OUTDIR/worker-k.txt.
"""
import multiprocessing
import os
import sys
import time


def work(n):
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
    return acc


def worker(path, window):
    with open(path, "a", buffering=1) as f:
        while True:
            t0 = time.monotonic()
            iterations = 0
            while time.monotonic() - t0 < window:
                work(1000)
                iterations += 1
            f.write(f"{time.monotonic():.3f} {iterations}\n")


def main(argv):
    out = argv[1]
    opts = dict(zip(argv[2::2], argv[3::2]))
    n = int(opts.get("--workers", "4"))
    window = float(opts.get("--window", "0.25"))
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=worker, args=(os.path.join(out, "worker-%d.txt" % k), window))
             for k in range(n)]
    for p in procs:
        p.start()
    print("ready", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
