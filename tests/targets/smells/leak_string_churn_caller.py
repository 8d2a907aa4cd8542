"""String churn whose loop is in the caller: a method appends to an attribute, and its caller
runs it once per row, so every row copies the whole page built so far."""
from _service import serve

ROWS = ["row-%d" % i for i in range(400)]


class Page:
    def __init__(self):
        self.html = ""

    def add_row(self, cell):
        self.html += "<tr><td>" + cell + "</td></tr>"  # copies the page so far


def render(rows):
    page = Page()
    for cell in rows:
        page.add_row(cell)
    return page.html


def handle(request_id):
    return len(render(ROWS))


serve(handle, per_tick=20, tick=0.005)
