"""Mediation services called directly: every path of a ticket, with time moved by `now`."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from jobs.deliverables import sweep_missed
from jobs.mediation import sweep_mediation
from jobs.payouts import sweep_money
from portal.contracts.models import ContractStatus
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import DeliverableStatus, ReviewDecision
from portal.errors import InvalidState, NotAllowed
from portal.escrow import ledger
from portal.escrow.models import LedgerTransaction, MilestoneStatus, Payout
from portal.extensions import db
from portal.mediation import services
from portal.mediation.clocks import add_business_days, clocks
from portal.mediation.models import (
    Outcome,
    PostKind,
    ProposalState,
    Ticket,
    TicketStatus,
)
from portal.workrooms.models import Message
from tests.mediation.conftest import NOW, in_mediation, open_payment_ticket

S = TicketStatus
M = MilestoneStatus


def extension_and_partial_release(cast, *, percent=None):
    return [
        {"kind": "extend", "deliverable_id": cast.video.id, "due_at": NOW + timedelta(days=10)},
        {
            "kind": "release",
            "milestone_id": cast.milestone.id,
            "amount_minor": 40000,
            "percent": percent,
        },
    ]


def ledger_rows():
    return db.session.scalar(select(func.count(LedgerTransaction.id)))


def test_business_days_skip_the_weekend():
    friday = NOW + timedelta(days=4)  # 2030-03-29
    assert friday.weekday() == 4
    assert add_business_days(friday, 1) == friday + timedelta(days=3)
    assert add_business_days(NOW, 3) == NOW + timedelta(days=3)


def test_opening_holds_the_named_milestone_and_starts_the_response_clock(cast):
    ticket = open_payment_ticket(cast)
    assert ticket.status is S.open
    assert cast.milestone.status is M.held
    assert cast.second.status is M.funded  # not named: not held
    assert ticket.respond_by == NOW + timedelta(days=3)
    (clock,) = clocks(ticket, NOW)
    assert (clock.who, clock.due_at, clock.overdue) == ("the brand", ticket.respond_by, False)
    assert "goes to a mediator" in clock.then
    log = db.session.scalars(select(Message.body_md).order_by(Message.id.desc()).limit(2)).all()
    assert "on hold" in log[0] and "opened the ticket" in log[1]


def test_read_only_seats_and_foreign_items_cannot_open_tickets(cast, app):
    with pytest.raises(NotAllowed):
        services.open_ticket(cast.reader, cast.viewer, "payment", "x", "y")
    with pytest.raises(services.InvalidTicket):
        services.open_ticket(cast.maker, cast.creator, "payment", "", "y")


def test_the_others_response_sends_the_ticket_to_the_queue(cast):
    ticket = open_payment_ticket(cast)
    services.post_as_party(ticket, cast.creator, cast.maker, "More detail.", now=NOW)
    assert ticket.status is S.open  # the opener writing is not a response
    services.post_as_party(ticket, cast.owner, cast.brand, "Our side.", now=NOW)
    assert (ticket.status, ticket.responded_at) == (S.in_mediation, NOW)


def test_without_a_response_the_sweep_escalates_when_the_time_runs_out(cast):
    ticket = open_payment_ticket(cast)
    db.session.commit()
    assert sweep_mediation(now=ticket.respond_by - timedelta(minutes=1)) == 0
    assert sweep_mediation(now=ticket.respond_by + timedelta(minutes=1)) == 1
    assert sweep_mediation(now=ticket.respond_by + timedelta(minutes=2)) == 0  # once
    db.session.refresh(ticket)
    assert ticket.status is S.in_mediation and ticket.responded_at is None


def test_claiming_starts_the_sla_clocks_and_only_the_mediator_acts(cast):
    ticket = in_mediation(cast)
    claimed = NOW + timedelta(hours=1)
    assert ticket.mediator_id == cast.mediator.id
    assert ticket.first_response_due == claimed + timedelta(days=1)
    assert ticket.resolve_by == claimed + timedelta(days=7)  # 5 business days over a weekend
    with pytest.raises(InvalidState):
        services.claim(ticket, cast.colleague, now=claimed)
    with pytest.raises(NotAllowed):
        services.post_as_mediator(ticket, cast.colleague, "Hello", now=claimed)
    services.post_as_mediator(ticket, cast.mediator, "Private thought", private=True, now=claimed)
    assert ticket.first_response_at is None  # a private note is not a response
    services.post_as_mediator(ticket, cast.mediator, "Hello both", now=claimed)
    assert ticket.first_response_at == claimed
    assert [p.kind for p in ticket.posts if p.author_id == cast.mediator.id] == [
        PostKind.system,
        PostKind.private,
        PostKind.post,
    ]
    services.assign(ticket, cast.colleague, cast.mediator, now=claimed)  # hand it over
    assert ticket.mediator_id == cast.colleague.id


def test_both_accept_and_every_action_applies_with_the_hold_lifted(cast, app):
    ticket = in_mediation(cast)
    proposal = services.propose(
        ticket, cast.mediator, extension_and_partial_release(cast, percent=40), "Fair split."
    )
    assert ticket.status is S.proposed
    services.answer(proposal, cast.creator, cast.maker, True, now=NOW)
    assert ticket.status is S.proposed and cast.milestone.status is M.held
    with pytest.raises(InvalidState):
        services.answer(proposal, cast.creator, cast.maker, True, now=NOW)
    services.answer(proposal, cast.owner, cast.brand, True, now=NOW + timedelta(hours=2))
    assert (ticket.status, ticket.outcome) == (S.resolved, Outcome.agreed)
    assert proposal.state is ProposalState.applied
    assert ticket.released_minor == 40000 and ticket.refunded_minor == 0
    assert cast.video.due_at == NOW + timedelta(days=10)
    assert cast.milestone.status is M.partially_released
    assert cast.milestone.in_escrow_minor == 60000
    payout = db.session.scalar(select(Payout).where(Payout.milestone_id == cast.milestone.id))
    assert payout.amount_minor == 40000 - 40000 * app.config["PLATFORM_FEE_BPS"] // 10_000
    assert ledger.unbalanced_transactions() == []


def test_a_rejection_returns_the_ticket_to_its_mediator(cast):
    ticket = in_mediation(cast)
    proposal = services.propose(ticket, cast.mediator, extension_and_partial_release(cast))
    with pytest.raises(services.InvalidTicket):
        services.answer(proposal, cast.owner, cast.brand, False, "")  # say why
    services.answer(proposal, cast.owner, cast.brand, False, "40 % is too much.", now=NOW)
    assert ticket.status is S.in_mediation
    assert (proposal.state, proposal.rejected_by_side.value) == (ProposalState.rejected, "brand")
    assert cast.milestone.status is M.held


def test_a_binding_decision_waits_for_the_deadline_then_applies(cast):
    ticket = in_mediation(cast)
    actions = [{"kind": "refund", "milestone_id": cast.milestone.id, "amount_minor": 100000}]
    with pytest.raises(NotAllowed):  # 1,000.00 in dispute: above the quick-decision amount
        services.decide(ticket, cast.mediator, actions, now=ticket.resolve_by - timedelta(hours=1))
    before = ledger_rows()
    services.decide(ticket, cast.mediator, actions, "No delivery.", now=ticket.resolve_by)
    assert (ticket.status, ticket.outcome) == (S.resolved, Outcome.decided)
    assert cast.milestone.status is M.refunded
    assert ticket.refunded_minor == 100000
    assert ledger_rows() == before + 1


def test_small_amounts_can_be_decided_at_once(cast, app):
    app.config["MEDIATION_QUICK_DECISION_MINOR"] = 100000
    ticket = in_mediation(cast)
    release = [{"kind": "release", "milestone_id": cast.milestone.id, "amount_minor": 100000}]
    services.decide(ticket, cast.mediator, release, now=NOW + timedelta(hours=2))
    assert cast.milestone.status is M.settling  # paid once its payout is
    app.config["MEDIATION_QUICK_DECISION_MINOR"] = 50000


def test_one_refused_action_rolls_back_every_action(cast):
    ticket = in_mediation(cast)
    due_at = cast.video.due_at
    actions = [
        *extension_and_partial_release(cast),
        {"kind": "refund", "milestone_id": cast.milestone.id, "amount_minor": 90000},  # > left
    ]
    proposal = services.propose(ticket, cast.mediator, actions)
    services.answer(proposal, cast.creator, cast.maker, True, now=NOW)
    before = ledger_rows()
    with pytest.raises(services.ResolutionFailed, match="nothing changed"):
        services.answer(proposal, cast.owner, cast.brand, True, now=NOW)
    assert ledger_rows() == before
    assert cast.video.due_at == due_at
    assert cast.milestone.status is M.held and cast.milestone.released_minor == 0
    assert ticket.status is S.proposed


def test_the_opener_withdraws_and_the_hold_lifts(cast):
    ticket = open_payment_ticket(cast)
    with pytest.raises(NotAllowed):
        services.withdraw(ticket, cast.owner, cast.brand, now=NOW)
    services.withdraw(ticket, cast.creator, cast.maker, "Sorted it out.", now=NOW)
    assert (ticket.status, ticket.outcome) == (S.withdrawn, Outcome.withdrawn)
    assert cast.milestone.status is M.funded


def test_a_hold_stays_while_another_open_ticket_names_the_milestone(cast):
    first = open_payment_ticket(cast)
    second = services.open_ticket(
        cast.brand, cast.owner, "quality", "Video quality", "Blurry.", milestones=[cast.milestone]
    )
    services.withdraw(first, cast.creator, cast.maker, now=NOW)
    assert cast.milestone.status is M.held
    services.withdraw(second, cast.owner, cast.brand, now=NOW)
    assert cast.milestone.status is M.funded


def test_a_held_milestone_never_settles_even_when_its_work_is_approved(cast):
    open_payment_ticket(cast)
    revision = deliverable_services.submit_revision(cast.video, cast.creator, cast.maker, "Cut")
    deliverable_services.review_revision(revision, cast.owner, cast.brand, ReviewDecision.approve)
    db.session.commit()
    sweep_money()
    db.session.refresh(cast.milestone)
    assert cast.milestone.status is M.held
    assert db.session.scalar(select(func.count(Payout.id))) == 0


def test_terminating_settles_what_is_approved_and_refunds_the_rest(cast):
    revision = deliverable_services.submit_revision(cast.story, cast.creator, cast.maker, "Story")
    deliverable_services.review_revision(revision, cast.owner, cast.brand, ReviewDecision.approve)
    ticket = in_mediation(cast)
    actions = [{"kind": "terminate", "contract_id": cast.contract.id}]
    services.decide(ticket, cast.mediator, actions, now=ticket.resolve_by)
    assert cast.contract.status is ContractStatus.terminated
    assert cast.video.status is DeliverableStatus.cancelled
    assert cast.milestone.status is M.refunded
    assert ticket.refunded_minor == 100000
    assert cast.second.status is M.releasable  # the story was approved: it settles


def test_the_sweep_flags_a_long_missed_deliverable_once(cast, app):
    missed_at = deliverable_services.missed_after(cast.video) + timedelta(minutes=1)
    db.session.commit()
    assert sweep_missed(now=missed_at) == 1  # marked missed, not flagged yet
    days = app.config["MEDIATION_AUTO_FLAG_DAYS"]
    assert sweep_missed(now=missed_at + timedelta(days=days - 1)) == 0
    assert sweep_missed(now=missed_at + timedelta(days=days, hours=1)) == 1
    assert sweep_missed(now=missed_at + timedelta(days=days, hours=2)) == 0
    (ticket,) = db.session.scalars(select(Ticket)).all()
    assert ticket.flagged_by_system and ticket.status is S.in_mediation
    assert ticket.deliverables == [cast.video] and ticket.milestones == [cast.milestone]
    db.session.refresh(cast.milestone)
    assert cast.milestone.status is M.held
