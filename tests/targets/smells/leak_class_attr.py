"""A class attribute that grows, the class defined in one module (_events) and used from
another (_server, imported later): the holder is named where the class is defined,
`_events.EventBus._listeners`."""
import _events  # noqa: F401  (imported first, as a package's __init__ would)
import _server

from _service import serve


def handle(request_id):
    if request_id % 2 == 0:
        _server.on_request(request_id)


serve(handle)
