"""Reads of workrooms and their log, shared by pages, polls and jobs."""

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import AccountKind, BrandMembership
from portal.audit import AuditEvent
from portal.contracts.queries import waiting_on
from portal.extensions import db
from portal.workrooms.models import Audience, Message, MessageRevision, ReadMarker, Workroom

PAGE_SIZE = 50


def audiences_for(seat):
    """The audiences a seat may read."""
    if seat.side is None:
        return [Audience.everyone]
    return [Audience.everyone, Audience(seat.side.value)]


def _visible(seat):
    """Messages of the seat's workroom that the seat may read."""
    return select(Message).where(
        Message.workroom_id == seat.workroom.id, Message.audience.in_(audiences_for(seat))
    )


def _with_people(query):
    """Load authors and attachments with the messages (no query per message)."""
    return query.options(joinedload(Message.author), selectinload(Message.attachments))


def timeline_page(seat, *, before=None, limit=PAGE_SIZE):
    """Top-level messages, oldest first, ending just before `before` (keyset, never OFFSET).

    Returns (messages, has_older).
    """
    query = _visible(seat).where(Message.parent_id.is_(None))
    if before is not None:
        query = query.where(Message.seq < before)
    rows = db.session.scalars(
        _with_people(query.order_by(Message.seq.desc()).limit(limit + 1))
    ).all()
    return list(reversed(rows[:limit])), len(rows) > limit


def thread(seat, root):
    """The replies of a thread, oldest first."""
    return db.session.scalars(
        _with_people(_visible(seat).where(Message.parent_id == root.id).order_by(Message.seq))
    ).all()


def changes_since(seat, since):
    """Messages posted or changed after change number `since`, in change order."""
    return db.session.scalars(
        _with_people(
            _visible(seat).where(Message.changed_seq > since).order_by(Message.changed_seq)
        )
    ).all()


def last_change(workroom_id, user):
    """The workroom's change number if the user belongs to it, else None: one indexed read."""
    query = select(Workroom.last_change_seq).where(Workroom.id == workroom_id)
    if user.kind is AccountKind.creator:
        query = query.where(Workroom.creator_id == user.id)
    elif user.kind is AccountKind.brand:
        query = query.where(
            select(BrandMembership.id)
            .where(
                BrandMembership.brand_id == Workroom.brand_id, BrandMembership.user_id == user.id
            )
            .exists()
        )
    elif user.kind is not AccountKind.admin:
        return None
    return db.session.scalar(query)


def find_message(seat, message_id):
    """A message of the seat's workroom that the seat may read, or None."""
    return db.session.scalar(_with_people(_visible(seat).where(Message.id == message_id)))


def revisions(message):
    """Earlier texts of a message, oldest first."""
    return db.session.scalars(
        select(MessageRevision)
        .where(MessageRevision.message_id == message.id)
        .order_by(MessageRevision.id)
    ).all()


def read_upto(workroom, user):
    """The last message number the user has read."""
    return (
        db.session.scalar(
            select(ReadMarker.last_read_seq).where(
                ReadMarker.workroom_id == workroom.id, ReadMarker.user_id == user.id
            )
        )
        or 0
    )


def workrooms_of(user):
    """The workrooms a user sits in, most recently active first."""
    query = select(Workroom).options(joinedload(Workroom.brand), joinedload(Workroom.creator))
    if user.kind is AccountKind.creator:
        query = query.where(Workroom.creator_id == user.id)
    elif user.kind is AccountKind.brand:
        brands = select(BrandMembership.brand_id).where(BrandMembership.user_id == user.id)
        query = query.where(Workroom.brand_id.in_(brands))
    elif user.kind is not AccountKind.admin:
        return []
    return db.session.scalars(query.order_by(Workroom.last_activity_at.desc())).all()


def unread_counts(user, workrooms):
    """{workroom id: messages by others the user has not read} in one query."""
    if not workrooms:
        return {}
    side_audience = Audience.creator if user.kind is AccountKind.creator else Audience.brand
    marker = (
        select(ReadMarker.workroom_id, ReadMarker.last_read_seq)
        .where(ReadMarker.user_id == user.id)
        .subquery()
    )
    rows = db.session.execute(
        select(Message.workroom_id, func.count(Message.id))
        .outerjoin(marker, marker.c.workroom_id == Message.workroom_id)
        .where(
            Message.workroom_id.in_([w.id for w in workrooms]),
            Message.seq > func.coalesce(marker.c.last_read_seq, 0),
            or_(Message.author_id.is_(None), Message.author_id != user.id),
            Message.audience.in_([Audience.everyone, side_audience]),
            Message.deleted_at.is_(None),
        )
        .group_by(Message.workroom_id)
    ).all()
    return dict(rows)


def latest_messages(seat_by_workroom):
    """{workroom id: the newest visible top-level message} for a dashboard, one query."""
    ids = list(seat_by_workroom)
    if not ids:
        return {}
    newest = (
        select(func.max(Message.seq).label("seq"), Message.workroom_id)
        .where(Message.workroom_id.in_(ids), Message.audience == Audience.everyone)
        .group_by(Message.workroom_id)
        .subquery()
    )
    rows = db.session.scalars(
        select(Message)
        .join(
            newest, and_(Message.workroom_id == newest.c.workroom_id, Message.seq == newest.c.seq)
        )
        .options(joinedload(Message.author))
    ).all()
    return {m.workroom_id: m for m in rows}


def activity(workroom, *, before=None, limit=PAGE_SIZE):
    """Audit events of a workroom, newest first (keyset on seq). Returns (events, has_more)."""
    query = select(AuditEvent).where(AuditEvent.chain == f"workroom:{workroom.id}")
    if before is not None:
        query = query.where(AuditEvent.seq < before)
    rows = db.session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit + 1)).all()
    return rows[:limit], len(rows) > limit


def overview(user):
    """What a dashboard shows of the user's workrooms: unread counts, turns, latest lines."""
    workrooms = workrooms_of(user)
    return {
        "workrooms": workrooms,
        "unread": unread_counts(user, workrooms),
        "latest": latest_messages({w.id: w for w in workrooms}),
        "waiting": {w.id: waiting_on(w) for w in workrooms},
    }
