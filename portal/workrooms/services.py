"""Every state change of workrooms and their message log."""

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from portal.audit import record_event
from portal.database import utcnow
from portal.errors import InvalidState, NotAllowed
from portal.extensions import db
from portal.markup import render_markdown
from portal.workrooms.models import (
    Audience,
    Message,
    MessageKind,
    MessageRevision,
    ReadMarker,
    Side,
    Workroom,
)

MAX_BODY = 20_000


class EmptyMessage(InvalidState):
    """A message needs text or a file."""


def lock_workroom(workroom):
    """Take the workroom's row lock for this transaction (numbers messages and events)."""
    db.session.execute(
        select(Workroom.id).where(Workroom.id == workroom.id).with_for_update()
    ).one()
    db.session.refresh(workroom)
    return workroom


def open_workroom(brand, creator, actor, *, now=None):
    """The pair's workroom, created on first use (one per brand and creator)."""
    existing = db.session.scalar(
        select(Workroom).where(Workroom.brand_id == brand.id, Workroom.creator_id == creator.id)
    )
    if existing is not None:
        return existing
    now = now or utcnow()
    workroom = Workroom(brand=brand, creator=creator, created_at=now, last_activity_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(workroom)
    except IntegrityError:
        # Another request opened it at the same moment: use theirs.
        return db.session.scalar(
            select(Workroom).where(Workroom.brand_id == brand.id, Workroom.creator_id == creator.id)
        )
    record_event(actor, "workroom.opened", workroom, workroom=workroom, now=now)
    return workroom


def _next_change(workroom):
    """The next change number of a locked workroom."""
    workroom.last_change_seq += 1
    return workroom.last_change_seq


def _append(workroom, *, author, kind, audience, body_md, parent=None, client_msg_id=None, now):
    """Number and add a message to a locked workroom."""
    workroom.last_message_seq += 1
    message = Message(
        workroom=workroom,
        seq=workroom.last_message_seq,
        changed_seq=_next_change(workroom),
        parent=parent,
        author=author,
        kind=kind,
        audience=audience,
        client_msg_id=client_msg_id,
        body_md=body_md,
        body_html=render_markdown(body_md),
        created_at=now,
    )
    workroom.last_activity_at = now
    db.session.add(message)
    if parent is not None:
        parent.reply_count += 1
        parent.changed_seq = _next_change(workroom)
    db.session.flush()
    return message


def note_audience(side):
    """The audience of an internal note written by one side."""
    return Audience.brand if side is Side.brand else Audience.creator


def post_message(
    seat, author, body_md, *, internal=False, parent=None, client_msg_id=None, now=None
):
    """Post a message, a reply (threads are one level deep) or an internal note.

    A retried post with the same client message id returns the first message.
    """
    if not seat.can_write:
        raise NotAllowed("You can read this workroom but not write in it.")
    body_md = (body_md or "").strip()
    if not body_md:
        raise EmptyMessage("Write something first.")
    if len(body_md) > MAX_BODY:
        raise InvalidState(f"Messages are limited to {MAX_BODY:,} characters.")
    workroom = lock_workroom(seat.workroom)
    if client_msg_id:
        existing = db.session.scalar(
            select(Message).where(
                Message.author_id == author.id, Message.client_msg_id == client_msg_id
            )
        )
        if existing is not None:
            return existing
    if parent is not None:
        if parent.workroom_id != workroom.id or not visible_to(parent, seat):
            raise NotAllowed("That thread is not in this workroom.")
        parent = parent.parent or parent  # one level: a reply to a reply joins the thread
        if parent.deleted_at is not None:
            raise InvalidState("That message was deleted; start a new thread.")
    audience = note_audience(seat.side) if internal else Audience.everyone
    if parent is not None and parent.audience is not Audience.everyone:
        audience = parent.audience  # replies to a note stay internal
    now = now or utcnow()
    message = _append(
        workroom,
        author=author,
        kind=MessageKind.message,
        audience=audience,
        body_md=body_md,
        parent=parent,
        client_msg_id=client_msg_id,
        now=now,
    )
    record_event(
        author,
        "message.posted",
        message,
        workroom=workroom,
        data={"seq": message.seq, "audience": audience.value, "parent": parent and parent.seq},
        now=now,
    )
    return message


def post_system_event(workroom, text_md, *, actor=None, now=None):
    """A system line in the log, seen by both sides (contract proposed, accepted, ...)."""
    workroom = lock_workroom(workroom)
    return _append(
        workroom,
        author=actor,
        kind=MessageKind.system,
        audience=Audience.everyone,
        body_md=text_md,
        now=now or utcnow(),
    )


def _check_author(message, actor):
    """Only the author may change a message, and never a system line or a tombstone."""
    if message.kind is not MessageKind.message or message.author_id != actor.id:
        raise NotAllowed("Only the author can change this message.")
    if message.deleted_at is not None:
        raise InvalidState("This message was deleted.")


def _keep_revision(message, now):
    """Store the current text before it is replaced."""
    db.session.add(
        MessageRevision(
            message_id=message.id,
            body_md=message.body_md,
            body_html=message.body_html,
            created_at=message.edited_at or message.created_at,
            replaced_at=now,
        )
    )


def edit_message(message, actor, body_md, *, now=None):
    """Change a message's text; the earlier text stays in its history."""
    _check_author(message, actor)
    body_md = (body_md or "").strip()
    if not body_md:
        raise EmptyMessage("A message can't be empty; delete it instead.")
    if body_md == message.body_md:
        return message
    now = now or utcnow()
    workroom = lock_workroom(message.workroom)
    _keep_revision(message, now)
    message.body_md, message.body_html = body_md, render_markdown(body_md)
    message.edited_at = now
    message.changed_seq = _next_change(workroom)
    record_event(
        actor, "message.edited", message, workroom=workroom, data={"seq": message.seq}, now=now
    )
    return message


def delete_message(message, actor, *, now=None):
    """Replace a message by a tombstone; its text stays in the history for the record."""
    _check_author(message, actor)
    now = now or utcnow()
    workroom = lock_workroom(message.workroom)
    _keep_revision(message, now)
    message.body_md, message.body_html = "", ""
    message.deleted_at = now
    message.changed_seq = _next_change(workroom)
    record_event(
        actor, "message.deleted", message, workroom=workroom, data={"seq": message.seq}, now=now
    )
    return message


def visible_to(message, seat):
    """True when the seat may read this message (notes stay on their side)."""
    if message.audience is Audience.everyone:
        return True
    return seat.side is not None and message.audience.value == seat.side.value


def mark_read(workroom, user, seq):
    """Move the user's read marker forward to `seq` (never back)."""
    seq = min(seq, workroom.last_message_seq)
    updated = db.session.execute(
        update(ReadMarker)
        .where(
            ReadMarker.workroom_id == workroom.id,
            ReadMarker.user_id == user.id,
            ReadMarker.last_read_seq < seq,
        )
        .values(last_read_seq=seq)
    ).rowcount
    if updated:
        return
    exists = db.session.scalar(
        select(ReadMarker.id).where(
            ReadMarker.workroom_id == workroom.id, ReadMarker.user_id == user.id
        )
    )
    if exists is None:
        try:
            with db.session.begin_nested():
                db.session.add(
                    ReadMarker(workroom_id=workroom.id, user_id=user.id, last_read_seq=seq)
                )
        except IntegrityError:
            mark_read(workroom, user, seq)
