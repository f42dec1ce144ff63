"""Warnings to a brand's reviewers before a revision is approved automatically."""

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import BrandMembership, BrandRole, User
from portal.database import utcnow
from portal.deliverables.models import ReviewWarning, RevisionState
from portal.extensions import db
from portal.notifications.emails import public_url, queue_email

#: hours before the auto-approval at which reviewers are warned, widest first
WARNING_HOURS = (48, 24)
#: the brand roles that review submissions (viewers only read)
REVIEWER_ROLES = (BrandRole.owner, BrandRole.manager)


def threshold_due(revision, now):
    """The warning threshold (hours) that applies now, or None.

    A threshold applies from `review_due_at - hours` until the deadline; when several
    apply (the window was short, or the sweep ran late) only the tightest counts, so a
    reviewer never gets the 48-hour and the 24-hour warning at once.
    """
    if revision.state is not RevisionState.in_review or now >= revision.review_due_at:
        return None
    open_ones = [h for h in WARNING_HOURS if now >= revision.review_due_at - timedelta(hours=h)]
    return min(open_ones, default=None)


def reviewers_of(workroom):
    """The brand's owners and managers with an enabled account."""
    return db.session.scalars(
        select(User)
        .join(BrandMembership, BrandMembership.user_id == User.id)
        .where(
            BrandMembership.brand_id == workroom.brand_id,
            BrandMembership.role.in_(REVIEWER_ROLES),
            User.is_disabled.is_(False),
        )
        .order_by(User.id)
    ).all()


def warn_reviewers(revision, *, now=None):
    """Queue the warning that applies now to each reviewer who has not had it yet; returns
    how many were queued. Each (revision, reviewer, threshold) is claimed by a unique row in
    the same transaction as its email, so a rerun or a second worker sends nothing twice."""
    now = now or utcnow()
    hours = threshold_due(revision, now)
    if hours is None:
        return 0
    deliverable = revision.deliverable
    workroom = deliverable.workroom
    link = public_url("deliverables.show", workroom_id=workroom.id, deliverable_id=deliverable.id)
    left = max(1, round((revision.review_due_at - now) / timedelta(hours=1)))
    queued = 0
    for reviewer in reviewers_of(workroom):
        if not _claim(revision, reviewer, hours, now):
            continue
        queue_email(
            "review_warning",
            reviewer.email,
            reviewer.name,
            f"Revision {revision.number} of {deliverable.title} will be approved"
            f" automatically in about {left} hours",
            "review_warning",
            reviewer=reviewer,
            revision=revision,
            deliverable=deliverable,
            creator=workroom.creator,
            hours_left=left,
            deadline=_local(revision.review_due_at, reviewer.timezone),
            link=link,
        )
        queued += 1
    return queued


def _claim(revision, reviewer, hours, now):
    """Insert the warning's marker in a savepoint; False when it already exists."""
    try:
        with db.session.begin_nested():
            db.session.add(
                ReviewWarning(
                    revision_id=revision.id,
                    recipient_id=reviewer.id,
                    hours_before=hours,
                    created_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def _local(moment, timezone_name):
    """A moment as the recipient reads it, with the zone's name."""
    try:
        zone = ZoneInfo(timezone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return f"{moment.astimezone(zone):%a %d %b %Y, %H:%M} ({zone.key})"
