"""Telling people: the bell, an email now (held through quiet hours) or the next digest,
as each user chose per kind; mutes per workroom; marking read; saving preferences.

Money and legal events (`always=True`: payouts, contract acceptance, ticket decisions)
reach the bell and the inbox whatever the preferences and mutes say.
"""

from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update

from portal.accounts.models import BrandMembership, BrandRole, User
from portal.database import transaction_memo, utcnow
from portal.extensions import db
from portal.notifications.emails import public_url, queue_email
from portal.notifications.lists import unsubscribe_url
from portal.notifications.models import (
    Channel,
    DigestFrequency,
    Notification,
    NotificationSettings,
    WorkroomMute,
)
from portal.workrooms.models import Side

MAX_TITLE = 200
MAX_BODY = 1000


def zone_of(user):
    """The user's time zone (UTC when it is unknown)."""
    try:
        return ZoneInfo(user.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def settings_of(user):
    """The user's notification settings; defaults (not stored) until they save them."""
    known = transaction_memo(db.session, "notification_settings")
    if user.id not in known:
        known[user.id] = db.session.get(NotificationSettings, user.id) or NotificationSettings(
            user_id=user.id,
            channels={},
            digest=DigestFrequency.daily,
            digest_hour=8,
            digest_weekday=0,
        )
    return known[user.id]


def is_muted(user, workroom_id):
    """Whether the user muted the workroom."""
    return db.session.get(WorkroomMute, (user.id, workroom_id)) is not None


def quiet_until(settings, zone, now):
    """When the user's quiet hours end, if `now` falls inside them; else None."""
    start, end = settings.quiet_start, settings.quiet_end
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone)
    hour = local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if not inside:
        return None
    resume = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if resume <= local:
        resume += timedelta(days=1)
    return resume.astimezone(now.tzinfo)


def notify(
    user,
    kind,
    title,
    *,
    body="",
    link="",
    workroom_id=None,
    always=False,
    list_id="notifications",
    now=None,
):
    """Tell one user: the bell always (unless off or muted), plus an email now or a line in
    the next digest, as they chose. Returns the notification, or None when nothing was
    said. Disabled users get nothing."""
    if user is None or user.is_disabled:
        return None
    now = now or utcnow()
    settings = settings_of(user)
    channel = Channel.email if always else settings.channel(kind)
    if channel is Channel.off or (not always and workroom_id and is_muted(user, workroom_id)):
        return None
    note = Notification(
        user_id=user.id,
        kind=kind,
        workroom_id=workroom_id,
        title=title[:MAX_TITLE],
        body=body[:MAX_BODY],
        link=link,
        created_at=now,
        for_digest=channel is Channel.digest,
    )
    db.session.add(note)
    if channel is Channel.email:
        _email(user, settings, note, list_id=None if always else list_id, now=now)
    return note


def _email(user, settings, note, *, list_id, now):
    """The notification as an email of a list the user can leave (money and legal events
    are on none: they always arrive)."""
    queue_email(
        f"notify_{note.kind.value}",
        user.email,
        user.name,
        note.title,
        "notification",
        list_id=list_id,
        unsubscribe_url=unsubscribe_url(user, list_id) if list_id else None,
        send_after=quiet_until(settings, zone_of(user), now),
        user=user,
        note=note,
        link=_absolute(note.link),
        preferences=public_url("notifications.preferences"),
    )


def _absolute(path):
    """A link inside Duet as an absolute address for an email."""
    if not path:
        return public_url("dashboard.index")
    return public_url("dashboard.index").rstrip("/") + path


def side_members(workroom, side, *, writers_only=False):
    """The users on one side of a workroom (the brand's members, or the creator)."""
    if side is Side.creator:
        return [workroom.creator]
    query = (
        select(User)
        .join(BrandMembership, BrandMembership.user_id == User.id)
        .where(BrandMembership.brand_id == workroom.brand_id)
        .order_by(User.id)
    )
    if writers_only:
        query = query.where(BrandMembership.role != BrandRole.viewer)
    return db.session.scalars(query).all()


def notify_side(workroom, side, kind, title, *, body="", link="", actor=None, **options):
    """Tell everyone on one side of a workroom, except the person who did it."""
    for user in side_members(workroom, side):
        if actor is None or user.id != actor.id:
            notify(user, kind, title, body=body, link=link, workroom_id=workroom.id, **options)


def notify_both(workroom, kind, title, *, actor=None, **options):
    """Tell both sides of a workroom, except the person who did it."""
    for side in (Side.brand, Side.creator):
        notify_side(workroom, side, kind, title, actor=actor, **options)


# The bell ------------------------------------------------------------------------------------


def unread_count(user):
    """How many notifications the user has not read (one indexed count)."""
    return db.session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    )


def mark_read(user, notification_id=None, *, now=None):
    """Mark one of the user's notifications read, or all of them; returns how many."""
    query = update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    return db.session.execute(query.values(read_at=now or utcnow())).rowcount


# Preferences -----------------------------------------------------------------------------------


def save_preferences(user, channels, digest, digest_hour, digest_weekday, quiet):
    """Store a user's choices: {Kind: Channel}, the digest schedule, quiet hours or None."""
    settings = db.session.get(NotificationSettings, user.id)
    if settings is None:
        settings = NotificationSettings(user_id=user.id)
        db.session.add(settings)
    settings.channels = {kind.value: channel.value for kind, channel in channels.items()}
    settings.digest = digest
    settings.digest_hour, settings.digest_weekday = digest_hour, digest_weekday
    settings.quiet_start, settings.quiet_end = quiet or (None, None)
    transaction_memo(db.session, "notification_settings").pop(user.id, None)
    return settings


def set_mute(user, workroom_id, muted, *, now=None):
    """Mute or unmute a workroom for the user (safe to repeat)."""
    existing = db.session.get(WorkroomMute, (user.id, workroom_id))
    if muted and existing is None:
        db.session.add(
            WorkroomMute(user_id=user.id, workroom_id=workroom_id, created_at=now or utcnow())
        )
    elif not muted and existing is not None:
        db.session.delete(existing)


def local_time(moment, user):
    """A moment in the user's time zone, as emails print it."""
    return moment.astimezone(zone_of(user)).strftime("%a %d %b %Y, %H:%M %Z")
