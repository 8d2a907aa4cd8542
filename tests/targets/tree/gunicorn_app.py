"""A WSGI app for gunicorn whose workers keep every request in a module-level list."""
import os

_AUDIT = []


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/leak":
        _AUDIT.append("%s %s %s" % (os.getpid(), environ.get("QUERY_STRING"), "w" * 64))
    body = b"ok %d\n" % len(_AUDIT)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
