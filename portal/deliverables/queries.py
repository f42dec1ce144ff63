"""Reads about deliverables that the workroom, deliverable pages and dashboards share."""

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import BrandMembership, BrandRole
from portal.contracts.models import Contract, ContractStatus
from portal.deliverables.models import (
    Deliverable,
    DeliverableStatus,
    ExtensionRequest,
    RequestState,
    Review,
    Revision,
    RevisionState,
    RoundRequest,
)
from portal.deliverables.services import missed_after, rounds_allowed, terms_in_force
from portal.extensions import db
from portal.textdiff import diff_lines, unified
from portal.workrooms.models import Message, Side, Workroom

#: the order deliverables are listed in: what needs attention first
STATUS_ORDER = [
    DeliverableStatus.missed,
    DeliverableStatus.submitted,
    DeliverableStatus.changes_requested,
    DeliverableStatus.pending,
    DeliverableStatus.approved,
    DeliverableStatus.waived,
    DeliverableStatus.cancelled,
    DeliverableStatus.reassigned,
]


def _with_contract_terms(query):
    """Eager-load each deliverable's contract with its versions (terms in force)."""
    return query.options(
        joinedload(Deliverable.contract).selectinload(Contract.versions),
    )


def of_workroom(workroom):
    """The workroom's deliverables, soonest due first, with their revision in review."""
    deliverables = db.session.scalars(
        _with_contract_terms(select(Deliverable))
        .where(Deliverable.workroom_id == workroom.id)
        .order_by(Deliverable.due_at, Deliverable.id)
    ).all()
    return deliverables, in_review_by_deliverable(deliverables)


def in_review_by_deliverable(deliverables):
    """The revision in review of each deliverable that has one: {deliverable id: revision}."""
    ids = [d.id for d in deliverables if d.status is DeliverableStatus.submitted]
    if not ids:
        return {}
    revisions = db.session.scalars(
        select(Revision).where(
            Revision.deliverable_id.in_(ids), Revision.state == RevisionState.in_review
        )
    )
    return {r.deliverable_id: r for r in revisions}


def find(workroom, deliverable_id):
    """A deliverable of the workroom, or None."""
    return db.session.scalar(
        select(Deliverable).where(
            Deliverable.id == deliverable_id, Deliverable.workroom_id == workroom.id
        )
    )


def page(workroom, deliverable_id):
    """A deliverable with everything its page shows, in a fixed number of queries."""
    return db.session.scalar(
        _with_contract_terms(select(Deliverable))
        .options(
            selectinload(Deliverable.revisions).options(
                joinedload(Revision.submitted_by),
                joinedload(Revision.review).joinedload(Review.reviewer),
                joinedload(Revision.message).selectinload(Message.attachments),
            ),
        )
        .where(Deliverable.id == deliverable_id, Deliverable.workroom_id == workroom.id)
    )


def requests_of(deliverable):
    """The deliverable's extension requests (newest first) and its open extra-round request."""
    extensions = db.session.scalars(
        select(ExtensionRequest)
        .options(joinedload(ExtensionRequest.requested_by), joinedload(ExtensionRequest.decided_by))
        .where(ExtensionRequest.deliverable_id == deliverable.id)
        .order_by(ExtensionRequest.created_at.desc(), ExtensionRequest.id.desc())
    ).all()
    open_round = db.session.scalar(
        select(RoundRequest)
        .options(joinedload(RoundRequest.requested_by))
        .where(
            RoundRequest.deliverable_id == deliverable.id, RoundRequest.state == RequestState.open
        )
    )
    return extensions, open_round


@dataclass(frozen=True)
class Budget:
    """The revision budget of a deliverable as the page shows it."""

    used: int
    allowed: int
    contract_budget: int

    @property
    def left(self):
        """Rounds still available."""
        return max(self.allowed - self.used, 0)


def budget_of(deliverable):
    """Rounds used and allowed."""
    return Budget(
        deliverable.rounds_used,
        rounds_allowed(deliverable),
        terms_in_force(deliverable).revision_budget,
    )


def deadline_of(deliverable):
    """When a waiting deliverable counts as missed (due plus grace), else None."""
    waiting = (DeliverableStatus.pending, DeliverableStatus.changes_requested)
    return missed_after(deliverable) if deliverable.status in waiting else None


def revision_of(deliverable, number):
    """One revision of a loaded deliverable, by number, or None."""
    return next((r for r in deliverable.revisions if r.number == number), None)


def revision_lines(revision):
    """A revision as the lines the compare page diffs: links, checklist, then the text."""
    rows = [f"Link: {link}" for link in revision.links]
    rows += [f"Checked: {item}" for item in revision.checked]
    rows += [f"File: {f.filename} ({f.sha256[:12]})" for f in revision.files]
    rows.append("Text:")
    rows += revision.text_md.split("\n")
    return rows


def diff_revisions(old, new):
    """The line diff between two revisions, as rows and as a unified diff."""
    a, b = revision_lines(old), revision_lines(new)
    return diff_lines(a, b), unified(a, b, f"revision {old.number}", f"revision {new.number}")


# Dashboards ------------------------------------------------------------------------------


def _active_deliverables(workroom_ids):
    """Deliverables under active contracts in the given workrooms."""
    return (
        select(Deliverable)
        .join(Contract, Contract.id == Deliverable.contract_id)
        .where(Deliverable.workroom_id.in_(workroom_ids), Contract.status == ContractStatus.active)
    )


def _brand_workroom_ids(user):
    """The workrooms of every brand the user belongs to."""
    return (
        select(Workroom.id)
        .join(BrandMembership, BrandMembership.brand_id == Workroom.brand_id)
        .where(BrandMembership.user_id == user.id)
    )


def _in_review(workroom_ids, limit, *, counterpart):
    """Revisions in review under active contracts, soonest auto-approval first, with the
    deliverable, its workroom and the counterpart (the creator or the brand) loaded."""
    return db.session.scalars(
        select(Revision)
        .join(Deliverable, Deliverable.id == Revision.deliverable_id)
        .join(Contract, Contract.id == Deliverable.contract_id)
        .options(
            joinedload(Revision.deliverable)
            .joinedload(Deliverable.workroom)
            .joinedload(counterpart)
        )
        .where(
            Deliverable.workroom_id.in_(workroom_ids),
            Contract.status == ContractStatus.active,
            Revision.state == RevisionState.in_review,
        )
        .order_by(Revision.review_due_at, Revision.id)
        .limit(limit)
    ).all()


def brand_overview(user, *, limit=10):
    """For a brand member: deliverables by status across creators, and what waits on the brand
    (revisions to review, soonest auto-approval first; missed deliverables that need a remedy;
    extension requests from creators). A fixed number of queries, whatever the data."""
    workrooms = _brand_workroom_ids(user)
    counts = dict(
        db.session.execute(
            select(Deliverable.status, func.count())
            .join(Contract, Contract.id == Deliverable.contract_id)
            .where(Deliverable.workroom_id.in_(workrooms), Contract.status == ContractStatus.active)
            .group_by(Deliverable.status)
        ).all()
    )
    missed = db.session.scalars(
        _active_deliverables(workrooms)
        .options(joinedload(Deliverable.workroom).joinedload(Workroom.creator))
        .where(Deliverable.status == DeliverableStatus.missed)
        .order_by(Deliverable.due_at, Deliverable.id)
        .limit(limit)
    ).all()
    return {
        "status_counts": [(s, counts.get(s, 0)) for s in STATUS_ORDER],
        "total": sum(counts.values()),
        "to_review": _in_review(workrooms, limit, counterpart=Workroom.creator),
        "missed": missed,
        "extensions": _open_extensions(
            workrooms, Side.creator, limit, counterpart=Workroom.creator
        ),
        "can_review": _reviews_for(user),
        "limit": limit,
    }


def _reviews_for(user):
    """True when the user is an owner or manager somewhere (viewers only read)."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(BrandMembership)
            .where(BrandMembership.user_id == user.id, BrandMembership.role != BrandRole.viewer)
        )
        > 0
    )


def _open_extensions(workroom_ids, from_side, limit, *, counterpart):
    """Open extension requests asked by one side in the given workrooms, under active
    contracts, oldest first, with the deliverable, its workroom and the counterpart loaded."""
    return db.session.scalars(
        select(ExtensionRequest)
        .join(Deliverable, Deliverable.id == ExtensionRequest.deliverable_id)
        .join(Contract, Contract.id == Deliverable.contract_id)
        .options(
            joinedload(ExtensionRequest.deliverable)
            .joinedload(Deliverable.workroom)
            .joinedload(counterpart),
            joinedload(ExtensionRequest.requested_by),
        )
        .where(
            Deliverable.workroom_id.in_(workroom_ids),
            Contract.status == ContractStatus.active,
            ExtensionRequest.state == RequestState.open,
            ExtensionRequest.side == from_side,
        )
        .order_by(ExtensionRequest.created_at, ExtensionRequest.id)
        .limit(limit)
    ).all()


def creator_overview(user, *, limit=10):
    """For a creator: upcoming deadlines (changes requested among them), missed deliverables,
    revisions awaiting the brand's review with their auto-approve countdowns, and extension
    requests from brands. A fixed number of queries, whatever the data."""
    workrooms = select(Workroom.id).where(Workroom.creator_id == user.id)
    with_brand = joinedload(Deliverable.workroom).joinedload(Workroom.brand)
    # the terms in force give each upcoming deliverable its grace period (missed_at below)
    with_terms = joinedload(Deliverable.contract).selectinload(Contract.versions)
    waiting = [DeliverableStatus.pending, DeliverableStatus.changes_requested]
    upcoming = db.session.scalars(
        _active_deliverables(workrooms)
        .options(with_brand, with_terms)
        .where(Deliverable.status.in_(waiting))
        .order_by(Deliverable.due_at, Deliverable.id)
        .limit(limit)
    ).all()
    missed = db.session.scalars(
        _active_deliverables(workrooms)
        .options(with_brand)
        .where(Deliverable.status == DeliverableStatus.missed)
        .order_by(Deliverable.due_at, Deliverable.id)
        .limit(limit)
    ).all()
    return {
        "upcoming": upcoming,
        #: when each upcoming deliverable counts as missed (due plus the contract's grace)
        "missed_at": {d.id: missed_after(d) for d in upcoming},
        "missed": missed,
        "in_review": _in_review(workrooms, limit, counterpart=Workroom.brand),
        "extensions": _open_extensions(workrooms, Side.brand, limit, counterpart=Workroom.brand),
        "limit": limit,
    }


# Whose turn -------------------------------------------------------------------------------

#: pending deliverables show as waiting on the creator once due within this window
SOON = timedelta(days=7)


def _in_words(delta):
    """'in 3 days', 'in 5 hours', 'overdue'."""
    hours = int(delta.total_seconds() // 3600)
    if hours < 0:
        return "overdue"
    if hours < 48:
        return f"in {hours} hour{'' if hours == 1 else 's'}"
    return f"in {hours // 24} days"


def _waiting_line(deliverable, now):
    """Who must act on a deliverable, and what they must do; None when nobody must yet."""
    title, status = deliverable.title, deliverable.status
    if status is DeliverableStatus.submitted:
        n = deliverable.last_revision_number
        return Side.brand, f"Review revision {n} of {title}"
    if status is DeliverableStatus.missed:
        return Side.brand, f"{title} was missed: extend, waive or cancel it"
    if status is DeliverableStatus.changes_requested:
        return Side.creator, f"Revise {title} (due {_in_words(deliverable.due_at - now)})"
    if status is DeliverableStatus.pending and deliverable.due_at - now <= SOON:
        return Side.creator, f"Submit {title} (due {_in_words(deliverable.due_at - now)})"
    return None


def waiting_in(workroom_ids, now):
    """{workroom id: [(Side, sentence), ...]} for deliverables of active contracts, in one
    query: reviews and remedies wait on the brand, submissions due soon on the creator."""
    if not workroom_ids:
        return {}
    waiting_statuses = [
        DeliverableStatus.pending,
        DeliverableStatus.submitted,
        DeliverableStatus.changes_requested,
        DeliverableStatus.missed,
    ]
    deliverables = db.session.scalars(
        _active_deliverables(list(workroom_ids))
        .where(Deliverable.status.in_(waiting_statuses))
        .order_by(Deliverable.due_at, Deliverable.id)
    ).all()
    waiting = {}
    for deliverable in deliverables:
        line = _waiting_line(deliverable, now)
        if line is not None:
            waiting.setdefault(deliverable.workroom_id, []).append(line)
    return waiting
