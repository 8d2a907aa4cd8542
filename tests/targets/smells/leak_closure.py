"""A holder in a closure: a recorder function made by a factory keeps every value it is given
in the list of its enclosing scope, reachable only as `record.__closure__[0]`."""
from _service import serve


def make_recorder():
    seen = []

    def record(value):
        seen.append(value)  # the closure's list grows

    return record


record = make_recorder()


def handle(request_id):
    if request_id % 2 == 0:
        record(("request", request_id))


serve(handle)
