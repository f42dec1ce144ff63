"""Every change to a mediation ticket: open, respond, mediate, propose, answer, decide,
withdraw. A resolution's actions go through the deliverables, escrow and contracts services
in one savepoint, so they apply together or not at all.

Tickets change under their workroom's row lock, like everything else in the workroom.
"""

from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import func, select

from portal.accounts.models import AccountKind, User
from portal.audit import record_event
from portal.contracts import services as contract_services
from portal.contracts.models import Contract, ContractStatus
from portal.database import utcnow
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import Deliverable, DeliverableStatus
from portal.errors import DomainError, InvalidState, NotAllowed
from portal.escrow import services as escrow_services
from portal.escrow.models import Milestone, MilestoneDependency, MilestoneStatus
from portal.extensions import db
from portal.markup import escape_markdown, quote_markdown, render_markdown
from portal.mediation.clocks import add_business_days, other_side
from portal.mediation.models import (
    OPEN_STATUSES,
    TICKET_TRANSITIONS,
    Outcome,
    PostKind,
    Proposal,
    ProposalState,
    Ticket,
    TicketCategory,
    TicketLink,
    TicketPost,
    TicketStatus,
)
from portal.money import format_amount
from portal.notifications.models import Kind
from portal.notifications.services import notify, notify_both
from portal.workrooms.models import Side
from portal.workrooms.services import lock_workroom, post_system_event

MAX_SUBJECT = 200
MAX_TEXT = 10_000
T = TicketStatus
#: milestone states a ticket can hold (money sits in escrow and has not left)
HOLDABLE = (MilestoneStatus.funded, MilestoneStatus.releasable)
#: deliverable states the missed-deliverables job and remedies work on
OPEN_WORK = (
    DeliverableStatus.pending,
    DeliverableStatus.changes_requested,
    DeliverableStatus.missed,
)


class InvalidTicket(DomainError):
    """A ticket, post or proposal the rules refuse (empty text, foreign items...)."""

    status_code = 422


class ResolutionFailed(DomainError):
    """An action of a resolution was refused; none of them applied."""

    status_code = 409


# Helpers ------------------------------------------------------------------------------------


def _set_status(ticket, status):
    """Move a ticket along TICKET_TRANSITIONS, or refuse."""
    if status not in TICKET_TRANSITIONS.get(ticket.status, set()):
        raise InvalidState(f"This ticket is {ticket.status.label.lower()}; it can't change now.")
    ticket.status = status


def _lock(ticket):
    """Lock the ticket's workroom and read the ticket afresh."""
    lock_workroom(ticket.workroom)
    db.session.flush()  # a refresh would drop this transaction's unwritten changes
    db.session.refresh(ticket)
    return ticket


def _text(value, limit, what, *, required=True):
    """Stripped text within its limit (and present, when required)."""
    value = (value or "").strip()
    if required and not value:
        raise InvalidTicket(f"{what} is required.")
    if len(value) > limit:
        raise InvalidTicket(f"{what} is limited to {limit:,} characters.")
    return value


def _name(user):
    """A user's name, Markdown-safe."""
    return escape_markdown(user.name) if user is not None else "Duet"


def _ref(ticket):
    """The ticket as a log line names it."""
    return f"ticket #{ticket.id} “{escape_markdown(ticket.subject)}”"


def _post(ticket, author, kind, body_md, *, now):
    """Append to the ticket's thread (numbered under the workroom lock)."""
    ticket.last_post_seq += 1
    post = TicketPost(
        ticket=ticket,
        seq=ticket.last_post_seq,
        author=author,
        kind=kind,
        body_md=body_md,
        body_html=render_markdown(body_md),
        created_at=now,
    )
    db.session.add(post)
    return post


def _step(ticket, actor, text, *, now, always=False):
    """A step of the flow: a system post in the ticket, a line in the workroom's log, and a
    notification to both parties and the mediator (a decision reaches them whatever their
    preferences say)."""
    _post(ticket, actor, PostKind.system, text, now=now)
    post_system_event(ticket.workroom, f"Mediation, {_ref(ticket)}: {text}", actor=actor, now=now)
    title = f"Ticket #{ticket.id} “{ticket.subject}”: {_first_line(text)}"
    link = f"/tickets/{ticket.id}"
    notify_both(ticket.workroom, Kind.ticket, title, link=link, actor=actor, always=always, now=now)
    if ticket.mediator is not None and (actor is None or actor.id != ticket.mediator_id):
        notify(ticket.mediator, Kind.ticket, title, link=link, always=always, now=now)


def _first_line(text_md):
    """The first line of a step's Markdown, as plain words for a notification's title."""
    line = text_md.split("\n", 1)[0]
    return line.replace("\\", "").replace("**", "")[:150]


def _audit(actor, action, ticket, *, now, **data):
    """An audit event about the ticket, on its workroom's chain."""
    record_event(
        actor,
        action,
        ticket,
        workroom=ticket.workroom,
        data={"ticket": ticket.id, **data},
        now=now,
    )


def _config(name):
    return current_app.config[name]


def party_side(seat, ticket):
    """The side a seat speaks for in this ticket; refuses outsiders and read-only seats."""
    if seat is None or seat.workroom.id != ticket.workroom_id:
        raise NotAllowed("That ticket is not in this workroom.")
    return _writing_side(seat)


def _writing_side(seat):
    """The seat's side, when it may act (brand viewers and admins only read)."""
    if not seat.can_write or seat.side is None:
        raise NotAllowed("You can read this but not act on it.")
    return seat.side


def _require_mediator(ticket, user):
    """Only the ticket's own mediator acts for mediation."""
    if not user.is_mediator or ticket.mediator_id != user.id:
        raise NotAllowed("Only the ticket's mediator can do that.")


# Opening -----------------------------------------------------------------------------------


def open_ticket(
    seat,
    actor,
    category,
    subject,
    what_happened,
    asked_for="",
    *,
    deliverables=(),
    milestones=(),
    now=None,
):
    """Either party opens a ticket about its workroom; the milestones it names are held at
    once. The other party then has MEDIATION_RESPONSE_DAYS business days to respond."""
    now = now or utcnow()
    side = _writing_side(seat)
    subject = _text(subject, MAX_SUBJECT, "A subject")
    what_happened = _text(what_happened, MAX_TEXT, "What happened")
    asked_for = _text(asked_for, MAX_TEXT, "What you ask for", required=False)
    workroom = lock_workroom(seat.workroom)
    ticket = Ticket(
        workroom=workroom,
        opened_by=actor,
        opened_side=side,
        category=TicketCategory(category),
        subject=subject,
        what_happened_md=what_happened,
        what_happened_html=render_markdown(what_happened),
        asked_for_md=asked_for,
        asked_for_html=render_markdown(asked_for),
        status=T.open,
        created_at=now,
        respond_by=add_business_days(now, _config("MEDIATION_RESPONSE_DAYS")),
    )
    db.session.add(ticket)
    _link(ticket, deliverables, milestones)
    db.session.flush()
    _step(
        ticket,
        actor,
        f"{_name(actor)} opened the ticket ({ticket.category.label.lower()}). The"
        f" {other_side(side).value} has until {ticket.respond_by:%Y-%m-%d %H:%M} UTC to respond;"
        " then a mediator takes it.",
        now=now,
    )
    _hold(ticket, actor, now=now)
    _audit(actor, "ticket.opened", ticket, now=now, category=ticket.category.value)
    return ticket


def _link(ticket, deliverables, milestones):
    """Name the deliverables and milestones, refusing any from another workroom."""
    for deliverable in deliverables:
        if deliverable.workroom_id != ticket.workroom.id:
            raise InvalidTicket("A deliverable of another workroom can't be named.")
        ticket.links.append(TicketLink(deliverable=deliverable))
    for milestone in milestones:
        if milestone.workroom_id != ticket.workroom.id:
            raise InvalidTicket("A milestone of another workroom can't be named.")
        ticket.links.append(TicketLink(milestone=milestone))


def _hold(ticket, actor, *, now):
    """Hold every named milestone that still has money in escrow to hold."""
    for milestone in ticket.milestones:
        if milestone.status in HOLDABLE:
            escrow_services.hold_milestone(
                milestone, f"Mediation ticket #{ticket.id} names it.", actor=actor, now=now
            )


def flag_missed_deliverable(deliverable, *, now=None):
    """The missed-deliverables job brings a long-missed deliverable to the mediators'
    queue by itself (no open ticket names it yet); returns the ticket or None."""
    now = now or utcnow()
    lock_workroom(deliverable.workroom)
    db.session.refresh(deliverable)
    if deliverable.status is not DeliverableStatus.missed or open_tickets_naming(
        deliverables=[deliverable]
    ):
        return None
    milestones = db.session.scalars(
        select(Milestone)
        .where(Milestone.dependencies.any(MilestoneDependency.deliverable_id == deliverable.id))
        .order_by(Milestone.id)
    ).all()
    ticket = Ticket(
        workroom=deliverable.workroom,
        opened_by=None,
        opened_side=None,
        category=TicketCategory.missed_deliverable,
        subject=f"Missed: {deliverable.title}"[:MAX_SUBJECT],
        what_happened_md=(
            f"{escape_markdown(deliverable.title)} was due"
            f" {deliverable.due_at:%Y-%m-%d %H:%M} UTC and is still missed."
        ),
        asked_for_md="",
        asked_for_html="",
        status=T.in_mediation,
        flagged_by_system=True,
        created_at=now,
        in_mediation_at=now,
    )
    ticket.what_happened_html = render_markdown(ticket.what_happened_md)
    db.session.add(ticket)
    _link(ticket, [deliverable], milestones)
    db.session.flush()
    _step(
        ticket,
        None,
        f"Duet flagged {escape_markdown(deliverable.title)} for a mediator: it has been missed"
        f" for more than {_config('MEDIATION_AUTO_FLAG_DAYS')} days.",
        now=now,
    )
    _hold(ticket, None, now=now)
    _tell_mediators(ticket, now=now)
    _audit(None, "ticket.flagged", ticket, now=now, deliverable=deliverable.id)
    return ticket


def open_tickets_naming(*, deliverables=(), milestones=()):
    """Open tickets that name any of these deliverables or milestones."""
    deliverable_ids = [d.id for d in deliverables]
    milestone_ids = [m.id for m in milestones]
    return db.session.scalars(
        select(Ticket)
        .join(TicketLink)
        .where(
            Ticket.status.in_(OPEN_STATUSES),
            TicketLink.deliverable_id.in_(deliverable_ids)
            | TicketLink.milestone_id.in_(milestone_ids),
        )
        .distinct()
    ).all()


# The thread ---------------------------------------------------------------------------------


def post_as_party(ticket, actor, seat, body, *, now=None):
    """A party writes in the ticket's thread; the other party's first post is its response,
    and the ticket goes to the mediators' queue at once."""
    now = now or utcnow()
    side = party_side(seat, ticket)
    body = _text(body, MAX_TEXT, "The message")
    _lock(ticket)
    _refuse_if_closed(ticket)
    post = _post(ticket, actor, PostKind.post, body, now=now)
    if ticket.status is T.open and side is not ticket.opened_side:
        ticket.responded_at = now
        _to_mediation(ticket, actor, f"{_name(actor)} responded.", now=now)
    _audit(actor, "ticket.posted", ticket, now=now, post=post.seq)
    return post


def post_as_mediator(ticket, mediator, body, *, private=False, now=None):
    """The mediator writes to both parties, or a private note only mediators read."""
    now = now or utcnow()
    body = _text(body, MAX_TEXT, "The note" if private else "The message")
    _lock(ticket)
    _require_mediator(ticket, mediator)
    _refuse_if_closed(ticket)
    post = _post(ticket, mediator, PostKind.private if private else PostKind.post, body, now=now)
    if not private and ticket.first_response_at is None:
        ticket.first_response_at = now
    _audit(mediator, "ticket.noted" if private else "ticket.posted", ticket, now=now, post=post.seq)
    return post


def _refuse_if_closed(ticket):
    if not ticket.is_open:
        raise InvalidState(f"This ticket is {ticket.status.label.lower()}.")


def _to_mediation(ticket, actor, why, *, now):
    """Into the mediators' queue (every mediator hears of a ticket waiting there)."""
    _set_status(ticket, T.in_mediation)
    ticket.in_mediation_at = now
    _step(ticket, actor, f"{why} The ticket is in the mediators' queue.", now=now)
    _tell_mediators(ticket, now=now)


def _tell_mediators(ticket, *, now):
    """A ticket waits in the queue: tell every mediator."""
    mediators = db.session.scalars(
        select(User).where(User.kind == AccountKind.mediator, User.is_disabled.is_(False))
    ).all()
    for mediator in mediators:
        notify(
            mediator,
            Kind.ticket,
            f"Ticket #{ticket.id} “{ticket.subject}” waits in the queue"
            f" ({ticket.category.label.lower()})",
            link=f"/tickets/{ticket.id}",
            now=now,
        )


def escalate_unanswered(ticket, *, now=None):
    """The response time ran out: the ticket goes to mediation without the response.
    Returns True when it moved (safe to run again)."""
    now = now or utcnow()
    _lock(ticket)
    if ticket.status is not T.open or ticket.respond_by is None or now < ticket.respond_by:
        return False
    _to_mediation(ticket, None, "No response came in time.", now=now)
    _audit(None, "ticket.escalated", ticket, now=now)
    return True


# Mediators -----------------------------------------------------------------------------------


def claim(ticket, mediator, *, now=None):
    """A mediator takes an unassigned ticket from the queue; the SLA clocks start."""
    return assign(ticket, mediator, mediator, now=now)


def assign(ticket, mediator, by, *, now=None):
    """Give a ticket in mediation to a mediator (themselves, or a colleague)."""
    now = now or utcnow()
    if not by.is_mediator or not mediator.is_mediator or mediator.is_disabled:
        raise NotAllowed("Only mediators take or hand out tickets.")
    _lock(ticket)
    if ticket.status not in (T.in_mediation, T.proposed):
        raise InvalidState("Only a ticket in mediation can be taken.")
    if ticket.mediator_id is not None and by.id != ticket.mediator_id:
        raise InvalidState("Another mediator has this ticket.")
    if ticket.mediator_id == mediator.id:
        return ticket
    first = ticket.mediator_id is None
    ticket.mediator = mediator
    if first:
        ticket.claimed_at = now
        ticket.first_response_due = add_business_days(now, _config("MEDIATION_FIRST_RESPONSE_DAYS"))
        ticket.resolve_by = add_business_days(now, _config("MEDIATION_RESOLUTION_DAYS"))
    who = "took" if mediator.id == by.id else f"was given by {_name(by)}"
    _step(
        ticket,
        by,
        f"{_name(mediator)} {who} the ticket. A resolution is due by"
        f" {ticket.resolve_by:%Y-%m-%d %H:%M} UTC; without agreement by then the mediator"
        " decides.",
        now=now,
    )
    _audit(by, "ticket.assigned", ticket, now=now, mediator=mediator.id)
    return ticket


# Proposals, decisions, resolution -------------------------------------------------------------

KINDS = ("extend", "waive", "release", "refund", "terminate")


def check_actions(ticket, actions, *, now):
    """Actions as stored: each names a deliverable, milestone or contract of the ticket's
    workroom, with amounts in minor units. Raises InvalidTicket on the first problem."""
    if not actions:
        raise InvalidTicket("A resolution needs at least one action.")
    checked = []
    for action in actions:
        kind = action.get("kind")
        if kind not in KINDS:
            raise InvalidTicket("Unknown action.")
        if kind in ("extend", "waive"):
            deliverable = _own(ticket, Deliverable, action.get("deliverable_id"))
            item = {"kind": kind, "deliverable_id": deliverable.id}
            if kind == "extend":
                due_at = action.get("due_at")
                if isinstance(due_at, str):
                    due_at = datetime.fromisoformat(due_at)
                if due_at is None or due_at <= now:
                    raise InvalidTicket(f"The new date of “{deliverable.title}” must be ahead.")
                item["due_at"] = due_at.astimezone(UTC).isoformat()
        elif kind in ("release", "refund"):
            milestone = _own(ticket, Milestone, action.get("milestone_id"))
            amount = action.get("amount_minor")
            if not isinstance(amount, int) or amount <= 0:
                raise InvalidTicket(f"Give an amount above zero for “{milestone.title}”.")
            item = {"kind": kind, "milestone_id": milestone.id, "amount_minor": amount}
            if action.get("percent") is not None:
                item["percent"] = action["percent"]
        else:
            contract = _own(ticket, Contract, action.get("contract_id"))
            if contract.status is not ContractStatus.active:
                raise InvalidTicket("Only an active contract can be terminated.")
            item = {"kind": kind, "contract_id": contract.id}
        checked.append(item)
    return checked


def _own(ticket, model, object_id):
    """An object of the ticket's workroom, or InvalidTicket."""
    obj = db.session.get(model, object_id) if isinstance(object_id, int) else None
    if obj is None or obj.workroom_id != ticket.workroom_id:
        raise InvalidTicket("An action names something outside this workroom.")
    return obj


def describe(action):
    """An action in words."""
    kind = action["kind"]
    if kind in ("extend", "waive"):
        title = db.session.get(Deliverable, action["deliverable_id"]).title
        if kind == "waive":
            return f"Waive “{title}”"
        due_at = datetime.fromisoformat(action["due_at"])
        return f"Move “{title}” to {due_at:%Y-%m-%d %H:%M} UTC"
    if kind in ("release", "refund"):
        milestone = db.session.get(Milestone, action["milestone_id"])
        amount = format_amount(action["amount_minor"], milestone.currency)
        share = f" ({action['percent']} %)" if action.get("percent") is not None else ""
        verb = "Release" if kind == "release" else "Refund"
        whom = "to the creator" if kind == "release" else "to the brand"
        return f"{verb} {amount}{share} of “{milestone.title}” {whom}"
    contract = db.session.get(Contract, action["contract_id"])
    return f"Terminate the contract “{contract.accepted_version.title}”"


def amount_in_dispute(ticket):
    """What the named milestones hold in escrow, summed (one currency per workroom)."""
    return sum(m.in_escrow_minor for m in ticket.milestones)


def propose(ticket, mediator, actions, note="", *, now=None):
    """The mediator proposes a resolution; both parties accept or reject it."""
    now = now or utcnow()
    _lock(ticket)
    _require_mediator(ticket, mediator)
    if ticket.status not in (T.in_mediation, T.proposed):
        raise InvalidState("Only a ticket in mediation takes a proposal.")
    proposal = _new_proposal(ticket, mediator, actions, note, binding=False, now=now)
    if ticket.status is T.in_mediation:
        _set_status(ticket, T.proposed)
    ticket.first_response_at = ticket.first_response_at or now
    _step(
        ticket,
        mediator,
        f"{_name(mediator)} proposed a resolution (proposal {proposal.number}):\n\n"
        + "\n".join(f"- {escape_markdown(describe(a))}" for a in proposal.actions)
        + "\n\nBoth parties accept or reject it.",
        now=now,
    )
    _audit(mediator, "ticket.proposed", ticket, now=now, proposal=proposal.number)
    return proposal


def _new_proposal(ticket, mediator, actions, note, *, binding, now):
    """A checked proposal; an earlier open one is superseded."""
    actions = check_actions(ticket, actions, now=now)
    note = _text(note, MAX_TEXT, "The note", required=False)
    for earlier in ticket.proposals:
        if earlier.state is ProposalState.open:
            earlier.state = ProposalState.superseded
    number = (
        db.session.scalar(
            select(func.coalesce(func.max(Proposal.number), 0)).where(
                Proposal.ticket_id == ticket.id
            )
        )
        + 1
    )
    proposal = Proposal(
        ticket=ticket,
        number=number,
        actions=actions,
        note_md=note,
        note_html=render_markdown(note),
        binding=binding,
        created_by=mediator,
        created_at=now,
    )
    db.session.add(proposal)
    db.session.flush()
    return proposal


def answer(proposal, actor, seat, accept, comment="", *, now=None):
    """A party accepts or rejects the open proposal. When both have accepted, the
    resolution applies; a rejection sends the ticket back to its mediator."""
    now = now or utcnow()
    ticket = proposal.ticket
    side = party_side(seat, ticket)
    comment = _text(comment, MAX_TEXT, "The comment", required=not accept)
    _lock(ticket)
    db.session.refresh(proposal)
    if proposal.state is not ProposalState.open:
        raise InvalidState("This proposal is no longer open.")
    if proposal.accepted_by(side) is not None:
        raise InvalidState("Your side already accepted this proposal.")
    if not accept:
        proposal.state, proposal.rejected_by_side = ProposalState.rejected, side
        proposal.rejection_md = comment
        _set_status(ticket, T.in_mediation)
        _step(
            ticket,
            actor,
            f"{_name(actor)} rejected proposal {proposal.number}:\n\n{quote_markdown(comment)}",
            now=now,
        )
        _audit(actor, "ticket.proposal_rejected", ticket, now=now, proposal=proposal.number)
        return proposal
    if side is Side.brand:
        proposal.brand_accepted_at = now
    else:
        proposal.creator_accepted_at = now
    _step(ticket, actor, f"{_name(actor)} accepted proposal {proposal.number}.", now=now)
    _audit(actor, "ticket.proposal_accepted", ticket, now=now, proposal=proposal.number)
    if proposal.brand_accepted_at and proposal.creator_accepted_at:
        _resolve(ticket, proposal, actor, Outcome.agreed, now=now)
    return proposal


def may_decide(ticket, now):
    """Whether the mediator may issue a binding decision now: the resolution deadline has
    passed without agreement, or the amount in dispute is small."""
    if ticket.resolve_by is not None and now >= ticket.resolve_by:
        return True
    return amount_in_dispute(ticket) <= _config("MEDIATION_QUICK_DECISION_MINOR")


def decide(ticket, mediator, actions, note="", *, now=None):
    """The mediator's binding decision: applied at once, whatever the parties say."""
    now = now or utcnow()
    _lock(ticket)
    _require_mediator(ticket, mediator)
    if ticket.status not in (T.in_mediation, T.proposed):
        raise InvalidState("Only a ticket in mediation can be decided.")
    if not may_decide(ticket, now):
        raise NotAllowed(
            f"A binding decision is possible from {ticket.resolve_by:%Y-%m-%d %H:%M} UTC, when"
            " the time for agreement has run out."
        )
    proposal = _new_proposal(ticket, mediator, actions, note, binding=True, now=now)
    _resolve(ticket, proposal, mediator, Outcome.decided, now=now)
    return proposal


def _resolve(ticket, proposal, actor, outcome, *, now):
    """Apply every action of the proposal in one savepoint, lift the holds, close the
    ticket. If any action is refused, nothing of the resolution applies."""
    try:
        with db.session.begin_nested():
            moved = _apply(ticket, proposal, actor, now=now)
    except DomainError as error:
        raise ResolutionFailed(
            f"The resolution could not be applied, so nothing changed: {error}"
        ) from error
    proposal.state, proposal.applied_at = ProposalState.applied, now
    ticket.released_minor += moved["release"]
    ticket.refunded_minor += moved["refund"]
    _close(ticket, outcome, now=now)
    how = "decided" if outcome is Outcome.decided else "agreed"
    _step(
        ticket,
        actor,
        f"Resolved ({how}, proposal {proposal.number}):\n\n"
        + "\n".join(f"- {escape_markdown(describe(a))}" for a in proposal.actions),
        now=now,
        always=True,  # a decision moves money and ends work: everyone hears of it
    )
    _audit(actor, "ticket.resolved", ticket, now=now, outcome=outcome.value, **moved)


def _apply(ticket, proposal, actor, *, now):
    """Carry out the actions through the services that own them; the amounts moved."""
    moved = {"release": 0, "refund": 0}
    ticket.currency = ticket.currency or _currency_of(ticket)
    reason = f"Mediation ticket #{ticket.id}, proposal {proposal.number}"
    for index, action in enumerate(proposal.actions):
        key = f"ticket:{ticket.id}:proposal:{proposal.number}:action:{index}"
        kind = action["kind"]
        if kind == "extend":
            deliverable = db.session.get(Deliverable, action["deliverable_id"])
            deliverable_services.extend_by_decision(
                deliverable, actor, datetime.fromisoformat(action["due_at"]), reason, now=now
            )
        elif kind == "waive":
            deliverable = db.session.get(Deliverable, action["deliverable_id"])
            deliverable_services.end_by_decision(
                deliverable, actor, DeliverableStatus.waived, reason, now=now
            )
        elif kind == "release":
            milestone = db.session.get(Milestone, action["milestone_id"])
            escrow_services.release_by_decision(
                milestone, action["amount_minor"], reason, actor=actor, key=key, now=now
            )
            moved["release"] += action["amount_minor"]
        elif kind == "refund":
            milestone = db.session.get(Milestone, action["milestone_id"])
            escrow_services.refund_milestone(
                milestone, action["amount_minor"], reason, actor=actor, key=key, now=now
            )
            moved["refund"] += action["amount_minor"]
        else:
            moved["refund"] += _terminate(
                db.session.get(Contract, action["contract_id"]), actor, reason, key, now=now
            )
    return moved


def _currency_of(ticket):
    """The currency of the ticket's money: its workroom's milestones or active contract."""
    milestone = db.session.scalar(
        select(Milestone).where(Milestone.workroom_id == ticket.workroom_id).limit(1)
    )
    if milestone is not None:
        return milestone.currency
    contract = db.session.scalar(select(Contract).where(Contract.workroom_id == ticket.workroom_id))
    version = contract.accepted_version if contract is not None else None
    return version.currency if version is not None else ""


def _terminate(contract, actor, reason, key, *, now):
    """End the contract and settle what is approved: open work is cancelled, milestones
    whose work is done settle as usual, and escrow held for cancelled work goes back to the
    brand. Returns the amount refunded."""
    contract_services.end_contract(contract, actor, ContractStatus.terminated, reason, now=now)
    for deliverable in db.session.scalars(
        select(Deliverable).where(
            Deliverable.contract_id == contract.id,
            Deliverable.status.in_((*OPEN_WORK, DeliverableStatus.submitted)),
        )
    ).all():
        deliverable_services.end_by_decision(
            deliverable, actor, DeliverableStatus.cancelled, reason, now=now
        )
    refunded = 0
    for milestone in db.session.scalars(
        select(Milestone).where(Milestone.contract_id == contract.id).order_by(Milestone.id)
    ).all():
        cancelled = any(
            d.deliverable is not None and d.deliverable.status is DeliverableStatus.cancelled
            for d in milestone.dependencies
        )
        left = milestone.in_escrow_minor
        if cancelled and left and milestone.status in (*HOLDABLE, MilestoneStatus.held):
            escrow_services.refund_milestone(
                milestone, left, reason, actor=actor, key=f"{key}:refund:{milestone.id}", now=now
            )
            refunded += left
    return refunded


def withdraw(ticket, actor, seat, reason="", *, now=None):
    """The side that opened the ticket takes it back; the holds lift."""
    now = now or utcnow()
    side = party_side(seat, ticket)
    reason = _text(reason, MAX_TEXT, "The reason", required=False)
    _lock(ticket)
    if side is not ticket.opened_side:
        raise NotAllowed("Only the side that opened the ticket can withdraw it.")
    _refuse_if_closed(ticket)
    for proposal in ticket.proposals:
        if proposal.state is ProposalState.open:
            proposal.state = ProposalState.superseded
    _set_status(ticket, T.withdrawn)
    _close(ticket, Outcome.withdrawn, now=now)
    text = f"{_name(actor)} withdrew the ticket."
    _step(ticket, actor, text + (f"\n\n{quote_markdown(reason)}" if reason else ""), now=now)
    _audit(actor, "ticket.withdrawn", ticket, now=now)
    return ticket


def _close(ticket, outcome, *, now):
    """Resolved or withdrawn: record the outcome and lift holds no other open ticket keeps."""
    if ticket.status is not T.withdrawn:
        _set_status(ticket, T.resolved)
    ticket.outcome, ticket.resolved_at = outcome, now
    db.session.flush()
    for milestone in ticket.milestones:
        db.session.refresh(milestone)
        if milestone.status is MilestoneStatus.held and not open_tickets_naming(
            milestones=[milestone]
        ):
            escrow_services.release_hold(milestone, now=now)
