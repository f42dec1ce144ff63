"""Deliverable timers: the auto-approve, missed and warning sweeps, called directly and run
by real RQ workers, each run twice."""

import dataclasses
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select

from jobs.deliverables import sweep_auto_approvals, sweep_missed, sweep_review_warnings
from portal.accounts.models import BrandRole, User
from portal.audit import AuditEvent
from portal.contracts.models import Contract, ContractStatus
from portal.database import utcnow
from portal.deliverables import services
from portal.deliverables.models import (
    Deliverable,
    DeliverableStatus,
    Review,
    ReviewDecision,
    ReviewWarning,
    Revision,
    RevisionState,
)
from portal.deliverables.reminders import warn_reviewers
from portal.extensions import db
from portal.notifications.models import OutboundEmail
from portal.queue import get_queue
from portal.workrooms.models import Message, MessageKind
from tests import factories
from tests.conftest import ROOT
from tests.contracts.conftest import Pair, seat, seed_pair
from tests.contracts.samples import sample_terms
from tests.deliverables.conftest import activate

TITLE = 'Trail <b>video</b> & "more"'  # user text: escaped in HTML mail, intact in text mail
SWEEPS = (
    "jobs.deliverables.sweep_auto_approvals",
    "jobs.deliverables.sweep_missed",
    "jobs.deliverables.sweep_review_warnings",
)


@dataclass
class Room:
    """The pair plus a manager, and the active contract's deliverables by position."""

    pair: Pair
    manager: factories.Snapshot
    contract_id: int
    deliverable_ids: list[int]

    @property
    def reviewers(self):
        """The addresses that must get review warnings: owner and manager."""
        return {self.pair.owner.email, self.manager.email}


def timer_terms(**overrides):
    """Sample terms (5-day window, 24-hour grace) with an HTML-looking first title."""
    terms = sample_terms(**overrides)
    first = dataclasses.replace(terms.lines[0], title=TITLE)
    return dataclasses.replace(terms, lines=(first, *terms.lines[1:]))


def build_room(app, terms=None):
    """Owner, manager, viewer and creator with an active contract made by the services."""
    pair = seed_pair(app)
    with app.app_context():
        manager = factories.user(
            name="Max Manager", brand=pair.owner.brand_id, role=BrandRole.manager
        )
        db.session.commit()
        manager = factories.Snapshot.of(manager)
        contract_id, ids = activate(pair, terms or timer_terms())
    return Room(pair, manager, contract_id, ids)


@pytest.fixture
def room(app):
    """The room with the sample terms."""
    return build_room(app)


# Moving time ------------------------------------------------------------------------------


def hours_before(moment, hours):
    """`hours` before a moment."""
    return moment - timedelta(hours=hours)


def hours_after(moment, hours):
    """`hours` after a moment."""
    return moment + timedelta(hours=hours)


# Reading the database ---------------------------------------------------------------------


def deliverable(room, position=0):
    """A deliverable of the room, freshly loaded."""
    return db.session.get(Deliverable, room.deliverable_ids[position])


def submit(room, position=0, *, at):
    """The creator submits the next revision at a given moment; committed."""
    creator = db.session.get(User, room.pair.creator.id)
    revision = services.submit_revision(
        deliverable(room, position),
        creator,
        seat(creator.id, room.pair.workroom_id),
        "Final cut #ad",
        now=at,
    )
    db.session.commit()
    return revision


def count(model, *where):
    """How many rows match."""
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def audit_events(room, action):
    """The room's audit events of one action, oldest first."""
    return db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.workroom_id == room.pair.workroom_id, AuditEvent.action == action)
        .order_by(AuditEvent.seq)
    ).all()


def system_lines(room):
    """The room's system lines in log order."""
    return db.session.scalars(
        select(Message.body_md)
        .where(Message.workroom_id == room.pair.workroom_id, Message.kind == MessageKind.system)
        .order_by(Message.seq)
    ).all()


def warning_emails():
    """The review warnings queued so far, by recipient."""
    return db.session.scalars(
        select(OutboundEmail)
        .where(OutboundEmail.kind == "review_warning")
        .order_by(OutboundEmail.to_address, OutboundEmail.id)
    ).all()


# Auto-approval ----------------------------------------------------------------------------


def test_auto_approval_waits_for_the_window_then_approves_once(app_ctx, room):
    submitted_at = hours_before(deliverable(room).due_at, 72)
    revision = submit(room, at=submitted_at)
    revision_id, deadline = revision.id, revision.review_due_at
    assert deadline == submitted_at + timedelta(days=5)

    assert sweep_auto_approvals(now=hours_before(deadline, 0.01)) == 0
    assert db.session.get(Revision, revision_id).state is RevisionState.in_review
    assert deliverable(room).status is DeliverableStatus.submitted

    assert sweep_auto_approvals(now=deadline) == 1
    revision = db.session.get(Revision, revision_id)
    assert revision.state is RevisionState.auto_approved
    assert deliverable(room).status is DeliverableStatus.approved
    assert deliverable(room).closed_at == deadline
    review = revision.review
    assert (review.decision, review.reviewer_id) == (ReviewDecision.auto_approve, None)
    assert system_lines(room)[-1].startswith("Revision 1 of ")
    assert "approved automatically" in system_lines(room)[-1]
    [event] = audit_events(room, "deliverable.auto_approved")
    assert event.actor_id is None
    assert event.data["revision"] == 1

    lines = len(system_lines(room))
    assert sweep_auto_approvals(now=hours_after(deadline, 1)) == 0
    assert sweep_auto_approvals(now=hours_after(deadline, 2)) == 0
    assert count(Review) == 1
    assert len(audit_events(room, "deliverable.auto_approved")) == 1
    assert len(system_lines(room)) == lines


def test_a_reviewed_revision_is_never_auto_approved(app_ctx, room):
    revision = submit(room, at=hours_before(deliverable(room).due_at, 72))
    owner = db.session.get(User, room.pair.owner.id)
    services.review_revision(
        revision,
        owner,
        seat(owner.id, room.pair.workroom_id),
        ReviewDecision.request_changes,
        feedback="Shorter intro.",
    )
    db.session.commit()
    assert sweep_auto_approvals(now=hours_after(revision.review_due_at, 1)) == 0
    assert count(Review, Review.decision == ReviewDecision.auto_approve) == 0


# Missed -----------------------------------------------------------------------------------


def test_missed_only_after_due_plus_grace_and_only_once(app_ctx, room):
    due = deliverable(room).due_at

    assert sweep_missed(now=hours_after(due, 23.99)) == 0
    assert deliverable(room).status is DeliverableStatus.pending

    assert sweep_missed(now=hours_after(due, 24)) == 1
    assert deliverable(room).status is DeliverableStatus.missed
    assert "was missed" in system_lines(room)[-1]
    assert "24-hour grace period" in system_lines(room)[-1]
    [event] = audit_events(room, "deliverable.missed")
    assert event.actor_id is None

    lines = len(system_lines(room))
    assert sweep_missed(now=hours_after(due, 25)) == 0
    assert sweep_missed(now=hours_after(due, 48)) == 0
    assert len(audit_events(room, "deliverable.missed")) == 1
    assert len(system_lines(room)) == lines
    # The second line is due later: untouched.
    assert deliverable(room, 1).status is DeliverableStatus.pending


def test_grace_period_comes_from_the_contract(app, app_ctx):
    room = build_room(app, timer_terms(grace_hours=0))
    due = deliverable(room).due_at
    assert sweep_missed(now=hours_before(due, 0.01)) == 0
    assert sweep_missed(now=due) == 1
    assert deliverable(room).status is DeliverableStatus.missed


def test_changes_requested_past_due_is_missed(app_ctx, room):
    due = deliverable(room).due_at
    revision = submit(room, at=hours_before(due, 72))
    owner = db.session.get(User, room.pair.owner.id)
    services.review_revision(
        revision,
        owner,
        seat(owner.id, room.pair.workroom_id),
        ReviewDecision.request_changes,
        feedback="Shorter intro.",
    )
    db.session.commit()
    assert sweep_missed(now=hours_after(due, 24)) == 1
    assert deliverable(room).status is DeliverableStatus.missed


def test_submitted_deliverable_is_not_missed(app_ctx, room):
    due = deliverable(room).due_at
    submit(room, at=hours_before(due, 1))
    assert sweep_missed(now=hours_after(due, 48)) == 0
    assert deliverable(room).status is DeliverableStatus.submitted


def test_deliverables_of_a_contract_no_longer_active_are_left_alone(app_ctx, room):
    contract = db.session.get(Contract, room.contract_id)
    contract.status = ContractStatus.terminated  # no termination service yet
    db.session.commit()
    assert sweep_missed(now=hours_after(deliverable(room).due_at, 48)) == 0
    assert deliverable(room).status is DeliverableStatus.pending
    assert audit_events(room, "deliverable.missed") == []


# Warnings before auto-approval -----------------------------------------------------------


def test_reviewers_are_warned_once_per_threshold(app_ctx, room):
    revision = submit(room, at=hours_before(deliverable(room).due_at, 72))
    deadline = revision.review_due_at

    assert sweep_review_warnings(now=hours_before(deadline, 49)) == 0
    assert warning_emails() == []

    assert sweep_review_warnings(now=hours_before(deadline, 47)) == 2
    emails = warning_emails()
    assert {e.to_address for e in emails} == room.reviewers
    link = (
        f"https://localhost/workrooms/{room.pair.workroom_id}"
        f"/deliverables/{room.deliverable_ids[0]}"
    )
    for email in emails:
        assert email.subject == (
            f"Revision 1 of {TITLE} will be approved automatically in about 47 hours"
        )
        assert link in email.text_body
        assert f'href="{link}"' in email.html_body
        assert TITLE in email.text_body
        assert "Trail &lt;b&gt;video&lt;/b&gt; &amp; &#34;more&#34;" in email.html_body
        assert "<b>video" not in email.html_body
    assert {w.hours_before for w in db.session.scalars(select(ReviewWarning))} == {48}

    assert sweep_review_warnings(now=hours_before(deadline, 46)) == 0
    assert sweep_review_warnings(now=hours_before(deadline, 25)) == 0

    assert sweep_review_warnings(now=hours_before(deadline, 23)) == 2
    assert sweep_review_warnings(now=hours_before(deadline, 23)) == 0
    assert sweep_review_warnings(now=hours_before(deadline, 1)) == 0
    assert sweep_review_warnings(now=hours_after(deadline, 1)) == 0

    emails = warning_emails()
    assert len(emails) == 4
    assert {e.to_address for e in emails} == room.reviewers  # not the viewer, not the creator
    assert sorted(
        (w.recipient_id, w.hours_before) for w in db.session.scalars(select(ReviewWarning))
    ) == sorted(
        (user_id, hours) for user_id in (room.pair.owner.id, room.manager.id) for hours in (24, 48)
    )


def test_a_short_window_sends_only_the_tightest_warning(app, app_ctx):
    room = build_room(app, timer_terms(auto_approve_days=1))
    revision = submit(room, at=hours_before(deliverable(room).due_at, 72))
    deadline = revision.review_due_at
    assert sweep_review_warnings(now=hours_before(deadline, 23.9)) == 2
    assert {w.hours_before for w in db.session.scalars(select(ReviewWarning))} == {24}
    assert sweep_review_warnings(now=hours_before(deadline, 12)) == 0
    assert len(warning_emails()) == 2


def test_no_warning_for_a_reviewed_revision_or_a_disabled_reviewer(app_ctx, room):
    db.session.get(User, room.manager.id).is_disabled = True
    first = submit(room, 0, at=hours_before(deliverable(room).due_at, 72))
    second = submit(room, 1, at=first.submitted_at)
    owner = db.session.get(User, room.pair.owner.id)
    services.review_revision(
        second, owner, seat(owner.id, room.pair.workroom_id), ReviewDecision.approve
    )
    db.session.commit()
    assert sweep_review_warnings(now=hours_before(first.review_due_at, 47)) == 1
    [email] = warning_emails()
    assert email.to_address == room.pair.owner.email
    assert f"of {TITLE} " in email.subject


def test_a_warning_rolled_back_before_commit_is_sent_by_the_next_run(app_ctx, room):
    revision = submit(room, at=hours_before(deliverable(room).due_at, 72))
    deadline = revision.review_due_at
    assert warn_reviewers(revision, now=hours_before(deadline, 47)) == 2
    db.session.rollback()  # the worker died before its commit
    assert count(ReviewWarning) == 0
    assert warning_emails() == []
    assert sweep_review_warnings(now=hours_before(deadline, 46)) == 2
    assert len(warning_emails()) == 2


# Real workers -----------------------------------------------------------------------------


def past_terms():
    """Three lines due long ago, so the real clock drives every timer."""
    terms = timer_terms()
    lines = (*terms.lines, dataclasses.replace(terms.lines[1], title="Trail reel"))
    return dataclasses.replace(
        terms,
        starts_on=date(2020, 1, 1),
        ends_on=date(2039, 12, 31),
        lines=tuple(dataclasses.replace(line, due_on=date(2020, 2, 1)) for line in lines),
    )


def seed_timers(app):
    """One deliverable overdue, one revision past its window, one 47 hours from it."""
    room = build_room(app, past_terms())
    with app.app_context():
        now = utcnow()
        submit(room, 1, at=now - timedelta(days=6))
        warned = submit(room, 2, at=now + timedelta(hours=47) - timedelta(days=5))
        return room, warned.id


def enqueue_sweeps(app):
    """Enqueue the three sweeps as `rq cron` does: by name, with no arguments."""
    with app.app_context():
        for name in SWEEPS:
            get_queue("default").enqueue(name)


def check_timers_ran_once(app, room, warned_id, smtp_server):
    """Every timer did its work exactly once."""
    with app.app_context():
        statuses = [deliverable(room, n).status for n in range(3)]
        assert statuses == [
            DeliverableStatus.missed,
            DeliverableStatus.approved,
            DeliverableStatus.submitted,
        ]
        assert len(audit_events(room, "deliverable.missed")) == 1
        assert len(audit_events(room, "deliverable.auto_approved")) == 1
        assert count(ReviewWarning, ReviewWarning.revision_id == warned_id) == 2
        assert all(e.sent_at is not None for e in warning_emails())
    # The sweeps also notify (a missed deliverable, a submission): only the warnings here.
    messages = [m for m in smtp_server.messages() if "approved automatically" in m["Subject"]]
    assert sorted(str(m["To"].addresses[0].addr_spec) for m in messages) == sorted(room.reviewers)
    for message in messages:
        assert "will be approved automatically in about 47 hours" in message["Subject"]
        body = factories.body_text(message)
        assert (
            f"https://localhost/workrooms/{room.pair.workroom_id}"
            f"/deliverables/{room.deliverable_ids[2]}"
        ) in body


def failed_jobs(app):
    """Jobs that ended in a failed registry."""
    connection = app.extensions["redis"]
    return sum(FailedJobRegistry(name, connection=connection).count for name in ("default", "mail"))


def test_a_real_worker_runs_the_sweeps_twice_with_one_effect(app, run_worker, smtp_server):
    room, warned_id = seed_timers(app)
    env = {"MAIL_PORT": smtp_server.port, "PUBLIC_URL": "https://localhost"}
    for _ in range(2):
        enqueue_sweeps(app)
        run_worker("default", "mail", extra_env=env)
    check_timers_ran_once(app, room, warned_id, smtp_server)
    assert app.extensions["redis"].llen("rq:queue:default") == 0
    assert failed_jobs(app) == 0


def test_two_workers_at_once_do_each_timer_once(app, test_settings, smtp_server):
    room, warned_id = seed_timers(app)
    for _ in range(2):
        enqueue_sweeps(app)
    env = factories.child_env(
        test_settings, {"MAIL_PORT": smtp_server.port, "PUBLIC_URL": "https://localhost"}
    )
    command = [
        sys.executable,
        "-m",
        "rq.cli",
        "worker",
        "--burst",
        "--url",
        test_settings["REDIS_URL"],
        "--job-class",
        "jobs.worker.AppJob",
        "default",
        "mail",
    ]
    workers = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for worker in workers:
        _out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err.decode()[-3000:]
    check_timers_ran_once(app, room, warned_id, smtp_server)
    assert failed_jobs(app) == 0
