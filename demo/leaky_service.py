"""A small order-processing service with the memory smells memwatch looks for.

Run it under memwatch:   memwatch run --duration 20 -- python3 demo/leaky_service.py
or start it and attach:  python3 demo/leaky_service.py &  memwatch --pid $!

It handles fake requests in a loop for --seconds (default: forever). What leaks, on purpose:
  * _PRICE_CACHE  - a module-level dict used as a cache, never evicted   (unbounded cache)
  * AUDIT_LOG     - a module-level list of every event                    (global accumulation)
  * tag_order()   - a mutable default argument that keeps every tag       (mutable default)
  * load_config() - opens the config file on every call, never closes it  (unclosed resource)
  * Session/Handler objects in a parent<->child cycle, gc collects them   (reference cycles)
  * render_receipt() builds a string with += in a loop                    (string churn)
  * export_report() reads a whole file into memory at once                (large read)
"""
import os
import sys
import tempfile
import time

_PRICE_CACHE = {}
AUDIT_LOG = []
_CONFIG_WATCHERS = []
CONFIG_PATH = os.path.join(tempfile.gettempdir(), "leaky_service_config_%d.ini" % os.getpid())
EXPORT_PATH = os.path.join(tempfile.gettempdir(), "leaky_service_export_%d.csv" % os.getpid())


class Session:
    def __init__(self, user):
        self.user = user
        self.handlers = []

    def add_handler(self, handler):
        handler.session = self  # strong back-reference: a cycle
        self.handlers.append(handler)


class Handler:
    def __init__(self, name):
        self.name = name
        self.session = None
        self.buffer = bytearray(2048)


def price_of(sku):
    if sku not in _PRICE_CACHE:
        _PRICE_CACHE[sku] = {"sku": sku, "price": len(sku) * 1.5, "history": [0.0] * 50}
    return _PRICE_CACHE[sku]["price"]


def tag_order(order_id, tags=[]):
    tags.append("order-%d" % order_id)
    return tags


def load_config():
    f = open(CONFIG_PATH)  # never closed: kept in the watcher registry below
    _CONFIG_WATCHERS.append(f)
    return f.readline()


def render_receipt(order_id, items):
    text = ""
    for line_no in range(150):
        sku = items[line_no % len(items)]
        text += "%3d %-16s %8.2f\n" % (line_no, sku, price_of(sku))
    return "receipt %d\n%s" % (order_id, text)


def export_report():
    with open(EXPORT_PATH) as f:
        data = f.read()  # the whole export in memory
    return data.count("\n")


def handle_request(order_id):
    items = ["sku-%d-%d" % (order_id, i) for i in range(3)]
    total = sum(price_of(sku) for sku in items)
    AUDIT_LOG.append({"order": order_id, "total": total, "items": items})
    tag_order(order_id)
    session = Session("user-%d" % (order_id % 100))
    for name in ("auth", "billing", "shipping"):
        session.add_handler(Handler(name))
    render_receipt(order_id, items)
    if order_id % 100 == 0:
        load_config()
    if order_id % 4000 == 0:
        export_report()
    return total


def main(argv):
    seconds = float(argv[argv.index("--seconds") + 1]) if "--seconds" in argv else 0.0
    with open(CONFIG_PATH, "w") as f:
        f.write("[service]\nname = leaky\n")
    with open(EXPORT_PATH, "w") as f:
        for i in range(1000000):
            f.write("%d,order-%d,%.2f\n" % (i, i, i * 0.5))
    print("leaky_service: pid %d handling requests" % os.getpid(), flush=True)
    start = time.monotonic()
    order_id = 0
    try:
        while seconds <= 0 or time.monotonic() - start < seconds:
            for _ in range(20):
                order_id += 1
                handle_request(order_id)
            time.sleep(0.02)
    except KeyboardInterrupt:
        pass
    finally:
        for p in (CONFIG_PATH, EXPORT_PATH):
            try:
                os.remove(p)
            except OSError:
                pass
    print("leaky_service: handled %d requests" % order_id, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
