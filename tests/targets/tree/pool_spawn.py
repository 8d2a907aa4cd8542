"""A ProcessPoolExecutor with the spawn start method: fresh interpreters whose module-level
list grows with each task (in the worker's __mp_main__)."""
import concurrent.futures
import multiprocessing
import time

_AUDIT = []


def handle(i):
    _AUDIT.append("request %d " % i + "y" * 64)
    return len(_AUDIT)


def main():
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as pool:
        list(pool.map(handle, range(4)))
        print("ready", flush=True)
        i = 0
        while True:
            list(pool.map(handle, range(i, i + 40)))
            i += 40
            time.sleep(0.1)


if __name__ == "__main__":
    main()
