"""The leaking service of tests/html_report.rs: a module-level dict cache whose values hold
markup and a URL (the planted line; the HTML report must escape it, and leave it out with
--no-source), a module-level list of errors, and objects kept alive by a local list (a type
that grows with no global name). Arguments after the script are ignored: the test passes
markup and a URL there, which the report's header shows as the command line."""
import time

_PAGES = {}
ERRORS = []


class Session:
    def __init__(self, request_id):
        self.request_id = request_id
        self.tags = ("session", request_id)


def render(request_id):
    key = "page-%d" % request_id
    if key not in _PAGES:
        _PAGES[key] = "<script>fetch('https://example.invalid/" + key + "')</script>"  # html-report-planted
    return _PAGES[key]


def main():
    sessions = []  # a local: no global name reaches it
    print("ready", flush=True)
    request_id = 0
    while True:
        for _ in range(50):
            request_id += 1
            render(request_id)
            sessions.append(Session(request_id))
            if request_id % 2 == 0:
                ERRORS.append({"request": request_id, "message": "timeout <upstream> & retry"})
        time.sleep(0.02)


main()
