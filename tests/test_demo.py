"""The demo data: `flask seed-demo` shows every deliverable state and is safe to run twice."""

from datetime import timedelta

from sqlalchemy import func, select

from portal.audit import AuditEvent
from portal.contracts.models import Contract
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

    live = db.session.scalars(select(Deliverable).where(Deliverable.live_url.is_not(None))).all()
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
    statuses = dict(db.session.execute(select(Milestone.title, Milestone.status)).all())
    assert statuses == {
        "Unboxing reel, live two weeks": MilestoneStatus.paid,
        "Review video approved": MilestoneStatus.paid,
        "Teaser and carousel approved": MilestoneStatus.funded,
        "Sunrise post approved": MilestoneStatus.partially_released,  # by a resolution
        "Campaign wrap-up": MilestoneStatus.pending,
    }
    assert set(db.session.scalars(select(Payout.state))) == {PayoutState.paid}
    assert db.session.scalar(select(func.count(Payout.id))) == 3
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
        pages = [
            f"/workrooms/{d.workroom_id}/deliverables/{d.id}"
            for d in db.session.scalars(select(Deliverable).order_by(Deliverable.id))
        ]
    web.login("brand@example.com", DEMO_PASSWORD)
    brand = web.client.get("/").get_data(as_text=True)
    assert "by status (8 in all)" in brand and "TikTok teaser" in brand
    for page in pages:
        assert web.client.get(page).status_code == 200, page
    web.logout()
    web.login("creator@example.com", DEMO_PASSWORD)
    creator = web.client.get("/").get_data(as_text=True)
    assert "Revise and resubmit" in creator and "Summit sunrise post" in creator
    for page in pages:
        assert web.client.get(page).status_code == 200, page
