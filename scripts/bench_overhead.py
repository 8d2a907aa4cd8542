#!/usr/bin/env python3
"""Overhead of watching: the target's slowdown, memwatch's CPU and the session's size.

Steady CPU-bound Python workloads log their loop iterations every --window seconds for the whole
benchmark; memwatch attaches to them for a phase, detaches, and so on. The phases run in
cycles, each phase kind bracketed by phases without memwatch ("off"):

    off  ON  off  SHAM  off  [B  off]  ON  off  SHAM ...     (the kinds' order rotates)

  ON    memwatch (this checkout's release build, or --memwatch) watches at the defaults
  SHAM  nothing runs: measured exactly like ON, it is the A/A pair that shows the noise
  B     a second memwatch binary (--against), for an A/B in one run

Estimator, the same for every kind: per phase and worker the median iterations per window (a
window counts when it lies wholly inside the phase, with a margin for attaching); per ON
(SHAM, B) phase the ratio of its median to the mean of the two off phases around it, which
cancels the machine's slow drift (this VM's speed wanders by several % over minutes, so
comparing all on windows with all off windows mixed drift into the answer); the result is the
median of those ratios, with a bootstrap 95 % interval. "Pooled" adds all workers' medians
per phase: the tree's throughput.

Printed side by side, with PASS/MISSED against the goals:

  * slowdown of each worker (ON vs off), and SHAM's (the noise)      goal: <= 1 %
  * memwatch's CPU, % of one core while it watches (from 2 s after attach to its end; the
    one-off cost of attaching, reading the interpreter's binary, is left out)   goal: <= 5 %
  * single case: the session's size per hour at the rate (marginal bytes per sample x rate x
    3600, from one short and one long session; the fixed ~75 KB of any session excluded)
    goal: <= 10 MB

Both are also printed from --settle s into each watch (after attaching and the first
censuses: what a watch that keeps running costs) when phases are long enough.

Single case: tests/targets/steady_counter.py, one process, `memwatch --pid PID`.
Tree case: four CPU-bound fork workers under a sleeping parent (tests/targets/tree/
steady_workers.py), `memwatch --pid PARENT --subprocesses`. On 2 cores the 4 workers share the
CPUs with memwatch, so each cycle memwatch uses is a worker's: memwatch's governor
(src/tree/governor.rs) holds it to 1 % of the machine while every CPU is busy.

usage: scripts/bench_overhead.py [--case single|tree|both] [--cycles 6] [--phase 30]
                                 [--settle 15] [--rate 100] [--python python3]
                                 [--memwatch BIN] [--against BIN] [--size-seconds 30]
"""
import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOAD = os.path.join(ROOT, "tests", "targets", "steady_counter.py")
TREE_WORKLOAD = os.path.join(ROOT, "tests", "targets", "tree", "steady_workers.py")
MEMWATCH = os.path.join(ROOT, "target", "release", "memwatch")

# a window counts if it lies inside its phase with this margin at the start (attaching, and in
# a tree the first scan that finds the workers) and END_MARGIN at the end (detaching)
START_MARGIN = 1.0
END_MARGIN = 0.2


def windows(path):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                out.append((float(parts[0]), int(parts[1])))
    return out


def cpu_ticks(pid):
    """utime + stime of every thread of `pid`, clock ticks."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def watch(binary, pid, seconds, rate, session, extra=(), settle=None):
    """Watch `pid` for `seconds`. Returns memwatch's CPU share of a core from 2 s after its
    start to 0.5 s before its end, and (None without `settle`) from `settle` s on, and the
    session's size and samples."""
    t0 = time.monotonic()
    mw = subprocess.Popen(
        [binary, "--pid", str(pid), "--rate", str(rate), "--no-tui", "--duration", str(seconds),
         "--record", session, "--status-interval", "3600", *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    tick = os.sysconf("SC_CLK_TCK")
    marks = [min(2.0, seconds / 3)] + ([settle] if settle else [])
    cpu_at = []
    for m in marks:
        time.sleep(max(t0 + m - time.monotonic(), 0))
        cpu_at.append((cpu_ticks(mw.pid), time.monotonic()))
    time.sleep(max(t0 + seconds - 0.5 - time.monotonic(), 0.1))
    c1, w1 = cpu_ticks(mw.pid), time.monotonic()
    _, status, _ = os.wait4(mw.pid, 0)

    def share(c0, w0):
        return (c1 - c0) / tick / (w1 - w0) if c0 is not None and c1 is not None else float("nan")

    cpus = [share(c0, w0) for c0, w0 in cpu_at]
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("memwatch failed: %s" % mw.stderr.read().decode())
    con = sqlite3.connect(session)
    samples = con.execute("SELECT count(*) FROM samples").fetchone()[0]
    procs = con.execute("SELECT count(*) FROM processes WHERE python IS NOT NULL").fetchone()[0] \
        if con.execute("SELECT count(*) FROM sqlite_master WHERE name = 'processes'").fetchone()[0] \
        else 1
    con.close()
    return {"cpu": cpus[0], "settled_cpu": cpus[1] if settle else None,
            "size": os.path.getsize(session), "samples": samples, "procs": procs}


class Phases:
    """The phase schedule of one run, and the estimator over it."""

    def __init__(self, kinds, cycles, seed=1):
        self.schedule = []  # (kind, t0, t1); kind "off" between all others
        self.kinds = kinds
        self.cycles = cycles
        self.rng = random.Random(seed)

    def run(self, phase, do):
        """Runs the cycles: off, then each kind (rotated per cycle) followed by off.
        `do(kind, i)` runs one phase of `kind` and returns when it is over."""
        def off():
            t0 = time.monotonic()
            time.sleep(phase)
            self.schedule.append(("off", t0, time.monotonic()))
        off()
        for c in range(self.cycles):
            order = self.kinds[c % len(self.kinds):] + self.kinds[:c % len(self.kinds)]
            for kind in order:
                t0 = time.monotonic()
                do(kind, c)
                self.schedule.append((kind, t0, time.monotonic()))
                off()

    def medians(self, w, settle=None):
        """Per phase, the median window count of `w` inside it (None: no window)."""
        out = []
        for kind, a, b in self.schedule:
            start = a + (settle if settle is not None and kind != "off" else START_MARGIN)
            inside = [n for (t, n) in w if start <= t - WINDOW and t <= b - END_MARGIN]
            out.append(statistics.median(inside) if inside else None)
        return out

    def ratios(self, meds, kind):
        """Per phase of `kind`, its median over the mean of the off phases around it."""
        out = []
        for i, (k, _, _) in enumerate(self.schedule):
            if k != kind or i == 0 or i + 1 >= len(self.schedule):
                continue
            m, before, after = meds[i], meds[i - 1], meds[i + 1]
            if None not in (m, before, after):
                out.append(m / ((before + after) / 2))
        return out

    def estimate(self, ratios):
        """Median ratio and its bootstrap 95 % interval."""
        if not ratios:
            return float("nan"), float("nan"), float("nan")
        boot = sorted(statistics.median(self.rng.choices(ratios, k=len(ratios)))
                      for _ in range(2000))
        return statistics.median(ratios), boot[50], boot[1949]


WINDOW = 0.25


def verdict(ok):
    return "PASS" if ok else "MISSED"


def slowdown(est):
    m, lo, hi = est
    return "%6.2f %% [%5.2f, %5.2f]" % ((1 - m) * 100, (1 - hi) * 100, (1 - lo) * 100)


def print_table(phases, series, kinds, settle):
    """One row per series (a worker, or pooled): the slowdown per kind, with its interval;
    returns {kind: worst point estimate over the series} (settled too, when given)."""
    cols = [(k, None) for k in kinds] + ([(k, settle) for k in kinds] if settle else [])
    head = "  %-9s" % "" + "".join(
        "  %-27s" % ("%s%s" % (k.upper(), " from %g s" % s if s else "")) for k, s in cols)
    print(head)
    worst = {}
    for name, w in series:
        row = "  %-9s" % name
        for k, s in cols:
            meds = phases.medians(w, s)
            est = phases.estimate(phases.ratios(meds, k))
            row += "  %-27s" % slowdown(est)
            # ON and B: the worst slowdown; SHAM: the largest deviation either way (noise)
            dev = abs(1 - est[0]) if k == "sham" else 1 - est[0]
            worst[(k, s)] = max(worst.get((k, s), -1.0), dev)
        print(row)
    return worst


def report(phases, series, kinds, settle, cpus, against):
    """The slowdown table, the pooled row, memwatch's CPU; PASS/MISSED."""
    print()
    print("slowdown = 1 - (phase median / mean of the off phases around it); median over "
          "%d phases of each kind, [bootstrap 95 %% interval]" % phases.cycles)
    worst = print_table(phases, series, kinds, settle)
    if len(series) > 1:
        # pooled: the sum of the workers' per-phase medians
        row = "  %-9s" % "pooled"
        cols = [(k, None) for k in kinds] + ([(k, settle) for k in kinds] if settle else [])
        for k, s in cols:
            per = [phases.medians(w, s) for _, w in series]
            meds = [None if None in col else sum(col) for col in zip(*per)]
            row += "  %-27s" % slowdown(phases.estimate(phases.ratios(meds, k)))
        print(row)
    print()
    what = "each worker" if len(series) > 1 else "the target"
    for s in (None, settle) if settle else (None,):
        when = "from %g s into each watch" % s if s else "over whole watches"
        w_on, w_sham = worst[("on", s)], worst[("sham", s)]
        print("slowdown of %s %s: worst %.2f %% (goal <= 1 %%): %s   [SHAM, the noise: largest %.2f %%]"
              % (what, when, w_on * 100, verdict(w_on <= 0.01), w_sham * 100))
        if against:
            print("  B (%s): worst %.2f %%" % (against, worst[("b", s)] * 100))
    for kind, label in (("on", "memwatch"), ("b", "B")):
        if cpus.get(kind):
            c = statistics.median(x["cpu"] for x in cpus[kind])
            line = "%s CPU: median %.2f %% of one core (goal <= 5 %%): %s" % (label, c * 100,
                                                                             verdict(c <= 0.05))
            if settle:
                line += "; from %g s on %.2f %%" % (
                    settle, statistics.median(x["settled_cpu"] for x in cpus[kind]) * 100)
            print(line)


def run_case(args, cmd, logs_of, extra, label):
    """Starts the workload `cmd`, runs the phases, returns (phases, series, cpus, tmp results)."""
    kinds = ["on", "sham"] + (["b"] if args.against else [])
    settle = args.settle if args.phase >= args.settle + 4 else None
    print("%s; %d cycles of %s, %g-s phases, memwatch at %g Hz%s"
          % (label, args.cycles, "/".join(k.upper() for k in kinds), args.phase, args.rate,
             "" if settle else " (phases too short for --settle %g)" % args.settle))
    with tempfile.TemporaryDirectory() as tmp:
        target = subprocess.Popen(cmd(tmp), stdout=subprocess.PIPE, text=True,
                                  start_new_session=True)
        assert target.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # warm up
        phases = Phases(kinds, args.cycles)
        cpus = {"on": [], "b": []}
        extra_runs = {}

        def do(kind, c):
            if kind == "sham":
                time.sleep(args.phase)
                return
            binary = MEMWATCH if kind == "on" else args.against
            got = watch(binary, target.pid, args.phase, args.rate,
                        os.path.join(tmp, "%s%d.db" % (kind, c)), extra, settle)
            cpus[kind].append(got)
            print("  cycle %d %s: memwatch CPU %.2f %% of a core%s, %d process(es) sampled, "
                  "%d samples" % (c + 1, kind.upper(), got["cpu"] * 100,
                                  "; from %g s on %.2f %%" % (settle, got["settled_cpu"] * 100)
                                  if settle else "", got["procs"], got["samples"]))
        try:
            phases.run(args.phase, do)
            if args.size_seconds and not extra:
                extra_runs["short"] = watch(MEMWATCH, target.pid, 3.0, args.rate,
                                            os.path.join(tmp, "short.db"))
                extra_runs["long"] = watch(MEMWATCH, target.pid, args.size_seconds, args.rate,
                                           os.path.join(tmp, "long.db"))
        finally:
            os.killpg(target.pid, 9)
            target.wait()
        series = [(name, windows(path)) for name, path in logs_of(tmp)]
    report(phases, series, kinds, settle, cpus, args.against)
    return extra_runs


def single(args, python):
    version = subprocess.run([python, "--version"], capture_output=True, text=True).stdout.strip()
    got = run_case(
        args,
        lambda tmp: [python, WORKLOAD, os.path.join(tmp, "windows.txt"), "--window", str(WINDOW)],
        lambda tmp: [("target", os.path.join(tmp, "windows.txt"))],
        (),
        "single case: %s (%s), memwatch --pid" % (os.path.relpath(WORKLOAD, ROOT), version))
    if got:
        s, l = got["short"], got["long"]
        per_sample = (l["size"] - s["size"]) / max(l["samples"] - s["samples"], 1)
        mb = per_sample * args.rate * 3600 / 1e6
        print("session: %d bytes for %d samples, %d bytes for %d samples -> %.1f bytes per sample"
              % (s["size"], s["samples"], l["size"], l["samples"], per_sample))
        print("         -> %.2f MB per hour at %g Hz (goal <= 10 MB/hour): %s"
              % (mb, args.rate, verdict(mb <= 10)))


def tree(args, python):
    def logs(tmp):
        return sorted((f[:-4], os.path.join(tmp, f)) for f in os.listdir(tmp)
                      if f.startswith("worker-"))
    run_case(
        args,
        lambda tmp: [python, TREE_WORKLOAD, tmp, "--window", str(WINDOW)],
        logs,
        ("--subprocesses",),
        "tree case: %s, 4 fork workers, memwatch --pid PARENT --subprocesses"
        % os.path.relpath(TREE_WORKLOAD, ROOT))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=6, help="cycles of ON/SHAM(/B) phases")
    ap.add_argument("--phase", type=float, default=30.0, help="seconds per phase")
    ap.add_argument("--settle", type=float, default=15.0,
                    help="also measure from this many seconds into each watch")
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--size-seconds", type=float, default=30.0,
                    help="single case: the long session that measures the size per sample "
                         "(0: skip)")
    ap.add_argument("--python", default="python3")
    ap.add_argument("--case", choices=["single", "tree", "both"], default="both")
    ap.add_argument("--memwatch", help="the memwatch binary to measure (default: this "
                                       "checkout's release build, built first)")
    ap.add_argument("--against", help="a second memwatch binary, in phases of its own (B)")
    args = ap.parse_args()

    global MEMWATCH
    if args.memwatch:
        MEMWATCH = os.path.abspath(args.memwatch)
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if args.against:
        args.against = os.path.abspath(args.against)
    python = subprocess.run(
        [args.python, "-c", "import sys; print(sys.executable)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    if args.case in ("single", "both"):
        single(args, python)
    if args.case in ("tree", "both"):
        print()
        tree(args, python)


if __name__ == "__main__":
    main()
