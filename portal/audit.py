"""Append-only audit events, hash-chained per workroom (or one platform chain)."""

import hashlib
import json
from datetime import datetime

import click
from flask.cli import with_appcontext
from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from portal.database import UTCDateTime, transaction_memo, utcnow
from portal.extensions import db

GENESIS = "0" * 64
CHAIN_RETRIES = 20


class AuditChainBusy(RuntimeError):
    """Too many concurrent writers raced for the same chain."""


class AuditEvent(db.Model):
    """Who did what to which object, when; each event stores the previous one's hash."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("chain", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))  #: "workroom:<id>" or "platform"
    seq: Mapped[int] = mapped_column(Integer)
    workroom_id: Mapped[int | None] = mapped_column(
        ForeignKey("workrooms.id", ondelete="RESTRICT"), index=True
    )
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


def event_digest(event):
    """SHA-256 over the event's content and the previous hash, in a canonical form."""
    payload = json.dumps(
        [
            event.chain,
            event.seq,
            event.actor_id,
            event.action,
            event.object_type,
            event.object_id,
            event.data,
            event.created_at.isoformat(),
            event.prev_hash,
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record_event(actor, action, obj, *, workroom=None, data=None, now=None):
    """Append an event to its chain in the current transaction.

    Workroom chains are numbered under the workroom's row lock (see
    workrooms.services.lock_workroom). The platform chain has no such lock, so when two
    transactions take the same number the unique (chain, seq) refuses one; it retries
    with the next number inside a savepoint.
    """
    chain = f"workroom:{workroom.id}" if workroom is not None else "platform"
    if workroom is not None and workroom.id in transaction_memo(db.session, "locked_workrooms"):
        return _append_locked(chain, actor, action, obj, workroom, data, now)
    db.session.flush()  # other pending changes fail here, not inside the retry loop
    for _attempt in range(CHAIN_RETRIES):
        event = _next_event(chain, actor, action, obj, workroom, data, now)
        try:
            with db.session.begin_nested():
                db.session.add(event)
        except IntegrityError:
            continue
        return event
    raise AuditChainBusy(f"could not append to the audit chain {chain}")


def _append_locked(chain, actor, action, obj, workroom, data, now):
    """Append to a workroom chain whose workroom this transaction has locked: nobody else
    can write to it now, so its end is read once and the event needs no retry (a batch's
    events are then written together)."""
    ends = transaction_memo(db.session, "chain_ends")
    event = _next_event(chain, actor, action, obj, workroom, data, now, last=ends.get(chain))
    db.session.add(event)
    ends[chain] = event
    return event


def _next_event(chain, actor, action, obj, workroom, data, now, last=None):
    """An event linked to the current end of its chain (`last`, or read here), with its hash
    computed."""
    if last is None:
        last = db.session.execute(
            select(AuditEvent.seq, AuditEvent.hash)
            .where(AuditEvent.chain == chain)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        ).first()
    event = AuditEvent(
        chain=chain,
        seq=(last.seq + 1) if last else 1,
        workroom_id=workroom.id if workroom is not None else None,
        actor_id=actor.id if actor is not None else None,
        action=action,
        object_type=type(obj).__name__.lower(),
        object_id=getattr(obj, "id", None),
        data=data or {},
        created_at=(now or utcnow()).replace(microsecond=0),
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = event_digest(event)
    return event


def verify_chain(chain):
    """The first broken event of a chain (its seq and why), or None when intact."""
    previous = GENESIS
    expected_seq = 1
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
    )
    for event in events:
        if event.seq != expected_seq:
            return event.seq, f"expected event {expected_seq}"
        if event.prev_hash != previous:
            return event.seq, "previous-hash link does not match"
        if event_digest(event) != event.hash:
            return event.seq, "content does not match its hash"
        previous, expected_seq = event.hash, expected_seq + 1
    return None


def verify_all_chains():
    """{chain: (seq, reason)} for every broken chain."""
    chains = db.session.scalars(select(AuditEvent.chain).distinct()).all()
    broken = {}
    for chain in chains:
        problem = verify_chain(chain)
        if problem:
            broken[chain] = problem
    return broken, len(chains)


@click.command("verify-audit")
@with_appcontext
def verify_audit_command():
    """Check every audit chain; name the first broken link of each."""
    broken, total = verify_all_chains()
    for chain, (seq, reason) in sorted(broken.items()):
        click.echo(f"BROKEN {chain} at event {seq}: {reason}")
    if broken:
        raise SystemExit(1)
    click.echo(f"All {total} audit chains are intact.")
