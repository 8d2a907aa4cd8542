"""Control: an lru_cache with maxsize fills up and stays bounded."""
import functools

from _service import serve


@functools.lru_cache(maxsize=1000)
def price(sku):
    return {"sku": sku, "price": len(sku) * 1.25}


def handle(request_id):
    return price("sku-%d" % request_id)["price"]


serve(handle)
