"""Every state change of exits: start one, settle it, end it, replace the creator, analyse it.

An exit ends its contract through the services that own the money and the work: a close-out
(portal.closeouts) settles what was done, or, for cause, a mediator's decision terminates the
contract (portal.mediation). Exits change under their workroom's row lock.
"""

import dataclasses
from datetime import UTC, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import AccountKind
from portal.audit import record_event
from portal.campaigns import services as campaign_services
from portal.campaigns.models import CampaignInvitation, InvitationStatus
from portal.closeouts import services as closeout_services
from portal.closeouts.models import Closeout, CloseoutStatus
from portal.closeouts.queries import open_closeout
from portal.contracts import services as contract_services
from portal.contracts.models import ContractStatus
from portal.contracts.terms import LineTerms, Terms
from portal.database import utcnow
from portal.deliverables.models import OPEN_STATUSES, Deliverable, DeliverableStatus
from portal.errors import DomainError, InvalidState, NotAllowed
from portal.exits.models import (
    EXIT_TRANSITIONS,
    Exit,
    ExitAnalysis,
    ExitFactor,
    ExitReason,
    ExitStatus,
)
from portal.extensions import db
from portal.markup import escape_markdown, quote_markdown
from portal.mediation import services as mediation_services
from portal.mediation.models import OPEN_STATUSES as OPEN_TICKET_STATUSES
from portal.mediation.models import Ticket, TicketCategory
from portal.notifications.models import Kind
from portal.notifications.services import notify_side
from portal.workrooms.access import seat_of
from portal.workrooms.models import Side
from portal.workrooms.services import lock_workroom, post_system_event

MAX_COMMENT = 2000
MAX_PREVENTION = 5000
#: a carried-over deliverable falls due at least this many days after the replacement joins
MIN_CARRY_DAYS = 7
#: deliverables still waiting for work: the ones the brand can mark for reassignment
OUTSTANDING = (*OPEN_STATUSES, DeliverableStatus.submitted)
#: deliverables that need no replacement when the brand marked none: done or forgiven
NOT_CARRIED = (DeliverableStatus.approved, DeliverableStatus.waived)


class InvalidExit(DomainError):
    """An exit the rules refuse (no comment for cause, foreign deliverables...)."""

    status_code = 422


class ExitExists(InvalidState):
    """The contract already has an exit."""


# Helpers ------------------------------------------------------------------------------------


def _set_status(exit, status):
    """Move an exit along EXIT_TRANSITIONS, or refuse."""
    if status not in EXIT_TRANSITIONS.get(exit.status, set()):
        raise InvalidState(f"This exit is {exit.status.label.lower()}; it can't change now.")
    exit.status = status


def _lock(exit):
    """Lock the exit's workroom and read the exit and its contract afresh."""
    lock_workroom(exit.workroom)
    db.session.flush()
    db.session.refresh(exit)
    db.session.refresh(exit.contract, ["status"])
    return exit


def _writer_side(seat, contract):
    """The side the seat acts for; refuses outsiders and read-only seats."""
    if seat is None or seat.workroom.id != contract.workroom_id:
        raise NotAllowed("That contract is not in this workroom.")
    if not seat.can_write or seat.side is None:
        raise NotAllowed("You can read this contract but not end it.")
    return seat.side


def _require_brand_manager(exit, actor):
    """Only the brand's owners and managers replace creators and write analyses."""
    if actor is None or not campaign_services.can_manage(actor, exit.workroom.brand_id):
        raise NotAllowed("Only the brand's owners and managers can do that.")


def _title(exit):
    """The contract's title, Markdown-safe."""
    return escape_markdown(exit.contract.accepted_version.title)


def _audit(actor, action, exit, *, now, workroom=None, **data):
    """An audit event about the exit, on its workroom's chain."""
    record_event(
        actor,
        action,
        exit,
        workroom=workroom or exit.workroom,
        data={"exit": exit.id, "contract": exit.contract_id, **data},
        now=now,
    )


def _tell(exit, side, title, *, actor=None, always=True, now):
    """Notify one side of the exit's workroom, linking to the exit (a legal event: it
    reaches them whatever their preferences say)."""
    notify_side(
        exit.workroom,
        side,
        Kind.contract,
        title,
        link=f"/exits/{exit.id}",
        actor=actor,
        always=always,
        now=now,
    )


def _other(side):
    return Side.creator if side is Side.brand else Side.brand


def _today(now):
    return now.astimezone(UTC).date()


def outstanding_deliverables(contract):
    """The contract's deliverables still owed, in line order."""
    return db.session.scalars(
        select(Deliverable)
        .where(Deliverable.contract_id == contract.id, Deliverable.status.in_(OUTSTANDING))
        .order_by(Deliverable.position)
    ).all()


def exit_of(contract):
    """The contract's exit, or None."""
    return db.session.scalar(select(Exit).where(Exit.contract_id == contract.id))


# Starting -----------------------------------------------------------------------------------


def start_exit(
    contract, actor, seat, reason, comment="", *, for_cause=False, reassign=(), now=None
):
    """Either side starts ending an active contract. For cause, a mediation ticket asks for
    immediate termination; by mutual agreement a close-out is proposed at once; otherwise
    the contract's notice period runs, and the close-out is proposed when it ends."""
    side = _writer_side(seat, contract)
    reason = ExitReason(reason)
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidExit(f"The comment is limited to {MAX_COMMENT:,} characters.")
    if for_cause and not comment:
        raise InvalidExit("Say what happened: the mediator decides on it.")
    if for_cause and reason is ExitReason.mutual:
        raise InvalidExit("A mutual exit is not for cause.")
    now = now or utcnow()
    lock_workroom(contract.workroom)
    db.session.refresh(contract, ["status"])
    if contract.status is not ContractStatus.active:
        raise InvalidState(
            f"Only an active contract can end early; this one is {contract.status.value}."
        )
    if exit_of(contract) is not None:
        raise ExitExists("This contract is already ending.")
    outstanding = outstanding_deliverables(contract)
    reassign = sorted(set(reassign or ()))
    if reassign and side is not Side.brand:
        raise NotAllowed("Only the brand chooses the deliverables to reassign.")
    if not set(reassign) <= {d.id for d in outstanding}:
        raise InvalidExit("Only outstanding deliverables of this contract can be reassigned.")
    version = contract.accepted_version
    notice_days = 0 if for_cause or reason is ExitReason.mutual else version.termination_notice_days
    exit = Exit(
        contract=contract,
        workroom=contract.workroom,
        campaign_id=contract.campaign_id,
        started_by=actor,
        started_side=side,
        reason=reason,
        comment=comment,
        for_cause=for_cause,
        notice_days=notice_days,
        effective_on=_today(now) + timedelta(days=notice_days),
        status=ExitStatus.in_mediation if for_cause else ExitStatus.notice,
        reassign_ids=reassign,
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(exit)
    except IntegrityError as error:
        raise ExitExists("This contract is already ending.") from error
    name, title = escape_markdown(actor.name), _title(exit)
    text = f"{name} started ending the contract **{title}** ({reason.label.lower()})"
    if for_cause:
        text += ", for cause: a mediator decides on immediate termination."
    elif notice_days:
        text += (
            f". The {notice_days}-day notice period runs until {exit.effective_on:%Y-%m-%d};"
            " work continues until then."
        )
    else:
        text += "."
    post_system_event(
        contract.workroom,
        text + (f"\n\n{quote_markdown(comment)}" if comment else ""),
        actor=actor,
        now=now,
    )
    _audit(
        actor,
        "exit.started",
        exit,
        now=now,
        reason=reason.value,
        for_cause=for_cause,
        effective_on=exit.effective_on.isoformat(),
        reassign=reassign,
    )
    _tell(
        exit,
        _other(side),
        f"{actor.name} started ending “{version.title}” ({reason.label.lower()})",
        actor=actor,
        now=now,
    )
    if for_cause:
        _ask_mediation(exit, actor, seat, outstanding, now=now)
    elif notice_days == 0:
        _propose_closeout(exit, actor, seat, now=now)
    return exit


def _ask_mediation(exit, actor, seat, outstanding, *, now):
    """For cause: a ticket asks a mediator to terminate the contract at once."""
    title = exit.contract.accepted_version.title
    ticket = mediation_services.open_ticket(
        seat,
        actor,
        TicketCategory.exit.value,
        f"Immediate termination of “{title}” for cause"[: mediation_services.MAX_SUBJECT],
        f"**{exit.reason.label}.** {exit.comment}",
        "Terminate the contract now, without the notice period, and settle what was done.",
        deliverables=outstanding,
        now=now,
    )
    exit.ticket_id = ticket.id
    db.session.flush()
    return ticket


def _closeout_reason(exit):
    """What the close-out says about why the contract ends."""
    text = f"Exit: {exit.reason.label.lower()}."
    return f"{text} {exit.comment}" if exit.comment else text


def _propose_closeout(exit, actor, seat, *, now):
    """The close-out settles the contract: mutual agreements end it partially completed,
    terminations (notice over, or settled early) end it terminated."""
    ends_as = (
        ContractStatus.partially_completed
        if exit.reason is ExitReason.mutual
        else ContractStatus.terminated
    )
    standing = open_closeout(exit.contract)
    if standing is not None:  # the exit's settlement overtakes a close-out proposed before
        closeout_services.supersede_closeout(
            standing, actor, "The contract's exit settles it instead.", now=now
        )
    still_open = [d.id for d in outstanding_deliverables(exit.contract)]
    closeout = closeout_services.propose_closeout(
        exit.contract,
        actor,
        seat,
        _closeout_reason(exit),
        ends_as=ends_as,
        reassign=[i for i in exit.reassign_ids or () if i in still_open],
        now=now,
    )
    exit.closeout_id = closeout.id
    if exit.status is not ExitStatus.settling:  # a withdrawn close-out is proposed again
        _set_status(exit, ExitStatus.settling)
    _audit(actor, "exit.settling", exit, now=now, closeout=closeout.id, ends_as=ends_as.value)
    db.session.flush()
    return closeout


def _closeout_open(exit):
    """The exit's close-out still stands (proposed, accepted or in mediation)."""
    closeout = db.session.get(Closeout, exit.closeout_id) if exit.closeout_id else None
    return closeout is not None and closeout.status not in (
        CloseoutStatus.withdrawn,
        CloseoutStatus.superseded,
    )


def settle_exit(exit, actor, seat, *, now=None):
    """Either side proposes to settle now: before the notice period ends, or again after
    a close-out was withdrawn."""
    side = _writer_side(seat, exit.contract)
    now = now or utcnow()
    _lock(exit)
    if exit.is_over:
        raise InvalidState("This contract has already ended.")
    if exit.status is ExitStatus.settling and _closeout_open(exit):
        raise InvalidState("A close-out is already on the table: answer it on its page.")
    if exit.status not in (ExitStatus.notice, ExitStatus.settling):
        raise InvalidState(f"This exit is {exit.status.label.lower()}; it can't settle now.")
    post_system_event(
        exit.workroom,
        f"{escape_markdown(actor.name)} proposed to settle **{_title(exit)}** now, before"
        f" the notice period ends on {exit.effective_on:%Y-%m-%d}.",
        actor=actor,
        now=now,
    )
    _tell(
        exit,
        _other(side),
        f"{actor.name} proposed to settle “{exit.contract.accepted_version.title}” now",
        actor=actor,
        now=now,
    )
    return _propose_closeout(exit, actor, seat, now=now)


def end_notice(exit, *, now=None):
    """The notice period is over (the sweep): the close-out is proposed in the name of the
    person who started the exit. None when there is nothing to do."""
    now = now or utcnow()
    _lock(exit)
    if exit.is_over or exit.status is not ExitStatus.notice or exit.effective_on > _today(now):
        return None
    seat = seat_of(exit.started_by, exit.workroom)
    if seat is None or not seat.can_write:
        raise InvalidState(f"{exit.started_by.name} can no longer act in this workroom.")
    post_system_event(
        exit.workroom,
        f"The notice period of **{_title(exit)}** ended on {exit.effective_on:%Y-%m-%d}:"
        " the close-out is proposed.",
        now=now,
    )
    return _propose_closeout(exit, exit.started_by, seat, now=now)


def resume_notice(exit, *, now=None):
    """For cause, but the mediation closed without terminating the contract: the contract's
    notice period applies from the ticket's end. None when there is nothing to do."""
    now = now or utcnow()
    _lock(exit)
    ticket = db.session.get(Ticket, exit.ticket_id) if exit.ticket_id else None
    if exit.is_over or exit.status is not ExitStatus.in_mediation or ticket is None:
        return None
    if ticket.status in OPEN_TICKET_STATUSES:
        return None
    notice_days = exit.contract.accepted_version.termination_notice_days
    exit.notice_days = notice_days
    exit.effective_on = _today(now) + timedelta(days=notice_days)
    _set_status(exit, ExitStatus.notice)
    post_system_event(
        exit.workroom,
        f"The mediation did not terminate **{_title(exit)}**: the {notice_days}-day notice"
        f" period applies and runs until {exit.effective_on:%Y-%m-%d}.",
        now=now,
    )
    _audit(None, "exit.notice_resumed", exit, now=now, effective_on=exit.effective_on.isoformat())
    return exit


def close_exit(exit, *, now=None):
    """The contract has ended (a settled close-out, a mediator's termination): the exit
    ends too. None when there is nothing to do."""
    now = now or utcnow()
    _lock(exit)
    if exit.status is ExitStatus.ended or exit.contract.status is ContractStatus.active:
        return None
    exit.status, exit.ended_at = ExitStatus.ended, now
    _audit(None, "exit.ended", exit, now=now, contract_status=exit.contract.status.value)
    return exit


# Replacement --------------------------------------------------------------------------------


def _open_invitation(exit, now):
    """The exit's invitation if it still waits on the creator (or was accepted)."""
    if exit.invitation_id is None:
        return None
    invitation = db.session.get(CampaignInvitation, exit.invitation_id)
    if invitation.status is InvitationStatus.accepted or invitation.is_open(now):
        return invitation
    return None


def invite_replacement(exit, actor, creator, ttl, *, message="", now=None):
    """The brand invites a creator from the roster to take over the exit's work; when they
    accept, a contract carrying over the remaining work is proposed to them."""
    _require_brand_manager(exit, actor)
    now = now or utcnow()
    _lock(exit)
    if exit.replacement_contract_id is not None:
        raise InvalidState("A replacement has already taken over this work.")
    waiting = _open_invitation(exit, now)
    if waiting is not None:
        raise InvalidState(
            f"{waiting.invitee_label} has an open invitation; withdraw it before inviting"
            " someone else."
        )
    if creator is None or creator.kind is not AccountKind.creator:
        raise InvalidExit("Choose a creator from the roster.")
    if creator.id == exit.workroom.creator_id:
        raise InvalidExit("Choose someone other than the creator who is leaving.")
    if not carried_deliverables(exit):
        raise InvalidState("No outstanding work is left to hand over.")
    invitation = campaign_services.invite_creator(
        exit.contract.campaign, actor, creator, ttl, message=message, now=now
    )
    exit.invitation_id = invitation.id
    db.session.flush()
    _audit(actor, "exit.replacement_invited", exit, now=now, invitation=invitation.id)
    return invitation


def carried_deliverables(exit):
    """The deliverables a replacement takes over: those the brand marked for reassignment,
    or, when none were marked, every one neither approved nor waived."""
    query = select(Deliverable).where(Deliverable.contract_id == exit.contract_id)
    if exit.reassign_ids:
        query = query.where(Deliverable.id.in_(exit.reassign_ids))
    else:
        query = query.where(Deliverable.status.not_in(NOT_CARRIED))
    return db.session.scalars(query.order_by(Deliverable.position)).all()


def carried_due_on(exit, deliverable, joined_on, creator_timezone="UTC"):
    """A carried-over deliverable's new due date: as far from the day the replacement joined
    as it was from the exit's effective date, and at least MIN_CARRY_DAYS out."""
    old_due = deliverable.due_at.astimezone(UTC).date()
    distance = (old_due - exit.effective_on).days
    return joined_on + timedelta(days=max(MIN_CARRY_DAYS, distance))


def carry_over_terms(exit, joined_on):
    """The replacement contract's terms: the old terms' text and settings, the carried
    deliverables with new due dates, their prices as the total (the remaining budget)."""
    old = exit.contract.accepted_version
    lines = tuple(
        LineTerms(
            d.title,
            d.kind,
            d.platform,
            carried_due_on(exit, d, joined_on),
            d.price_minor,
            tuple(d.requirements or ()),
        )
        for d in carried_deliverables(exit)
    )
    if not lines:
        raise InvalidState("No outstanding work is left to hand over.")
    ends_on = max([old.ends_on, *(line.due_on for line in lines)])
    return dataclasses.replace(
        Terms.of_version(old),
        title=f"{old.title} (replacement)"[:160],
        starts_on=joined_on,
        ends_on=ends_on,
        lines=lines,
        renewal_date=None,
        auto_renew=False,
    )


def replacement_accepted(invitation, workroom, actor, *, now=None):
    """The hook campaigns.accept_invitation calls: when the invitation came from an exit, a
    contract carrying over the remaining work is proposed to the new creator, by the brand
    member who invited them. Returns the new contract, or None for other invitations."""
    exit = db.session.scalar(select(Exit).where(Exit.invitation_id == invitation.id))
    if exit is None:
        return None
    now = now or utcnow()
    _lock(exit)
    if exit.replacement_contract_id is not None:
        return None
    proposer = invitation.invited_by
    seat = seat_of(proposer, workroom)
    if seat is None or not seat.can_write or not seat.is_brand:
        # The creator's acceptance stands; the brand proposes the contract by hand.
        post_system_event(
            workroom,
            f"{escape_markdown(proposer.name)} can no longer propose contracts for the brand,"
            f" so the work of **{_title(exit)}** was not carried over here: a brand manager"
            " can propose the contract in this workroom.",
            now=now,
        )
        return None
    terms = carry_over_terms(exit, _today(now))
    contract = contract_services.create_contract(
        seat,
        proposer,
        exit.contract.campaign,
        terms,
        propose=True,
        comment=(
            f"Carried over from “{exit.contract.accepted_version.title}”: the remaining"
            " deliverables with new dates and the remaining budget."
        ),
        now=now,
    )
    exit.replacement_creator_id = actor.id
    exit.replacement_workroom_id = workroom.id
    exit.replacement_contract_id = contract.id
    exit.replaced_at = now
    db.session.flush()
    post_system_event(
        exit.workroom,
        f"{escape_markdown(actor.name)} takes over the remaining work of **{_title(exit)}**.",
        now=now,
    )
    _audit(
        proposer,
        "exit.replaced",
        exit,
        now=now,
        creator=actor.id,
        workroom_id=workroom.id,
        replacement_contract=contract.id,
    )
    return contract


# Analysis -----------------------------------------------------------------------------------


def record_analysis(exit, actor, seat, reason, factors, prevention, *, now=None):
    """The brand writes (or rewrites) the post-exit analysis: the real reason, what
    contributed, what would have prevented it."""
    _writer_side(seat, exit.contract)
    if not seat.is_brand:
        raise NotAllowed("Only the brand writes the post-exit analysis.")
    reason = ExitReason(reason)
    factors = sorted(set(factors or ()))
    if not set(factors) <= {f.value for f in ExitFactor}:
        raise InvalidExit("Choose factors from the list.")
    prevention = (prevention or "").strip()
    if len(prevention) > MAX_PREVENTION:
        raise InvalidExit(f"The text is limited to {MAX_PREVENTION:,} characters.")
    now = now or utcnow()
    _lock(exit)
    analysis = exit.analysis
    if analysis is None:
        analysis = ExitAnalysis(exit=exit, written_by=actor, created_at=now)
        db.session.add(analysis)
    analysis.reason, analysis.factors, analysis.prevention = reason, factors, prevention
    analysis.written_by, analysis.updated_at = actor, now
    db.session.flush()
    _audit(actor, "exit.analysed", exit, now=now, reason=reason.value, factors=factors)
    return analysis
