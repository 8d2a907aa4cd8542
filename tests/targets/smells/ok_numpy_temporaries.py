"""Control: numeric work on a 32 MiB temporary array per request, freed each time. Memory is
flat: no leak, and a temporary of numeric code is not smell 4's whole-input load."""
import numpy as np

from _service import serve


def handle(request_id):
    work = np.ones(4 << 20) * float(request_id)
    return float(work.sum())


if __name__ == "__main__":
    serve(handle, per_tick=1, tick=0.05)
