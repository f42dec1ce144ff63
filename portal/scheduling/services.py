"""State changes of the calendar: issuing and revoking a user's feed address."""

from sqlalchemy import select

from portal.accounts.models import User
from portal.accounts.services import new_link_token
from portal.audit import record_event
from portal.database import utcnow
from portal.errors import InvalidState
from portal.extensions import db
from portal.scheduling.models import CalendarFeed


def live_feed(user):
    """The user's feed that still answers, or None."""
    return db.session.scalar(
        select(CalendarFeed).where(
            CalendarFeed.user_id == user.id, CalendarFeed.revoked_at.is_(None)
        )
    )


def _lock_user(user):
    """Serialise feed changes of one user (PostgreSQL row lock; SQLite writers queue anyway)."""
    db.session.execute(select(User.id).where(User.id == user.id).with_for_update())


def issue_calendar_feed(user, *, now=None):
    """A new secret feed address for the user; the previous one stops working. Returns the
    raw token, which is never stored: show it once."""
    now = now or utcnow()
    _lock_user(user)
    previous = live_feed(user)
    if previous is not None:
        previous.revoked_at = now
        db.session.flush()
    raw, digest = new_link_token()
    feed = CalendarFeed(user_id=user.id, token_hash=digest, created_at=now)
    db.session.add(feed)
    db.session.flush()
    record_event(
        user,
        "calendar.feed_issued",
        feed,
        data={"replaced_id": previous.id if previous else None},
        now=now,
    )
    return raw


def revoke_calendar_feed(user, *, now=None):
    """Turn the user's feed off: its address answers 404 from now on."""
    now = now or utcnow()
    _lock_user(user)
    feed = live_feed(user)
    if feed is None:
        raise InvalidState("Your calendar feed is already off.")
    feed.revoked_at = now
    db.session.flush()
    record_event(user, "calendar.feed_revoked", feed, now=now)
    return feed
