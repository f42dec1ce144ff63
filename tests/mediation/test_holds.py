"""A milestone held by an open ticket never settles, even with the sweep and a real worker
running, and settles as usual once the ticket ends."""

from sqlalchemy import func, select

from portal.deliverables import services as deliverable_services
from portal.deliverables.models import ReviewDecision
from portal.escrow.models import Milestone, MilestoneStatus, Payout, PayoutState
from portal.extensions import db
from portal.mediation import services
from portal.mediation.models import Ticket
from portal.queue import get_queue
from tests.mediation.conftest import Actors, open_payment_ticket


def approve_video(cast):
    revision = deliverable_services.submit_revision(cast.video, cast.creator, cast.maker, "Cut")
    deliverable_services.review_revision(revision, cast.owner, cast.brand, ReviewDecision.approve)


def test_a_real_worker_and_the_sweep_leave_a_held_milestone_alone(app, case, run_worker):
    with app.app_context():
        cast = Actors(case)
        ticket = open_payment_ticket(cast)
        approve_video(cast)  # its only dependency is met now
        db.session.commit()
        ticket_id = ticket.id
        queue = get_queue("payouts")
        queue.enqueue("jobs.payouts.sweep_money")
        queue.enqueue("jobs.payouts.settle_milestone", case.milestone_id)
    run_worker("payouts")
    with app.app_context():
        assert db.session.get(Milestone, case.milestone_id).status is MilestoneStatus.held
        assert db.session.scalar(select(func.count(Payout.id))) == 0
        cast = Actors(case)
        services.withdraw(db.session.get(Ticket, ticket_id), cast.creator, cast.maker)
        db.session.commit()  # the hold lifts: releasable, and its settlement is enqueued
    run_worker("payouts")
    run_worker("payouts")  # the settlement enqueues the payout; the next run sends it
    with app.app_context():
        assert db.session.get(Milestone, case.milestone_id).status is MilestoneStatus.paid
        assert db.session.scalar(select(Payout.state)) is PayoutState.paid
