"""The same suite without the leak: each request's record is dropped once served (the
control of tests/ci_mode.rs: exit 0)."""
import time


def serve(n, recent):
    recent.append("request %d %s" % (n, "x" * 200))
    if len(recent) > 100:
        recent.pop(0)
    return len(recent)


def test_serves_requests_for_a_while():
    deadline = time.monotonic() + 14
    recent = []
    n = 0
    while time.monotonic() < deadline:
        serve(n, recent)
        n += 1
        time.sleep(0.001)
    assert n > 1000
