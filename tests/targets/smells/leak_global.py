"""Smell 7 (leak): a module-level list records every error and is never cleared."""
from _service import serve

ERRORS = []


def log_error(request_id):
    ERRORS.append({"request": request_id, "message": "timeout talking to upstream"})


def handle(request_id):
    if request_id % 2 == 0:
        log_error(request_id)


serve(handle)
