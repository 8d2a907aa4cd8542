#!/usr/bin/env python3
"""Soak: memwatch's own cost over a long watch, and the session's size, extrapolated per day.

Three services (tests/targets/soak_service.py, each working half of the time like a service that
is not saturated) run for the whole benchmark: one leaking (a module-level dict gaining
--leak entries a second), one steady, and an unwatched control whose speed gives the
machine's drift. Each is watched by its own `memwatch --pid PID
--no-tui --serve PORT --record FILE` at the defaults, but for a compressed retention clock
(--retention, default 60 s instead of 1 h: the file then goes through every tier of thinning,
full resolution → 1 a second → 1 a minute, within --minutes). The endpoints are scraped every
15 s as Prometheus would.

Printed every --every seconds, side by side for both watches: memwatch's RSS and CPU (% of a
core over the interval), the session file's size (with its -wal), and the leaking service's
`memwatch_findings` and its dict's length as the endpoint shows them. Then:

  * memwatch RSS and CPU: second vs last quarter of the run (the first fills its bounded
    series)                         goal: flat (RSS +≤10 %, or no more than the target's heap)
  * the target's slowdown: iterations per window relative to the control, while watched vs
    the unwatched phases before and after                           goal: <= 1 %
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


def extrapolate(db, window_s):
    """(bytes a day, bytes a week, detail) at the default retention, from the session's
    tables: rows per second while at full resolution (the last window, which retention has
    not thinned), bytes per row, and the rows each tier keeps."""
    import sqlite3
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
        pages = dict(con.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
        end = con.execute("SELECT max(t_us) FROM samples").fetchone()[0] or 0
        since = max(end - window_s * 1e6 * 0.9, 0)
        span = (end - since) / 1e6

        def rows(table, recent=True):
            where = " WHERE t_us >= %d" % since if recent else ""
            return con.execute("SELECT count(*) FROM %s%s" % (table, where)).fetchone()[0]

        def per_row(tables, count):
            b = sum(pages.get(t, 0) for t in tables)
            return b / count if count else 0.0
        censuses = rows("censuses", False)
        # a census is its row and its change rows (types, containers) and their indexes
        census_bytes = per_row(["censuses", "census_types", "census_containers",
                                "census_types_census", "census_containers_census"], censuses)
        tables = {
            # (rows a second at full resolution, bytes a row, rows a second kept in tier 1, tier 2)
            "samples": (rows("samples") / span,
                        per_row(["samples"], rows("samples", False)), 1.0, 1 / 60),
            "fds": (rows("fds") / span, per_row(["fds"], rows("fds", False)), 1.0, 1 / 60),
            "rollups": (rows("rollups") / span,
                        per_row(["rollups"], rows("rollups", False)), 1 / 60, 1 / 600),
            "censuses": (rows("censuses") / span, census_bytes, 1 / 60, 1 / 600),
            "lengths": (rows("container_lengths") / span,
                        per_row(["container_lengths", "container_lengths_t"],
                                rows("container_lengths", False)), None, None),
        }
    except sqlite3.Error:
        return None
    day = week = 0.0
    parts = []
    for name, (rate, b, t1, t2) in tables.items():
        # lengths keep one a minute per container: at most the rate
        t1 = rate if t1 is None else min(t1, rate)
        t2 = rate if t2 is None else min(t2, rate)
        if name == "lengths":
            t1, t2 = min(rate, 1 / 60 * 10), min(rate, 1 / 600 * 10)
        d = b * (rate * 3600 + t1 * 23 * 3600)
        day += d
        week += d + b * t2 * 6 * 86400
        parts.append("%s %.0f B/row %.2f/s" % (name, b, rate))
    return day, week, ", ".join(parts)


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
        # the control runs the same work unwatched throughout: the machine's drift
        for name, leak in (("leaking", args.leak), ("steady", 0), ("control", 0)):
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
                rows.append((now - t_on, n, r, c, s, rss_kib(services[n][0].pid)))
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
    control = windows(services["control"][1])
    for n in ("leaking", "steady"):
        mine = [r for r in rows if r[1] == n]
        # the first quarter fills memwatch's bounded series and caches: compare the second
        # with the last
        second = [r for r in mine if q < r[0] <= 2 * q]
        last = [r for r in mine if r[0] >= 3 * q]

        def cpu_share(rs):
            if len(rs) < 2:
                return float("nan")
            return (rs[-1][3] - rs[0][3]) / (rs[-1][0] - rs[0][0]) * 100

        def med(rs, i):
            v = [r[i] for r in rs if r[i] is not None]
            return statistics.median(v) if v else float("nan")
        r2, rl = med(second, 2), med(last, 2)
        t2, tl = med(second, 5), med(last, 5)
        # memwatch copies the target's heap for each census: a growing heap grows it
        allowed = max(r2 * 0.10, tl - t2 + r2 * 0.05)
        print("%s: memwatch RSS median %.1f MiB in the second quarter, %.1f MiB in the last "
              "(%+.1f MiB; the target's RSS %+.1f MiB); goal flat (<= +10 %%, or no more than "
              "the target's heap grew): %s; CPU %.2f %% then %.2f %% of a core"
              % (n, r2 / 1024, rl / 1024, (rl - r2) / 1024, (tl - t2) / 1024,
                 verdict(rl - r2 <= allowed), cpu_share(second), cpu_share(last)))
        # slowdown against the unwatched control, window by window (the machine's drift
        # hits both alike)
        w = windows(services[n][1])

        def ratios(inside):
            out = []
            j = 0
            for t, c in w:
                if not inside(t):
                    continue
                while j + 1 < len(control) and control[j + 1][0] <= t:
                    j += 1
                if control and abs(control[j][0] - t) < 1.0 and control[j][1] > 0:
                    out.append(c / control[j][1])
            return out
        on = ratios(lambda t: t_on + 5 <= t - 1 and t <= t_off - 1)
        off = ratios(lambda t: t < t_on - 1 or t > t_off + 3)
        if on and off:
            ratio = statistics.median(on) / statistics.median(off)
            print("    target slowdown: %.2f %% (iterations per second relative to the unwatched "
                  "control service, watched vs the unwatched phases before and after; goal <= "
                  "1 %%): %s" % ((1 - ratio) * 100, verdict(ratio >= 0.99)))
    c_on = [c for t, c in control if t_on + 5 <= t - 1 and t <= t_off - 1]
    c_off = [c for t, c in control if t < t_on - 1 or t > t_off + 3]
    if c_on and c_off:
        print("control (unwatched throughout): %.2f %% slower while the others were watched "
              "(memwatch's CPU taken from the machine, and its drift)"
              % ((1 - statistics.median(c_on) / statistics.median(c_off)) * 100))
    # session size per day and week at the default retention (1 h), from what the files
    # hold: bytes per row of each table (SQLite's dbstat), the rate rows arrive at in the
    # full-resolution window, and what each tier keeps (src/session/retention.rs)
    for n in ("leaking", "steady"):
        est = extrapolate(watches[n][2], args.retention)
        if est is None:
            print("%s: cannot read the session for the size extrapolation" % n)
            continue
        day, week, detail = est
        print("%s: session %.1f MB at the end (%s); at the default retention (1 h): %.1f MB a "
              "day, %.1f MB a week (goal <= 100 MB): %s"
              % (n, size(watches[n][2]) / 1e6, detail, day / 1e6, week / 1e6,
                 verdict(week <= 100e6)))
    print("files: %s" % tmp)


if __name__ == "__main__":
    main()
