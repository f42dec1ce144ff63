"""Business days and the clocks a ticket shows: what is due, from whom, by when, and what
happens when it runs out."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.mediation.models import TicketStatus
from portal.workrooms.models import Side


def add_business_days(start, days):
    """`days` working days (Monday to Friday, UTC) after `start`, at the same time of day."""
    moment, left = start, days
    while left > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    return moment


@dataclass(frozen=True)
class Clock:
    """One deadline of a ticket."""

    what: str  #: what is due
    who: str  #: from whom
    due_at: datetime
    then: str  #: what happens when it runs out
    overdue: bool


def other_side(side):
    """The side that did not open the ticket."""
    return Side.creator if side is Side.brand else Side.brand


def clocks(ticket, now):
    """The ticket's running clocks, soonest first (none once it is closed)."""
    found = []
    if ticket.status is TicketStatus.open and ticket.respond_by:
        found.append(
            Clock(
                "A response to the ticket",
                f"the {other_side(ticket.opened_side).value}",
                ticket.respond_by,
                "The ticket goes to a mediator with or without the response.",
                now > ticket.respond_by,
            )
        )
    if ticket.status in (TicketStatus.in_mediation, TicketStatus.proposed):
        if ticket.mediator_id is None:
            found.append(
                Clock(
                    "A mediator to take the ticket",
                    "the mediation team",
                    ticket.in_mediation_at or ticket.created_at,
                    "It waits at the top of the mediators' queue.",
                    True,
                )
            )
        if ticket.first_response_due and ticket.first_response_at is None:
            found.append(
                Clock(
                    "The mediator's first response",
                    "the mediator",
                    ticket.first_response_due,
                    "The ticket counts as a breach of the first-response SLA.",
                    now > ticket.first_response_due,
                )
            )
        if ticket.resolve_by:
            found.append(
                Clock(
                    "Agreement on a resolution",
                    "both parties" if ticket.status is TicketStatus.proposed else "the mediator",
                    ticket.resolve_by,
                    "The mediator issues a binding decision.",
                    now > ticket.resolve_by,
                )
            )
    return sorted(found, key=lambda clock: clock.due_at)


def sla_risk(ticket, now):
    """A sort key for the queue: unassigned first, then the deadline nearest (or most
    overdue) first."""
    due = [c.due_at for c in clocks(ticket, now) if c.who != "the mediation team"]
    return (
        ticket.mediator_id is not None,
        min(due) if due else datetime.max.replace(tzinfo=now.tzinfo),
    )
