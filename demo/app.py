"""The process-tree demo of the README: a WSGI app for gunicorn whose workers leak.

    python3 demo/load.py 127.0.0.1:8000 --seconds 40 &
    memwatch run --subprocesses --duration 30 -- gunicorn -w 4 -b 127.0.0.1:8000 --chdir demo app:app

Each worker remembers every request it served in a module-level dict that nothing trims (the
leak memwatch names, in the worker that holds it); the page it renders is steady.
"""
import json
import os
import time

# request number -> what was asked: one entry per request, forever
_RECENT = {}


def app(environ, start_response):
    n = len(_RECENT)
    _RECENT[n] = {
        "path": environ.get("PATH_INFO", ""),
        "query": environ.get("QUERY_STRING", ""),
        "agent": environ.get("HTTP_USER_AGENT", ""),
        "at": time.time(),
    }
    body = json.dumps({"worker": os.getpid(), "served": n + 1}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
