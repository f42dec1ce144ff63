"""Dashboards: what a brand and a creator see of their deliverables, and nothing of others."""

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from portal.accounts.models import AccountKind, Platform, User
from portal.campaigns.models import Campaign
from portal.contracts.models import DeliverableKind
from portal.contracts.terms import LineTerms
from portal.deliverables import services
from portal.deliverables.models import Deliverable, ReviewDecision
from portal.extensions import db
from portal.workrooms.services import open_workroom
from tests import factories
from tests.contracts.conftest import Pair, seat, seed_pair
from tests.deliverables.conftest import activate, active_terms

FAR = datetime(2031, 1, 1, tzinfo=UTC)  # after every sample due date and its grace


def four_line_terms(title="Spring Trails"):
    """Sample terms with four lines, so one contract can show every open state."""
    terms = active_terms(title=title)
    extra = (
        LineTerms(
            "Summit post", DeliverableKind.post, Platform.instagram, date(2030, 4, 10), 30000
        ),
        LineTerms("Gear haul", DeliverableKind.video, Platform.youtube, date(2030, 4, 15), 60000),
    )
    return dataclasses.replace(terms, lines=(*terms.lines, *extra))


def seed_other_pair(app):
    """A second brand (Olga, Harbor Kayaks) and creator (Otto) with their own workroom."""
    with app.app_context():
        owner = factories.user(name="Olga Other")
        brand = owner.memberships[0].brand
        brand.name = "Harbor Kayaks"
        viewer = factories.user(name="Ivo Other", brand=brand.id, role="viewer")
        creator = factories.user(kind=AccountKind.creator, name="Otto Other")
        workroom = open_workroom(brand, creator, owner)
        campaign = Campaign(
            brand_id=brand.id,
            name="Harbor season",
            starts_on=date(2030, 1, 1),
            ends_on=date(2030, 12, 31),
            budget_minor=500000,
            currency="USD",
            created_by_id=owner.id,
        )
        db.session.add(campaign)
        db.session.commit()
        snap = factories.Snapshot.of
        return Pair(snap(owner), snap(viewer), snap(creator), workroom.id, campaign.id)


class Actors:
    """The pair's people and seats, loaded in the current app context."""

    def __init__(self, pair):
        self.owner = db.session.get(User, pair.owner.id)
        self.creator = db.session.get(User, pair.creator.id)
        self.brand = seat(pair.owner.id, pair.workroom_id)
        self.maker = seat(pair.creator.id, pair.workroom_id)


def deliverables_of(contract_id):
    return db.session.scalars(
        select(Deliverable).where(Deliverable.contract_id == contract_id).order_by("position")
    ).all()


def work_through(pair, title="Spring Trails"):
    """Activate a four-line contract and move its lines: changes requested, submitted (in
    review), pending, and missed with the brand proposing a new date; the creator also asks
    to move the pending one. Returns the deliverables."""
    contract_id, _ = activate(pair, four_line_terms(title))
    people = Actors(pair)
    changes, submitted, pending, missed = deliverables_of(contract_id)
    services.submit_revision(changes, people.creator, people.maker, "Caption v1 #ad")
    services.review_revision(
        changes.revisions[-1],
        people.owner,
        people.brand,
        ReviewDecision.request_changes,
        feedback="Show the outsole.",
    )
    services.submit_revision(submitted, people.creator, people.maker, "Story frames #ad")
    services.request_extension(
        pending,
        people.creator,
        people.maker,
        pending.due_at + timedelta(days=3),
        "The summit trail is closed for snow until the weekend.",
    )
    services.mark_missed(missed, now=FAR)
    services.request_extension(
        missed,
        people.owner,
        people.brand,
        FAR + timedelta(days=14),
        "We can still use the haul video in the summer push.",
        now=FAR,
    )
    db.session.commit()
    return changes, submitted, pending, missed


@pytest.fixture
def worked(app):
    """Bea's brand and Cora (in Tokyo) with every open state, and another brand's pair
    (Olga and Otto) with work of its own. Returns both pairs."""
    pair = seed_pair(app)
    other = seed_other_pair(app)
    with app.app_context():
        db.session.get(User, pair.creator.id).timezone = "Asia/Tokyo"
        db.session.commit()
        work_through(pair)
        work_through(other, title="Harbor season")
        # the other brand's lines get titles of their own, so a leak would show
        for d in deliverables_of_workroom(other.workroom_id):
            d.title = f"Kayak {d.title.lower()}"
        db.session.commit()
    return pair, other


def deliverables_of_workroom(workroom_id):
    return db.session.scalars(select(Deliverable).where(Deliverable.workroom_id == workroom_id))


def dashboard(web, email):
    web.login(email)
    response = web.client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    web.logout()
    return html


def count_row(status, count):
    label = status.replace("_", " ").capitalize()
    return f'<td><span class="badge status-{status}">{label}</span></td><td>{count}</td>'


def link(pair, deliverable):
    return f'href="/workrooms/{pair.workroom_id}/deliverables/{deliverable.id}"'


def test_brand_dashboard_counts_by_status_and_lists_what_waits_on_the_brand(web, app, worked):
    pair, _ = worked
    html = dashboard(web, pair.owner.email)
    assert '<h2 id="deliverables-heading">Deliverables</h2>' in html
    assert "by status (4 in all)" in html
    for status, count in [
        ("missed", 1),
        ("submitted", 1),
        ("changes_requested", 1),
        ("pending", 1),
        ("approved", 0),
        ("waived", 0),
        ("cancelled", 0),
    ]:
        assert count_row(status, count) in html
    waiting = html.split('id="waiting-heading"', 1)[1]
    assert waiting.startswith(">Waiting on you</h2>")
    with app.app_context():
        story = db.session.scalars(
            select(Deliverable).where(
                Deliverable.workroom_id == pair.workroom_id, Deliverable.title == "Trail story"
            )
        ).one()
        assert link(pair, story) in waiting
    to_review = waiting.split('id="to-review-heading"', 1)[1].split("</section>", 1)[0]
    assert "Trail story" in to_review and "Cora Creator" in to_review
    assert "<strong>in 4 days 23 hours</strong>" in to_review  # the 5-day window, just opened
    missed = waiting.split('id="missed-heading"', 1)[1].split("</section>", 1)[0]
    assert "Gear haul" in missed and "extend, waive or cancel" in missed
    extensions = waiting.split('id="brand-extensions-heading"', 1)[1].split("</section>", 1)[0]
    assert "Summit post" in extensions and "closed for snow" in extensions
    assert "summer push" not in extensions  # the brand's own request waits on the creator
    for leak in ("Harbor Kayaks", "Otto Other", "Kayak "):
        assert leak not in html


def test_a_brand_viewer_sees_what_waits_on_the_brand_without_being_asked(web, worked):
    pair, _ = worked
    html = dashboard(web, pair.viewer.email)
    assert ">Waiting on your brand</h2>" in html and "Trail story" in html
    assert "Kayak " not in html


def test_creator_dashboard_shows_deadlines_changes_reviews_and_brand_requests(web, worked):
    pair, _ = worked
    html = dashboard(web, pair.creator.email)
    deadlines = html.split('id="deadlines-heading"', 1)[1].split("</article>", 1)[0]
    # soonest first: the change request (due 20 Mar), then the pending post (10 Apr)
    assert deadlines.index("Trail video") < deadlines.index("Summit post")
    assert "Changes requested</span><br><strong>Revise and resubmit</strong>" in deadlines
    assert "20 Mar 2030, 23:59" in deadlines  # end of the due day in Cora's zone (Tokyo)
    assert "due in " in deadlines
    assert "Trail story" not in deadlines and "Gear haul" not in deadlines
    missed = html.split('id="creator-missed-heading"', 1)[1].split("</article>", 1)[0]
    assert "Gear haul" in missed and 'class="badge status-missed"' in missed
    in_review = html.split('id="in-review-heading"', 1)[1].split("</article>", 1)[0]
    assert "Trail story" in in_review and "in 4 days 23 hours unless reviewed first" in in_review
    extensions = html.split('id="creator-extensions-heading"', 1)[1].split("</article>", 1)[0]
    assert "Gear haul" in extensions and "summer push" in extensions
    assert "Bea Brand" in extensions
    assert "closed for snow" not in extensions  # Cora's own request waits on the brand
    for leak in ("Harbor Kayaks", "Olga Other", "Kayak "):
        assert leak not in html


def test_empty_dashboards_say_so(web, app):
    pair = seed_pair(app)
    brand = dashboard(web, pair.owner.email)
    assert "No deliverables yet." in brand
    assert "No revisions to review." in brand and "No extension requests waiting" in brand
    creator = dashboard(web, pair.creator.email)
    assert "Nothing due." in creator and "No missed deliverables." in creator
    assert "No revisions waiting for review." in creator
    assert "No extension requests waiting for your answer." in creator


def test_final_states_are_counted_and_a_terminated_contracts_work_waits_on_nobody(web, app, active):
    with app.app_context():
        people = Actors(active.pair)
        first, second = (db.session.get(Deliverable, i) for i in active.deliverable_ids)
        services.submit_revision(first, people.creator, people.maker, "Final cut #ad")
        services.review_revision(
            first.revisions[-1], people.owner, people.brand, ReviewDecision.approve
        )
        services.waive_deliverable(second, people.owner, people.brand, "Season over.")
        db.session.commit()
    html = dashboard(web, active.pair.owner.email)
    assert count_row("approved", 1) in html and count_row("waived", 1) in html
    assert "No revisions to review." in html


def dashboard_queries(web, count_queries, email):
    web.login(email)
    with count_queries() as statements:
        assert web.client.get("/").status_code == 200
    web.logout()
    return len(statements)


def test_dashboard_queries_do_not_grow_with_deliverables(web, app, count_queries):
    pair = seed_pair(app)
    with app.app_context():
        work_through(pair)
    few = {
        who: dashboard_queries(web, count_queries, who)
        for who in (pair.owner.email, pair.creator.email)
    }
    with app.app_context():
        for n in range(3):
            work_through(pair, title=f"Spring Trails, part {n + 2}")
    for who, count in few.items():
        assert dashboard_queries(web, count_queries, who) == count, who
