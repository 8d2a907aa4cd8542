"""Native memory held by Python objects (leak): every 10th request keeps a 1 MiB numpy array
in a module-level list. The list is short; what it holds is not."""
import numpy as np

from _service import serve

_FRAMES = []


def handle(request_id):
    if request_id % 10 == 0:
        frame = np.full(1 << 17, float(request_id))
        _FRAMES.append(frame[:])  # a view of every frame, kept
        return float(frame.sum())


if __name__ == "__main__":
    serve(handle, per_tick=5, tick=0.1)
