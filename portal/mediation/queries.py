"""Reads of the mediation pages: a workroom's tickets, the mediators' queue, one ticket,
and the mediator dashboard's figures."""

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from portal.accounts.models import AccountKind, User
from portal.contracts.models import Contract, ContractStatus
from portal.deliverables.models import Deliverable
from portal.escrow.models import Milestone
from portal.extensions import db
from portal.mediation.access import QUEUED
from portal.mediation.clocks import clocks, sla_risk
from portal.mediation.models import (
    OPEN_STATUSES,
    Outcome,
    Proposal,
    Ticket,
    TicketCategory,
    TicketLink,
    TicketStatus,
)
from portal.workrooms.models import Workroom

QUEUE_SIZE = 100  #: the queue shows this many tickets at most, riskiest first


def _with_links(query):
    """Load a ticket's links, their objects, workroom and mediator along with it."""
    return query.options(
        selectinload(Ticket.links).options(
            selectinload(TicketLink.deliverable), selectinload(TicketLink.milestone)
        ),
        selectinload(Ticket.workroom).options(
            selectinload(Workroom.brand), selectinload(Workroom.creator)
        ),
        selectinload(Ticket.mediator),
    )


def of_workroom(workroom):
    """The workroom's tickets, open ones first, newest first."""
    return db.session.scalars(
        _with_links(select(Ticket))
        .where(Ticket.workroom_id == workroom.id)
        .order_by(Ticket.status.in_(OPEN_STATUSES).desc(), Ticket.id.desc())
    ).all()


def open_count(workroom):
    """How many of the workroom's tickets are open."""
    return db.session.scalar(
        select(func.count(Ticket.id)).where(
            Ticket.workroom_id == workroom.id, Ticket.status.in_(OPEN_STATUSES)
        )
    )


def page(ticket_id):
    """One ticket with its links, thread and proposals, for its page."""
    return db.session.scalar(
        _with_links(select(Ticket))
        .where(Ticket.id == ticket_id)
        .options(
            selectinload(Ticket.posts),
            selectinload(Ticket.proposals).selectinload(Proposal.created_by),
            selectinload(Ticket.opened_by),
        )
        .execution_options(populate_existing=True)
    )


def candidates(workroom):
    """Deliverables and milestones a new ticket can name: those of the workroom's contracts."""
    deliverables = db.session.scalars(
        select(Deliverable)
        .where(Deliverable.workroom_id == workroom.id)
        .order_by(Deliverable.due_at, Deliverable.id)
    ).all()
    milestones = db.session.scalars(
        select(Milestone).where(Milestone.workroom_id == workroom.id).order_by(Milestone.id)
    ).all()
    return deliverables, milestones


def active_contracts(workroom):
    """The workroom's active contracts (a resolution can terminate one)."""
    return db.session.scalars(
        select(Contract)
        .where(Contract.workroom_id == workroom.id, Contract.status == ContractStatus.active)
        .order_by(Contract.id)
    ).all()


def mediators():
    """Every mediator who can take a ticket."""
    return db.session.scalars(
        select(User)
        .where(User.kind == AccountKind.mediator, User.is_disabled.is_(False))
        .order_by(User.name)
    ).all()


@dataclass(frozen=True)
class QueueFilter:
    """What the queue shows: whose tickets, which category."""

    whose: str = "waiting"  #: "waiting" (unassigned), "mine" or "all"
    category: TicketCategory | None = None


def queue(mediator, chosen, now):
    """Tickets in mediation a mediator may see, riskiest first: unassigned, then the
    nearest (or most overdue) SLA deadline."""
    query = _with_links(select(Ticket)).where(Ticket.status.in_(QUEUED))
    waiting = Ticket.mediator_id.is_(None)
    mine = Ticket.mediator_id == mediator.id
    if chosen.whose == "waiting":
        query = query.where(waiting)
    elif chosen.whose == "mine":
        query = query.where(mine)
    else:
        query = query.where(or_(waiting, mine))
    if chosen.category is not None:
        query = query.where(Ticket.category == chosen.category)
    tickets = db.session.scalars(query.order_by(Ticket.id).limit(QUEUE_SIZE)).all()
    return sorted(tickets, key=lambda ticket: sla_risk(ticket, now))


@dataclass(frozen=True)
class Dashboard:
    """The mediation figures."""

    open_by_status: dict
    load: list  #: (mediator, open tickets) pairs
    unassigned: int
    breaches: list  #: open tickets with an overdue clock
    outcomes: dict  #: Outcome -> count
    by_category: dict  #: TicketCategory -> count of resolved tickets
    median_hours: float | None  #: time from opening to resolution
    moved: list  #: (currency, released, refunded) by resolutions


def dashboard(now):
    """Open load, SLA breaches and outcomes over every ticket."""
    open_tickets = db.session.scalars(
        select(Ticket)
        .where(Ticket.status.in_(OPEN_STATUSES))
        .options(selectinload(Ticket.mediator), selectinload(Ticket.workroom))
        .order_by(Ticket.id)
    ).all()
    closed = db.session.execute(
        select(Ticket.outcome, Ticket.category, Ticket.created_at, Ticket.resolved_at).where(
            Ticket.outcome.is_not(None)
        )
    ).all()
    moved = db.session.execute(
        select(Ticket.currency, func.sum(Ticket.released_minor), func.sum(Ticket.refunded_minor))
        .where(Ticket.currency != "")
        .group_by(Ticket.currency)
        .order_by(Ticket.currency)
    ).all()
    load = Counter(t.mediator for t in open_tickets if t.mediator is not None)
    hours = sorted(
        (row.resolved_at - row.created_at).total_seconds() / 3600
        for row in closed
        if row.outcome is not Outcome.withdrawn
    )
    return Dashboard(
        open_by_status=Counter(t.status for t in open_tickets),
        load=sorted(load.items(), key=lambda pair: (-pair[1], pair[0].name)),
        unassigned=sum(
            1 for t in open_tickets if t.mediator_id is None and t.status is not TicketStatus.open
        ),
        breaches=[t for t in open_tickets if any(c.overdue for c in clocks(t, now))],
        outcomes=Counter(row.outcome for row in closed),
        by_category=Counter(row.category for row in closed),
        median_hours=hours[len(hours) // 2] if hours else None,
        moved=[tuple(row) for row in moved],
    )


def mediator_summary(mediator, now):
    """For a mediator's dashboard: how many tickets wait for anyone, and their own open
    tickets, riskiest first."""
    mine = queue(mediator, QueueFilter("mine"), now)
    waiting = db.session.scalar(
        select(func.count(Ticket.id)).where(Ticket.status.in_(QUEUED), Ticket.mediator_id.is_(None))
    )
    return waiting, mine
