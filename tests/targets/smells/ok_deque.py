"""Control: a module-level deque(maxlen=...) of recent events."""
import collections

from _service import serve

RECENT = collections.deque(maxlen=2000)


def handle(request_id):
    RECENT.append({"request": request_id})


serve(handle)
