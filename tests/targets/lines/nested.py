"""A function whose lines call other functions that allocate and free (bench_lines.py)."""
try:
    profile
except NameError:
    def profile(f):
        return f


def make_rows(n):
    return [{"id": i, "name": "row%d" % i} for i in range(n)]


def make_blob(mib):
    return bytearray(mib << 20)


def total_of(rows):
    return sum(r["id"] for r in rows)


@profile
def handle(n):
    rows = make_rows(n)
    blob = make_blob(120)
    blob.extend(b"x" * (40 << 20))
    total = total_of(rows)
    del blob
    rows = rows[: n // 10]
    return total, rows


if __name__ == "__main__":
    for _ in range(3):
        handle(400000)
