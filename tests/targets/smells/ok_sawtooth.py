"""Control: a batch job that accumulates a batch, flushes it, and starts again."""
from _service import serve

BATCH = []


def flush():
    total = sum(len(r["payload"]) for r in BATCH)
    BATCH.clear()
    return total


def handle(request_id):
    BATCH.append({"request": request_id, "payload": "x" * 200})
    if len(BATCH) >= 3000:
        flush()


serve(handle)
