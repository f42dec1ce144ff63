"""The one way routes load a ticket. Parties see their workroom's tickets; a mediator sees
a ticket assigned to them or waiting in the queue, and through it the workroom's record;
admins read. Everyone else gets 404."""

from dataclasses import dataclass

from flask import abort

from portal.extensions import db
from portal.mediation.models import Ticket, TicketStatus
from portal.workrooms.access import Seat, seat_of
from portal.workrooms.models import Side

#: tickets in the mediators' queue (an open ticket still waits for the other party)
QUEUED = (TicketStatus.in_mediation, TicketStatus.proposed)


@dataclass(frozen=True)
class TicketSeat:
    """How the current user sits at a ticket."""

    ticket: Ticket
    seat: Seat | None  #: the workroom seat of a party or an admin; None for mediators
    is_mediator: bool  #: a mediator: the ticket's own, or one looking at the queue

    @property
    def side(self):
        """The party's side, or None."""
        return self.seat.side if self.seat is not None else None

    @property
    def can_act_as_party(self):
        """A party who may write (brand viewers and admins only read)."""
        return self.seat is not None and self.seat.can_write and self.side is not None

    def is_own_mediator(self, user):
        """The ticket is this mediator's."""
        return self.is_mediator and self.ticket.mediator_id == user.id

    @property
    def sees_private_notes(self):
        """Private notes are for mediators only."""
        return self.is_mediator

    @property
    def is_opener(self):
        """The side that opened the ticket (it may withdraw it)."""
        return self.can_act_as_party and self.side is self.ticket.opened_side


def ticket_seat(user, ticket):
    """The user's seat at the ticket, or None when they may not see it."""
    if user.is_mediator:
        mine = ticket.mediator_id == user.id
        waiting = ticket.mediator_id is None and ticket.status in QUEUED
        return TicketSeat(ticket, None, True) if mine or waiting else None
    seat = seat_of(user, ticket.workroom)
    return TicketSeat(ticket, seat, False) if seat is not None else None


def load_ticket(user, ticket_id):
    """The ticket and the user's seat at it; 404 when it does not exist for them."""
    ticket = db.session.get(Ticket, ticket_id)
    found = ticket_seat(user, ticket) if ticket is not None else None
    if found is None:
        abort(404)
    return found


def sides():
    """Both sides, brand first."""
    return (Side.brand, Side.creator)
