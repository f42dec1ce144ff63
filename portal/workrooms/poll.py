"""The unchanged-poll shortcut: a WSGI layer that answers "nothing new" with one indexed query.

An open workroom page polls every 3 s, so the answer "nothing new" is most of the traffic.
The full path pays for a request context, the ORM session, Flask-Login's user loading and a
re-signed cookie. This layer answers only that one case, before Flask: a GET of
/workrooms/<id>/poll with plain numeric arguments, on a trusted host, with a validly signed
session cookie whose idle marker needs no refresh, for which one indexed query says the
session is live (the checks of accounts.auth.load_user), the user sits in the workroom and
its change number is not past `since`. Its 204 carries the headers the view's 204 carries.

Anything else (anonymous, expired, revoked, disabled, outsiders, something new, an odd
query string, an untrusted host, a database error) goes to the app unchanged, so every
other answer (401, redirect, 404, 200 with the changes) is the app's own.

The one difference: no Set-Cookie. The full path re-signs the unchanged cookie only to push
its expiry, which never outlives the session record's absolute limit anyway; the idle
marker ("seen") still moves, because a marker older than SEEN_REFRESH_SECONDS sends the poll
down the full path, which refreshes it exactly as before.
"""

import logging
import re

from itsdangerous import BadSignature
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import SecurityError
from werkzeug.http import parse_cookie
from werkzeug.wsgi import get_host

from portal.accounts.auth import (
    SEEN_REFRESH_SECONDS,
    absolute_limit_start,
    within_idle_limit,
)
from portal.database import utcnow, write_intent
from portal.extensions import db
from portal.security import SECURITY_HEADERS
from portal.workrooms.queries import unchanged_poll_statement

log = logging.getLogger(__name__)
POLL_PATH = re.compile(r"/workrooms/([1-9][0-9]{0,9})/poll")
POLL_ARG = re.compile(r"(since|upto|thread)=([0-9]{1,10})")
# What the view's 204 carries: the app's security headers, Vary for htmx and the cookie, and
# no-store because the user is signed in (portal.security.set_security_headers).
HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    *SECURITY_HEADERS,
    ("Vary", "HX-Request, Cookie"),
    ("Cache-Control", "no-store"),
]


def install(app):
    """Put the shortcut in front of the app's WSGI callable."""
    app.wsgi_app = UnchangedPollShortcut(app, app.wsgi_app)


def poll_since(query_string):
    """The `since` of a plain poll query (since, upto, thread: digits, once each), else None."""
    args = {}
    for part in query_string.split("&"):
        match = POLL_ARG.fullmatch(part)
        if match is None or match[1] in args:
            return None
        args[match[1]] = int(match[2])
    return args.get("since")


class UnchangedPollShortcut:
    """WSGI middleware: the 204 of an unchanged poll, or the app."""

    def __init__(self, app, wsgi_app):
        """Wrap `wsgi_app`; settings and the engine are read from `app` at first use."""
        self.app = app
        self.wsgi_app = wsgi_app
        self._ready = False

    def __call__(self, environ, start_response):
        """Answer 204 when the poll is unchanged, else let the app answer."""
        if environ.get("REQUEST_METHOD") == "GET" and self._unchanged(environ):
            start_response("204 NO CONTENT", list(HEADERS))
            return []
        return self.wsgi_app(environ, start_response)

    def _setup(self):
        """Read what every check needs once: the cookie serializer, limits, the engine."""
        app = self.app
        self.config = app.config
        self.serializer = app.session_interface.get_signing_serializer(app)
        self.cookie_name = app.session_interface.get_cookie_name(app)
        self.max_age = int(app.permanent_session_lifetime.total_seconds())
        with app.app_context():
            engine = db.engine
        # PostgreSQL: autocommit saves the BEGIN and ROLLBACK round trips of a lone SELECT.
        # SQLite already runs its driver in autocommit (portal.database sets it on connect)
        # and changing the level would undo that on the pooled connection.
        if engine.dialect.name != "sqlite":
            engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.engine = engine
        self._ready = True

    def _unchanged(self, environ):
        """True when the request is a live member's poll with nothing new to send."""
        path = POLL_PATH.fullmatch(environ.get("PATH_INFO", ""))
        since = poll_since(environ.get("QUERY_STRING", "")) if path else None
        if since is None:
            return False
        if not self._ready:
            self._setup()
        session = self._session(environ)
        if session is None:
            return False
        last = self._last_change(int(path[1]), session)
        return last is not None and last <= since

    def _session(self, environ):
        """The signed session cookie's contents on a trusted host, if the shortcut can use it."""
        if self.serializer is None:
            return None
        try:
            get_host(environ, self.config["TRUSTED_HOSTS"])
        except SecurityError:
            return None
        cookie = parse_cookie(environ).get(self.cookie_name)
        if not cookie:
            return None
        try:
            session = self.serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:
            return None
        user_id, sid, seen = session.get("_user_id"), session.get("sid"), session.get("seen")
        # Only the canonical forms load_user compares as equal (str(record.user_id) == user_id).
        if not (isinstance(user_id, str) and user_id.isdigit() and isinstance(sid, str)):
            return None
        if user_id != str(int(user_id)):
            return None
        if not isinstance(seen, int) or isinstance(seen, bool):
            return None
        return session

    def _last_change(self, workroom_id, session):
        """The workroom's change number if the session is live and seated, else None."""
        now = utcnow()
        seen = session["seen"]
        # A stale marker means the full path must re-sign the cookie: leave it to the app.
        if now.timestamp() - seen > SEEN_REFRESH_SECONDS:
            return None
        if not within_idle_limit(seen, now, self.config):
            return None
        params = {
            "workroom_id": workroom_id,
            "sid": session["sid"],
            "user_id": int(session["_user_id"]),
            "created_after": absolute_limit_start(now, self.config),
        }
        token = write_intent.set(False)  # a read: SQLite must not take its write lock
        try:
            with self.engine.connect() as connection:
                return connection.execute(unchanged_poll_statement(), params).scalar()
        except DBAPIError:
            log.warning("poll shortcut skipped: database error", exc_info=True)
            return None
        finally:
            write_intent.reset(token)
