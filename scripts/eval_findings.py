#!/usr/bin/env python3
"""Evaluate memwatch's findings on the smell suite: precision and recall per kind, and the time
each expected verdict took.

Runs every program of tests/targets/smells/ (ground truth: expected.json) under
`memwatch --pid` for --seconds, on each interpreter given (default: every supported one that
pyenv lists, else python3), a few at a time, and reads the findings from the session reports.

  true positive   a finding of the expected kind (and name or line) on a leaky program
  false negative  a leaky program without its expected finding
  (programs that need numpy run with scripts/test-venv.sh's numpy for the interpreter, or are
  listed as skipped)
  false positive  an Important finding on a control, or a finding of another kind than
                  expected on any program (Suggestions on controls that allow them excepted)

Each --python is an interpreter command: a path, or words such as
"chroot /var/tmp/memwatch-sid python3.15" (a chroot's interpreter: the programs are copied into
its /tmp first). The default is every supported interpreter pyenv lists, python3, and the
interpreters of the Debian sid chroot of scripts/sid-chroot.sh if it is there
($MEMWATCH_SID_ROOT, else /var/tmp/memwatch-sid).

usage: scripts/eval_findings.py [--seconds 22] [--at-once 5] [--python CMD ...] [--only PROGRAM ...]
"""
import argparse
import atexit
import collections
import glob
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMELLS = os.path.join(ROOT, "tests", "targets", "smells")
MEMWATCH = os.path.join(ROOT, "target", "release", "memwatch")


SID_ROOT = os.environ.get("MEMWATCH_SID_ROOT", "/var/tmp/memwatch-sid")
SID_PYTHONS = ["python3.13", "python3.14", "python3.15", "python3.14d", "python3.15d"]


def interpreters(given):
    """Interpreter commands, each a list of words."""
    if given:
        return [shlex.split(g) for g in given]
    found = []
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip()
        for d in sorted(glob.glob(os.path.join(root, "versions", "3.*"))):
            v = tuple(int(x) for x in os.path.basename(d).split(".")[:2])
            if (3, 8) <= v <= (3, 15):
                found.append((v, [os.path.join(d, "bin", "python3")]))
    except OSError:
        pass
    found = [cmd for _, cmd in sorted(found)]
    found.append([subprocess.run(["python3", "-c", "import sys;print(sys.executable)"],
                                 capture_output=True, text=True).stdout.strip()])
    if os.path.exists(os.path.join(SID_ROOT, ".memwatch-sid-complete")):
        for p in SID_PYTHONS:
            if os.path.exists(os.path.join(SID_ROOT, "usr", "bin", p)):
                found.append(["chroot", SID_ROOT, p])
    else:
        print("note: no sid chroot at %s (scripts/sid-chroot.sh makes it)" % SID_ROOT, file=sys.stderr)
    return found


def smells_dir(python):
    """Where the programs are, as the interpreter sees them, and as this machine sees them."""
    if python[0] == "chroot":
        root = python[1]
        inside = "/tmp/memwatch-eval-%d/smells" % os.getpid()
        host = root + inside
        if not os.path.exists(host):
            shutil.copytree(SMELLS, host)
            atexit.register(shutil.rmtree, os.path.dirname(host), True)
        return inside
    return SMELLS


def marker_line(program, marker):
    with open(os.path.join(SMELLS, program)) as f:
        for i, line in enumerate(f, 1):
            if marker in line:
                return i
    return None


def numpy_path(python, xy):
    """numpy for this interpreter, as scripts/test-venv.sh installs it (None: not there)."""
    if python[0] == "chroot":
        inside = "/opt/memwatch-numpy/%s/site-packages" % xy
        return inside if os.path.isdir(python[1] + inside + "/numpy") else None
    d = os.path.join(ROOT, "target", "numpy", xy, "site-packages")
    return d if os.path.isdir(os.path.join(d, "numpy")) else None


def watch(python, program, seconds, tmp, numpy=None):
    env = dict(os.environ, PYTHONPATH=numpy) if numpy else None
    target = subprocess.Popen(python + [os.path.join(smells_dir(python), program)],
                              stdout=subprocess.PIPE, text=True, env=env)
    try:
        if target.stdout.readline().strip() != "ready":
            return {"error": "target did not start"}
        session = os.path.join(tmp, "%s-%d.db" % (program, target.pid))
        mw = subprocess.run([MEMWATCH, "--pid", str(target.pid), "--no-tui", "--duration", str(seconds),
                             "--record", session], capture_output=True, text=True)
        if mw.returncode != 0:
            return {"error": mw.stderr.strip()}
        rep = subprocess.run([MEMWATCH, "report", session, "--format", "json"], capture_output=True, text=True)
        return {"findings": json.loads(rep.stdout)["findings"]}
    finally:
        target.kill()
        target.wait()


def matches(f, want, program):
    if f["kind"] != want.get("kind") or f["severity"] != want.get("severity"):
        return False
    if "name" in want and f["name"] != want["name"]:
        return False
    if "name_contains" in want and want["name_contains"] not in (f["name"] or ""):
        return False
    if "line_marker" in want:
        where = want.get("line_file", program)
        at, slack = marker_line(where, want["line_marker"]), want.get("line_slack", 0)
        if f["line"] is not None and not (f.get("file") or "").endswith("/" + where):
            return False
        if f["line"] is None:
            if not want.get("line_optional"):
                return False
        elif abs(f["line"] - at) > slack:
            return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=22)
    ap.add_argument("--at-once", type=int, default=5)
    ap.add_argument("--python", action="append", default=[])
    ap.add_argument("--only", action="append", default=[],
                    help="run only these programs of the suite (repeatable)")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    with open(os.path.join(SMELLS, "expected.json")) as f:
        expected = {k: v for k, v in json.load(f).items()
                    if not k.startswith("_") and (not args.only or k in args.only)}
    tp, fp, fn = collections.Counter(), collections.Counter(), collections.Counter()
    times = collections.defaultdict(list)
    rows = []
    per_interp = []
    for python in interpreters(args.python):
        smells_dir(python)
        version = subprocess.run(python + ["-c", "import sys; print('%d.%d.%d%s' % (sys.version_info[:3] + (sys.abiflags,)))"],
                                 capture_output=True, text=True).stdout.strip()
        if python[0] == "chroot":
            version = "sid " + version
        itp, ifp, ifn, itimes = 0, 0, 0, []
        xy = ".".join(version.split()[-1].split(".")[:2])
        numpy = None if version.endswith("d") else numpy_path(python, xy)
        programs = []
        for p in sorted(expected):
            if expected[p].get("needs") == "numpy" and numpy is None:
                rows.append((version, p, "skipped: no numpy for this interpreter (scripts/test-venv.sh)"))
            else:
                programs.append(p)
        results = {}
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(0, len(programs), args.at_once):
                threads = []
                for p in programs[i:i + args.at_once]:
                    t = threading.Thread(target=lambda p=p: results.__setitem__(p, watch(
                        python, p, args.seconds, tmp, numpy if expected[p].get("needs") else None)))
                    t.start()
                    threads.append(t)
                for t in threads:
                    t.join()
        for program in programs:
            want, res = expected[program], results[program]
            if "error" in res:
                rows.append((version, program, "ERROR " + res["error"]))
                if not want.get("control"):
                    fn[want["kind"]] += 1
                    ifn += 1
                continue
            found = res["findings"]
            hit = None
            if not want.get("control"):
                hit = next((f for f in found if matches(f, want, program)), None)
                if hit:
                    tp[want["kind"]] += 1
                    itp += 1
                    times[want["kind"]].append(hit["first_seen"] / 1e6)
                    itimes.append(hit["first_seen"] / 1e6)
                else:
                    fn[want["kind"]] += 1
                    ifn += 1
            for f in found:
                if f is hit:
                    continue
                allowed = want.get("control") and want.get("allowed") == f["kind"] and f["severity"] == "suggestion"
                if not allowed:
                    fp[f["kind"]] += 1
                    ifp += 1
            rows.append((version, program, "; ".join(
                "%s %s %s%s at %.1f s" % (f["severity"], f["kind"], f["name"],
                                          " line %s" % f["line"] if f["line"] else "", f["first_seen"] / 1e6)
                for f in found) or "(no findings)"))
        per_interp.append((version, itp, ifp, ifn, itimes))
    for version, program, text in rows:
        print("%-16s %-26s %s" % (version, program, text))
    print()
    print("%-16s %5s %5s %5s %10s %8s %26s" % ("interpreter", "TP", "FP", "FN", "precision", "recall",
                                              "time to verdict (s)"))
    for version, itp, ifp, ifn, itimes in per_interp:
        tv = "median %.1f, max %.1f" % (statistics.median(itimes), max(itimes)) if itimes else "-"
        print("%-16s %5d %5d %5d %10.2f %8.2f %26s" % (version, itp, ifp, ifn, itp / max(itp + ifp, 1),
                                                      itp / max(itp + ifn, 1), tv))
    print()
    print("%-20s %5s %5s %5s %10s %8s %22s" % ("kind", "TP", "FP", "FN", "precision", "recall", "time to verdict (s)"))
    for kind in sorted(set(tp) | set(fp) | set(fn)):
        p = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else float("nan")
        r = tp[kind] / (tp[kind] + fn[kind]) if tp[kind] + fn[kind] else float("nan")
        t = times[kind]
        tv = "median %.1f, max %.1f" % (statistics.median(t), max(t)) if t else "-"
        print("%-20s %5d %5d %5d %10.2f %8.2f %22s" % (kind, tp[kind], fp[kind], fn[kind], p, r, tv))
    total_tp, total_fp, total_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    print("%-20s %5d %5d %5d %10.2f %8.2f" % ("all", total_tp, total_fp, total_fn,
                                             total_tp / max(total_tp + total_fp, 1), total_tp / max(total_tp + total_fn, 1)))
    sys.exit(0 if total_fn == 0 and total_fp == 0 else 1)


if __name__ == "__main__":
    main()
