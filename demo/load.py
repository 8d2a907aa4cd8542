"""An HTTP client for the process-tree demo (README): GET requests to HOST:PORT from a few
threads for --seconds, waiting for the server to come up; prints how many were served.

usage: python3 demo/load.py 127.0.0.1:8000 [--seconds 40] [--threads 4]
"""
import http.client
import sys
import threading
import time


def main(argv):
    host, _, port = argv[1].rpartition(":")
    opts = dict(zip(argv[2::2], argv[3::2]))
    seconds = float(opts.get("--seconds", "40"))
    threads = int(opts.get("--threads", "4"))
    end = time.monotonic() + seconds
    served = [0] * threads

    def client(k):
        conn = None
        while time.monotonic() < end:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, int(port), timeout=5)
                conn.request("GET", "/orders?client=%d&n=%d" % (k, served[k]))
                conn.getresponse().read()
                served[k] += 1
                time.sleep(0.002)
            except (OSError, http.client.HTTPException):
                # not up yet, or a worker recycled the connection
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.2)

    ts = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("load: %d requests served" % sum(served), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
