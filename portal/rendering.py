"""Answering with a whole page or, for htmx, one named block of it; or a CSV download."""

import csv
import io

from flask import Response, render_template, request
from jinja2_fragments.flask import render_block


def wants_fragment():
    """True for htmx requests that swap part of a page (boosted ones want the page)."""
    return bool(request.htmx) and not request.htmx.boosted


def render_page(template, block=None, *, form=None, status=None, **context):
    """The page, or only `block` of it for htmx; 422 when the form has errors."""
    if status is None:
        status = 422 if form is not None and form.errors else 200
    if form is not None:
        context["form"] = form
    if block and wants_fragment():
        return render_block(template, block, **context), status
    return render_template(template, **context), status


#: a cell starting with one of these would run as a formula in a spreadsheet
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_download(filename, header, rows):
    """A CSV file to download: the header, then the rows with every cell made safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([csv_cell(value) for value in row] for row in rows)
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
