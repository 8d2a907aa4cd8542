"""The loop shared by the smell targets: a little request-handling service.

Each target defines handle(request_id) and calls serve(handle). serve prints "ready", then
handles a batch of requests every tick until killed, like a web worker under steady traffic.
"""
import sys
import time


def serve(handle, per_tick=50, tick=0.02, warmup=None):
    if warmup:
        warmup()
    print("ready", flush=True)
    request_id = 0
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 0
    start = time.monotonic()
    while seconds <= 0 or time.monotonic() - start < seconds:
        for _ in range(per_tick):
            request_id += 1
            handle(request_id)
        time.sleep(tick)
