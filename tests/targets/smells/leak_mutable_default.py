"""Smell 6 (leak): a helper with a mutable default argument accumulates every tag ever made."""
from _service import serve


def tag_order(order_id, tags=[]):
    tags.append("order-%d" % order_id)
    return tags


def handle(request_id):
    return len(tag_order(request_id))


serve(handle)
