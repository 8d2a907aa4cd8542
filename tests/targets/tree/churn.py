"""A fork storm: a child every 20 ms, each living 0.8 s; every other one execs /bin/sleep
(a non-Python program under the same PID), the others stay Python and allocate a little."""
import os
import sys
import time


def main():
    print("ready", flush=True)
    k = 0
    while True:
        k += 1
        pid = os.fork()
        if pid == 0:
            if k % 2:
                os.execv("/bin/sleep", ["sleep", "0.8"])
            junk = [str(i) * 10 for i in range(20000)]
            time.sleep(0.8)
            os._exit(len(junk) & 1)
        while True:
            try:
                done, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if done == 0:
                break
        time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main())
