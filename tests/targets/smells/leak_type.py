"""A type that grows without a named holder: events are kept in a list that is a local of the
running main loop, not a module global."""
import time


class AuditEvent:
    def __init__(self, request_id):
        self.request_id = request_id
        self.payload = ("audit", request_id)


def main():
    history = []  # a local: no global name reaches it
    print("ready", flush=True)
    request_id = 0
    while True:
        for _ in range(50):
            request_id += 1
            history.append(AuditEvent(request_id))
        time.sleep(0.02)


main()
