"""Control: the report endpoint streams the export line by line."""
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
    count = 0
    with open(EXPORT) as f:
        for _line in f:  # one line at a time
            count += 1
    return count


def handle(request_id):
    if request_id % 150 == 0:
        report()


serve(handle, warmup=make_export)
