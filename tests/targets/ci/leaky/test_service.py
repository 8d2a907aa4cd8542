"""A pytest suite whose one test leaks: every request it serves is kept in a module-level list
(tests/ci_mode.rs runs `memwatch run --fail-on important -- pytest -x` on it: exit 30)."""
import time

_SERVED = []


def serve(n):
    _SERVED.append("request %d %s" % (n, "x" * 200))  # LEAK
    return len(_SERVED)


def test_serves_requests_for_a_while():
    deadline = time.monotonic() + 14
    n = 0
    while time.monotonic() < deadline:
        serve(n)
        n += 1
        time.sleep(0.001)
    assert n > 1000
