"""A leaky service for the dashboard tests: a module-level list that grows without bound.

usage: growing_list.py [--seconds SECS]

Prints "ready" once running, then appends to EVENTS (about 2,000 items a second) until
--seconds pass (default: until killed).
"""
import sys
import time

EVENTS = []


def handle(i):
    EVENTS.append({"id": i, "payload": "event-%d" % i})


def main(argv):
    seconds = float(argv[argv.index("--seconds") + 1]) if "--seconds" in argv else 0.0
    print("ready", flush=True)
    start = time.monotonic()
    i = 0
    while seconds <= 0 or time.monotonic() - start < seconds:
        for _ in range(100):
            i += 1
            handle(i)
        time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
