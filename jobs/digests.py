"""The digest sweep: every user whose digest hour has come gets this period's digest once.

Run it often (every 15 minutes is plenty). Each user's period is claimed by a unique row
in the transaction that queues the email (portal.notifications.digests), so the sweep may
run twice, late, or on two processes at once. A sweep that did not run at a user's hour
(downtime) sends today's digest at its next run; earlier periods are not sent on their own.
"""

from collections import namedtuple

from sqlalchemy import select

from jobs.mail import enqueue_deliveries
from jobs.sweep import SweepIncomplete, each_alone
from portal.accounts.models import User
from portal.database import utcnow
from portal.extensions import db
from portal.notifications.digests import DIGEST_KINDS, period_for, send_digest
from portal.notifications.models import DigestClaim, DigestFrequency, NotificationSettings
from portal.notifications.services import zone_of
from portal.queue import id_of

BATCH = 1000

#: what a user without saved preferences gets (services.settings_of says the same)
_Schedule = namedtuple("_Schedule", "digest digest_hour digest_weekday")
_DEFAULT = _Schedule(DigestFrequency.daily, 8, 0)
_Zone = namedtuple("_Zone", "timezone")


def _due_batch(after, now):
    """{user id: period} of up to BATCH users past `after` whose digest is due at `now` and
    not claimed yet, and the last id read (None when there are no more users).

    Ends its reading transaction (SQLite's write lock too) like jobs.sweep.candidate_ids.
    """
    rows = db.session.execute(
        select(
            User.id,
            User.timezone,
            NotificationSettings.digest,
            NotificationSettings.digest_hour,
            NotificationSettings.digest_weekday,
        )
        .outerjoin(NotificationSettings, NotificationSettings.user_id == User.id)
        .where(
            User.id > after,
            User.kind.in_(DIGEST_KINDS),
            User.is_disabled.is_(False),
            (NotificationSettings.digest.is_(None))
            | (NotificationSettings.digest != DigestFrequency.off),
        )
        .order_by(User.id)
        .limit(BATCH)
    ).all()
    due = {}
    for user_id, timezone, digest, hour, weekday in rows:
        schedule = _DEFAULT if digest is None else _Schedule(digest, hour, weekday)
        period = period_for(schedule, now.astimezone(zone_of(_Zone(timezone))))
        if period is not None:
            due[user_id] = period
    if due:
        claimed = db.session.execute(
            select(DigestClaim.user_id, DigestClaim.period).where(
                DigestClaim.user_id.in_(list(due)),
                DigestClaim.period.in_(sorted(set(due.values()))),
            )
        ).all()
        for user_id, period in claimed:
            if due.get(user_id) == period:
                del due[user_id]
    db.session.commit()
    return due, (rows[-1][0] if len(rows) == BATCH else None)


def sweep_digests(now=None):
    """Send the digest of every user who is due for one and has not had it this period;
    returns how many emails were queued. Each user is one transaction of their own."""
    now = now or utcnow()
    queued, after, failures = 0, 0, []
    while after is not None:
        due, after = _due_batch(after, now)
        emails = []
        try:
            each_alone(
                User, sorted(due), lambda user, kept=emails: _kept(kept, send_digest(user, now))
            )
        except SweepIncomplete as failed:  # the others were sent; go on, fail at the end
            failures.append(str(failed))
        # Sent in batches over one SMTP connection, now that their transactions committed
        # (an email whose transaction rolled back has no id and is left out).
        written = [email_id for email_id in map(id_of, emails) if isinstance(email_id, int)]
        enqueue_deliveries(written)
        queued += len(written)
    if failures:
        raise SweepIncomplete("; ".join(failures))
    return queued


def _kept(emails, email):
    """Keep a queued digest email for delivery after commit; pass it on for each_alone."""
    if email is not None:
        emails.append(email)
    return email
