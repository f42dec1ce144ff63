"""Every state change of workrooms and their message log."""

from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from portal.audit import record_event
from portal.database import transaction_memo, utcnow
from portal.errors import InvalidState, NotAllowed
from portal.extensions import db
from portal.markup import render_markdown
from portal.notifications.models import Kind
from portal.notifications.services import notify_side
from portal.storage import discard_unless_committed, get_storage
from portal.workrooms.models import (
    Attachment,
    Audience,
    Message,
    MessageKind,
    MessageRevision,
    ReadMarker,
    Side,
    Workroom,
)
from portal.workrooms.uploads import UploadRefused, human_size

MAX_BODY = 20_000
ORPHAN_GRACE = timedelta(hours=1)  #: a file younger than this may belong to a running request


class EmptyMessage(InvalidState):
    """A message needs text or a file."""


def lock_workroom(workroom):
    """Take the workroom's row lock for this transaction (numbers messages and events)."""
    if workroom.id not in transaction_memo(db.session, "locked_workrooms"):
        lock_workrooms([workroom.id])
    return workroom


def lock_workrooms(workroom_ids):
    """Lock several workrooms in one statement, always in id order (so two transactions that
    lock overlapping sets never deadlock), and read them afresh. Until the transaction ends,
    the rows are ours: locking them again costs nothing."""
    locked = transaction_memo(db.session, "locked_workrooms")
    wanted = sorted(set(workroom_ids) - locked.keys())
    if wanted:
        rows = db.session.scalars(
            select(Workroom)
            .where(Workroom.id.in_(wanted))
            .order_by(Workroom.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        locked.update((row.id, row) for row in rows)  # held: the identity map is weak
    return [db.session.get(Workroom, workroom_id) for workroom_id in workroom_ids]


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


def _append(
    workroom,
    *,
    author,
    kind,
    audience,
    body_md,
    parent=None,
    client_msg_id=None,
    now,
    flush=True,
):
    """Number and add a message to a locked workroom (written at once unless flush=False,
    which lets a batch write its lines in one statement)."""
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
    if flush:
        db.session.flush()
    return message


def _tell_the_other_side(workroom, side, author, message, body_md, *, now):
    """A new message notifies the other side (their bells, or emails if they chose)."""
    other = Side.creator if side is Side.brand else Side.brand
    excerpt = " ".join(body_md.split())[:200] or "(files)"
    notify_side(
        workroom,
        other,
        Kind.message,
        f"{author.name} wrote in {workroom.brand.name} and {workroom.creator.name}'s workroom",
        body=excerpt,
        link=f"/workrooms/{workroom.id}#message-{message.seq}",
        actor=author,
        now=now,
    )


def note_audience(side):
    """The audience of an internal note written by one side."""
    return Audience.brand if side is Side.brand else Audience.creator


def post_message(
    seat,
    author,
    body_md,
    *,
    internal=False,
    parent=None,
    client_msg_id=None,
    uploads=(),
    now=None,
):
    """Post a message, a reply (threads are one level deep) or an internal note, with
    files checked by `uploads.inspect` (a message may be files only).

    A retried post with the same client message id returns the first message.
    """
    if not seat.can_write:
        raise NotAllowed("You can read this workroom but not write in it.")
    body_md = (body_md or "").strip()
    if not body_md and not uploads:
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
    check_quota(workroom, uploads)
    if parent is not None:
        db.session.refresh(parent)  # read under the lock: its reply count may have moved
        if parent.workroom_id != workroom.id or not visible_to(parent, seat):
            raise NotAllowed("That thread is not in this workroom.")
        if parent.parent is not None:  # one level: a reply to a reply joins the thread
            parent = parent.parent
            db.session.refresh(parent)
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
        data={
            "seq": message.seq,
            "audience": audience.value,
            "parent": parent and parent.seq,
            "files": len(uploads),
        },
        now=now,
    )
    attach_files(message, uploads, author, now=now)
    if audience is Audience.everyone:
        _tell_the_other_side(workroom, seat.side, author, message, body_md, now=now)
    return message


class QuotaExceeded(UploadRefused):
    """The workroom has no room left for these files."""


def check_quota(workroom, uploads):
    """Refuse files that would take a locked workroom past WORKROOM_QUOTA_BYTES."""
    if not uploads:
        return
    quota = current_app.config["WORKROOM_QUOTA_BYTES"]
    used = db.session.scalar(
        select(func.coalesce(func.sum(Attachment.size), 0)).where(
            Attachment.workroom_id == workroom.id
        )
    )
    adding = sum(upload.size for upload in uploads)
    if used + adding > quota:
        raise QuotaExceeded(
            f"This workroom holds {human_size(used)} of files and may hold "
            f"{human_size(quota)}; these files need {human_size(adding)}. "
            "Share fewer or smaller files."
        )


def attach_files(message, uploads, actor, *, now=None):
    """Store checked files on a message of a locked workroom: the bytes first, then the rows.

    If the transaction does not commit, the stored bytes are removed again.
    """
    if not uploads:
        return []
    check_quota(message.workroom, uploads)
    now = now or utcnow()
    storage = get_storage()
    attachments = []
    for upload in uploads:
        stored = storage.save(upload.stream)
        discard_unless_committed(db.session, storage, stored.key)
        attachment = Attachment(
            workroom_id=message.workroom_id,
            message=message,
            storage_key=stored.key,
            filename=upload.filename,
            content_type=upload.content_type,
            size=stored.size,
            sha256=stored.sha256,
            created_at=now,
        )
        db.session.add(attachment)
        attachments.append(attachment)
    db.session.flush()
    for attachment in attachments:
        record_event(
            actor,
            "attachment.added",
            attachment,
            workroom=message.workroom,
            data={
                "seq": message.seq,
                "name": attachment.filename,
                "type": attachment.content_type,
                "size": attachment.size,
                "sha256": attachment.sha256,
            },
            now=now,
        )
    return attachments


def sweep_orphan_files(storage, *, older_than=ORPHAN_GRACE):
    """Remove stored files no attachment refers to (left by a crash between write and commit).

    Files younger than `older_than` are left alone: their request may still be running.
    Returns how many files were removed.
    """
    keys = list(storage.keys(older_than=older_than.total_seconds()))
    removed = 0
    for start in range(0, len(keys), 500):
        batch = keys[start : start + 500]
        known = set(
            db.session.scalars(
                select(Attachment.storage_key).where(Attachment.storage_key.in_(batch))
            )
        )
        for key in batch:
            if key not in known:
                storage.delete(key)
                removed += 1
    return removed


def post_system_event(workroom, text_md, *, actor=None, now=None, flush=True):
    """A system line in the log, seen by both sides (contract proposed, accepted, ...)."""
    workroom = lock_workroom(workroom)
    return _append(
        workroom,
        author=actor,
        kind=MessageKind.system,
        audience=Audience.everyone,
        body_md=text_md,
        now=now or utcnow(),
        flush=flush,
    )


def _lock_with(message):
    """Lock the message's workroom, then read the message afresh (another edit may have won)."""
    workroom = lock_workroom(message.workroom)
    db.session.refresh(message)
    return workroom


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
    workroom = _lock_with(message)
    _check_author(message, actor)
    body_md = (body_md or "").strip()
    if not body_md and not message.attachments:
        raise EmptyMessage("A message can't be empty; delete it instead.")
    if body_md == message.body_md:
        return message
    now = now or utcnow()
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
    workroom = _lock_with(message)
    _check_author(message, actor)
    now = now or utcnow()
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
