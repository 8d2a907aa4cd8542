#!/usr/bin/env python3
"""Overhead of watching: the target's slowdown, memwatch's CPU and the session's size.

One steady CPU-bound Python workload (tests/targets/steady_counter.py, which logs its loop
iterations every --window seconds) runs for the whole benchmark. memwatch attaches to it with
`--pid` for a phase, detaches, and so on: "off" and "on" phases alternate, so machine drift and
the run-to-run variance of a Python process (memory layout) hit both alike. Windows that
straddle a phase change are left out. Printed side by side:

  * iterations per window, median on vs off, and their ratio   goal: slowdown <= 1 %
  * memwatch CPU, % of one core (its own rusage over its wall time)   goal: <= 5 %
  * session size per hour at the rate: marginal bytes per sample x rate x 3600, from one short
    and one long session of the same target (the fixed ~75 KB of any session excluded)
    goal: <= 10 MB

usage: scripts/bench_overhead.py [--pairs 8] [--phase 5] [--rate 100] [--size-seconds 30]
                                 [--python python3]
"""
import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD = os.path.join(ROOT, "tests", "targets", "steady_counter.py")
MEMWATCH = os.path.join(ROOT, "target", "release", "memwatch")


def windows(path):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                out.append((float(parts[0]), int(parts[1])))
    return out


def watch(pid, seconds, rate, session):
    t0 = time.monotonic()
    mw = subprocess.Popen(
        [MEMWATCH, "--pid", str(pid), "--rate", str(rate), "--no-tui", "--duration", str(seconds),
         "--record", session, "--status-interval", "3600"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(mw.pid, 0)
    t1 = time.monotonic()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("memwatch failed: %s" % mw.stderr.read().decode())
    con = sqlite3.connect(session)
    samples = con.execute("SELECT count(*) FROM samples").fetchone()[0]
    con.close()
    return t0, t1, (usage.ru_utime + usage.ru_stime) / (t1 - t0), os.path.getsize(session), samples


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=8, help="off/on phase pairs")
    ap.add_argument("--phase", type=float, default=5.0, help="seconds per phase")
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--window", type=float, default=0.25)
    ap.add_argument("--size-seconds", type=float, default=30.0,
                    help="length of the long session used to measure the size per sample")
    ap.add_argument("--python", default="python3")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    python = subprocess.run(
        [args.python, "-c", "import sys; print(sys.executable)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    version = subprocess.run([python, "--version"], capture_output=True, text=True).stdout.strip()
    print("workload %s (%s); %d off/on pairs of %.0f s; memwatch --pid at %.0f Hz"
          % (os.path.relpath(WORKLOAD, ROOT), version, args.pairs, args.phase, args.rate))
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "windows.txt")
        target = subprocess.Popen([python, WORKLOAD, log, "--window", str(args.window)],
                                  stdout=subprocess.PIPE, text=True)
        assert target.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # warm up
        on_phases, off_phases, cpus, sessions = [], [], [], []
        try:
            for i in range(args.pairs):
                t0 = time.monotonic()
                time.sleep(args.phase)
                off_phases.append((t0, time.monotonic()))
                session = os.path.join(tmp, "s%d.db" % i)
                a, b, cpu, size, samples = watch(target.pid, args.phase, args.rate, session)
                on_phases.append((a, b))
                cpus.append(cpu)
                sessions.append((size, samples))
                print("  pair %d: memwatch CPU %.2f %% of a core, session %d bytes for %d samples"
                      % (i + 1, cpu * 100, size, samples))
            # session size: a short and a long session, for the marginal bytes per sample
            short = watch(target.pid, 3.0, args.rate, os.path.join(tmp, "short.db"))
            long_ = watch(target.pid, args.size_seconds, args.rate, os.path.join(tmp, "long.db"))
        finally:
            target.kill()
            target.wait()
        w = windows(log)

    def inside(phases):
        # a window [t - window, t] counts if it lies wholly inside a phase (with a margin for
        # attaching and detaching)
        margin = 0.2
        return [n for (t, n) in w
                if any(a + margin <= t - args.window and t <= b - margin for a, b in phases)]

    on, off = inside(on_phases), inside(off_phases)
    m_on, m_off = statistics.median(on), statistics.median(off)
    ratio = m_on / m_off
    print()
    print("iterations per %.2f s window: off median %d (%d windows), on median %d (%d windows)"
          % (args.window, m_off, len(off), m_on, len(on)))
    print("ratio on/off: %.4f  -> slowdown %.2f %%  (goal <= 1 %%)" % (ratio, (1 - ratio) * 100))
    print("memwatch CPU: median %.2f %% of one core  (goal <= 5 %%)" % (statistics.median(cpus) * 100))
    (_, _, _, size_s, n_s), (_, _, _, size_l, n_l) = short, long_
    per_sample = (size_l - size_s) / max(n_l - n_s, 1)
    print("session: %d bytes for %d samples, %d bytes for %d samples -> %.1f bytes per sample"
          % (size_s, n_s, size_l, n_l, per_sample))
    print("         -> %.2f MB per hour at %.0f Hz  (goal <= 10 MB/hour)"
          % (per_sample * args.rate * 3600 / 1e6, args.rate))


if __name__ == "__main__":
    main()
