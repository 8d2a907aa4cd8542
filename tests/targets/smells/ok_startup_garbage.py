"""Control: cyclic garbage left once at start-up (argparse builds its help formatter, a few
objects that point at each other, and drops them) and a service that then runs steadily."""
import argparse
import gc

from _service import serve

parser = argparse.ArgumentParser(description="a steady service")
parser.add_argument("--seconds", type=float, default=0)
parser.add_argument("--workers", type=int, default=1, help="how many")
parser.format_help()
parser.parse_known_args()
gc.collect()  # the start-up's objects, the parser among them, are old by now
del parser  # garbage in the oldest generation, which a steady service rarely collects

TOTALS = {}


def handle(request_id):
    TOTALS[request_id % 100] = request_id


serve(handle)
