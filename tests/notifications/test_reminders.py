"""Reminder rules: each threshold once per recipient, re-armed by a moved date, silent once
the item is resolved; the sweep is safe to run twice and on two workers at once (E-1)."""

import threading
from datetime import timedelta

from sqlalchemy import func, select

from jobs.reminders import sweep_reminders
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import ReviewDecision
from portal.extensions import db
from portal.notifications.models import Notification, OutboundEmail, ReminderClaim
from portal.notifications.reminders import BY_NAME, threshold
from portal.queue import get_queue
from tests.mediation.conftest import NOW, Actors
from tests.mediation.conftest import active as active  # a fixture
from tests.mediation.conftest import case as case  # a fixture

RULE = BY_NAME["deliverable_due"]


def titles(user):
    return db.session.scalars(
        select(Notification.title).where(Notification.user_id == user.id).order_by(Notification.id)
    ).all()


def due_titles(user):
    return [t for t in titles(user) if " is due " in t or "overdue" in t]


def test_the_ladder_takes_the_latest_threshold_crossed():
    due = NOW + timedelta(days=10)
    assert threshold(RULE, due, NOW) is None
    assert threshold(RULE, due, due - timedelta(days=6)).startswith("before 7d @")
    assert threshold(RULE, due, due - timedelta(hours=20)).startswith("before 1d @")
    assert threshold(RULE, due, due - timedelta(hours=1)).startswith("before 2h @")
    assert threshold(RULE, due, due + timedelta(minutes=1)).startswith("after 0 @")
    daily = BY_NAME["review_waiting"]
    assert threshold(daily, NOW, NOW + timedelta(hours=23)) is None
    assert threshold(daily, NOW, NOW + timedelta(hours=25)).startswith("after 1d")
    assert threshold(daily, NOW, NOW + timedelta(days=3, hours=1)).startswith("after 3d")


def test_a_deadline_reminds_the_creator_once_per_threshold(app, case, app_ctx):
    cast = Actors(case)
    due = cast.video.due_at
    # Only the renewal ladder (the term ends 31 May: notice by 1 May, 60 days ahead) for
    # the owner and the creator; no deadline yet.
    assert sweep_reminders(now=due - timedelta(days=8)) == 2
    assert sweep_reminders(now=due - timedelta(days=6)) == 1
    assert sweep_reminders(now=due - timedelta(days=5)) == 0  # the same threshold
    assert sweep_reminders(now=due - timedelta(days=2)) == 1
    # Down for a day: at 1 h before, only the latest threshold (2 h) fires, not 1 d too.
    assert sweep_reminders(now=due - timedelta(hours=1)) == 1
    assert due_titles(cast.creator) == [
        "“Trail video” is due in 6 days",
        "“Trail video” is due in 2 days",
        "“Trail video” is due in 1 hour",
    ]
    emails = db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.kind == "notify_deadline")
    )
    assert {e.list_id for e in emails} == {"reminders"}  # default channel: email now


def test_a_moved_date_re_arms_the_ladder_and_approval_stops_it(app, case, app_ctx):
    cast = Actors(case)
    due = cast.video.due_at
    sweep_reminders(now=due - timedelta(days=2))
    request = deliverable_services.request_extension(
        cast.video, cast.creator, cast.maker, due + timedelta(days=10), "Rain", now=NOW
    )
    deliverable_services.answer_extension(request, cast.owner, cast.brand, True, now=NOW)
    db.session.commit()
    new_due = cast.video.due_at
    sweep_reminders(now=new_due - timedelta(days=2))  # the same step, on the new date
    video = [t for t in due_titles(cast.creator) if "Trail video" in t]
    assert video == ["“Trail video” is due in 2 days"] * 2
    revision = deliverable_services.submit_revision(cast.video, cast.creator, cast.maker, "Cut")
    deliverable_services.review_revision(revision, cast.owner, cast.brand, ReviewDecision.approve)
    db.session.commit()
    sweep_reminders(now=new_due - timedelta(hours=1))
    assert [t for t in due_titles(cast.creator) if "Trail video" in t] == video  # no more


def test_reviews_waiting_remind_the_brand_daily(app, case, app_ctx):
    cast = Actors(case)
    revision = deliverable_services.submit_revision(
        cast.story, cast.creator, cast.maker, "Story", now=NOW
    )
    db.session.commit()
    # The owner (viewer: no), plus the renewal ladder's 60-day step for owner and creator.
    assert sweep_reminders(now=NOW + timedelta(hours=25)) == 3
    assert sweep_reminders(now=NOW + timedelta(hours=30)) == 0
    assert sweep_reminders(now=NOW + timedelta(days=2, hours=1)) == 1
    assert any("waited 2 days for your review" in t for t in titles(cast.owner))
    assert not any("for your review" in t for t in titles(cast.viewer))
    assert revision.number == 1


def test_two_workers_sweeping_at_once_send_each_reminder_once(app, case, run_worker):
    with app.app_context():
        cast = Actors(case)
        moment = cast.video.due_at - timedelta(days=2)
        queue = get_queue("default")
        for _ in range(2):
            queue.enqueue("jobs.reminders.sweep_reminders", moment)
    workers = [threading.Thread(target=run_worker, args=("default",)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with app.app_context():
        due = select(func.count(ReminderClaim.id)).where(ReminderClaim.rule == "deliverable_due")
        assert db.session.scalar(due) == 1
        assert len(due_titles(Actors(case).creator)) == 1
