"""Deliverable timers: auto-approval, missed deadlines and the warnings before auto-approval.

Each sweep finds its candidates with an indexed query, then hands each one to a service in a
transaction of its own. The services re-check under the workroom lock (or claim a unique
row), so a sweep may run twice, late, or on two workers at once.
"""

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from portal.contracts.models import Contract, ContractStatus
from portal.database import utcnow
from portal.deliverables.models import Deliverable, DeliverableStatus, Revision, RevisionState
from portal.deliverables.reminders import WARNING_HOURS, warn_reviewers
from portal.deliverables.services import auto_approve_revision, mark_missed
from portal.errors import DomainError
from portal.extensions import db

log = logging.getLogger(__name__)

#: failures that concern one object (a refused transition, a lost race, a lock timeout);
#: the sweep rolls that object back, goes on with the others and fails at the end
PER_OBJECT_ERRORS = (DomainError, IntegrityError, OperationalError)


class SweepIncomplete(RuntimeError):
    """Some objects of a sweep failed; the others were committed."""


def sweep_auto_approvals(now=None):
    """Approve every revision whose review window has run out; returns how many."""
    now = now or utcnow()
    ids = _ids(
        select(Revision.id)
        .where(Revision.state == RevisionState.in_review, Revision.review_due_at <= now)
        .order_by(Revision.review_due_at, Revision.id)
    )
    return _each(Revision, ids, lambda revision: auto_approve_revision(revision, now=now))


def sweep_missed(now=None):
    """Mark missed every waiting deliverable of an active contract past due plus grace.

    The query takes everything past due; the service checks the contract's grace period.
    """
    now = now or utcnow()
    ids = _ids(
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
    return _each(Deliverable, ids, lambda deliverable: mark_missed(deliverable, now=now))


def sweep_review_warnings(now=None):
    """Warn the reviewers of every revision whose auto-approval is near; returns the number
    of emails queued."""
    now = now or utcnow()
    ids = _ids(
        select(Revision.id)
        .where(
            Revision.state == RevisionState.in_review,
            Revision.review_due_at > now,
            Revision.review_due_at <= now + timedelta(hours=max(WARNING_HOURS)),
        )
        .order_by(Revision.review_due_at, Revision.id)
    )
    return _each(Revision, ids, lambda revision: warn_reviewers(revision, now=now))


def _ids(query):
    """The candidates' ids; the reading transaction ends here (SQLite's write lock too)."""
    ids = db.session.scalars(query).all()
    db.session.commit()
    return ids


def _each(model, ids, action):
    """Run `action` on each object and commit it alone; the total of what it reports
    (a count, or a row for one change, None for nothing done)."""
    total, failed = 0, []
    for object_id in ids:
        try:
            obj = db.session.get(model, object_id)
            result = action(obj) if obj is not None else None
            db.session.commit()
        except PER_OBJECT_ERRORS:
            db.session.rollback()
            log.exception("%s %s: sweep step failed", model.__name__, object_id)
            failed.append(object_id)
            continue
        total += result if isinstance(result, int) else int(result is not None)
    if failed:
        raise SweepIncomplete(f"{len(failed)} of {len(ids)} {model.__tablename__} failed: {failed}")
    return total
