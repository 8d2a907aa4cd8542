"""A steady parent whose multiprocessing.Pool (fork) workers fill a module-level dict: the
growth is in the workers only. argv: [leak|steady] (default leak)."""
import multiprocessing
import sys
import time

_AUDIT = {}
LEAK = (sys.argv[1] if len(sys.argv) > 1 else "leak") == "leak"


def handle(i):
    # each task leaves an entry behind in the worker that ran it
    if LEAK:
        _AUDIT[(multiprocessing.current_process().pid, i)] = "request %d " % i + "x" * 64
    return sum(range(200))


def main():
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        pool.map(handle, range(4))
        print("ready", flush=True)
        i = 0
        while True:
            pool.map(handle, range(i, i + 40), chunksize=1)
            i += 40
            time.sleep(0.1)


if __name__ == "__main__":
    main()
