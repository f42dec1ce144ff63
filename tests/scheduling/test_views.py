"""The calendar page: month grid and agenda, filters, htmx fragment, constant query count."""

import re
from datetime import timedelta

import pytest

from portal.deliverables.models import Deliverable, DeliverableStatus
from portal.extensions import db
from tests.conftest import Browserless, https_client
from tests.scheduling.conftest import set_timezone

HX = {"HX-Request": "true"}
MARCH = "/calendar?month=2030-03"


def page(web, path=MARCH, **kwargs):
    response = web.client.get(path, **kwargs)
    assert response.status_code == 200, response.status_code
    return response, response.get_data(as_text=True)


def cell(html, day):
    """The month grid's cell of one ISO date."""
    match = re.search(
        rf'<td class="cal-day[^"]*"[^>]*>\s*<span class="cal-date"><time datetime="{day}">.*?</td>',
        html,
        re.S,
    )
    assert match, f"no cell for {day}"
    return match.group(0)


@pytest.mark.parametrize("who", ["owner", "viewer", "creator"])
def test_month_grid_shows_events_in_their_day_cells(web, ours, who):
    web.login(getattr(ours.pair, who).email)
    _, html = page(web)
    assert "March 2030" in html
    assert "Due: Trail video" in cell(html, "2030-03-20")
    assert "Contract starts: Spring Trails" in cell(html, "2030-03-01")
    assert "Trail video" not in cell(html, "2030-03-21")
    # Each event says its status in words, beside the colour class.
    assert re.search(
        r'class="cal-event cal-tone-pending">\s*<span class="cal-tag">Pending</span>', html
    )
    assert 'class="cal-legend"' in html


def test_the_grid_follows_the_users_time_zone(app, web, ours):
    set_timezone(app, ours.pair.owner.id, "Asia/Tokyo")
    web.login(ours.pair.owner.email)
    _, html = page(web)
    assert "Trail video" in cell(html, "2030-03-21")
    assert "08:59" in cell(html, "2030-03-21")
    assert "Trail video" not in cell(html, "2030-03-20")


def test_brand_members_see_the_creator_and_creators_see_the_brand(web, ours):
    web.login(ours.pair.creator.email)
    _, html = page(web)
    assert "Brand " in cell(html, "2030-03-20") and "Spring launch" in cell(html, "2030-03-20")
    assert 'name="creator"' not in html  # a creator has nobody else to filter by


def test_agenda_lists_upcoming_days_with_next_and_previous_windows(web, ours):
    web.login(ours.pair.owner.email)
    _, html = page(web, "/calendar?view=agenda&start=2030-03-15")
    assert re.search(
        r'<h3 id="day-2030-03-20">.*?</h3>\s*<ul class="cal-events">.*?Due: Trail video', html, re.S
    )
    assert "Due: Trail story" in html  # 2 April, inside the 30 days
    assert "Contract starts" not in html  # 1 March is before the window
    assert "start=2030-04-14" in html and "start=2030-02-13" in html
    _, later = page(web, "/calendar?view=agenda&start=2030-05-01")
    assert "Trail video" not in later and "Renewal notice deadline: Spring Trails" in later
    _, quiet = page(web, "/calendar?view=agenda&start=2030-04-14")  # 14 Apr to 13 May
    assert "Nothing with a date in these 30 days" in quiet


def test_filters_narrow_the_calendar_and_travel_with_the_links(web, ours):
    web.login(ours.pair.owner.email)
    _, html = page(web, f"{MARCH}&status=approved")
    assert "Trail video" not in html and "Contract starts" not in html
    assert "status=approved" in html  # previous/next keep the filter
    _, html = page(web, f"{MARCH}&campaign={ours.pair.campaign_id}&creator={ours.pair.creator.id}")
    assert "Due: Trail video" in html


@pytest.mark.parametrize(
    "query",
    [
        "campaign=abc",
        "campaign=999999",
        "creator=-1",
        "status=paid",
        "month=2030-13",
        "month=x",
        "view=agenda&start=2030-02-30",
        "month=99999-01",
        "campaign=%27%20OR%201%3D1--",
    ],
)
def test_nonsense_arguments_are_ignored(web, ours, query):
    web.login(ours.pair.owner.email)
    response, _ = page(web, f"/calendar?{query}")
    assert response.status_code == 200


def test_empty_calendar_says_so(web, make_user):
    owner = make_user()
    web.login(owner.email)
    _, html = page(web, "/calendar")
    assert "Nothing with a date in this month" in html
    _, html = page(web, "/calendar?view=agenda")
    assert "Nothing with a date in these 30 days" in html


def test_htmx_gets_only_the_calendar_block(web, ours):
    web.login(ours.pair.owner.email)
    response, html = page(web, f"{MARCH}&status=pending", headers=HX)
    assert "<html" not in html and 'id="calendar-filters"' not in html and 'id="feed"' not in html
    assert 'class="cal-toolbar"' in html and "Due: Trail video" in html
    assert 'form="calendar-filters" name="month" value="2030-03"' in html
    assert "HX-Request" in response.headers["Vary"]
    full, whole = page(web, MARCH)
    assert "<html" in whole and "HX-Request" in full.headers["Vary"]


def test_campaign_page_links_to_its_calendar(web, ours):
    web.login(ours.pair.owner.email)
    _, html = page(web, f"/campaigns/{ours.pair.campaign_id}")
    assert f'href="/calendar?campaign={ours.pair.campaign_id}"' in html


def test_nav_links_to_the_calendar_for_brands_and_creators_only(app, web, ours, make_user):
    web.login(ours.pair.creator.email)
    assert 'href="/calendar"' in page(web, "/")[1]
    mediator = make_user(kind="mediator")
    staff = Browserless(https_client(app))
    staff.login(mediator.email)
    assert 'href="/calendar"' not in staff.client.get("/").get_data(as_text=True)
    assert staff.client.get("/calendar").status_code == 403


def add_deliverables(app, side, count):
    """More deliverables in the side's contract, due through March 2030."""
    with app.app_context():
        first = db.session.get(Deliverable, side.deliverable_ids[0])
        for n in range(count):
            db.session.add(
                Deliverable(
                    contract_id=first.contract_id,
                    workroom_id=first.workroom_id,
                    position=100 + n,
                    title=f"Extra post {n}",
                    kind=first.kind,
                    platform=first.platform,
                    due_at=first.due_at - timedelta(days=n % 15),
                    price_minor=1000,
                    currency="USD",
                    status=DeliverableStatus.pending,
                )
            )
        db.session.commit()


@pytest.mark.parametrize("view", ["month=2030-03", "view=agenda&start=2030-03-01"])
def test_query_count_does_not_grow_with_deliverables(app, web, ours, count_queries, view):
    web.login(ours.pair.owner.email)
    path = f"/calendar?{view}"
    with count_queries() as few:
        assert web.client.get(path).status_code == 200
    add_deliverables(app, ours, 18)  # 2 -> 20
    with count_queries() as many:
        response = web.client.get(path)
    assert response.get_data(as_text=True).count("Extra post") == 18
    assert len(many) == len(few)
