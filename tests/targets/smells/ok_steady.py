"""Control: steady work whose temporaries are all freed."""
from _service import serve


def handle(request_id):
    rows = [{"id": i, "name": "row-%d" % i} for i in range(50)]
    return sum(r["id"] for r in rows)


serve(handle)
