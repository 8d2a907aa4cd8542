#!/usr/bin/env python3
"""Benchmark of memwatch's heap census against the target counting itself, and of its cost in
a watch.

usage: python3 scripts/bench_census.py [--sizes 100000,1000000,5000000] [--rounds 5]
                                       [--watch-seconds 120] [--array-gib 2] [--quick]

Starts tests/targets/census_bench.py under the machine's python3 holding about N GC-tracked
objects (N/2 small instances, N/2 one-item lists), and asks it for its *object memory*: the
pymalloc arenas (sys._debugmallocstats) plus the blocks of objects larger than pymalloc's 512
bytes — the memory that holds Python objects, which memwatch's peak RSS is held against.

  1. one-off census, per size, interleaved for --rounds rounds on the same heap (memwatch
     twice a round: its runs, in two series taken by turns, give an A/A pair):
     (a) `memwatch snapshot --pid P --format json --no-graph`: wall time of the whole command
         (start, attach, copy, walk, JSON), the census's own total / pause / walk / bytes
         copied, memwatch's peak RSS (os.wait4's ru_maxrss); and, as a floor for the pause,
         the copy alone: as many bytes of the target's writable memory read with
         process_vm_readv (ctypes) on as many threads as memwatch copies with, into
         buffers written before;
     (b) the target's own Counter(type(o).__name__ for o in gc.get_objects()), timed in it.
  2. a watch at the defaults (`memwatch --pid P --no-tui --record F --duration S`), at 1M and
     5M objects: the censuses' pause and total (from the session file; the first, which has
     nothing to learn from, apart), memwatch's CPU over the watch (share of a core) and its
     peak RSS. Two minutes by default: a census costs ~1 % of a core over a 25-s window, so
     a short watch's CPU figure moves with the count of censuses that fall in it.
  3. arrays beside objects: the 1M heap plus --array-gib GiB of bytearray data: snapshot and
     watch, memwatch's peak RSS against the object memory (not the target's RSS).

Goals (issue 14), PASS/MISSED next to each: one-off end to end at 1M <= 100 ms and faster
than the in-target count; pause <= 20 ms at 1M and <= 60 ms at 5M (one-off and in a watch);
5M end to end <= 0.5 s; memwatch's peak RSS <= 1.25 x the object memory (1M, 5M, arrays);
memwatch's CPU at defaults on the 1M heap <= 5 % of a core. Builds the release binary first.
"""
import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMWATCH = os.path.join(ROOT, "target", "release", "memwatch")
TARGET = os.path.join(ROOT, "tests", "targets", "census_bench.py")

GOAL_E2E_1M_MS = 100
GOAL_PAUSE_1M_MS = 20
GOAL_PAUSE_5M_MS = 60
GOAL_E2E_5M_MS = 500
GOAL_RSS_RATIO = 1.25
GOAL_CPU = 5.0  # % of a core
SETTLE = 15  # s into a watch: attaching and the first census are behind


def real_python3():
    """The interpreter `python3` runs (PATH's may be a pyenv shim: a shell script)."""
    exe = shutil.which("python3") or sys.executable
    out = subprocess.run([exe, "-c", "import sys; print(sys.executable)"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def proc_cpu(pid):
    """CPU seconds (user + system) of a running process, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_memwatch(args, settle=None):
    """Run memwatch to the end: (wall seconds, stdout bytes, peak RSS bytes, CPU seconds); with
    `settle`, also (CPU seconds, wall seconds) from `settle` s in to the end."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen([MEMWATCH] + args, stdout=out, stderr=err)
        at_settle = None
        if settle is not None:
            time.sleep(settle)
            at_settle = (proc_cpu(p.pid), time.perf_counter())
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if code != 0:
            raise SystemExit("memwatch %s failed (%d): %s" % (args[0], code, err.read().decode()))
        cpu = usage.ru_utime + usage.ru_stime
        if at_settle is not None:
            at_settle = (cpu - at_settle[0], t0 + wall - at_settle[1])
            return wall, out.read(), usage.ru_maxrss * 1024, cpu, at_settle
        return wall, out.read(), usage.ru_maxrss * 1024, cpu


class Target:
    def __init__(self, python, size, array_gib=0):
        self.p = subprocess.Popen([python, TARGET, str(size), str(array_gib)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        word, objects, objmem, rss = self.p.stdout.readline().split()
        assert word == "ready", word
        self.pid = self.p.pid
        self.objects, self.objmem, self.rss = int(objects), int(objmem), int(rss)

    def count(self):
        self.p.stdin.write("census\n")
        self.p.stdin.flush()
        secs, _counted = self.p.stdout.readline().split()
        return float(secs)

    def touch(self, seconds):
        self.p.stdin.write("touch %g\n" % seconds)
        self.p.stdin.flush()
        return float(self.p.stdout.readline())

    def close(self):
        self.p.kill()
        self.p.wait()


def copy_floor_apart(pid, nbytes, rounds):
    """copy_floor in a process of its own: its buffers must not raise this process's peak RSS,
    which each memwatch started from here inherits as its own (os.wait4's ru_maxrss counts the
    memory of the process memwatch is started from, before its exec, and subprocess starts it
    with vfork: a 626 MiB floor buffer here made every later memwatch peak at 644 MiB)."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--copy-floor",
                          str(pid), str(nbytes), str(rounds)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def copy_floor(pid, nbytes, rounds):
    """The copy alone, as a floor for the pause: seconds (median of `rounds`) to read `nbytes`
    of the target's private writable mappings with process_vm_readv, in 8 MiB pieces taken in
    turn by as many threads as memwatch's copy uses (the CPUs, at most 4), into buffers
    written beforehand (no page faults). ctypes releases the GIL during each call."""
    import ctypes
    import mmap
    import threading

    class IoVec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]

    libc = ctypes.CDLL(None, use_errno=True)
    pvr = libc.process_vm_readv
    pvr.restype = ctypes.c_ssize_t
    pvr.argtypes = [ctypes.c_int, ctypes.POINTER(IoVec), ctypes.c_ulong,
                    ctypes.POINTER(IoVec), ctypes.c_ulong, ctypes.c_ulong]
    spans, left = [], nbytes
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if fields[1].startswith("rw") and left > 0:
                spans.append((lo, min(hi - lo, left)))
                left -= spans[-1][1]
    piece = 8 << 20
    total = sum(n for _, n in spans)
    buf = mmap.mmap(-1, max(total, 1))
    anchor = ctypes.c_char.from_buffer(buf)
    base = ctypes.addressof(anchor)
    ctypes.memset(base, 1, total)
    pieces, at = [], 0
    for lo, n in spans:
        for off in range(0, n, piece):
            k = min(piece, n - off)
            pieces.append((lo + off, base + at, k))
            at += k
    threads = min(os.cpu_count() or 1, 4)
    times = []
    for _ in range(rounds + 1):
        nxt = iter(range(len(pieces)))
        lock = threading.Lock()

        def work():
            while True:
                with lock:
                    i = next(nxt, None)
                if i is None:
                    return
                remote, local, k = pieces[i]
                lv, rv = IoVec(local, k), IoVec(remote, k)
                pvr(pid, ctypes.byref(lv), 1, ctypes.byref(rv), 1, 0)

        ts = [threading.Thread(target=work) for _ in range(threads)]
        t0 = time.perf_counter()
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        times.append(time.perf_counter() - t0)
    del anchor
    buf.close()
    # (the first round, which warms the target's page tables in, left out)
    return statistics.median(times[1:])


def one_off(t, rounds):
    """Each round: memwatch twice and the in-target count once, interleaved (the order
    alternating); the two memwatch runs of a round fall into series A and B by turns, whose
    medians, side by side, are an A/A pair: the noise of this machine at that moment."""
    e2e, total, pause, walk, copy, rss, inproc = [], [], [], [], [], [], []
    aa = ([], [])
    for r in range(rounds):
        order = ("mw", "in", "mw") if r % 2 == 0 else ("in", "mw", "mw")
        k = 0
        for what in order:
            if what == "in":
                inproc.append(t.count())
                continue
            wall, out, maxrss, _ = run_memwatch(
                ["snapshot", "--pid", str(t.pid), "--format", "json", "--no-graph"])
            c = json.loads(out)
            e2e.append(wall)
            aa[(r + k) % 2].append(wall)
            k += 1
            total.append(c["total_us"] / 1e6)
            pause.append(c["pause_us"] / 1e6)
            walk.append(c["walk_us"] / 1e6)
            copy.append(c["copy_bytes"])
            rss.append(maxrss)
    med = statistics.median
    return {"e2e": med(e2e), "total": med(total), "pause": med(pause), "walk": med(walk),
            "copy": med(copy), "rss": max(rss), "inproc": med(inproc),
            "aa": (med(aa[0]), med(aa[1])),
            "floor": copy_floor_apart(t.pid, int(med(copy)), rounds)}


def watch(t, seconds):
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "w.db")
        wall, _, maxrss, cpu, (cpu_late, wall_late) = run_memwatch(
            ["--pid", str(t.pid), "--no-tui", "--record", db, "--duration", str(seconds),
             "--status-interval", "3600"], settle=SETTLE)
        rows = sqlite3.connect(db).execute(
            "SELECT pause_us, total_us, copy_bytes FROM censuses ORDER BY t_us").fetchall()
    if not rows:
        raise SystemExit("the watch took no census in %d s" % seconds)
    if len(rows) < 2:
        # (the census clock spent its CPU budget on one census: its figures stand for all)
        print("  note: the watch took one census in %d s; its figures are the first's" % seconds)
    later = rows[1:] or rows
    med = statistics.median
    return {"censuses": len(rows), "first_pause": rows[0][0] / 1e6,
            "first_total": rows[0][1] / 1e6,
            "pause": med(r[0] for r in later) / 1e6, "total": med(r[1] for r in later) / 1e6,
            "copy": med(r[2] for r in later), "rss": maxrss, "cpu": 100.0 * cpu / wall,
            "cpu_late": 100.0 * cpu_late / wall_late}


def soft_dirty_supported():
    """Does this kernel keep soft-dirty bits? (clear ours, write a page, look at pagemap)"""
    import mmap
    import struct
    try:
        page = mmap.mmap(-1, 4096)
        page[0] = 1
        addr = ctypes_address(page)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("4")
        page[0] = 2
        with open("/proc/self/pagemap", "rb") as f:
            f.seek(addr // 4096 * 8)
            entry = struct.unpack("<Q", f.read(8))[0]
        return bool(entry >> 55 & 1)
    except OSError:
        return False


def ctypes_address(buf):
    import ctypes
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


def soft_dirty_cost(t, cycles, phase):
    """The target's write speed (passes over its N/2 objects, each written) while its
    soft-dirty bits are cleared every 2 s, as a watch's censuses would (at most), against
    phases without: alternating phases, each compared with the mean of its neighbours."""
    import threading
    path = "/proc/%d/clear_refs" % t.pid
    with open(path, "w") as f:
        f.write("4")
    speeds = []
    for i in range(2 * cycles + 1):
        clearing = i % 2 == 1
        stop = threading.Event()

        def clear():
            while not stop.wait(2.0):
                with open(path, "w") as f:
                    f.write("4")

        th = threading.Thread(target=clear)
        if clearing:
            with open(path, "w") as f:
                f.write("4")
            th.start()
        speeds.append(t.touch(phase))
        stop.set()
        if clearing:
            th.join()
    ratios = [speeds[i] / ((speeds[i - 1] + speeds[i + 1]) / 2)
              for i in range(1, len(speeds) - 1, 2)]
    # the A/A pair: plain phases against their neighbours likewise
    sham = [speeds[i] / ((speeds[i - 2] + speeds[i + 2]) / 2)
            for i in range(2, len(speeds) - 2, 2)]
    return statistics.median(ratios), (statistics.median(sham) if sham else 1.0), speeds


def ms(s):
    return "%.1f ms" % (s * 1e3)


def mib(b):
    return "%d MiB" % (int(b) >> 20)


def size_name(n):
    return "%.2fM" % (n / 1e6) if n >= 1e6 else "%dk" % (n // 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="100000,1000000,5000000")
    ap.add_argument("--rounds", type=int, default=5)
    # a 1M-object census costs ~1 % of a core over a 25-s window: a short watch's CPU figure
    # moves by that much with the count of censuses that fall in it (the census clock paces
    # them by CPU, every ~10 s at 1M); two minutes hold about ten
    ap.add_argument("--watch-seconds", type=int, default=120)
    ap.add_argument("--array-gib", type=float, default=2)
    ap.add_argument("--quick", action="store_true", help="one-off censuses only")
    ap.add_argument("--copy-floor", nargs=3, type=int, metavar=("PID", "BYTES", "ROUNDS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.copy_floor:
        print(copy_floor(*args.copy_floor))
        return
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    python = real_python3()
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    print("memwatch heap census benchmark: CPython %s (%s), %d CPUs, %d rounds, medians"
          % (version, python, os.cpu_count(), args.rounds))
    print()
    print("1. one-off census (`memwatch snapshot --no-graph`) vs the target counting itself")
    header = ("objects", "obj memory", "mw e2e", "census", "pause", "copy alone", "walk",
              "copied", "in-target", "in-t/mw", "mw peak RSS", "RSS/obj")
    fmt = "%-8s %10s %10s %10s %9s %10s %9s %9s %10s %8s %11s %8s"
    print(fmt % header)
    goals = []
    sizes = [int(s) for s in args.sizes.split(",")]
    by_size = {}
    for size in sizes:
        t = Target(python, size)
        try:
            r = one_off(t, args.rounds)
            w = None
            if not args.quick and size >= 1_000_000:
                w = watch(t, args.watch_seconds)
        finally:
            t.close()
        by_size[size] = (t, r, w)
        print(fmt % (size_name(t.objects), mib(t.objmem), ms(r["e2e"]), ms(r["total"]),
                     ms(r["pause"]), ms(r["floor"]), ms(r["walk"]), mib(r["copy"]),
                     ms(r["inproc"]),
                     "%.2fx" % (r["inproc"] / r["e2e"]), mib(r["rss"]),
                     "%.2f" % (r["rss"] / t.objmem)))
        sys.stdout.flush()
        name = size_name(t.objects)
        if 0.5e6 <= t.objects <= 2e6:
            goals += [
                ("%s: end to end <= %d ms" % (name, GOAL_E2E_1M_MS), ms(r["e2e"]),
                 r["e2e"] * 1e3 <= GOAL_E2E_1M_MS),
                ("%s: faster than the in-target count" % name,
                 "%.2fx" % (r["inproc"] / r["e2e"]), r["e2e"] < r["inproc"]),
                ("%s: pause <= %d ms" % (name, GOAL_PAUSE_1M_MS),
                 "%s (copy alone %s)" % (ms(r["pause"]), ms(r["floor"])),
                 r["pause"] * 1e3 <= GOAL_PAUSE_1M_MS),
                ("%s: peak RSS <= %.2f x object memory" % (name, GOAL_RSS_RATIO),
                 "%.2f" % (r["rss"] / t.objmem), r["rss"] <= GOAL_RSS_RATIO * t.objmem),
            ]
        if t.objects >= 4e6:
            goals += [
                ("%s: end to end <= %d ms" % (name, GOAL_E2E_5M_MS), ms(r["e2e"]),
                 r["e2e"] * 1e3 <= GOAL_E2E_5M_MS),
                ("%s: pause <= %d ms" % (name, GOAL_PAUSE_5M_MS),
                 "%s (copy alone %s)" % (ms(r["pause"]), ms(r["floor"])),
                 r["pause"] * 1e3 <= GOAL_PAUSE_5M_MS),
                ("%s: peak RSS <= %.2f x object memory" % (name, GOAL_RSS_RATIO),
                 "%.2f" % (r["rss"] / t.objmem), r["rss"] <= GOAL_RSS_RATIO * t.objmem),
            ]
    print()
    print("A/A (memwatch's runs in two interleaved series, e2e medians): " + ", ".join(
        "%s %s vs %s (%+.0f %%)" % (size_name(by_size[s][0].objects), ms(by_size[s][1]["aa"][0]),
                                   ms(by_size[s][1]["aa"][1]),
                                   100.0 * (by_size[s][1]["aa"][1] / by_size[s][1]["aa"][0] - 1))
        for s in sizes))
    if not args.quick:
        print()
        print("2. a watch at the defaults, %d s (censuses after the first, medians)"
              % args.watch_seconds)
        fmt2 = "%-8s %10s %9s %12s %12s %9s %9s %10s %11s %13s %8s"
        print(fmt2 % ("objects", "obj memory", "censuses", "first pause", "first total",
                      "pause", "census", "copied", "mw CPU", "from %d s" % SETTLE, "RSS/obj"))
        for size in sizes:
            t, r, w = by_size[size]
            if w is None:
                continue
            print(fmt2 % (size_name(t.objects), mib(t.objmem), w["censuses"],
                          ms(w["first_pause"]), ms(w["first_total"]), ms(w["pause"]),
                          ms(w["total"]), mib(w["copy"]), "%.1f %%" % w["cpu"],
                          "%.1f %%" % w["cpu_late"], "%.2f" % (w["rss"] / t.objmem)))
            name = size_name(t.objects)
            goal_pause = GOAL_PAUSE_1M_MS if t.objects < 4e6 else GOAL_PAUSE_5M_MS
            goals.append(("%s watch: pause <= %d ms" % (name, goal_pause), ms(w["pause"]),
                          w["pause"] * 1e3 <= goal_pause))
            goals.append(("%s watch: peak RSS <= %.2f x object memory" % (name, GOAL_RSS_RATIO),
                          "%.2f" % (w["rss"] / t.objmem), w["rss"] <= GOAL_RSS_RATIO * t.objmem))
            if t.objects < 4e6:
                goals.append(("%s watch: memwatch CPU <= %d %% of a core" % (name, GOAL_CPU),
                              "%.1f %%" % w["cpu"], w["cpu"] <= GOAL_CPU))
                goals.append(("%s watch: the same from %d s on" % (name, SETTLE),
                              "%.1f %%" % w["cpu_late"], w["cpu_late"] <= GOAL_CPU))
        if args.array_gib > 0:
            print()
            print("3. arrays beside objects: 1M objects + %g GiB of bytearray data"
                  % args.array_gib)
            t = Target(python, 1_000_000, args.array_gib)
            try:
                r = one_off(t, 1)
                w = watch(t, args.watch_seconds // 2)
            finally:
                t.close()
            print("  target RSS %s, object memory %s" % (mib(t.rss), mib(t.objmem)))
            print("  snapshot: e2e %s, pause %s, copied %s, memwatch peak RSS %s (%.2f x)"
                  % (ms(r["e2e"]), ms(r["pause"]), mib(r["copy"]), mib(r["rss"]),
                     r["rss"] / t.objmem))
            print("  watch:    pause %s, census %s, copied %s, memwatch peak RSS %s (%.2f x),"
                  " CPU %.1f %%" % (ms(w["pause"]), ms(w["total"]), mib(w["copy"]),
                                   mib(w["rss"]), w["rss"] / t.objmem, w["cpu"]))
            goals.append(("arrays: snapshot peak RSS <= %.2f x object memory" % GOAL_RSS_RATIO,
                          "%.2f" % (r["rss"] / t.objmem), r["rss"] <= GOAL_RSS_RATIO * t.objmem))
            goals.append(("arrays: watch peak RSS <= %.2f x object memory" % GOAL_RSS_RATIO,
                          "%.2f" % (w["rss"] / t.objmem), w["rss"] <= GOAL_RSS_RATIO * t.objmem))
        print()
        print("4. what soft-dirty tracking costs the target's writes (1M objects, every object")
        print("   written in a loop; its bits cleared every 2 s vs not, alternating 6 s phases)")
        if not soft_dirty_supported():
            print("  skipped: this kernel keeps no soft-dirty bits (CONFIG_MEM_SOFT_DIRTY is not"
                  " set): --soft-dirty cannot be used or measured here")
        else:
            t = Target(python, 1_000_000)
            try:
                ratio, sham, speeds = soft_dirty_cost(t, 5, 6)
            finally:
                t.close()
            print("  passes/s per phase: %s" % " ".join("%.2f" % v for v in speeds))
            print("  slowdown while cleared: %.2f %% (A/A, plain vs plain: %.2f %%)"
                  % (100 * (1 - ratio), 100 * (1 - sham)))
            goals.append(("soft-dirty: target's writes slowed <= 1 %",
                          "%.2f %%" % (100 * (1 - ratio)), 1 - ratio <= 0.01))
    print()
    print("goals:")
    for name, got, ok in goals:
        print("  %-48s %-26s %s" % (name, got, "PASS" if ok else "MISSED"))
    print()
    import resource
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print("this script's own peak RSS: %s (a memwatch started from it counts it as its own peak"
          " if larger: memwatch's figures above it are its own)" % mib(own))
    print()
    print("mw e2e: wall time of `memwatch snapshot --format json` (process start, attach, census,")
    print("JSON); census: its total_us (memory map, buffers, pause + copy, walk, names); pause:")
    print("target stopped; copy alone: reading as many bytes of the target's writable memory with")
    print("process_vm_readv on as many threads, into buffers written before, and nothing else (a")
    print("floor for the pause on this machine); in-target: Counter(type(o).__name__ for o in gc.get_objects()) timed in")
    print("the target; obj memory: pymalloc arenas + objects larger than 512 bytes; RSS/obj:")
    print("memwatch's peak RSS over the object memory; mw CPU: memwatch's CPU over the whole")
    print("watch (attaching and the first census included), and from %d s on (what a watch that" % SETTLE)
    print("keeps running costs).")


if __name__ == "__main__":
    main()
