"""Digests: content and order, nothing sent when empty, one per user and period (Q-10, also
with two real worker processes), catch-up after downtime, time zones, weekly, golden files,
and a real delivery over SMTP.

Golden files: tests/notifications/golden/digest.txt and digest.html hold the text and HTML
bodies of the scenario below (fixed `NOW`, fixed names; the unsubscribe token and database
ids are replaced by TOKEN and ID). After a deliberate change to the digest, regenerate them:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/notifications/test_digests.py \
        -k golden -p no:cacheprovider

and read the diff before committing it.
"""

import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from rq.job import Job
from sqlalchemy import func, select

from jobs.digests import sweep_digests
from portal.accounts.models import AccountKind, Brand, Platform, User
from portal.contracts.models import DeliverableKind
from portal.contracts.terms import LineTerms
from portal.deliverables import services as deliverable_services
from portal.deliverables.models import Deliverable
from portal.extensions import db
from portal.mediation import services as mediation_services
from portal.notifications.digests import (
    SECTIONS,
    digest_content,
    period_for,
    send_digest,
)
from portal.notifications.models import (
    Channel,
    DigestClaim,
    DigestFrequency,
    Kind,
    Notification,
    OutboundEmail,
)
from portal.notifications.services import save_preferences
from portal.queue import get_queue
from portal.workrooms.services import post_message
from tests import factories
from tests.contracts.conftest import pair as pair  # a fixture
from tests.contracts.conftest import seat, seed_pair
from tests.contracts.samples import sample_terms
from tests.deliverables.conftest import activate
from tests.deliverables.conftest import active as active  # a fixture
from tests.factories import body_text

GOLDEN = Path(__file__).parent / "golden"
BERLIN = "Europe/Berlin"
#: 08:00 in Berlin (CET) on Tuesday 19 March 2030: the scenario's digest hour
NOW = datetime(2030, 3, 19, 7, 0, tzinfo=UTC)
VIDEO, STORY, REEL, BLOG = (
    DeliverableKind.video,
    DeliverableKind.story,
    DeliverableKind.reel,
    DeliverableKind.blog,
)


def at(*args):
    """A UTC moment."""
    return datetime(*args, tzinfo=UTC)


def claims(user_id=None):
    """(user id, period, created_at, sent) of every claim, oldest first."""
    query = select(DigestClaim).order_by(DigestClaim.created_at, DigestClaim.id)
    if user_id is not None:
        query = query.where(DigestClaim.user_id == user_id)
    return [(c.user_id, c.period, c.created_at, c.sent) for c in db.session.scalars(query)]


def digest_emails(address=None):
    """The digest emails queued, oldest first."""
    query = select(OutboundEmail).where(OutboundEmail.kind == "digest").order_by(OutboundEmail.id)
    if address is not None:
        query = query.where(OutboundEmail.to_address == address)
    return db.session.scalars(query).all()


def save_note(user_id, title, created_at):
    """A notification saved for the user's next digest."""
    db.session.add(
        Notification(
            user_id=user_id,
            kind=Kind.submission,
            title=title,
            body="",
            link="/",
            created_at=created_at,
            for_digest=True,
        )
    )


# The scenario of the golden files -------------------------------------------------------------


@dataclass
class Scenario:
    owner_id: int
    viewer_id: int
    creator_id: int
    owner_email: str


def build_scenario(app):
    """Bea (brand owner, Northwind Outdoors) and Cora (creator), both in Berlin, with an
    active four-line contract on 19 March 2030: a revision in review, a missed story, a
    reel due in three days, an extension request, messages, a renewal, an open ticket and
    a submission saved for Bea's digest."""
    pair = seed_pair(app)
    with app.app_context():
        owner, viewer, creator = (
            db.session.get(User, u.id) for u in (pair.owner, pair.viewer, pair.creator)
        )
        for person in (owner, viewer, creator):
            person.timezone = BERLIN
        db.session.get(Brand, pair.owner.brand_id).name = "Northwind Outdoors"
        save_preferences(
            owner, {Kind.submission: Channel.digest}, DigestFrequency.daily, 8, 0, None
        )
        db.session.commit()
        line = LineTerms
        terms = sample_terms(
            lines=(
                line("Trail video", VIDEO, Platform.youtube, date(2030, 3, 20), 100000),
                line("Trail story", STORY, Platform.instagram, date(2030, 3, 10), 25000),
                line("Trail reel", REEL, Platform.instagram, date(2030, 3, 22), 30000),
                line("Trail blog", BLOG, Platform.blog, date(2030, 4, 30), 20000),
            ),
            renewal_date=date(2030, 4, 10),
            renewal_notice_days=14,
        )
        _, (video, story, _reel, blog) = activate(pair, terms)
        creator = db.session.get(User, pair.creator.id)
        creator_seat = seat(creator.id, pair.workroom_id)
        deliverable_services.submit_revision(
            db.session.get(Deliverable, video),
            creator,
            creator_seat,
            "Cut 1 of the trail video.",
            now=at(2030, 3, 18, 9, 30),
        )
        deliverable_services.mark_missed(db.session.get(Deliverable, story), now=at(2030, 3, 12))
        deliverable_services.request_extension(
            db.session.get(Deliverable, blog),
            creator,
            creator_seat,
            at(2030, 5, 15, 21, 59),
            "The trail is still under snow.",
            now=at(2030, 3, 17, 10),
        )
        for n, text in enumerate(["The shot list is in the drive.", "Reel draft tomorrow."]):
            post_message(creator_seat, creator, text, now=at(2030, 3, 18, 15, n))
        mediation_services.open_ticket(
            creator_seat,
            creator,
            "quality",
            "Feedback on the story brief",
            "The brief changed twice after the story was due.",
            now=at(2030, 3, 18, 16),
        )
        db.session.commit()
        return Scenario(pair.owner.id, pair.viewer.id, pair.creator.id, pair.owner.email)


def normalise(body):
    """A body without what changes from run to run: the signed token and database ids."""
    body = re.sub(r"/unsubscribe/[^\s\"<>]+", "/unsubscribe/TOKEN", body)
    return re.sub(r"(?<=/)\d+(?=[/\"\s<]|$)", "ID", body)


def scenario_email(app):
    """Bea's digest of the scenario: (subject, text body, html body), normalised."""
    scenario = build_scenario(app)
    with app.app_context():
        email = send_digest(db.session.get(User, scenario.owner_id), NOW)
        db.session.commit()
        return email.subject, normalise(email.text_body), normalise(email.html_body)


# Content --------------------------------------------------------------------------------------


def test_sections_come_in_order_with_your_turn_first(app, app_ctx):
    scenario = build_scenario(app)
    owner = db.session.get(User, scenario.owner_id)
    digest = digest_content(owner, NOW)
    assert [s.key for s in digest.sections] == [
        "your_turn",
        "due_soon",
        "unread",
        "renewals",
        "tickets",
        "saved",
    ]
    assert all(digest.sections), "the scenario fills every section"
    texts = {s.key: [i.text for i in s.items] for s in digest.sections}
    details = {s.key: [i.detail for i in s.items] for s in digest.sections}
    assert texts["your_turn"] == [
        "Review revision 1 of Trail video",
        "Trail story was missed: extend, waive or cancel it",
        "Answer Cora Creator's request to move Trail blog",
    ]
    # Berlin time: 23 March 09:30 UTC is 10:30 CET; Trail reel is due 23:59 Berlin time.
    assert "approved automatically Sat 23 Mar 2030, 10:30" in details["your_turn"][0]
    assert texts["due_soon"] == ["Trail reel"]
    assert details["due_soon"] == ["Cora Creator · due Fri 22 Mar 2030, 23:59"]
    assert texts["unread"][0].endswith("unread messages")
    assert details["unread"] == ["in your workroom with Cora Creator"]
    assert texts["renewals"] == ["Spring Trails comes up for renewal on Wed 10 Apr 2030"]
    assert details["renewals"] == ["Cora Creator · notice deadline Wed 27 Mar 2030"]
    assert texts["tickets"] == ["Feedback on the story brief"]
    assert texts["saved"] == ["Cora Creator submitted revision 1 of “Trail video” for review"]
    assert digest.turn_count == 3
    assert digest.subject == "Your Duet digest for Tue 19 Mar: 3 things wait on you"


def test_a_viewer_has_no_turn_but_sees_the_rest(app, app_ctx):
    scenario = build_scenario(app)
    digest = digest_content(db.session.get(User, scenario.viewer_id), NOW)
    assert not digest.section("your_turn")
    assert [s.key for s in digest.shown] == ["due_soon", "unread", "renewals", "tickets"]
    assert digest.subject == "Your Duet digest for Tue 19 Mar"


def test_a_creators_turn_is_overdue_work_and_the_brands_requests(app, app_ctx, active):
    owner = db.session.get(User, active.pair.owner.id)
    creator = db.session.get(User, active.pair.creator.id)
    story = db.session.get(Deliverable, active.deliverable_ids[1])
    deliverable_services.request_extension(
        story,
        owner,
        seat(owner.id, active.workroom_id),
        at(2030, 4, 9, 23, 59),
        "The launch moved.",
        now=at(2030, 3, 26),
    )
    db.session.commit()
    digest = digest_content(creator, at(2030, 3, 27, 9))
    turn = digest.section("your_turn").items
    assert [i.text for i in turn] == [
        "Submit Trail video",
        "Answer Bea Brand's request to move Trail story",
    ]
    assert "overdue since Wed 20 Mar 2030, 23:59" in turn[0].detail
    assert [i.text for i in digest.section("due_soon").items] == ["Trail story"]


def test_saved_notifications_count_from_the_previous_digest(app, app_ctx):
    user = factories.user(kind=AccountKind.creator, name="Dora")
    save_note(user.id, "Old, before the last digest", at(2030, 3, 17, 9))
    save_note(user.id, "New since the last digest", at(2030, 3, 18, 12))
    db.session.add(
        DigestClaim(user_id=user.id, period="daily:2030-03-18", created_at=at(2030, 3, 18, 8))
    )
    db.session.commit()
    saved = digest_content(user, at(2030, 3, 19, 8)).section("saved")
    assert [i.text for i in saved.items] == ["New since the last digest"]


def test_names_and_titles_are_escaped_in_the_html(app, app_ctx):
    payload = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
    user = factories.user(kind=AccountKind.creator, name=f"Eve {payload}", timezone=BERLIN)
    save_note(user.id, f"Title {payload}", NOW - timedelta(hours=1))
    db.session.commit()
    email = send_digest(user, NOW)
    assert "<img" not in email.html_body and "<script" not in email.html_body
    assert "&lt;img src=x onerror=alert(1)&gt;" in email.html_body
    assert "\n" not in email.subject


# Nothing to say, not due, not for this account -----------------------------------------------


def test_nothing_is_sent_when_there_is_nothing_to_say(app, app_ctx):
    user = factories.user(kind=AccountKind.creator, timezone=BERLIN)
    db.session.commit()
    assert digest_content(user, NOW).is_empty
    assert send_digest(user, NOW) is None
    db.session.commit()
    assert claims() == [(user.id, "daily:2030-03-19", NOW, False)]
    assert digest_emails() == []
    # Something to say later the same day: the period is spent, still nothing.
    save_note(user.id, "Later", NOW + timedelta(hours=1))
    db.session.commit()
    assert send_digest(user, NOW + timedelta(hours=2)) is None
    assert digest_emails() == []


def test_off_disabled_and_admin_users_get_no_digest(app, app_ctx):
    def person(**options):
        return factories.user(timezone=BERLIN, **{"kind": AccountKind.creator, **options})

    off, disabled, admin, control = (
        person(),
        person(disabled=True),
        person(kind=AccountKind.admin),
        person(),
    )
    save_preferences(off, {}, DigestFrequency.off, 8, 0, None)
    for user in (off, disabled, admin, control):
        save_note(user.id, "Something", NOW - timedelta(hours=1))
    db.session.commit()
    assert [send_digest(u, NOW) for u in (off, disabled, admin)] == [None, None, None]
    assert sweep_digests(now=NOW) == 1
    assert claims() == [(control.id, "daily:2030-03-19", NOW, True)]


def test_a_mediator_gets_the_tickets_they_hold(app, app_ctx, pair):
    from portal.mediation.models import Ticket, TicketStatus

    mediator = factories.user(kind=AccountKind.mediator, name="Mia Mediator")
    creator = db.session.get(User, pair.creator.id)
    ticket = mediation_services.open_ticket(
        seat(creator.id, pair.workroom_id), creator, "conduct", "Rude replies", "Twice.", now=NOW
    )
    ticket.status, ticket.mediator_id = TicketStatus.in_mediation, mediator.id
    db.session.commit()
    digest = digest_content(mediator, NOW + timedelta(days=1))
    assert [s.key for s in digest.shown] == ["tickets"]
    assert [i.text for i in digest.section("tickets").items] == ["Rude replies"]
    assert db.session.get(Ticket, ticket.id).mediator_id == mediator.id


# One per period -------------------------------------------------------------------------------


def test_send_digest_twice_sends_once(app, app_ctx):
    user = factories.user(kind=AccountKind.creator, timezone=BERLIN)
    save_note(user.id, "Something", NOW - timedelta(hours=1))
    db.session.commit()
    first = send_digest(user, NOW)
    db.session.commit()
    assert first is not None
    assert send_digest(user, NOW + timedelta(minutes=5)) is None
    db.session.commit()
    assert len(digest_emails()) == 1
    assert claims() == [(user.id, "daily:2030-03-19", NOW, True)]


def test_a_claim_lost_to_another_process_sends_nothing(app, app_ctx):
    """Another process committed its claim after this one looked: the insert fails in its
    savepoint, and the rest of the transaction goes on."""
    from portal.notifications.digests import insert_claim

    user = factories.user(kind=AccountKind.creator)
    user_id = user.id
    db.session.commit()
    with app.app_context():  # another process's session, committed first
        db.session.add(DigestClaim(user_id=user_id, period="daily:2030-03-19", created_at=NOW))
        db.session.commit()
    save_note(user.id, "Written in the same transaction", NOW)
    assert insert_claim(user, "daily:2030-03-19", NOW) is None
    db.session.commit()
    assert len(claims()) == 1
    assert db.session.scalar(select(func.count(Notification.id))) == 1


def test_two_worker_processes_and_a_restart_send_one_digest_each(app, run_worker):
    """Q-10: the sweep enqueued twice runs on two real `rq worker` processes at once; then a
    restarted sweep later the same day. Each user gets one digest for the period."""
    with app.app_context():
        ids = []
        for n in range(40):
            user = factories.user(kind=AccountKind.creator, email=f"q10-{n}@example.com")
            save_note(user.id, f"Note {n}", NOW - timedelta(hours=1))
            ids.append(user.id)
        quiet = factories.user(kind=AccountKind.creator, email="quiet@example.com").id
        db.session.commit()
        queue = get_queue("default")
        jobs = [
            queue.enqueue("jobs.digests.sweep_digests", now=NOW + timedelta(hours=2))
            for _ in range(2)
        ]
    errors = []

    def work():
        try:
            run_worker("default")
        except AssertionError as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with app.app_context():
        connection = app.extensions["redis"]
        results = [Job.fetch(job.id, connection=connection) for job in jobs]
        assert [job.get_status() for job in results] == ["finished", "finished"]
        assert sum(job.return_value() for job in results) == 40
        per_user = dict(
            db.session.execute(
                select(DigestClaim.user_id, func.count()).group_by(DigestClaim.user_id)
            ).all()
        )
        assert per_user == {**dict.fromkeys(ids, 1), quiet: 1}
        emails = digest_emails()
        assert sorted(e.to_address for e in emails) == sorted(
            f"q10-{n}@example.com" for n in range(40)
        )
        # A restart mid-period: the sweep runs again later the same day.
        assert sweep_digests(now=NOW + timedelta(hours=6)) == 0
        assert len(digest_emails()) == 40
        assert db.session.scalar(select(func.count(DigestClaim.id))) == 41


# Catch-up, time zones, weekly -----------------------------------------------------------------


def test_a_missed_hour_is_caught_up_once_and_earlier_days_are_not(app, app_ctx, active):
    owner = db.session.get(User, active.pair.owner.id)
    email = owner.email
    db.session.commit()
    assert not digest_content(owner, at(2030, 3, 5, 8)).is_empty
    # Down at 08:00: the 11:00 run sends today's digest, the 15:00 run nothing more.
    assert sweep_digests(now=at(2030, 3, 5, 11)) >= 1
    sweep_digests(now=at(2030, 3, 5, 15))
    assert [c[1:] for c in claims(owner.id)] == [("daily:2030-03-05", at(2030, 3, 5, 11), True)]
    assert len(digest_emails(email)) == 1
    # The next day: not before 08:00, then once.
    sweep_digests(now=at(2030, 3, 6, 7, 59))
    assert len(claims(owner.id)) == 1
    sweep_digests(now=at(2030, 3, 6, 8))
    sweep_digests(now=at(2030, 3, 6, 8, 15))
    assert [c[1] for c in claims(owner.id)] == ["daily:2030-03-05", "daily:2030-03-06"]
    # Down for three days: only the day it comes back is sent.
    sweep_digests(now=at(2030, 3, 10, 9))
    assert [c[1] for c in claims(owner.id)] == [
        "daily:2030-03-05",
        "daily:2030-03-06",
        "daily:2030-03-10",
    ]
    assert len(digest_emails(email)) == 3


def test_each_user_gets_it_at_their_local_hour_on_their_local_date(app, app_ctx):
    """UTC+14, UTC+13, UTC-10 and Berlin across the change to summer time (31 March 2030,
    02:00 CET -> 03:00 CEST); the sweep runs every hour for two days."""
    zones = {
        "Pacific/Kiritimati": None,  # UTC+14
        "Pacific/Tongatapu": None,  # UTC+13
        "Pacific/Honolulu": None,  # UTC-10
        BERLIN: None,
    }
    for zone in zones:
        zones[zone] = factories.user(kind=AccountKind.creator, timezone=zone).id
    db.session.commit()
    moment = at(2030, 3, 29, 17)
    while moment <= at(2030, 4, 1, 0):
        sweep_digests(now=moment)
        moment += timedelta(hours=1)
    got = {zone: [(c[1], c[2]) for c in claims(user_id)] for zone, user_id in zones.items()}
    assert got["Pacific/Kiritimati"] == [
        ("daily:2030-03-30", at(2030, 3, 29, 18)),  # 08:00 on the 30th, UTC+14
        ("daily:2030-03-31", at(2030, 3, 30, 18)),
        ("daily:2030-04-01", at(2030, 3, 31, 18)),
    ]
    assert got["Pacific/Tongatapu"] == [
        ("daily:2030-03-30", at(2030, 3, 29, 19)),  # 08:00 on the 30th, UTC+13
        ("daily:2030-03-31", at(2030, 3, 30, 19)),
        ("daily:2030-04-01", at(2030, 3, 31, 19)),
    ]
    assert got["Pacific/Honolulu"] == [
        ("daily:2030-03-29", at(2030, 3, 29, 18)),  # 08:00 on the 29th, UTC-10
        ("daily:2030-03-30", at(2030, 3, 30, 18)),
        ("daily:2030-03-31", at(2030, 3, 31, 18)),
    ]
    assert got[BERLIN] == [
        ("daily:2030-03-29", at(2030, 3, 29, 17)),  # the first run catches up the 29th
        ("daily:2030-03-30", at(2030, 3, 30, 7)),  # 08:00 CET
        ("daily:2030-03-31", at(2030, 3, 31, 6)),  # 08:00 CEST: an hour earlier in UTC
    ]


def test_an_hour_that_is_skipped_or_repeated_by_the_clock_change_sends_once(app, app_ctx):
    user = factories.user(kind=AccountKind.creator, timezone=BERLIN)
    save_preferences(user, {}, DigestFrequency.daily, 2, 0, None)
    db.session.commit()
    for day in (at(2030, 3, 31), at(2030, 10, 27)):  # 02:00 skipped; 02:00 twice
        for quarter in range(16):
            sweep_digests(now=day + timedelta(minutes=15 * quarter))
    assert [(c[1], c[2]) for c in claims(user.id)] == [
        ("daily:2030-03-31", at(2030, 3, 31, 1)),  # 03:00 CEST, the first hour >= 2
        ("daily:2030-10-27", at(2030, 10, 27, 0)),  # 02:00 CEST, the first of the two
    ]


def test_period_for_daily_and_weekly():
    daily = type("S", (), {"digest": DigestFrequency.daily, "digest_hour": 8, "digest_weekday": 0})
    weekly = type(
        "S", (), {"digest": DigestFrequency.weekly, "digest_hour": 9, "digest_weekday": 2}
    )
    off = type("S", (), {"digest": DigestFrequency.off, "digest_hour": 8, "digest_weekday": 0})
    assert period_for(daily, datetime(2030, 3, 19, 7, 59)) is None
    assert period_for(daily, datetime(2030, 3, 19, 8)) == "daily:2030-03-19"
    assert period_for(daily, datetime(2030, 3, 19, 23, 59)) == "daily:2030-03-19"
    assert period_for(off, datetime(2030, 3, 19, 12)) is None
    # Week 12 of 2030: Monday 18 to Sunday 24 March; Wednesday is the 20th.
    assert period_for(weekly, datetime(2030, 3, 18, 12)) is None
    assert period_for(weekly, datetime(2030, 3, 20, 8, 59)) is None
    assert period_for(weekly, datetime(2030, 3, 20, 9)) == "weekly:2030-W12"
    assert period_for(weekly, datetime(2030, 3, 24, 3)) == "weekly:2030-W12"
    assert period_for(weekly, datetime(2030, 3, 25, 12)) is None
    # ISO years: Monday 30 December 2030 is in week 1 of 2031.
    assert period_for(weekly, datetime(2031, 1, 1, 9)) == "weekly:2031-W01"


def test_a_weekly_digest_comes_on_the_chosen_weekday_or_is_caught_up(app, app_ctx):
    user = factories.user(kind=AccountKind.creator, timezone="America/New_York")
    save_preferences(user, {}, DigestFrequency.weekly, 9, 2, None)  # Wednesdays at 09:00
    db.session.commit()
    for moment in (
        at(2030, 3, 18, 14),  # Monday
        at(2030, 3, 20, 12, 59),  # Wednesday 08:59 EDT
        at(2030, 3, 20, 13),  # Wednesday 09:00 EDT
        at(2030, 3, 21, 13),  # Thursday
        at(2030, 3, 25, 13),  # Monday of the next week
    ):
        sweep_digests(now=moment)
    assert [(c[1], c[2]) for c in claims(user.id)] == [("weekly:2030-W12", at(2030, 3, 20, 13))]
    # Down all Wednesday of week 13: Friday's run sends that week's digest once.
    sweep_digests(now=at(2030, 3, 29, 15))
    sweep_digests(now=at(2030, 3, 30, 15))
    assert [c[1] for c in claims(user.id)] == ["weekly:2030-W12", "weekly:2030-W13"]


# Bodies ---------------------------------------------------------------------------------------


def test_golden_text_and_html_bodies(app):
    subject, text, html = scenario_email(app)
    assert subject == "Your Duet digest for Tue 19 Mar: 3 things wait on you"
    for name, body in (("digest.txt", text), ("digest.html", html)):
        path = GOLDEN / name
        if os.environ.get("UPDATE_GOLDEN"):
            path.write_text(body, encoding="utf-8")
        assert body == path.read_text(encoding="utf-8"), f"{name} differs (UPDATE_GOLDEN=1)"


def test_the_text_body_puts_your_turn_first_and_links_preferences(app):
    _, text, html = scenario_email(app)
    headings = [heading.upper() for _, heading in SECTIONS]
    positions = [text.index(f"\n{h}\n") for h in headings]
    assert positions == sorted(positions)
    for body in (text, html):
        assert "https://localhost/account/notifications" in body
        assert "https://localhost/unsubscribe/TOKEN" in body
    assert "<script" not in html.lower()


def test_a_digest_is_delivered_over_smtp_with_text_and_html(app, smtp_server, run_worker):
    with app.app_context():
        user = factories.user(kind=AccountKind.creator, email="dora@example.com", name="Dora")
        save_preferences(user, {}, DigestFrequency.daily, 0, 0, None)  # due at any hour
        save_note(user.id, "A revision was reviewed", utc_now() - timedelta(hours=1))
        db.session.commit()
        assert sweep_digests() == 1  # queued, and handed to a batch job after its commit
    run_worker("mail", extra_env={"MAIL_PORT": smtp_server.port})
    (message,) = smtp_server.to("dora@example.com")
    assert message["Subject"].startswith("Your Duet digest for ")
    assert message["List-Id"].startswith("Duet digest <digest.")
    assert message["List-Unsubscribe"].startswith("<https://localhost/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "A revision was reviewed" in body_text(message)
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "<h2" in html and "A revision was reviewed" in html


def utc_now():
    return datetime.now(UTC)
