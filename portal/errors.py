"""Domain errors raised by services, and the error pages and fragments."""

import logging

from flask import render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, SecurityError

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A service refused an action; the message is safe to show to the user."""

    status_code = 409


class NotAllowed(DomainError):
    """The actor may not do this."""

    status_code = 403


class InvalidState(DomainError):
    """The object is not in a state that allows this."""

    status_code = 409


TITLES = {
    400: "Bad request",
    401: "Sign in required",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Upload too large",
    429: "Too many requests",
    500: "Something went wrong",
}

MESSAGES = {
    400: "The request could not be understood. Go back, reload the page and try again.",
    401: "Please sign in to continue.",
    403: "You don't have access to this.",
    404: "There is nothing here, or you don't have access to it.",
    405: "This address does not accept that kind of request.",
    409: "This can't be done right now.",
    413: "The upload is larger than allowed.",
    429: "Too many attempts. Wait a few minutes and try again.",
    500: "We have been told about the problem. Please try again in a moment.",
}


def render_error(status, message=None):
    """The error as a full page, or as a fragment for htmx requests."""
    if isinstance(request.routing_exception, SecurityError):
        # A Host outside TRUSTED_HOSTS: no URL can be built, so no template can render.
        return "Bad request: unknown host.\n", 400, {"Content-Type": "text/plain; charset=utf-8"}
    context = {
        "status": status,
        "title": TITLES.get(status, "Error"),
        "message": message or MESSAGES.get(status, ""),
    }
    if request.htmx:
        response = render_template("errors/_error.html", **context), status
        headers = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
        if status == 401:
            headers["HX-Redirect"] = url_for("accounts.login")
        return response[0], status, headers
    return render_template("errors/error.html", **context), status


def handle_http_error(error):
    """Werkzeug's HTTP errors become our pages."""
    message = None
    if error.code == 400 and isinstance(error, CSRFError):
        message = "Your session expired or the form was stale. Reload the page and try again."
    return render_error(error.code or 500, message)


def handle_domain_error(error):
    """A refused action that reached the view unhandled."""
    return render_error(error.status_code, str(error))


def handle_unexpected(error):
    """Anything else: log it and show the generic page, never a traceback."""
    if isinstance(error, HTTPException):
        return handle_http_error(error)
    log.exception("unhandled error", exc_info=error)
    return render_error(InternalServerError.code)


def init_app(app):
    """Register the error handlers."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(Exception, handle_unexpected)
