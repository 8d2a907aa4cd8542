"""A holder under a dunder name: every distinct warning text adds a key to the module's
`__warningregistry__` (the warnings module's "once per text and location" memory), so a
warning whose message carries a request id leaks one entry per request."""
import os
import sys
import warnings

from _service import serve

sys.stderr = open(os.devnull, "w")  # the warnings themselves are not the point


def handle(request_id):
    if request_id % 2 == 0:
        warnings.warn("slow upstream for request %d" % request_id)  # a new registry key each time


serve(handle)
