"""Smell 4: a report endpoint reads a whole 60 MB export into memory at once."""
import os
import tempfile

from _service import serve

EXPORT = os.path.join(tempfile.mkdtemp(prefix="smell-export-"), "export.csv")


def make_export():
    with open(EXPORT, "w") as f:
        line = "x" * 99 + "\n"
        for _ in range(600000):
            f.write(line)


def report():
    with open(EXPORT) as f:
        data = f.read()  # the whole export in memory
    return data.count("\n")


held = []


def handle(request_id):
    if request_id % 150 == 0:
        held[:] = [report()]


serve(handle, warmup=make_export)
