"""Signing in and out on the web: server-side sessions, timeouts, safe redirects, roles."""

import logging
from datetime import UTC, datetime
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user
from sqlalchemy import and_, bindparam

from portal.accounts import services
from portal.accounts.models import User, UserSession
from portal.database import utcnow
from portal.extensions import db, login_manager

log = logging.getLogger("portal.auth")
SEEN_REFRESH_SECONDS = 60


def sign_in(user):
    """Start a fresh session for a user: a new cookie and a new server-side record."""
    session.clear()  # a pre-login cookie never becomes an authenticated one (AC-9)
    record = services.start_session(
        user,
        user_agent=request.user_agent.string or "",
        ip_address=request.remote_addr or "",
    )
    session["sid"] = record.id
    session["seen"] = int(utcnow().timestamp())
    session.permanent = True
    login_user(user)
    log.info("login succeeded user_id=%s ip=%s", user.id, request.remote_addr)


def sign_out():
    """End the current session everywhere: the record is revoked, the cookie cleared."""
    sid = session.get("sid")
    if sid:
        services.end_session(sid)
    user_id = current_user.get_id() if current_user.is_authenticated else None
    logout_user()
    session.clear()
    log.info("logout user_id=%s", user_id)


def current_session_id():
    """The server-side id of the current sign-in."""
    return session.get("sid")


def _session_alive(record, user_id, now):
    """A session counts while unrevoked, its user active, and inside both time limits."""
    config = current_app.config
    if record is None or record.revoked_at is not None or str(record.user_id) != str(user_id):
        return False
    if now - record.created_at > config["SESSION_ABSOLUTE_TIMEOUT"]:
        return False
    return within_idle_limit(session.get("seen", 0), now, config)


def within_idle_limit(seen, now, config):
    """The cookie's last-seen time (epoch seconds) is inside the idle limit."""
    return now - datetime.fromtimestamp(seen, UTC) <= config["SESSION_IDLE_TIMEOUT"]


def live_session_criteria():
    """load_user's server-side checks as SQL, for callers that authenticate in one query.

    Bound parameters: sid, user_id and created_after (now minus the absolute limit, see
    absolute_limit_start); the idle limit lives in the cookie (within_idle_limit).
    """
    return and_(
        UserSession.id == bindparam("sid"),
        UserSession.revoked_at.is_(None),
        UserSession.user_id == bindparam("user_id"),
        UserSession.created_at >= bindparam("created_after"),
        User.id == UserSession.user_id,
        User.is_disabled.is_(False),
    )


def absolute_limit_start(now, config):
    """The oldest session start still inside the absolute limit."""
    return now - config["SESSION_ABSOLUTE_TIMEOUT"]


@login_manager.user_loader
def load_user(user_id):
    """The signed-in user, if the server still honours this session."""
    now = utcnow()
    record = db.session.get(UserSession, session.get("sid") or "")
    if not _session_alive(record, user_id, now) or record.user.is_disabled:
        session.clear()
        return None
    # Idle time is tracked in the signed cookie, so reading a page writes nothing to the DB.
    if now.timestamp() - session.get("seen", 0) > SEEN_REFRESH_SECONDS:
        session["seen"] = int(now.timestamp())
    return record.user


@login_manager.unauthorized_handler
def unauthorized():
    """Anonymous visitors go to the sign-in page; htmx requests get a 401."""
    if request.htmx:
        abort(401)
    return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))


def safe_next(target):
    """The 'next' path when it stays on this site, else None (no open redirects)."""
    if not target or not isinstance(target, str):
        return None
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def roles_required(*kinds):
    """Only signed-in users of these account kinds may use the view; others get 403."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.kind not in kinds:
                log.warning(
                    "authorization denied user_id=%s endpoint=%s", current_user.id, request.endpoint
                )
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def user_by_email(email):
    """Look a user up by email (case-insensitive)."""
    return db.session.scalar(db.select(User).where(User.email == services.normalize_email(email)))
