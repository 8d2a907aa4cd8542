"""A loop, big allocations and a del (bench_lines.py). Loops live in helpers: memory_profiler
also traces code nested in the profiled function, and its increment of a line run thousands of
times is not a figure to compare with (it sums across iterations into nonsense)."""
try:
    profile
except NameError:  # run plainly (memwatch): no decorator
    def profile(f):
        return f


def fill(n):
    table = {}
    for i in range(n):
        table[i] = str(i) * 3
    return table


@profile
def build(n):
    table = fill(n)
    big = [2] * (3 * 10 ** 7)
    small = [1] * (2 * 10 ** 6)
    del big
    return table, small


if __name__ == "__main__":
    for _ in range(3):
        kept = build(300000)
        del kept
