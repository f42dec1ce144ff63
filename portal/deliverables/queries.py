"""Reads about deliverables that the workroom, deliverable pages and dashboards share."""

from dataclasses import dataclass

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


def brand_overview(user, *, limit=10):
    """For a brand member: deliverables by status across creators, and what waits on the brand
    (revisions to review, soonest auto-approval first; extension requests from creators)."""
    workrooms = _brand_workroom_ids(user)
    counts = dict(
        db.session.execute(
            select(Deliverable.status, func.count())
            .join(Contract, Contract.id == Deliverable.contract_id)
            .where(Deliverable.workroom_id.in_(workrooms), Contract.status == ContractStatus.active)
            .group_by(Deliverable.status)
        ).all()
    )
    to_review = db.session.scalars(
        select(Revision)
        .join(Deliverable, Deliverable.id == Revision.deliverable_id)
        .options(
            joinedload(Revision.deliverable)
            .joinedload(Deliverable.workroom)
            .options(joinedload(Workroom.creator))
        )
        .where(Deliverable.workroom_id.in_(workrooms), Revision.state == RevisionState.in_review)
        .order_by(Revision.review_due_at)
        .limit(limit)
    ).all()
    extensions = _open_extensions(workrooms, Side.creator, limit)
    return {
        "status_counts": [(s, counts.get(s, 0)) for s in STATUS_ORDER],
        "to_review": to_review,
        "extensions": extensions,
        "can_review": _reviews_for(user),
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


def _open_extensions(workroom_ids, from_side, limit):
    """Open extension requests asked by one side in the given workrooms."""
    return db.session.scalars(
        select(ExtensionRequest)
        .join(Deliverable, Deliverable.id == ExtensionRequest.deliverable_id)
        .options(
            joinedload(ExtensionRequest.deliverable), joinedload(ExtensionRequest.requested_by)
        )
        .where(
            Deliverable.workroom_id.in_(workroom_ids),
            ExtensionRequest.state == RequestState.open,
            ExtensionRequest.side == from_side,
        )
        .order_by(ExtensionRequest.created_at)
        .limit(limit)
    ).all()


def creator_overview(user, *, limit=10):
    """For a creator: upcoming deadlines, changes requested, revisions awaiting review with
    their auto-approve countdowns, and extension requests from brands."""
    workrooms = select(Workroom.id).where(Workroom.creator_id == user.id)
    options = (
        joinedload(Deliverable.workroom).joinedload(Workroom.brand),
        joinedload(Deliverable.contract).selectinload(Contract.versions),
    )
    upcoming = db.session.scalars(
        _active_deliverables(workrooms)
        .options(*options)
        .where(
            Deliverable.status.in_([DeliverableStatus.pending, DeliverableStatus.changes_requested])
        )
        .order_by(Deliverable.due_at)
        .limit(limit)
    ).all()
    missed = db.session.scalars(
        _active_deliverables(workrooms)
        .options(*options)
        .where(Deliverable.status == DeliverableStatus.missed)
        .order_by(Deliverable.due_at)
        .limit(limit)
    ).all()
    in_review = db.session.scalars(
        select(Revision)
        .join(Deliverable, Deliverable.id == Revision.deliverable_id)
        .options(
            joinedload(Revision.deliverable)
            .joinedload(Deliverable.workroom)
            .joinedload(Workroom.brand)
        )
        .where(Deliverable.workroom_id.in_(workrooms), Revision.state == RevisionState.in_review)
        .order_by(Revision.review_due_at)
        .limit(limit)
    ).all()
    return {
        "upcoming": upcoming,
        "missed": missed,
        "in_review": in_review,
        "extensions": _open_extensions(workrooms, Side.brand, limit),
    }
