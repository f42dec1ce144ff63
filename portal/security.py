"""Security headers, cross-site request refusal and log redaction for the whole app."""

import logging
import re

from flask import abort, request
from flask_login import current_user

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
# Every response carries these unless its view set its own (downloads have a stricter CSP).
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Link tokens in paths (reset, invitations, feeds) are redacted from access logs and from
# stored emails once sent. Unsubscribe tokens (they can only leave a list) are redacted from
# logs only: keeping them in sent digests spares bulk mail a rewrite of every body.
TOKEN_PATH = re.compile(r"(/(?:reset|invitations|calendar/feeds)/)[^\s?/\"]+")
LOG_TOKEN_PATH = re.compile(r"(/(?:reset|invitations|calendar/feeds|unsubscribe)/)[^\s?/\"]+")


def refuse_cross_site_writes():
    """Fetch-metadata defence in depth: a browser-declared cross-site write is refused."""
    if request.method in UNSAFE_METHODS and request.headers.get("Sec-Fetch-Site") == "cross-site":
        abort(403)


def refuse_nul_bytes():
    """A NUL in the path, query or form is refused: no text we store may hold one.

    PostgreSQL rejects it (the request would end in a 500) and SQLite's LIKE stops at it.
    """
    fields = [*request.args.items(multi=True), *request.form.items(multi=True)]
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in fields):
        abort(400)


def set_security_headers(response):
    """CSP, HSTS, nosniff and friends; no caching of signed-in pages."""
    headers = response.headers
    for name, value in SECURITY_HEADERS:
        headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.vary.add("HX-Request")
        if current_user and current_user.is_authenticated:
            headers["Cache-Control"] = "no-store"
    return response


def redact_tokens(text, *, pattern=TOKEN_PATH):
    """Text with every reset, invitation or feed link token replaced by [redacted]."""
    return pattern.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    """Replace link tokens in log lines with [redacted]."""

    def filter(self, record):
        """Rewrite the record's message in place; never drop it."""
        message = record.getMessage()
        redacted = redact_tokens(message, pattern=LOG_TOKEN_PATH)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def init_app(app):
    """Install the hooks and the log filter."""
    app.before_request(refuse_cross_site_writes)
    app.before_request(refuse_nul_bytes)
    app.after_request(set_security_headers)
    for name in ("werkzeug", "gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
