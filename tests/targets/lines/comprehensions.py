"""Comprehensions and generators (bench_lines.py): memory_profiler's worst case here."""
try:
    profile
except NameError:
    def profile(f):
        return f


@profile
def shapes(n):
    squares = [i * i for i in range(n)]
    names = {i: "k%07d" % i for i in range(n // 2)}
    evens = list(x for x in squares if x % 2 == 0)
    pairs = [(a, b) for a, b in zip(squares, evens)]
    del squares
    joined = "".join(v for v in names.values())
    return len(pairs), len(joined)


if __name__ == "__main__":
    for _ in range(3):
        shapes(1500000)
