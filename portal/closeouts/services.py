"""Every state change of close-outs: propose, accept (and settle), escalate, withdraw.

A close-out ends a contract with work unfinished. Duet proposes the settlement from the
deliverables' prices (settlement.py does the arithmetic); the proposing side accepts it by
proposing it, the other side accepts or escalates to mediation. Settling goes through the
deliverables, escrow and contracts services in one savepoint, so it applies whole or not at
all. Close-outs change under their workroom's row lock, like everything in the workroom.
"""

from sqlalchemy import select

from portal.audit import record_event
from portal.closeouts import settlement
from portal.closeouts.models import (
    CLOSEOUT_TRANSITIONS,
    ENDINGS,
    Closeout,
    CloseoutAcceptance,
    CloseoutLine,
    CloseoutStatus,
    LineBasis,
)
from portal.closeouts.queries import CLOSABLE, UNFINISHED, open_closeout
from portal.contracts import services as contract_services
from portal.contracts.models import ContractStatus
from portal.database import utcnow
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import (
    Deliverable,
    DeliverableStatus,
)
from portal.errors import DomainError, InvalidState, NotAllowed
from portal.escrow import services as escrow_services
from portal.escrow.models import Milestone, MilestoneStatus
from portal.extensions import db
from portal.markup import escape_markdown, quote_markdown
from portal.mediation import services as mediation_services
from portal.mediation.models import TicketCategory
from portal.money import format_amount
from portal.notifications.models import Kind
from portal.notifications.services import notify_side
from portal.workrooms.models import Side
from portal.workrooms.services import lock_workroom, post_system_event

MAX_REASON = 2000
S = CloseoutStatus
M = MilestoneStatus
#: milestone states whose money still sits in escrow, free to release or refund
IN_ESCROW = (M.funded, M.held, M.partially_released)
#: deliverable states that were settled before the close-out: they settle nothing in it
EXCUSED = (DeliverableStatus.waived, DeliverableStatus.cancelled, DeliverableStatus.reassigned)


class InvalidCloseout(DomainError):
    """A close-out the rules refuse (no reason, nothing unfinished, a foreign deliverable)."""

    status_code = 422


class SettlementFailed(DomainError):
    """A step of the settlement was refused; nothing of it applied."""

    status_code = 409


# Helpers ------------------------------------------------------------------------------------


def _set_status(closeout, status, now):
    """Move a close-out along CLOSEOUT_TRANSITIONS, or refuse."""
    if status not in CLOSEOUT_TRANSITIONS.get(closeout.status, set()):
        raise InvalidState(f"This close-out is {closeout.status.value}; it can't change now.")
    closeout.status = status
    closeout.closed_at = now


def _lock(closeout):
    """Lock the close-out's workroom and read the close-out afresh."""
    lock_workroom(closeout.workroom)
    db.session.flush()  # a refresh would drop this transaction's unwritten changes
    db.session.refresh(closeout)
    return closeout


def _writer_side(seat, workroom_id):
    """The side acting for the seat; refuses outsiders and seats that only read."""
    if seat is None or seat.workroom.id != workroom_id:
        raise NotAllowed("That contract is not in this workroom.")
    if not seat.can_write or seat.side is None:
        raise NotAllowed("You can read this close-out but not act on it.")
    return seat.side


def _other(side):
    """The counterpart."""
    return Side.creator if side is Side.brand else Side.brand


def _reason(reason, what="Say why the contract should close"):
    """A required reason within its limit."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidCloseout(f"{what}.")
    if len(reason) > MAX_REASON:
        raise InvalidCloseout(f"The reason is limited to {MAX_REASON:,} characters.")
    return reason


def _money(minor, currency):
    """An amount as people read it."""
    return format_amount(minor, currency)


def _title(closeout):
    """The contract's title as Markdown-safe bold text."""
    return f"**{escape_markdown(closeout.contract.accepted_version.title)}**"


def _log(closeout, text, *, actor=None, now):
    """A system line in the workroom's log about the close-out."""
    return post_system_event(closeout.workroom, text, actor=actor, now=now)


def _audit(actor, action, closeout, *, now, **data):
    """An audit event about the close-out, on its workroom's chain."""
    record_event(
        actor,
        action,
        closeout,
        workroom=closeout.workroom,
        data={"closeout": closeout.id, "contract": closeout.contract_id, **data},
        now=now,
    )


def _tell(closeout, side, title, *, always=False, actor=None, now):
    """Notify one side of the workroom, linking to the close-out."""
    notify_side(
        closeout.workroom,
        side,
        Kind.contract,
        title,
        link=f"/closeouts/{closeout.id}",
        always=always,
        actor=actor,
        now=now,
    )


def _figures(closeout):
    """The settlement's figures in one sentence for the log."""
    cur = closeout.currency
    text = (
        f"{_money(closeout.to_creator_minor, cur)} to the creator and"
        f" {_money(closeout.to_brand_minor, cur)} back to the brand"
    )
    if closeout.shortfall_minor:
        text += (
            f"; escrow holds {_money(closeout.shortfall_minor, cur)} less than the creator is owed"
        )
    return text


def _accept(closeout, actor, side, now):
    """Record one side's acceptance (unique per side, whatever races happen)."""
    db.session.add(
        CloseoutAcceptance(closeout=closeout, side=side, user_id=actor.id, accepted_at=now)
    )
    db.session.flush()


# Reading the contract -----------------------------------------------------------------------


def basis_of(deliverable):
    """Where a deliverable's price goes if its contract closes now."""
    if deliverable.status is DeliverableStatus.approved:
        return LineBasis.approved
    if deliverable.status in EXCUSED:
        return LineBasis.excused
    if deliverable.status is DeliverableStatus.submitted or deliverable.last_revision_number > 0:
        return LineBasis.in_progress
    return LineBasis.not_started


def deliverables_of(contract):
    """The contract's deliverables, by line position."""
    return db.session.scalars(
        select(Deliverable)
        .where(Deliverable.contract_id == contract.id)
        .order_by(Deliverable.position)
        .execution_options(populate_existing=True)
    ).all()


def milestones_of(contract):
    """The contract's milestones, by position."""
    return db.session.scalars(
        select(Milestone)
        .where(Milestone.contract_id == contract.id)
        .order_by(Milestone.position, Milestone.id)
    ).all()


def escrow_state(milestones):
    """(already released to the creator, {milestone id: free in escrow}) of a contract's
    milestones: a releasable milestone counts as released (its settlement is due anyway)."""
    released = sum(m.released_minor for m in milestones)
    released += sum(m.in_escrow_minor for m in milestones if m.status is M.releasable)
    free = {m.id: m.in_escrow_minor for m in milestones if m.status in IN_ESCROW}
    return released, {mid: amount for mid, amount in free.items() if amount > 0}


def preview(contract, *, kill_fee_percent=None):
    """What a close-out of the contract would settle now: [(deliverable, basis, to creator,
    to brand)] and the Plan, without writing anything."""
    version = contract.accepted_version
    kill = version.kill_fee_percent if kill_fee_percent is None else kill_fee_percent
    deliverables = deliverables_of(contract)
    bases = [basis_of(d) for d in deliverables]
    released, free = escrow_state(milestones_of(contract))
    found = settlement.plan(
        [(d.price_minor, b) for d, b in zip(deliverables, bases, strict=True)], kill, released, free
    )
    rows = [(d, b, c, r) for d, b, (c, r) in zip(deliverables, bases, found.parts, strict=True)]
    return rows, found


# Proposing ---------------------------------------------------------------------------------


def propose_closeout(
    contract,
    actor,
    seat,
    reason,
    *,
    ends_as=ContractStatus.partially_completed,
    reassign=(),
    now=None,
):
    """Either side proposes to close an active contract with the settlement Duet computes
    from its deliverables; the proposing side's acceptance is recorded at once."""
    side = _writer_side(seat, contract.workroom_id)
    reason = _reason(reason)
    if ends_as not in ENDINGS:
        raise InvalidCloseout("A close-out ends a contract partially completed or terminated.")
    now = now or utcnow()
    lock_workroom(contract.workroom)
    db.session.refresh(contract)
    if contract.status not in CLOSABLE:
        raise InvalidState(
            f"The contract is {contract.status.value.replace('_', ' ')}, not active."
        )
    expired = contract.status is ContractStatus.expired
    if expired and ends_as is not ContractStatus.partially_completed:
        raise InvalidState("An expired contract can only be closed out as partially completed.")
    if open_closeout(contract) is not None:
        raise InvalidState(
            "A close-out of this contract is already waiting for an answer: accept, escalate"
            " or withdraw it first."
        )
    rows, found = preview(contract)
    unfinished = [
        d for d, basis, _, _ in rows if basis in (LineBasis.in_progress, LineBasis.not_started)
    ]
    if not unfinished and ends_as is ContractStatus.partially_completed:
        raise InvalidCloseout("Every deliverable is finished: there is nothing to close out.")
    reassign_ids = sorted({int(i) for i in (getattr(d, "id", d) for d in reassign)})
    open_ids = {d.id for d, _, _, _ in rows if d.status in UNFINISHED}
    if not set(reassign_ids) <= open_ids:
        raise InvalidCloseout(
            "Only deliverables of this contract that still wait for work can be reassigned."
        )
    version = contract.accepted_version
    closeout = Closeout(
        contract=contract,
        workroom_id=contract.workroom_id,
        ends_as=ends_as,
        status=S.proposed,
        reason=reason,
        proposed_by_id=actor.id,
        proposed_side=side,
        currency=version.currency,
        kill_fee_percent=version.kill_fee_percent,
        to_creator_minor=found.creator_total,
        to_brand_minor=found.brand_total,
        release_minor=found.release_total,
        refund_minor=found.refund_total,
        already_released_minor=found.already_released,
        shortfall_minor=found.shortfall,
        reassign_ids=reassign_ids,
        created_at=now,
    )
    closeout.lines = [
        CloseoutLine(
            deliverable_id=d.id,
            position=d.position,
            title=d.title,
            status=d.status,
            basis=basis,
            price_minor=d.price_minor,
            to_creator_minor=to_creator,
            to_brand_minor=to_brand,
        )
        for d, basis, to_creator, to_brand in rows
    ]
    db.session.add(closeout)
    db.session.flush()
    _accept(closeout, actor, side, now)
    _log(
        closeout,
        f"{escape_markdown(actor.name)} proposed to close {_title(closeout)} early"
        f" ({closeout.ends_as.value.replace('_', ' ')}): {_figures(closeout)}."
        f"\n\n{quote_markdown(reason)}",
        actor=actor,
        now=now,
    )
    _audit(
        actor,
        "closeout.proposed",
        closeout,
        now=now,
        side=side.value,
        ends_as=ends_as.value,
        to_creator=closeout.to_creator_minor,
        to_brand=closeout.to_brand_minor,
        reassign=reassign_ids,
    )
    _tell(
        closeout,
        _other(side),
        f"{actor.name} proposed to close “{version.title}” early: accept the settlement or"
        " escalate it",
        actor=actor,
        now=now,
    )
    return closeout


# Answering ---------------------------------------------------------------------------------


def accept_closeout(closeout, actor, seat, *, now=None):
    """The other side accepts the proposed settlement; with both sides in, it applies."""
    side = _writer_side(seat, closeout.workroom_id)
    now = now or utcnow()
    _lock(closeout)
    if closeout.status is not S.proposed:
        raise InvalidState(f"This close-out is {closeout.status.value}; it can't be accepted.")
    if closeout.accepted_by(side) is not None:
        raise InvalidState("Your side already accepted this close-out.")
    _accept(closeout, actor, side, now)
    db.session.refresh(closeout, ["acceptances"])
    _log(
        closeout,
        f"{escape_markdown(actor.name)} accepted the close-out of {_title(closeout)}.",
        actor=actor,
        now=now,
    )
    _audit(actor, "closeout.accepted", closeout, now=now, side=side.value)
    if {a.side for a in closeout.acceptances} == set(Side):
        settle_closeout(closeout, actor, now=now)
    return closeout


def escalate_closeout(closeout, actor, seat, reason, *, now=None):
    """A side takes the proposed close-out to mediation: a ticket naming the contract's
    funded milestones (held at once) and its unfinished deliverables."""
    side = _writer_side(seat, closeout.workroom_id)
    reason = _reason(reason, "Say what you disagree with")
    now = now or utcnow()
    _lock(closeout)
    if closeout.status is not S.proposed:
        raise InvalidState(f"This close-out is {closeout.status.value}; it can't be escalated.")
    contract = closeout.contract
    milestones = [m for m in milestones_of(contract) if m.in_escrow_minor > 0]
    deliverables = [d for d in deliverables_of(contract) if not d.is_final]
    title = contract.accepted_version.title
    category = (
        TicketCategory.exit
        if closeout.ends_as is ContractStatus.terminated
        else TicketCategory.payment
    )
    ticket = mediation_services.open_ticket(
        seat,
        actor,
        category.value,
        f"Close-out of {title}"[: mediation_services.MAX_SUBJECT],
        f"{closeout.proposed_side.value.capitalize()} proposed to close “{title}” early:"
        f" {_figures(closeout)}.\n\n{quote_markdown(closeout.reason)}",
        reason,
        deliverables=deliverables,
        milestones=milestones,
        now=now,
    )
    _set_status(closeout, S.escalated, now)
    closeout.ticket_id = ticket.id
    _log(
        closeout,
        f"{escape_markdown(actor.name)} took the close-out of {_title(closeout)} to mediation"
        f" (ticket #{ticket.id}):\n\n{quote_markdown(reason)}",
        actor=actor,
        now=now,
    )
    _audit(actor, "closeout.escalated", closeout, now=now, side=side.value, ticket=ticket.id)
    _tell(
        closeout,
        _other(side),
        f"{actor.name} took the close-out of “{title}” to mediation",
        actor=actor,
        now=now,
    )
    return closeout


def withdraw_closeout(closeout, actor, seat, *, now=None):
    """The proposing side takes its close-out back while it is still proposed."""
    side = _writer_side(seat, closeout.workroom_id)
    now = now or utcnow()
    _lock(closeout)
    if side is not closeout.proposed_side:
        raise NotAllowed("Only the side that proposed the close-out can withdraw it.")
    if closeout.status is not S.proposed:
        raise InvalidState(f"This close-out is {closeout.status.value}; it can't be withdrawn.")
    _set_status(closeout, S.withdrawn, now)
    _log(
        closeout,
        f"{escape_markdown(actor.name)} withdrew the close-out of {_title(closeout)}.",
        actor=actor,
        now=now,
    )
    _audit(actor, "closeout.withdrawn", closeout, now=now, side=side.value)
    _tell(
        closeout,
        _other(side),
        f"{actor.name} withdrew the close-out of “{closeout.contract.accepted_version.title}”",
        actor=actor,
        now=now,
    )
    return closeout


def supersede_closeout(closeout, actor, why, *, now=None):
    """An open close-out is overtaken (an exit settles the contract instead, or the contract
    ended another way); nothing of it applies."""
    now = now or utcnow()
    _lock(closeout)
    if closeout.status is not S.proposed:
        return closeout
    _set_status(closeout, S.superseded, now)
    _log(
        closeout,
        f"The close-out of {_title(closeout)} no longer applies:\n\n{quote_markdown(why)}",
        actor=actor,
        now=now,
    )
    _audit(actor, "closeout.superseded", closeout, now=now, why=why)
    return closeout


# Settling ----------------------------------------------------------------------------------


def settle_closeout(closeout, actor, *, now=None):
    """Apply a proposed close-out: unfinished deliverables are cancelled (or marked for
    reassignment), escrow is released to the creator and refunded to the brand per the plan
    read from escrow now, and the contract ends. All or nothing (one savepoint)."""
    now = now or utcnow()
    _lock(closeout)
    if closeout.status is not S.proposed:
        raise InvalidState(f"This close-out is {closeout.status.value}; it can't be settled.")
    try:
        with db.session.begin_nested():
            before = (closeout.release_minor, closeout.refund_minor, closeout.shortfall_minor)
            _apply(closeout, actor, now=now)
    except DomainError as error:
        raise SettlementFailed(
            f"The close-out could not be applied, so nothing changed: {error}"
        ) from error
    after = (closeout.release_minor, closeout.refund_minor, closeout.shortfall_minor)
    cur = closeout.currency
    text = (
        f"The close-out of {_title(closeout)} is settled: {_money(closeout.release_minor, cur)}"
        f" released to the creator and {_money(closeout.refund_minor, cur)} refunded to the"
        " brand from escrow"
    )
    if closeout.already_released_minor:
        text += f", after {_money(closeout.already_released_minor, cur)} released before"
    text += "."
    if closeout.shortfall_minor:
        text += (
            f" Escrow held {_money(closeout.shortfall_minor, cur)} less than the creator is"
            " owed: the brand pays that outside escrow."
        )
    if after != before:
        text += " Escrow had changed since the proposal, so the amounts were read again."
    _log(closeout, text, actor=actor, now=now)
    _audit(
        actor,
        "closeout.settled",
        closeout,
        now=now,
        released=closeout.release_minor,
        refunded=closeout.refund_minor,
        already_released=closeout.already_released_minor,
        shortfall=closeout.shortfall_minor,
        changed=after != before,
    )
    for side in Side:  # money moved and a contract ended: everyone hears of it
        _tell(
            closeout,
            side,
            f"The close-out of “{closeout.contract.accepted_version.title}” is settled",
            always=True,
            now=now,
        )
    return closeout


def _apply(closeout, actor, *, now):
    """The settlement's steps, through the services that own them."""
    contract = closeout.contract
    if contract.status not in CLOSABLE:
        raise InvalidState(f"the contract is already {contract.status.value.replace('_', ' ')}")
    reason = f"Close-out #{closeout.id} of “{contract.accepted_version.title}”"
    reassign = set(closeout.reassign_ids or ())
    for deliverable in deliverables_of(contract):
        if deliverable.status in UNFINISHED:
            status = (
                DeliverableStatus.reassigned
                if deliverable.id in reassign
                else DeliverableStatus.cancelled
            )
            deliverable_services.end_by_decision(deliverable, actor, status, reason, now=now)
    milestones = milestones_of(contract)
    releasable = [m for m in milestones if m.status is M.releasable]
    if releasable:
        escrow_services.settle_milestones(releasable, now=now)
    milestones = milestones_of(contract)
    released, free = escrow_state(milestones)
    found = settlement.plan(
        [(line.price_minor, line.basis) for line in closeout.lines],
        closeout.kill_fee_percent,
        released,
        free,
    )
    by_id = {m.id: m for m in milestones}
    for milestone_id, amount in found.releases.items():
        escrow_services.release_by_decision(
            by_id[milestone_id],
            amount,
            reason,
            actor=actor,
            key=f"closeout:{closeout.id}:release:{milestone_id}",
            now=now,
        )
    for milestone_id, amount in found.refunds.items():
        escrow_services.refund_milestone(
            by_id[milestone_id],
            amount,
            reason,
            actor=actor,
            key=f"closeout:{closeout.id}:refund:{milestone_id}",
            now=now,
        )
    contract_services.end_contract(contract, actor, closeout.ends_as, closeout.reason, now=now)
    closeout.release_minor = found.release_total
    closeout.refund_minor = found.refund_total
    closeout.already_released_minor = found.already_released
    closeout.shortfall_minor = found.shortfall
    _set_status(closeout, S.accepted, now)
    closeout.settled_at = now
    db.session.flush()
