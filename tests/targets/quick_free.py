"""Allocates 48 MiB and frees it, over and over: the free (a `del`, a few milliseconds of
munmap) falls between two samples of memwatch's fast clock, with the thread asleep at both.

usage: quick_free.py ROUNDS
"""
import sys
import time


def churn(rounds):
    for _ in range(rounds):
        blob = b"x" * (48 << 20)  # LINE:alloc
        time.sleep(0.023)
        del blob  # LINE:free
        time.sleep(0.031)


if __name__ == "__main__":
    print("ready", flush=True)
    time.sleep(0.3)
    churn(int(sys.argv[1]))
