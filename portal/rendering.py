"""Answering with a whole page or, for htmx, one named block of it."""

from flask import render_template, request
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
