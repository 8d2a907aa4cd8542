#!/usr/bin/env python3
"""Overhead of watching: the target's slowdown, memwatch's CPU and the session's size.

One steady CPU-bound Python workload (tests/targets/steady_counter.py, which logs its loop
iterations every --window seconds) runs for the whole benchmark. memwatch attaches to it with
`--pid` for a phase, detaches, and so on: "off" and "on" phases alternate, so machine drift and
the run-to-run variance of a Python process (memory layout) hit both alike. Windows that
straddle a phase change are left out. Printed side by side:

  * iterations per window, median on vs off, and their ratio   goal: slowdown <= 1 %
  * memwatch CPU, % of one core while it watches (from 2 s after attach to its end: the
    one-off cost of attaching, reading the interpreter's binary, is left out)   goal: <= 5 %
  * session size per hour at the rate: marginal bytes per sample x rate x 3600, from one short
    and one long session of the same target (the fixed ~75 KB of any session excluded)
    goal: <= 10 MB

Tree case (--case tree or both): four steady CPU-bound fork workers under a sleeping parent
(tests/targets/tree/steady_workers.py), watched with `memwatch --pid PARENT --subprocesses` at
the defaults in alternating phases; printed per worker: its slowdown (median on vs off), and
memwatch's CPU for the whole tree (goal: each worker within the same 1 % as one process;
memwatch within 5 % of a core). On 2 cores the 4 workers share the CPU with memwatch, so its
CPU is taken from them directly: memwatch's governor (src/tree/governor.rs) scales it down
while every CPU is busy. With phases of at least --settle + 5 s, the slowdown and CPU are also
printed from --settle s into each watch (after attaching and the first censuses: what a watch
that keeps running costs).

An A/A pair shows the noise: the off phases split in two (odd and even), compared the same way.

usage: scripts/bench_overhead.py [--case single|tree|both] [--pairs 8] [--phase 5] [--rate 100]
                                 [--size-seconds 30] [--python python3] [--settle 10]
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
TREE_WORKLOAD = os.path.join(ROOT, "tests", "targets", "tree", "steady_workers.py")
MEMWATCH = os.path.join(ROOT, "target", "release", "memwatch")


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


def watch(pid, seconds, rate, session, extra=(), settle=None, binary=None):
    """Watch `pid` for `seconds`; memwatch's CPU from 2 s after its start (attaching reads
    the interpreter's binaries, a one-off cost) to 0.5 s before its end, and, with `settle`,
    also from `settle` s on (a watch that keeps running)."""
    t0 = time.monotonic()
    mw = subprocess.Popen(
        [binary or MEMWATCH, "--pid", str(pid), "--rate", str(rate), "--no-tui", "--duration",
         str(seconds),
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
    _, status, usage = os.wait4(mw.pid, 0)
    t1 = time.monotonic()

    def share(c0, w0):
        return (c1 - c0) / tick / (w1 - w0) if c0 is not None and c1 is not None else float("nan")

    cpus = [share(c0, w0) for c0, w0 in cpu_at]
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit("memwatch failed: %s" % mw.stderr.read().decode())
    con = sqlite3.connect(session)
    samples = con.execute("SELECT count(*) FROM samples").fetchone()[0]
    con.close()
    if settle:
        return t0, t1, cpus[0], os.path.getsize(session), samples, cpus[1]
    return t0, t1, cpus[0], os.path.getsize(session), samples


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=8, help="off/on phase pairs")
    ap.add_argument("--phase", type=float, default=5.0, help="seconds per phase")
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--window", type=float, default=0.25)
    ap.add_argument("--size-seconds", type=float, default=30.0,
                    help="length of the long session used to measure the size per sample")
    ap.add_argument("--python", default="python3")
    ap.add_argument("--settle", type=float, default=10.0,
                    help="tree case: also measure from this many seconds into each watch "
                         "(a watch that keeps running), when the phase is long enough")
    ap.add_argument("--case", choices=["single", "tree", "both"], default="both")
    ap.add_argument("--memwatch", help="the memwatch binary to measure (default: this checkout's "
                                       "release build, built first)")
    ap.add_argument("--against", help="tree case: a second memwatch binary, watched in phases "
                                      "of its own interleaved with the first's (an A/B in one run)")
    args = ap.parse_args()

    global MEMWATCH
    if args.memwatch:
        MEMWATCH = os.path.abspath(args.memwatch)
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    python = subprocess.run(
        [args.python, "-c", "import sys; print(sys.executable)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    if args.case in ("single", "both"):
        single(args, python)
    if args.case in ("tree", "both"):
        tree(args, python)


def single(args, python):
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

    # a window [t - window, t] counts if it lies wholly inside a phase (with a margin for
    # attaching and detaching)
    on, off = inside(w, on_phases, args.window, 0.2), inside(w, off_phases, args.window, 0.2)
    m_on, m_off = statistics.median(on), statistics.median(off)
    ratio = m_on / m_off
    print()
    print("iterations per %.2f s window: off median %d (%d windows), on median %d (%d windows)"
          % (args.window, m_off, len(off), m_on, len(on)))
    print("ratio on/off: %.4f  -> slowdown %.2f %%  (goal <= 1 %%): %s; A/A ratio %.4f"
          % (ratio, (1 - ratio) * 100, verdict(ratio >= 0.99), aa(w, off_phases, args.window, 0.2)))
    cpu = statistics.median(cpus)
    print("memwatch CPU: median %.2f %% of one core  (goal <= 5 %%): %s" % (cpu * 100, verdict(cpu <= 0.05)))
    (_, _, _, size_s, n_s), (_, _, _, size_l, n_l) = short, long_
    per_sample = (size_l - size_s) / max(n_l - n_s, 1)
    print("session: %d bytes for %d samples, %d bytes for %d samples -> %.1f bytes per sample"
          % (size_s, n_s, size_l, n_l, per_sample))
    print("         -> %.2f MB per hour at %.0f Hz  (goal <= 10 MB/hour)"
          % (per_sample * args.rate * 3600 / 1e6, args.rate))


def inside(w, phases, window, margin):
    """Window counts of `w` that lie wholly inside a phase (with a margin at its ends)."""
    return [n for (t, n) in w
            if any(a + margin <= t - window and t <= b - margin for a, b in phases)]


def verdict(ok):
    return "PASS" if ok else "MISSED"


def aa(w, off_phases, window, margin):
    """The A/A ratio: odd off phases against even ones."""
    a = inside(w, off_phases[0::2], window, margin)
    b = inside(w, off_phases[1::2], window, margin)
    if not a or not b:
        return float("nan")
    return statistics.median(a) / statistics.median(b)


def tree(args, python):
    print()
    settle = args.settle if args.phase >= args.settle + 5 else None
    print("tree case: %s, 4 fork workers; %d off/on pairs of %.0f s; memwatch --pid PARENT "
          "--subprocesses at %.0f Hz" % (os.path.relpath(TREE_WORKLOAD, ROOT), args.pairs,
                                         args.phase, args.rate))
    with tempfile.TemporaryDirectory() as tmp:
        target = subprocess.Popen([python, TREE_WORKLOAD, tmp, "--window", str(args.window)],
                                  stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert target.stdout.readline().strip() == "ready"
        time.sleep(1.0)
        on_phases, off_phases, cpus, settled_cpus = [], [], [], []
        b_phases, b_cpus = [], []
        try:
            for i in range(args.pairs):
                t0 = time.monotonic()
                time.sleep(args.phase)
                off_phases.append((t0, time.monotonic()))
                if args.against:
                    # B's phase first in odd pairs, second in even ones: drift hits both alike
                    def run_b():
                        session = os.path.join(tmp, "b%d.db" % i)
                        got = watch(target.pid, args.phase, args.rate, session,
                                    ["--subprocesses"], binary=args.against)
                        b_phases.append(got[:2])
                        b_cpus.append(got[2])
                    if i % 2:
                        run_b()
                session = os.path.join(tmp, "t%d.db" % i)
                got = watch(target.pid, args.phase, args.rate, session, ["--subprocesses"],
                            settle=settle)
                if args.against and not i % 2:
                    run_b()
                a, b, cpu, size, samples = got[:5]
                con = sqlite3.connect(session)
                procs = con.execute(
                    "SELECT count(*) FROM processes WHERE python IS NOT NULL").fetchone()[0]
                con.close()
                on_phases.append((a, b))
                cpus.append(cpu)
                line = ("  pair %d: memwatch CPU %.2f %% of a core, %d processes sampled, %d samples"
                        % (i + 1, cpu * 100, procs, samples))
                if settle:
                    settled_cpus.append(got[5])
                    line += "; from %.0f s on %.2f %%" % (settle, got[5] * 100)
                print(line)
        finally:
            os.killpg(target.pid, 9)
            target.wait()
        logs = sorted(f for f in os.listdir(tmp) if f.startswith("worker-"))
        per_worker = [(f, windows(os.path.join(tmp, f))) for f in logs]
    print()
    # the workers are found by the first scan (0.5 s) after attach: a wider margin
    margin = 1.0
    settled = [(a + settle, b) for a, b in on_phases] if settle else None
    if args.against:
        print("  A = %s, B = %s" % (MEMWATCH, args.against))
        print("  worker      A ratio  A slowdown    B ratio  B slowdown   A/B")
        for name, w in per_worker:
            m_off = statistics.median(inside(w, off_phases, args.window, margin))
            ra = statistics.median(inside(w, on_phases, args.window, margin)) / m_off
            rb = statistics.median(inside(w, b_phases, args.window, margin)) / m_off
            print("  %-9s   %.4f   %6.2f %%     %.4f   %6.2f %%   %.4f"
                  % (name[:-4], ra, (1 - ra) * 100, rb, (1 - rb) * 100, ra / rb))
        print("  memwatch CPU: A median %.2f %%, B median %.2f %% of one core"
              % (statistics.median(cpus) * 100, statistics.median(b_cpus) * 100))
    head = "  worker     off median   on median   ratio   slowdown"
    if settle:
        head += "   from %.0f s: ratio  slowdown" % settle
    print(head + "   A/A ratio")
    worst, worst_settled = 0.0, 0.0
    for name, w in per_worker:
        on = inside(w, on_phases, args.window, margin)
        off = inside(w, off_phases, args.window, margin)
        m_on, m_off = statistics.median(on), statistics.median(off)
        ratio = m_on / m_off
        worst = max(worst, 1 - ratio)
        row = "  %-9s %11d %11d  %.4f   %6.2f %%" % (name[:-4], m_off, m_on, ratio, (1 - ratio) * 100)
        if settle:
            r2 = statistics.median(inside(w, settled, args.window, 0.2)) / m_off
            worst_settled = max(worst_settled, 1 - r2)
            row += "             %.4f  %6.2f %%" % (r2, (1 - r2) * 100)
        print(row + "     %.4f" % aa(w, off_phases, args.window, margin))
    print("worst worker slowdown %.2f %% over whole watches (goal <= 1 %%): %s"
          % (worst * 100, verdict(worst <= 0.01)))
    if settle:
        print("worst worker slowdown %.2f %% from %.0f s into a watch on (goal <= 1 %%): %s"
              % (worst_settled * 100, settle, verdict(worst_settled <= 0.01)))
    cpu = statistics.median(cpus)
    print("memwatch CPU for the tree: median %.2f %% of one core (goal <= 5 %%): %s"
          % (cpu * 100, verdict(cpu <= 0.05)))
    if settle:
        print("memwatch CPU for the tree from %.0f s on: median %.2f %% of one core"
              % (settle, statistics.median(settled_cpus) * 100))


if __name__ == "__main__":
    main()
