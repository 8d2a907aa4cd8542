"""Smell 2 (leak): log files opened for every few requests and never closed; the service
keeps them in a list of "active writers"."""
import os
import tempfile

from _service import serve

LOG_DIR = tempfile.mkdtemp(prefix="smell-logs-")
_active_writers = []


def handle(request_id):
    if request_id % 25 == 0:
        path = os.path.join(LOG_DIR, "request-%d.log" % request_id)
        f = open(path, "w")  # never closed
        f.write("request %d\n" % request_id)
        _active_writers.append(f)


serve(handle)
