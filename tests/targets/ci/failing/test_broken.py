"""A suite with a failing test and no leak: pytest exits 1, and so does `memwatch run
--fail-on important -- pytest` (tests/ci_mode.rs)."""
import time


def test_broken():
    time.sleep(2)
    assert 1 + 1 == 3
