"""Close-out services called directly: each path end to end, with the ledger checked after."""

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from jobs.contracts import sweep_expired
from portal.audit import AuditEvent, verify_chain
from portal.closeouts import services
from portal.closeouts.models import Closeout, CloseoutStatus, LineBasis
from portal.contracts.models import ContractStatus
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import DeliverableStatus, ReviewDecision, RevisionState
from portal.errors import InvalidState, NotAllowed
from portal.escrow import ledger
from portal.escrow import services as escrow_services
from portal.escrow.models import LedgerTransaction, MilestoneStatus, Payout
from portal.extensions import db
from portal.mediation.models import Ticket, TicketStatus
from portal.notifications.models import Notification
from portal.workrooms.models import Message, Side
from tests.closeouts.conftest import AFTER_TERM, NOW

D, M, S = DeliverableStatus, MilestoneStatus, CloseoutStatus


def assert_books_balance():
    """The ledger invariants (TEST-PLAN M-2, M-12) after every path."""
    assert ledger.unbalanced_transactions() == []
    assert ledger.check_books() == []
    assert sum(ledger.balances().values()) == 0


def work_in_three_states(ctx):
    """Video approved, story sent back for changes, post not started; both milestones funded."""
    ctx.fund(ctx.first, ctx.rest)
    ctx.submit(ctx.video)
    ctx.review(ctx.video)
    ctx.submit(ctx.story)
    ctx.review(ctx.story, ReviewDecision.request_changes)


def test_the_proposal_shows_each_line_by_the_state_of_its_work(ctx):
    work_in_three_states(ctx)
    closeout = services.propose_closeout(
        ctx.contract, ctx.owner, ctx.brand, "The season ended early.", now=NOW
    )
    assert closeout.status is S.proposed and closeout.proposed_side is Side.brand
    rows = [
        (
            line.title,
            line.status,
            line.basis,
            line.price_minor,
            line.to_creator_minor,
            line.to_brand_minor,
        )
        for line in closeout.lines
    ]
    assert rows == [
        ("Trail video", D.approved, LineBasis.approved, 100000, 100000, 0),
        ("Trail story", D.changes_requested, LineBasis.in_progress, 25000, 6250, 18750),
        ("Trail post", D.pending, LineBasis.not_started, 40000, 0, 40000),
    ]
    assert (closeout.to_creator_minor, closeout.to_brand_minor) == (106250, 58750)
    # The video's milestone is releasable: it counts as released already.
    assert closeout.already_released_minor == 100000
    assert (closeout.release_minor, closeout.refund_minor, closeout.shortfall_minor) == (
        6250,
        58750,
        0,
    )
    assert closeout.accepted_by(Side.brand).user_id == ctx.owner.id
    assert closeout.accepted_by(Side.creator) is None
    assert ctx.contract.status is ContractStatus.active  # nothing applies before both accept
    notes = db.session.scalars(select(Notification).where(Notification.user_id == ctx.creator.id))
    assert any("proposed to close" in n.title for n in notes)
    assert (
        "proposed to close **Spring Trails** early"
        in db.session.scalars(select(Message.body_md).order_by(Message.id.desc())).first()
    )


def test_accepted_by_both_sides_it_settles_through_escrow_and_ends_the_contract(ctx):
    work_in_three_states(ctx)
    closeout = services.propose_closeout(
        ctx.contract, ctx.owner, ctx.brand, "The season ended early.", now=NOW
    )
    services.accept_closeout(closeout, ctx.creator, ctx.maker, now=NOW)
    assert closeout.status is S.accepted and closeout.settled_at == NOW
    assert ctx.contract.status is ContractStatus.partially_completed
    assert [d.status for d in (ctx.video, ctx.story, ctx.post)] == [
        D.approved,
        D.cancelled,
        D.cancelled,
    ]
    # The video's milestone settled as usual; the rest paid the kill fee and went back.
    assert ctx.first.status is M.settling and ctx.first.released_minor == 100000
    assert ctx.rest.status is M.refunded
    assert (ctx.rest.released_minor, ctx.rest.refunded_minor) == (6250, 58750)
    keys = set(db.session.scalars(select(LedgerTransaction.idempotency_key)))
    assert f"closeout:{closeout.id}:release:{ctx.rest.id}" in keys
    assert f"closeout:{closeout.id}:refund:{ctx.rest.id}" in keys
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 2
    assert_books_balance()
    assert verify_chain(f"workroom:{ctx.contract.workroom_id}") is None
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"closeout.proposed", "closeout.accepted", "closeout.settled"} <= actions
    assert "contract.partially_completed" in actions
    for user in (ctx.owner, ctx.creator):
        titles = db.session.scalars(
            select(Notification.title).where(Notification.user_id == user.id)
        )
        assert any("is settled" in title for title in titles)


def test_payouts_of_a_settled_closeout_pay_the_creator_and_the_books_still_balance(ctx):
    work_in_three_states(ctx)
    closeout = services.propose_closeout(ctx.contract, ctx.creator, ctx.maker, "Moving on.")
    services.accept_closeout(closeout, ctx.owner, ctx.brand)
    for payout in db.session.scalars(select(Payout)).all():
        escrow_services.send_payout(payout, ctx.provider)
    assert ctx.first.status is M.paid
    assert_books_balance()


def test_escrow_short_of_what_is_owed_is_named_as_the_shortfall(ctx):
    ctx.fund(ctx.rest)  # the video's 1,000.00 milestone is never funded
    ctx.submit(ctx.video)
    ctx.review(ctx.video)
    closeout = services.propose_closeout(ctx.contract, ctx.creator, ctx.maker, "Paid late.")
    assert closeout.to_creator_minor == 100000 and closeout.already_released_minor == 0
    assert (closeout.release_minor, closeout.refund_minor) == (65000, 0)
    assert closeout.shortfall_minor == 35000
    services.accept_closeout(closeout, ctx.owner, ctx.brand)
    assert ctx.rest.status is M.settling and ctx.rest.released_minor == 65000
    assert ctx.first.status is M.pending
    assert closeout.shortfall_minor == 35000
    assert_books_balance()


def test_the_plan_is_read_from_escrow_again_when_it_applies(ctx):
    ctx.fund(ctx.first)
    ctx.submit(ctx.video)  # in review: in progress, 25 % of 1,000.00
    closeout = services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "Budget cut.")
    assert (closeout.release_minor, closeout.refund_minor) == (25000, 75000)
    ctx.fund(ctx.rest)  # 650.00 more arrives in escrow before the creator answers
    services.accept_closeout(closeout, ctx.creator, ctx.maker)
    assert (closeout.release_minor, closeout.refund_minor) == (25000, 140000)
    assert ctx.first.status is M.refunded and ctx.first.released_minor == 25000
    assert ctx.rest.status is M.refunded and ctx.rest.refunded_minor == 65000
    # Work in review ends with the contract: cancelled, its revision closed unreviewed.
    assert ctx.video.status is D.cancelled
    assert [r.state for r in ctx.video.revisions] == [RevisionState.closed]
    last = db.session.scalars(
        select(Message.body_md).where(Message.body_md.like("%is settled%"))
    ).one()
    assert "read again" in last
    assert_books_balance()


def test_open_work_can_be_marked_for_reassignment_instead_of_cancelled(ctx):
    ctx.fund(ctx.first, ctx.rest)
    closeout = services.propose_closeout(
        ctx.contract, ctx.owner, ctx.brand, "Another creator takes over.", reassign=[ctx.post]
    )
    assert closeout.reassign_ids == [ctx.post.id]
    services.accept_closeout(closeout, ctx.creator, ctx.maker)
    assert [d.status for d in (ctx.video, ctx.story, ctx.post)] == [
        D.cancelled,
        D.cancelled,
        D.reassigned,
    ]
    assert ctx.post.is_final and ctx.post.closed_at is not None
    assert (closeout.release_minor, closeout.refund_minor) == (0, 165000)
    assert_books_balance()


def test_only_unfinished_work_of_the_contract_can_be_reassigned(ctx):
    ctx.submit(ctx.video)
    ctx.review(ctx.video)  # approved: nothing left to hand over
    with pytest.raises(services.InvalidCloseout, match="reassigned"):
        services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "Why", reassign=[ctx.video])


def test_work_settled_earlier_is_excused_and_settles_nothing(ctx):
    deliverable_services.waive_deliverable(ctx.story, ctx.owner, ctx.brand, "Not needed.")
    closeout = services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "Done early.")
    story = closeout.lines[1]
    assert (story.basis, story.price_minor, story.to_creator_minor, story.to_brand_minor) == (
        LineBasis.excused,
        25000,
        0,
        0,
    )


def test_escalating_opens_a_ticket_that_names_and_holds_the_money(ctx):
    work_in_three_states(ctx)
    closeout = services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "Season over.")
    services.escalate_closeout(closeout, ctx.creator, ctx.maker, "The kill fee is too low.")
    assert closeout.status is S.escalated and closeout.closed_at is not None
    ticket = db.session.get(Ticket, closeout.ticket_id)
    assert ticket.status is TicketStatus.open and ticket.opened_side is Side.creator
    assert "kill fee" in ticket.asked_for_md
    assert {m.id for m in ticket.milestones} == {ctx.first.id, ctx.rest.id}
    assert {d.id for d in ticket.deliverables} == {ctx.story.id, ctx.post.id}
    assert ctx.first.status is M.held and ctx.rest.status is M.held
    assert ctx.contract.status is ContractStatus.active
    with pytest.raises(InvalidState):
        services.accept_closeout(closeout, ctx.creator, ctx.maker)
    assert_books_balance()


def test_only_the_proposing_side_withdraws_and_only_while_proposed(ctx):
    closeout = services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "Season over.")
    with pytest.raises(NotAllowed):
        services.withdraw_closeout(closeout, ctx.creator, ctx.maker)
    services.withdraw_closeout(closeout, ctx.owner, ctx.brand)
    assert closeout.status is S.withdrawn
    with pytest.raises(InvalidState):
        services.withdraw_closeout(closeout, ctx.owner, ctx.brand)
    with pytest.raises(InvalidState):
        services.accept_closeout(closeout, ctx.creator, ctx.maker)
    # withdrawn, it no longer blocks a new one
    again = services.propose_closeout(ctx.contract, ctx.creator, ctx.maker, "Let's stop.")
    assert again.status is S.proposed


def test_one_open_closeout_per_contract(ctx):
    services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "Season over.")
    with pytest.raises(InvalidState, match="already waiting"):
        services.propose_closeout(ctx.contract, ctx.creator, ctx.maker, "Me too.")
    db.session.commit()
    first = db.session.scalars(select(Closeout)).one()
    row = {
        column.name: getattr(first, column.key)
        for column in Closeout.__table__.columns
        if column.name != "id"
    }
    with pytest.raises(IntegrityError):  # the partial unique index refuses a race's loser
        db.session.execute(insert(Closeout.__table__).values(**row))
    db.session.rollback()


def test_who_may_propose_and_answer(ctx):
    with pytest.raises(NotAllowed):
        services.propose_closeout(ctx.contract, ctx.viewer, ctx.reader, "Viewers only read.")
    with pytest.raises(services.InvalidCloseout, match="why"):
        services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "  ")
    closeout = services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "Season over.")
    with pytest.raises(InvalidState, match="already accepted"):
        services.accept_closeout(closeout, ctx.owner, ctx.brand)
    with pytest.raises(NotAllowed):
        services.accept_closeout(closeout, ctx.viewer, ctx.reader)
    with pytest.raises(NotAllowed):
        services.escalate_closeout(closeout, ctx.viewer, ctx.reader, "No.")


def test_only_an_active_contract_with_unfinished_work_closes_out(ctx):
    for deliverable in (ctx.video, ctx.story, ctx.post):
        ctx.submit(deliverable)
        ctx.review(deliverable)
    with pytest.raises(services.InvalidCloseout, match="nothing to close out"):
        services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "All done.")
    # An exit may still use one to terminate a finished contract.
    closeout = services.propose_closeout(
        ctx.contract, ctx.owner, ctx.brand, "Exit.", ends_as=ContractStatus.terminated
    )
    services.accept_closeout(closeout, ctx.creator, ctx.maker)
    assert ctx.contract.status is ContractStatus.terminated
    with pytest.raises(InvalidState, match="not active"):
        services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "Again.")


def test_a_refused_step_leaves_nothing_of_the_settlement_applied(ctx, monkeypatch):
    work_in_three_states(ctx)
    closeout = services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "Season over.")
    db.session.commit()

    def refuse(*args, **kwargs):
        raise InvalidState("the refund was refused")

    monkeypatch.setattr(escrow_services, "refund_milestone", refuse)
    with pytest.raises(services.SettlementFailed, match="nothing changed"):
        services.accept_closeout(closeout, ctx.creator, ctx.maker)
    # The savepoint rolled back every step: the work, the money and the contract.
    assert [d.status for d in (ctx.video, ctx.story, ctx.post)] == [
        D.approved,
        D.changes_requested,
        D.pending,
    ]
    assert ctx.rest.status is M.funded and ctx.rest.released_minor == 0
    assert ctx.first.status is M.releasable
    assert ctx.contract.status is ContractStatus.active
    assert closeout.status is S.proposed
    assert_books_balance()
    db.session.rollback()


def test_superseding_an_open_closeout_applies_nothing(ctx):
    closeout = services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "Season over.")
    services.supersede_closeout(closeout, ctx.owner, "An exit settles the contract instead.")
    assert closeout.status is S.superseded
    assert ctx.contract.status is ContractStatus.active


def test_an_expired_term_with_unfinished_work_closes_out_partially_completed(ctx):
    work_in_three_states(ctx)
    db.session.commit()
    assert sweep_expired(now=AFTER_TERM) == 1
    db.session.refresh(ctx.contract)
    assert ctx.contract.status is ContractStatus.expired
    with pytest.raises(InvalidState, match="only be closed out as partially completed"):
        services.propose_closeout(
            ctx.contract, ctx.owner, ctx.brand, "Ended.", ends_as=ContractStatus.terminated
        )
    closeout = services.propose_closeout(
        ctx.contract, ctx.creator, ctx.maker, "The term ran out with work open.", now=AFTER_TERM
    )
    services.accept_closeout(closeout, ctx.owner, ctx.brand, now=AFTER_TERM)
    assert ctx.contract.status is ContractStatus.partially_completed
    assert [d.status for d in (ctx.story, ctx.post)] == [D.cancelled, D.cancelled]
    assert_books_balance()


def test_work_in_review_when_the_contract_ends_is_cancelled_and_its_revision_closed(ctx):
    work_in_three_states(ctx)
    ctx.submit(ctx.post)  # waits for the brand's review
    with pytest.raises(InvalidState, match="Review the submitted revision"):
        deliverable_services.cancel_deliverable(ctx.post, ctx.owner, ctx.brand, "No.")
    closeout = services.propose_closeout(ctx.contract, ctx.owner, ctx.brand, "Ended.", now=NOW)
    (line,) = [line for line in closeout.lines if line.deliverable_id == ctx.post.id]
    assert line.basis is LineBasis.in_progress
    services.accept_closeout(closeout, ctx.creator, ctx.maker, now=NOW)
    assert ctx.post.status is D.cancelled
    assert [r.state for r in ctx.post.revisions] == [RevisionState.closed]
    assert ctx.contract.status is ContractStatus.partially_completed
    assert_books_balance()
