"""Smell 3 (leak): a module-level dict memoises prices by a key that is unique per request,
so it only ever grows."""
from _service import serve

_PRICE_CACHE = {}


def price(sku):
    if sku not in _PRICE_CACHE:
        _PRICE_CACHE[sku] = {"sku": sku, "price": len(sku) * 1.25}
    return _PRICE_CACHE[sku]["price"]


def handle(request_id):
    return price("sku-%d" % request_id)


serve(handle)
