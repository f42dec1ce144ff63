"""Deliverable timers: auto-approval, missed deadlines and the warnings before auto-approval.

Each sweep finds its candidates with an indexed query, then hands each one to a service in a
transaction of its own. The services re-check under the workroom lock (or claim a unique
row), so a sweep may run twice, late, or on two workers at once.
"""

from datetime import timedelta

from sqlalchemy import select

from jobs.sweep import candidate_ids, each_alone
from portal.contracts.models import Contract, ContractStatus
from portal.database import utcnow
from portal.deliverables.models import Deliverable, DeliverableStatus, Revision, RevisionState
from portal.deliverables.reminders import WARNING_HOURS, warn_reviewers
from portal.deliverables.services import auto_approve_revision, mark_missed


def sweep_auto_approvals(now=None):
    """Approve every revision whose review window has run out; returns how many."""
    now = now or utcnow()
    ids = candidate_ids(
        select(Revision.id)
        .where(Revision.state == RevisionState.in_review, Revision.review_due_at <= now)
        .order_by(Revision.review_due_at, Revision.id)
    )
    return each_alone(Revision, ids, lambda revision: auto_approve_revision(revision, now=now))


def sweep_missed(now=None):
    """Mark missed every waiting deliverable of an active contract past due plus grace, then
    flag for mediation those missed too long (jobs.mediation.flag_long_missed).

    The query takes everything past due; the service checks the contract's grace period.
    """
    now = now or utcnow()
    ids = candidate_ids(
        select(Deliverable.id)
        .join(Contract, Contract.id == Deliverable.contract_id)
        .where(
            Deliverable.status.in_(
                [DeliverableStatus.pending, DeliverableStatus.changes_requested]
            ),
            Deliverable.due_at <= now,
            Contract.status == ContractStatus.active,
        )
        .order_by(Deliverable.due_at, Deliverable.id)
    )
    marked = each_alone(Deliverable, ids, lambda deliverable: mark_missed(deliverable, now=now))
    from jobs.mediation import flag_long_missed  # mediation builds on deliverables

    return marked + flag_long_missed(now=now)


def sweep_review_warnings(now=None):
    """Warn the reviewers of every revision whose auto-approval is near; returns the number
    of emails queued."""
    now = now or utcnow()
    ids = candidate_ids(
        select(Revision.id)
        .where(
            Revision.state == RevisionState.in_review,
            Revision.review_due_at > now,
            Revision.review_due_at <= now + timedelta(hours=max(WARNING_HOURS)),
        )
        .order_by(Revision.review_due_at, Revision.id)
    )
    return each_alone(Revision, ids, lambda revision: warn_reviewers(revision, now=now))
