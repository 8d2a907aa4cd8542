"""Loops, big allocations and a del, as memory_profiler's loop tests do (bench_lines.py)."""
try:
    profile
except NameError:  # run plainly (memwatch): no decorator
    def profile(f):
        return f


@profile
def build(n):
    table = {}
    for i in range(n):
        table[i] = str(i) * 3
    big = [2] * (3 * 10 ** 7)
    small = [1] * (2 * 10 ** 6)
    del big
    return table, small


if __name__ == "__main__":
    for _ in range(3):
        kept = build(300000)
        del kept
