"""A holder in a functools.partial: the handler is `record` with its list bound in advance,
so the list is reachable only as `handler.args[0]` (no global names it)."""
import functools

from _service import serve


def record(seen, value):
    seen.append(value)  # the bound list grows


handler = functools.partial(record, [])


def handle(request_id):
    if request_id % 2 == 0:
        handler(("request", request_id))


serve(handle)
