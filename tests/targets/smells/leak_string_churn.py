"""Smell 5 (suggestion): every request renders an HTML list by concatenating strings."""
from _service import serve

ITEMS = ["item-%d" % i for i in range(400)]


def render(items):
    html = ""
    for item in items:
        html += "<li>" + item + "</li>"
    return "<ul>" + html + "</ul>"


def handle(request_id):
    return len(render(ITEMS))


serve(handle, per_tick=20, tick=0.005)
