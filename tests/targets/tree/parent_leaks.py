"""The parent leaks (a module-level list of results), its fork workers do steady work."""
import multiprocessing
import time

_RESULTS = []


def work(i):
    return sum(range(300)) + i


def main():
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        pool.map(work, range(4))
        print("ready", flush=True)
        i = 0
        while True:
            for r in pool.map(work, range(i, i + 40)):
                _RESULTS.append("result %d " % r + "z" * 64)
            i += 40
            time.sleep(0.1)


if __name__ == "__main__":
    main()
