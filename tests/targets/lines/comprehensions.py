"""Comprehensions and generators, each behind a call (bench_lines.py; see loop_del.py)."""
try:
    profile
except NameError:
    def profile(f):
        return f


def squares_of(n):
    return [i * i for i in range(n)]


def names_of(n):
    return {i: "k%07d" % i for i in range(n)}


def evens_of(values):
    return list(x for x in values if x % 2 == 0)


def pairs_of(a, b):
    return [(x, y) for x, y in zip(a, b)]


def joined(names):
    return "".join(v for v in names.values())


@profile
def shapes(n):
    squares = squares_of(n)
    names = names_of(n // 2)
    evens = evens_of(squares)
    pairs = pairs_of(squares, evens)
    del squares
    text = joined(names)
    return len(pairs), len(text)


if __name__ == "__main__":
    for _ in range(3):
        shapes(1500000)
