"""The demo data: `flask seed-demo` shows every deliverable state and is safe to run twice."""

from datetime import timedelta

from sqlalchemy import func, select

from portal.audit import AuditEvent
from portal.contracts.models import Contract, ContractStatus, ContractVersion
from portal.database import utcnow
from portal.deliverables.models import (
    Deliverable,
    DeliverableStatus,
    ExtensionRequest,
    RequestState,
    Revision,
    RevisionState,
)
from portal.demo import DEMO_PASSWORD, seed_demo
from portal.extensions import db
from portal.workrooms.models import Message, Workroom

COUNTED = (Workroom, Contract, Deliverable, Revision, ExtensionRequest, Message, AuditEvent)


def row_counts():
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in COUNTED
    }


def test_seed_demo_twice_shows_every_deliverable_state_once(app_ctx):
    seed_demo()
    first = row_counts()
    seed_demo()
    assert row_counts() == first  # the second run creates nothing

    statuses = db.session.scalars(select(Deliverable.status)).all()
    assert set(statuses) == set(DeliverableStatus)

    in_review = db.session.scalars(
        select(Revision).where(Revision.state == RevisionState.in_review)
    ).all()
    now = utcnow()
    assert any(now < r.review_due_at <= now + timedelta(hours=48) for r in in_review)

    three = db.session.scalars(
        select(Deliverable).where(Deliverable.last_revision_number == 3)
    ).all()
    assert len(three) == 1
    (reviewed,) = three
    assert reviewed.status is DeliverableStatus.approved
    assert [r.number for r in reviewed.revisions] == [1, 2, 3]
    assert [r.state.value for r in reviewed.revisions] == [
        "changes_requested",
        "changes_requested",
        "approved_with_corrections",
    ]
    assert reviewed.revisions[-1].files  # the thumbnail

    live = db.session.scalars(
        select(Deliverable).where(
            Deliverable.live_url.is_not(None), Deliverable.contract_id == cora_contract_id()
        )
    ).all()
    assert [d.status for d in live] == [DeliverableStatus.approved]
    open_sides = db.session.scalars(
        select(ExtensionRequest.side).where(ExtensionRequest.state == RequestState.open)
    ).all()
    assert sorted(s.value for s in open_sides) == ["brand", "creator"]


def test_seed_demo_shows_money_in_every_milestone_state_with_balanced_books(app_ctx):
    from portal.escrow import ledger
    from portal.escrow.models import Milestone, MilestoneStatus, Payout, PayoutState

    seed_demo()
    seed_demo()
    cora = cora_contract_id()
    statuses = dict(
        db.session.execute(
            select(Milestone.title, Milestone.status).where(Milestone.contract_id == cora)
        ).all()
    )
    assert statuses == {
        "Unboxing reel, live two weeks": MilestoneStatus.paid,
        "Review video approved": MilestoneStatus.paid,
        "Teaser and carousel approved": MilestoneStatus.funded,
        "Sunrise post approved": MilestoneStatus.partially_released,  # by a resolution
        "Campaign wrap-up": MilestoneStatus.pending,
    }
    coras = select(Milestone.id).where(Milestone.contract_id == cora)
    assert set(db.session.scalars(select(Payout.state).where(Payout.milestone_id.in_(coras)))) == {
        PayoutState.paid
    }
    assert (
        db.session.scalar(select(func.count(Payout.id)).where(Payout.milestone_id.in_(coras))) == 3
    )
    assert ledger.unbalanced_transactions() == []
    assert ledger.check_books() == []


def test_seed_demo_has_a_ticket_queued_one_with_a_proposal_and_one_resolved(app_ctx):
    from portal.mediation.models import Outcome, ProposalState, Ticket, TicketStatus

    seed_demo()
    seed_demo()
    tickets = {t.subject: t for t in db.session.scalars(select(Ticket))}
    assert len(tickets) == 3
    queued = tickets["Carousel shows a competitor's bottle"]
    assert (queued.status, queued.mediator_id) == (TicketStatus.in_mediation, None)
    waiting = tickets["Story set: the race was called off"]
    assert waiting.status is TicketStatus.proposed
    assert waiting.open_proposal.state is ProposalState.open
    assert waiting.open_proposal.brand_accepted_at and not waiting.open_proposal.creator_accepted_at
    resolved = tickets["Sunrise shoot: paid for the scouting?"]
    assert (resolved.status, resolved.outcome) == (TicketStatus.resolved, Outcome.agreed)
    assert resolved.released_minor == 60_000 and resolved.currency == "USD"


def test_seed_demo_leaves_the_bells_with_what_happened_lately(app_ctx):
    from portal.accounts.models import User
    from portal.notifications.services import unread_count

    seed_demo()
    for email in ("brand@example.com", "creator@example.com", "mediator@example.com"):
        user = db.session.scalar(select(User).where(User.email == email))
        assert 0 < unread_count(user) < 30, email


def test_seed_demo_writes_the_log_and_audit_trail_in_time_order(app_ctx):
    seed_demo()
    for workroom in db.session.scalars(select(Workroom)):
        times = db.session.scalars(
            select(Message.created_at)
            .where(Message.workroom_id == workroom.id)
            .order_by(Message.seq)
        ).all()
        assert times == sorted(times)
        events = db.session.scalars(
            select(AuditEvent.created_at)
            .where(AuditEvent.chain == f"workroom:{workroom.id}")
            .order_by(AuditEvent.seq)
        ).all()
        assert events == sorted(events)
    for deliverable in db.session.scalars(select(Deliverable)):
        assert deliverable.contract.accepted_version.starts_on <= deliverable.due_at.date()


def test_demo_dashboards_and_deliverable_pages_render(app, web):
    with app.app_context():
        seed_demo()
        deliverables = db.session.scalars(select(Deliverable).order_by(Deliverable.id)).all()
        pages = [f"/workrooms/{d.workroom_id}/deliverables/{d.id}" for d in deliverables]
        coras = [
            f"/workrooms/{d.workroom_id}/deliverables/{d.id}"
            for d in deliverables
            if d.workroom.creator.email == "creator@example.com"
        ]
        total = db.session.scalar(  # the dashboard counts those under active contracts
            select(func.count(Deliverable.id))
            .join(Contract, Contract.id == Deliverable.contract_id)
            .where(Contract.status == ContractStatus.active)
        )
    web.login("brand@example.com", DEMO_PASSWORD)
    brand = web.client.get("/").get_data(as_text=True)
    assert f"by status ({total} in all)" in brand and "TikTok teaser" in brand
    for page in pages:
        assert web.client.get(page).status_code == 200, page
    web.logout()
    web.login("creator@example.com", DEMO_PASSWORD)
    creator = web.client.get("/").get_data(as_text=True)
    assert "Revise and resubmit" in creator and "Summit sunrise post" in creator
    for page in coras:
        assert web.client.get(page).status_code == 200, page


def cora_contract_id():
    """Cora's Spring Trails contract, the one whose work shows every state."""
    return db.session.scalar(
        select(ContractVersion.contract_id).where(ContractVersion.title == "Spring Trails 2027")
    )


def test_seed_demo_shows_a_renewal_window_a_partial_completion_and_an_exit(app_ctx):
    from portal.closeouts.models import Closeout, CloseoutStatus
    from portal.escrow import ledger
    from portal.exits.models import Exit, ExitStatus
    from portal.reports.models import PerformanceResult

    seed_demo()
    seed_demo()
    by_title = {
        v.title: v.contract
        for v in db.session.scalars(select(ContractVersion).where(ContractVersion.number == 1))
    }
    rae = by_title["Autumn Ridge reels"]
    assert rae.status is ContractStatus.active and rae.accepted_version.auto_renew
    days_to_notice = (rae.accepted_version.notice_deadline - utcnow().date()).days
    assert 0 < days_to_notice <= 30  # in the renewal window, notice still open
    assert db.session.scalar(select(func.count(PerformanceResult.id))) == 3
    assert by_title["Camp Kitchen pilot"].status is ContractStatus.partially_completed
    assert by_title["Spring Trails climbing"].status is ContractStatus.terminated
    (closed_out, exited) = db.session.scalars(select(Closeout).order_by(Closeout.id)).all()
    assert {closed_out.status, exited.status} == {CloseoutStatus.accepted}
    (exit,) = db.session.scalars(select(Exit)).all()
    assert exit.status is ExitStatus.ended and exit.analysis is not None
    replacement = db.session.get(Contract, exit.replacement_contract_id)
    assert replacement.status is ContractStatus.proposed
    assert replacement.workroom.creator.email == "creator5@example.com"
    assert ledger.unbalanced_transactions() == [] and ledger.check_books() == []
