"""Mediation timers: tickets whose response time ran out go to the mediators' queue, and
long-missed deliverables are flagged for triage (part of the missed-deliverables sweep).

Each step runs in its own transaction; the services re-check under the workroom lock, so
the sweeps may run twice, late, or on two workers at once.
"""

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from jobs.sweep import candidate_ids, each_alone
from portal.database import utcnow
from portal.deliverables.models import Deliverable, DeliverableStatus
from portal.deliverables.services import missed_after
from portal.mediation.models import Ticket, TicketStatus
from portal.mediation.services import escalate_unanswered, flag_missed_deliverable


def sweep_mediation(now=None):
    """Send every open ticket whose response time ran out to mediation; returns how many."""
    now = now or utcnow()
    ids = candidate_ids(
        select(Ticket.id)
        .where(Ticket.status == TicketStatus.open, Ticket.respond_by <= now)
        .order_by(Ticket.respond_by, Ticket.id)
    )
    return each_alone(Ticket, ids, lambda ticket: escalate_unanswered(ticket, now=now) or None)


def flag_long_missed(now=None):
    """Open a triage ticket for each deliverable missed longer than MEDIATION_AUTO_FLAG_DAYS
    that no open ticket names; returns how many (0 when the setting is 0)."""
    now = now or utcnow()
    days = current_app.config["MEDIATION_AUTO_FLAG_DAYS"]
    if days <= 0:
        return 0
    ids = candidate_ids(
        select(Deliverable.id)
        .where(
            Deliverable.status == DeliverableStatus.missed,
            Deliverable.due_at <= now - timedelta(days=days),
        )
        .order_by(Deliverable.due_at, Deliverable.id)
    )

    def flag(deliverable):
        if missed_after(deliverable) + timedelta(days=days) > now:
            return None
        return flag_missed_deliverable(deliverable, now=now)

    return each_alone(Deliverable, ids, flag)
