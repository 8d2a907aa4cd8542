"""An fd leak held deeper than a list of files: every few requests a pair of connected
sockets is opened for a "peer" and kept, as (request id, socket, socket) tuples in a list,
never closed. One finding: the sockets, held by `_PEERS` (list → tuple → socket), opened at
the socketpair line."""
import socket

from _service import serve

_PEERS = []


def connect_peer(request_id):
    a, b = socket.socketpair()  # never closed
    a.sendall(b"hello %d" % request_id)
    _PEERS.append((request_id, a, b))


def handle(request_id):
    if request_id % 200 == 0:
        connect_peer(request_id)


serve(handle)
