#!/usr/bin/env python3
"""Time to the first container verdict on a big heap (issue 11's goal: <= 15 s at 1 M objects,
<= 30 s at 5 M).

For each size, tests/targets/big_heap_leak.py builds a steady heap of N objects and then leaks
100 dict entries a second into `_SESSIONS`; `memwatch --pid` watches it for --seconds, and the
report says when the `_SESSIONS` finding was first supported (seconds after attach), next to
the census figures (how many censuses, their pause and total time) that explain it.

usage: scripts/eval_big_heap.py [--sizes 1000000,5000000] [--seconds 45] [--python python3]
"""
import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMWATCH = os.path.join(ROOT, "target", "release", "memwatch")
TARGET = os.path.join(ROOT, "tests", "targets", "big_heap_leak.py")
GOALS = {1_000_000: 15.0, 5_000_000: 30.0}


def run(python, n, seconds, tmp):
    t = subprocess.Popen([python, TARGET, str(n)], stdout=subprocess.PIPE, text=True)
    try:
        ready = t.stdout.readline().split()
        if not ready or ready[0] != "ready":
            sys.exit("the target did not start")
        objects = int(ready[1])
        session = os.path.join(tmp, "big-%d.db" % n)
        subprocess.run([MEMWATCH, "--pid", str(t.pid), "--no-tui", "--duration", str(seconds),
                        "--record", session, "--force", "--status-interval", "3600"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    finally:
        t.kill()
        t.wait()
    rep = subprocess.run([MEMWATCH, "report", session, "--format", "json"],
                         capture_output=True, text=True, check=True)
    findings = json.loads(rep.stdout)["findings"]
    hit = [f for f in findings if f["name"] == "__main__._SESSIONS"]
    con = sqlite3.connect(session)
    cs = con.execute("SELECT count(*), max(pause_us), max(total_us) FROM censuses").fetchone()
    con.close()
    return objects, (hit[0]["first_seen"] / 1e6 if hit else None), cs, findings


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000000,5000000")
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--python", default="python3")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    print("size        objects   first verdict   goal    censuses  max pause  max census")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in args.sizes.split(",")):
            objects, first, (count, pause, total), findings = run(args.python, n, args.seconds, tmp)
            goal = GOALS.get(n, 30.0)
            verdict = "PASS" if first is not None and first <= goal else "MISSED"
            others = [f["name"] for f in findings if f["name"] != "__main__._SESSIONS"
                      and f["severity"] == "important"]
            print("%-9d %9d   %13s   %4.0f s  %s  %8d  %6.0f ms  %7.0f ms%s" % (
                n, objects, "%.1f s" % first if first is not None else "none", goal, verdict,
                count, (pause or 0) / 1e3, (total or 0) / 1e3,
                "   other Important findings: %s" % ", ".join(others) if others else ""))


if __name__ == "__main__":
    main()
