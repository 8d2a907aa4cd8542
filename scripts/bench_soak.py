#!/usr/bin/env python3
"""Soak: memwatch's own cost over a long watch, and the session's size, extrapolated per day.

Two services (tests/targets/soak_service.py, each working half of the time like a service that
is not saturated) run for the whole benchmark: one leaking (a module-level dict gaining
--leak entries a second), one steady. Each is watched by its own `memwatch --pid PID
--no-tui --serve PORT --record FILE` at the defaults, but for a compressed retention clock
(--retention, default 60 s instead of 1 h: the file then goes through every tier of thinning,
full resolution → 1 a second → 1 a minute, within --minutes). The endpoints are scraped every
15 s as Prometheus would.

Printed every --every seconds, side by side for both watches: memwatch's RSS and CPU (% of a
core over the interval), the session file's size (with its -wal), and the leaking service's
`memwatch_findings` and its dict's length as the endpoint shows them. Then:

  * memwatch RSS and CPU: first vs last quarter of the run        goal: flat (RSS +≤10 %)
  * the target's slowdown: iterations per window while watched vs the unwatched phases
    before and after                                                goal: <= 1 %
  * session size per day and per week at the default retention (1 h), from the growth
    rates of each tier measured here: full resolution (the first window), the second tier
    (until 24 windows) and the third (after)                        goal: a week <= 100 MB

usage: scripts/bench_soak.py [--minutes 30] [--retention 60] [--every 60] [--leak 20]
                             [--python python3] [--memwatch BIN]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVICE = os.path.join(ROOT, "tests", "targets", "soak_service.py")


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None


def cpu_s(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def size(path):
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.path.getsize(path + suffix)
        except OSError:
            pass
    return total


def scrape(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            return r.read().decode()
    except OSError:
        return ""


def metric(text, name, needle=""):
    for line in text.splitlines():
        if line.startswith(name + "{") and needle in line:
            try:
                return float(line.rsplit(" ", 1)[1])
            except ValueError:
                return None
    return None


def windows(path):
    out = []
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) == 2:
                out.append((float(p[0]), int(p[1])))
    return out


def verdict(ok):
    return "PASS" if ok else "MISSED"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--retention", type=float, default=60, help="seconds (compressed clock)")
    ap.add_argument("--every", type=float, default=60)
    ap.add_argument("--leak", type=float, default=20, help="entries a second")
    ap.add_argument("--baseline", type=float, default=60, help="unwatched seconds before/after")
    ap.add_argument("--python", default="python3")
    ap.add_argument("--memwatch")
    args = ap.parse_args()
    memwatch = args.memwatch or os.path.join(ROOT, "target", "release", "memwatch")
    if not args.memwatch:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="memwatch-soak-")
    services, watches = {}, {}
    try:
        for name, leak in (("leaking", args.leak), ("steady", 0)):
            log = os.path.join(tmp, name + ".txt")
            p = subprocess.Popen([args.python, SERVICE, log, "--leak", str(leak), "--duty", "0.5"],
                                 stdout=subprocess.PIPE, text=True)
            assert p.stdout.readline().strip() == "ready"
            services[name] = (p, log)
        print("soak: %s and %s service (tests/targets/soak_service.py, half busy), %g min "
              "watched, --retention %gs (compressed: the default is 1 h), unwatched %g s before "
              "and after" % ("leaking (%g entries/s)" % args.leak, "steady", args.minutes,
                             args.retention, args.baseline))
        time.sleep(args.baseline)
        t_on = time.monotonic()
        for k, name in enumerate(("leaking", "steady")):
            port = 19460 + k
            db = os.path.join(tmp, name + ".db")
            w = subprocess.Popen([memwatch, "--pid", str(services[name][0].pid), "--no-tui",
                                  "--serve", str(port), "--record", db, "--retention",
                                  "%gs" % args.retention, "--status-interval", "3600"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            watches[name] = (w, port, db)
        rows = []  # (elapsed, name, rss_kib, cpu_s, size)
        print()
        print("   min  | %-44s | %-44s" % ("leaking: RSS  CPU%  session  findings  _SEEN len",
                                              "steady: RSS  CPU%  session  findings"))
        last_cpu = {n: (0.0, t_on) for n in watches}
        end = t_on + args.minutes * 60
        next_print = t_on + args.every
        while time.monotonic() < end:
            time.sleep(min(15, max(end - time.monotonic(), 0)))
            texts = {n: scrape(watches[n][1]) for n in watches}
            now = time.monotonic()
            if now + 1 < next_print and now < end:
                continue
            next_print += args.every
            cells = []
            for n in ("leaking", "steady"):
                w, port, db = watches[n]
                r, c, s = rss_kib(w.pid), cpu_s(w.pid), size(db)
                c0, t0 = last_cpu[n]
                share = (c - c0) / (now - t0) * 100 if c is not None else float("nan")
                last_cpu[n] = (c, now)
                rows.append((now - t_on, n, r, c, s))
                f = metric(texts[n], "memwatch_findings", 'severity="important"')
                cell = "%6.1f MiB %5.2f %6.1f MiB %4s" % ((r or 0) / 1024, share, s / 2**20,
                                                         "%d" % f if f is not None else "-")
                if n == "leaking":
                    ln = metric(texts[n], "memwatch_container_length", "_SEEN")
                    cell += "  %9s" % ("%d" % ln if ln is not None else "-")
                cells.append(cell)
            print("  %5.1f | %-44s | %-44s" % ((now - t_on) / 60, cells[0], cells[1]))
        for n in watches:
            watches[n][0].terminate()
        for n in watches:
            watches[n][0].wait(timeout=60)
        t_off = time.monotonic()
        time.sleep(args.baseline)
    finally:
        for w, _, _ in watches.values():
            if w.poll() is None:
                w.kill()
        for p, _ in services.values():
            p.kill()
            p.wait()

    print()
    q = args.minutes * 60 / 4
    for n in ("leaking", "steady"):
        mine = [r for r in rows if r[1] == n]
        first = [r for r in mine if r[0] <= q]
        last = [r for r in mine if r[0] >= 3 * q]

        def cpu_share(rs):
            if len(rs) < 2:
                return float("nan")
            return (rs[-1][3] - rs[0][3]) / (rs[-1][0] - rs[0][0]) * 100
        r_first = statistics.median(r[2] for r in first) if first else float("nan")
        r_last = statistics.median(r[2] for r in last) if last else float("nan")
        print("%s: memwatch RSS median %.1f MiB in the first quarter, %.1f MiB in the last "
              "(%+.1f %%; goal flat, <= +10 %%): %s; CPU %.2f %% then %.2f %% of a core"
              % (n, r_first / 1024, r_last / 1024, (r_last / r_first - 1) * 100,
                 verdict(r_last <= r_first * 1.10), cpu_share(first), cpu_share(last)))
        w = windows(services[n][1])
        on = [c for t, c in w if t_on + 5 <= t - 1 and t <= t_off - 1]
        off = [c for t, c in w if t < t_on - 1 or t > t_off + 3]
        if on and off:
            ratio = statistics.median(on) / statistics.median(off)
            print("    target slowdown: %.2f %% (iterations per second, watched vs unwatched "
                  "before and after; goal <= 1 %%): %s"
                  % ((1 - ratio) * 100, verdict(ratio >= 0.99)))
    # session size per day at the default retention, from the tiers' growth rates
    W = args.retention
    for n in ("leaking", "steady"):
        mine = [(r[0], r[4]) for r in rows if r[1] == n]

        def rate(a, b):
            pts = [p for p in mine if a <= p[0] <= b]
            if len(pts) < 2:
                return None
            return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])
        full = rate(0, W * 1.0) or rate(0, max(W, args.every * 1.5))
        tier1 = rate(W * 3, W * 23)
        tier2 = rate(W * 25, args.minutes * 60)
        if None in (full, tier1):
            print("%s: the run is too short for the size extrapolation" % n)
            continue
        day = full * 3600 + tier1 * 23 * 3600
        week = day + (tier2 if tier2 is not None else tier1 / 60) * 6 * 86400
        print("%s: session grew %.1f KB/s at full resolution, %.2f KB/s in the second tier, %s "
              "in the third -> at the default retention (1 h): %.1f MB a day, %.1f MB a week "
              "(goal <= 100 MB): %s"
              % (n, full / 1e3, tier1 / 1e3,
                 "%.3f KB/s" % (tier2 / 1e3) if tier2 is not None else "(not reached)",
                 day / 1e6, week / 1e6, verdict(week <= 100e6)))
    print("files: %s" % tmp)


if __name__ == "__main__":
    main()
