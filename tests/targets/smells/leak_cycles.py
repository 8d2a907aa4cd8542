"""Smell 1 (leak): parent/child trees with strong back-references, and the gc disabled
(a "performance tweak"): every request's tree is cyclic garbage that is never freed."""
import gc

from _service import serve


class Node:
    def __init__(self, value):
        self.value = value
        self.parent = None
        self.children = []

    def add_child(self, child):
        child.parent = self  # strong back-reference: a cycle
        self.children.append(child)


def handle(request_id):
    root = Node(request_id)
    for i in range(3):
        root.add_child(Node(i))
    return len(root.children)


gc.disable()
serve(handle)
