"""Mailing lists a user can leave: signed one-click unsubscribe links (RFC 8058) and the
suppression list every send checks."""

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.database import utcnow
from portal.extensions import db
from portal.notifications.models import Suppression

#: lists a user can unsubscribe from; "all" is for bounces and complaints
LISTS = {
    "digest": "Duet digest",
    "reminders": "Duet reminders",
    "notifications": "Duet notifications",
}
ALL = "all"
#: an unsubscribe link keeps working this long (a digest read months later still works)
TOKEN_MAX_AGE = 365 * 24 * 3600


def _serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="duet-unsubscribe")


def unsubscribe_token(user, list_id):
    """A signed token naming the user, their address and the list."""
    return _serializer().dumps({"u": user.id, "e": user.email, "l": list_id})


def read_token(token):
    """(user id, email, list) of a valid token, or None (tampered, expired, unknown list)."""
    try:
        data = _serializer().loads(token, max_age=TOKEN_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("l") not in LISTS:
        return None
    return data.get("u"), data.get("e"), data["l"]


def unsubscribe_url(user, list_id):
    """The HTTPS one-click unsubscribe address for a list (built on PUBLIC_URL)."""
    from portal.notifications.emails import public_url

    return public_url("mail_lists.unsubscribe", token=unsubscribe_token(user, list_id))


def list_id_header(list_id):
    """The List-Id header value of a list (RFC 2919)."""
    sender = current_app.config["MAIL_SENDER"]
    domain = sender.rpartition("@")[2].rstrip(">") or "duet.localhost"
    return f"{LISTS.get(list_id, 'Duet')} <{list_id}.{domain}>"


def suppress(email, list_id, reason, *, now=None):
    """Stop a list (or "all") for an address; True when it is new (safe to repeat)."""
    email = email.strip().lower()
    exists = db.session.scalar(
        select(Suppression.id).where(Suppression.email == email, Suppression.list_id == list_id)
    )
    if exists is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(
                Suppression(email=email, list_id=list_id, reason=reason, created_at=now or utcnow())
            )
    except IntegrityError:
        return False  # a concurrent request stored it first
    return True


def suppressed_among(emails):
    """A check for many outbound emails at once: one query for their addresses, then a
    function telling whether one of them must not be sent."""
    addresses = {e.to_address.strip().lower() for e in emails}
    stops = set(
        db.session.execute(
            select(Suppression.email, Suppression.list_id).where(Suppression.email.in_(addresses))
        ).all()
    )

    def check(email):
        address = email.to_address.strip().lower()
        return (address, ALL) in stops or (address, email.list_id) in stops

    return check


def is_suppressed(email, list_id):
    """Whether an address must not get this list (or any mail that can be refused)."""
    lists = [ALL] + ([list_id] if list_id else [])
    return (
        db.session.scalar(
            select(Suppression.id).where(
                Suppression.email == email.strip().lower(), Suppression.list_id.in_(lists)
            )
        )
        is not None
    )
