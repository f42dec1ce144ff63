"""The mediator's evidence: what the ticket is about, gathered with a fixed number of queries
for the ticket page, and the downloadable bundle (ZIP of HTML and JSON) a job builds from it.

Evidence is what both sides saw: messages to everyone, the ticket's thread without the
mediators' private notes, and reviews without the brand's internal comments.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import User
from portal.audit import AuditEvent, verify_chain
from portal.contracts.models import Contract, ContractAcceptance, ContractVersion
from portal.database import utcnow
from portal.deliverables.models import Deliverable, Review, Revision
from portal.errors import NotAllowed
from portal.escrow.models import LedgerEntry, LedgerTransaction
from portal.extensions import db
from portal.mediation.models import (
    BundleState,
    EvidenceBundle,
    PostKind,
    TicketLink,
    TicketPost,
)
from portal.queue import enqueue_after_commit
from portal.storage import LocalStorage
from portal.workrooms.models import Audience, Message
from portal.workrooms.services import lock_workroom

MAX_MESSAGES = 200
MAX_EVENTS = 500
#: the log around the disputed items: from this long before the earliest due date...
BEFORE_DUE = timedelta(days=7)
#: ...to this long after the ticket was opened
AFTER_OPENING = timedelta(days=1)


@dataclass
class Evidence:
    """Everything a mediator weighs for one ticket, loaded for display."""

    gathered_at: datetime
    contracts: list  #: the workroom's contracts, versions and acceptances loaded
    deliverables: list  #: named ones (or all of the workroom), revisions and reviews loaded
    deliverables_named: bool  #: False when the ticket names none and all are shown
    milestones: list  #: the named milestones
    messages: list  #: log entries both sides saw within the window, in seq order
    messages_from: datetime
    messages_until: datetime
    messages_cut: bool  #: more messages fell in the window than are shown (oldest dropped)
    posts: list  #: the ticket's thread without private notes
    transactions: list  #: ledger transactions of the workroom's contracts, in id order
    events: list  #: the end of the workroom's audit chain, in seq order
    events_cut: bool  #: the chain is longer than what is shown
    chain: str
    chain_problem: tuple | None  #: (seq, reason) of the first broken event, or None
    names: dict  #: {user id: name} of the audit events' and transactions' actors

    @property
    def chain_verified(self):
        """The whole audit chain checks out."""
        return self.chain_problem is None

    def name(self, user_id):
        """Who an id is, for events and transactions that store only the id."""
        return self.names.get(user_id, "Duet") if user_id is not None else "Duet"


def gather(ticket, *, now=None, progress=None):
    """The ticket's evidence in a fixed number of queries, whatever the amount of data.
    `progress`, when given, is told the percent done after each part (for the bundle job)."""
    now = now or utcnow()
    step = progress or (lambda percent: None)
    workroom_id = ticket.workroom_id
    links = _links(ticket)
    contracts = _contracts(workroom_id)
    step(10)
    named = [link.deliverable_id for link in links if link.deliverable_id is not None]
    deliverables = _deliverables(workroom_id, named)
    step(25)
    start, until = _window(ticket, deliverables if named else [])
    messages, messages_cut = _messages(workroom_id, start, until)
    posts = _posts(ticket)
    step(40)
    transactions = _transactions([contract.id for contract in contracts])
    step(50)
    chain = f"workroom:{workroom_id}"
    events, events_cut = _events(chain)
    problem = verify_chain(chain)
    step(60)
    actors = {t.actor_id for t in transactions} | {e.actor_id for e in events}
    return Evidence(
        gathered_at=now,
        contracts=contracts,
        deliverables=deliverables,
        deliverables_named=bool(named),
        milestones=[link.milestone for link in links if link.milestone is not None],
        messages=messages,
        messages_from=start,
        messages_until=until,
        messages_cut=messages_cut,
        posts=posts,
        transactions=transactions,
        events=events,
        events_cut=events_cut,
        chain=chain,
        chain_problem=problem,
        names=_names(actors - {None}),
    )


def _links(ticket):
    """The ticket's links with their milestones (deliverables load with their revisions)."""
    return db.session.scalars(
        select(TicketLink)
        .options(joinedload(TicketLink.milestone))
        .where(TicketLink.ticket_id == ticket.id)
        .order_by(TicketLink.id)
    ).all()


def _contracts(workroom_id):
    """The workroom's contracts with every version, its lines and acceptances (the accepted
    version is picked in Python, see Contract.accepted_version)."""
    return db.session.scalars(
        select(Contract)
        .options(
            selectinload(Contract.versions).options(
                selectinload(ContractVersion.lines),
                selectinload(ContractVersion.acceptances).joinedload(ContractAcceptance.user),
            )
        )
        .where(Contract.workroom_id == workroom_id)
        .order_by(Contract.id)
    ).all()


def _deliverables(workroom_id, ids):
    """The deliverables of these ids (all of the workroom's when none), with revisions,
    their files, submitters, reviews and reviewers."""
    query = select(Deliverable).options(
        selectinload(Deliverable.revisions).options(
            joinedload(Revision.submitted_by),
            joinedload(Revision.review).joinedload(Review.reviewer),
            joinedload(Revision.message).selectinload(Message.attachments),
        )
    )
    chosen = Deliverable.id.in_(ids) if ids else Deliverable.workroom_id == workroom_id
    return db.session.scalars(
        query.where(chosen).order_by(Deliverable.contract_id, Deliverable.position)
    ).all()


def _window(ticket, named):
    """From a week before the earliest named due date to a day after the ticket opened.
    The window also starts no later than a week before the opening: a ticket about work due
    later still shows what led to it."""
    start = min([d.due_at for d in named] + [ticket.created_at])
    return start - BEFORE_DUE, ticket.created_at + AFTER_OPENING


def _messages(workroom_id, start, until):
    """The window's messages both sides saw (not deleted), the latest MAX_MESSAGES in seq
    order, and whether older ones were left out."""
    rows = db.session.scalars(
        select(Message)
        .options(joinedload(Message.author), selectinload(Message.attachments))
        .where(
            Message.workroom_id == workroom_id,
            Message.audience == Audience.everyone,
            Message.deleted_at.is_(None),
            Message.created_at >= start,
            Message.created_at <= until,
        )
        .order_by(Message.seq.desc())
        .limit(MAX_MESSAGES + 1)  # one more tells whether the window held more
    ).all()
    return rows[:MAX_MESSAGES][::-1], len(rows) > MAX_MESSAGES


def _posts(ticket):
    """The ticket's thread as both parties see it: never the mediators' private notes."""
    return db.session.scalars(
        select(TicketPost)
        .options(joinedload(TicketPost.author))
        .where(TicketPost.ticket_id == ticket.id, TicketPost.kind != PostKind.private)
        .order_by(TicketPost.seq)
    ).all()


def _transactions(contract_ids):
    """Ledger transactions of these contracts, with their entries and accounts."""
    return db.session.scalars(
        select(LedgerTransaction)
        .options(selectinload(LedgerTransaction.entries).joinedload(LedgerEntry.account))
        .where(LedgerTransaction.contract_id.in_(contract_ids))
        .order_by(LedgerTransaction.id)
    ).all()


def _events(chain):
    """The last MAX_EVENTS events of the chain in seq order, and whether it is longer."""
    rows = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.chain == chain)
        .order_by(AuditEvent.seq.desc())
        .limit(MAX_EVENTS + 1)
    ).all()
    return rows[:MAX_EVENTS][::-1], len(rows) > MAX_EVENTS


def _names(user_ids):
    """{id: name} of these users, in one query (run even when there are none, so the
    number of queries never depends on the data)."""
    rows = db.session.execute(select(User.id, User.name).where(User.id.in_(sorted(user_ids))))
    return dict(rows.all())


# The bundle ----------------------------------------------------------------------------------


def bundle_storage():
    """Where finished bundles are kept (apart from uploads: they hold a whole case)."""
    return LocalStorage(current_app.config["EVIDENCE_DIR"])


def request_bundle(ticket, mediator, *, now=None):
    """The ticket's mediator asks for an evidence bundle; a job builds it after the commit.
    A bundle already waiting or under way is returned instead of a second one."""
    if mediator is None or not mediator.is_mediator or ticket.mediator_id != mediator.id:
        raise NotAllowed("Only the ticket's mediator can build its evidence bundle.")
    now = now or utcnow()
    lock_workroom(ticket.workroom)  # two clicks at once make one bundle
    pending = db.session.scalar(
        select(EvidenceBundle)
        .where(
            EvidenceBundle.ticket_id == ticket.id,
            EvidenceBundle.state.in_((BundleState.queued, BundleState.building)),
        )
        .order_by(EvidenceBundle.id.desc())
        .limit(1)
    )
    if pending is not None:
        return pending
    bundle = EvidenceBundle(
        ticket=ticket,
        requested_by=mediator,
        state=BundleState.queued,
        progress=0,
        created_at=now,
    )
    db.session.add(bundle)
    db.session.flush()
    enqueue_after_commit(
        db.session,
        "jobs.evidence.build_bundle",
        bundle.id,
        queue="default",
        job_id=f"evidence-bundle-{bundle.id}",
    )
    return bundle


# JSON ----------------------------------------------------------------------------------------


def _time(value):
    """A datetime or date as ISO 8601, or None."""
    return value.isoformat() if value is not None else None


def _money(minor, currency):
    """An amount as integer minor units with its currency."""
    return {"amount_minor": minor, "currency": currency}


def _person(user):
    """A user's name (Duet for the system)."""
    return user.name if user is not None else "Duet"


def as_json(evidence, ticket):
    """The evidence as plain JSON-ready data: ISO times, amounts in minor units."""
    return {
        "gathered_at": _time(evidence.gathered_at),
        "ticket": _ticket_json(ticket),
        "contracts": [_contract_json(c) for c in evidence.contracts],
        "deliverables": {
            "named_by_ticket": evidence.deliverables_named,
            "items": [_deliverable_json(d) for d in evidence.deliverables],
        },
        "messages": {
            "from": _time(evidence.messages_from),
            "until": _time(evidence.messages_until),
            "older_left_out": evidence.messages_cut,
            "items": [_message_json(m) for m in evidence.messages],
        },
        "ticket_thread": [_post_json(p) for p in evidence.posts],
        "ledger": [_transaction_json(t, evidence) for t in evidence.transactions],
        "milestones": [_milestone_json(m) for m in evidence.milestones],
        "audit": {
            "chain": evidence.chain,
            "verified": evidence.chain_verified,
            "broken_at": evidence.chain_problem[0] if evidence.chain_problem else None,
            "problem": evidence.chain_problem[1] if evidence.chain_problem else None,
            "older_left_out": evidence.events_cut,
            "events": [_event_json(e, evidence) for e in evidence.events],
        },
    }


def _ticket_json(ticket):
    """The ticket's summary."""
    return {
        "id": ticket.id,
        "workroom_id": ticket.workroom_id,
        "subject": ticket.subject,
        "category": ticket.category.value,
        "status": ticket.status.value,
        "opened_side": ticket.opened_side.value if ticket.opened_side else None,
        "opened_by": _person(ticket.opened_by),
        "flagged_by_system": ticket.flagged_by_system,
        "what_happened_md": ticket.what_happened_md,
        "asked_for_md": ticket.asked_for_md,
        "created_at": _time(ticket.created_at),
        "in_mediation_at": _time(ticket.in_mediation_at),
        "mediator": ticket.mediator.name if ticket.mediator else None,
        "resolved_at": _time(ticket.resolved_at),
        "outcome": ticket.outcome.value if ticket.outcome else None,
    }


def _contract_json(contract):
    """A contract and the terms in force (None before both sides accepted one)."""
    version = contract.accepted_version
    return {
        "id": contract.id,
        "status": contract.status.value,
        "accepted_version": _version_json(version) if version is not None else None,
    }


def _version_json(version):
    """A contract version: its hash, terms, lines and who accepted it."""
    return {
        "number": version.number,
        "title": version.title,
        "sha256": version.sha256,
        "terms_md": version.terms_md,
        "starts_on": _time(version.starts_on),
        "ends_on": _time(version.ends_on),
        "total": _money(version.total_minor, version.currency),
        "revision_budget": version.revision_budget,
        "auto_approve_days": version.auto_approve_days,
        "grace_hours": version.grace_hours,
        "kill_fee_percent": version.kill_fee_percent,
        "lines": [
            {
                "position": line.position,
                "title": line.title,
                "kind": line.kind.value,
                "platform": line.platform.value,
                "due_on": _time(line.due_on),
                "price": _money(line.price_minor, version.currency),
                "requirements": line.requirement_list,
            }
            for line in version.lines
        ],
        "acceptances": [
            {
                "side": acceptance.side.value,
                "by": _person(acceptance.user),
                "sha256": acceptance.sha256,
                "accepted_at": _time(acceptance.accepted_at),
            }
            for acceptance in version.acceptances
        ],
    }


def _deliverable_json(deliverable):
    """A deliverable with its numbered revisions."""
    return {
        "id": deliverable.id,
        "contract_id": deliverable.contract_id,
        "title": deliverable.title,
        "kind": deliverable.kind.value,
        "platform": deliverable.platform.value,
        "status": deliverable.status.value,
        "due_at": _time(deliverable.due_at),
        "price": _money(deliverable.price_minor, deliverable.currency),
        "requirements": deliverable.requirements,
        "rounds_used": deliverable.rounds_used,
        "live_url": deliverable.live_url,
        "live_on": _time(deliverable.live_on),
        "revisions": [_revision_json(r) for r in deliverable.revisions],
    }


def _revision_json(revision):
    """A revision, its files and the review both sides saw."""
    review = revision.review
    return {
        "number": revision.number,
        "state": revision.state.value,
        "submitted_by": _person(revision.submitted_by),
        "submitted_at": _time(revision.submitted_at),
        "text_md": revision.text_md,
        "links": revision.links,
        "checked": revision.checked,
        "files": [_file_json(f) for f in revision.files],
        # The brand's internal comment stays out: the creator never saw it.
        "review": None
        if review is None
        else {
            "decision": review.decision.value,
            "by": _person(review.reviewer),
            "feedback_md": review.feedback_md,
            "extra_round": review.extra_round,
            "created_at": _time(review.created_at),
        },
    }


def _file_json(attachment):
    """A file by name and hash (the bytes stay in the workroom)."""
    return {
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
    }


def _message_json(message):
    """A log entry."""
    return {
        "seq": message.seq,
        "kind": message.kind.value,
        "by": _person(message.author),
        "reply_to": message.parent_id,
        "id": message.id,
        "created_at": _time(message.created_at),
        "edited_at": _time(message.edited_at),
        "body_md": message.body_md,
        "files": [_file_json(f) for f in message.attachments],
    }


def _post_json(post):
    """A post of the ticket's thread."""
    return {
        "seq": post.seq,
        "kind": post.kind.value,
        "by": _person(post.author),
        "created_at": _time(post.created_at),
        "body_md": post.body_md,
    }


def _transaction_json(transaction, evidence):
    """A ledger transaction with its signed entries per account."""
    return {
        "id": transaction.id,
        "kind": transaction.kind,
        "idempotency_key": transaction.idempotency_key,
        "contract_id": transaction.contract_id,
        "milestone_id": transaction.milestone_id,
        "reason": transaction.reason,
        "actor": evidence.name(transaction.actor_id),
        "created_at": _time(transaction.created_at),
        "entries": [
            {"account": entry.account.key, **_money(entry.amount_minor, entry.currency)}
            for entry in transaction.entries
        ],
    }


def _milestone_json(milestone):
    """A named milestone and where its money stands."""
    currency = milestone.currency
    return {
        "id": milestone.id,
        "contract_id": milestone.contract_id,
        "title": milestone.title,
        "status": milestone.status.value,
        "amount": _money(milestone.amount_minor, currency),
        "released": _money(milestone.released_minor, currency),
        "refunded": _money(milestone.refunded_minor, currency),
        "in_escrow": _money(milestone.in_escrow_minor, currency),
        "funded_at": _time(milestone.funded_at),
        "paid_at": _time(milestone.paid_at),
    }


def _event_json(event, evidence):
    """An audit event with its hash links."""
    return {
        "seq": event.seq,
        "action": event.action,
        "actor": evidence.name(event.actor_id),
        "object_type": event.object_type,
        "object_id": event.object_id,
        "data": event.data,
        "created_at": _time(event.created_at),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }
