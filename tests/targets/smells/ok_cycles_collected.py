"""Control: parent/child cycles made per request, with the gc enabled: collected as they come."""
from _service import serve


class Node:
    def __init__(self, value):
        self.value = value
        self.parent = None
        self.children = []

    def add_child(self, child):
        child.parent = self
        self.children.append(child)


def handle(request_id):
    root = Node(request_id)
    for i in range(3):
        root.add_child(Node(i))


serve(handle)
