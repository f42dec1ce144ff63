"""Reads of workrooms and their log, shared by pages, polls and jobs."""

import re
from functools import cache

from sqlalchemy import and_, bindparam, column, func, literal_column, or_, select, table
from sqlalchemy.orm import contains_eager, joinedload, selectinload

from portal.accounts.auth import live_session_criteria
from portal.accounts.models import AccountKind, BrandMembership, User, UserSession
from portal.audit import AuditEvent
from portal.contracts.queries import waiting_in as contracts_waiting_in
from portal.database import utcnow
from portal.deliverables.queries import waiting_in as deliverables_waiting_in
from portal.extensions import db
from portal.workrooms.models import (
    Attachment,
    Audience,
    Message,
    MessageRevision,
    ReadMarker,
    Workroom,
)

PAGE_SIZE = 50
FILES_SHOWN = 20


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


@cache
def unchanged_poll_statement():
    """One indexed read for a poll: the workroom's change number, or no row unless the
    session is live and its user sits in the workroom (the seat rules of last_change).

    Built once and reused so SQLAlchemy's compiled form is reused too. Bound parameters:
    workroom_id plus those of accounts.auth.live_session_criteria.
    """
    member = BrandMembership.brand_id == Workroom.brand_id
    seated = or_(
        and_(User.kind == AccountKind.creator, Workroom.creator_id == User.id),
        and_(
            User.kind == AccountKind.brand,
            select(BrandMembership.id).where(member, BrandMembership.user_id == User.id).exists(),
        ),
        User.kind == AccountKind.admin,
    )
    return (
        select(Workroom.last_change_seq)
        .select_from(UserSession)
        .join(User, User.id == UserSession.user_id)
        .join(Workroom, Workroom.id == bindparam("workroom_id"))
        .where(live_session_criteria(), seated)
    )


def find_message(seat, message_id):
    """A message of the seat's workroom that the seat may read, or None."""
    return db.session.scalar(_with_people(_visible(seat).where(Message.id == message_id)))


SEARCH_LIMIT = 50
MAX_SEARCH_CHARS = 200  #: longer entries are cut: a search box holds a few words
MAX_SEARCH_WORDS = 16
SEARCH_WORD = re.compile(r"[^\W_]+")  # letters and digits; quotes, *, ^, :, ( ) ... are dropped
# SQLite's full-text index of messages.body_md (an FTS5 table the migrations build and
# triggers keep in step; rowid = messages.id). No model: it is not part of db.metadata.
_messages_fts = table("messages_fts", column("rowid"), column("body_md"))
# PostgreSQL: the same expression as the GIN index ix_messages_body_search, so it is used.
_SEARCH_CONFIG = literal_column("'simple'")


def _matching(words, text):
    """The condition "the message holds every word", for this database."""
    if db.session.get_bind().dialect.name == "postgresql":
        # plainto_tsquery reads its input as plain words ANDed together: no operators.
        return func.to_tsvector(_SEARCH_CONFIG, Message.body_md).bool_op("@@")(
            func.plainto_tsquery(_SEARCH_CONFIG, text)
        )
    # FTS5: each word quoted as a string, so OR, NEAR, *, ^ and column filters are only words.
    phrase = " ".join(f'"{word}"' for word in words)
    return Message.id.in_(
        select(_messages_fts.c.rowid).where(_messages_fts.c.body_md.match(phrase))
    )


def search(seat, text, limit=SEARCH_LIMIT):
    """Messages and replies the seat may read that hold every word of `text`, newest first.

    Deleted messages never match; the text is taken as words, never as query syntax.
    """
    text = (text or "").strip()[:MAX_SEARCH_CHARS]
    words = SEARCH_WORD.findall(text)[:MAX_SEARCH_WORDS]
    if not words:
        return []
    query = (
        _visible(seat)
        .where(Message.deleted_at.is_(None), _matching(words, text))
        .options(joinedload(Message.author))
        .order_by(Message.seq.desc())
        .limit(limit)
    )
    return db.session.scalars(query).all()


def _readable_files(seat):
    """Attachments of the seat's workroom on messages it may read that are not deleted."""
    return (
        select(Attachment)
        .join(Message, Attachment.message_id == Message.id)
        .where(
            Attachment.workroom_id == seat.workroom.id,
            Message.workroom_id == seat.workroom.id,
            Message.audience.in_(audiences_for(seat)),
            Message.deleted_at.is_(None),
        )
    )


def find_attachment(seat, attachment_id):
    """A file the seat may download, or None (other workrooms' ids and notes included)."""
    return db.session.scalar(_readable_files(seat).where(Attachment.id == attachment_id))


def workroom_files(seat, *, limit=FILES_SHOWN):
    """The newest files the seat may read, with their messages and authors (one query).

    Returns (attachments, has_more).
    """
    rows = db.session.scalars(
        _readable_files(seat)
        .options(contains_eager(Attachment.message).joinedload(Message.author))
        .order_by(Attachment.id.desc())
        .limit(limit + 1)
    ).all()
    return rows[:limit], len(rows) > limit


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
        "waiting": whose_turn(workrooms),
    }


def whose_turn(workrooms, *, now=None):
    """{workroom id: [(Side, sentence), ...]}: what waits on whom, from contracts and
    deliverables, in one query each whatever the number of workrooms."""
    waiting = contracts_waiting_in(workrooms)
    lines = deliverables_waiting_in([w.id for w in workrooms], now or utcnow())
    for workroom_id, more in lines.items():
        waiting.setdefault(workroom_id, []).extend(more)
    return waiting
